//! Issue 20: a Deployment of several replicas rolls one pod at a time. rook-sim's
//! Deployment controller rolls as Kubernetes' does (RollingUpdate within maxSurge and
//! maxUnavailable, Recreate deletes first), and the plugin's `--wait`, the fence's step
//! gate and the staged upgrade's pod gates call a Deployment done only when every replica
//! runs the new image Ready: on an RGW with `instances: 2` (Rook: one Deployment with 2
//! replicas, RollingUpdate maxUnavailable 1 maxSurge 0, FACTS §3), on the embedded sim and,
//! as far as pods that never run can show it, on the real control plane.
//!
//! Each plugin test stops the rollout midway with `Sim::hold_rollout` (the second new pod
//! stays Pending, unschedulable): the gate that called one new Ready pod done passed there;
//! these tests fail with it (checked by reverting `wait::Progress::done`).

mod common;

use std::time::Duration;

use common::control_plane::{ControlPlane, control_plane};
use common::*;
use rook_sim::kube::events::{PodEvent, PodEventKind};
use rook_sim::resources::{DEPLOYMENTS, PODS};
use rook_sim::{Crd, OperatorConfig, Sim, SimOptions, Topology};
use serde_json::Value;

const NS: &str = "rook-ceph";
const RGW: &str = "rook-ceph-rgw-my-store-a";
const IMG: &str = "quay.io/ceph/ceph:v20.2.6";

/// A cluster whose object store has 2 gateway instances; replaced pods take `ready_ms` to
/// turn Ready.
fn rgw_sim(crd: Crd, ready_ms: u64) -> Sim {
    Sim::start(SimOptions {
        topology: Topology { osds: 3, rgw_instances: 2, ..Default::default() },
        crd,
        operator: OperatorConfig {
            daemon_delay: Duration::ZERO,
            ready_delay: Duration::from_millis(ready_ms),
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("simulated cluster starts")
}

/// Polls `f` every 5 ms until it gives a value; fails after `secs` seconds naming `what`.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pods_of(sim: &Sim, deployment: &str) -> Vec<Value> {
    sim.list(&PODS, NS)
        .into_iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"][0]["name"]
                .as_str()
                .and_then(|rs| rs.rsplit_once('-'))
                .is_some_and(|(d, _)| d == deployment)
        })
        .collect()
}

fn ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn image(p: &Value) -> &str {
    p["spec"]["containers"][0]["image"].as_str().unwrap_or_default()
}

/// Every pod of the Deployment runs `img`, Running and Ready, and there are `n` of them.
fn rolled_out(sim: &Sim, deployment: &str, img: &str, n: usize) -> bool {
    let pods = pods_of(sim, deployment);
    pods.len() == n && pods.iter().all(|p| ready(p) && image(p) == img)
}

fn events_of(sim: &Sim, deployment: &str) -> Vec<PodEvent> {
    sim.pod_events(NS).into_iter().filter(|e| e.deployment == deployment).collect()
}

/// The events as "created new-1", "ready new-1", "deleted old-2"...: pods of `old_rs`
/// named old-N in the order `before` lists them, the others new-N in the order created.
fn story(events: &[PodEvent], before: &[String]) -> Vec<String> {
    let mut new: Vec<String> = Vec::new();
    events
        .iter()
        .map(|e| {
            let who = match before.iter().position(|p| *p == e.pod) {
                Some(i) => format!("old-{}", i + 1),
                None => {
                    if !new.contains(&e.pod) {
                        new.push(e.pod.clone());
                    }
                    format!("new-{}", new.iter().position(|p| *p == e.pod).unwrap() + 1)
                }
            };
            let what = match e.kind {
                PodEventKind::Created => "created",
                PodEventKind::Deleted => "deleted",
                PodEventKind::Ready => "ready",
            };
            format!("{what} {who}")
        })
        .collect()
}

/// Replays the events over the pods there were before (all Ready): the most pods there
/// were at once, and the fewest Ready at once.
fn bounds(events: &[PodEvent], before: &[String]) -> (usize, usize) {
    let mut pods: std::collections::BTreeSet<String> = before.iter().cloned().collect();
    let mut ready = pods.clone();
    let (mut most, mut fewest) = (pods.len(), ready.len());
    for e in events {
        match e.kind {
            PodEventKind::Created => {
                pods.insert(e.pod.clone());
            }
            PodEventKind::Ready => {
                ready.insert(e.pod.clone());
            }
            PodEventKind::Deleted => {
                pods.remove(&e.pod);
                ready.remove(&e.pod);
            }
        }
        most = most.max(pods.len());
        fewest = fewest.min(ready.len());
    }
    (most, fewest)
}

