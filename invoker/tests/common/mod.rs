//! What the invoker's binary-level tests share: a constant load, and the binary started on it.

#![allow(dead_code)] // each test file uses some of these

pub mod diamonds;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use formats::{Invocation, LoadWriter};

/// A per-second load: `rate` calls per second to each endpoint, evenly spaced, for `periods` seconds.
pub fn constant_load(dir: &Path, endpoints: &[String], rate: u64, periods: usize) -> PathBuf {
    let path = dir.join("load.json");
    let mut w = LoadWriter::create(&path, endpoints).unwrap();
    for _ in 0..periods {
        let mut calls: Vec<Invocation> = (0..endpoints.len() as u32)
            .flat_map(|e| {
                (0..rate).map(move |k| Invocation {
                    offset_us: k * 1_000_000 / rate,
                    endpoint: e,
                })
            })
            .collect();
        calls.sort();
        w.write_period(&calls).unwrap();
    }
    w.commit().unwrap();
    path
}

/// Runs the invoker binary on `load` with `args`, stdout and stderr piped.
pub fn spawn_invoker(load: &Path, dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_invoker"))
        .args([
            "-traceFile",
            load.to_str().unwrap(),
            "-min=false",
            "-warmup",
            "0",
        ])
        .args(["-latf", dir.join("lat.csv").to_str().unwrap()])
        .args(["--records", dir.join("records.csv").to_str().unwrap()])
        .args(["--summary", dir.join("summary.json").to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}
