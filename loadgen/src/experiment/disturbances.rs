//! An experiment file's `[[interference]]` and `[[faults]]` tables: each entry becomes a
//! `--interference` or `--fault` flag of every step (its keys are the flag's), and `[sweep]` sweeps an
//! entry's key as `"interference.K.KEY"` (`"interference.0.load" = [0, 50, 100]`) or `"faults.K.KEY"`.
//! Every entry is parsed where it stands, its line named in any error.

use anyhow::{bail, Result};
use disturbance::spec::{flag_text, with_key};
use disturbance::{Fault, Interference};

use super::keys::Setting;
use super::text::scalar;

/// The tables, and the flag each entry becomes.
pub(super) const TABLES: [(&str, &str); 2] =
    [("interference", "interference"), ("faults", "fault")];

/// The 1-based line of the `k`-th `[[name]]` header (0 when not found).
fn entry_line(text: &str, name: &str, k: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == format!("[[{name}]]"))
        .nth(k)
        .map_or(0, |(i, _)| i + 1)
}

/// The entries of both tables of `file` (its `table`, parsed from `text`; `at` names a line), as
/// settings `interference.K` and `faults.K` whose values are the flags' text.
pub(super) fn entries(
    (table, text): (&toml::Table, &str),
    at: &dyn Fn(usize) -> String,
) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    for (name, _) in TABLES {
        let Some(value) = table.get(name) else {
            continue;
        };
        let toml::Value::Array(entries) = value else {
            bail!(
                "{}: `{name}` must be a list of [[{name}]] tables",
                at(entry_line(text, name, 0))
            );
        };
        for (k, entry) in entries.iter().enumerate() {
            let line = entry_line(text, name, k);
            let at = || format!("{}: [[{name}]] entry {k}", at(line));
            let toml::Value::Table(table) = entry else {
                bail!("{}: expected a table", at());
            };
            let mut keys = Vec::new();
            for (key, v) in table {
                let Some(v) = scalar(v) else {
                    bail!(
                        "{}: `{key}`: expected a single value, not {}",
                        at(),
                        v.type_str()
                    );
                };
                keys.push((key.clone(), v));
            }
            let take = |keys: &mut Vec<(String, String)>, key: &str| {
                let i = keys.iter().position(|(k, _)| k == key);
                i.map(|i| keys.remove(i).1)
            };
            let text = if name == "interference" {
                let Some(kind) = take(&mut keys, "kind") else {
                    bail!(
                        "{}: needs `kind` (cpu, memory, memory-bandwidth, network, command)",
                        at()
                    );
                };
                flag_text(&kind, &keys)
            } else {
                let (Some(when), Some(action)) = (take(&mut keys, "at"), take(&mut keys, "action"))
                else {
                    bail!("{}: needs `at` (seconds) and `action`", at());
                };
                format!("{when}:{}", flag_text(&action, &keys))
            };
            check(name, &text).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
            out.push(Setting {
                key: format!("{name}.{k}"),
                value: text,
                line,
            });
        }
    }
    Ok(out)
}

/// `text` parsed as the entry of table `name` it is.
fn check(name: &str, text: &str) -> Result<(), disturbance::SpecError> {
    if name == "interference" {
        text.parse::<Interference>().map(drop)
    } else {
        text.parse::<Fault>().map(drop)
    }
}

/// The flag an entry setting (`interference.K`, `faults.K`) stands for.
pub(super) fn flag_of(key: &str) -> Option<&'static str> {
    let (table, k) = key.split_once('.')?;
    k.parse::<usize>().ok()?;
    TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, flag)| *flag)
}

/// A swept key of an entry (`interference.0.load`): its entry (`interference.0`) and key (`load`).
pub(super) fn swept_key(key: &str) -> Option<(&str, &str)> {
    let (entry, sub) = key.rsplit_once('.')?;
    flag_of(entry).map(|_| (entry, sub))
}

/// Whether `[sweep]` may sweep `key` of an entry that the file's `table` has.
pub(super) fn known(table: &toml::Table, key: &str) -> bool {
    let Some((entry, _)) = swept_key(key) else {
        return false;
    };
    let (name, k) = entry.split_once('.').expect("an entry");
    let entries = table
        .get(name)
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len);
    k.parse::<usize>().is_ok_and(|k| k < entries)
}

/// Entry `entry`'s text with the step's swept keys of it set (`at` is a fault's head).
pub(super) fn with_swept(
    entry: &str,
    text: &str,
    params: &[(String, String)],
) -> Result<String, disturbance::SpecError> {
    let mut text = text.to_owned();
    for (key, value) in params {
        let Some((of, sub)) = swept_key(key) else {
            continue;
        };
        if of != entry {
            continue;
        }
        text = match (entry.starts_with("faults."), sub) {
            (true, "at") => match text.split_once(':') {
                Some((_, rest)) => format!("{value}:{rest}"),
                None => text,
            },
            _ => with_key(&text, sub, value)?,
        };
    }
    let table = entry.split_once('.').map_or(entry, |(t, _)| t);
    check(table, &text)?;
    Ok(text)
}