fn names(pods: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn status(sim: &Sim, deployment: &str) -> Value {
    let d = sim.get(&DEPLOYMENTS, NS, deployment).unwrap();
    let s = &d["status"];
    serde_json::json!({
        "generation": d["metadata"]["generation"], "observedGeneration": s["observedGeneration"],
        "replicas": s["replicas"], "updatedReplicas": s["updatedReplicas"], "readyReplicas": s["readyReplicas"],
        "availableReplicas": s["availableReplicas"], "unavailableReplicas": s["unavailableReplicas"],
    })
}

// ---- rook-sim: the Deployment controller ----

/// The operator rolls the RGW (Rook's strategy: maxUnavailable 1, maxSurge 0): one old pod
/// goes, its replacement comes and turns Ready, then the other; never more than 2 pods,
/// never fewer than 1 Ready. The status ends as the real controller leaves it.
#[test]
fn the_simulated_operator_rolls_a_two_instance_rgw_one_pod_at_a_time() {
    let sim = rgw_sim(Crd::Released, 20);
    let d = sim.get(&DEPLOYMENTS, NS, RGW).unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"], serde_json::json!({"maxUnavailable": 1, "maxSurge": 0}));
    let before = pods_of(&sim, RGW);
    assert_eq!(before.len(), 2);
    let nodes: std::collections::BTreeSet<&str> =
        before.iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 2, "spread over two nodes");
    sim.reset_replacements();
    sim.update(&rook_sim::resources::CEPHCLUSTERS, NS, NS, |c| c["spec"]["cephVersion"]["image"] = IMG.into()).unwrap();
    sim.settle();
    wait_for("both RGW pods on the image", 10, || rolled_out(&sim, RGW, IMG, 2).then_some(()));
    let events = events_of(&sim, RGW);
    let before = names(&before);
    assert_eq!(
        story(&events, &before),
        ["deleted old-2", "created new-1", "ready new-1", "deleted old-1", "created new-2", "ready new-2"],
        "{events:?}"
    );
    assert_eq!(bounds(&events, &before), (2, 1), "at most 2 pods, at least 1 Ready (maxUnavailable 1, maxSurge 0)");
    let rs: std::collections::BTreeSet<&str> =
        events.iter().filter(|e| e.kind == PodEventKind::Created).map(|e| e.replica_set.as_str()).collect();
    assert_eq!(rs.len(), 1, "the new pods belong to one new ReplicaSet: {rs:?}");
    let s = status(&sim, RGW);
    assert_eq!(s["observedGeneration"], s["generation"], "{s}");
    for k in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"] {
        assert_eq!(s[k], 2, "{k}: {s}");
    }
    assert_eq!(s["unavailableReplicas"], Value::Null, "0 is left out: {s}");
    assert_eq!(sim.replacements(NS).get(RGW), Some(&1), "one rollout");
}

