//! The coordinator's HTTP server, from a worker's side: uploads checked against their hash, and the files
//! the workers' flags name served with theirs.

use std::time::Duration;

#[test]
fn a_corrupted_upload_is_refused_and_a_whole_one_kept() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("load-0.json");
    std::fs::write(&shard, "[]").unwrap();
    let shards = coordinator::serve::describe_shards(&[shard]).unwrap();
    let (tx, events) = std::sync::mpsc::channel();
    let results = dir.path().join("workers");
    let server = coordinator::serve::start(
        "127.0.0.1:0".parse().unwrap(),
        (shards, Vec::new()),
        &results,
        tx,
        None,
    )
    .unwrap();
    let put = |body: &str, hash: &str| {
        let mut c = std::net::TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            c,
            "PUT /v1/results/0/summary.json HTTP/1.1\r\nhost: x\r\nx-content-sha256: {hash}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        answer
    };
    let sha_of_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    // Bytes changed on the way: "abd" sent under the hash of "abc".
    let answer = put("abd", sha_of_abc);
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(answer.contains("mismatch"), "{answer}");
    let path = results.join("0/summary.json");
    assert!(!path.exists() && !formats::output::partial_path(&path).exists());
    let event = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(
            event,
            coordinator::serve::Event::Corrupted(0, "summary.json", _)
        ),
        "{event:?}"
    );
    let answer = put("abc", sha_of_abc);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc");
    let answer = put("abc", "");
    assert!(
        answer.starts_with("HTTP/1.1 422"),
        "an empty hash matches nothing: {answer}"
    );
}

#[test]
fn the_files_the_workers_flags_name_are_served_with_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("load-0.json");
    std::fs::write(&shard, "[]").unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "abc").unwrap();
    let shards = coordinator::serve::describe_shards(&[shard]).unwrap();
    let ca_served = coordinator::serve::describe_shards(&[ca])
        .unwrap()
        .remove(0);
    let (tx, _events) = std::sync::mpsc::channel();
    let server = coordinator::serve::start(
        "127.0.0.1:0".parse().unwrap(),
        (shards, vec![("ca-cert", ca_served)]),
        &dir.path().join("workers"),
        tx,
        None,
    )
    .unwrap();
    // A worker fetches the file to its own directory (its hash checked), whatever path the flag gave.
    let worker = invoker::worker::Coordinator::new(&format!("http://{}", server.addr)).unwrap();
    let local = dir.path().join("fetched.pem");
    let path = formats::transfer::worker_file_path("ca-cert");
    assert_eq!(worker.fetch(&path, &local).unwrap(), 3);
    assert_eq!(std::fs::read_to_string(&local).unwrap(), "abc");
    // A flag the workers were not given is not there.
    let missing = worker.fetch(
        &formats::transfer::worker_file_path("endpoint-requests"),
        &dir.path().join("none.json"),
    );
    let e = missing.unwrap_err().to_string();
    assert!(e.contains("no --endpoint-requests"), "{e}");
}
