//! The `emulated-function` binary's command line: every number bounded, its own help, errors as one line.

use std::process::{Command, Output};

fn emulated(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emulated-function"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

#[test]
fn numbers_out_of_bounds_are_refused_by_flag() {
    for (args, flag) in [
        (&["--duration-ms", "1e20"][..], "--duration-ms"),
        (&["--duration-ms", "NaN"], "--duration-ms"),
        (&["--duration-ms", "-1"], "--duration-ms"),
        (&["--threads", "0"], "--threads"),
        (&["--memory-mb", "1000000000"], "--memory-mb"),
        (&["--memory-budget-mb", "0"], "--memory-budget-mb"),
    ] {
        let o = emulated(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains(flag) && e.contains("invalid value"),
            "{args:?}: {e}"
        );
    }
    // Within each bound, but more working set than the budget: no request could run.
    let o = emulated(&["--memory-mb", "4096", "--memory-budget-mb", "1024"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--memory-mb 4096 is more than --memory-budget-mb 1024"),
        "{e}"
    );
}

#[test]
fn help_is_its_own_and_errors_are_one_line() {
    let o = emulated(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.starts_with("A gRPC function server"), "{help}");
    assert!(!help.contains("Replays load.json"), "{help}");
    let o = emulated(&["--proxy", "no-such-proxy"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        e.trim(),
        "error: unknown proxy `no-such-proxy` in builtin",
        "{e}"
    );
}