/// Writes through the API: with the apps/v1 defaults (maxSurge and maxUnavailable 25%:
/// for 2 replicas one surge pod, none unavailable) a new pod comes first and an old one
/// goes only when it is Ready; Recreate deletes every old pod before the first new one.
#[test]
fn a_default_rolling_update_surges_one_pod_and_recreate_deletes_first() {
    let sim = rgw_sim(Crd::Released, 20);
    kubectl_ok(
        &sim,
        &[
            "-n",
            NS,
            "patch",
            "deployment",
            RGW,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"strategy":{"rollingUpdate":null}}}"#,
        ],
    );
    let before = names(&pods_of(&sim, RGW));
    sim.reset_replacements();
    kubectl_ok(
        &sim,
        &[
            "-n",
            NS,
            "patch",
            "deployment",
            RGW,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"template":{"metadata":{"annotations":{"test":"1"}}}}}"#,
        ],
    );
    wait_for("the RGW rolled", 10, || {
        (pods_of(&sim, RGW).iter().all(|p| p["metadata"]["annotations"]["test"] == "1" && ready(p))
            && pods_of(&sim, RGW).len() == 2)
            .then_some(())
    });
    let events = events_of(&sim, RGW);
    assert_eq!(
        story(&events, &before),
        ["created new-1", "ready new-1", "deleted old-2", "created new-2", "ready new-2", "deleted old-1"],
        "{events:?}"
    );
    assert_eq!(bounds(&events, &before), (3, 2), "at most 3 pods (one surge), never fewer than 2 Ready");

    // Recreate, 2 replicas: both old pods go before a new one is made
    const MGR: &str = "rook-ceph-mgr-a";
    // (rook-sim serves no `scale` subresource: `kubectl scale` answers 404 there)
    kubectl_ok(&sim, &["-n", NS, "patch", "deployment", MGR, "--type", "merge", "-p", r#"{"spec":{"replicas":2}}"#]);
    wait_for("2 mgr-a pods Ready", 10, || (pods_of(&sim, MGR).iter().filter(|p| ready(p)).count() == 2).then_some(()));
    let before = names(&pods_of(&sim, MGR));
    sim.reset_replacements();
    kubectl_ok(
        &sim,
        &[
            "-n",
            NS,
            "patch",
            "deployment",
            MGR,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"template":{"metadata":{"annotations":{"test":"1"}}}}}"#,
        ],
    );
    wait_for("the mgr rolled", 10, || {
        let p = pods_of(&sim, MGR);
        (p.len() == 2 && p.iter().all(|p| p["metadata"]["annotations"]["test"] == "1" && ready(p))).then_some(())
    });
    let s = story(&events_of(&sim, MGR), &before);
    assert_eq!(&s[..4], ["deleted old-1", "deleted old-2", "created new-1", "created new-2"], "{s:?}");
    // the kubelet writes the pod, then the controller the Deployment's status
    wait_for("the mgr's status", 10, || {
        let s = status(&sim, MGR);
        (s["updatedReplicas"] == 2 && s["readyReplicas"] == 2 && s["replicas"] == 2).then_some(())
    });
}

// ---- the plugin's gates ----

/// `set rgw IMAGE --strategy fence --yes --wait`: the fence's step gate waits for both
/// RGW pods. Stopped midway (the second new pod cannot be scheduled) it times out naming
/// the RGW, where the one-pod gate returned 0.
#[test]
fn a_fence_with_wait_returns_only_when_both_rgw_pods_run_the_image() {
    let sim = rgw_sim(Crd::Released, 20);
    sim.hold_rollout(NS, RGW, 1);
    let r = run(&sim, &["set", "rgw", IMG, "--strategy", "fence", "--yes", "--wait", "--timeout", "3s"]);
    assert_eq!(r.code, 1, "the gate must not pass with one of two RGW pods up:\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out") && r.stderr.contains("rgw.my-store"), "{}", r.stderr);
    assert!(r.stderr.contains("stopped before the next step"), "{}", r.stderr);
    // where it stopped: one new pod Ready, the other Pending and unscheduled, no old pod
    let pods = pods_of(&sim, RGW);
    assert_eq!(pods.iter().filter(|p| ready(p) && image(p) == IMG).count(), 1, "{pods:?}");
    let pending: Vec<&Value> = pods.iter().filter(|p| p["status"]["phase"] == "Pending").collect();
    assert_eq!(pending.len(), 1, "{pods:?}");
    assert_eq!(pending[0]["status"]["conditions"][0]["reason"], "Unschedulable");
    sim.release_rollout(NS, RGW);
    wait_for("both RGW pods up once released", 10, || rolled_out(&sim, RGW, IMG, 2).then_some(()));
}

/// On a real cluster the Deployment controller writes the RGW's status while the fence is
/// being planned: the patch meets 409 Conflict, is read again and sent again, and a step
/// gate that then times out still fails the command (it was lost in the re-read's journal,
/// and the fence exited 0; seen first on the real control plane).
#[test]
fn a_gate_that_fails_after_a_conflict_still_fails_the_fence() {
    let sim = rgw_sim(Crd::Released, 20);
    sim.hold_rollout(NS, RGW, 1);
    sim.faults().before_write_to(
        RGW,
        0,
        Box::new(|store| {
            let mut d = store.get_value(&DEPLOYMENTS, NS, RGW).unwrap();
            d["status"]["observedGeneration"] = 7.into();
            d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
            store.update(&DEPLOYMENTS, NS, RGW, d, false).unwrap();
        }),
    );
    let r = run(&sim, &["set", "rgw", IMG, "--strategy", "fence", "--yes", "--wait", "--timeout", "2s"]);
    assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out") && r.stderr.contains("rgw.my-store"), "{}", r.stderr);
}

