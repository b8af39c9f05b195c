//! rook-sim on copies of clusters: a generated cluster dumped with the real kubectl and
//! loaded again must look the same to the plugin; `demo --serve --from` serves a field file.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};

use common::{kubectl_ok, run};
use rook_sim::{Crd, OperatorConfig, Sim, SimOptions};
use serde_json::Value;

/// Drop what must differ between two simulations of the same objects: resourceVersions
/// (each store numbers its own writes; the plan's patch carries the CephCluster's as its
/// precondition) and when each one's Rook last checked Ceph's health (`status`'s
/// `healthChecked` and `healthAgeSeconds`). Nothing else differs.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("resourceVersion");
            m.remove("healthChecked");
            m.remove("healthAgeSeconds");
            m.values_mut().for_each(normalise);
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn json_of(sim: &Sim, args: &[&str]) -> Value {
    let mut v = run(sim, args).ok().json();
    normalise(&mut v);
    v
}

#[test]
fn a_dumped_and_reloaded_cluster_looks_the_same_to_the_plugin() {
    let first = common::sim(Crd::Proposed);
    let dump =
        kubectl_ok(&first, &["get", "cephclusters.ceph.rook.io,deployments,pods", "-n", "rook-ceph", "-o", "yaml"]);
    assert!(dump.starts_with("apiVersion: v1\nitems:"), "a List: {}", &dump[..dump.len().min(200)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-cluster.yaml");
    std::fs::write(&file, &dump).unwrap();
    let second = Sim::start(SimOptions {
        from: vec![file],
        crd: Crd::Proposed,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        ..Default::default()
    })
    .expect("the dump loads");
    assert_eq!(second.namespaces, ["rook-ceph"]);
    for args in [
        &["status", "-o", "json"][..],
        &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"][..],
        &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"][..],
    ] {
        let (a, b) = (json_of(&first, args), json_of(&second, args));
        assert_eq!(a, b, "{args:?} differs between the generated cluster and its reloaded dump");
    }
    // and the loaded copy's operator rolls like the generated one's
    for sim in [&first, &second] {
        run(sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]).ok();
        sim.settle();
    }
    let (a, b) = (json_of(&first, &["status", "-o", "json"]), json_of(&second, &["status", "-o", "json"]));
    assert_eq!(a, b, "status after `set mgr` differs");
}

#[test]
fn demo_serve_from_a_field_file_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/field/01-floating-mon.yaml");
    let mut child = Command::new(common::bin())
        .args(["demo", "--serve", "--from", fixture, "--kubeconfig-out"])
        .arg(&kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("export KUBECONFIG={}", kc.display()));
    let out = common::plugin_at(&kc).args(["status", "-o", "json"]).write_stdin("").output().unwrap();
    // SAFETY: kill(2) on the child this test started, by its pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("quay.io/ceph/ceph:v20.2.4"), "{text}");
    assert!(text.contains("rook-ceph-mgr-a") || text.contains("\"mgr\""), "{text}");
}
