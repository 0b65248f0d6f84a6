//! Workflow files, ours and FaaSFlow's, read into one checked graph; malformed ones refused with the
//! node, the file and the line.

use std::path::{Path, PathBuf};

use workflow::{read, Routing, SizeDistribution, Width, Work, Workflow};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Edges as (from, to, size, control), by name.
fn edges(w: &Workflow) -> Vec<(String, String, SizeDistribution, bool)> {
    let mut e: Vec<_> = w
        .edges
        .iter()
        .map(|e| {
            (
                w.nodes[e.from].name.clone(),
                w.nodes[e.to].name.clone(),
                e.size,
                e.control,
            )
        })
        .collect();
    e.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    e
}

const DIAMOND: &str = "\
name: diamond
nodes:
  - name: A
    function: {duration_ms: 10, memory_mb: 64}
    next:
      to:
        - {node: B, size: 1KB}
        - {node: C, size: 100KB}
  - name: B
    function: {proxy: emu-9p9ms-16mi}
    next: {to: [{node: D, size: 1MB}]}
  - name: C
    function: trace
    next: {to: [{node: D, size: 1MB}]}
  - name: D
    function: {duration_ms: 5}
";

#[test]
fn our_format_gives_the_graph_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let w = read(&write(dir.path(), "d.yaml", DIAMOND), Width::Fixed(1)).unwrap();
    assert_eq!(w.name, "diamond");
    assert_eq!(w.nodes[w.entry].name, "A");
    assert_eq!(
        w.nodes.iter().map(|n| n.work.clone()).collect::<Vec<_>>(),
        [
            Work::Fixed {
                duration_ms: 10.0,
                memory_mb: 64.0
            },
            Work::Proxy("emu-9p9ms-16mi".into()),
            Work::Trace,
            Work::Fixed {
                duration_ms: 5.0,
                memory_mb: 0.0
            },
        ]
    );
    let f = SizeDistribution::Fixed;
    assert_eq!(
        edges(&w),
        [
            ("A".into(), "B".into(), f(1000), true),
            ("A".into(), "C".into(), f(100_000), true),
            ("B".into(), "D".into(), f(1_000_000), true),
            ("C".into(), "D".into(), f(1_000_000), true),
        ]
    );
    // D comes after B and C in the order nodes run in.
    let at = |n: &str| {
        w.topological
            .iter()
            .position(|&i| w.nodes[i].name == n)
            .unwrap()
    };
    assert!(at("D") > at("B") && at("D") > at("C") && at("B") > at("A"));
}

/// FaaSFlow's layout with pass, switch, foreach and VIRTUAL, and a data edge that skips levels.
const FAASFLOW: &str = "\
global_input:
  key:
    type: pass
    value:
      function: INPUT
      parameter: key
    size: 8
functions:
- name: upload
  source: upload
  runtime: 1
  input:
    key:
      type: pass
      value:
        function: INPUT
        parameter: key
      size: 8
  output:
    prefix:
      type: normal
      size: 16
  next:
    type: pass
    nodes:
      - route
- name: route
  source: VIRTUAL
  runtime: 0
  next:
    type: switch
    conditions:
      - INPUT.split
      - default
    nodes:
      - split
      - simple
- name: simple
  source: simple
  runtime: 0.5
- name: split
  source: split
  runtime: 2
  output:
    keys:
      type: keys
      size: 8
    content:
      type: pass
      size: 800000000
  next:
    type: foreach
    nodes:
      - transcode
- name: transcode
  source: transcode
  runtime: 1
  input:
    content:
      type: pass
      value:
        function: split
        parameter: content
      size: 8
  next:
    type: pass
    nodes:
      - merge
- name: merge
  source: merge
  runtime: 1
  input:
    prefix:
      type: pass
      value:
        function: upload
        parameter: prefix
global_output:
";

/// The same graph in our format.
const SAME_IN_OURS: &str = "\
name: wf
nodes:
  - name: upload
    function: {duration_ms: 1000}
    next: {to: [{node: route, size: 0}]}
  - name: route
    virtual: true
    next: {type: switch, to: [{node: split, size: 0}, {node: simple, size: 0}]}
  - name: simple
    function: {duration_ms: 500}
  - name: split
    function: {duration_ms: 2000}
    next: {type: foreach, width: 5, to: [{node: transcode, size: 8}]}
  - name: transcode
    function: {duration_ms: 1000}
    next: {to: [{node: merge, size: 0}]}
  - name: merge
    function: {duration_ms: 1000}
    reads: [{node: upload, size: 16}]
";

