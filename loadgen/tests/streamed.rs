//! Streamed generation makes the very bytes the held generation made: a synthetic 2-hour window of 1,000
//! functions, an Azure 2021 file (read in passes through its reorder window), an RPS ramp with cold starts
//! and a burst schedule (both made second by second), each against the SHA-256 of the `load.json` that
//! `loadgen generate` wrote before loads were streamed (commit b458c32, which held every call in memory).
//!
//! A digest that changes here means every user's load changed for the same seed: if that is meant (a new
//! draw, a format change), say so in the commit and record the new digest.

mod common;

use std::path::Path;

use common::{ok, run_loadgen, s, LIMIT};

/// Runs `loadgen generate` with `args` into `dir/name` and returns the load's SHA-256.
fn generate(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = dir.join(name);
    let mut all = vec!["generate", "-p", "builtin", "--seed", "5", "-o", s(&out)];
    all.extend_from_slice(args);
    ok(&run_loadgen(&all, &[], LIMIT));
    formats::transfer::sha256_file(&out).unwrap()
}

#[test]
fn streamed_loads_are_byte_identical_to_the_held_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sampled, azure2021) = (d.join("trace"), d.join("t21"));
    for (trace, seed, layout) in [(&sampled, "3", "sampled"), (&azure2021, "4", "azure2021")] {
        let n = if layout == "sampled" { "1000" } else { "300" };
        ok(&run_loadgen(
            &[
                "synth",
                "-o",
                s(trace),
                "-n",
                n,
                "--periods",
                "120",
                "--seed",
                seed,
                "--layout",
                layout,
            ],
            &[],
            LIMIT,
        ));
    }
    let digests = [
        (
            "sampled 1,000 functions × 120 minutes",
            generate(d, "sampled.json", &["-t", s(&sampled), "--duration", "118"]),
            "bf4eacc5ad3701dc5f214dfe3a97e861831026eb6663843883b9d0e9a94312e4",
        ),
        (
            "Azure 2021, minutes 10..=41, per call",
            generate(
                d,
                "a2021.json",
                &[
                    "-t",
                    s(&azure2021),
                    "--duration",
                    "30",
                    "--start",
                    "10",
                    "--per-call",
                ],
            ),
            "df5a610ab13d091494c507f367f6d1e0a1a8b648bee276b76fa1fd7fc8d521a3",
        ),
        (
            "RPS ramp 200/s + 20/s², 5 % cold",
            generate(
                d,
                "rps.json",
                &[
                    "--rps",
                    "200",
                    "--rps-step",
                    "20",
                    "--rps-every",
                    "1",
                    "--rps-ramp",
                    "--cold-ratio",
                    "5",
                    "--cooldown",
                    "2",
                    "-m",
                    "false",
                    "--duration",
                    "60",
                ],
            ),
            "8fef01dd5a5abae0cf8e09490886208e8de127370082460b16dc132c0e12b6b2",
        ),
        (
            "bursts of 3 to 4 endpoints",
            generate(
                d,
                "burst.json",
                &[
                    "--burst-size",
                    "3",
                    "--burst-iat",
                    "0.5",
                    "--burst-endpoints",
                    "4",
                    "-m",
                    "false",
                    "--duration",
                    "30",
                ],
            ),
            "2512b83c482656aa936d2e1e67c0ac92690eae2c0b43e5b0536af93b8799db9f",
        ),
    ];
    for (what, got, before) in digests {
        assert_eq!(
            got, before,
            "{what}: the streamed load differs from the held one"
        );
    }
}
