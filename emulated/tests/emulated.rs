//! The emulated function does what its profile says, in wall time: computing its CPU share of each call
//! on a bounded number of threads and waiting the rest, so calls overlap; its reply says what it did.

use std::time::{Duration, Instant};

use emulated::{Behaviour, LocalServer};
use profiles::Catalogue;
use proto::function::{CallRequest, FunctionReport};
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;

/// `n` calls, all in flight at once (or one after another when `sequential`), each with `asked` in its
/// metadata; their latencies and reports, in the order sent.
fn calls(
    server: &LocalServer,
    n: usize,
    sequential: bool,
    asked: CallRequest,
) -> Vec<(Duration, FunctionReport)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = GreeterClient::connect(format!("http://{}", server.endpoint()))
            .await
            .unwrap();
        let one = move |mut client: GreeterClient<tonic::transport::Channel>| async move {
            let started = Instant::now();
            let reply = client
                .say_hello(HelloRequest {
                    name: "test".into(),
                    v_hive_metadata: asked.to_metadata(),
                })
                .await
                .unwrap();
            let report = FunctionReport::parse(&reply.into_inner().message).expect("a report");
            (started.elapsed(), report)
        };
        let mut out = Vec::new();
        if sequential {
            for _ in 0..n {
                out.push(one(client.clone()).await);
            }
        } else {
            let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(one(client.clone()))).collect();
            for t in tasks {
                out.push(t.await.unwrap());
            }
        }
        out
    })
}

fn with_share(mut b: Behaviour, share: f64) -> Behaviour {
    b.cpu_share = share;
    b
}

#[test]
fn waiting_holds_no_thread_so_calls_overlap() {
    // 50 calls in flight, 200 ms each, 0.2 % of it computing (0.4 ms), one thread: each takes its 200 ms.
    let b = with_share(Behaviour::fixed("io", 200.0, 0.0), 0.002);
    let server = LocalServer::start(b, 1).unwrap();
    let replies = calls(&server, 50, false, CallRequest::default());
    for (latency, report) in &replies {
        assert!(*latency >= Duration::from_millis(200), "{latency:?}");
        assert!(*latency <= Duration::from_millis(240), "{latency:?}");
        assert!(
            report.exec_us >= 200_000 && report.exec_us <= 240_000,
            "{report:?}"
        );
        assert_eq!((report.duration_us, report.cpu_us), (200_000, 400));
    }
}

#[test]
fn an_instance_holds_its_footprint_and_calls_touch_only_what_they_ask_beyond_it() {
    // The same 50 overlapping 200 ms calls, on a function of 16 MiB: the instance touches its 16 MiB
    // once, on its cold call, and no call touches it again. Were each call to touch it (~4 ms on the one
    // thread), the last would queue ~200 ms for it; 300 ms catches that, and leaves this test's calls
    // room for the tests beside it on a 2-CPU machine (their 20 ms of computation and the cold call's
    // touch, queued on one thread, came to 251 ms there once).
    let b = with_share(Behaviour::fixed("io", 200.0, 16.0), 0.002);
    let server = LocalServer::start(b, 1).unwrap();
    let replies = calls(&server, 50, false, CallRequest::default());
    for (latency, report) in &replies {
        assert!(*latency >= Duration::from_millis(200), "{latency:?}");
        assert!(*latency <= Duration::from_millis(300), "{latency:?}");
        assert_eq!(report.memory_mb, 16, "{report:?}");
    }
    assert_eq!(replies.iter().filter(|(_, r)| r.cold).count(), 1);
    // Held after the calls: the footprint, and nothing of theirs.
    assert_eq!(server.metrics().scale().memory_mb, 16);

    // A call asking for 40 MiB touches the 24 beyond the footprint, and gives them back.
    let asked = CallRequest {
        duration_us: Some(10_000),
        memory_mb: Some(40),
    };
    let (_, report) = &calls(&server, 1, true, asked)[0];
    assert_eq!((report.memory_mb, report.cold), (40, false));
    assert_eq!(server.metrics().scale().memory_mb, 16);
}

#[test]
fn an_instance_idle_past_its_keep_alive_gives_its_footprint_back() {
    let mut b = Behaviour::fixed("fn", 1.0, 8.0);
    b.keep_alive = Duration::from_millis(100);
    let server = LocalServer::start(b, 1).unwrap();
    calls(&server, 1, true, CallRequest::default());
    let metrics = server.metrics();
    assert_eq!(metrics.scale().memory_mb, 8);
    // Released by a timer just past the keep-alive: polled, within a bound that would catch a leak.
    let started = Instant::now();
    while metrics.scale().memory_mb != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still holding {} MiB",
            metrics.scale().memory_mb
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The next call is cold, on a new instance that touches its footprint again.
    let (_, report) = &calls(&server, 1, true, CallRequest::default())[0];
    assert!(report.cold);
    assert_eq!(metrics.scale().memory_mb, 8);
}

