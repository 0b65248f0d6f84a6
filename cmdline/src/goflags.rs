//! vSwarm's users type Go-style flags (`-traceFile load.json`, `-min=false`, `-dbg`); clap wants long flags
//! with two dashes. [`normalize`] rewrites a command line before clap sees it, using the command's own
//! definition (which flags exist, which take values), so that:
//!
//! - every long flag also works with one dash: `-duration 15` is `--duration 15`;
//! - a short flag takes an attached value only when it is a number: `-d20` is `-d 20`, but `-dgb` is one
//!   (unknown) flag name, never `-d gb`;
//! - an unknown single-dash flag is named, with the nearest known flag suggested;
//! - a negative number after a flag that takes a value is that flag's (invalid) value, not a flag.

use std::ffi::OsString;

use clap::Command;

/// [`normalize`] as clap reports errors: an unknown flag is a usage error (exit status 2).
pub fn parse_args(
    command: &Command,
    args: impl IntoIterator<Item = OsString>,
) -> Result<Vec<OsString>, clap::Error> {
    // Built, the definition holds the flags clap adds itself (`-h`/`--help`, `-V`/`--version`), so they
    // are known here like every other flag.
    let mut built = command.clone();
    built.build();
    normalize(&built, args.into_iter().collect())
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::UnknownArgument, format!("{e}\n")))
}

/// Rewrites `args` (program name first) for `command`; an unknown single-dash flag is an error naming it.
pub fn normalize(command: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(args.len());
    let mut scopes: Vec<&Command> = vec![command];
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    // The flag just seen takes its value from the next token: whether that value is required.
    let mut awaiting: Option<bool> = None;
    let mut rest_verbatim = false;
    for arg in iter {
        let Some(token) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            awaiting = None;
            continue;
        };
        if rest_verbatim {
            out.push(arg);
            continue;
        }
        if let Some(required) = awaiting.take() {
            // A flag whose value is optional (`-dbg`) takes the next token only if it looks like a
            // value: not a flag, and not a subcommand's name (`--dbg run`).
            let current = scopes.last().expect("never empty");
            let subcommand = current
                .get_subcommands()
                .any(|s| s.get_name() == token || s.get_all_aliases().any(|a| a == token));
            let looks_like_value = (!token.starts_with('-') || is_number(&token)) && !subcommand;
            if required || looks_like_value {
                // Joined with `=`, a value that starts with `-` is never taken for a flag.
                let mut joined = out.pop().expect("the flag was pushed");
                joined.push("=");
                joined.push(&token);
                out.push(joined);
                continue;
            }
        }
        if token == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        if let Some(long) = token.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or("");
            match find_long(&scopes, name) {
                Some(a) => {
                    if !long.contains('=') && takes_value(a) {
                        awaiting = Some(value_required(a));
                    }
                }
                None => return Err(unknown(&scopes, &format!("--{name}"), name, "--")),
            }
            out.push(arg);
            continue;
        }
        if token.len() > 1 && token.starts_with('-') && !is_number(&token) {
            let body = &token[1..];
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            if let Some(a) = find_long(&scopes, name) {
                let long = a.get_long().expect("found by its long name");
                if value.is_none() && takes_value(a) {
                    awaiting = Some(value_required(a));
                }
                out.push(OsString::from(match value {
                    Some(v) => format!("--{long}={v}"),
                    None => format!("--{long}"),
                }));
                continue;
            }
            let mut chars = name.chars();
            let first = chars.next().expect("longer than the dash");
            let attached = chars.as_str();
            if let Some(a) = find_short(&scopes, first) {
                // `-d` alone, `-d20`, `-d=20`: a short flag, with a value only if it is a number.
                if attached.is_empty() && value.is_none() {
                    if takes_value(a) {
                        awaiting = Some(value_required(a));
                    }
                    out.push(arg);
                    continue;
                }
                let attached =
                    value.map_or(attached, |v| if attached.is_empty() { v } else { attached });
                if takes_value(a) && is_number(attached) {
                    out.push(OsString::from(format!("-{first}={attached}")));
                    continue;
                }
            }
            return Err(unknown(&scopes, &token, name, "-"));
        }
        // A positional argument: a subcommand name enters that subcommand's flags.
        let current = scopes.last().expect("never empty");
        if let Some(sub) = current
            .get_subcommands()
            .find(|s| s.get_name() == token || s.get_all_aliases().any(|a| a == token))
        {
            scopes.push(sub);
        } else if current.has_subcommands() && current.get_positionals().next().is_none() {
            // Where only a subcommand can stand, a misspelled one is named before the flags after it
            // (which would otherwise be judged as the parent's, and suggest the wrong thing).
            return Err(unknown_subcommand(current, &token));
        }
        out.push(arg);
    }
    Ok(out)
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_action().takes_values()
}

fn value_required(a: &clap::Arg) -> bool {
    a.get_num_args().is_none_or(|n| n.min_values() > 0)
}

/// Flags visible where the command line is: the innermost (sub)command's own, and every enclosing one's
/// global flags.
fn visible<'a, 's>(scopes: &'s [&'a Command]) -> impl Iterator<Item = &'a clap::Arg> + 's
where
    'a: 's,
{
    let last = scopes.len() - 1;
    scopes.iter().enumerate().flat_map(move |(i, c)| {
        c.get_arguments()
            .filter(move |a| i == last || a.is_global_set())
    })
}

