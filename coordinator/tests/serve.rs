//! The coordinator's HTTP server, from a worker's side: uploads checked against their hash, the files
//! the workers' flags name served with theirs, and nothing served to, or taken from, a request without
//! the run's token.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use coordinator::serve::{Event, ServedShard, Server};

const TOKEN: &str = "0123456789abcdef";

/// One raw HTTP/1.1 request to `addr` (`authorization`: the whole header line, if any); the answer.
fn request(
    addr: std::net::SocketAddr,
    method_path: &str,
    headers: &str,
    authorization: Option<&str>,
    body: &str,
) -> String {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let authorization = authorization.map_or(String::new(), |a| format!("authorization: {a}\r\n"));
    write!(
        c,
        "{method_path} HTTP/1.1\r\nhost: x\r\n{headers}{authorization}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer
}

/// A server for one worker in `dir`, its shard holding `shard_text`, also serving `flag_files` and
/// taking live reports into `live`; its events. Results go to `dir/workers`.
fn serve(
    dir: &Path,
    shard_text: &str,
    flag_files: Vec<(&'static str, ServedShard)>,
    live: Option<Arc<coordinator::live::WorkersLive>>,
) -> (Server, Receiver<Event>) {
    let shard = dir.join("load-0.json");
    std::fs::write(&shard, shard_text).unwrap();
    let shards = coordinator::serve::describe_shards(&[shard]).unwrap();
    let (tx, events) = std::sync::mpsc::channel();
    let server = coordinator::serve::start(
        "127.0.0.1:0".parse().unwrap(),
        (shards, flag_files),
        &dir.join("workers"),
        tx,
        live,
        (TOKEN, None),
    )
    .unwrap();
    (server, events)
}

#[test]
fn a_corrupted_upload_is_refused_and_a_whole_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (server, events) = serve(dir.path(), "[]", Vec::new(), None);
    let results = dir.path().join("workers");
    let put = |body: &str, hash: &str| {
        request(
            server.addr,
            "PUT /v1/results/0/summary.json",
            &format!("x-content-sha256: {hash}\r\n"),
            Some(&format!("Bearer {TOKEN}")),
            body,
        )
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
            &event,
            coordinator::serve::Event::Corrupted(0, name, _) if name == "summary.json"
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
fn records_chunks_are_kept_by_number_and_no_other_name_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (server, events) = serve(dir.path(), "[]", Vec::new(), None);
    let bearer = format!("Bearer {TOKEN}");
    let sha_of_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let put = |path: &str| {
        request(
            server.addr,
            &format!("PUT {path}"),
            &format!("x-content-sha256: {sha_of_abc}\r\n"),
            Some(&bearer),
            "abc",
        )
    };
    let answer = put("/v1/records/0/records-000002.csv.zst");
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let kept = dir.path().join("workers/0/records-000002.csv.zst");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "abc");
    let event = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(event, coordinator::serve::Event::Chunk(0, 2, kept));
    for refused in [
        "/v1/records/0/records.csv",
        "/v1/records/0/summary.json",
        "/v1/records/0/records-00000x.csv",
        "/v1/results/0/records.csv",
        "/v1/records/1/records-000000.csv",
    ] {
        let answer = put(refused);
        assert!(answer.starts_with("HTTP/1.1 404"), "{refused}: {answer}");
    }
    assert!(events.try_recv().is_err(), "a refused file made an event");
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("workers/0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["records-000002.csv.zst"]);
}

#[test]
fn the_files_the_workers_flags_name_are_served_with_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "abc").unwrap();
    let ca_served = coordinator::serve::describe_shards(&[ca])
        .unwrap()
        .remove(0);
    let (server, _events) = serve(dir.path(), "[]", vec![("ca-cert", ca_served)], None);
    // A worker fetches the file to its own directory (its hash checked), whatever path the flag gave.
    let worker =
        invoker::worker::Coordinator::new(&format!("http://{}", server.addr), TOKEN).unwrap();
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

#[test]
fn without_the_runs_token_nothing_is_served_and_nothing_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("workers");
    let endpoints = vec!["e".to_owned()];
    let observer = Arc::new(invoker::observe::Observer::new(&endpoints, &[10]));
    let live = Arc::new(coordinator::live::WorkersLive::new(
        Arc::clone(&observer),
        1,
    ));
    let (server, events) = serve(
        dir.path(),
        r#"[{"endpoint":"http://10.0.0.1/secret","calls":[1]}]"#,
        Vec::new(),
        Some(live),
    );
    let summary = r#"{"planted":true}"#;
    let mut hashed = formats::transfer::Sha256Writer::new(Vec::new());
    hashed.write_all(summary.as_bytes()).unwrap();
    let (_, hash) = hashed.finish();
    let live_report = r#"{"seq":0,"due":5,"sent":5,"endpoints":["e"],"calls":[[0,"ok",10,100]]}"#;
    let attempts = [
        ("GET /v1/shards/0", String::new(), ""),
        ("GET /v1/clock", String::new(), ""),
        (
            "PUT /v1/results/0/summary.json",
            format!("x-content-sha256: {hash}\r\n"),
            summary,
        ),
        ("PUT /v1/failed/0", String::new(), "a false verdict"),
        (
            "PUT /v1/records/0/records-000000.csv",
            format!("x-content-sha256: {hash}\r\n"),
            summary,
        ),
        (
            "PUT /v1/live/0",
            "content-type: application/json\r\n".to_owned(),
            live_report,
        ),
    ];
    let wrong = [
        None,
        Some("Bearer 0123456789abcdee".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_owned()),
    ];
    for authorization in &wrong {
        for (method_path, headers, body) in &attempts {
            let answer = request(
                server.addr,
                method_path,
                headers,
                authorization.as_deref(),
                body,
            );
            assert!(
                answer.starts_with("HTTP/1.1 401"),
                "{method_path} with {authorization:?}: {answer}"
            );
            assert!(!answer.contains("10.0.0.1"), "{answer}");
        }
    }
    // Nothing was kept, reported or counted.
    assert!(!results.join("0").exists(), "no result file was written");
    assert!(
        events.try_recv().is_err(),
        "no event reached the coordinator"
    );
    assert_eq!(observer.counts(), (0, 0), "no live report was applied");

    // The same requests with the token go through: the refusals above were the token's doing.
    let bearer = Some(format!("Bearer {TOKEN}"));
    let answer = request(server.addr, "GET /v1/shards/0", "", bearer.as_deref(), "");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("10.0.0.1"),
        "{answer}"
    );
    let (method_path, headers, body) = &attempts[5];
    let answer = request(server.addr, method_path, headers, bearer.as_deref(), body);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(observer.counts(), (5, 5));
    let (method_path, headers, body) = &attempts[3];
    let answer = request(server.addr, method_path, headers, bearer.as_deref(), body);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let mut seen = Vec::new();
    while let Ok(event) = events.recv_timeout(Duration::from_secs(5)) {
        seen.push(event);
        if matches!(seen.last(), Some(coordinator::serve::Event::Failed(..))) {
            break;
        }
    }
    assert!(
        seen.contains(&coordinator::serve::Event::Failed(
            0,
            "a false verdict".into()
        )),
        "{seen:?}"
    );
}

