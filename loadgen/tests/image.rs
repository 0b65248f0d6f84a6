//! The repository's Dockerfile, built and run with podman on this machine (no registry, cgroup v1, no
//! systemd): a Debian bookworm base made with mmdebstrap from Debian's packages and imported, the
//! binaries of this build stripped into a build context of their own (`BINARIES=context`), then
//! `invoker --help` in the container, an emulated function in the container answering the host's
//! invoker, and the image's size with and without a 100 MiB filler layer (`FUNCTION_IMAGE_SIZE_MB`).
//!
//! The engine's flags are this VM's: runc (crun refuses cgroup v1's hybrid mode), cgroupfs and a file
//! events backend (no systemd), host networking, and ulimits no higher than the sandbox allows.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{s, LOADGEN};

/// The base image the test builds on, kept between runs (making it takes ~20 s).
const BASE: &str = "localhost/loadgen-test-base:bookworm-generators";

fn podman(args: &[&str], limit: Duration) -> Output {
    let mut all = vec![
        format!("{}", limit.as_secs()),
        "podman".into(),
        "--runtime".into(),
        "runc".into(),
        "--cgroup-manager=cgroupfs".into(),
        "--events-backend=file".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    Command::new("timeout")
        .args(&all)
        .output()
        .expect("podman runs (installed by .ci/run)")
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Limits no higher than this sandbox's (podman's own defaults would raise them, which it may not).
const LIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

/// The base image: Debian bookworm (minbase) from Debian's packages, imported once.
fn base_image(dir: &Path) {
    if podman(&["image", "exists", BASE], Duration::from_secs(60))
        .status
        .success()
    {
        return;
    }
    let tar = dir.join("bookworm.tar");
    ok(
        Command::new("timeout")
            .args([
                "600",
                "mmdebstrap",
                "--variant=minbase",
                // The interference generators, so the image's build finds them (no mirror needed).
                "--include=stress-ng,iperf3",
                "bookworm",
                s(&tar),
            ])
            .output()
            .expect("mmdebstrap runs (installed by .ci/run)"),
        "mmdebstrap",
    );
    ok(
        podman(&["import", s(&tar), BASE], Duration::from_secs(300)),
        "podman import",
    );
}

/// A build context of its own: the Dockerfile and this build's binaries, stripped, in bin/.
fn context(dir: &Path) -> PathBuf {
    let ctx = dir.join("context");
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    let built = Path::new(LOADGEN).parent().unwrap();
    for b in ["invoker", "emulated-function", "loadgen"] {
        ok(
            Command::new("strip")
                .arg("-o")
                .arg(ctx.join("bin").join(b))
                .arg(built.join(b))
                .output()
                .unwrap(),
            "strip",
        );
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::copy(repo.join("Dockerfile"), ctx.join("Dockerfile")).unwrap();
    ctx
}

fn build(ctx: &Path, tag: &str, filler_mb: u32) -> u64 {
    let filler = format!("FUNCTION_IMAGE_SIZE_MB={filler_mb}");
    let base = format!("BASE={BASE}");
    let mut args = vec!["build", "--network=host"];
    args.extend(LIMITS);
    args.extend([
        "--build-arg",
        &base,
        "--build-arg",
        "BINARIES=context",
        "--build-arg",
        &filler,
        "-t",
        tag,
        s(ctx),
    ]);
    ok(podman(&args, Duration::from_secs(600)), "podman build");
    ok(
        podman(
            &["image", "inspect", "--format", "{{.Size}}", tag],
            Duration::from_secs(60),
        ),
        "podman image inspect",
    )
    .trim()
    .parse()
    .unwrap()
}

/// Removes the test's images and container, however the test ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = podman(&["rm", "-f", name], Duration::from_secs(60));
            let _ = podman(&["rmi", "-f", name], Duration::from_secs(60));
        }
    }
}

