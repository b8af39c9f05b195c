//! Issue 15: `upgrade IMAGE` against rook-sim on both CRDs: every daemon ends on the image
//! with nothing of the upgrade's left, each replaced exactly once, in stage order; the
//! canary stops and `upgrade resume` goes on; a killed run resumes; a daemon that never
//! comes Ready stops the upgrade at its batch; the dry run's JSON has the stages. The ones
//! in `on_both!` (the staged upgrade, --prepull, a failed gate, Ctrl-C and kill -9 with
//! resume) run on the real control plane too.

mod common;

use std::collections::BTreeMap;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use rook_sim::{Crd, Sim};
use serde_json::Value;

const IMG: &str = "quay.io/ceph/ceph:v20.2.6";

/// The cluster's daemon Deployments (`rook_cluster`), not the Rook operator's own.
fn deployments(sim: &Sim) -> Vec<Value> {
    let mut all = sim.list(&DEPLOYMENTS, &ns(sim));
    all.retain(|d| d["metadata"]["labels"].get("rook_cluster").is_some());
    all
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
    let c = sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap();
    assert_eq!(c["spec"]["cephVersion"]["image"], IMG);
    assert!(
        c["spec"]["cephVersion"].get("imageOverrides").is_none(),
        "overrides left (an empty map too): {}",
        c["spec"]["cephVersion"]["imageOverrides"]
    );
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_none(), "state left");
    assert!(c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "cluster label left");
    no_osd_flag_left(sim);
}

/// Ceph has no noout (cluster-wide or on a CRUSH node or OSD) nor noautoscale set: the
/// upgrade removed every flag it set (issue 23 item 5).
fn no_osd_flag_left(sim: &Sim) {
    let c = sim.ceph_state(&ns(sim));
    assert!(!c.flags.contains("noout") && !c.flags.contains("noautoscale"), "flags left: {:?}", c.flags);
    assert!(c.group_flags.is_empty(), "flags left on CRUSH nodes or OSDs: {:?}", c.group_flags);
}

/// From the embedded server's request log, in order: each OSD Deployment the upgrade
/// released (its hold removed) was released while `noout` was set on its node's CRUSH
/// host and `noautoscale` was set, and both were unset after (issue 23 item 5).
fn osd_releases_were_under_noout(sim: &Sim, nodes: &BTreeMap<String, String>) {
    let (mut noout, mut noautoscale, mut released) = (std::collections::BTreeSet::new(), false, 0);
    for r in sim.log() {
        if r.path.ends_with("/exec") {
            let args: Vec<&str> = r.query.split('&').filter_map(|kv| kv.strip_prefix("command=")).collect();
            match args.get(1..4) {
                Some(["osd", "set-group", "noout"]) => noout.extend(args[4..].iter().map(|a| a.to_string())),
                Some(["osd", "unset-group", "noout"]) => args[4..].iter().for_each(|a| {
                    noout.remove(*a);
                }),
                Some(["osd", "pool", verb]) if args.get(4) == Some(&"noautoscale") => noautoscale = *verb == "set",
                _ => {}
            }
        } else if r.method == "PATCH"
            && let Some(node) = r.name.as_ref().and_then(|n| nodes.get(n))
            && r.body.as_deref().is_some_and(|b| b.contains("\"ceph.rook.io/do-not-reconcile\":null"))
        {
            released += 1;
            assert!(noout.contains(node), "{:?} released without noout on {node}: {noout:?}", r.name);
            assert!(noautoscale, "{:?} released without noautoscale", r.name);
        }
    }
    assert!(released > 0, "no OSD release seen in the log");
    assert!(noout.is_empty() && !noautoscale, "left set at the end: {noout:?}, noautoscale {noautoscale}");
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
    if !real() {
        osd_releases_were_under_noout(&sim, &nodes);
    }
    // Each daemon replaced exactly once.
    let counts = sim.replacements(&ns(&sim));
    for d in deployments(&sim) {
        let name = d["metadata"]["name"].as_str().unwrap();
        assert_eq!(counts.get(name).copied().unwrap_or(0), 1, "{name} replaced {:?} times", counts.get(name));
    }
    // Stage order: no RGW (nor, where it can be held back, MDS) before the last OSD.
    let order: Vec<String> = sim.replacement_log(&ns(&sim)).into_iter().map(|(_, d)| d).collect();
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

fn cluster_images(sim: &Sim) -> (String, Value) {
    let c = sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap();
    (
        c["spec"]["cephVersion"]["image"].as_str().unwrap().to_string(),
        c["spec"]["cephVersion"]["imageOverrides"].clone(),
    )
}

fn ceph_image_of(d: &Value) -> String {
    d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
}

/// A simulation whose nodes take `pull_ms` to pull an image they do not have (on the real
/// control plane too: its pods are run by the same simulated kubelets).
fn pulling_sim(topology: rook_sim::Topology, pull_ms: u64) -> Sim {
    use rook_sim::{OperatorConfig, SimOptions};
    let pull_delay = std::time::Duration::from_millis(pull_ms);
    if real() {
        let operator = OperatorConfig {
            daemon_delay: std::time::Duration::ZERO,
            ready_delay: std::time::Duration::from_millis(20),
            pull_delay,
            ..Default::default()
        };
        return common::control_plane::control_plane(Crd::Proposed).sim_of("t", topology, operator, None);
    }
    Sim::start(SimOptions {
        topology,
        crd: Crd::Proposed,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, pull_delay, ..Default::default() },
        ..Default::default()
    })
    .expect("simulated cluster starts")
}

/// The pre-pull pods there are now (by their labels).
fn prepull_pods(sim: &Sim) -> Vec<String> {
    use rook_sim::resources::PODS;
    sim.list(&PODS, &ns(sim))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/component"] == "prepull")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The node of each Deployment's pods now (daemons run where they ran: OSDs, mons, crash
/// and exporter are pinned, the rest stay where the simulation placed them).
fn deployment_nodes(sim: &Sim) -> BTreeMap<String, String> {
    use rook_sim::resources::PODS;
    sim.list(&PODS, &ns(sim))
        .iter()
        .filter_map(|p| Some((rook_sim::kube::kubelet::deployment_of(p)?, p["spec"]["nodeName"].as_str()?.to_string())))
        .collect()
}

/// Create a pod with the real kubectl (a pod left by an earlier run, or someone else's).
fn create_pod(sim: &Sim, pod: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pod.json");
    std::fs::write(&f, pod.to_string()).unwrap();
    kubectl_ok(sim, &["-n", &ns(sim), "create", "--validate=false", "-f", f.to_str().unwrap()]);
}

/// Every field shape: the dry run plans (exit 0) or refuses with its reason (exit 2), and
/// sends nothing. A Rook before v1.19, which ignores the CephCluster-level label that
/// releases each stage, is refused whatever its CRD. Embedded only: every dump, each a
/// simulation of its own (tests/control_plane.rs loads three onto the real server).
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
        let ns = sim.namespaces[0].clone();
        // A copy whose status.ceph is absent or days old: the upgrade refuses to start on
        // it (its own test); here the shapes are planned, so the simulated Rook reports a
        // health first.
        let r = run(&sim, &["-n", &ns, "upgrade", IMG, "--dry-run"]);
        if r.code == 1 && (r.stderr.contains("status.ceph.health is absent") || r.stderr.contains("last checked")) {
            sim.set_health(&ns, None);
        }
        sim.clear_log();
        let r = run(&sim, &["-n", &ns, "upgrade", IMG, "--dry-run", "-o", "json"]);
        // exit 1: refused to start while OSDs are down (a crashlooping removal), the plan shown
        let down = r.code == 1 && r.stderr.contains("OSDs of another failure domain are down");
        assert!(r.code == 0 || r.code == 2 || down, "{}: exit {}\n{}", f.display(), r.code, r.stderr);
        if r.code == 0 || down {
            let stages = r.json()["plan"]["stages"].as_array().unwrap().len();
            assert!(stages > 0, "{}: nothing planned", f.display());
        } else {
            assert!(r.stderr.contains("error: "), "{}: {}", f.display(), r.stderr);
            refused_old_rook += usize::from(r.stderr.contains("honours from v1.19"));
        }
        // --types on the same shapes: a plan of the named types only, or a refusal.
        let r = run(&sim, &["-n", &ns, "upgrade", IMG, "--types", "mon,mgr", "--dry-run", "-o", "json"]);
        let down = r.code == 1 && r.stderr.contains("OSDs of another failure domain are down");
        assert!(r.code == 0 || r.code == 2 || down, "{} --types: exit {}\n{}", f.display(), r.code, r.stderr);
        if r.code == 0 || down {
            for s in r.json()["plan"]["stages"].as_array().unwrap() {
                for d in s["daemons"].as_array().unwrap() {
                    assert!(d["type"] == "mon" || d["type"] == "mgr", "{} --types moves {d}", f.display());
                }
            }
        }
        assert!(sim.mutating_requests().is_empty(), "{}", f.display());
    }
    assert!(refused_old_rook > 0, "the field shapes include a Rook before v1.19");
}

