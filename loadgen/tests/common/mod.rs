//! What the binary-level tests share: running `loadgen` with a time limit and reading its output.

#![allow(dead_code)] // each test file uses some of these

pub mod pods;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// How long any one `loadgen` call of a test may take.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub use testkit::wait_bounded;

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

/// Writes `text` to `dir/name`; its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `loadgen experiment FILE -o OUT extra…`, killed past [`LIMIT`].
pub fn experiment(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["experiment", s(file), "-o", s(out)];
    args.extend_from_slice(extra);
    loadgen(&args)
}

/// Both output streams, labelled, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The directories beside `out` that a run or an experiment writes: `NAME.<what>-ID` (`staging` while it
/// runs, `failed` when it failed with measurements).
pub fn siblings(out: &Path, what: &str) -> Vec<PathBuf> {
    let prefix = format!("{}.{what}-", out.file_name().unwrap().to_str().unwrap());
    let mut found: Vec<PathBuf> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect();
    found.sort();
    found
}

/// The one `NAME.failed-ID` directory beside `out`, which the failed command's error names.
pub fn failed_sibling(out: &Path, o: &Output) -> PathBuf {
    let found = siblings(out, "failed");
    assert_eq!(found.len(), 1, "{found:?}\n{}", text(o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&found[0].display().to_string()),
        "the error names {}: {}",
        found[0].display(),
        text(o)
    );
    found[0].clone()
}

/// Asserts the run succeeded; returns its output.
pub fn ok(o: &Output) -> String {
    let t = text(o);
    assert!(o.status.success(), "{t}");
    t
}

/// A PATH with the fake kubectl and kn first, and their state directory.
pub struct FakeCluster {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    pub state: PathBuf,
}

impl FakeCluster {
    pub fn new() -> FakeCluster {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(state.join("svc")).unwrap();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake");
        // Linked, not copied: a copy is a file this process writes, and a child forked meanwhile by a
        // test on another thread holds it open for writing until it execs, so running the copy could
        // fail with "Text file busy" (ETXTBSY; CI saw it). The fakes are executable in the repository.
        for tool in ["kubectl", "kn"] {
            std::os::unix::fs::symlink(fakes.join(tool), bin.join(tool)).unwrap();
        }
        FakeCluster {
            _dir: dir,
            bin,
            state,
        }
    }

    pub fn env(&self, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = vec![
            ("PATH", path),
            ("FAKE_KUBE_STATE", self.state.display().to_string()),
        ];
        for (k, v) in extra {
            let k: &'static str = Box::leak(k.to_string().into_boxed_str());
            env.push((k, v.to_string()));
        }
        env
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.state.join("svc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// A call: (absolute µs from the load's start, endpoint, per-call duration and memory).
pub type Call = (u64, String, Option<(u64, u32)>);

/// Every call of a load as (absolute µs from the load's start, endpoint), and its per-call duration and
/// memory when written.
pub fn calls(load: &Path, period_us: u64) -> Vec<Call> {
    let l = formats::read(load).unwrap();
    let mut out = Vec::new();
    for (p, period) in l.periods.iter().enumerate() {
        for (i, c) in period.calls.iter().enumerate() {
            let ask = period.asks.get(i).map(|a| (a.duration_us, a.memory_mb));
            out.push((
                p as u64 * period_us + c.offset_us,
                l.endpoints[c.endpoint as usize].clone(),
                ask,
            ));
        }
    }
    out
}

/// `generate` of a per-second load into `dir/name.json`, with `extra` flags; returns the load's path.
pub fn generate_seconds(dir: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.json"));
    let mapping = dir.join(format!("{name}.mapping.json"));
    let mut args = vec![
        "generate",
        "-m",
        "false",
        "-w",
        "0",
        "--seed",
        "9",
        "-o",
        s(&out),
        "--mapping",
        s(&mapping),
    ];
    if !extra.contains(&"-p") {
        args.extend(["-p", "builtin"]);
    }
    args.extend_from_slice(extra);
    ok(&run_loadgen(&args, &[], LIMIT));
    out
}

/// `loadgen deploy --deployer knative` on the shared sample with its real profile.json, config.json and
/// YAMLs, plus `extra` flags.
pub fn deploy_knative(
    sample: &Path,
    out: &Path,
    config: &Path,
    cluster: &FakeCluster,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut args = vec!["deploy", "--deployer", "knative", "-t", s(sample), "-p"];
    let profile = sample.join("profile.json");
    let build = out.join("build");
    let load = out.join("load.json");
    args.extend([
        s(&profile),
        "-c",
        s(config),
        "-b",
        s(&build),
        "-o",
        s(&load),
        "-w",
        "0",
        "-d",
        "2",
        "--poll-interval",
        "0.02",
    ]);
    let extra: Vec<&str> = extra.to_vec();
    let owned: Vec<String> = args.iter().chain(&extra).map(|a| a.to_string()).collect();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    run_loadgen(&refs, &cluster.env(env), Duration::from_secs(60))
}
