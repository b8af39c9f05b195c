//! Issue 15: `upgrade IMAGE` against rook-sim on both CRDs: every daemon ends on the image
//! with nothing of the upgrade's left, each replaced exactly once, in stage order; the
//! canary stops and `upgrade resume` goes on; a killed run resumes; a daemon that never
//! comes Ready stops the upgrade at its batch; the dry run's JSON has the stages.

mod common;

use std::collections::BTreeMap;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use rook_sim::{Crd, Sim};
use serde_json::Value;

const IMG: &str = "quay.io/ceph/ceph:v20.2.6";
const NS: &str = "rook-ceph";

fn deployments(sim: &Sim) -> Vec<Value> {
    sim.list(&DEPLOYMENTS, NS)
}

fn app(d: &Value) -> String {
    d["metadata"]["labels"]["app"].as_str().unwrap_or_default().to_string()
}

/// Every Deployment runs IMG in every container that runs Ceph (the NFS Ganesha container
/// keeps its own image; the mgr's watch-active helper runs the Rook image).
fn all_on_target(sim: &Sim) -> Vec<String> {
    let mut off = Vec::new();
    for d in deployments(sim) {
        for c in d["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
            let img = c["image"].as_str().unwrap_or_default();
            if img.starts_with("quay.io/ceph/ceph:") && img != IMG {
                off.push(format!("{} {}", d["metadata"]["name"], c["name"]));
            }
        }
    }
    off
}

fn nothing_left(sim: &Sim) {
    for d in deployments(sim) {
        assert!(
            d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(),
            "hold left: {}",
            d["metadata"]["name"]
        );
        assert!(
            d["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-hold").is_none(),
            "upgrade annotation left: {}",
            d["metadata"]["name"]
        );
    }
    let c = sim.get(&CEPHCLUSTERS, NS, NS).unwrap();
    assert_eq!(c["spec"]["cephVersion"]["image"], IMG);
    assert!(
        c["spec"]["cephVersion"].get("imageOverrides").is_none(),
        "overrides left (an empty map too): {}",
        c["spec"]["cephVersion"]["imageOverrides"]
    );
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_none(), "state left");
    assert!(c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "cluster label left");
}

fn full_upgrade(crd: Crd) {
    let sim = sim_with(crd, 12);
    sim.reset_replacements();
    let nodes: BTreeMap<String, String> = deployments(&sim)
        .iter()
        .filter(|d| app(d) == "rook-ceph-osd")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap().to_string(),
                d["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Upgrade done"), "{}", r.stdout);
    sim.settle();
    assert!(all_on_target(&sim).is_empty(), "not on the target: {:?}", all_on_target(&sim));
    nothing_left(&sim);
    // Each daemon replaced exactly once.
    let counts = sim.replacements(NS);
    for d in deployments(&sim) {
        let name = d["metadata"]["name"].as_str().unwrap();
        assert_eq!(counts.get(name).copied().unwrap_or(0), 1, "{name} replaced {:?} times", counts.get(name));
    }
    // Stage order: no RGW (nor, where it can be held back, MDS) before the last OSD.
    let order: Vec<String> = sim.replacement_log(NS).into_iter().map(|(_, d)| d).collect();
    let last_osd = order.iter().rposition(|d| d.starts_with("rook-ceph-osd-")).unwrap();
    let first_mon_done = order.iter().rposition(|d| d.starts_with("rook-ceph-mon-")).unwrap();
    for (i, d) in order.iter().enumerate() {
        if d.starts_with("rook-ceph-rgw-") || (crd == Crd::Proposed && d.starts_with("rook-ceph-mds-")) {
            assert!(i > last_osd, "{d} replaced before the last OSD: {order:?}");
        }
        if d.starts_with("rook-ceph-mgr-") || d.starts_with("rook-ceph-osd-") {
            assert!(i > first_mon_done, "{d} replaced before the mons were done: {order:?}");
        }
    }
    // OSD batches: the nodes come one after another, never interleaved.
    let osd_nodes: Vec<&String> = order.iter().filter_map(|d| nodes.get(d)).collect();
    let mut seen: Vec<&String> = Vec::new();
    for n in osd_nodes {
        if seen.last() != Some(&n) {
            assert!(!seen.contains(&n), "node {n} again after another node: {order:?}");
            seen.push(n);
        }
    }
}

#[test]
fn an_upgrade_on_the_proposed_crd_moves_every_daemon_once_in_stage_order() {
    full_upgrade(Crd::Proposed);
}

#[test]
fn an_upgrade_on_the_released_crd_moves_every_daemon_once_in_stage_order() {
    full_upgrade(Crd::Released);
}