#[test]
fn faasflows_file_reads_into_the_graph_our_format_gives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("wf")).unwrap();
    let theirs = read(
        &write(&dir.path().join("wf"), "flat_workflow.yaml", FAASFLOW),
        Width::Fixed(5),
    )
    .unwrap();
    let ours = read(&write(dir.path(), "wf.yaml", SAME_IN_OURS), Width::Fixed(1)).unwrap();
    assert_eq!(theirs.name, "wf");
    assert_eq!(edges(&theirs), edges(&ours));
    let strip = |w: &Workflow| {
        w.nodes
            .iter()
            .map(|n| (n.name.clone(), n.work.clone(), n.routing.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&theirs), strip(&ours));
    let split = theirs.node("split").unwrap();
    assert_eq!(
        theirs.nodes[split].routing,
        Routing::Foreach(Width::Fixed(5))
    );
    // The consumer's input size (8) wins over the producer's output size (800000000).
    let t = theirs.node("transcode").unwrap();
    let e = theirs
        .edges
        .iter()
        .find(|e| e.from == split && e.to == t)
        .unwrap();
    assert_eq!(e.size, SizeDistribution::Fixed(8));
    // The switch is equally likely without probabilities.
    let route = theirs.node("route").unwrap();
    assert_eq!(theirs.nodes[route].routing, Routing::Switch(vec![0.5, 0.5]));
}

#[test]
fn malformed_workflows_are_refused_naming_the_node_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |name: &str, text: &str, line: usize, why: &str| {
        let path = write(dir.path(), name, text);
        let e = read(&path, Width::Fixed(1)).unwrap_err().to_string();
        assert!(e.contains(name), "{name}: {e}");
        assert!(e.contains(&format!("line {line}:")), "{name}: {e}");
        assert!(e.contains(why), "{name}: {e}");
    };
    // A cycle behind the entry: refused at one of its nodes (B, line 5, or C, line 8).
    let e = read(
        &write(
            dir.path(),
            "cycle.yaml",
            "nodes:\n  - name: A\n    function: {duration_ms: 1}\n    next: {to: [{node: B, size: 1}]}\n  - name: B\n    function: {duration_ms: 1}\n    next: {to: [{node: C, size: 1}]}\n  - name: C\n    function: {duration_ms: 1}\n    next: {to: [{node: B, size: 1}]}\n",
        ),
        Width::Fixed(1),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cycle.yaml, line 5: node `B` is on a cycle")
            || e.contains("cycle.yaml, line 8: node `C` is on a cycle"),
        "{e}"
    );
    refused(
        "loop.yaml",
        "nodes:\n  - name: A\n    function: {duration_ms: 1}\n    next: {to: [{node: A, size: 1}]}\n",
        2,
        "cycle",
    );
    refused(
        "dangling.yaml",
        "nodes:\n  - name: A\n    function: {duration_ms: 1}\n    next:\n      to:\n        - {node: B, size: 1}\n        - {node: Z, size: 1}\n  - name: B\n    function: {duration_ms: 1}\n",
        7,
        "leads to `Z`, which is not a node",
    );
    refused(
        "unknown.yaml",
        "nodes:\n  - name: A\n    function: {proxy: p}\n    next: {to: [{node: B, size: 1}]}\n  - name: B\n    function: {duration_ms: 1}\n    reads: [{node: X, size: 1}]\n",
        7,
        "reads from `X`, which is not a node",
    );
    refused(
        "nosize.yaml",
        "nodes:\n  - name: A\n    function: {duration_ms: 1}\n    next:\n      to:\n        - {node: B}\n  - name: B\n    function: {duration_ms: 1}\n",
        6,
        "has no `size`",
    );
    refused(
        "join.yaml",
        "nodes:\n  - name: S\n    virtual: true\n    next: {type: switch, to: [{node: B, size: 1, probability: 0.3}, {node: C, size: 1, probability: 0.7}]}\n  - name: B\n    function: {duration_ms: 1}\n    next: {to: [{node: D, size: 1}]}\n  - name: C\n    function: {duration_ms: 1}\n    next: {to: [{node: D, size: 1}]}\n  - name: D\n    function: {duration_ms: 1}\n",
        11,
        "waits for two branches of switch `S`",
    );
    refused(
        "nofunction.yaml",
        "nodes:\n  - name: A\n    next: {to: []}\n",
        2,
        "no `function`",
    );
    refused(
        "typo.yaml",
        "nodes:\n  - name: A\n    functoin: {duration_ms: 1}\n",
        3,
        "unknown field `functoin`",
    );
    // FaaSFlow's: a dangling `nodes` entry and an input whose size is nowhere.
    refused(
        "flat_dangling.yaml",
        "functions:\n- name: a\n  source: a\n  runtime: 1\n  next:\n    type: pass\n    nodes:\n      - b\n",
        8,
        "leads to `b`, which is not a node",
    );
    refused(
        "flat_nosize.yaml",
        "functions:\n- name: a\n  source: a\n  runtime: 1\n  output:\n    x:\n      type: normal\n  next:\n    type: pass\n    nodes:\n      - b\n- name: b\n  source: b\n  runtime: 1\n  input:\n    x:\n      type: pass\n      value:\n        function: a\n        parameter: x\n",
        19,
        "has no size, nor has that output",
    );
}

#[test]
fn widths_are_fixed_or_drawn() {
    assert_eq!("5".parse::<Width>(), Ok(Width::Fixed(5)));
    assert_eq!(
        "uniform:2:8".parse::<Width>(),
        Ok(Width::Uniform { min: 2, max: 8 })
    );
    assert!("0".parse::<Width>().is_err());
    assert!("uniform:9:2"
        .parse::<Width>()
        .unwrap_err()
        .contains("above"));
}