/// More stages than the slack the upgrade gives itself for plans made again (64): the
/// upgrade goes to the end. The bound on its rounds is the first plan's stages, not the
/// stages still left, which shrink as the rounds grow (benches/upgrade.rs found it: a
/// 2000-OSD upgrade, 167 OSD batches, stopped at batch 118 "making no progress"). Embedded
/// only: 72 OSD batches one after another, minutes of real rollouts for a bound on rounds.
/// A major upgrade (Squid to Tentacle) ends with `require-osd-release tentacle` once every
/// OSD runs Tentacle: the simulated Rook, like a released Rook whose last OSD reconcile ended
/// before the OSDs reported one version, does not set it (issue 23 item 5).
#[test]
fn a_major_upgrade_sets_require_osd_release_at_the_end() {
    let topology = rook_sim::Topology { osds: 6, ceph_image: "quay.io/ceph/ceph:v19.2.3".into(), ..Default::default() };
    let sim = Sim::start(rook_sim::SimOptions { topology, crd: Crd::Released, ..Default::default() }).unwrap();
    let ceph = |sim: &Sim| sim.ceph_state(&ns(sim));
    // keys past the cephx boundary already, so that Tentacle's mons raise no HEALTH_ERR
    sim.rotate_service_keys(&ns(&sim));
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("set require-osd-release tentacle"), "{}", r.stderr);
    assert_eq!(ceph(&sim).require_osd_release, Some(20));
    no_osd_flag_left(&sim);
}

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

// On the embedded server only, for the suite's time: on the real control plane each of these
// is a staged upgrade of 15 to 50 s (measured), and the variants below already put the
// staged upgrade, --prepull, a failed gate, Ctrl-C and kill -9 with resume on the real server.

#[test]
fn an_upgrade_on_the_proposed_crd_moves_every_daemon_once_in_stage_order() {
    full_upgrade(Crd::Proposed);
}

#[test]
fn the_canary_stops_and_resume_goes_on_without_a_second_restart() {
    let sim = sim_with(Crd::Proposed, 12);
    sim.reset_replacements();
    let r = run(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--pause-between", "20ms"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Canary done: osd.0"), "{}", r.stdout);
    sim.settle();
    let osds_moved: Vec<String> =
        sim.replacements(&ns(&sim)).into_keys().filter(|d| d.starts_with("rook-ceph-osd-")).collect();
    assert_eq!(osds_moved, vec!["rook-ceph-osd-0".to_string()], "one OSD only");
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "paused");
    // The batch the canary came from keeps its number: batch 1 of the same 3 the plan had.
    let next = st["nextStage"].as_str().unwrap();
    assert!(next.starts_with("osd batch 1/3 (host "), "{next}");
    // status says an upgrade is under way, in text and JSON.
    let status = run(&sim, &["status"]).ok();
    assert!(
        status.stdout.contains(&format!("Upgrade under way: to {IMG}, paused at stage osd canary")),
        "{}",
        status.stdout
    );
    let sj = run(&sim, &["status", "-o", "json"]).ok().json();
    assert_eq!(sj["upgrade"]["phase"], "paused");
    // The resumed plan still says where the upgrade came from, though the base image moved.
    let j = run(&sim, &["upgrade", "resume", "--dry-run", "-o", "json"]).ok().json();
    assert!(j["from"].as_str().unwrap().starts_with("quay.io/ceph/ceph:v") && j["from"] != IMG, "{}", j["from"]);
    let r = run(&sim, &["upgrade", "resume", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The pace asked for at the start holds after the resume.
    assert!(r.stderr.contains("pausing 20ms before the next stage (--pause-between)"), "{}", r.stderr);
    // Later batches keep their numbers too, whatever is done when the plan is made again.
    for k in 1..=3 {
        assert!(r.stderr.contains(&format!("stage osd batch {k}/3 (host ")), "batch {k}/3: {}", r.stderr);
    }
    sim.settle();
    nothing_left(&sim);
    assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
    assert_eq!(run(&sim, &["status", "-o", "json"]).ok().json()["upgrade"], Value::Null, "none once done");
}

/// A node down before the upgrade (issue 22 kind 5; a fresh-user trial found the upgrade
/// restarting the mons and mgrs and stopping at the first OSD batch): the first stage that
/// restarts daemons would restart some of another failure domain, so nothing is written;
/// once the node is back it starts.
#[test]
fn an_upgrade_does_not_start_while_a_node_is_down() {
    let sim = sim_with(Crd::Proposed, 6);
    sim.set_node_down("node-02", true);
    sim.clear_log();
    let r = run(&sim, &["upgrade", IMG, "--dry-run"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // the check's blocker at the top of the plan (its plan warning is not said twice)
    assert!(r.stdout.contains("x node-down: node node-02 looks NotReady"), "{}", r.stdout);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("refusing to upgrade") && r.stderr.contains("node-02"), "{}", r.stderr);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    sim.set_node_down("node-02", false);
    sim.settle();
    let r = run(&sim, &["upgrade", IMG, "--dry-run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

/// Issue 23 item 2: Ceph is asked before each batch the upgrade releases. While it says an
/// OSD batch is not ok to stop, none of the batch is released: the run waits within
/// --timeout, stops with Ceph's reason (its state `failed`, saying it), and `upgrade resume`
/// goes on once Ceph agrees.
#[test]
fn an_osd_batch_ceph_will_not_stop_is_not_released() {
    use rook_sim::ceph::state::FaultKind;
    let sim = sim_with(Crd::Proposed, 6);
    let name = ns(&sim);
    let busy = "unsafe to stop osd(s) at this time (5 PGs are or would become offline)";
    sim.ceph_fault(FaultKind::Fail { exit_code: 16, stderr: format!("{busy}\n") }, Some("osd ok-to-stop"), None);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Ceph says osd.") && r.stderr.contains(busy) && r.stderr.contains("`upgrade resume` goes on"),
        "{}",
        r.stderr
    );
    let st = state_now(&sim).expect("a state");
    assert_eq!(st["phase"], "failed", "{st}");
    assert!(st["stage"].as_str().unwrap().starts_with("osd") && st["message"].as_str().unwrap().contains(busy), "{st}");
    let moved = sim.replacement_log(&name);
    assert!(moved.iter().all(|(_, d)| !d.contains("-osd-")), "no OSD released: {moved:?}");
    assert!(moved.iter().any(|(_, d)| d.contains("-mon-")), "the mons went first: {moved:?}");
    let asked: Vec<String> = sim.log().iter().filter_map(|l| l.command.as_ref()).map(|c| c.join(" ")).collect();
    assert!(asked.iter().any(|c| c.contains("mon ok-to-stop a ")), "each mon asked alone: {asked:?}");
    assert!(asked.iter().any(|c| c.contains("osd ok-to-stop ") && c.contains(" --max ")), "{asked:?}");
    // the batch Ceph refused never had its flags set, so nothing is unset for it (an
    // operator's own noout set meanwhile stays) and none is recorded
    assert!(!asked.iter().any(|c| c.contains(" unset")), "{asked:?}");
    assert!(st.get("flags").is_none(), "{st}");
    // Rook's continueUpgradeAfterChecksEvenIfNotHealthy governs the plugin's OSD batches too
    // (issue 23 item 4): after the wait, they go on, and say why
    sim.update(&CEPHCLUSTERS, &name, &name, |c| c["spec"]["continueUpgradeAfterChecksEvenIfNotHealthy"] = true.into())
        .unwrap();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("continueUpgradeAfterChecksEvenIfNotHealthy is true: stage osd"), "{}", r.stderr);
    sim.settle();
    nothing_left(&sim);
}

/// Issue 23 item 3: after a stage, Ceph itself must report its daemons on the target
/// release. Here the tag was re-pushed and every node kept its old build
/// (`IfNotPresent`): the mons' pods run "the image" and are Ready, but `ceph versions`
/// still says 20.2.4; the upgrade stops there, failed, and moves nothing further.
#[test]
fn a_stage_whose_daemons_ceph_still_sees_on_the_old_release_stops_the_upgrade() {
    let sim = sim_with(Crd::Proposed, 3);
    for node in sim.nodes() {
        sim.set_stale_image(&node, IMG, "20.2.4-0");
    }
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Ceph reports 0 of 3 mon daemon(s) moved on 20.2.6 (`ceph versions`)")
            && r.stderr.contains("`upgrade resume` goes on"),
        "{}",
        r.stderr
    );
    let st = state_now(&sim).expect("a state");
    assert_eq!((st["phase"].as_str(), st["stage"].as_str()), (Some("failed"), Some("mon")), "{st}");
    let moved = sim.replacement_log(&ns(&sim));
    assert!(moved.iter().all(|(_, d)| d.contains("-mon-")), "nothing after the mons: {moved:?}");
}

on_both! {
    /// Issue 22 kind 9 through the binary, Rook's status written as Rook writes it (the
    /// status subresource).
    fn an_upgrade_on_unknown_or_bad_health_sends_nothing() {
        // HEALTH_ERR, a health Rook stopped refreshing, or none yet, before the upgrade: the
        // dry run says so and exits as the run would; the run writes nothing at all, not even
        // its state (a fresh-user trial found it writing its state, waiting out --timeout and
        // then reporting holds it never set).
        let sim = sim_with(Crd::Proposed, 6);
        let name = ns(&sim);
        for (health, code) in [("err", "health-err"), ("stale", "health-stale"), ("absent", "health-stale")] {
            match health {
                "err" => {
                    sim.set_health(&name, Some("HEALTH_ERR"));
                }
                "stale" => {
                    sim.set_health(&name, None);
                    sim.update_status(&CEPHCLUSTERS, &name, &name, |c| {
                        c["status"]["ceph"]["lastChecked"] = "2026-01-01T00:00:00.000Z".into()
                    })
                    .unwrap();
                }
                _ => {
                    let gone = sim.update_status(&CEPHCLUSTERS, &name, &name, |c| {
                        _ = c["status"].as_object_mut().unwrap().remove("ceph")
                    });
                    gone.unwrap();
                }
            }
            sim.clear_log();
            let r = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json"]);
            assert_eq!(r.code, 1, "{health}: {}\n{}", r.stdout, r.stderr);
            let j = r.json();
            assert!(j["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == code), "{health}: {j}");
            let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "2s"]);
            assert_eq!(r.code, 1, "{health}: {}\n{}", r.stdout, r.stderr);
            assert!(r.stderr.contains("refusing to upgrade") && r.stderr.contains("Nothing was sent"), "{}", r.stderr);
            assert!(!r.stderr.contains("holds and pins"), "{}", r.stderr);
            assert!(sim.mutating_requests().is_empty(), "{health}: {:?}", sim.mutating_requests());
            assert!(state_now(&sim).is_none());
        }
    }
}

#[test]
fn health_err_holds_the_next_stage() {
    // HEALTH_ERR between batches: the next batch waits, then the upgrade stops.
    let sim = sim_with(Crd::Proposed, 6);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]);
    assert!(r.stdout.contains("Canary done"), "{}", r.stderr);
    sim.settle();
    sim.reset_replacements();
    sim.set_health(&ns(&sim), Some("HEALTH_ERR"));
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("HEALTH_ERR") && r.stderr.contains("stage(s) are left"), "{}", r.stderr);
    assert!(
        sim.replacement_log(&ns(&sim)).is_empty(),
        "no batch after the canary: {:?}",
        sim.replacement_log(&ns(&sim))
    );
    // Once it clears, the upgrade goes on to the end.
    sim.set_health(&ns(&sim), None);
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
}

