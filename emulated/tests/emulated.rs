//! The emulated function server does what its profile says: busy time and memory per request.

use std::time::{Duration, Instant};

use emulated::{Behaviour, LocalServer};
use profiles::Catalogue;
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;

fn call(server: &LocalServer, n: usize) -> Vec<(Duration, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = GreeterClient::connect(format!("http://{}", server.endpoint()))
            .await
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let started = Instant::now();
            let reply = client
                .say_hello(HelloRequest {
                    name: "test".into(),
                    v_hive_metadata: vec![],
                })
                .await
                .unwrap();
            out.push((started.elapsed(), reply.into_inner().message));
        }
        out
    })
}

/// `busy N us, touched M MiB` from a reply.
fn parse(message: &str) -> (u64, u64) {
    let busy = message
        .split("busy ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let mib = message
        .split("touched ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    (busy.parse().unwrap(), mib.parse().unwrap())
}

#[test]
fn fixed_behaviour_spins_and_touches_as_told() {
    let server = LocalServer::start(Behaviour::fixed("fixed", 30.0, 8.0), 1).unwrap();
    for (elapsed, message) in call(&server, 3) {
        assert!(message.starts_with("fixed: "), "{message}");
        let (busy_us, mib) = parse(&message);
        assert!(busy_us >= 30_000, "{message}");
        assert_eq!(mib, 8);
        // Spins its 30 ms, and no more than a loaded machine's scheduling adds.
        assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1030), "{elapsed:?}");
    }
}

#[test]
fn proxy_behaviour_samples_inside_its_profile() {
    let catalogue = Catalogue::builtin();
    let proxy = catalogue.get("emu-9p9ms-16mi").unwrap();
    let server = LocalServer::start(Behaviour::of_proxy(proxy), 1).unwrap();
    let replies = call(&server, 20);
    let busy: Vec<u64> = replies.iter().map(|(_, m)| parse(m).0).collect();
    // Durations are drawn between the profile's p0 (0.8 × 9.9 ms) and p100 (1.5 × 9.9 ms).
    assert!(busy.iter().all(|&b| b >= 7_920), "{busy:?}");
    assert!(
        busy.iter().any(|&b| b != busy[0]),
        "sampled, not constant: {busy:?}"
    );
    for (_, m) in &replies {
        let (_, mib) = parse(m);
        assert!((14..=18).contains(&mib), "{m}");
    }
}

#[test]
fn zero_work_answers_at_once() {
    let server = LocalServer::start(Behaviour::fixed("noop", 0.0, 0.0), 1).unwrap();
    let replies = call(&server, 50);
    assert!(replies
        .iter()
        .all(|(_, m)| m == "noop: busy 0 us, touched 0 MiB"));
    // At once: each answer is a loopback round trip (well under a millisecond). The bounds are loose for
    // a shared machine, yet a server that spun even 100 ms per call would break the total.
    let total: Duration = replies.iter().map(|(elapsed, _)| *elapsed).sum();
    assert!(total < Duration::from_secs(5), "{total:?}");
    let slowest = replies.iter().map(|(e, _)| *e).max().unwrap();
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
}