fn find_long<'a>(scopes: &[&'a Command], name: &str) -> Option<&'a clap::Arg> {
    if name.is_empty() {
        return None;
    }
    visible(scopes).find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn find_short<'a>(scopes: &[&'a Command], c: char) -> Option<&'a clap::Arg> {
    visible(scopes).find(|a| a.get_short() == Some(c))
}

fn unknown_subcommand(command: &Command, token: &str) -> String {
    let nearest = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| {
            (
                edit_distance(&token.to_lowercase(), s.get_name()),
                s.get_name(),
            )
        })
        .min();
    match nearest {
        Some((d, name)) if d <= (name.len() / 3).max(2) => format!(
            "unknown subcommand `{token}` for `{}`; did you mean `{name}`?",
            command.get_name()
        ),
        _ => format!(
            "unknown subcommand `{token}` for `{0}` (see `{0} --help`)",
            command.get_name()
        ),
    }
}

fn unknown(scopes: &[&Command], token: &str, name: &str, dashes: &str) -> String {
    let nearest = visible(scopes)
        .filter_map(|a| a.get_long())
        .chain(["help"])
        .map(|long| {
            (
                edit_distance(&name.to_lowercase(), &long.to_lowercase()),
                long,
            )
        })
        .min();
    let command = scopes
        .iter()
        .map(|c| c.get_name())
        .collect::<Vec<_>>()
        .join(" ");
    match nearest {
        Some((d, long)) if d <= (long.len() / 3).max(2) => {
            format!("unknown flag `{token}` for `{command}`; did you mean `{dashes}{long}`?")
        }
        _ => format!("unknown flag `{token}` for `{command}` (see `{command} --help`)"),
    }
}

/// Edit distance between two strings, by characters, where swapping two neighbours counts as one edit
/// (optimal string alignment): `-dgb` is one edit from `-dbg`, two from `-day`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("tool")
            .arg(
                Arg::new("dbg")
                    .long("dbg")
                    .global(true)
                    .num_args(0..=1)
                    .action(ArgAction::Set),
            )
            .subcommand(
                Command::new("run")
                    .alias("go")
                    .arg(Arg::new("duration").short('d').long("duration"))
                    .arg(Arg::new("trace_file").long("traceFile").short('t'))
                    .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue)),
            )
    }

    fn norm(args: &[&str]) -> Result<Vec<String>, String> {
        let args = std::iter::once("tool")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        normalize(&command(), args).map(|v| {
            v.into_iter()
                .skip(1)
                .map(|a| a.into_string().unwrap())
                .collect()
        })
    }

    #[test]
    fn go_style_becomes_clap_style() {
        assert_eq!(
            norm(&["run", "-duration", "15", "-traceFile=x", "-dbg"]).unwrap(),
            ["run", "--duration=15", "--traceFile=x", "--dbg"]
        );
        assert_eq!(norm(&["go", "-d20"]).unwrap(), ["go", "-d=20"]);
        assert_eq!(norm(&["run", "-d", "20"]).unwrap(), ["run", "-d=20"]);
        assert_eq!(
            norm(&["run", "-quiet", "-t", "f"]).unwrap(),
            ["run", "--quiet", "-t=f"]
        );
        assert_eq!(
            norm(&["-dbg", "false", "run"]).unwrap(),
            ["--dbg=false", "run"]
        );
        assert_eq!(norm(&["run", "--", "-x"]).unwrap(), ["run", "--", "-x"]);
        assert_eq!(
            norm(&["-dbg", "run", "-d", "2"]).unwrap(),
            ["--dbg", "run", "-d=2"]
        );
    }

    #[test]
    fn help_version_and_misspelled_subcommands() {
        let built = |args: &[&str]| {
            let args = std::iter::once("tool").chain(args.iter().copied());
            parse_args(&command().version("1"), args.map(OsString::from))
        };
        // clap's own flags are flags like any other once the definition is built.
        for ok in [&["-h"][..], &["-V"], &["--help"], &["run", "-h"], &["help"]] {
            assert!(built(ok).is_ok(), "{ok:?}: {:?}", built(ok));
        }
        // A misspelled subcommand is named, not the flag after it.
        let e = norm(&["runn", "-d", "5"]).unwrap_err();
        assert!(
            e.contains("unknown subcommand `runn`") && e.contains("did you mean `run`"),
            "{e}"
        );
        let e = norm(&["zzzzzz"]).unwrap_err();
        assert!(e.contains("see `tool --help`"), "{e}");
        // A long flag misspelled gets the nearest one, as a single-dash one does.
        let e = norm(&["run", "--duraiton", "5"]).unwrap_err();
        assert!(
            e.contains("unknown flag `--duraiton`") && e.contains("did you mean `--duration`"),
            "{e}"
        );
    }

    #[test]
    fn typos_and_negative_numbers_are_named() {
        let e = norm(&["run", "-dgb"]).unwrap_err();
        assert!(
            e.contains("unknown flag `-dgb`") && e.contains("did you mean `-dbg`"),
            "{e}"
        );
        let e = norm(&["run", "-tracefile", "x"]).unwrap_err();
        assert!(e.contains("did you mean `-traceFile`"), "{e}");
        let e = norm(&["run", "-zzzzzzzzz"]).unwrap_err();
        assert!(e.contains("see `tool run --help`"), "{e}");
        assert_eq!(
            norm(&["run", "-duration", "-1"]).unwrap(),
            ["run", "--duration=-1"]
        );
        assert_eq!(edit_distance("tracefile", "traceFile"), 1);
        assert_eq!(edit_distance("dgb", "dbg"), 1);
        assert_eq!(edit_distance("dgb", "day"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
