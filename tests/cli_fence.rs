//! `--strategy fence` on the Rook of today (released CRD): per-daemon images without
//! imageOverrides.

mod common;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS, PODS};
use rook_sim::{Crd, Sim};
use serde_json::{Value, json};

const DNR: &str = "ceph.rook.io/do-not-reconcile";
const IMG: &str = "registry.example.com/ceph/ceph:v20.2.5-mgrfix";
const BASE2: &str = "quay.io/ceph/ceph:v20.2.6";

fn deployments(sim: &Sim) -> Vec<Value> {
    sim.list(&DEPLOYMENTS, &ns(sim))
}

/// A Deployment without what every write or rollout changes.
fn essence(d: &Value) -> Value {
    let mut d = d.clone();
    let m = d["metadata"].as_object_mut().unwrap();
    for k in ["resourceVersion", "generation", "managedFields"] {
        m.remove(k);
    }
    // the Deployment controller's revision count (a real server's; rook-sim sets none)
    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("deployment.kubernetes.io/revision");
    }
    d.as_object_mut().unwrap().remove("status");
    d
}

fn images(d: &Value) -> Vec<(String, String)> {
    let spec = &d["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["image"].as_str().unwrap().to_string()))
        .collect()
}

fn mgr_pod_images(sim: &Sim) -> Vec<String> {
    sim.list(&PODS, &ns(sim))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "rook-ceph-mgr")
        .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string())
        .collect()
}

