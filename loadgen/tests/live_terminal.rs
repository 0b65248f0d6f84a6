//! The live view in a real terminal: `loadgen run` inside tmux at 80×24, read back with
//! `capture-pane`. Its lines fit the width (none wraps), it is redrawn in place (no stale screens pile
//! up), and it names endpoints by their proxy.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{s, wait_bounded, LIMIT, LOADGEN};

/// A tmux server of the test's own (its socket named after the test process), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server of the test's own; none where tmux is not installed (CI, which installs it, fails
    /// instead of skipping).
    fn new() -> Option<Tmux> {
        let found = Command::new("tmux").arg("-V").output();
        if !found.is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var("REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
                "tmux is not installed (.ci/run installs Debian's package)"
            );
            eprintln!("skipping: tmux is not installed");
            return None;
        }
        Some(Tmux {
            socket: format!("loadgen-live-{}", std::process::id()),
        })
    }

    /// `tmux -L SOCKET -f /dev/null args…`, bounded in time.
    fn run(&self, args: &[&str]) -> Output {
        let child = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_bounded(child, LIMIT);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            common::text(&out)
        );
        out
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Writes the script the terminal runs: the run, its exit status, then the signal the test waits on.
fn script(dir: &Path, tmux: &Tmux, out: &Path) -> String {
    let path = dir.join("run.sh");
    let body = format!(
        "#!/bin/sh\n\
         '{LOADGEN}' run -o '{out}' --rps 40 -m false -d 5 -w 0 --live-interval 0.25\n\
         echo \"exit=$?\"\n\
         tmux -L '{socket}' wait-for -S done\n",
        out = s(out),
        socket = tmux.socket,
    );
    std::fs::write(&path, body).unwrap();
    format!("sh '{}'", s(&path))
}

#[test]
fn the_live_view_fits_an_80_column_terminal_and_is_redrawn_in_place() {
    let Some(tmux) = Tmux::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let command = script(dir.path(), &tmux, &out);
    tmux.run(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-s",
        "live",
        &command,
    ]);
    tmux.run(&["set-option", "-t", "live", "remain-on-exit", "on"]);
    // The script signals when the run has ended (a signal sent before the wait still counts).
    tmux.run(&["wait-for", "done"]);
    // -J joins a wrapped line back into one: a line that wrapped reads longer than 80 here.
    let screen = String::from_utf8(
        tmux.run(&[
            "capture-pane",
            "-p",
            "-J",
            "-S",
            "-",
            "-E",
            "-",
            "-t",
            "live",
        ])
        .stdout,
    )
    .unwrap();
    assert!(screen.contains("exit=0"), "{screen}");
    let live: Vec<&str> = screen
        .lines()
        .filter(|l| {
            ["live ", "errors ", "last 10 s", "busiest "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    // One screen of four lines: every redraw went back over the one before.
    assert_eq!(live.len(), 4, "{screen}");
    for line in &live {
        assert!(line.chars().count() <= 80, "wrapped: `{line}`\n{screen}");
    }
    let busiest = live.iter().find(|l| l.starts_with("busiest ")).unwrap();
    assert!(
        busiest.contains("emu-") && !busiest.contains("127.0.0.1"),
        "endpoints by proxy: {busiest}"
    );
}
