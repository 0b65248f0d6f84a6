//! The worker's side of the transfers: a shard whose bytes do not match their hash is refused (and not
//! left on disk), one that matches is kept; the clock exchange gives the coordinator's offset.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use invoker::worker::Coordinator;

/// A one-answer-fits-all HTTP server on loopback: every request gets `body` with `hash` in the hash
/// header. Returns its address and how many requests it served.
fn serve(body: &'static str, hash: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            count.fetch_add(1, Ordering::SeqCst);
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-content-sha256: {hash}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (format!("http://{addr}"), served)
}

const SHA_OF_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[test]
fn a_corrupted_shard_is_refused_and_a_whole_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("load-0.json");

    let (url, served) = serve("abd", SHA_OF_ABC);
    let e = Coordinator::new(&url, "t")
        .unwrap()
        .fetch("/v1/shards/0", &dest)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("content hash mismatch") && e.contains("3 attempts"),
        "{e}"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        3,
        "tried again before giving up"
    );
    assert!(!dest.exists(), "a corrupted shard is not left behind");

    let (url, _) = serve("abc", SHA_OF_ABC);
    let bytes = Coordinator::new(&url, "t")
        .unwrap()
        .fetch("/v1/shards/0", &dest)
        .unwrap();
    assert_eq!(bytes, 3);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "abc");
}

#[test]
fn a_coordinator_address_must_be_http() {
    let e = Coordinator::new("127.0.0.1:80", "t")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("http://"), "{e}");
}
