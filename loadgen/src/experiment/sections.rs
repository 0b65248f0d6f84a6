//! Reading an experiment file's tables: `[run]` (base settings and the experiment's own keys),
//! `[knative]`, `[hooks]` and `[sweep]`, each value checked where it stands, its line named in any error.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use super::keys::{
    parse_on_failure, unknown_key, OnFailure, Setting, HOOKS, KNATIVE_KEYS, PATH_KEYS, RESERVED,
};
use super::text::{header_line, line_of, scalar};

/// `FILE: line N` for messages, or the file alone for line 0 (no line known).
pub(super) fn at(file: &Path, line: usize) -> String {
    if line == 0 {
        format!("{}", file.display())
    } else {
        format!("{}: line {line}", file.display())
    }
}

/// An experiment file being read: its text, parsed, and what its keys are checked against.
pub(super) struct Reader<'a> {
    /// The file, for messages.
    pub file: &'a Path,
    /// Its text, for line numbers.
    pub text: &'a str,
    /// Its directory: relative paths in it are relative to it.
    pub dir: &'a Path,
    /// Its tables.
    pub table: toml::Table,
    /// The long names of `loadgen run`'s flags.
    pub flags: Vec<String>,
}

/// What `[run]` says: the base settings of every step, and how the experiment runs.
pub(super) struct RunSection {
    pub base: Vec<Setting>,
    pub between_steps: f64,
    pub on_failure: OnFailure,
    pub reuse_deployment: bool,
}

/// What `[sweep]` says: grid or zip, repeats, and each swept key's values.
pub(super) struct Sweep {
    pub zip: bool,
    pub repeats: usize,
    pub swept: Vec<(Setting, Vec<String>)>,
}