#[test]
fn the_dry_run_lists_stages_batches_and_gates_and_sends_nothing() {
    let sim = sim_with(Crd::Released, 12);
    sim.clear_log();
    let r = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json", "--canary", "1"]).ok();
    assert!(sim.mutating_requests().is_empty(), "a dry run sends nothing");
    let j = r.json();
    let stages = j["plan"]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..4], &["prepare", "mon", "mgr", "osd canary (1 of 12)"], "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("osd batch")).count() == 3, "{names:?}");
    assert!(stages.iter().skip(1).all(|s| !s["gates"].as_array().unwrap().is_empty()));
    assert_eq!(j["plan"]["levers"], "holds");
    // Released Rook: what cannot be held moves in the mon stage, and the plan says so.
    assert!(j["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "moves-early"));
    let mon = &stages[1];
    assert!(mon["daemons"].as_array().unwrap().iter().any(|d| d["type"] == "mds" && d["early"] == true));
    assert!(!j["firstWrites"].as_array().unwrap().is_empty());
    // Text: totals last.
    let t = run(&sim, &["upgrade", IMG, "--dry-run"]).ok();
    assert!(t.stdout.trim_end().ends_with("Dry run: nothing was sent."), "{}", t.stdout);
}

#[test]
fn the_canary_stops_and_resume_goes_on_without_a_second_restart() {
    let sim = sim_with(Crd::Proposed, 12);
    sim.reset_replacements();
    let r = run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Canary done: osd.0"), "{}", r.stdout);
    sim.settle();
    let osds_moved: Vec<String> =
        sim.replacements(NS).into_keys().filter(|d| d.starts_with("rook-ceph-osd-")).collect();
    assert_eq!(osds_moved, vec!["rook-ceph-osd-0".to_string()], "one OSD only");
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "paused");
    // status says an upgrade is under way, in text and JSON.
    let status = run(&sim, &["status"]).ok();
    assert!(
        status.stdout.contains(&format!("Upgrade under way: to {IMG}, paused at stage osd canary")),
        "{}",
        status.stdout
    );
    let sj = run(&sim, &["status", "-o", "json"]).ok().json();
    assert_eq!(sj["upgrade"]["phase"], "paused");
    let r = run(&sim, &["upgrade", "resume", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(sim.replacements(NS).values().all(|n| *n == 1), "{:?}", sim.replacements(NS));
    assert_eq!(run(&sim, &["status", "-o", "json"]).ok().json()["upgrade"], Value::Null, "none once done");
}

#[test]
fn a_killed_upgrade_resumes_without_restarting_a_daemon_twice() {
    let sim = slow_sim(Crd::Released, 150);
    sim.reset_replacements();
    let mut child = std::process::Command::new(bin())
        .env("KUBECONFIG", sim.kubeconfig())
        .args(["upgrade", IMG, "--yes"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the mgr stage has started (bounded wait, no timing asserted).
    for _ in 0..600 {
        if sim.replacements(NS).keys().any(|d| d.starts_with("rook-ceph-mgr-")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    sim.settle();
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["params"]["image"], IMG, "the state survives the process");
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(all_on_target(&sim).is_empty());
    assert!(sim.replacements(NS).values().all(|n| *n == 1), "{:?}", sim.replacements(NS));
}

#[test]
fn a_daemon_that_never_comes_ready_stops_the_upgrade_at_its_batch() {
    let sim = sim_with(Crd::Proposed, 12);
    sim.never_ready(NS, "rook-ceph-osd-4");
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("did not pass its gate") && r.stderr.contains("osd.4"), "{}", r.stderr);
    sim.settle();
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "failed");
    assert!(st["state"]["stage"].as_str().unwrap().contains("node-01"), "{st}");
    // Nothing after that batch moved: node-02's OSDs and the gateways are still held.
    let held: Vec<String> = deployments(&sim)
        .iter()
        .filter(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some())
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        held.contains(&"rook-ceph-osd-2".to_string()) && held.iter().any(|d| d.starts_with("rook-ceph-rgw-")),
        "{held:?}"
    );
}

#[test]
fn health_err_holds_the_next_stage() {
    let sim = sim_with(Crd::Proposed, 6);
    sim.set_health(NS, Some("HEALTH_ERR"));
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("HEALTH_ERR"), "{}", r.stderr);
    // The mons moved (the first stage that restarts); the mgrs did not.
    let mgr_held = deployments(&sim)
        .iter()
        .filter(|d| app(d) == "rook-ceph-mgr")
        .all(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some());
    assert!(mgr_held, "the mgr stage did not start");
}

#[test]
fn bad_orders_and_flags_are_refused_before_anything_is_sent() {
    let sim = sim(Crd::Proposed);
    sim.clear_log();
    for (args, why) in [
        (&["upgrade", IMG, "--order", "mgr,mon", "--yes"][..], "before the mons"),
        (&["upgrade", IMG, "--order", "mon,osd,osd", "--yes"][..], "twice"),
        (&["upgrade", "quay.io/ceph/ceph:v18.2.0", "--yes"][..], "cannot be downgraded"),
        (&["upgrade", IMG, "--wait", "--yes"][..], "--wait does not apply"),
        (&["upgrade", "status", "--canary", "1"][..], "unexpected argument '--canary'"),
        (&["upgrade", "resume", "--yes"][..], "no upgrade is under way"),
    ] {
        let r = run(&sim, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
}

#[test]
fn typos_of_subcommands_and_floating_images_are_not_targets() {
    let sim = sim(Crd::Proposed);
    sim.clear_log();
    for (args, why) in [
        (&["upgrade", "stauts", "--dry-run"][..], "did you mean status?"),
        (&["upgrade", "abrot", "--yes"][..], "did you mean abort?"),
        (&["upgrade", "quay.io/ceph/ceph", "--dry-run"][..], "names no tag or digest"),
    ] {
        let r = run(&sim, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
    assert!(sim.mutating_requests().is_empty());
    let j = run(&sim, &["upgrade", "quay.io/ceph/ceph:latest", "--dry-run", "-o", "json"]).ok().json();
    assert!(j["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "unknown-version"), "{j}");
}

#[test]
fn an_aborted_upgrade_names_every_hold_and_resume_releases_them_whole() {
    let sim = sim_with(Crd::Released, 6);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    assert!(r.stdout.contains("Canary done"), "{}", r.stdout);
    let r = run(&sim, &["upgrade", "abort", "--yes"]).ok();
    let held: Vec<String> = deployments(&sim)
        .iter()
        .filter(|d| d["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-hold").is_some())
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!held.is_empty());
    let ids: Vec<&str> = r
        .stdout
        .split("do-not-reconcile label: ")
        .nth(1)
        .unwrap()
        .split(". `kubectl")
        .next()
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(ids.len(), held.len(), "every hold named: {}", r.stdout);
    let mut args = vec!["resume"];
    args.extend(ids.iter().copied());
    args.push("--yes");
    run(&sim, &args).ok();
    for d in deployments(&sim) {
        assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "{}", d["metadata"]["name"]);
        assert!(
            d["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-hold").is_none(),
            "{}",
            d["metadata"]["name"]
        );
    }
}

/// Every field shape: the dry run plans (exit 0) or refuses with its reason (exit 2), and
/// sends nothing. A Rook before v1.19, which ignores the CephCluster-level label that
/// releases each stage, is refused whatever its CRD.
#[test]
fn the_dry_run_plans_or_refuses_on_every_field_shape() {
    use rook_sim::{OperatorConfig, SimOptions};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/field");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut refused_old_rook = 0;
    for f in files {
        let sim = Sim::start(SimOptions {
            from: vec![f.clone()],
            crd: Crd::Proposed,
            operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
            ..Default::default()
        })
        .expect("the field file loads");
        sim.clear_log();
        let ns = sim.namespaces[0].clone();
        let r = run(&sim, &["-n", &ns, "upgrade", IMG, "--dry-run", "-o", "json"]);
        assert!(r.code == 0 || r.code == 2, "{}: exit {}\n{}", f.display(), r.code, r.stderr);
        if r.code == 0 {
            let stages = r.json()["plan"]["stages"].as_array().unwrap().len();
            assert!(stages > 0, "{}: nothing planned", f.display());
        } else {
            assert!(r.stderr.contains("error: "), "{}: {}", f.display(), r.stderr);
            refused_old_rook += usize::from(r.stderr.contains("honours from v1.19"));
        }
        assert!(sim.mutating_requests().is_empty(), "{}", f.display());
    }
    assert!(refused_old_rook > 0, "the field shapes include a Rook before v1.19");
}

/// Rook writes the CephCluster's status all the time: 409s on the upgrade's own writes of
/// the CephCluster are read again and planned again, never the end of the upgrade.
#[test]
fn conflicts_on_the_cephcluster_are_read_again_not_fatal() {
    use rook_sim::{Fault, FaultKind};
    let sim = sim_with(Crd::Proposed, 6);
    sim.reset_replacements();
    // The third CephCluster patch is the base image's (after two state records).
    sim.faults().add(Fault::new(FaultKind::Conflict).verb("patch").resource("cephclusters").skip(2).times(1));
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(sim.replacements(NS).values().all(|n| *n == 1), "{:?}", sim.replacements(NS));
}

/// More stages than the slack the upgrade gives itself for plans made again (64): the
/// upgrade goes to the end. The bound on its rounds is the first plan's stages, not the
/// stages still left, which shrink as the rounds grow (benches/upgrade.rs found it: a
/// 2000-OSD upgrade, 167 OSD batches, stopped at batch 118 "making no progress").
#[test]
fn an_upgrade_of_many_osd_batches_goes_to_the_end() {
    let sim = sim_with(Crd::Proposed, 72);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--max-unavailable", "1", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.matches("stage osd batch").count() >= 72, "{}", r.stderr);
    sim.settle();
    assert!(all_on_target(&sim).is_empty(), "not on the target: {:?}", all_on_target(&sim));
    nothing_left(&sim);
}
