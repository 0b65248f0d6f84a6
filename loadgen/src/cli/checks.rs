//! Checks of a command line as a whole, after each flag's own bounds: what clap cannot say alone.

/// A flag given on the command line that changes nothing in what the command will do, and why: taken
/// without a word, it would let a user (or a sweep) believe it had.
pub(super) fn changes_nothing(command: &str, m: &clap::ArgMatches) -> Option<String> {
    let given = |id: &str| {
        m.try_get_raw(id).ok().flatten().is_some()
            && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    };
    let set = |id: &str| m.try_get_raw(id).ok().flatten().is_some();
    let positive = |id: &str| {
        m.try_get_one::<f64>(id)
            .ok()
            .flatten()
            .is_some_and(|v| *v > 0.0)
    };
    if command == "run" && given("functions") {
        if set("trace") {
            return Some(
                "-n/--functions sizes the synthetic trace, but --trace gives one: leave -n out"
                    .into(),
            );
        }
        if set("rps") || set("burst_size") {
            return Some(
                "-n/--functions sizes the synthetic trace, but --rps/--burst-size make the load with no \
                 trace: leave -n out"
                    .into(),
            );
        }
    }
    if given("cooldown") && !positive("cold_ratio") {
        return Some(
            "--cooldown spaces the calls of cold functions, and there are none without \
                     --cold-ratio above 0: add --cold-ratio or leave --cooldown out"
                .into(),
        );
    }
    for id in ["rps_every", "rps_max", "rps_ramp"] {
        let flag_given = if id == "rps_ramp" {
            m.try_get_one::<bool>(id).ok().flatten().copied() == Some(true)
        } else {
            given(id)
        };
        if flag_given && !positive("rps_step") {
            return Some(format!(
                "--{} shapes the rise of the rate, and it does not rise without --rps-step above 0: add \
                 --rps-step or leave --{0} out",
                id.replace('_', "-")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    fn parse(args: &[&str]) -> Result<super::super::Cli, clap::Error> {
        super::super::parse_command_line(args.iter().map(OsString::from))
    }

    #[test]
    fn flags_that_change_nothing_are_refused_with_why() {
        for (args, why) in [
            (
                &["loadgen", "run", "--rps", "5", "-n", "10"][..],
                "leave -n out",
            ),
            (
                &["loadgen", "run", "-t", "x", "--functions=3"],
                "--trace gives one",
            ),
            (
                &["loadgen", "run", "--rps", "5", "--cooldown", "3"],
                "--cold-ratio",
            ),
            (
                &["loadgen", "generate", "--rps", "5", "--rps-max", "9"],
                "--rps-step",
            ),
            (
                &["loadgen", "run", "--rps", "5", "--rps-ramp"],
                "--rps-step",
            ),
        ] {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(why), "{args:?}: {e}");
        }
        // The same flags where they do change something.
        for args in [
            &["loadgen", "run", "-n", "10"][..],
            &[
                "loadgen",
                "run",
                "--rps",
                "5",
                "--cold-ratio",
                "10",
                "--cooldown",
                "3",
            ],
            &[
                "loadgen",
                "run",
                "--rps",
                "5",
                "--rps-step",
                "1",
                "--rps-max",
                "9",
                "--rps-ramp",
            ],
        ] {
            assert!(parse(args).is_ok(), "{args:?}");
        }
    }
}