#[test]
fn bad_orders_and_flags_are_refused_before_anything_is_sent() {
    let sim = sim(Crd::Proposed);
    sim.clear_log();
    for (args, why) in [
        (&["upgrade", IMG, "--order", "mgr,mon", "--yes"][..], "before the mons"),
        (&["upgrade", IMG, "--order", "mon,osd,osd", "--yes"][..], "twice"),
        (&["upgrade", IMG, "--order", "mon,osd,mgr", "--yes"][..], "puts osd before the mgrs"),
        (&["upgrade", IMG, "--order", "mon,mgr,rgw,osd", "--yes"][..], "puts rgw before the osds"),
        (&["upgrade", "quay.io/ceph/ceph:latest", "--yes"][..], "is :latest"),
        (&["upgrade", "docker.io/rook/ceph:v1.20.6", "--yes"][..], "the Rook operator's image"),
        (&["upgrade", IMG, "--dry-run=server"][..], "--dry-run (client) only"),
        (&["upgrade", IMG, "--types", "mon,,mgr", "--yes"][..], "one entry is empty"),
        (&["upgrade", "quay.io/ceph/ceph:v18.2.0", "--yes"][..], "cannot be downgraded"),
        (&["upgrade", IMG, "--wait", "--yes"][..], "--wait does not apply"),
        (&["upgrade", "status", "--canary", "1"][..], "unexpected argument '--canary'"),
        (&["upgrade", "resume", "--yes"][..], "no upgrade is under way"),
        (&["upgrade", IMG, "--types", "osd", "--yes"][..], "earlier in the order"),
        (&["upgrade", IMG, "--types", "mon,mgr,mon", "--yes"][..], "names mon twice"),
        (&["upgrade", IMG, "--types", "mgr,osdd", "--yes"][..], "osdd"),
        (&["upgrade", "status", "--types", "mon"][..], "unexpected argument '--types'"),
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
    let digest = format!("quay.io/ceph/ceph@sha256:{}", "a".repeat(64));
    let j = run(&sim, &["upgrade", &digest, "--dry-run", "-o", "json"]).ok().json();
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
    assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
}

#[test]
fn types_moves_only_the_named_types_and_a_later_full_upgrade_folds_their_overrides() {
    let sim = sim_with(Crd::Proposed, 6);
    let (base, _) = cluster_images(&sim);
    assert_ne!(base, IMG);
    // The plan names what stays behind, and that versions will be mixed.
    sim.clear_log();
    let j = run(&sim, &["upgrade", IMG, "--types", "mgr,mon", "--dry-run", "-o", "json"]).ok().json();
    assert!(sim.mutating_requests().is_empty());
    assert_eq!(j["plan"]["types"], serde_json::json!(["mon", "mgr"]));
    let left: Vec<&str> = j["plan"]["left"].as_array().unwrap().iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert!(left.contains(&"osd") && left.contains(&"rgw"), "{left:?}");
    assert!(j["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "mixed-versions"), "{j}");
    let names: Vec<&str> =
        j["plan"]["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["prepare", "mon", "mgr"]);
    // Every stage has its writes; the mon stage sets the two overrides, not the base image.
    let writes = j["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 3);
    let mon_patch = &writes[1]["writes"][0]["patch"]["spec"]["cephVersion"];
    assert_eq!(mon_patch["imageOverrides"], serde_json::json!({"mon": IMG, "mgr": IMG}), "{mon_patch}");
    assert!(mon_patch.get("image").is_none(), "{mon_patch}");

    sim.reset_replacements();
    let r = run(&sim, &["upgrade", IMG, "--types", "mon,mgr", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Upgrade done: mon, mgr"), "{}", r.stdout);
    sim.settle();
    let (now, ov) = cluster_images(&sim);
    assert_eq!(now, base, "the base image stays");
    assert_eq!(ov, serde_json::json!({"mon": IMG, "mgr": IMG}));
    let moved = sim.replacements(&ns(&sim));
    for d in deployments(&sim) {
        let name = d["metadata"]["name"].as_str().unwrap();
        let named = matches!(app(&d).as_str(), "rook-ceph-mon" | "rook-ceph-mgr");
        assert_eq!(moved.get(name).copied().unwrap_or(0) as usize, usize::from(named), "{name}: {moved:?}");
        assert_eq!(ceph_image_of(&d), if named { IMG } else { base.as_str() }, "{name}");
        assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "hold left on {name}");
    }
    let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_none(), "state left");

    // The rest later: the overrides that name IMG go with the base image change, and the
    // mons and mgrs, already there, do not restart again.
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(all_on_target(&sim).is_empty(), "{:?}", all_on_target(&sim));
    let counts = sim.replacements(&ns(&sim));
    for d in deployments(&sim) {
        let name = d["metadata"]["name"].as_str().unwrap();
        assert_eq!(counts.get(name).copied().unwrap_or(0), 1, "{name}: {counts:?}");
    }
}

#[test]
fn types_is_refused_where_the_crd_has_no_image_overrides() {
    let sim = sim_with(Crd::Released, 3);
    sim.clear_log();
    let r = run(&sim, &["upgrade", IMG, "--types", "mon,mgr", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--types needs spec.cephVersion.imageOverrides"), "{}", r.stderr);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    // Naming every type the cluster runs is a whole upgrade, which needs no override.
    let all = "mon,mgr,osd,mds,rgw,nfs,rbd-mirror,cephfs-mirror,nvmeof,crashcollector,exporter";
    let j = run(&sim, &["upgrade", IMG, "--types", all, "--dry-run", "-o", "json"]).ok().json();
    assert_eq!(j["plan"]["types"], serde_json::json!([]), "{}", j["plan"]);
    assert!(sim.mutating_requests().is_empty());
}

#[test]
fn a_type_rook_cannot_hold_moves_in_its_own_stage_with_types() {
    let sim = sim_with(Crd::Proposed, 3);
    sim.reset_replacements();
    let r = run(&sim, &["upgrade", IMG, "--types", "mon,mgr,osd,mds", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    let order: Vec<String> = sim.replacement_log(&ns(&sim)).into_iter().map(|(_, d)| d).collect();
    let last_osd = order.iter().rposition(|d| d.starts_with("rook-ceph-osd-")).unwrap();
    let first_mds = order.iter().position(|d| d.starts_with("rook-ceph-mds-")).expect("mds moved");
    assert!(first_mds > last_osd, "mds moved before the OSDs were done: {order:?}");
    assert!(!order.iter().any(|d| d.starts_with("rook-ceph-rgw-")), "rgw is not in --types: {order:?}");
    let (_, ov) = cluster_images(&sim);
    assert_eq!(ov, serde_json::json!({"mon": IMG, "mgr": IMG, "osd": IMG, "mds": IMG}));
}

#[test]
fn an_aborted_types_upgrade_names_the_overrides_it_set_and_the_holds_it_left() {
    let sim = sim_with(Crd::Proposed, 6);
    let r = run(&sim, &["upgrade", IMG, "--types", "mon,mgr,osd", "--canary", "1", "--yes"]).ok();
    assert!(r.stdout.contains("Canary done"), "{}", r.stdout);
    let r = run(&sim, &["upgrade", "abort", "--yes"]).ok();
    for k in ["mon", "mgr", "osd"] {
        assert!(r.stdout.contains(&format!("imageOverrides.{k} stays on {IMG}")), "{k}: {}", r.stdout);
    }
    assert!(r.stdout.contains("stay held by the upgrade's do-not-reconcile label"), "{}", r.stdout);
}

/// A node that cannot pull: the upgrade stops before anything restarts, naming the node
/// and the kubelet's reason, with no pre-pull pod left and the state `failed`; once the
/// node can pull, `upgrade resume` pulls again and finishes.
#[test]
fn a_failed_pull_stops_the_upgrade_before_anything_restarts_and_resume_goes_on() {
    let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 50);
    sim.fail_pulls("node-01", IMG);
    sim.reset_replacements();
    let r = run(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "30s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("failed on 1 node(s): node-01 (ErrImagePull")
            || r.stderr.contains("node-01 (ImagePullBackOff"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("before anything restarted") && r.stderr.contains("pods were deleted"), "{}", r.stderr);
    sim.settle();
    assert!(sim.replacement_log(&ns(&sim)).is_empty(), "replaced: {:?}", sim.replacement_log(&ns(&sim)));
    assert!(prepull_pods(&sim).is_empty(), "pre-pull pods left: {:?}", prepull_pods(&sim));
    assert!(labelled(&sim).is_empty(), "nothing held yet: {:?}", labelled(&sim));
    let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
    assert_eq!(c["spec"]["cephVersion"]["image"], "quay.io/ceph/ceph:v20.2.4", "the base image did not move");
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "failed");
    assert_eq!(st["state"]["params"]["prepull"], true, "kept for resume");
    assert!(st["state"]["message"].as_str().unwrap().contains("node-01"), "{st}");
    assert_eq!(st["nextStage"], "prepull");

    sim.clear_pull_failures();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("stage prepull"), "resume pulls again: {}", r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(all_on_target(&sim).is_empty(), "{:?}", all_on_target(&sim));
    assert!(prepull_pods(&sim).is_empty());
    assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
    // node-01 pulled before any daemon there restarted
    let first = sim.replacement_log(&ns(&sim))[0].0;
    assert!(sim.pull_log().iter().any(|(seq, n, i)| *seq < first && n == "node-01" && i == IMG));
}

#[test]
fn the_dry_run_with_prepull_lists_the_nodes_and_the_pods_and_sends_nothing() {
    let sim = sim_with(Crd::Proposed, 12);
    sim.clear_log();
    let j = run(&sim, &["upgrade", IMG, "--prepull", "--dry-run", "-o", "json"]).ok().json();
    let stage = &j["plan"]["stages"][0];
    assert_eq!((stage["name"].as_str(), stage["kind"].as_str()), (Some("prepull"), Some("prepull")), "{stage}");
    assert_eq!(stage["nodes"], serde_json::json!(["node-00", "node-01", "node-02"]));
    assert_eq!(j["plan"]["stages"][1]["nodes"], serde_json::json!([]), "only the prepull stage has nodes");
    assert_eq!(j["writes"][0]["stage"], "prepull");
    let writes = j["writes"][0]["writes"].as_array().unwrap();
    let creates: Vec<&Value> = writes.iter().filter(|w| w["patchType"] == "create").collect();
    assert_eq!(creates.len(), 3, "{writes:?}");
    let pod = &creates[1]["patch"];
    assert_eq!(pod["metadata"]["name"], "ceph-image-prepull-node-01");
    assert_eq!(pod["spec"]["nodeName"], "node-01");
    assert_eq!(pod["spec"]["containers"][0]["image"], IMG);
    assert_eq!(pod["spec"]["serviceAccountName"], "rook-ceph-default", "the mons' account");
    assert_eq!(writes.iter().filter(|w| w["patchType"] == "delete" && w["cleanup"] == true).count(), 3);
    let t = run(&sim, &["upgrade", IMG, "--prepull", "--dry-run"]).ok();
    assert!(
        t.stdout.contains(&format!("Stage 1: prepull\n  pull {IMG} on 3 node(s) first, a pod per node (deleted when done): node-00 node-01 node-02\n")),
        "{}",
        t.stdout
    );
    assert!(t.stdout.contains("pod/ceph-image-prepull-node-00 (create)"), "{}", t.stdout);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    // Without the flag there is no such stage.
    let j = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json"]).ok().json();
    assert_ne!(j["plan"]["stages"][0]["kind"], "prepull");
}

/// The executor's rules for its own pods: a create whose answer is lost is read back, not
/// sent again; a pod of ours left by a killed run (409 AlreadyExists) is taken as created;
/// a delete whose answer is lost is read back (404: done).
#[test]
fn prepull_writes_are_judged_by_reading_back_and_sent_once() {
    use rook_sim::{Fault, FaultKind};
    let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 20);
    let tpl = kubectl_ceph_image::execute::prepull::Template::default();
    let leftover = kubectl_ceph_image::execute::prepull::manifest(
        &ns(&sim),
        "node-01",
        IMG,
        &tpl,
        std::time::Duration::from_secs(600),
    );
    create_pod(&sim, &leftover);
    sim.clear_log();
    sim.faults().add(Fault::new(FaultKind::DropAfterApply).verb("create").resource("pods").times(1));
    sim.faults().add(Fault::new(FaultKind::DropAfterApply).verb("delete").resource("pods").times(1));
    let r = run(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let sent = |method: &str| {
        sim.log()
            .iter()
            .filter(|q| q.method == method && q.path.starts_with(&format!("/api/v1/namespaces/{}/pods", ns(&sim))))
            .count()
    };
    assert!(sim.faults().rules().is_empty(), "a create's and a delete's answers were lost: {:?}", sim.faults().rules());
    assert_eq!(sent("POST"), 3, "one create per node, none sent twice: {:?}", sim.mutating_requests());
    assert_eq!(sent("DELETE"), 3, "one delete per pod: {:?}", sim.mutating_requests());
    assert!(prepull_pods(&sim).is_empty(), "{:?}", prepull_pods(&sim));
    sim.settle();
    nothing_left(&sim);
}

#[test]
fn a_hand_edit_of_the_base_image_during_an_upgrade_stops_it_and_is_not_overwritten() {
    let sim = sim_with(Crd::Proposed, 6);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    // A change by hand while it is paused shows in the restart plan of `set` too.
    let j = run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]).ok().json();
    assert!(j["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "upgrade-under-way"), "{j}");
    // A newer image by hand: Rook moves the mons to it, and setting it back would downgrade them.
    let other = "quay.io/ceph/ceph:v20.2.7";
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| c["spec"]["cephVersion"]["image"] = other.into()).unwrap();
    sim.settle();
    sim.clear_log();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "5s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("someone else changed it") && r.stderr.contains(other), "{}", r.stderr);
    assert!(
        r.stderr.contains("setting it back would downgrade mon.") && !r.stderr.contains("Set it back"),
        "{}",
        r.stderr
    );
    let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
    assert_eq!(c["spec"]["cephVersion"]["image"], other, "not overwritten");
    // Only the state's own record was written: no hold, release or spec patch.
    let writes: Vec<String> = sim.mutating_requests().iter().map(|r| format!("{r:?}")).collect();
    assert!(writes.iter().all(|w| w.contains("cephclusters")), "{writes:?}");
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "failed");
}

#[test]
fn a_new_upgrade_takes_over_an_aborted_ones_pins_and_holds() {
    let sim = sim_with(Crd::Proposed, 6);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    let r = run(&sim, &["upgrade", "abort", "--yes"]).ok();
    assert!(r.stdout.contains("imageOverrides.mds stays pinned"), "{}", r.stdout);
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
    assert_eq!(st["state"]["phase"], "aborted");
    let r = run(&sim, &["upgrade", "resume", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("was aborted"), "{}", r.stderr);
    // The same upgrade again: the pins are the plugin's, not the operator's own overrides.
    let j = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json"]).ok().json();
    assert_eq!(j["plan"]["excluded"], serde_json::json!([]), "{}", j["plan"]["excluded"]);
    let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(all_on_target(&sim).is_empty(), "{:?}", all_on_target(&sim));
}

#[test]
fn an_osd_at_zero_replicas_and_a_missing_rack_label_are_said_in_the_plan() {
    let sim = sim_with(Crd::Proposed, 6);
    sim.update(&DEPLOYMENTS, &ns(&sim), "rook-ceph-osd-1", |d| d["spec"]["replicas"] = 0.into()).unwrap();
    sim.settle();
    let j = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json", "--batch-by", "rack"]).ok().json();
    let codes: Vec<&str> =
        j["plan"]["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"starts-scaled-down") && codes.contains(&"batch-by-fallback"), "{codes:?}");
    let osd1 = j["plan"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["daemons"].as_array().unwrap())
        .find(|d| d["daemon"] == "osd.1")
        .unwrap();
    assert_eq!(osd1["starts"], true, "{osd1}");
    // Batches without a rack label are named by the host they really are.
    let names: Vec<&str> =
        j["plan"]["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("osd batch 1/3 (host ")), "{names:?}");
}

/// A kill between adding and removing the CephCluster-level label (a stage's reconcile)
/// leaves the label on: a resume knows it for the upgrade's and removes it; the operator's
/// own label still refuses the upgrade.
#[test]
fn a_resume_removes_the_cluster_label_its_own_killed_run_left_on() {
    let sim = sim_with(Crd::Proposed, 6);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    let held = |on: bool, ours: bool| {
        move |c: &mut Value| {
            let set = |m: &mut Value, k: &str, on: bool| match on {
                true => m[k] = "true".into(),
                false => _ = m.as_object_mut().map(|o| o.remove(k)),
            };
            set(&mut c["metadata"]["labels"], "ceph.rook.io/do-not-reconcile", on);
            set(&mut c["metadata"]["annotations"], "kubectl-ceph-image/upgrade-reconcile", on && ours);
        }
    };
    // The operator's own `pause cluster`: refused, nothing sent.
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), held(true, false)).unwrap();
    sim.clear_log();
    let r = run(&sim, &["upgrade", "resume", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`resume cluster` first"), "{}", r.stderr);
    assert!(sim.mutating_requests().is_empty());
    // The upgrade's own label, as a kill in the window leaves it: removed, and it goes on.
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), held(true, true)).unwrap();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("an earlier run of this upgrade added"), "{}", r.stderr);
    sim.settle();
    nothing_left(&sim);
    let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-reconcile").is_none());
}

/// Item 2, the CephCluster-level label: an operator's `pause cluster` while a stopped
/// run's own label is on makes the label the operator's (its `UPGRADE_RECONCILE`
/// annotation goes, the label stays), so the upgrade never removes it: resume refuses, as
/// for any label of the operator's.
#[test]
fn pause_cluster_makes_a_stopped_runs_cluster_label_the_operators() {
    let sim = sim_with(Crd::Proposed, 3);
    let ns = ns(&sim);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    sim.update(&CEPHCLUSTERS, &ns, &ns, |c| {
        c["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"] = "true".into();
        c["metadata"]["annotations"]["kubectl-ceph-image/upgrade-reconcile"] = "true".into();
    })
    .unwrap();
    let p = run(&sim, &["pause", "cluster", "--yes"]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    assert!(!p.stdout.contains("Nothing to change"), "{}", p.stdout);
    let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
    assert_eq!(c["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"], "true", "{c}");
    assert!(
        c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-reconcile").is_none(),
        "{}\n{}\n{:?}",
        p.stdout,
        p.stderr,
        sim.mutating_requests()
    );
    sim.clear_log();
    let r = run(&sim, &["upgrade", "resume", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`resume cluster` first"), "{}", r.stderr);
    assert!(sim.mutating_requests().is_empty());
}

/// A resume whose stages are all done is not called done on HEALTH_ERR (as after a failed
/// health gate at the last stage): it waits within --timeout, then stops, keeping the state.
#[test]
fn an_upgrade_with_no_stage_left_is_not_called_done_on_health_err() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    let state = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json()["state"].clone();
    run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]).ok();
    sim.settle();
    // The state of a run whose last stage's health gate failed: every daemon is on IMG.
    let st = serde_json::to_string(&state).unwrap();
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| {
        c["metadata"]["annotations"]["kubectl-ceph-image/upgrade"] = st.clone().into()
    })
    .unwrap();
    sim.set_health(&ns(&sim), Some("HEALTH_ERR"));
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not called done on HEALTH_ERR"), "{}", r.stderr);
    assert_eq!(run(&sim, &["upgrade", "status", "-o", "json"]).ok().json()["state"]["phase"], "failed");
    sim.set_health(&ns(&sim), None);
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    nothing_left(&sim);
}

on_both! {
    fn an_upgrade_on_the_released_crd_moves_every_daemon_once_in_stage_order() {
        full_upgrade(Crd::Released);
    }

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
        assert!(!j["writes"][0]["writes"].as_array().unwrap().is_empty());
        // Text: totals last.
        let t = run(&sim, &["upgrade", IMG, "--dry-run"]).ok();
        assert!(t.stdout.trim_end().ends_with("Dry run: nothing was sent."), "{}", t.stdout);
    }

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
        // Kill it once an OSD batch has started, its noout set (bounded wait, no timing
        // asserted).
        for _ in 0..3000 {
            if sim.replacements(&ns(&sim)).keys().any(|d| d.starts_with("rook-ceph-osd-"))
                && !sim.ceph_state(&ns(&sim)).group_flags.is_empty()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        sim.settle();
        let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
        assert_eq!(st["state"]["params"]["image"], IMG, "the state survives the process");
        // what the killed run set stays set, and recorded, until the resume removes it
        assert!(!sim.ceph_state(&ns(&sim)).group_flags.is_empty(), "no noout was set when it was killed");
        assert!(st["state"]["flags"].as_array().is_some_and(|f| !f.is_empty()), "flags not recorded: {st}");
        let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        sim.settle();
        nothing_left(&sim);
        assert!(all_on_target(&sim).is_empty());
        assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
    }

    fn a_daemon_that_never_comes_ready_stops_the_upgrade_at_its_batch() {
        let sim = sim_with(Crd::Proposed, 12);
        sim.never_ready(&ns(&sim), "rook-ceph-osd-4");
        // the gates before osd.4's must pass within it on a loaded real server too
        let timeout = if real() { "20s" } else { "2s" };
        let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", timeout]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("did not pass its gate") && r.stderr.contains("osd.4"), "{}", r.stderr);
        assert!(r.stderr.contains("stage(s) are left") && r.stderr.contains("rgw"), "what is left is said: {}", r.stderr);
        sim.settle();
        let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
        assert_eq!(st["state"]["phase"], "failed");
        assert!(st["state"]["stage"].as_str().unwrap().contains("node-01"), "{st}");
        // the failed batch's noout and the upgrade's noautoscale were removed as it stopped
        no_osd_flag_left(&sim);
        assert!(st["state"].get("flags").is_none(), "{st}");
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

    /// Ctrl-C while an OSD batch waits for its pods: the OSD flags the upgrade set are
    /// removed before the process exits, and that is said (issue 23 item 5).
    fn ctrl_c_at_an_osd_batch_removes_its_flags() {
        let (sim, child) = waiting_at_osd_1();
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("removed the OSD flags this upgrade set: noautoscale, noout on node-"), "{stderr}");
        no_osd_flag_left(&sim);
        // and the state no longer lists them: a later resume or abort must not take a flag
        // the operator sets now for the upgrade's
        let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
        assert!(st["state"].get("flags").is_none(), "{st}");
    }

    /// A kill -9 at an OSD batch leaves its flags set and recorded in the state; `upgrade
    /// abort` removes them, says so, and records none.
    fn abort_removes_the_flags_a_killed_run_left() {
        let (sim, mut child) = waiting_at_osd_1();
        child.kill().unwrap();
        child.wait().unwrap();
        let st = run(&sim, &["upgrade", "status"]).ok();
        assert!(st.stdout.contains("OSD flags it set: noautoscale, noout on node-"), "{}", st.stdout);
        let r = run(&sim, &["upgrade", "abort", "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("Removed the OSD flags this upgrade set: noautoscale, noout on node-"), "{}", r.stdout);
        no_osd_flag_left(&sim);
        let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok().json();
        assert_eq!(st["state"]["phase"], "aborted");
        assert!(st["state"].get("flags").is_none(), "{st}");
    }

    /// `--prepull` pulls on exactly the nodes of the daemons that move, before the first
    /// restart: crash and exporter, whose own overrides keep them out of the upgrade, do not
    /// make their nodes pull (on the embedded server node-03 runs only them); every other
    /// node runs a daemon that moves, so it must have pulled before the first daemon pod was
    /// replaced. The pods are gone afterwards.
    fn prepull_pulls_on_exactly_the_nodes_that_restart_before_the_first_restart() {
        const OLD: &str = "quay.io/ceph/ceph:v20.2.4";
        let sim = pulling_sim(rook_sim::Topology { osds: 3, nodes: 4, ..Default::default() }, 150);
        sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| {
            c["spec"]["cephVersion"]["imageOverrides"] = serde_json::json!({"crashcollector": OLD, "exporter": OLD})
        })
        .unwrap();
        sim.settle();
        // The nodes of the daemons the upgrade moves, as they run now. On the embedded server
        // node-03 runs only crash and exporter; the real scheduler places the daemons no
        // nodeSelector pins (mgr, mds, rgw...) where it likes.
        let movers: std::collections::BTreeSet<String> = deployment_nodes(&sim)
            .into_iter()
            .filter(|(d, _)| !d.contains("crashcollector") && !d.contains("exporter"))
            .map(|(_, n)| n)
            .collect();
        if !real() {
            assert_eq!(movers.iter().map(String::as_str).collect::<Vec<_>>(), ["node-00", "node-01", "node-02"]);
        }
        sim.reset_replacements();
        let r = run(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "60s"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let says = format!("pull {IMG} on {} node(s) first", movers.len());
        assert!(r.stdout.contains(&says), "the plan says which: {}", r.stdout);
        let list = format!("{}\n", movers.iter().cloned().collect::<Vec<_>>().join(" "));
        assert!(r.stdout.contains(&list), "{}", r.stdout);
        sim.settle();
        let log = sim.replacement_log(&ns(&sim));
        let first = log.first().map(|(seq, _)| *seq).expect("daemons were replaced");
        let pulled_first: std::collections::BTreeSet<String> =
            sim.pull_log().into_iter().filter(|(seq, _, i)| *seq < first && i == IMG).map(|(_, n, _)| n).collect();
        assert_eq!(pulled_first, movers, "pulled before the first restart vs. nodes that restart");
        if !real() {
            // daemons restart where they ran: exactly the nodes that pulled first
            let nodes = deployment_nodes(&sim);
            let restarted: std::collections::BTreeSet<String> =
                log.iter().map(|(_, d)| nodes.get(d).unwrap_or_else(|| panic!("node of {d}")).clone()).collect();
            assert_eq!(restarted, movers);
            assert!(!sim.pulled("node-03").contains(IMG), "node-03 pulled nothing");
        }
        assert!(prepull_pods(&sim).is_empty(), "pre-pull pods left: {:?}", prepull_pods(&sim));
        assert!(all_on_target(&sim).iter().all(|d| d.contains("crashcollector") || d.contains("exporter")));
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_none(), "state left");
    }

    /// A pod by a pre-pull pod's name that the plugin did not make stops the upgrade before
    /// anything restarts, and is never deleted; the plugin's own pods are.
    fn a_pod_of_someone_else_by_that_name_is_never_deleted() {
        let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 20);
        let theirs = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "ceph-image-prepull-node-02", "labels": {"app": "mine"}},
            "spec": {"nodeName": "node-02", "containers": [{"name": "c", "image": "busybox:1"}]}});
        create_pod(&sim, &theirs);
        sim.reset_replacements();
        let r = run(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "60s"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("Error from server (AlreadyExists): pods \"ceph-image-prepull-node-02\" already exists")
                && r.stderr.contains("it is left as it is"),
            "{}",
            r.stderr
        );
        // Item 8: what is said of it is true: not deleted, not finished by running again.
        assert!(
            r.stderr.contains("Once it is gone") && !r.stderr.contains("finishes the job") && !r.stderr.contains("delete (the pre-pull is over): done"),
            "{}",
            r.stderr
        );
        let still = sim.get(&rook_sim::resources::PODS, &ns(&sim), "ceph-image-prepull-node-02").expect("theirs is left");
        assert_eq!(still["metadata"]["labels"]["app"], "mine");
        assert!(prepull_pods(&sim).is_empty(), "ours are deleted: {:?}", prepull_pods(&sim));
        assert!(sim.replacement_log(&ns(&sim)).is_empty());
        assert_eq!(run(&sim, &["upgrade", "status", "-o", "json"]).ok().json()["state"]["phase"], "failed");
    }

    /// Ctrl-C while the nodes pull: the executor's cleanup writes delete the pods it created,
    /// the journal says so, and nothing restarted.
    fn ctrl_c_during_the_pulls_deletes_the_pods() {
        use std::process::{Command, Stdio};
        let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 60_000);
        sim.reset_replacements();
        let child = Command::new(bin())
            .env("KUBECONFIG", sim.kubeconfig())
            .args(["upgrade", IMG, "--prepull", "--yes", "--timeout", "5m"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Once every pod is there (bounded wait, no timing asserted).
        for _ in 0..1000 {
            if prepull_pods(&sim).len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(prepull_pods(&sim).len(), 3, "the pods were created");
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(prepull_pods(&sim).is_empty(), "left: {:?}\n{stderr}", prepull_pods(&sim));
        assert!(
            stderr.contains("pod/ceph-image-prepull-node-01 delete (the pre-pull is over): done"),
            "the journal names the deletes: {stderr}"
        );
        assert!(sim.replacement_log(&ns(&sim)).is_empty());
        assert!(labelled(&sim).is_empty(), "nothing held: {:?}", labelled(&sim));
    }
}

// Issue 22: the state is one record with one writer at a time. Each race is made exact with
// `Faults::at_write_to`: another terminal's command runs to its end just before the write
// named is handled, i.e. between the writer's read and its write.

/// Another terminal: the plugin with `args`, run to its end just before the `skip + 1`-th
/// write to `object` is handled. Its result, once it ran.
/// An upgrade under way whose OSD batch with osd.1 waits for it (it never comes Ready):
/// the batch's noout is set. The process is running (stdout and stderr piped).
fn waiting_at_osd_1() -> (Sim, std::process::Child) {
    use std::process::{Command, Stdio};
    let sim = sim_with(Crd::Released, 12);
    sim.never_ready(&ns(&sim), "rook-ceph-osd-1");
    let child = Command::new(bin())
        .env("KUBECONFIG", sim.kubeconfig())
        .args(["upgrade", IMG, "--yes", "--timeout", "5m"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // bounded wait, no timing asserted
    for _ in 0..6000 {
        if sim.replacements(&ns(&sim)).contains_key("rook-ceph-osd-1")
            && !sim.ceph_state(&ns(&sim)).group_flags.is_empty()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!sim.ceph_state(&ns(&sim)).group_flags.is_empty(), "the batch of osd.1 did not start");
    (sim, child)
}

fn another_terminal_at_write(
    sim: &Sim,
    object: &str,
    skip: u32,
    args: &[&str],
) -> std::sync::Arc<std::sync::Mutex<Option<Run>>> {
    another_terminal_at(sim, object, At::Skip(skip), args)
}

/// Which write to an object another terminal runs before.
enum At<'a> {
    /// After this many writes went by.
    Skip(u32),
    /// The first write whose body holds this text.
    Holding(&'a str),
}

fn another_terminal_at(
    sim: &Sim,
    object: &str,
    at: At,
    args: &[&str],
) -> std::sync::Arc<std::sync::Mutex<Option<Run>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (o, kc) = (out.clone(), sim.kubeconfig().to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let hook: rook_sim::server::faults::Hook = Box::new(move || {
        let r = plugin_at(&kc).args(&args).write_stdin("").output().expect("plugin runs");
        *o.lock().unwrap() = Some(Run {
            code: r.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        });
    });
    match at {
        At::Skip(n) => sim.faults().at_write_to(object, n, hook),
        At::Holding(text) => sim.faults().at_write_holding(object, text, hook),
    }
    out
}

fn took(r: &std::sync::Arc<std::sync::Mutex<Option<Run>>>) -> Run {
    r.lock().unwrap().take().expect("the other terminal's command ran")
}

fn state_now(sim: &Sim) -> Option<Value> {
    let ns = ns(sim);
    let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
    c["metadata"]["annotations"]["kubectl-ceph-image/upgrade"].as_str().map(|s| serde_json::from_str(s).unwrap())
}

/// Upgrade held at `stage prepare` by a write it may not make: the state says `failed`
/// there, with no pin recorded yet.
fn failed_at_prepare(sim: &Sim, args: &[&str]) {
    use rook_sim::{Fault, FaultKind};
    let id = sim.faults().add(Fault::new(FaultKind::Forbidden).verb("patch").resource("deployments").times(1));
    let r = run(sim, args);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    sim.faults().remove(id);
    let st = state_now(sim).expect("a state");
    assert_eq!((st["phase"].as_str(), st["stage"].as_str()), (Some("failed"), Some("prepare")), "{st}");
    assert_eq!(st["pins"], serde_json::json!({}), "{st}");
}

on_both! {
    /// Item 1: `upgrade abort` lands between the running upgrade's read and its next state
    /// write. The write meets 409, the upgrade reads again, sees the abort and stops: the
    /// mon stage never starts.
    fn an_abort_between_the_upgrades_read_and_its_state_write_stops_it() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
        let base = c["spec"]["cephVersion"]["image"].as_str().unwrap().to_string();
        // At the state record of the mon stage (known by what it writes: on a real server
        // the simulated Rook's status write can bring a 409 and a retried write first).
        let abort = another_terminal_at(&sim, &ns, At::Holding(r#"\"stage\":\"mon\""#), &["upgrade", "abort", "--yes"]);
        let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s", "--request-timeout", "5m"]);
        let a = took(&abort);
        assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
        assert!(a.stdout.contains("moves nothing further"), "{}", a.stdout);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("409 Conflict") && r.stderr.contains("the upgrade was aborted"), "{}", r.stderr);
        assert!(!r.stdout.contains("Upgrade done"), "{}", r.stdout);
        let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["image"], base.as_str(), "nothing moved after the abort");
        assert_eq!(state_now(&sim).unwrap()["phase"], "aborted");
    }

    /// Item 4: two `upgrade IMAGE` at once. The second runs (to its canary) between the
    /// first's read and its first state write: the first loses the race and is refused,
    /// naming the one under way, and writes nothing of its own.
    fn a_second_upgrade_started_at_once_is_refused_and_names_the_first() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        let other =
            another_terminal_at_write(&sim, &ns, 0, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]);
        let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s", "--request-timeout", "5m"]);
        let o = took(&other);
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        assert!(o.stdout.contains("Canary done"), "{}", o.stdout);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!("an upgrade to {IMG} is under way")) && r.stderr.contains("osd canary"),
            "{}",
            r.stderr
        );
        // The canary's state stands, with its pins: resume finishes it, nothing left behind.
        let st = state_now(&sim).unwrap();
        assert_eq!(st["phase"], "paused", "{st}");
        assert_ne!(st["pins"], serde_json::json!({}), "{st}");
        let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        sim.settle();
        assert!(state_now(&sim).is_none());
        let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
        assert!(c["spec"]["cephVersion"].get("imageOverrides").is_none(), "pins left: {c}");
    }

    /// Item 5: a pause whose write comes after the upgrade went on (here: a resume ran to
    /// the canary and recorded pins) reads again and writes nothing stale.
    fn a_late_pause_keeps_the_pins_recorded_meanwhile() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        failed_at_prepare(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]);
        let resume = another_terminal_at_write(&sim, &ns, 0, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
        let p = run(&sim, &["upgrade", "pause", "--yes", "--request-timeout", "5m"]);
        let res = took(&resume);
        assert!(res.stdout.contains("Canary done"), "{}\n{}", res.stdout, res.stderr);
        assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
        assert!(p.stdout.contains("Already paused"), "{}", p.stdout);
        let st = state_now(&sim).unwrap();
        assert!(st["stage"].as_str().unwrap().starts_with("osd canary"), "{st}");
        assert_ne!(st["pins"], serde_json::json!({}), "the pins recorded meanwhile are kept: {st}");
    }

    /// Item 5: a pause confirmed just after the upgrade finished writes nothing: no paused
    /// state is recreated to block every later upgrade.
    fn a_pause_after_the_upgrade_finished_writes_nothing() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        failed_at_prepare(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
        let resume = another_terminal_at_write(&sim, &ns, 0, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
        let p = run(&sim, &["upgrade", "pause", "--yes", "--request-timeout", "5m"]);
        let res = took(&resume);
        assert_eq!(res.code, 0, "{}\n{}", res.stdout, res.stderr);
        assert_eq!(p.code, 2, "{}\n{}", p.stdout, p.stderr);
        assert!(p.stderr.contains("finished or was aborted") && p.stderr.contains("nothing was written"), "{}", p.stderr);
        assert!(state_now(&sim).is_none(), "{:?}", state_now(&sim));
    }

    /// Item 2: `pause osd.N` on a daemon the upgrade holds makes the hold the operator's,
    /// even when it lands between the upgrade's read and its release of that daemon: the
    /// release meets 409, the upgrade plans again and leaves it held, on its image.
    fn an_operators_pause_of_an_upgrade_held_daemon_is_never_released() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        run(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]).ok();
        let before = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-osd-2").unwrap();
        assert!(before["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-hold").is_some());
        // The next write to osd.2 is the upgrade's release of it.
        let pause = another_terminal_at_write(&sim, "rook-ceph-osd-2", 0, &["pause", "osd.2", "--yes"]);
        let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s", "--request-timeout", "5m"]);
        let p = took(&pause);
        assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
        assert!(p.stdout.contains("rook-ceph-osd-2 labeled"), "not `Nothing to change`: {}", p.stdout);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("409 Conflict"), "{}", r.stderr);
        sim.settle();
        let d = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-osd-2").unwrap();
        assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some(), "the operator's hold stays");
        assert!(d["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-hold").is_none(), "{d}");
        assert_ne!(ceph_image_of(&d), IMG, "osd.2 did not move");
        assert!(r.stdout.contains("osd.2") || r.stderr.contains("osd.2"), "named as held: {}\n{}", r.stdout, r.stderr);
        assert!(state_now(&sim).is_none());
    }

    /// Item 13: the very first state write fails: nothing was started, so the hint is the
    /// same command again, not `upgrade resume` (which would answer "no upgrade under way").
    fn when_the_first_state_write_fails_the_hint_is_the_same_command() {
        use rook_sim::{Fault, FaultKind};
        let sim = sim_with(Crd::Proposed, 3);
        sim.faults().add(Fault::new(FaultKind::Forbidden).verb("patch").resource("cephclusters").times(1));
        let r = run(&sim, &["upgrade", IMG, "--yes"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&format!("kubectl ceph-image upgrade {IMG} --yes")), "{}", r.stderr);
        assert!(!r.stderr.contains("upgrade resume"), "{}", r.stderr);
        assert!(state_now(&sim).is_none());
    }
}

