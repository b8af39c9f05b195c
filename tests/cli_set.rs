//! set / unset on the embedded server and on the real control plane (`on_both!`): exactly
//! the field asked for, exactly the pods the plan named, nothing written when refused, never
//! a lost update (another writer's change lands just before the plugin's write: in the
//! embedded store, or through the real server's API, `OtherWrite`).

mod common;

use std::collections::BTreeSet;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, CRDS};
use rook_sim::{Crd, Fault, FaultKind};
use serde_json::{Value, json};

const IMG: &str = "registry.example.com/ceph/ceph:v20.2.5-mgrfix";

fn restart_pods(plan: &Value) -> BTreeSet<String> {
    plan["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["action"] == "restart")
        .flat_map(|d| d["pods"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()))
        .collect()
}

/// Just before the plugin's write, another writer sets imageOverrides.mgr to `theirs`.
fn another_writer_sets_the_mgr_override(sim: &rook_sim::Sim, theirs: &'static str) {
    let theirs = json!({"spec": {"cephVersion": {"imageOverrides": {"mgr": theirs}}}});
    OtherWrite::merge(&CEPHCLUSTERS, &ns(sim), theirs).before_next_write(sim);
}

/// Embedded only: it deletes the CRD, which on the real control plane every other test
/// of this binary shares.
#[test]
fn missing_crd_says_rook_is_not_installed() {
    let sim = sim(Crd::Proposed);
    sim.state.store().delete(&CRDS, "", "cephclusters.ceph.rook.io", false).unwrap();
    let r = run(&sim, &["status"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is Rook installed?"), "{}", r.stderr);
}

on_both! {
    fn set_mgr_changes_only_the_override_and_restarts_exactly_the_planned_pods() {
        let sim = sim(Crd::Proposed);
        let before = cluster_fields(&sim);
        let pods_before = all_pods(&sim);
        let mgr: BTreeSet<String> = pod_names(&sim, "rook-ceph-mgr").into_iter().collect();
        let r = run(&sim, &["set", "mgr", IMG, "--yes", "-o", "json"]).ok();
        let out = r.json();
        assert_eq!(out["applied"], true);
        let planned = restart_pods(&out["plan"]);
        assert_eq!(planned, mgr, "the plan names exactly the mgr pods");

        // Only imageOverrides.mgr changed; every other field is identical.
        let mut after = cluster_fields(&sim);
        assert_eq!(after["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
        after["spec"]["cephVersion"].as_object_mut().unwrap().remove("imageOverrides");
        let mut before_cmp = before.clone();
        for v in [&mut after, &mut before_cmp] {
            v["metadata"].as_object_mut().unwrap().remove("managedFields");
        }
        assert_eq!(after, before_cmp);

        // The request: one merge patch, precondition, field manager, only the field.
        let patches: Vec<_> = sim.mutating_requests();
        assert_eq!(patches.len(), 1, "{patches:?}");
        let p = &patches[0];
        assert_eq!(p.verb, "patch");
        assert!(p.content_type.starts_with("application/merge-patch+json"));
        assert!(p.query.contains("fieldManager=kubectl-ceph-image"));
        let body: Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["spec"], serde_json::json!({"cephVersion": {"imageOverrides": {"mgr": IMG}}}));
        assert!(body["metadata"]["resourceVersion"].is_string());

        // After the simulated operator ran: exactly the planned pods were replaced.
        sim.settle();
        let pods_after = all_pods(&sim);
        let gone: BTreeSet<String> = pods_before.keys().filter(|k| !pods_after.contains_key(*k)).cloned().collect();
        assert_eq!(gone, planned);
        assert_eq!(pods_before.len(), pods_after.len());
    }

    fn released_crd_is_refused_with_the_reason_and_nothing_is_written() {
        let sim = sim(Crd::Released);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("no spec.cephVersion.imageOverrides"), "{}", r.stderr);
        assert!(r.stderr.contains("silently drop"), "{}", r.stderr);
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()), "no write of any kind: {:?}", sim.log());
        // base image changes are fine on released Rook
        run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--yes"]).ok();
    }

    fn forbidden_crd_read_falls_back_to_a_dry_run_probe() {
        let sim = sim(Crd::Released);
        sim.faults().add(Fault::new(FaultKind::Forbidden).verb("get").resource("customresourcedefinitions"));
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("no spec.cephVersion.imageOverrides"), "{}", r.stderr);
        assert!(sim.mutating_requests().is_empty());
        assert!(sim.log().iter().any(|l| l.verb == "patch" && l.is_dry_run()), "the probe is a dryRun=All patch");

        let sim = common::sim(Crd::Proposed);
        sim.faults().add(Fault::new(FaultKind::Forbidden).verb("get").resource("customresourcedefinitions"));
        run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
    }

    fn bad_input_exits_2_and_sends_no_mutating_request() {
        let sim = sim(Crd::Proposed);
        for (args, why) in [
            (&["set", "mgrs", IMG, "--yes"][..], "unknown daemon type \"mgrs\""),
            (&["set", "mgr", "Quay.io/Ceph:v1", "--yes"][..], "invalid image reference"),
            (&["set", "mgr", "quay.io/ceph/ceph@sha256:abc", "--yes"][..], "digest"),
            (&["unset", "base", "--yes"][..], "cannot be unset"),
            (&["pause", "osd12", "--yes"][..], "did you mean osd.12?"),
            (&["set", "mrg", IMG, "--yes"][..], "did you mean mgr?"),
            (&["set", "bsae", IMG, "--yes"][..], "did you mean base"),
            (&["pause", "osd.x", "--yes"][..], "an OSD id is a number"),
            (&["pause", "osd.999", "--yes"][..], "no daemon osd.999"),
            (&["pause", "crash.node-00", "--yes"][..], "cannot pause crash"),
            (&["pause", "crash", "--yes"][..], "cannot pause crash: Rook does not honour"),
            (&["pause", "osd", "--yes"][..], "would pause every osd"),
            (&["pause", "osd", "--node", "nowhere", "--yes"][..], "no osd daemon on node"),
            (&["set", "mgr", IMG][..], "no terminal to confirm on"),
            (&["pause", "osd.1"][..], "no terminal to confirm on"),
            (&["-n", "nope", "status"][..], "namespace \"nope\" does not exist"),
            (&["--cluster", "other", "status"][..], "no CephCluster named \"other\""),
            (&["status", "--request-timeout", "soon"][..], "--request-timeout"),
            (&["set", "mgr"][..], "IMAGE"),
        ] {
            let r = run(&sim, args);
            assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
            assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        }
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    }

    fn dry_runs_send_nothing_that_persists() {
        let sim = sim(Crd::Proposed);
        // What a write of the plugin could change: spec, labels, annotations (the simulated
        // Rook writes the status at any time on the real server, so not the whole object).
        let persisted = |c: serde_json::Value| {
            serde_json::json!([c["spec"], c["metadata"]["labels"], c["metadata"]["annotations"], c["metadata"]["generation"]])
        };
        let before = persisted(sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap());
        let r = run(&sim, &["set", "mgr", IMG, "--dry-run"]).ok();
        assert!(
            r.stdout.contains(&format!("cephcluster.ceph.rook.io/{} (merge patch, resourceVersion precondition)", ns(&sim))),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains(&format!("\"mgr\":\"{IMG}\"")), "the exact patch: {}", r.stdout);
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()));
        let r = run(&sim, &["set", "mgr", IMG, "--dry-run=server", "-o", "json"]).ok();
        assert_eq!(r.json()["dryRun"], "server");
        assert!(sim.log().iter().any(|l| l.verb == "patch" && l.is_dry_run()));
        assert!(sim.mutating_requests().is_empty());
        assert_eq!(persisted(sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap()), before);
    }

    fn exit_code_tells_a_script_whether_anything_would_restart() {
        let sim = sim(Crd::Proposed);
        assert_eq!(run(&sim, &["set", "mgr", IMG, "--dry-run", "--exit-code"]).code, 4);
        assert_eq!(run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.4", "--dry-run", "--exit-code"]).code, 0, "no-op");
        assert_eq!(run(&sim, &["unset", "mgr", "--dry-run", "--exit-code"]).code, 0, "nothing to unset");
    }

    fn unset_returns_the_type_to_the_base_image() {
        let sim = sim(Crd::Proposed);
        run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        sim.settle();
        let mgr_before = pod_names(&sim, "rook-ceph-mgr");
        let others_before: Vec<String> =
            all_pods(&sim).into_iter().filter(|(_, a)| a != "rook-ceph-mgr").map(|(n, _)| n).collect();
        let out = run(&sim, &["unset", "mgr", "--yes", "-o", "json"]).ok().json();
        assert_eq!(restart_pods(&out["plan"]), mgr_before.iter().cloned().collect());
        sim.settle();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert!(c["spec"]["cephVersion"]["imageOverrides"].get("mgr").is_none());
        let others_after: Vec<String> =
            all_pods(&sim).into_iter().filter(|(_, a)| a != "rook-ceph-mgr").map(|(n, _)| n).collect();
        assert_eq!(others_before, others_after);
        assert!(pod_names(&sim, "rook-ceph-mgr").iter().all(|p| !mgr_before.contains(p)));
    }

    fn verbose_logs_requests_and_never_the_token() {
        let sim = sim(Crd::Proposed);
        let token = sim.token().to_string();
        for args in [&["status", "-v"][..], &["set", "mgr", IMG, "--yes", "-v"][..], &["pause", "osd.1", "--yes", "-v"][..]]
        {
            let r = run(&sim, args).ok();
            let list = format!("GET /apis/ceph.rook.io/v1/namespaces/{}/cephclusters", ns(&sim));
            assert!(r.stderr.contains(&list), "{}", r.stderr);
            assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token), "{args:?} leaked the token");
        }
        // nor in an error
        let r = run(&sim, &["--context", "nope", "status", "-v"]);
        assert_eq!(r.code, 1);
        assert!(!r.stderr.contains(&token));
        assert!(r.stderr.contains("\"nope\" is not in the kubeconfig"), "{}", r.stderr);
    }

    fn a_concurrent_writer_is_never_lost() {
        let sim = sim(Crd::Proposed);
        OtherWrite::merge(&CEPHCLUSTERS, &ns(&sim), json!({"spec": {"mon": {"count": 5}}})).before_next_write(&sim);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["mon"]["count"], 5, "the other writer's change survives");
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG, "applied after a re-read");
        let statuses: Vec<u16> = sim.log().iter().filter(|l| l.verb == "patch").map(|l| l.status).collect();
        // 409 first; then, after re-reads (the simulated operator's status writes may cause
        // more 409s), one success.
        assert_eq!(statuses.first(), Some(&409));
        assert_eq!(statuses.last(), Some(&200));
        assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 409), "{statuses:?}");
    }

    fn a_concurrent_change_elsewhere_does_not_fail_an_unchanged_plan() {
        let sim = sim(Crd::Proposed);
        // Another writer moves the base image between our read and our write: the mgr still
        // moves to IMG and nothing else of ours changes, so the change is applied, and the
        // other writer's base image is kept.
        let image = json!({"spec": {"cephVersion": {"image": "quay.io/ceph/ceph:v20.2.6"}}});
        OtherWrite::merge(&CEPHCLUSTERS, &ns(&sim), image).before_next_write(&sim);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["image"], "quay.io/ceph/ceph:v20.2.6");
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
    }

    fn a_concurrent_change_of_the_same_field_is_never_overwritten_with_yes() {
        let sim = sim(Crd::Proposed);
        const THEIRS: &str = "quay.io/ceph/ceph:v20.2.6";
        another_writer_sets_the_mgr_override(&sim, THEIRS);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("spec.cephVersion.imageOverrides.mgr was (none)")
                && r.stderr.contains(THEIRS)
                && r.stderr.contains(IMG),
            "both values named: {}",
            r.stderr
        );
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], THEIRS, "theirs is kept");
        let ours: Vec<_> = sim.log().into_iter().filter(|l| l.verb == "patch" && l.status == 200).collect();
        assert!(ours.is_empty(), "nothing of ours was written: {ours:?}");
    }

    fn several_clusters_need_cluster_flag() {
        let sim = sim(Crd::Proposed);
        let mut second = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        second["metadata"] = json!({"name": "second", "namespace": ns(&sim)});
        second.as_object_mut().unwrap().remove("status");
        if real() {
            // as the admin, straight to the server: not a request of the plugin's
            let cp = common::control_plane::control_plane(Crd::Proposed);
            cp.kubectl_stdin("admin", &["create", "-f", "-"], &second.to_string());
        } else {
            sim.state.store().create(&CEPHCLUSTERS, &ns(&sim), second, false).unwrap();
        }
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("has 2 CephClusters") && r.stderr.contains("--cluster") && r.stderr.contains("second"),
            "{}",
            r.stderr
        );
        assert!(sim.mutating_requests().is_empty());
        run(&sim, &["set", "mgr", IMG, "--yes", "--cluster", "second"]).ok();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), "second").unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
    }

    /// Issue 12: on a terminal, a concurrent change of the same field shows the new plan and
    /// asks again; yes replaces the other writer's value, and only then.
    fn a_concurrent_change_of_the_same_field_is_asked_again_on_a_terminal() {
        use common::pty::Pty;
        let sim = sim(Crd::Proposed);
        const THEIRS: &str = "quay.io/ceph/ceph:v20.2.6";
        another_writer_sets_the_mgr_override(&sim, THEIRS);
        let mut cmd = std::process::Command::new(bin());
        cmd.env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm").args(["set", "mgr", IMG]);
        let mut p = Pty::spawn(cmd);
        p.expect("Apply this change to CephCluster");
        p.send("y"); // dialoguer takes y at once, without Enter
        p.expect(&format!("Replace {THEIRS} with {IMG}"));
        let screen = p.screen();
        assert!(screen.contains("spec.cephVersion.imageOverrides.mgr was (none) when this command read it"), "{screen}");
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], THEIRS, "nothing overwritten before the answer");
        p.send("y");
        // The simulated operator rolls the other writer's image meanwhile and writes the
        // CephCluster's status: what this change restarts may differ once more, and is asked.
        let mut answered = 2;
        while p.child.try_wait().unwrap().is_none() {
            let asked = p.screen().matches("[y/N]").count();
            if asked > answered {
                assert!(p.screen().contains("Apply the new plan?"), "{}", p.screen());
                p.send("y");
                answered = asked;
            }
            assert!(answered < 8, "asked again and again: {}", p.screen());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(p.wait(), 0, "{}", p.screen());
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG, "replaced after the second yes");
    }

    /// Found on the real control plane: where the CRD may not be read, the dryRun=All probe
    /// carried the snapshot's resourceVersion, so a status write by Rook between the read and
    /// the probe failed the whole command with 409. The probe asks only whether the field
    /// survives; the real write keeps its precondition (and its re-read on 409).
    fn a_status_write_before_the_probe_does_not_fail_the_change() {
        let sim = sim(Crd::Proposed);
        sim.faults().add(Fault::new(FaultKind::Forbidden).verb("get").resource("customresourcedefinitions"));
        let checked = json!({"status": {"ceph": {"lastChecked": "2026-12-07T00:00:00.000Z"}}});
        OtherWrite::merge(&CEPHCLUSTERS, &ns(&sim), checked).of_status().before_next_write(&sim);
        run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
        let probe = sim.log().into_iter().find(|l| l.verb == "patch" && l.is_dry_run()).expect("the probe");
        assert_eq!(probe.status, 200, "the probe is not refused by the status write");
    }
}

/// 1200 OSDs: on the embedded server only (the real one would need minutes to create them).
#[test]
fn reading_costs_a_handful_of_requests() {
    let sim = sim_with(Crd::Proposed, 1200);
    run(&sim, &["status", "-o", "json"]).ok();
    let log = sim.log();
    let objects = 3 + 2 + 1200 + 2 + 1 + 1 + 1 + 1 + 2 * 100;
    // the CephCluster list, the CRD (does it have imageOverrides?), the pages; then Ceph:
    // the operator pod's list and its two execs (`ceph health detail`, `ceph versions`)
    let expected = 2 + 2 * (objects as usize).div_ceil(500) + 3;
    assert_eq!(log.len(), expected, "{:?}", log.iter().map(|l| &l.path).collect::<Vec<_>>());
    assert_eq!(log.iter().filter(|l| l.resource == "customresourcedefinitions").count(), 1);
    assert!(
        log.iter().filter(|l| l.verb == "list" && l.resource != "cephclusters").all(|l| l.query.contains("limit=500"))
    );
}
