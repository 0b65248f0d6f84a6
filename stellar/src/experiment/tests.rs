//! The experiment file read as STeLLAR reads it, and refused where it cannot run.

use super::*;
use crate::rounds::{plan_rounds, replay_plan, Gaps};

/// A file in STeLLAR's own shape: three sub-experiments (deterministic and stochastic IAT, a payload,
/// Parallelism 2, two service times), with cloud fields we do not use.
pub(crate) const THREE: &str = r#"{
  "Sequential": true,
  "Provider": "gcr",
  "Runtime": "go1.x",
  "SubExperiments": [
    {"Title": "warm", "Function": "hellogo", "PackageType": "Zip", "Bursts": 6, "BurstSizes": [2, 3],
     "IATSeconds": 0.2, "IATType": "deterministic", "DesiredServiceTimes": ["0ms", "20ms"], "Parallelism": 2},
    {"Title": "cold", "Bursts": 3, "BurstSizes": [1], "IATSeconds": 1.3, "DesiredServiceTimes": ["1.5ms"]},
    {"Title": "payload", "Bursts": 2, "BurstSizes": [4], "IATSeconds": 0.1, "IATType": "deterministic",
     "PayloadLengthBytes": 4096, "FunctionMemoryMB": 256, "GatewaysNumber": 1}
  ]
}"#;

fn parse(text: &str) -> Result<Experiment, String> {
    Experiment::parse(Path::new("exp.json"), text).map_err(|e| e.to_string())
}

#[test]
fn stellar_files_are_read_with_stellars_defaults() {
    let e = parse(THREE).unwrap();
    assert!(e.sequential);
    assert_eq!(e.provider, "gcr");
    let [warm, cold, payload] = &e.sub_experiments[..] else {
        panic!("three sub-experiments")
    };
    assert_eq!((warm.bursts, warm.parallelism), (6, 2));
    assert_eq!(warm.burst_sizes, vec![2, 3]);
    assert_eq!(
        warm.service_times,
        vec![Duration::ZERO, Duration::from_millis(20)]
    );
    assert_eq!(warm.iat_type, IatType::Deterministic);
    // STeLLAR's defaults: stochastic, Parallelism 1, 128 MB.
    assert_eq!(
        (cold.iat_type, cold.parallelism, cold.memory_mb),
        (IatType::Stochastic, 1, 128)
    );
    assert_eq!(cold.service_times, vec![Duration::from_micros(1500)]);
    assert_eq!((payload.payload_bytes, payload.memory_mb), (4096, 256));
    assert_eq!(
        e.not_applicable,
        [
            "Runtime",
            "SubExperiments[0].Function",
            "SubExperiments[0].PackageType",
            "SubExperiments[2].GatewaysNumber"
        ]
    );
    assert!(is_stellar_experiment(THREE));
    assert!(!is_stellar_experiment("{\"run\": 1}"));
}