#[test]
fn computation_queues_for_the_busy_threads() {
    // All of each call computing, one thread: the calls run one after another, and it shows.
    let b = with_share(Behaviour::fixed("cpu", 100.0, 0.0), 1.0);
    let server = LocalServer::start(b, 1).unwrap();
    let replies = calls(&server, 8, false, CallRequest::default());
    let mut latencies: Vec<Duration> = replies.iter().map(|(l, _)| *l).collect();
    latencies.sort();
    assert!(latencies[0] >= Duration::from_millis(100), "{latencies:?}");
    // The last waited for the seven before it.
    assert!(latencies[7] >= Duration::from_millis(750), "{latencies:?}");
    let mut exec: Vec<u64> = replies.iter().map(|(_, r)| r.exec_us).collect();
    exec.sort();
    assert!(
        exec[7] >= 750_000,
        "the instance's own time counts its queue: {exec:?}"
    );
}

#[test]
fn the_report_names_the_instance_and_its_cold_calls() {
    let mut b = Behaviour::fixed("fn", 5.0, 2.0);
    b.keep_alive = Duration::from_millis(300);
    b.cold_start = Duration::from_millis(50);
    let server = LocalServer::start(b, 1).unwrap();
    let first = calls(&server, 3, true, CallRequest::default());
    let cold: Vec<bool> = first.iter().map(|(_, r)| r.cold).collect();
    assert_eq!(cold, [true, false, false]);
    let instance = &first[0].1.instance;
    assert!(first.iter().all(|(_, r)| &r.instance == instance));
    assert!(first
        .iter()
        .all(|(_, r)| r.function == "fn" && r.memory_mb == 2));
    // The cold call waited its cold start on top of its 5 ms.
    assert!(first[0].1.exec_us >= 55_000, "{:?}", first[0].1);
    assert!(first[1].1.exec_us < 50_000, "{:?}", first[1].1);
    // Idle longer than the keep-alive: the next call is cold again, on a new instance.
    std::thread::sleep(Duration::from_millis(500));
    let again = calls(&server, 2, true, CallRequest::default());
    assert!(again[0].1.cold && !again[1].1.cold, "{again:?}");
    assert_ne!(&again[0].1.instance, instance);
    assert_eq!(again[0].1.instance, again[1].1.instance);
}

#[test]
fn a_call_gets_the_duration_and_memory_it_asks_for() {
    let catalogue = Catalogue::builtin();
    let proxy = catalogue.get("emu-9p9ms-16mi").unwrap();
    let server = LocalServer::start(Behaviour::of_proxy(proxy), 1).unwrap();
    let asked = CallRequest {
        duration_us: Some(40_000),
        memory_mb: Some(3),
    };
    // 3 MiB fit in the instance's 16 MiB footprint: the call runs in it.
    for (latency, report) in calls(&server, 3, true, asked) {
        assert_eq!((report.duration_us, report.memory_mb), (40_000, 16));
        assert!(latency >= Duration::from_millis(40), "{latency:?}");
    }
}

#[test]
fn proxy_behaviour_samples_inside_its_profile() {
    let catalogue = Catalogue::builtin();
    let proxy = catalogue.get("emu-9p9ms-16mi").unwrap();
    let b = Behaviour::of_proxy(proxy);
    assert_eq!(
        b.cpu_share, 0.25,
        "the built-in proxies compute a quarter of their time"
    );
    let server = LocalServer::start(b, 1).unwrap();
    let replies = calls(&server, 20, true, CallRequest::default());
    let durations: Vec<u64> = replies.iter().map(|(_, r)| r.duration_us).collect();
    // Durations are drawn between the profile's p0 (0.8 × 9.9 ms) and p100 (1.5 × 9.9 ms).
    assert!(
        durations.iter().all(|&d| (7_920..=14_850).contains(&d)),
        "{durations:?}"
    );
    assert!(
        durations.iter().any(|&d| d != durations[0]),
        "sampled, not constant: {durations:?}"
    );
    for (latency, r) in &replies {
        assert!((14..=18).contains(&r.memory_mb), "{r:?}");
        assert!(
            *latency >= Duration::from_micros(r.duration_us),
            "{latency:?} {r:?}"
        );
        // A quarter of the duration, rounded to the µs (10,103 µs computes 2,526 µs, not 2,525).
        assert!(r.cpu_us.abs_diff(r.duration_us / 4) <= 1, "{r:?}");
    }
}

#[test]
fn zero_work_answers_at_once() {
    let server = LocalServer::start(Behaviour::fixed("noop", 0.0, 0.0), 1).unwrap();
    let replies = calls(&server, 50, true, CallRequest::default());
    assert!(replies
        .iter()
        .all(|(_, r)| r.duration_us == 0 && r.memory_mb == 0));
    // At once: each answer is a loopback round trip (well under a millisecond). The bounds are loose for
    // a shared machine, yet a server that spun even 100 ms per call would break the total.
    let total: Duration = replies.iter().map(|(elapsed, _)| *elapsed).sum();
    assert!(total < Duration::from_secs(5), "{total:?}");
}
