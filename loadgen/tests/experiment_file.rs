//! Mistakes in an experiment file, through the binary: each is refused with the file's line, before
//! anything runs.

mod common;
use common::{experiment, loadgen, ok, text, write_file};

#[test]
fn mistakes_in_the_file_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (body, expected) in [
        (
            "[run]\nminute = false\ndurration = 3\n",
            "line 3: [run] `durration`: not a `loadgen run` flag; did you mean `duration`?",
        ),
        (
            "[run]\nduration = \"soon\"\n",
            "line 2: `duration` = `soon`",
        ),
        (
            "[run]\nduration = [1, 2]\n",
            "line 2: [run] `duration`: expected a single value",
        ),
        (
            "[run]\ntrace = \"samples\"\n[sweep]\nfunctions = [10]\n",
            "line 4: [sweep] `functions`: no sample of 10 functions",
        ),
        (
            "[sweep]\nmode = \"zip\"\nfunctions = [1, 2]\nseed = [1]\n",
            "line 4: [sweep] `seed` has 1 values but `functions` has 2",
        ),
        (
            "[sweep]\nfunctions = []\n",
            "line 2: [sweep] `functions`: an empty list makes zero steps",
        ),
        (
            "[sweep]\nforce = [true]\n",
            "line 2: [sweep] `force`: an experiment file cannot set it; pass `loadgen experiment --force`",
        ),
        (
            "[run]\noutput-dir = \"x\"\n",
            "line 2: [run] `output-dir`: the experiment writes each step into its own directory",
        ),
        ("[run]\nduration = 3\nduration = 4\n", "line 3"),
        (
            "[hooks]\nbefore-run = \"true\"\n",
            "line 2: [hooks] `before-run`: not a hook",
        ),
        (
            "[knative]\nmetric = \"cpu\"\n",
            "line 2: `knative.metric` = `cpu`",
        ),
    ] {
        let file = write_file(dir.path(), "bad.toml", body);
        let o = experiment(&file, &out, &["--dry-run"]);
        assert_eq!(o.status.code(), Some(1), "{body}: {}", text(&o));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("bad.toml: ") && e.contains(expected),
            "{body}\n{e}"
        );
    }
    // More than 1,000 steps need --yes.
    let file = write_file(
        dir.path(),
        "big.toml",
        "[sweep]\nseed = [1,2,3,4,5,6,7,8,9,10,11]\nrepeats = 100\n",
    );
    let o = experiment(&file, &out, &["--dry-run"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1100 steps")
            && String::from_utf8_lossy(&o.stderr).contains("--yes")
    );
    // The example parses and plans four steps.
    let example = loadgen(&["experiment", "--example"]);
    let file = write_file(
        dir.path(),
        "example.toml",
        &String::from_utf8_lossy(&example.stdout),
    );
    let t = ok(&experiment(
        &file,
        &dir.path().join("example"),
        &["--dry-run"],
    ));
    assert!(t.contains("4 step(s)"), "{t}");
}