/// Without a hold, the order of events shows it: when the fence with `--wait` returned,
/// both new RGW pods had turned Ready (the second one 300 ms after the first).
#[test]
fn a_fence_with_wait_returns_after_the_second_rgw_pod_turned_ready() {
    let sim = rgw_sim(Crd::Released, 300);
    let before = names(&pods_of(&sim, RGW));
    sim.reset_replacements();
    let r = run(&sim, &["set", "rgw", IMG, "--strategy", "fence", "--yes", "--wait"]).ok();
    let events = events_of(&sim, RGW);
    let s = story(&events, &before);
    assert_eq!(
        s,
        ["deleted old-2", "created new-1", "ready new-1", "deleted old-1", "created new-2", "ready new-2"],
        "every event, the second Ready included, came before --wait returned: {}",
        r.stderr
    );
    assert!(rolled_out(&sim, RGW, IMG, 2));
}

/// The same for an override (`set rgw IMAGE --wait` on the proposed CRD): the operator
/// rolls the RGW, `--wait` waits for both pods.
#[test]
fn an_override_with_wait_returns_only_when_both_rgw_pods_run_the_image() {
    let sim = rgw_sim(Crd::Proposed, 20);
    sim.hold_rollout(NS, RGW, 1);
    let r = run(&sim, &["set", "rgw", IMG, "--yes", "--wait", "--timeout", "3s"]);
    assert_eq!(r.code, 1, "the wait must not end with one of two RGW pods up:\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out") && r.stderr.contains("rgw.my-store"), "{}", r.stderr);
    assert!(!rolled_out(&sim, RGW, IMG, 2));

    let sim = rgw_sim(Crd::Proposed, 300);
    let before = names(&pods_of(&sim, RGW));
    sim.reset_replacements();
    let r = run(&sim, &["set", "rgw", IMG, "--yes", "--wait"]).ok();
    assert_eq!(
        story(&events_of(&sim, RGW), &before),
        ["deleted old-2", "created new-1", "ready new-1", "deleted old-1", "created new-2", "ready new-2"],
        "{}",
        r.stderr
    );
    assert!(rolled_out(&sim, RGW, IMG, 2));
}

/// The staged upgrade: the RGW stage's pod gate waits for both RGW pods (stopped midway it
/// fails the stage), `upgrade resume` waits for them before anything else, and once they
/// are up the upgrade ends with both on the image.
#[test]
fn the_upgrades_gate_waits_for_both_rgw_pods() {
    let sim = rgw_sim(Crd::Released, 20);
    sim.hold_rollout(NS, RGW, 1);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "4s"]);
    assert_eq!(r.code, 1, "the gate must not pass with one of two RGW pods up:\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("did not pass its gate") && r.stderr.contains("rgw.my-store"), "{}", r.stderr);
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("are not Running and Ready yet (rgw.my-store)"), "{}", r.stderr);
    sim.release_rollout(NS, RGW);
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]).ok();
    assert!(r.stdout.contains("Upgrade done"), "{}\n{}", r.stdout, r.stderr);
    assert!(rolled_out(&sim, RGW, IMG, 2));
}