// Issue 22, reliability items 3, 6, 7, 8, 11 and two resumes at once: what a stopped run
// leaves of the upgrade's own, and a second run while one runs.

/// The plugin as a child process (no terminal, output dropped).
fn spawn(sim: &Sim, args: &[&str]) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(bin())
        .env("KUBECONFIG", sim.kubeconfig())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The Deployments the next stage of the paused upgrade releases (its dry run's plan).
fn next_releases(sim: &Sim) -> Vec<String> {
    let j = run(sim, &["upgrade", "resume", "--dry-run", "-o", "json"]).ok().json();
    j["stages"][0]["release"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

/// Once the next stage of the paused upgrade sends its first release, `then` is armed for
/// the next write to the CephCluster, which is that stage's reconcile label add (the
/// releases come after the stage's state record and before the label).
fn at_the_label_add(sim: &Sim, then: rook_sim::server::faults::Hook) {
    let first = next_releases(sim).into_iter().next().expect("the next stage releases holds");
    let (state, cluster) = (sim.state.clone(), ns(sim));
    sim.faults().at_write_to(&first, 0, Box::new(move || state.faults.at_write_to(&cluster, 0, then)));
}

/// `upgrade resume` killed (SIGKILL) once its stage added the CephCluster-level label and
/// before it removed it: the label stays. (The process is stopped, SIGSTOP, as its add is
/// sent, and killed once the add landed: a client killed while its request waits may see
/// the request dropped, on the real server's front.) Returns the status before the kill
/// and the Deployments the stage released.
fn killed_with_the_cluster_label_on(sim: &Sim) -> (Value, Vec<String>) {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
    run(sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]).ok();
    let before = run(sim, &["upgrade", "status", "-o", "json"]).ok().json();
    let released = next_releases(sim);
    let pid = std::sync::Arc::new(AtomicI32::new(0));
    let stopped = std::sync::Arc::new(AtomicBool::new(false));
    let (p, st) = (pid.clone(), stopped.clone());
    at_the_label_add(
        sim,
        Box::new(move || {
            unsafe { libc::kill(p.load(Ordering::SeqCst), libc::SIGSTOP) };
            st.store(true, Ordering::SeqCst);
        }),
    );
    let mut child = spawn(sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    pid.store(child.id() as i32, Ordering::SeqCst);
    let label_on = || {
        let c = sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap();
        c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some()
    };
    for _ in 0..3000 {
        if stopped.load(Ordering::SeqCst) && label_on() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed: {status:?}");
    sim.settle();
    let c = sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap();
    assert!(c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some(), "the label is on: {c}");
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-reconcile").is_some(), "{c}");
    (before, released)
}

// Items 3, 7 and 11 on the embedded server only: each needs Rook NOT to reconcile the
// Deployments a stage released until the plugin starts the reconcile. The embedded
// server's simulated Rook reconciles only when told; on the real control plane its
// operator also reconciles on events of its own, and in full-suite runs (other tests
// writing beside it) it moved the released OSDs first, so the interleaving these tests
// need cannot be arranged there (they passed there run alone).

/// Items 3 and 11: killed with the upgrade's own CephCluster-level label on. `upgrade
/// status` counts as before the kill (the label is the upgrade's, not a hold of every
/// mgr and OSD) and names the stage it stopped at; `upgrade abort` removes the label
/// and says so, and Rook moves what the stage released.
#[test]
fn a_kill_with_the_cluster_label_on_is_counted_right_and_abort_removes_the_label() {
    let sim = sim_with(Crd::Proposed, 3);
    let ns = ns(&sim);
    let (before, released) = killed_with_the_cluster_label_on(&sim);
    let st = run(&sim, &["upgrade", "status", "-o", "json"]).ok();
    assert!(st.stderr.contains("label a stopped run of this upgrade left on"), "{}", st.stderr);
    let st = st.json();
    assert_eq!(st["total"], before["total"], "{st}\n{before}");
    assert_eq!(st["nextStage"], before["nextStage"], "{st}\n{before}");
    let r = run(&sim, &["upgrade", "abort", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Removed the CephCluster-level ceph.rook.io/do-not-reconcile label"), "{}", r.stdout);
    let c = sim.get(&CEPHCLUSTERS, &ns, &ns).unwrap();
    assert!(c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "{c}");
    assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade-reconcile").is_none(), "{c}");
    assert_eq!(state_now(&sim).unwrap()["phase"], "aborted");
    sim.settle();
    for d in &released {
        assert_eq!(ceph_image_of(&sim.get(&DEPLOYMENTS, &ns, d).unwrap()), IMG, "{d} moved once reconciled");
    }
}

/// Item 7: a stage stopped after its releases and before its reconcile (here the label
/// add is refused): Rook never moves what was released, so `upgrade resume` starts the
/// reconcile itself and finishes, instead of waiting at the gate for ever.
#[test]
fn a_stage_stopped_between_its_releases_and_its_reconcile_is_finished_by_resume() {
    use rook_sim::{Fault, FaultKind};
    let sim = sim_with(Crd::Proposed, 3);
    let ns = ns(&sim);
    sim.reset_replacements();
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]).ok();
    let released = next_releases(&sim);
    let state = sim.state.clone();
    at_the_label_add(
        &sim,
        Box::new(move || {
            state.faults.add(Fault::new(FaultKind::Forbidden).verb("patch").resource("cephclusters").times(1));
        }),
    );
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    for d in &released {
        let d = sim.get(&DEPLOYMENTS, &ns, d).unwrap();
        assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "released: {d}");
        assert_ne!(ceph_image_of(&d), IMG, "not reconciled: {d}");
    }
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "20s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not reconciled by Rook yet"), "{}", r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(sim.replacements(&ns).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns));
}

on_both! {
    /// Item 8: a `--prepull` run killed while its nodes pull leaves its pods; `upgrade
    /// abort` deletes them (found by their labels) and names them.
    fn abort_deletes_and_names_the_prepull_pods_a_killed_run_left() {
        let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 60_000);
        let mut child = spawn(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "5m"]);
        for _ in 0..1000 {
            if prepull_pods(&sim).len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let left = prepull_pods(&sim);
        assert_eq!(left.len(), 3, "the killed run left its pods: {left:?}");
        let r = run(&sim, &["upgrade", "abort", "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("Deleted 3 pre-pull pod(s) a stopped run left"), "{}", r.stdout);
        for p in &left {
            assert!(r.stdout.contains(p.as_str()), "{p} named: {}", r.stdout);
        }
        let gone = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            prepull_pods(&sim).is_empty()
        });
        assert!(gone, "{:?}", prepull_pods(&sim));
        assert!(sim.replacement_log(&ns(&sim)).is_empty());
    }

    /// Item 8: a pre-pull pod of the plugin's for another image (a stopped upgrade's) is
    /// deleted before the next pre-pull, named, and the upgrade goes on.
    fn the_next_prepull_deletes_its_own_pods_a_stopped_run_left_for_another_image() {
        let sim = pulling_sim(rook_sim::Topology { osds: 6, ..Default::default() }, 20);
        let tpl = kubectl_ceph_image::execute::prepull::Template::default();
        let other = "quay.io/ceph/ceph:v20.2.7";
        let stale = kubectl_ceph_image::execute::prepull::manifest(
            &ns(&sim),
            "node-01",
            other,
            &tpl,
            std::time::Duration::from_secs(600),
        );
        create_pod(&sim, &stale);
        let r = run(&sim, &["upgrade", IMG, "--prepull", "--yes", "--timeout", "60s"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("(ceph-image-prepull-node-01) are for another image"), "{}", r.stderr);
        assert!(prepull_pods(&sim).is_empty(), "{:?}", prepull_pods(&sim));
        sim.settle();
        nothing_left(&sim);
    }
}

/// Item 3: killed with the label on, `upgrade resume` removes it and finishes, each
/// daemon replaced once: a real kill in the window, where the older test sets the label by
/// hand. Embedded only: it guards a path that already worked; the same kill on the real
/// server is the abort's test.
#[test]
fn a_resume_after_a_kill_with_the_cluster_label_on_finishes() {
    let sim = sim_with(Crd::Proposed, 3);
    sim.reset_replacements();
    killed_with_the_cluster_label_on(&sim);
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    sim.settle();
    nothing_left(&sim);
    assert!(all_on_target(&sim).is_empty(), "{:?}", all_on_target(&sim));
    assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
}

/// Two resumes at once: while one runs (its state `running`, its process alive; held here
/// at its first batch's gate), a second is refused up front, naming it, and the first
/// finishes with every daemon replaced once.
#[test]
fn a_second_resume_while_one_runs_is_refused_and_names_it() {
    let sim = sim_with(Crd::Proposed, 3);
    sim.reset_replacements();
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]).ok();
    sim.never_ready(&ns(&sim), &next_releases(&sim)[0]);
    let mut first = spawn(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s"]);
    let pid = first.id();
    let running = (0..1000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        state_now(&sim).is_some_and(|s| s["phase"] == "running" && s["runner"]["pid"] == pid)
    });
    assert!(running, "the first resume took the upgrade on: {:?}", state_now(&sim));
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "5s"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("pid {pid} on ")) && r.stderr.contains("refused"), "{}", r.stderr);
    sim.clear_never_ready();
    assert!(first.wait().unwrap().success());
    sim.settle();
    nothing_left(&sim);
    assert!(sim.replacements(&ns(&sim)).values().all(|n| *n == 1), "{:?}", sim.replacements(&ns(&sim)));
}