impl Reader<'_> {
    /// `FILE: line N`, or the file alone for line 0.
    pub fn at(&self, line: usize) -> String {
        at(self.file, line)
    }

    /// The table `name` (empty when absent).
    pub fn section(&self, name: &str) -> Result<toml::Table> {
        match self.table.get(name) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(t)) => Ok(t.clone()),
            Some(_) => bail!(
                "{}: `{name}` must be a table",
                self.at(header_line(self.text, name))
            ),
        }
    }

    /// Whether `key` may be set: a run flag, a Knative setting, or `functions`.
    fn known(&self, key: &str) -> bool {
        key == "functions"
            || key
                .strip_prefix("knative.")
                .is_some_and(|k| KNATIVE_KEYS.contains(&k))
            || (self.flags.iter().any(|f| f == key) && !RESERVED.contains(&key))
            || super::disturbances::known(&self.table, key)
    }

    /// A path value made relative to the file's directory.
    fn path_value(&self, key: &str, value: String) -> String {
        if PATH_KEYS.contains(&key) && value != "builtin" && Path::new(&value).is_relative() {
            self.dir.join(&value).display().to_string()
        } else {
            value
        }
    }

    /// `[run]`.
    pub fn run(&self) -> Result<RunSection> {
        // [run]: base settings, and the experiment's own keys.
        let mut base = Vec::new();
        let mut between_steps = 0.0;
        let mut on_failure = OnFailure::Stop;
        let mut reuse_deployment = false;
        for (key, value) in self.section("run")? {
            let line = line_of(self.text, "run", &key);
            let Some(v) = scalar(&value) else {
                bail!(
                    "{}: [run] `{key}`: expected a single value, not {}",
                    self.at(line),
                    value.type_str()
                );
            };
            match key.as_str() {
            "between-steps" => {
                between_steps = match value {
                    toml::Value::Integer(i) if i >= 0 => i as f64,
                    toml::Value::Float(f) if f.is_finite() && f >= 0.0 => f,
                    _ => bail!("{}: [run] `between-steps`: expected seconds ≥ 0, not `{v}`", self.at(line)),
                };
                if between_steps > cmdline::values::DAY_SECONDS {
                    bail!("{}: [run] `between-steps`: at most a day (86400 s)", self.at(line));
                }
            }
            "reuse-deployment" => {
                reuse_deployment = value.as_bool().ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: [run] `reuse-deployment`: expected true or false, not `{v}`",
                        self.at(line)
                    )
                })?
            }
            "on-failure" => {
                on_failure = parse_on_failure(&v)
                    .map_err(|e| anyhow::anyhow!("{}: [run] `on-failure`: {e}", self.at(line)))?
            }
            "functions" => bail!(
                "{}: [run] `functions`: a size picks a sample, so it belongs in [sweep] (a list of one is fine)",
                self.at(line)
            ),
            _ if !self.known(&key) => bail!("{}: [run] `{key}`: {}", self.at(line), unknown_key(&key, &self.flags)),
            _ if key.starts_with("knative.") => {
                bail!("{}: [run] `{key}`: Knative settings go in [knative]", self.at(line))
            }
            _ => base.push(Setting {
                value: self.path_value(&key, v),
                key,
                line,
            }),
        }
        }
        Ok(RunSection {
            base,
            between_steps,
            on_failure,
            reuse_deployment,
        })
    }

    /// `[knative]`: settings of every step, as `knative.KEY`.
    pub fn knative(&self) -> Result<Vec<Setting>> {
        let mut base = Vec::new();
        for (key, value) in self.section("knative")? {
            let line = line_of(self.text, "knative", &key);
            if !KNATIVE_KEYS.contains(&key.as_str()) {
                bail!(
                    "{}: [knative] `{key}`: not a Knative setting (one of {})",
                    self.at(line),
                    KNATIVE_KEYS.join(", ")
                );
            }
            let Some(v) = scalar(&value) else {
                bail!(
                    "{}: [knative] `{key}`: expected a single value, not {}",
                    self.at(line),
                    value.type_str()
                );
            };
            base.push(Setting {
                key: format!("knative.{key}"),
                value: v,
                line,
            });
        }
        Ok(base)
    }

    /// `[hooks]`: a shell command per hook.
    pub fn hooks(&self) -> Result<BTreeMap<String, String>> {
        let mut hooks = BTreeMap::new();
        for (key, value) in self.section("hooks")? {
            let line = line_of(self.text, "hooks", &key);
            if !HOOKS.contains(&key.as_str()) {
                bail!(
                    "{}: [hooks] `{key}`: not a hook (one of {})",
                    self.at(line),
                    HOOKS.join(", ")
                );
            }
            let toml::Value::String(command) = value else {
                bail!(
                    "{}: [hooks] `{key}`: expected a shell command (a string), not {}",
                    self.at(line),
                    value.type_str()
                );
            };
            hooks.insert(key, command);
        }
        Ok(hooks)
    }

    /// `[sweep]`: the swept keys in file order, so the plan and results.csv follow the file.
    pub fn sweep(&self) -> Result<Sweep> {
        // [sweep].
        let mut zip = false;
        let mut repeats = 1usize;
        let mut swept: Vec<(Setting, Vec<String>)> = Vec::new();
        let sweep = self.section("sweep")?;
        // Keys in file order, so the plan and results.csv follow the file.
        let mut keys: Vec<(usize, String)> = sweep
            .keys()
            .map(|k| (line_of(self.text, "sweep", k), k.clone()))
            .collect();
        keys.sort();
        for (line, key) in keys {
            let value = &sweep[&key];
            match key.as_str() {
                "mode" => {
                    zip = match value.as_str() {
                        Some("grid") => false,
                        Some("zip") => true,
                        _ => bail!(
                            "{}: [sweep] `mode`: expected \"grid\" or \"zip\"",
                            self.at(line)
                        ),
                    }
                }
                "repeats" => {
                    repeats = match value.as_integer() {
                        Some(n) if (1..=1000).contains(&n) => n as usize,
                        _ => bail!(
                            "{}: [sweep] `repeats`: expected a whole number from 1 to 1000",
                            self.at(line)
                        ),
                    }
                }
                _ if !self.known(&key) => bail!(
                    "{}: [sweep] `{key}`: {}",
                    self.at(line),
                    unknown_key(&key, &self.flags)
                ),
                _ => {
                    let strings = self.swept_values(&key, line, value)?;
                    swept.push((
                        Setting {
                            key,
                            value: String::new(),
                            line,
                        },
                        strings,
                    ));
                }
            }
        }
        if zip {
            if let Some(((first, a), (other, b))) = swept
                .first()
                .and_then(|f| {
                    swept
                        .iter()
                        .find(|o| o.1.len() != f.1.len())
                        .map(|o| (f, o))
                })
                .map(|(f, o)| ((&f.0, f.1.len()), (&o.0, o.1.len())))
            {
                bail!(
                "{}: [sweep] `{}` has {b} values but `{}` has {a}: zip needs lists of one length",
                self.at(other.line),
                other.key,
                first.key
            );
            }
        }
        Ok(Sweep {
            zip,
            repeats,
            swept,
        })
    }

    /// The values `[sweep]` gives `key` (on `line`): a non-empty list of single values, paths made
    /// relative to the file, `functions` whole numbers ≥ 1.
    fn swept_values(&self, key: &str, line: usize, value: &toml::Value) -> Result<Vec<String>> {
        let toml::Value::Array(values) = value else {
            bail!(
                "{}: [sweep] `{key}`: expected a list of values, not {}",
                self.at(line),
                value.type_str()
            );
        };
        if values.is_empty() {
            bail!(
                "{}: [sweep] `{key}`: an empty list makes zero steps",
                self.at(line)
            );
        }
        let mut strings = Vec::with_capacity(values.len());
        for v in values {
            let s = scalar(v).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: [sweep] `{key}`: expected single values in the list, not {}",
                    self.at(line),
                    v.type_str()
                )
            })?;
            if key == "functions" && !matches!(v.as_integer(), Some(n) if n >= 1) {
                bail!(
                    "{}: [sweep] `functions`: expected whole numbers ≥ 1, not `{s}`",
                    self.at(line)
                );
            }
            strings.push(self.path_value(key, s));
        }
        Ok(strings)
    }
}
