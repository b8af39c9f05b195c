//! Every flag value bounded and validated (issue 13): a bad one exits 2 with the reason,
//! never a panic (101) or a false connection error, and sends no mutating request; two
//! Deployments claiming one daemon id are reported and acted on together, as the output says.

mod common;

use std::collections::BTreeSet;

use common::*;
use rook_sim::resources::DEPLOYMENTS;
use rook_sim::{Crd, Sim};
use serde_json::Value;

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";

#[test]
fn bad_flag_values_exit_2_with_the_reason_and_send_nothing() {
    let sim = sim(Crd::Proposed);
    let hex64 = "0123456789abcdef".repeat(4);
    let sha512_short = format!("quay.io/ceph/ceph@sha512:{hex64}");
    let md5 = "quay.io/ceph/ceph@md5:0123456789abcdef0123456789abcdef".to_string();
    let set = |extra: &[&str]| -> Vec<String> {
        ["set", "mgr", IMG, "--yes"].iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let image = |img: &str| -> Vec<String> { ["set", "mgr", img, "--yes"].iter().map(|s| s.to_string()).collect() };
    let fence = |extra: &[&str]| -> Vec<String> {
        ["set", "osd", IMG, "--strategy", "fence", "--yes"].iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (set(&["--timeout", "99999999999h"]), "--timeout \"99999999999h\": too long"),
        (set(&["--timeout", "99999999999999999999999999s"]), "too long"),
        (set(&["--timeout", "-5m"]), "a duration cannot be negative"),
        (set(&["--request-timeout", "99999999999h"]), "--request-timeout \"99999999999h\": too long"),
        (set(&["--request-timeout", "-1s"]), "cannot be negative"),
        (set(&["--request-timeout", "1ns"]), "the smallest unit is ms"),
        (fence(&["--pause-between", "99999999999h"]), "--pause-between \"99999999999h\": too long"),
        (fence(&["--pause-between", "-2m"]), "cannot be negative"),
        (set(&["-n", ""]), "--namespace is empty"),
        (set(&["--namespace", "Not/A/Namespace"]), "is not a valid name"),
        (set(&["--cluster", ""]), "--cluster is empty"),
        (image(&sha512_short), "a sha512 digest has exactly 128 lower-case hex digits"),
        (image(&md5), "digest algorithm \"md5\" is not supported"),
        (image(&format!("quay.io/ceph/ceph@sha256:{}", hex64.to_uppercase())), "some upper case"),
        (image("registry.example.com:0/ceph/ceph:v20.2.5"), "registry port 0 is out of range"),
        (image("registry.example.com:99999/ceph/ceph:v20.2.5"), "registry port 99999 is out of range"),
        (image("quay.io/ceph/ceph:v20+1"), "the tag must be"),
        (vec!["pause".into(), "-l".into(), "".into(), "--yes".into()], "is empty and would pause every daemon"),
        (vec!["pause".into(), "osd".into(), "--node".into(), "".into(), "--yes".into()], "--node is empty"),
    ];
    for (args, why) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&sim, &args);
        assert_eq!(r.code, 2, "{args:?}: exit {}\n{}", r.code, r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: want {why:?} in:\n{}", r.stderr);
        assert!(!r.stderr.contains("is Rook installed") && !r.stderr.contains("connect"), "{}", r.stderr);
    }
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
    // a good value of the same flags is accepted
    run(&sim, &["set", "mgr", IMG, "--dry-run", "--timeout", "168h", "--request-timeout", "1m30s"]).ok();
    let sha512 = format!("quay.io/ceph/ceph@sha512:{}", hex64.repeat(2));
    run(&sim, &["set", "mgr", &sha512, "--dry-run"]).ok();
    run(&sim, &["set", "mgr", "registry.example.com:65535/ceph/ceph:v20.2.5", "--dry-run"]).ok();
}