/// A cluster loaded from a field dump (`demo --from`): the multisite store's RGW is one
/// Deployment of 2 replicas whose pods came from the real cluster. The fence's gate waits
/// for both, and rook-sim rolls them one at a time from the dumped ReplicaSet.
#[test]
fn a_fence_of_a_dumped_two_instance_rgw_waits_for_both() {
    const MULTI: &str = "rook-ceph-rgw-multisite-store-a";
    const FIXTURE: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/field/27-two-filesystems-two-object-stores.yaml");
    let sim = Sim::start(SimOptions {
        from: vec![FIXTURE.into()],
        crd: Crd::Released,
        operator: OperatorConfig { daemon_delay: Duration::ZERO, ..Default::default() },
        ..Default::default()
    })
    .expect("the dump loads");
    let before = names(&pods_of(&sim, MULTI));
    assert_eq!(before.len(), 2, "the dump's two gateways");
    sim.hold_rollout(NS, MULTI, 1);
    let r = run(&sim, &["set", "rgw", IMG, "--strategy", "fence", "--yes", "--wait", "--timeout", "3s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("rgw.multisite-store"), "{}", r.stderr);
    sim.release_rollout(NS, MULTI);
    wait_for("both gateways on the image", 10, || rolled_out(&sim, MULTI, IMG, 2).then_some(()));
    assert_eq!(
        story(&events_of(&sim, MULTI), &before),
        ["deleted old-2", "created new-1", "ready new-1", "deleted old-1", "created new-2", "ready new-2"]
    );
}

// ---- the real control plane ----

fn plugin_as(cp: &ControlPlane, ns: &str, args: &[&str]) -> Run {
    let out =
        plugin_at(&cp.kubeconfig("admin")).arg("-n").arg(ns).args(args).write_stdin("").output().expect("plugin runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The RGW's ReplicaSets on the real server: (pods asked of the old one, of the new one,
/// the one whose template runs `img`).
fn real_replicasets(cp: &ControlPlane, ns: &str, img: &str) -> (i64, i64) {
    let v: Value = serde_json::from_str(
        &cp.kubectl_ok("admin", &["-n", ns, "get", "replicasets", "-l", "app=rook-ceph-rgw", "-o", "json"]),
    )
    .unwrap();
    let (mut old, mut new) = (0, 0);
    for rs in v["items"].as_array().unwrap() {
        let n = rs["spec"]["replicas"].as_i64().unwrap_or(0);
        if rs["spec"]["template"]["spec"]["containers"][0]["image"] == img {
            new += n;
        } else {
            old += n;
        }
    }
    (old, new)
}

/// The same fence on the real control plane, seeded from a 2-instance RGW. Its pods stay
/// Pending there (no kubelet yet), so only the first step can be seen: the real Deployment
/// controller makes a second ReplicaSet and moves one pod to it (Rook's strategy: one old
/// pod goes, one new comes; with the apps/v1 defaults: one surge pod, both old ones stay),
/// rook-sim's controller takes the same first step when new pods never turn Ready, and the
/// plugin's gate does not call it done.
#[test]
fn on_the_real_control_plane_the_fence_makes_a_second_replicaset_and_the_gate_waits() {
    let cp = control_plane(Crd::Released);
    for (variant, strategy, expect) in
        [("rook", None, (1, 1)), ("defaults", Some(r#"{"spec":{"strategy":{"rollingUpdate":null}}}"#), (2, 1))]
    {
        let ns = cp.namespace(&format!("rollout-{variant}"));
        // the simulated cluster in a namespace of that name: its labels (rook_cluster=<ns>)
        // are the ones the plugin selects there
        let sim = Sim::start(SimOptions {
            topology: Topology { namespace: ns.clone(), osds: 3, rgw_instances: 2, ..Default::default() },
            crd: Crd::Released,
            operator: OperatorConfig { daemon_delay: Duration::ZERO, ..Default::default() },
            ..Default::default()
        })
        .expect("simulated cluster starts");
        if let Some(p) = strategy {
            kubectl_ok(&sim, &["-n", &ns, "patch", "deployment", RGW, "--type", "merge", "-p", p]);
        }
        cp.seed_from(&sim, &ns);
        // No kubelet runs these pods, so every OSD reads as down and the fence would refuse
        // to restart anything beside them (issue 22 kind 5); this test is about the RGW's
        // rollout, so the OSDs are scaled to 0, which the fence's down gate does not count.
        cp.kubectl_ok("admin", &["-n", &ns, "scale", "deployment", "-l", "app=rook-ceph-osd", "--replicas=0"]);
        wait_for("the real controllers' 2 RGW pods", 30, || {
            let pods = cp.kubectl_ok("admin", &["-n", &ns, "get", "pods", "-l", "app=rook-ceph-rgw", "-o", "name"]);
            (pods.lines().count() == 2).then_some(())
        });
        let fence = ["set", "rgw", IMG, "--strategy", "fence", "--yes", "--wait"];
        let r = plugin_as(cp, &ns, &[&fence[..], &["--timeout", "5s"]].concat());
        assert_eq!(r.code, 1, "{variant}: no RGW pod runs without a kubelet:\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("timed out") && r.stderr.contains("rgw.my-store"), "{variant}: {}", r.stderr);
        let real = wait_for("the real controller's first step", 30, || {
            let rs = real_replicasets(cp, &ns, IMG);
            (rs == expect).then_some(rs)
        });
        // rook-sim's controller, its new pods never Ready, stops at the same first step
        sim.never_ready(&ns, RGW);
        run(&sim, &[&fence[..], &["--timeout", "1s"]].concat());
        let pods: Vec<Value> =
            sim.list(&PODS, &ns).into_iter().filter(|p| p["metadata"]["labels"]["app"] == "rook-ceph-rgw").collect();
        let new = pods.iter().filter(|p| image(p) == IMG).count() as i64;
        assert_eq!((pods.len() as i64 - new, new), real, "{variant}: rook-sim's first step is the real one's");
    }
}
