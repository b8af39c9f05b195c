//! Faults from outside: rook-sim's admin endpoint over real HTTPS (the real curl, with the
//! simulation's CA), its token, and `demo --serve --fault`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rook_sim::{Crd, Sim};
use serde_json::{Value, json};

const FAULTS: &str = "/rook-sim/faults";

/// One request with the real curl, checking the server against the simulation's CA.
/// Returns the status and the body.
fn curl(url: &str, ca: &Path, token: Option<&str>, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-X", method, "--cacert"]).arg(ca);
    if let Some(t) = token {
        c.arg("-H").arg(format!("Authorization: Bearer {t}"));
    }
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = c.arg(format!("{url}{path}")).output().expect("curl runs (it is needed by these tests)");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status"), body.to_string())
}

fn admin(sim: &Sim, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (code, text) = curl(&sim.url, sim.ca_file(), Some(sim.admin_token()), method, path, body);
    (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn listed(sim: &Sim) -> Value {
    let (code, v) = admin(sim, "GET", FAULTS, None);
    assert_eq!(code, 200, "{v}");
    v
}

fn statuses(sim: &Sim, verb: &str, resource: &str) -> Vec<u16> {
    sim.log().iter().filter(|l| l.verb == verb && l.resource == resource).map(|l| l.status).collect()
}

#[test]
fn a_fault_set_over_https_takes_effect_is_listed_and_cleared() {
    let sim = sim(Crd::Proposed);
    let (code, f) =
        admin(&sim, "POST", FAULTS, Some(r#"{"kind": 503, "verb": "list", "resource": "deployments", "count": 2}"#));
    assert_eq!(code, 201, "{f}");
    assert_eq!(
        f,
        json!({"id": f["id"], "kind": "status", "code": 503, "verb": "list", "resource": "deployments", "remaining": 2})
    );
    assert_eq!(listed(&sim)["faults"], json!([f]));

    // the plugin meets it (twice, then retries through), with its output free of the token
    let r = run(&sim, &["status", "-o", "json", "--verbose"]).ok();
    assert_eq!(statuses(&sim, "list", "deployments"), [503, 503, 200]);
    assert!(!r.stdout.contains(sim.admin_token()) && !r.stderr.contains(sim.admin_token()));
    assert_eq!(listed(&sim), json!({"faults": [], "latency_ms": 0}), "used up");
    assert!(sim.log().iter().all(|l| !l.path.starts_with("/rook-sim")), "admin requests are not logged");

    // until cleared: listed without a count, removed by id
    let (code, f) =
        admin(&sim, "POST", FAULTS, Some(r#"{"kind": "forbidden", "verb": "patch", "resource": "cephclusters"}"#));
    assert_eq!(code, 201, "{f}");
    assert_eq!(listed(&sim)["faults"][0]["remaining"], Value::Null);
    let r = run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(statuses(&sim, "patch", "cephclusters"), [403]);
    let (code, removed) = admin(&sim, "DELETE", &format!("{FAULTS}/{}", f["id"]), None);
    assert_eq!((code, &removed), (200, &f));
    assert_eq!(listed(&sim)["faults"], json!([]));
    run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]).ok();

    // DELETE clears every rule and the latency
    admin(&sim, "POST", FAULTS, Some(r#"{"kind": "latency", "ms": 5}"#));
    admin(&sim, "POST", FAULTS, Some(r#"{"kind": "drop", "verb": "watch", "count": 1}"#));
    admin(&sim, "POST", FAULTS, Some(r#"{"kind": "conflict", "name": "rook-ceph"}"#));
    let l = listed(&sim);
    assert_eq!((l["faults"].as_array().unwrap().len(), &l["latency_ms"]), (2, &json!(5)));
    let (code, after) = admin(&sim, "DELETE", FAULTS, None);
    assert_eq!((code, after), (200, json!({"faults": [], "latency_ms": 0})));
    let (code, e) = admin(&sim, "DELETE", &format!("{FAULTS}/{}", f["id"]), None);
    assert_eq!((code, &e["reason"]), (404, &json!("NotFound")), "{e}");
}

#[test]
fn the_admin_endpoint_takes_only_the_admin_token() {
    let sim = sim(Crd::Proposed);
    let body = Some(r#"{"kind": 500}"#);
    for (token, want) in [(None, 401), (Some("not-the-token"), 401), (Some(sim.token()), 403)] {
        for method in ["GET", "POST", "DELETE"] {
            let (code, text) = curl(&sim.url, sim.ca_file(), token, method, FAULTS, body.filter(|_| method == "POST"));
            assert_eq!(code, want, "{method} with {token:?}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["kind"], "Status", "{v}");
        }
    }
    assert_eq!(listed(&sim)["faults"], json!([]), "nothing was added");
    // and the admin token is not a Kubernetes user
    let (code, _) = curl(&sim.url, sim.ca_file(), Some(sim.admin_token()), "GET", "/api/v1/namespaces", None);
    assert_eq!(code, 401);
    // the token's file is the owner's alone, next to the kubeconfig, as is the CA
    let file = sim.admin_token_file();
    assert_eq!(std::fs::read_to_string(file).unwrap(), sim.admin_token());
    assert_eq!(file.parent(), sim.kubeconfig().parent());
    assert_ne!(sim.admin_token(), sim.token());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(std::fs::read_to_string(sim.ca_file()).unwrap(), sim.ca_pem);
}

#[test]
fn bad_bodies_answer_400_with_what_is_wrong() {
    let sim = sim(Crd::Proposed);
    for (body, says) in [
        ("", "the body is empty"),
        ("not json", "the body is not JSON"),
        (r#"{"kind": "teapot"}"#, "unknown kind \"teapot\""),
        (r#"{"verb": "patch"}"#, "kind is missing"),
        (r#"{"kind": 500, "verbs": "patch"}"#, "unknown field `verbs`"),
        (r#"{"kind": 500, "resource": "deployment"}"#, "unknown resource \"deployment\""),
        (r#"{"kind": 500, "count": 0}"#, "count must be at least 1"),
        (r#"{"kind": "status"}"#, "status needs code"),
        (r#"{"kind": "latency", "ms": 5, "verb": "get"}"#, "not taken"),
    ] {
        let (code, v) = admin(&sim, "POST", FAULTS, Some(body));
        assert_eq!((code, &v["reason"]), (400, &json!("BadRequest")), "{body}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.starts_with("invalid fault: ") && msg.contains(says), "{body}: {msg}");
    }
    assert_eq!(listed(&sim), json!({"faults": [], "latency_ms": 0}), "nothing was added");
    let (code, _) = admin(&sim, "PUT", FAULTS, Some("{}"));
    assert_eq!(code, 405);
}

#[test]
fn drop_watches_cuts_an_open_watch() {
    let sim = sim(Crd::Proposed);
    let mut watch = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "30", "--cacert"])
        .arg(sim.ca_file())
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", sim.token()))
        .arg(format!("{}/api/v1/namespaces/rook-ceph/pods?watch=true", sim.url))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl runs");
    let start = Instant::now();
    loop {
        let (code, v) = admin(&sim, "POST", FAULTS, Some(r#"{"kind": "drop-watches"}"#));
        assert_eq!(code, 200, "{v}");
        if v["cut"].as_u64() >= Some(1) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the watch never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cut = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the watch was not cut");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!cut.success(), "curl saw the stream end mid-way: {cut:?}");
    assert_eq!(listed(&sim)["faults"], json!([]), "an action, not a rule");
}

/// `demo --serve` with 3 OSDs, no restart delay, its kubeconfig at `kc` and `extra`
/// flags: the child and the four export lines it prints once it serves.
fn demo_serve(kc: &Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(bin())
        .args(["demo", "--serve", "--osds", "3", "--restart-delay-ms", "0", "--kubeconfig-out"])
        .arg(kc)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut exports = String::new();
    for _ in 0..4 {
        reader.read_line(&mut exports).unwrap();
    }
    (child, exports)
}

#[test]
fn demo_serve_starts_with_the_fault_flags_and_exports_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let (mut child, exports) = demo_serve(
        &kc,
        &[
            "--fault",
            "forbidden,verb=list,resource=cephclusters",
            "--fault",
            "500,verb=patch,resource=deployments,count=2",
        ],
    );
    let token = std::fs::read_to_string(dir.path().join("kubeconfig.admin-token")).unwrap_or_default();
    // the exports work in a shell as printed; one request lists the flags' faults
    let env = dir.path().join("rook-sim.env");
    std::fs::write(&env, &exports).unwrap();
    let listing = Command::new("sh")
        .arg("-c")
        .arg(
            r#". "$1" && curl -sS --cacert "$ROOK_SIM_CACERT" -H "Authorization: Bearer $ROOK_SIM_ADMIN_TOKEN" "$ROOK_SIM_URL/rook-sim/faults""#,
        )
        .arg("sh")
        .arg(&env)
        .output()
        .unwrap();
    let status = plugin_at(&kc).args(["status", "-o", "json"]).write_stdin("").output().unwrap();
    // SAFETY: kill(2) on the child this test started, by its pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();

    let lines: Vec<&str> = exports.lines().collect();
    assert_eq!(lines[0], format!("export KUBECONFIG={}", kc.display()), "{exports}");
    assert!(lines[1].starts_with("export ROOK_SIM_URL=https://127.0.0.1:"), "{exports}");
    assert_eq!(lines[2], format!("export ROOK_SIM_CACERT={}.ca.crt", kc.display()));
    assert_eq!(lines[3], format!("export ROOK_SIM_ADMIN_TOKEN=\"$(cat '{}.admin-token')\"", kc.display()));
    assert_eq!(token.len(), 40);
    assert!(!exports.contains(&token), "the token itself is not printed");
    let v: Value = serde_json::from_slice(&listing.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&listing.stderr)));
    assert_eq!(
        v,
        json!({"faults": [
            {"id": 1, "kind": "forbidden", "verb": "list", "resource": "cephclusters", "remaining": null},
            {"id": 2, "kind": "status", "code": 500, "verb": "patch", "resource": "deployments", "remaining": 2}],
            "latency_ms": 0})
    );
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(!status.status.success() && err.contains("forbidden"), "the flag's fault took effect: {err}");
}

#[test]
fn demo_refuses_a_fault_flag_it_cannot_use() {
    let out = assert_cmd::Command::new(bin()).args(["demo", "--serve", "--fault", "500,verb=PATCH"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--fault") && err.contains("unknown verb \"PATCH\""), "{err}");
}

#[test]
fn nodes_go_down_and_up_and_ceph_faults_are_set_over_https() {
    let sim = sim(Crd::Proposed);
    let (code, v) = admin(&sim, "GET", "/rook-sim/nodes", None);
    assert_eq!((code, &v["nodes"][1]), (200, &json!({"name": "node-01", "down": false})));
    let (code, v) = admin(&sim, "PUT", "/rook-sim/nodes/node-01", Some(r#"{"down": true}"#));
    assert_eq!((code, v), (200, json!({"name": "node-01", "down": true})));
    // the simulated Ceph sees it: node-01's OSDs are down, stopping another host's is refused
    let o = sim.ceph("rook-ceph", &["osd", "ok-to-stop", "0", "-f", "json"]);
    assert_eq!(o.exit_code, 16, "{}", String::from_utf8_lossy(&o.stderr));
    let pods = sim.list(&rook_sim::resources::PODS, "rook-ceph");
    let on_01 =
        |p: &&Value| p["spec"]["nodeName"] == "node-01" && p["metadata"]["name"].as_str().unwrap().contains("-osd-");
    assert!(pods.iter().filter(on_01).all(|p| p["status"]["phase"] == "Unknown"));
    let (code, _) = admin(&sim, "PUT", "/rook-sim/nodes/node-01", Some(r#"{"down": false}"#));
    assert_eq!(code, 200);
    assert_eq!(sim.ceph("rook-ceph", &["osd", "ok-to-stop", "0"]).exit_code, 0);
    assert_eq!(admin(&sim, "PUT", "/rook-sim/nodes/node-99", Some(r#"{"down": true}"#)).0, 404);
    assert_eq!(admin(&sim, "PUT", "/rook-sim/nodes/node-01", Some(r#"{"down": "yes"}"#)).0, 400);

    let (code, f) = admin(
        &sim,
        "POST",
        "/rook-sim/ceph/faults",
        Some(r#"{"kind": "fail", "exit_code": 110, "command": "osd ok-to-stop"}"#),
    );
    assert_eq!(code, 201, "{f}");
    assert_eq!(f["kind"], "fail");
    assert_eq!(sim.ceph("rook-ceph", &["osd", "ok-to-stop", "0"]).exit_code, 110);
    assert_eq!(admin(&sim, "POST", "/rook-sim/ceph/faults", Some(r#"{"kind": "boom"}"#)).0, 400);
    let (code, v) = admin(&sim, "DELETE", "/rook-sim/ceph/faults", None);
    assert_eq!((code, v), (200, json!({"faults": []})));
    assert_eq!(sim.ceph("rook-ceph", &["osd", "ok-to-stop", "0"]).exit_code, 0);
    let (code, _) = curl(&sim.url, sim.ca_file(), Some(sim.token()), "GET", "/rook-sim/nodes", None);
    assert_eq!(code, 403, "the kubeconfig user's token is not the admin's");
}

#[test]
fn demo_serve_starts_with_nodes_down() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let (mut child, exports) = demo_serve(&kc, &["--nodes-down", "node-02"]);
    let env = dir.path().join("rook-sim.env");
    std::fs::write(&env, &exports).unwrap();
    let listing = Command::new("sh")
        .arg("-c")
        .arg(r#". "$1" && curl -sS --cacert "$ROOK_SIM_CACERT" -H "Authorization: Bearer $ROOK_SIM_ADMIN_TOKEN" "$ROOK_SIM_URL/rook-sim/nodes""#)
        .arg("sh")
        .arg(&env)
        .output()
        .unwrap();
    // SAFETY: kill(2) on the child this test started, by its pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let v: Value = serde_json::from_slice(&listing.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&listing.stderr)));
    assert_eq!(v["nodes"][2], json!({"name": "node-02", "down": true}), "{v}");
    assert_eq!(v["nodes"][0]["down"], false);

    let out = assert_cmd::Command::new(bin()).args(["demo", "--serve", "--nodes-down", "node-7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--nodes-down node-7: no such node; the nodes are node-00, node-01, node-02"), "{err}");
}
