//! The simulated Ceph on a running simulation (issue 23 item 7): `rook_sim::ceph::exec`, the
//! function every exec path calls, answering from the pods and nodes the simulation runs.

use std::time::Duration;

use rook_sim::ceph::state::FaultKind;
use rook_sim::ceph::{ExecOutcome, exec};
use rook_sim::{Sim, SimOptions};
use serde_json::Value;

const NS: &str = "rook-ceph";
/// kubectl-rook-ceph's arguments (its exec.go): the cluster's config and keyring.
const CONF: &str = "--conf=/var/lib/rook/rook-ceph/rook-ceph.config";

fn run(sim: &Sim, args: &[&str]) -> ExecOutcome {
    let mut argv = vec!["ceph", CONF, "--keyring=/var/lib/rook/rook-ceph/client.admin.keyring", "--connect-timeout=10"];
    argv.extend(args);
    let argv: Vec<String> = argv.into_iter().map(String::from).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // the operator's namespace: the cluster comes from --conf
    rt.block_on(exec(&sim.state, "rook-ceph-operator-ns", "rook-ceph-operator-0", "rook-ceph-operator", &argv))
}

fn json(o: &ExecOutcome) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

fn stderr(o: &ExecOutcome) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_node_down_takes_its_osds_and_mon_down_in_ceph() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    let o = run(&sim, &["osd", "ok-to-stop", "0", "--max=20", "-f", "json"]);
    assert_eq!(o.exit_code, 0, "{}", stderr(&o));
    assert_eq!(json(&o)["osds"], serde_json::json!([0, 3, 6, 9]), "node-00's OSDs");
    let v = json(&run(&sim, &["versions"]));
    assert_eq!(v["osd"].as_object().unwrap().values().next(), Some(&Value::from(12)));

    sim.set_node_down("node-01", true);
    let o = run(&sim, &["osd", "ok-to-stop", "0", "-f", "json"]);
    assert_eq!(o.exit_code, 16);
    assert_eq!(json(&o)["ok_to_stop"], false);
    assert!(stderr(&o).starts_with("Error EBUSY: unsafe to stop osd(s) at this time ("), "{}", stderr(&o));
    let h = json(&run(&sim, &["health", "detail", "--format=json"]));
    assert_eq!(h["checks"]["OSD_DOWN"]["summary"]["message"], "4 osds down");
    assert_eq!(h["checks"]["OSD_HOST_DOWN"]["detail"][0]["message"], "host node-01 (root=default) (4 osds) is down");
    assert_eq!(h["checks"]["MON_DOWN"]["summary"]["message"], "1/3 mons down, quorum a,c");
    let o = run(&sim, &["mon", "ok-to-stop", "a"]);
    assert_eq!(o.exit_code, 16, "only a and c in quorum");
    let s = json(&run(&sim, &["status", "-f", "json"]));
    assert_eq!((s["osdmap"]["num_osds"].as_u64(), s["osdmap"]["num_up_osds"].as_u64()), (Some(12), Some(8)));
    let v = json(&run(&sim, &["versions"]));
    assert_eq!(v["osd"].as_object().unwrap().values().next(), Some(&Value::from(8)), "down OSDs run nothing");

    sim.set_node_down("node-01", false);
    let o = run(&sim, &["osd", "ok-to-stop", "0", "-f", "json"]);
    assert_eq!(o.exit_code, 0, "{}", stderr(&o));
    let h = json(&run(&sim, &["health", "-f", "json"]));
    assert!(h["checks"].get("OSD_DOWN").is_none(), "{h}");
    // the generated cluster was created on 20.2.4, so its keys are AES256K already
    assert_eq!(h["status"], "HEALTH_OK", "{h}");
    assert!(h["checks"].get("AUTH_INSECURE_SERVICE_KEY_TYPE").is_none());
}

#[test]
fn faults_make_ceph_fail_hang_or_print_garbage() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    sim.ceph_fault(FaultKind::Fail { exit_code: 110, stderr: "timed out".into() }, Some("osd ok-to-stop"), Some(1));
    assert_eq!(run(&sim, &["versions"]).exit_code, 0, "another command");
    let o = run(&sim, &["osd", "ok-to-stop", "1"]);
    assert_eq!((o.exit_code, stderr(&o).as_str()), (110, "timed out\n"));
    assert_eq!(run(&sim, &["osd", "ok-to-stop", "1"]).exit_code, 0, "count 1: once");
    sim.ceph_fault(FaultKind::Garbage, None, Some(1));
    let o = run(&sim, &["status", "-f", "json"]);
    assert_eq!(o.exit_code, 0);
    assert!(serde_json::from_slice::<Value>(&o.stdout).is_err());
    sim.ceph_fault(FaultKind::Hang, None, None);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let argv: Vec<String> = ["ceph", "health"].into_iter().map(String::from).collect();
    let r = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(200), exec(&sim.state, NS, "p", "c", &argv)).await
    });
    assert!(r.is_err(), "hangs");
    sim.clear_ceph_faults();
    assert_eq!(run(&sim, &["health"]).exit_code, 0);
    // a program that is not ceph, and a namespace without a cluster
    let o = rt.block_on(exec(&sim.state, NS, "p", "c", &["rados".to_string()]));
    assert_eq!(o.exit_code, 127);
    let o = rt.block_on(exec(&sim.state, "default", "p", "c", &["ceph".to_string(), "health".to_string()]));
    assert_eq!(o.exit_code, 1);
}

/// The cephx key-type boundary (issue 23): a cluster created below it keeps its `aes` keys
/// when an upgrade crosses it, so the mons raise AUTH_INSECURE_SERVICE_KEY_TYPE at
/// HEALTH_ERR until the keys are rotated; a cluster created on a fixed release has none.
#[test]
fn an_upgrade_across_the_key_type_boundary_raises_the_insecure_key_error_until_rotated() {
    let mut opts = SimOptions::default();
    opts.topology.ceph_image = "quay.io/ceph/ceph:v20.2.2".into();
    opts.operator.daemon_delay = Duration::ZERO;
    let sim = Sim::start(opts).unwrap();
    assert_eq!(json(&run(&sim, &["health", "-f", "json"]))["status"], "HEALTH_OK");
    sim.update(&rook_sim::resources::CEPHCLUSTERS, NS, NS, |c| {
        c["spec"]["cephVersion"]["image"] = "quay.io/ceph/ceph:v20.2.4".into()
    })
    .unwrap();
    sim.settle();
    let h = json(&run(&sim, &["health", "detail", "-f", "json"]));
    assert_eq!(h["status"], "HEALTH_ERR", "{h}");
    assert_eq!(h["checks"]["AUTH_INSECURE_SERVICE_KEY_TYPE"]["severity"], "HEALTH_ERR");
    sim.rotate_service_keys(NS);
    assert_eq!(json(&run(&sim, &["health", "-f", "json"]))["status"], "HEALTH_OK");
}