#[test]
fn demo_sizes_are_bounded() {
    for (args, why) in [
        (&["demo", "--osds", "99999999999"][..], "--osds"),
        (&["demo", "--nodes", "0"][..], "--nodes"),
        (&["demo", "--rgw-instances", "0"][..], "--rgw-instances"),
        (&["demo", "--rgw-instances", "17"][..], "--rgw-instances"),
        (&["demo", "--restart-delay-ms", "99999999999"][..], "--restart-delay-ms"),
        (&["demo", "--ready-delay-ms", "60001"][..], "--ready-delay-ms"),
        (&["demo", "--health-settle-ms", "600001"][..], "--health-settle-ms"),
    ] {
        let o = plugin_at(std::path::Path::new("/nonexistent")).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(why), "{args:?}");
    }
}

/// A second Deployment claiming `ceph-osd-id=5`, as a botched manual copy leaves it.
fn duplicate_osd5(sim: &Sim) {
    let mut copy = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-5").unwrap();
    let m = copy["metadata"].as_object_mut().unwrap();
    for f in ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"] {
        m.remove(f);
    }
    m.insert("name".into(), "rook-ceph-osd-5-old".into());
    sim.state.store().create(&DEPLOYMENTS, "rook-ceph", copy, false).unwrap();
}

fn warning<'a>(doc: &'a Value, code: &str) -> Option<&'a str> {
    doc["warnings"].as_array()?.iter().find(|w| w["code"] == code).and_then(|w| w["message"].as_str())
}

#[test]
fn duplicate_daemon_ids_are_reported_and_acted_on_together() {
    let sim = sim(Crd::Proposed);
    duplicate_osd5(&sim);
    let both: BTreeSet<String> = ["rook-ceph-osd-5", "rook-ceph-osd-5-old"].map(String::from).into();

    let status = run(&sim, &["status", "-o", "json"]).ok().json();
    let w = warning(&status, "duplicate-id").expect("status warns");
    assert!(w.contains("osd.5 is claimed by 2 Deployments (rook-ceph-osd-5, rook-ceph-osd-5-old)"), "{w}");
    let text = run(&sim, &["status"]).ok().stdout;
    assert!(text.contains("duplicate-id: osd.5 is claimed by 2 Deployments"), "{text}");

    // the plan says it acts on both, and lists both writes
    let dry = run(&sim, &["pause", "osd.5", "--dry-run", "-o", "json"]).ok().json();
    let w = warning(&dry["plan"], "duplicate-id").expect("the plan warns");
    assert!(w.contains("this pause acts on all of them"), "{w}");
    let objects: BTreeSet<String> = dry["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["object"]["deployment"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(objects, both);
    // a plan that does not touch osd.5 still reports it
    let other = run(&sim, &["pause", "osd.1", "--dry-run", "-o", "json"]).ok().json();
    assert!(warning(&other["plan"], "duplicate-id").unwrap().contains("which one it updates is not defined"));
    assert!(sim.mutating_requests().is_empty());

    let r = run(&sim, &["pause", "osd.5", "--yes"]).ok();
    assert!(r.stdout.contains("this pause acts on all of them"), "said in the output: {}", r.stdout);
    assert_eq!(labelled(&sim), both);
    let patched: BTreeSet<String> = sim.mutating_requests().iter().filter_map(|l| l.name.clone()).collect();
    assert_eq!(patched, both, "one label patch each, nothing else");

    sim.clear_log();
    let r = run(&sim, &["resume", "osd.5", "--yes"]).ok();
    assert!(r.stdout.contains("this resume acts on all of them"), "{}", r.stdout);
    assert!(labelled(&sim).is_empty());

    let fence = run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--dry-run", "-o", "json"]).ok().json();
    assert!(warning(&fence["plan"], "duplicate-id").unwrap().contains("this fence acts on all of them"));
    let fenced: BTreeSet<&str> = fence["writes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["object"]["deployment"].as_str())
        .filter(|o| o.contains("osd-5"))
        .collect();
    assert_eq!(fenced.len(), 2, "{fenced:?}");
}
