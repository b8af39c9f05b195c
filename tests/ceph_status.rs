//! `status` asks Ceph once in the Rook operator pod (issue 23 item 1): the commands it
//! runs (as kubectl-rook-ceph runs them), and where Ceph cannot be asked (a hang, no
//! operator pod, an exec refused) one line saying why and what is left unchecked, the rest
//! of `status` as before. Written to stay right when the simulated Ceph answers.
//!
//! What Ceph answers `status`, on the embedded server and on the real control plane, is in
//! kubelet_exec.rs (`status_shows_cephs_health_and_versions_asked_in_the_operator_pod`):
//! that binary starts the real control plane anyway.

mod common;

use common::*;
use rook_sim::resources::{DEPLOYMENTS, PODS};
use rook_sim::server::faults::{Fault, FaultKind};
use rook_sim::{Crd, Sim};

fn execs(sim: &Sim) -> Vec<Vec<String>> {
    sim.log().into_iter().filter(|r| r.resource == "pods/exec").filter_map(|r| r.command).collect()
}

#[test]
fn a_hung_exec_is_given_up_after_the_timeout_and_the_rest_shows() {
    let sim = sim_with(Crd::Released, 3);
    sim.faults().add(Fault::new(FaultKind::Hang).resource("pods/exec"));
    let started = std::time::Instant::now();
    let r = run(&sim, &["status", "--request-timeout", "1s"]).ok();
    // bounded (a hang would never end); generous, so a loaded machine does not fail it
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "bounded: {:?}", started.elapsed());
    assert!(r.stdout.contains("TYPE") && r.stdout.contains("mgr"), "the Kubernetes view as before: {}", r.stdout);
    let line: Vec<&str> = r.stderr.lines().filter(|l| l.contains("Ceph did not answer")).collect();
    assert_eq!(line.len(), 1, "{}", r.stderr);
    assert!(line[0].contains("did not answer within 1s"), "{}", line[0]);
    assert!(line[0].contains("Not checked: Ceph's own health and versions"), "{}", line[0]);
    let j = run(&sim, &["status", "--request-timeout", "1s", "-o", "json"]).ok().json();
    assert_eq!((j["ceph"]["asked"].as_bool(), j["ceph"]["reason"].as_str()), (Some(false), Some("timeout")));
}

#[test]
fn without_an_operator_pod_the_toolbox_is_asked_else_status_says_so() {
    let sim = sim_with(Crd::Released, 3);
    let ns = ns(&sim);
    let op = sim.list(&PODS, &ns).into_iter().find(|p| p["metadata"]["labels"]["app"] == "rook-ceph-operator").unwrap();
    let op = op["metadata"]["name"].as_str().unwrap().to_string();
    sim.state.store().delete(&DEPLOYMENTS, &ns, "rook-ceph-operator", false).unwrap();
    sim.state.store().delete(&PODS, &ns, &op, false).unwrap();
    let r = run(&sim, &["status", "-o", "json"]).ok();
    assert_eq!(r.json()["ceph"]["reason"], "noPod");
    assert!(r.stderr.contains("Ceph not asked: no Rook operator pod Running (app=rook-ceph-operator"), "{}", r.stderr);
    assert!(execs(&sim).is_empty());
    // a toolbox: asked there, with its own ceph.conf (no --conf)
    let mut tools = sim.list(&PODS, &ns).into_iter().find(|p| p["status"]["phase"] == "Running").unwrap();
    tools["metadata"] =
        serde_json::json!({"name": "rook-ceph-tools-x", "namespace": ns, "labels": {"app": "rook-ceph-tools"}});
    tools["spec"]["containers"][0]["name"] = "rook-ceph-tools".into();
    sim.state.store().create(&PODS, &ns, tools, false).unwrap();
    sim.clear_log();
    run(&sim, &["status"]).ok();
    let ran = execs(&sim);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.iter().all(|c| c.last().unwrap() == "--connect-timeout=5"), "{ran:?}");
}

#[test]
fn a_refused_exec_says_which_right_is_missing() {
    let sim = sim_with(Crd::Released, 3);
    sim.faults().add(Fault::new(FaultKind::Forbidden).resource("pods/exec"));
    let r = run(&sim, &["status"]).ok();
    assert!(r.stderr.contains("Ceph not asked: pods \"rook-ceph-operator-"), "{}", r.stderr);
    assert!(r.stderr.contains("cannot get resource \"pods/exec\""), "{}", r.stderr);
}

#[test]
fn verbose_logs_the_command_and_never_a_credential() {
    let sim = sim_with(Crd::Released, 3);
    let r = run(&sim, &["status", "-v"]).ok();
    let line = r.stderr.lines().find(|l| l.contains("ceph versions")).unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(line.contains("-c rook-ceph-operator: ceph versions -f json --connect-timeout=5 --conf="), "{line}");
    assert!(r.stderr.lines().any(|l| l.trim_start().starts_with("exit ")), "the answer: {}", r.stderr);
    assert!(!r.stderr.contains(sim.token()), "no token");
}