#[test]
fn the_image_builds_runs_its_tools_and_serves_a_function_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    base_image(dir.path());
    let ctx = context(dir.path());
    let id = std::process::id();
    let plain = format!("localhost/loadgen-test:{id}");
    let padded = format!("localhost/loadgen-test:{id}-filler-100mb");
    let container = format!("loadgen-test-function-{id}");
    let _cleanup = Cleanup(vec![container.clone(), plain.clone(), padded.clone()]);

    let plain_bytes = build(&ctx, &plain, 0);
    let help = ok(
        podman(
            &[
                "run",
                "--rm",
                "--network=host",
                LIMITS[0],
                LIMITS[1],
                LIMITS[2],
                LIMITS[3],
                &plain,
                "--help",
            ],
            Duration::from_secs(120),
        ),
        "invoker --help in the container",
    );
    assert!(help.contains("Replays load.json"), "{help}");
    // The interference generators are in the image.
    for (tool, says) in [("stress-ng", "stress-ng, version"), ("iperf3", "iperf 3")] {
        let version = ok(
            podman(
                &[
                    "run",
                    "--rm",
                    LIMITS[0],
                    LIMITS[1],
                    LIMITS[2],
                    LIMITS[3],
                    "--entrypoint",
                    tool,
                    &plain,
                    "--version",
                ],
                Duration::from_secs(120),
            ),
            tool,
        );
        assert!(version.contains(says), "{version}");
    }

    // An emulated function in the container, on a free port of the host's loopback.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    ok(
        podman(
            &[
                "run",
                "-d",
                "--name",
                &container,
                "--network=host",
                LIMITS[0],
                LIMITS[1],
                LIMITS[2],
                LIMITS[3],
                "--entrypoint",
                "/usr/local/bin/emulated-function",
                &plain,
                "--listen",
                &listen,
                "--duration-ms",
                "2",
            ],
            Duration::from_secs(120),
        ),
        "emulated-function in the container",
    );
    let up = Instant::now();
    while TcpListener::bind(&listen).is_ok() {
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "the function never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The host's invoker calls it: 20 calls over 2 one-second periods.
    let load = dir.path().join("load.json");
    let mut writer = formats::LoadWriter::create(&load, std::slice::from_ref(&listen)).unwrap();
    for _ in 0..2 {
        let calls: Vec<formats::Invocation> = (0..10)
            .map(|i| formats::Invocation {
                offset_us: i * 90_000,
                endpoint: 0,
            })
            .collect();
        writer.write_period(&calls).unwrap();
    }
    writer.commit().unwrap();
    let records = dir.path().join("records.csv");
    let invoker = Path::new(LOADGEN).with_file_name("invoker");
    ok(
        Command::new("timeout")
            .args(["120", s(&invoker), "--traceFile", s(&load), "--min=false"])
            .args(["--duration", "2", "--warmup", "0", "--records", s(&records)])
            // Its vSwarm latency file (lat.csv, in the working directory) goes with the test's files.
            .current_dir(dir.path())
            .output()
            .unwrap(),
        "the host's invoker",
    );
    let mut answered = 0;
    formats::records::read_records(&records, |r, _| {
        assert_eq!(r.outcome, formats::records::Outcome::Ok);
        assert!(r.exec_us.unwrap() >= 2_000, "{:?}", r.exec_us);
        answered += 1;
    })
    .unwrap();
    assert_eq!(answered, 20);

    // A 100 MiB filler of random bytes: the image grows by that much (it cannot be compressed away).
    let padded_bytes = build(&ctx, &padded, 100);
    let grown = padded_bytes - plain_bytes;
    let report = format!(
        "image {plain_bytes} bytes ({:.1} MB); with FUNCTION_IMAGE_SIZE_MB=100 {padded_bytes} bytes \
         ({:.1} MB, +{:.1} MiB)\n",
        plain_bytes as f64 / 1e6,
        padded_bytes as f64 / 1e6,
        grown as f64 / 1048576.0
    );
    eprint!("{report}");
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-sizes.txt"),
        &report,
    )
    .unwrap();
    assert!(
        (100 << 20..(100 << 20) + (4 << 20)).contains(&grown),
        "{report}"
    );
}
