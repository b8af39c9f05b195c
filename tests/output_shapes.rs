//! The stable shapes scripts rely on (`status -o json`, a plan) and the text people read,
//! pinned by snapshots. The simulated cluster is deterministic: same names every run.

mod common;

use common::*;
use rook_sim::Crd;

#[test]
fn status_json_shape() {
    let sim = sim_with(Crd::Proposed, 3);
    let r = run(&sim, &["status", "-o", "json"]).ok();
    insta::assert_snapshot!("status_json", r.stdout);
}

#[test]
fn status_yaml_parses_to_the_same_document() {
    let sim = sim_with(Crd::Proposed, 3);
    let json = run(&sim, &["status", "-o", "json"]).ok().json();
    let yaml = run(&sim, &["status", "-o", "yaml"]).ok().stdout;
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, json);
}

#[test]
fn plan_json_shape() {
    let sim = sim_with(Crd::Proposed, 3);
    let r = run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]).ok();
    insta::assert_snapshot!("plan_json", r.stdout);
}

#[test]
fn plan_text() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["pause", "osd.1", "--yes"]).ok();
    let r = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run"]).ok();
    insta::assert_snapshot!("plan_text", r.stdout);
}

#[test]
fn status_text() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["pause", "mon.b", "--yes"]).ok();
    let r = run(&sim, &["status"]).ok();
    insta::assert_snapshot!("status_text", r.stdout);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let sim = sim_with(Crd::Proposed, 3);
    let plain = run(&sim, &["status"]).ok();
    assert!(!plain.stdout.contains('\u{1b}'), "no colour when stdout is not a terminal");
    let forced = run(&sim, &["status", "--color", "always"]).ok();
    assert!(forced.stdout.contains("\u{1b}["), "--color always colours");
    let out = plugin(&sim).args(["status", "--color", "always"]).env("NO_COLOR", "1").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\u{1b}["), "--color always wins over NO_COLOR");
}
