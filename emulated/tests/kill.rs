//! Instances killed on purpose (a run's `kill-instances` fault): the calls they serve end with an error
//! at once, and later calls are served by the restarted server (simple model) or by new instances
//! (Knative's scaling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use autoscaler::{KpaSettings, Revision};
use emulated::{Behaviour, KillWhich, LocalServers, Scaling};
use formats::Percentiles;
use proto::function::{CallRequest, FunctionReport};
use proto::greeter_client::GreeterClient;
use proto::HelloRequest;

/// A call's report or error code, and when it ended.
type Outcome = (Result<FunctionReport, tonic::Code>, Duration);

/// Sends `n` calls of 1 s at once, kills `which` instances of "fn" once all are in flight, then one
/// more call; the outcomes of the first calls (with when each ended) and the last call's report.
fn kill_during_calls(
    servers: &LocalServers,
    n: usize,
    which: KillWhich,
) -> (Vec<Outcome>, usize, FunctionReport) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = format!("http://{}", servers.addrs[0]);
    runtime.block_on(async {
        let client = GreeterClient::connect(endpoint).await.unwrap();
        let call = |mut client: GreeterClient<tonic::transport::Channel>, ms: u64| async move {
            let asked = CallRequest {
                duration_us: Some(ms * 1000),
                ..CallRequest::default()
            };
            let reply = client
                .say_hello(HelloRequest {
                    name: String::new(),
                    v_hive_metadata: asked.to_metadata(),
                })
                .await;
            reply
                .map(|r| FunctionReport::parse(&r.into_inner().message).expect("a report"))
                .map_err(|s| s.code())
        };
        let started = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move {
                    let out = call(c, 1000).await;
                    (out, started.elapsed())
                })
            })
            .collect();
        // Every call in flight (the fleet's gauge says so), then the kill.
        let metrics = servers.metrics();
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.scale().in_flight < n as i64 {
            assert!(
                Instant::now() < deadline,
                "the calls never all arrived: {:?}",
                metrics.functions_scale()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed = servers.killer().kill_instances(Some("fn"), which).unwrap();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let after = call(client.clone(), 1)
            .await
            .expect("a call after the kill");
        (outcomes, killed, after)
    })
}

#[test]
fn a_killed_instance_ends_its_calls_and_the_server_restarts_cold() {
    let servers = LocalServers::start(vec![Behaviour::fixed("fn", 1.0, 1.0)], 2, None).unwrap();
    let (outcomes, killed, after) = kill_during_calls(&servers, 3, KillWhich::All);
    assert_eq!(killed, 1);
    for (outcome, ended) in &outcomes {
        assert_eq!(outcome.as_ref().err(), Some(&tonic::Code::Unavailable));
        // Ended by the kill, well before their 1 s.
        assert!(*ended < Duration::from_millis(900), "{ended:?}");
    }
    assert!(
        after.cold,
        "the restarted server's first call is cold: {after:?}"
    );
    assert!(servers
        .killer()
        .kill_instances(Some("nothing"), KillWhich::All)
        .is_err());
}

#[test]
fn killing_some_instances_leaves_the_others_serving_and_new_ones_come() {
    let mut behaviour = Behaviour::fixed("fn", 1.0, 1.0);
    // Four instances kept, one call each.
    let revision = Revision {
        settings: KpaSettings {
            min_scale: 4,
            target: Some(1.0),
            ..KpaSettings::default()
        },
        container_concurrency: 1,
    };
    behaviour.scaling = Some(Arc::new(Scaling::new(revision, Percentiles::constant(0.0))));
    let servers = LocalServers::start(vec![behaviour], 4, None).unwrap();
    // The autoscaler's first ticks make the four instances.
    let deadline = Instant::now() + Duration::from_secs(10);
    while servers.metrics().functions_scale()[0].1.ready < 4 {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            servers.metrics().functions_scale()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Four calls, one per instance (container concurrency 1): half the instances killed.
    let (outcomes, killed, after) = kill_during_calls(&servers, 4, KillWhich::Percent(50.0));
    assert_eq!(killed, 2);
    let failed = outcomes.iter().filter(|(o, _)| o.is_err()).count();
    assert_eq!(failed, 2, "{outcomes:?}");
    for (outcome, ended) in &outcomes {
        match outcome {
            Err(code) => {
                assert_eq!(*code, tonic::Code::Unavailable);
                assert!(*ended < Duration::from_millis(900), "{ended:?}");
            }
            Ok(report) => assert!(*ended >= Duration::from_millis(1000), "{report:?}"),
        }
    }
    // The function still serves: on an instance that survived or on one made since.
    assert_eq!(after.function, "fn");
}