on_both! {
    /// Two resumes at once, both reading the paused state: the second's run (to a failed
    /// gate here) lands between the first's read and its first state write. The first
    /// meets 409, finds the state another run recorded and is refused (exit 2) before it
    /// moves anything, naming that run.
    fn a_resume_that_loses_the_race_to_another_is_refused_and_names_it() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        run(&sim, &["upgrade", IMG, "--yes", "--canary", "1", "--timeout", "60s"]).ok();
        sim.never_ready(&ns, &next_releases(&sim)[0]);
        let other = another_terminal_at_write(&sim, &ns, 0, &["upgrade", "resume", "--yes", "--timeout", "2s"]);
        let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "60s", "--request-timeout", "5m"]);
        let o = took(&other);
        assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        let st = state_now(&sim).unwrap();
        let pid = st["runner"]["pid"].as_u64().unwrap();
        assert!(
            r.stderr.contains("this one is refused and moves nothing") && r.stderr.contains(&format!("run by pid {pid} on ")),
            "{}",
            r.stderr
        );
        assert_eq!(st["phase"], "failed", "the other run's stop stands: {st}");
    }
}

/// Item 6: a newer image set by hand before Rook moved anything to it (here its reconcile
/// is held by the operator's label, as it is in the moments after the edit): the stop
/// never advises setting it back, says what runs what and the ways on.
#[test]
fn a_newer_image_by_hand_is_never_to_be_set_back() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["upgrade", IMG, "--yes", "--canary", "1"]).ok();
    let other = "quay.io/ceph/ceph:v20.2.7";
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| {
        c["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"] = "true".into();
        c["spec"]["cephVersion"]["image"] = other.into();
    })
    .unwrap();
    sim.settle();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "5s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("Set it back") && r.stderr.contains("setting it back would downgrade"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("let Rook roll the cluster to {other}")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("run(s) {IMG}")) && r.stderr.contains("mon.a"), "what runs what: {}", r.stderr);
    // An older one set by hand: setting it back to the target downgrades nothing.
    let older = "quay.io/ceph/ceph:v20.2.5";
    sim.update(&CEPHCLUSTERS, &ns(&sim), &ns(&sim), |c| c["spec"]["cephVersion"]["image"] = older.into()).unwrap();
    let r = run(&sim, &["upgrade", "resume", "--yes", "--timeout", "5s"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("Setting it back to {IMG} downgrades nothing")), "{}", r.stderr);
}