#[test]
fn a_worker_without_the_token_is_refused_and_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _events) = serve(dir.path(), "[]", Vec::new(), None);
    let worker =
        invoker::worker::Coordinator::new(&format!("http://{}", server.addr), "not-the-token")
            .unwrap();
    let e = worker
        .fetch("/v1/shards/0", &dir.path().join("fetched.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("token"), "{e}");
}

#[test]
fn a_workers_chunks_reach_the_coordinator_and_unsent_ones_stay_with_the_worker() {
    use invoker::options::RecordsChunk;
    use invoker::upload::ChunkUploader;
    let dir = tempfile::tempdir().unwrap();
    let (server, events) = serve(dir.path(), "[]", Vec::new(), None);
    let base = format!("http://{}", server.addr);
    let kept = dir.path().join("worker-records");
    std::fs::create_dir_all(&kept).unwrap();
    let chunk = |c: u64| {
        let path = kept.join(formats::transfer::chunk_name(
            c,
            formats::compressed::Compression::None,
        ));
        std::fs::write(&path, format!("chunk {c}")).unwrap();
        RecordsChunk {
            index: c,
            path,
            records: 10,
        }
    };
    let (ready, chunks) = std::sync::mpsc::channel();
    let uploader = ChunkUploader::start((&base, TOKEN), 0, chunks, None).unwrap();
    for c in 0..2 {
        ready.send(chunk(c)).unwrap();
    }
    // Both arrive while the "replay" goes on, each kept by number.
    for c in 0..2 {
        let event = events.recv_timeout(Duration::from_secs(10)).unwrap();
        let stored = dir.path().join(format!("workers/0/records-00000{c}.csv"));
        assert_eq!(
            event,
            coordinator::serve::Event::Chunk(0, c, stored.clone())
        );
        assert_eq!(
            std::fs::read_to_string(stored).unwrap(),
            format!("chunk {c}")
        );
    }
    // The coordinator goes away: the next chunks cannot be sent, and stay with the worker.
    drop(server);
    for c in 2..4 {
        ready.send(chunk(c)).unwrap();
    }
    drop(ready);
    let err = uploader.finish().unwrap_err().to_string();
    assert!(
        err.contains("records chunk 2 could not be sent") && err.contains("worker-records"),
        "{err}"
    );
    for c in 0..4 {
        assert!(kept.join(format!("records-00000{c}.csv")).exists());
    }
}

/// With `--coordinator-tls`, workers reach the coordinator over HTTPS trusting its certificates only:
/// the shard comes, a plain-HTTP request gets no answer, and a worker trusting another CA (or none) is
/// refused before anything is sent.
#[test]
fn over_tls_only_a_worker_trusting_the_coordinators_certificates_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = testkit::tls::certificates(&["127.0.0.1"]);
    let (cert, key) = (dir.path().join("chain.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certificates.server.clone() + &certificates.ca).unwrap();
    std::fs::write(&key, &certificates.server_key).unwrap();
    let tls = coordinator::tls::CoordinatorTls {
        cert: cert.clone(),
        key: key.clone(),
    }
    .load()
    .unwrap();
    let shard = dir.path().join("load-0.json");
    std::fs::write(&shard, "[]").unwrap();
    let shards = coordinator::serve::describe_shards(&[shard]).unwrap();
    let (tx, _events) = std::sync::mpsc::channel();
    let server = coordinator::serve::start(
        "127.0.0.1:0".parse().unwrap(),
        (shards, Vec::new()),
        &dir.path().join("workers"),
        tx,
        None,
        (TOKEN, Some(Arc::clone(&tls.config))),
    )
    .unwrap();
    let url = format!("https://{}", server.addr);
    let worker =
        invoker::worker::Coordinator::trusting(&url, TOKEN, Some(&tls.trusted_pem)).unwrap();
    let fetched = dir.path().join("fetched.json");
    assert_eq!(worker.fetch("/v1/shards/0", &fetched).unwrap(), 2);
    assert_eq!(std::fs::read_to_string(&fetched).unwrap(), "[]");

    // Plain HTTP on the same port: no HTTP answer comes back (the handshake fails and the connection
    // is closed).
    let mut plain = std::net::TcpStream::connect(server.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close the connection as soon as the first bytes fail its handshake, so the write
    // itself can fail (a broken pipe): either way, nothing may come back as HTTP.
    let _ = write!(
        plain,
        "GET /v1/shards/0 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // A worker trusting another CA: the handshake fails, naming the certificate.
    let other = testkit::tls::certificates(&["127.0.0.1"]);
    let stranger = invoker::worker::Coordinator::trusting(&url, TOKEN, Some(&other.ca)).unwrap();
    let e = stranger
        .fetch("/v1/shards/0", &dir.path().join("no.json"))
        .unwrap_err();
    let e = invoker::dispatch::error_chain(&e);
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    assert!(!dir.path().join("no.json").exists());
    // None at all: refused before dialling, naming where the certificates come from.
    let e = invoker::worker::Coordinator::trusting(&url, TOKEN, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("LOADGEN_COORDINATOR_CA"), "{e}");

    // A key that is not the certificate's is named at load time, before any worker is started.
    let stray = testkit::tls::certificates(&["127.0.0.1"]);
    std::fs::write(&key, &stray.server_key).unwrap();
    let e = coordinator::tls::CoordinatorTls { cert, key }
        .load()
        .err()
        .unwrap();
    assert!(
        format!("{e:#}").contains("do not make a certificate and its key"),
        "{e:#}"
    );
}

/// A streamed shard (`invoker --stream-shard`): its head as the coordinator reads it, and its calls, read
/// through the look-ahead from the HTTP stream, are the shard's as read from its file; a shard whose
/// bytes are not those hashed fails the reading at its end, naming both hashes.
#[test]
fn a_streamed_shard_reads_as_its_file_and_a_changed_one_is_refused() {
    use invoker::lookahead::{read_ahead_from, CallsFrom};
    use invoker::schedule::Schedule;
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[{"timestamp":[300,100],"endpoint":["a:1","b:1"]},{"timestamp":[100],"endpoint":["a:1"]},{"timestamp":[],"endpoint":[]}]"#;
    let (server, _events) = serve(dir.path(), text, Vec::new(), None);
    let coordinator =
        invoker::worker::Coordinator::trusting(&format!("http://{}", server.addr), TOKEN, None)
            .unwrap();
    let whole = Schedule::from_file(&dir.path().join("load-0.json"), 1_000_000, 1, 2).unwrap();
    let head = invoker::shard_stream::head(&coordinator, 0, 1_000_000, (1, 2)).unwrap();
    assert_eq!(head.calls_by_period, vec![2, 1, 0]);
    assert_eq!(head.schedule.endpoints, whole.endpoints);
    assert_eq!((head.calls, head.last_due_us), (3, 1_000_100));
    let read = |head: &invoker::schedule::LoadHead| {
        let stream = invoker::shard_stream::open(&coordinator, 0).unwrap();
        let (calls, reader) = read_ahead_from(head, &CallsFrom::Stream(stream), None).unwrap();
        let calls: Vec<_> = calls.collect();
        (calls, reader.join().unwrap())
    };
    let (calls, ended) = read(&head);
    ended.unwrap();
    assert_eq!(calls, whole.calls);
    // Changed after it was hashed (the same calls, one due time other): refused once read.
    std::fs::write(dir.path().join("load-0.json"), text.replace("300", "400")).unwrap();
    let (_, ended) = read(&head);
    let e = ended.unwrap_err().to_string();
    assert!(
        e.contains("content hash mismatch") && e.contains("/v1/shards/0"),
        "{e}"
    );
    // Without the token, neither the head nor the shard is given.
    let answer = request(
        server.addr,
        "GET /v1/shards/0/head/1000000/1/2",
        "",
        None,
        "",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