#[test]
fn what_cannot_run_is_refused_with_its_json_path_and_value() {
    let sub = |fields: &str| format!(r#"{{"SubExperiments": [{{"Bursts": 1, {fields}}}]}}"#);
    for (text, path, why) in [
        (
            sub(r#""IATSeconds": 5, "Colour": "red""#),
            "SubExperiments[0]",
            "unknown field `Colour`",
        ),
        (
            sub(r#""IATSeconds": 5, "BurstSizes": []"#),
            "SubExperiments[0].BurstSizes",
            "is empty",
        ),
        (
            sub(r#""IATSeconds": -2, "IATType": "deterministic""#),
            "SubExperiments[0].IATSeconds",
            "`-2`",
        ),
        (
            sub(r#""IATSeconds": 0.5"#),
            "SubExperiments[0].IATSeconds",
            "ln IAT ≤ 0",
        ),
        (
            sub(r#""IATSeconds": 5, "IATType": "step""#),
            "SubExperiments[0].IATType",
            "`step`",
        ),
        (
            sub(r#""IATSeconds": 5, "DesiredServiceTimes": ["5 sec"]"#),
            "DesiredServiceTimes",
            "`5 sec`",
        ),
        (
            sub(r#""IATSeconds": 5, "DataTransferChainLength": 101"#),
            "DataTransferChainLength",
            "`101`",
        ),
        (
            sub(r#""IATSeconds": 5, "StorageTransfer": true"#),
            "StorageTransfer",
            "DataTransferChainLength of 2 or more",
        ),
        (
            sub(r#""IATSeconds": 5, "BurstSizes": "big""#),
            "SubExperiments[0].BurstSizes",
            "invalid type",
        ),
        (
            r#"{"SubExperiments": []}"#.into(),
            "SubExperiments",
            "is empty",
        ),
        (
            r#"{"Sequential": true}"#.into(),
            "(top)",
            "missing field `SubExperiments`",
        ),
    ] {
        let e = parse(&text).unwrap_err();
        assert!(
            e.starts_with("exp.json: ") && e.contains(path) && e.contains(why),
            "{text}\n{e}"
        );
    }
}

#[test]
fn go_durations() {
    for (text, us) in [
        ("0ms", 0),
        ("0", 0),
        ("150ms", 150_000),
        ("1.5s", 1_500_000),
        ("1m30s", 90_000_000),
        ("250us", 250),
        ("2µs", 2),
    ] {
        assert_eq!(go_duration(text), Ok(Duration::from_micros(us)), "{text}");
    }
    for bad in ["", "5", "5 s", "ms", "1.2.3s", "-1s"] {
        assert!(go_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn rounds_send_every_burst_to_each_gateway_in_turn_after_a_sleep() {
    let e = parse(THREE).unwrap();
    let warm = &e.sub_experiments[0];
    let rounds = plan_rounds(warm, 2, 7);
    // 6 bursts over 2 gateways: 3 rounds, sizes cycling [2, 3], service times [0, 20 ms, 20 ms].
    assert_eq!(rounds.len(), 3);
    let sizes: Vec<Vec<u32>> = rounds
        .iter()
        .map(|r| r.bursts.iter().map(|b| b.size).collect())
        .collect();
    assert_eq!(sizes, [vec![2, 2], vec![3, 3], vec![2, 2]]);
    let times: Vec<Duration> = rounds.iter().map(|r| r.bursts[0].service_time).collect();
    assert_eq!(
        times,
        [
            Duration::ZERO,
            Duration::from_millis(20),
            Duration::from_millis(20)
        ]
    );
    let ids: Vec<u64> = rounds
        .iter()
        .flat_map(|r| r.bursts.iter().map(|b| b.id))
        .collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    // Deterministic: every sleep is the IAT, fractions kept; the first round sleeps too.
    assert!(rounds
        .iter()
        .all(|r| r.sleep_before == Duration::from_millis(200)));
    assert_eq!(rounds[2].at, Duration::from_millis(600));
    // An odd count leaves the last round short.
    let five = SubExperiment {
        bursts: 5,
        ..warm.clone()
    };
    assert_eq!(plan_rounds(&five, 2, 7).last().unwrap().bursts.len(), 1);

    let plan = replay_plan(
        &rounds,
        &["http://h:1/".into(), "http://h:2/f?k=v".into()],
        100,
        50.0,
    );
    assert_eq!(plan.schedule.calls.len(), 14);
    assert_eq!(plan.rounds[1].bursts, vec![4..7, 7..10]);
    assert_eq!(plan.burst_of_call[4..7], [2, 2, 2]);
    // Each gateway × service time is one endpoint, STeLLAR's query on it.
    assert_eq!(plan.schedule.endpoints.len(), 4);
    assert_eq!(
        plan.schedule.endpoints[0],
        "http://h:1/?IncrementLimit=0&PayloadLengthBytes=100&DataTransferChainIDs=[]"
    );
    assert!(plan.schedule.endpoints.contains(
        &"http://h:2/f?k=v&IncrementLimit=1000000&PayloadLengthBytes=100&DataTransferChainIDs=[]"
            .into()
    ));
    for e in &plan.schedule.endpoints {
        invoker::target::Target::parse(e, 80).unwrap();
    }
}

/// Kolmogorov–Smirnov: the stochastic gaps minus the IAT follow Exp(mean ln IAT).
#[test]
fn stochastic_gaps_follow_stellars_shifted_exponential() {
    let e = parse(THREE).unwrap();
    let cold = SubExperiment {
        bursts: 4000,
        ..e.sub_experiments[1].clone()
    };
    let rounds = plan_rounds(&cold, 1, 11);
    let iat = cold.iat_seconds;
    let mean = iat.ln();
    let mut excess: Vec<f64> = rounds
        .iter()
        .map(|r| r.sleep_before.as_secs_f64() - iat)
        .collect();
    assert!(
        excess.iter().all(|x| *x >= -1e-9),
        "every gap is at least the IAT"
    );
    excess.sort_by(f64::total_cmp);
    let n = excess.len() as f64;
    let d = excess
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let cdf = 1.0 - (-x / mean).exp();
            (cdf - i as f64 / n)
                .abs()
                .max(((i + 1) as f64 / n - cdf).abs())
        })
        .fold(0.0, f64::max);
    // The 1 % critical value is 1.63/√n (0.026 here); a uniform or unshifted draw is far above it.
    assert!(d < 1.63 / n.sqrt(), "KS distance {d}");
    // The same seed, the same gaps.
    let mut a = Gaps::new(&cold, 3);
    let mut b = Gaps::new(&cold, 3);
    assert_eq!(a.next_seconds(), b.next_seconds());
}