/// The node each OSD Deployment is pinned to.
fn osd_nodes(sim: &Sim) -> std::collections::BTreeMap<String, String> {
    deployments(sim)
        .iter()
        .filter(|d| d["metadata"]["labels"]["app"] == "rook-ceph-osd")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap().to_string(),
                d["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Another writer changes a Deployment (a strategic merge patch) between the plugin's read
/// and its fence patch.
fn before_fence_of(sim: &Sim, name: &'static str, patch: Value) {
    OtherWrite::strategic(&DEPLOYMENTS, name, patch).before_write_to(sim, name, 0);
}

on_both! {
    fn fence_pins_the_mgr_and_the_operator_leaves_it_until_unfenced() {
        let sim = sim(Crd::Released);
        let before = deployments(&sim);
        let out = run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--yes", "-o", "json"]).ok().json();
        let planned: Vec<&str> = out["plan"]["daemons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["action"] == "restart")
            .map(|d| d["daemon"].as_str().unwrap())
            .collect();
        assert_eq!(planned, ["mgr.a", "mgr.b"]);
        // only the mgr Deployments changed: label, annotations, Ceph images and CONTAINER_IMAGE
        let after = deployments(&sim);
        for (b, a) in before.iter().zip(&after) {
            let name = b["metadata"]["name"].as_str().unwrap();
            if !name.starts_with("rook-ceph-mgr-") {
                assert_eq!(essence(b), essence(a), "{name} must not change");
                continue;
            }
            assert_eq!(a["metadata"]["labels"][DNR], "true");
            assert_eq!(a["metadata"]["annotations"]["kubectl-ceph-image/fenced-image"], IMG);
            assert_eq!(a["metadata"]["annotations"]["kubectl-ceph-image/replaced-image"], "quay.io/ceph/ceph:v20.2.4");
            for ((bn, bi), (an, ai)) in images(b).iter().zip(images(a)) {
                assert_eq!(*bn, an);
                if bi.starts_with("docker.io/rook/") {
                    assert_eq!(*bi, ai, "{an} runs the Rook image and stays");
                } else {
                    assert_eq!(ai, IMG, "{an}");
                }
            }
            let env = a["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
            assert!(env.iter().any(|e| e["name"] == "CONTAINER_IMAGE" && e["value"] == IMG));
            assert_eq!(env.len(), b["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().len());
            // nothing else of it changed
            let (mut bb, mut aa) = (essence(b), essence(a));
            for v in [&mut bb, &mut aa] {
                v["metadata"]["labels"].as_object_mut().unwrap().remove(DNR);
                v["metadata"]["annotations"].as_object_mut().unwrap().retain(|k, _| !k.starts_with("kubectl-ceph-image/"));
                v["spec"]["template"] = Value::Null;
            }
            assert_eq!(bb, aa, "{name}: only labels, annotations and the template changed");
        }
        // the requests: one strategic merge patch per mgr Deployment, with a precondition
        let writes = sim.mutating_requests();
        assert_eq!(writes.len(), 2);
        assert!(writes.iter().all(|w| w.content_type.starts_with("application/strategic-merge-patch+json")));
        assert!(writes.iter().all(|w| w.body.as_deref().unwrap().contains("\"resourceVersion\"")));
        sim.settle();
        assert_eq!(mgr_pod_images(&sim), [IMG, IMG], "Kubernetes rolled the mgr pods");

        // a base image change: the operator reconciles everything else and leaves the mgrs
        sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| c["spec"]["cephVersion"]["image"] = BASE2.into()).unwrap();
        sim.settle();
        assert_eq!(mgr_pod_images(&sim), [IMG, IMG]);
        let others: Vec<String> = sim
            .list(&PODS, &ns(&sim))
            .into_iter()
            // the cluster's daemons (not the Rook operator's own pod)
            .filter(|p| p["metadata"]["labels"]["app"] != "rook-ceph-mgr" && p["metadata"]["labels"]["rook_cluster"].is_string())
            .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string())
            .collect();
        assert!(others.iter().all(|i| i == BASE2), "{others:?}");

        // status shows them apart from paused ones
        let st = run(&sim, &["status", "-o", "json"]).ok().json();
        assert_eq!(st["fenced"].as_array().unwrap().len(), 2);
        assert!(st["held"].as_array().unwrap().is_empty());
        assert!(st["fenced"][0]["age"].is_string());
        assert!(st["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "fenced"));

        // unfence with a reconcile: back to the base image
        let r = run(&sim, &["unset", "mgr", "--strategy", "fence", "--reconcile-now", "--yes"]).ok();
        assert!(r.stdout.contains("Started an operator reconcile"), "{}", r.stdout);
        sim.settle();
        assert_eq!(mgr_pod_images(&sim), [BASE2, BASE2]);
        for d in deployments(&sim).iter().filter(|d| d["metadata"]["name"].as_str().unwrap().starts_with("rook-ceph-mgr-"))
        {
            assert!(d["metadata"]["labels"].get(DNR).is_none());
            assert!(d["metadata"]["annotations"].get("kubectl-ceph-image/fenced-image").is_none());
        }
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert!(c["metadata"]["labels"].get(DNR).is_none(), "the CephCluster label was removed again");
    }

    fn unfence_without_reconcile_says_when_the_image_returns() {
        let sim = sim(Crd::Released);
        run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--yes"]).ok();
        sim.settle();
        let out = run(&sim, &["unset", "mgr", "--strategy", "fence", "--yes", "-o", "json"]).ok().json();
        let codes: Vec<&str> =
            out["plan"]["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"unfence-pending"), "{codes:?}");
        assert_eq!(out["reconcileStarted"], false);
        sim.settle();
        assert_eq!(mgr_pod_images(&sim), [IMG, IMG], "nothing restarts until the next reconcile");
    }

    fn refused_types_exit_2_and_send_nothing() {
        let sim = sim(Crd::Released);
        for (args, why) in [
            (&["set", "crash", IMG, "--strategy", "fence", "--yes"][..], "cannot fence crashcollector"),
            (&["set", "exporter", IMG, "--strategy", "fence", "--yes"][..], "cannot fence exporter"),
            (&["set", "cephfs-mirror", IMG, "--strategy", "fence", "--yes"][..], "cannot fence cephfsmirror"),
            (&["set", "mds", IMG, "--strategy", "fence", "--yes"][..], "cannot fence mds"),
            (&["set", "base", IMG, "--strategy", "fence", "--yes"][..], "pins one daemon type"),
            (&["unset", "mgr", "--reconcile-now", "--yes"][..], "--reconcile-now goes with --strategy fence"),
        ] {
            let r = run(&sim, args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        }
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()));
    }

    fn the_released_crd_refusal_offers_the_fence() {
        let sim = sim(Crd::Released);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("--strategy fence"), "{}", r.stderr);
    }

    fn fence_warnings_dry_run_and_scope() {
        let sim = sim(Crd::Released);
        let r = run(&sim, &["set", "mon", IMG, "--strategy", "fence", "--dry-run"]).ok();
        for w in ["mon-failover", "fence-misses-updates", "fence-rollout"] {
            assert!(r.stdout.contains(w), "{w}: {}", r.stdout);
        }
        assert!(r.stdout.contains("(strategic merge patch"), "the exact patches: {}", r.stdout);
        let r = run(&sim, &["set", "rgw", IMG, "--strategy", "fence", "--dry-run"]).ok();
        assert!(r.stdout.contains("rgw-scope"));
        let r = run(&sim, &["set", "rbd-mirror", IMG, "--strategy", "fence", "--dry-run"]).ok();
        assert!(r.stdout.contains("rbd-mirror-scope"));
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()));
    }

    fn resume_of_a_fenced_daemon_warns_and_drops_the_fence() {
        let sim = sim(Crd::Released);
        run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--yes"]).ok();
        let r = run(&sim, &["resume", "mgr.a", "--yes"]).ok();
        assert!(r.stdout.contains("fence-revert"), "{}", r.stdout);
        let d = sim.get(&DEPLOYMENTS, &ns(&sim), "rook-ceph-mgr-a").unwrap();
        assert!(d["metadata"]["labels"].get(DNR).is_none());
        assert!(d["metadata"]["annotations"].get("kubectl-ceph-image/fenced-image").is_none());
        // plain unset on a fenced type points at the fence
        let r = run(&sim, &["unset", "mgr", "--yes"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("--strategy fence"), "{}", r.stderr);
    }

    fn fencing_mons_waits_for_each_before_the_next() {
        let sim = slow_sim(Crd::Released, 100);
        let r = run(&sim, &["set", "mon", IMG, "--strategy", "fence", "--yes", "-v"]).ok();
        assert_eq!(r.stdout.matches(" fenced\n").count(), 3, "{}", r.stdout);
        assert!(r.stdout.contains("rewritten directly"), "{}", r.stdout);
        // -v puts each request and each step's rollout gate on stderr, in the order they
        // happened: each mon's patch is followed by its pod Ready before the next patch
        let events: Vec<&str> = r
            .stderr
            .lines()
            .filter_map(|l| {
                if l.starts_with("PATCH ") {
                    l.split_whitespace().nth(1)?.split('?').next()?.rsplit('/').next()
                } else {
                    l.starts_with("rollout done: 1 daemon(s)").then_some("ready")
                }
            })
            .collect();
        assert_eq!(
            events,
            ["rook-ceph-mon-a", "ready", "rook-ceph-mon-b", "ready", "rook-ceph-mon-c", "ready"],
            "each mon Ready before the next is patched: {}",
            r.stderr
        );
        let log = sim.log();
        let patch_at: Vec<usize> = log.iter().enumerate().filter(|(_, l)| l.verb == "patch").map(|(i, _)| i).collect();
        assert_eq!(patch_at.len(), 3);
        let names: Vec<String> = patch_at.iter().map(|i| log[*i].name.clone().unwrap()).collect();
        assert_eq!(names, ["rook-ceph-mon-a", "rook-ceph-mon-b", "rook-ceph-mon-c"], "Rook's order");
    }

    /// Issue 12: a fence of 24 OSDs on 3 nodes goes one node at a time, at most
    /// --max-unavailable OSDs a batch, in the plan and on the wire.
    fn a_fence_of_osds_batches_by_failure_domain() {
        let sim = sim_with(Crd::Released, 24);
        let nodes = osd_nodes(&sim);
        assert_eq!(nodes.values().collect::<std::collections::BTreeSet<_>>().len(), 3);
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--max-unavailable", "5", "--dry-run", "-o", "json"])
            .ok();
        let plan = &r.json()["plan"];
        let mut steps: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for d in plan["daemons"].as_array().unwrap().iter().filter(|d| d["action"] == "restart") {
            steps.entry(d["step"].as_u64().unwrap()).or_default().push(d["deployment"].as_str().unwrap().to_string());
        }
        assert_eq!(steps.len(), 6, "3 nodes of 8 OSDs, at most 5 a batch: {steps:?}");
        for (step, ds) in &steps {
            let on: std::collections::BTreeSet<&String> = ds.iter().map(|d| &nodes[d]).collect();
            assert_eq!(on.len(), 1, "step {step} spans nodes {on:?}");
            assert!(ds.len() <= 5, "step {step}: {ds:?}");
        }
        // On the wire: the patches come in node-sized groups, a node finished before the next.
        sim.clear_log();
        let r = run(
            &sim,
            &["set", "osd", IMG, "--strategy", "fence", "--max-unavailable", "5", "--pause-between", "0s", "--yes"],
        );
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        // Six steps, each gated on its pods and on no OSD down elsewhere, all read from one
        // LIST of each collection and its watch (issue 24), not a LIST of the namespace a step.
        let firsts = |resource: &str| {
            let log = sim.log();
            let daemons = |q: &str| q.contains("labelSelector=rook_cluster%3D") && !q.contains("continue=");
            log.iter().filter(|l| l.verb == "list" && l.resource == resource && daemons(&l.query)).count()
        };
        assert_eq!((firsts("deployments"), firsts("pods")), (1, 1), "LIST passes over the daemons for 6 steps");
        fenced_under_noout(&sim);
        let order: Vec<String> = sim
            .mutating_requests()
            .iter()
            .filter(|l| l.resource == "deployments")
            .map(|l| nodes[l.name.as_ref().unwrap()].clone())
            .collect();
        assert_eq!(order.len(), 24);
        let mut seen: Vec<&String> = vec![];
        for n in &order {
            if seen.last() != Some(&n) {
                assert!(!seen.contains(&n), "node {n} came back after another node started: {order:?}");
                seen.push(n);
            }
        }
    }

    fn health_err_holds_the_next_batch() {
        let sim = sim_with(Crd::Released, 6);
        // through the status subresource, as Rook writes it (a write of the CephCluster
        // itself leaves its status alone on a real server)
        sim.set_health(&ns(&sim), Some("HEALTH_ERR"));
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("HEALTH_ERR") && r.stderr.contains("no new batch"), "{}", r.stderr);
        assert!(sim.mutating_requests().iter().all(|l| l.resource != "deployments"), "no OSD was fenced");
    }

    /// A node NotReady (issue #22 kind 5): no OSD of another node is fenced while its OSDs
    /// are down; `status` names it; once it is back the same fence goes through.
    fn a_fence_waits_for_a_node_that_is_down() {
        let sim = sim_with(Crd::Released, 6);
        let nodes = osd_nodes(&sim);
        let down = nodes.values().max().unwrap().clone();
        let down_osds: Vec<&String> = nodes.iter().filter(|(_, n)| **n == down).map(|(d, _)| d).collect();
        sim.set_node_down(&down, true);
        let r = run(&sim, &["status"]);
        assert!(r.stdout.contains("Not running:") && r.stdout.contains(&format!("{down} (looks down)")), "{}", r.stdout);
        sim.clear_log();
        // the dry run shows the plan and says the fence would be refused, as the run is
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--dry-run"]);
        assert!(r.stdout.contains("node-down") || r.stdout.contains("cannot start there"), "{}", r.stdout);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("refusing to fence") && r.stderr.contains("Dry run: nothing was sent"), "{}", r.stderr);
        // a mgr is in another failure domain than the down OSDs too
        let r = run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--dry-run"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("restarting mgr."), "{}", r.stderr);
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("refusing to fence") && r.stderr.contains(&format!("on host {down}")),
            "{}",
            r.stderr
        );
        // Ceph's own word comes first (issue 23 item 2): its no, and the command asked
        assert!(
            r.stderr.contains("Ceph says osd.") && r.stderr.contains("unsafe to stop osd(s) at this time"),
            "{}",
            r.stderr
        );
        assert!(sim.mutating_requests().is_empty(), "a refusal sends nothing: {:?}", sim.mutating_requests());
        let asked = ceph_commands(&sim);
        assert!(asked.iter().any(|c| c.starts_with("ceph osd ok-to-stop ") && c.contains(" --max ")), "{asked:?}");
        sim.set_node_down(&down, false);
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        // each OSD once (a 409 against a real API server is sent again: counted once)
        let patched: std::collections::BTreeSet<String> =
            sim.mutating_requests().iter().filter(|l| l.status == 200).filter_map(|l| l.name.clone()).collect();
        assert_eq!(patched.len(), nodes.len(), "{patched:?}");
        assert!(down_osds.iter().all(|d| patched.contains(*d)));
    }

    /// A fence never rewrites a daemon the operator paused (the plan says it skips them).
    fn a_fence_leaves_paused_osds_alone_on_the_wire() {
        let sim = sim_with(Crd::Released, 12);
        run(&sim, &["pause", "osd", "--node", "node-00", "--yes"]).ok();
        let paused: Vec<String> = osd_nodes(&sim).into_iter().filter(|(_, n)| n == "node-00").map(|(d, _)| d).collect();
        assert_eq!(paused.len(), 4);
        let pods_before = pod_names(&sim, "rook-ceph-osd");
        sim.clear_log();
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let patched: Vec<String> = sim.mutating_requests().iter().filter_map(|l| l.name.clone()).collect();
        assert_eq!(patched.len(), 8, "{patched:?}");
        assert!(patched.iter().all(|p| !paused.contains(p)), "a paused OSD was fenced: {patched:?}");
        let pods_after = pod_names(&sim, "rook-ceph-osd");
        for p in pods_before.iter().filter(|p| paused.iter().any(|d| p.starts_with(&format!("{d}-")))) {
            assert!(pods_after.contains(p), "paused pod {p} was restarted");
        }
    }

    fn a_fenced_step_that_does_not_come_up_stops_the_rest() {
        let sim = slow_sim(Crd::Released, 5000);
        let r = run(&sim, &["set", "mon", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("stopped before the next step") && r.stderr.contains("mon.a"), "{}", r.stderr);
        assert!(
            r.stderr.contains("rook-ceph-mon-b fence to") && r.stderr.contains("not sent"),
            "the journal: {}",
            r.stderr
        );
        let patched: Vec<String> = sim.mutating_requests().iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(patched, ["rook-ceph-mon-a"], "nothing after the mon that did not come up");
        // Run again: the mon the first run fenced is waited for before any step, from the
        // run's view (one LIST of the daemons' pods, no LIST or watch of its own; Ceph's gate
        // lists the operator's pod to ask in), and nothing is sent.
        let seen = sim.log().len();
        let r = run(&sim, &["set", "mon", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("1 daemon(s) fenced by an earlier run are not Running and Ready yet (mon.a)")
                && r.stderr.contains("timed out"),
            "{}",
            r.stderr
        );
        let again = &sim.log()[seen..];
        let daemon_pods = |q: &&rook_sim::LoggedRequest| q.resource == "pods" && q.query.contains("rook_cluster%3D");
        assert_eq!(again.iter().filter(|q| q.verb == "list").filter(daemon_pods).count(), 1, "{again:?}");
        assert_eq!(again.iter().filter(|q| q.verb == "watch").filter(daemon_pods).count(), 1, "{again:?}");
        assert!(again.iter().all(|q| !q.is_mutating()), "{again:?}");
    }

    fn pause_between_waits_between_steps() {
        let sim = sim_with(Crd::Released, 6);
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--pause-between", "1ms", "--yes"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stderr.matches("(--pause-between)").count(), 2, "3 node batches, 2 pauses: {}", r.stderr);
        let r = run(&sim, &["set", "mgr", IMG, "--pause-between", "1m", "--dry-run"]);
        assert_eq!(r.code, 2, "pacing an override is a usage error: {}", r.stderr);
    }

    /// SIGTERM during --pause-between stops the run at once, with the journal.
    fn a_signal_during_pause_between_stops_at_once() {
        let sim = sim_with(Crd::Released, 6);
        let child = std::process::Command::new(bin())
            .env("KUBECONFIG", sim.kubeconfig())
            .args(["set", "osd", IMG, "--strategy", "fence", "--pause-between", "1h", "--yes"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once the first batch is done (its patches landed), bounded.
        for _ in 0..1000 {
            if sim.mutating_requests().len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: kill(2) on the child this test started, by its pid
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        // A run that slept out the hour would hang the test: give up after a bound instead.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the run stopped on SIGTERM").unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(143), "{stderr}");
        assert!(stderr.contains(": not sent"), "the journal: {stderr}");
    }

    /// Issue 12: a 409 on a fence patch is judged by intent. A change elsewhere in the
    /// Deployment (here an annotation of someone else's) is kept and the Deployment fenced
    /// from its current state; every other OSD is fenced once.
    fn a_fence_patch_that_meets_a_change_elsewhere_is_re_read_and_sent_again() {
        let sim = sim_with(Crd::Released, 6);
        before_fence_of(&sim, "rook-ceph-osd-0", json!({"metadata": {"annotations": {"example.com/owner": "storage-team"}}}));
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
        let d = sim.get(&DEPLOYMENTS, &ns(&sim), "rook-ceph-osd-0").unwrap();
        assert_eq!(d["metadata"]["annotations"]["example.com/owner"], "storage-team", "the other change survives");
        for d in deployments(&sim).iter().filter(|d| d["metadata"]["labels"]["app"] == "rook-ceph-osd") {
            assert!(images(d).iter().filter(|(n, _)| n == "osd").all(|(_, i)| i == IMG), "{}", d["metadata"]["name"]);
        }
        let applied: Vec<String> =
            sim.mutating_requests().iter().filter(|l| l.status == 200).map(|l| l.name.clone().unwrap()).collect();
        let unique: std::collections::BTreeSet<&String> = applied.iter().collect();
        assert_eq!((applied.len(), unique.len()), (6, 6), "each OSD fenced exactly once: {applied:?}");
    }

    /// Issue 12: another writer fencing the same Deployment to another image is never
    /// overwritten silently: with --yes, exit 1 naming both, and that Deployment is left as the
    /// other writer left it.
    fn a_fence_that_meets_another_fence_of_the_same_deployment_stops_with_yes() {
        let sim = sim_with(Crd::Released, 6);
        const OTHER: &str = "registry.example.com/ceph/ceph:v20.2.5-other";
        before_fence_of(
            &sim,
            "rook-ceph-osd-0",
            json!({"metadata": {"labels": {DNR: "true"}, "annotations": {"kubectl-ceph-image/fenced-image": OTHER}},
                "spec": {"template": {"spec": {"containers": [{"name": "osd", "image": OTHER}]}}}}),
        );
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("rook-ceph-osd-0") && r.stderr.contains(OTHER) && r.stderr.contains("nothing is overwritten"),
            "{}",
            r.stderr
        );
        let d = sim.get(&DEPLOYMENTS, &ns(&sim), "rook-ceph-osd-0").unwrap();
        assert!(images(&d).iter().any(|(n, i)| n == "osd" && i == OTHER), "the other writer's fence stands");
    }

    /// Issue 23 item 2: without Ceph's word (no exec right here) a fence restarts no OSD:
    /// refused before any write, in the run and its dry run, naming the role and the flag;
    /// `--allow-unchecked-restarts` goes on, saying so. A fence of MGRs asks nothing.
    fn without_cephs_word_no_osd_is_restarted_unless_the_user_says_so() {
        use rook_sim::{Fault, FaultKind};
        let sim = sim_with(Crd::Released, 3);
        sim.faults().add(Fault::new(FaultKind::Forbidden).resource("pods/exec"));
        sim.clear_log();
        for dry in [&["--dry-run"][..], &["--yes"]] {
            let r = run(&sim, &[&["set", "osd", IMG, "--strategy", "fence"][..], dry].concat());
            assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains("Ceph could not be asked whether osd.")
                    && r.stderr.contains("forbidden")
                    && r.stderr.contains("ceph-image-ceph-exec")
                    && r.stderr.contains("--allow-unchecked-restarts")
                    && r.stderr.contains("Nothing was sent") | r.stderr.contains("nothing was sent"),
                "{}",
                r.stderr
            );
        }
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
        sim.clear_log();
        let r = run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--dry-run"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(ceph_commands(&sim).is_empty(), "an MGR fence runs no exec");
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes", "--allow-unchecked-restarts"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("restarted unchecked (--allow-unchecked-restarts)"), "{}", r.stderr);
        let fenced = sim.mutating_requests().iter().filter(|l| l.resource == "deployments").count();
        assert_eq!(fenced, 3, "{:?}", sim.mutating_requests());
        // the flag belongs to a fence
        let r = run(&sim, &["set", "osd", IMG, "--allow-unchecked-restarts"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
    }
}

/// The `ceph` commands the plugin ran (exec requests the server saw), as `ceph ARGS...`
/// without the options every command carries.
/// In the order the server saw them: every OSD Deployment the fence patched was patched
/// while `noout` was set on that OSD (`ceph osd set-group noout osd.N ...` before, its
/// unset after), and Ceph has no noout left (issue 23 item 5).
fn fenced_under_noout(sim: &Sim) {
    let mut on: std::collections::BTreeSet<String> = Default::default();
    let mut patched = 0;
    for l in sim.log() {
        if let Some(c) = &l.command {
            let who = || c.iter().skip(4).take_while(|a| !a.starts_with('-')).cloned();
            match c.get(1..4).map(|w| w.join(" ")).as_deref() {
                Some("osd set-group noout") => on.extend(who()),
                Some("osd unset-group noout") => who().for_each(|a| {
                    on.remove(&a);
                }),
                _ => {}
            }
        } else if l.method == "PATCH"
            && l.status == 200
            && let Some(id) = l.name.as_deref().and_then(|n| n.strip_prefix("rook-ceph-osd-"))
        {
            patched += 1;
            assert!(on.contains(&format!("osd.{id}")), "osd.{id} fenced without noout on it: {on:?}");
        }
    }
    assert!(patched > 0, "no OSD patch in the log");
    assert!(on.is_empty(), "noout left on {on:?}");
    let c = sim.ceph_state(&ns(sim));
    assert!(c.group_flags.is_empty() && !c.flags.contains("noout"), "{:?} {:?}", c.group_flags, c.flags);
}

fn ceph_commands(sim: &Sim) -> Vec<String> {
    sim.log()
        .iter()
        .filter_map(|l| l.command.as_ref())
        .map(|c| c.iter().filter(|a| !a.starts_with("--c")).cloned().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A node that goes down while the fence runs (issue #22 kind 5, issue 23's acceptance):
/// the step after it waits within --timeout while Ceph says not ok-to-stop, then stops with
/// Ceph's reason and the rest not sent. Embedded only: the hook takes the
/// node down from inside the server, between two steps.
#[test]
fn a_node_down_mid_fence_stops_the_next_step() {
    let sim = sim_with(Crd::Released, 6);
    let nodes = osd_nodes(&sim);
    let on = |n: &str| nodes.iter().filter(|(_, m)| *m == n).map(|(d, _)| d.clone()).collect::<Vec<_>>();
    let (first, second, third) = ("node-00", "node-01", "node-02");
    assert!(!on(first).is_empty() && !on(second).is_empty() && !on(third).is_empty(), "{nodes:?}");
    // Rook's operator pod (where Ceph is asked) runs on the third node here: a down node
    // takes its pods with it, and this test is about the OSDs
    let operator = pod_names(&sim, "rook-ceph-operator").pop().expect("the operator pod");
    sim.update(&PODS, &ns(&sim), &operator, |p| p["spec"]["nodeName"] = third.into()).unwrap();
    // the first OSD patch of the second step takes the first node (already fenced) down
    let state = sim.state.clone();
    sim.faults().at_write_to(
        &on(second)[0],
        0,
        Box::new(move || rook_sim::kube::kubelet::set_node_down(&state, first, true)),
    );
    sim.clear_log();
    let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // Ceph is asked first and says no (the second node's OSDs hold the last up copy of
    // placement groups the first node's held); the run stops with its reason
    assert!(
        r.stderr.contains("Ceph says osd.")
            && r.stderr.contains("unsafe to stop osd(s)")
            && r.stderr.contains("stopped before the next step"),
        "{}",
        r.stderr
    );
    let patched: Vec<String> = sim.mutating_requests().iter().filter_map(|l| l.name.clone()).collect();
    assert!(on(third).iter().all(|d| !patched.contains(d)), "the third node's OSDs are not sent: {patched:?}");
    assert!(on(second).iter().all(|d| patched.contains(d)), "{patched:?}");
    sim.set_node_down(first, false);
}

on_both! {
    /// Issue 23 item 4: Rook's `upgradeOSDRequiresHealthyPGs` holds the fence's OSD steps as it
    /// holds Rook's own batches: with PGs undersized (a node down) the refusal says so, with
    /// the states Ceph reports; a `pgHealthyRegex` that does not compile refuses too.
    fn upgrade_osd_requires_healthy_pgs_holds_a_fence_of_osds() {
        let sim = sim_with(Crd::Released, 6);
        let name = ns(&sim);
        sim.update(&CEPHCLUSTERS, &name, &name, |c| c["spec"]["upgradeOSDRequiresHealthyPGs"] = true.into()).unwrap();
        sim.set_node_down("node-02", true);
        sim.clear_log();
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--dry-run"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("placement groups are not all clean") && r.stderr.contains("undersized"), "{}", r.stderr);
        assert!(ceph_commands(&sim).iter().any(|c| c == "ceph status -f json"), "{:?}", ceph_commands(&sim));
        sim.set_node_down("node-02", false);
        sim.update(&CEPHCLUSTERS, &name, &name, |c| c["spec"]["disruptionManagement"] = json!({"pgHealthyRegex": "(["}))
            .unwrap();
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("pgHealthyRegex `([` does not compile"), "{}", r.stderr);
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    }
}

on_both! {
    /// A `ceph` that answers garbage and exits 0 has not said yes (a fresh user's trial: the
    /// fence restarted every OSD on it): refused, nothing sent, the start of the answer shown
    /// sanitised; the health gate says when it reads Rook's copy instead.
    fn a_garbled_ok_to_stop_is_no_yes() {
        use rook_sim::ceph::state::FaultKind;
        let sim = sim_with(Crd::Released, 3);
        sim.ceph_fault(FaultKind::Garbage, Some("osd ok-to-stop"), None);
        sim.clear_log();
        let r = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--yes", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("not Ceph's ok-to-stop JSON")
                && r.stderr.contains("check that Ceph answers")
                && r.stderr.contains("Nothing was sent"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains('\x1b'), "{}", r.stderr);
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    }
}
