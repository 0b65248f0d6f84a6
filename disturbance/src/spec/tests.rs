//! The flag grammars, read and refused.

use super::*;

#[test]
fn an_interference_reads_as_written() {
    let i: Interference = "cpu:threads=1,load=100,start=2,stop=4".parse().unwrap();
    assert_eq!(
        i.kind,
        InterferenceKind::Cpu {
            threads: 1,
            load: 100
        }
    );
    assert_eq!(
        (i.start_s, i.stop_s, i.place.clone()),
        (2.0, 4.0, Place::Local)
    );
    let n: Interference = "network:bitrate=1.5M,stop=3".parse().unwrap();
    assert_eq!(
        n.kind,
        InterferenceKind::Network {
            bitrate_bps: 1_500_000,
            to: None
        }
    );
    let c: Interference = "command:start=1,stop=2,run=echo a,b; sleep 9"
        .parse()
        .unwrap();
    assert_eq!(
        c.kind,
        InterferenceKind::Command {
            run: "echo a,b; sleep 9".into()
        }
    );
    let k: Interference = "memory:mib=64,stop=3,where=nodes:role=worker"
        .parse()
        .unwrap();
    assert_eq!(
        k.place,
        Place::Nodes(vec![("role".into(), "worker".into())])
    );
}

#[test]
fn bad_interference_is_refused_with_its_reason() {
    for (text, says) in [
        ("gpu:stop=3", "unknown interference kind `gpu`"),
        ("cpu:start=4,stop=2", "ends (stop = 2 s) before it starts"),
        (
            "network:bitrate=fast,stop=3",
            "bitrate `fast` cannot be parsed",
        ),
        ("cpu:load=150,stop=3", "`load` = `150`"),
        ("cpu:start=1", "needs `stop`"),
        ("memory:stop=1", "needs `mib`"),
        (
            "cpu:mib=3,stop=1",
            "`mib` is not a key of a cpu interference",
        ),
        ("cpu:stop=1,where=moon", "`where` = `moon`"),
    ] {
        let e = text.parse::<Interference>().unwrap_err().0;
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn faults_read_as_written() {
    let f: Fault = "3:kill-worker:worker=1".parse().unwrap();
    assert_eq!(
        (f.at_s, f.action),
        (3.0, FaultAction::KillWorker { worker: 1 })
    );
    let f: Fault = "2.5:kill-instances:function=a,percent=50".parse().unwrap();
    assert_eq!(
        f.action,
        FaultAction::KillInstances {
            function: Some("a".into()),
            share: Share::Percent(50.0)
        }
    );
    let f: Fault = "5:delete-pods:control_plane".parse().unwrap();
    let FaultAction::DeletePods { selections } = f.action else {
        panic!()
    };
    assert_eq!(selections.len(), 3);
    assert!(selections.iter().all(|s| s.namespace == "knative-serving"));
    let f: Fault = "1:command:run=ssh n1 sudo systemctl restart kubelet"
        .parse()
        .unwrap();
    assert_eq!(
        f.action,
        FaultAction::Command {
            run: "ssh n1 sudo systemctl restart kubelet".into()
        }
    );
    for (text, says) in [
        ("x:kill-worker:worker=1", "`at` = `x`"),
        ("1:reboot", "unknown fault action `reboot`"),
        ("1:pause-worker:worker=0", "pause-worker needs `seconds`"),
        ("1:delete-pods:preset=all", "unknown preset `all`"),
        ("1:delete-pods:namespace=a", "needs a preset"),
    ] {
        let e = text.parse::<Fault>().unwrap_err().0;
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn what_the_run_cannot_do_is_refused() {
    let offered = Offered {
        run_s: 6.0,
        local_fleet: false,
        local_workers: Some(2),
        kubernetes: false,
    };
    let late: Interference = "cpu:start=7,stop=8".parse().unwrap();
    assert!(check(&[late], &[], &offered)
        .unwrap_err()
        .0
        .contains("after the run"));
    let kill: Fault = "1:kill-instances:function=a".parse().unwrap();
    assert!(check(&[], &[kill], &offered)
        .unwrap_err()
        .0
        .contains("--deployer local"));
    let worker: Fault = "1:kill-worker:worker=2".parse().unwrap();
    assert!(check(&[], &[worker], &offered)
        .unwrap_err()
        .0
        .contains("does not exist"));
    let pods: Fault = "1:delete-pods:data_plane".parse().unwrap();
    assert!(check(&[], &[pods], &offered)
        .unwrap_err()
        .0
        .contains("needs Kubernetes"));
    let fine: Fault = "1:kill-worker:worker=1".parse().unwrap();
    check(&[], &[fine], &offered).unwrap();
}

#[test]
fn a_swept_key_replaces_its_value() {
    let t = with_key("cpu:threads=1,load=0,stop=4", "load", "50").unwrap();
    assert_eq!(t, "cpu:threads=1,load=50,stop=4");
    assert_eq!(key_of(&t, "load").as_deref(), Some("50"));
    let t = with_key("3:kill-instances:function=a", "percent", "20").unwrap();
    assert_eq!(t, "3:kill-instances:function=a,percent=20");
}
