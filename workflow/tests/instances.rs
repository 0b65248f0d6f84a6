//! Instances of workflows: what runs, how often, after what, with how many bytes; draws made with the seed.

use rand::SeedableRng;
use workflow::instance::expand;
use workflow::{read, Width};

fn workflow(text: &str) -> workflow::Workflow {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.yaml");
    std::fs::write(&path, text).unwrap();
    read(&path, Width::Fixed(1)).unwrap()
}

#[test]
fn a_diamond_calls_each_node_once_and_joins_after_both_branches() {
    let w = workflow(
        "nodes:
  - name: A
    function: {duration_ms: 1}
    next: {to: [{node: B, size: 1KB}, {node: C, size: 100KB}]}
  - name: B
    function: {duration_ms: 1}
    next: {to: [{node: D, size: 1MB}]}
  - name: C
    function: {duration_ms: 1}
    next: {to: [{node: D, size: 1MB}]}
  - name: D
    function: {duration_ms: 1}
",
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let i = expand(&w, &mut rng);
    let name = |c: usize| w.nodes[i.calls[c].node].name.as_str();
    let mut names: Vec<&str> = (0..i.calls.len()).map(name).collect();
    names.sort();
    assert_eq!(names, ["A", "B", "C", "D"]);
    let d = (0..4).find(|&c| name(c) == "D").unwrap();
    let mut after: Vec<(&str, u64)> = i.calls[d]
        .after
        .iter()
        .map(|&(c, b)| (name(c), b))
        .collect();
    after.sort();
    assert_eq!(after, [("B", 1_000_000), ("C", 1_000_000)]);
    let c = (0..4).find(|&c| name(c) == "C").unwrap();
    assert_eq!(
        i.calls[c]
            .after
            .iter()
            .map(|&(c, b)| (name(c), b))
            .collect::<Vec<_>>(),
        [("A", 100_000)]
    );
    // Every call comes after those it waits for.
    for (k, call) in i.calls.iter().enumerate() {
        assert!(call.after.iter().all(|&(c, _)| c < k));
    }
}

#[test]
fn switch_shares_and_foreach_widths_follow_their_draws() {
    let w = workflow(
        "nodes:
  - name: S
    virtual: true
    next: {type: switch, to: [{node: X, size: 8, probability: 0.3}, {node: F, size: 8, probability: 0.7}]}
  - name: X
    function: {duration_ms: 1}
  - name: F
    function: {duration_ms: 1}
    next: {type: foreach, width: 5, to: [{node: W, size: 1KiB}]}
  - name: W
    function: {duration_ms: 1}
    next: {to: [{node: M, size: 8}]}
  - name: M
    function: {duration_ms: 1}
",
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (n, p) = (1000u32, 0.3);
    let mut x_taken = 0u32;
    for _ in 0..n {
        let i = expand(&w, &mut rng);
        let count = |name: &str| {
            i.calls
                .iter()
                .filter(|c| w.nodes[c.node].name == name)
                .count()
        };
        if count("X") == 1 {
            x_taken += 1;
            assert_eq!((count("F"), count("W"), count("M")), (0, 0, 0));
        } else {
            assert_eq!(
                (count("X"), count("F"), count("W"), count("M")),
                (0, 1, 5, 1)
            );
            let m = i
                .calls
                .iter()
                .find(|c| w.nodes[c.node].name == "M")
                .unwrap();
            assert_eq!(m.after.len(), 5, "M waits for every copy of W");
            let keys: Vec<u32> = i
                .calls
                .iter()
                .filter(|c| w.nodes[c.node].name == "W")
                .map(|c| c.key)
                .collect();
            assert_eq!(keys, [0, 1, 2, 3, 4]);
        }
    }
    // Binomial(1000, 0.3): mean 300, σ ≈ 14.5; 5 σ either side.
    let sigma = (f64::from(n) * p * (1.0 - p)).sqrt();
    let mean = f64::from(n) * p;
    assert!(
        (f64::from(x_taken) - mean).abs() < 5.0 * sigma,
        "{x_taken} of {n} took X"
    );
    // The same seed draws the same instances.
    let a = expand(&w, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    let b = expand(&w, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    assert_eq!(a, b);
}

#[test]
fn steps_leave_routing_nodes_out_and_name_foreach_copies_by_key() {
    let w = workflow(
        "nodes:
  - name: A
    function: {duration_ms: 1}
    next: {to: [{node: R, size: 10}]}
  - name: R
    virtual: true
    next: {type: foreach, width: 3, to: [{node: M, size: 100}]}
  - name: M
    function: {duration_ms: 1}
    next: {to: [{node: Z, size: 1000}]}
  - name: Z
    function: {duration_ms: 1}
",
    );
    let names = workflow::instance::CallNames::new(&w);
    assert_eq!(names.names, ["A", "R", "M[0]", "M[1]", "M[2]", "Z"]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let steps = expand(&w, &mut rng).steps(&w, &names);
    let shown: Vec<(&str, Vec<u32>, u64)> = steps
        .iter()
        .map(|s| {
            (
                names.names[s.name as usize].as_str(),
                s.after.clone(),
                s.bytes,
            )
        })
        .collect();
    // R does no work: the copies of M wait for A directly, and Z for all three copies.
    assert_eq!(
        shown,
        [
            ("A", vec![], 0),
            ("M[0]", vec![0], 100),
            ("M[1]", vec![0], 100),
            ("M[2]", vec![0], 100),
            ("Z", vec![1, 2, 3], 3000),
        ]
    );
}
