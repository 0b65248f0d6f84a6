//! What the binary-level tests share: running `loadgen` with a time limit and reading its output.

#![allow(dead_code)] // each test file uses some of these

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// How long any one `loadgen` call of a test may take.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for `child` at most `limit`, killing it past that.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("loadgen ran longer than {limit:?}\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `loadgen args` with extra environment, killed past `limit`.
pub fn run_loadgen(args: &[&str], env: &[(&str, String)], limit: Duration) -> Output {
    let mut c = Command::new(LOADGEN);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    wait_bounded(c.spawn().unwrap(), limit)
}

/// Runs `loadgen args`, killed past [`LIMIT`].
pub fn loadgen(args: &[&str]) -> Output {
    run_loadgen(args, &[], LIMIT)
}

/// Both output streams, labelled, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts the run succeeded; returns its output.
pub fn ok(o: &Output) -> String {
    let t = text(o);
    assert!(o.status.success(), "{t}");
    t
}
