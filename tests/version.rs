//! `version`: the plugin's version and commit, the server's Kubernetes version and the
//! Rook version on the cluster; without a reachable cluster, the client part and exit 1.

mod common;

use common::*;
use rook_sim::Crd;

fn head_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn version_names_the_plugin_the_server_and_rook() {
    let sim = sim(Crd::Released);
    let want = format!("v{}", env!("CARGO_PKG_VERSION"));
    let text = run(&sim, &["version"]).ok();
    assert!(
        text.stdout.starts_with(&format!("Client Version: {want} (commit {})\n", head_commit())),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("Server Version: v1.32."), "{}", text.stdout);
    assert!(text.stdout.contains("Rook Version: v1.20.6 (the rook-version label"), "{}", text.stdout);
    let j = run(&sim, &["version", "-o", "json"]).ok().json();
    assert_eq!(j["clientVersion"]["version"], want.as_str());
    assert_eq!(j["clientVersion"]["commit"], head_commit().as_str());
    assert_eq!(j["serverVersion"]["major"], "1");
    assert_eq!(j["serverVersion"]["minor"], "32");
    assert_eq!(j["rookVersion"]["version"], "v1.20.6");
    assert_eq!(j["rookVersion"]["namespace"], "rook-ceph");
    assert!(j["rookVersion"]["deployments"]["v1.20.6"].as_u64().unwrap() > 10, "{j}");
    let paths: Vec<String> = sim.log().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p == "/version"), "{paths:?}");
    assert!(sim.mutating_requests().is_empty());
}

#[test]
fn without_a_cluster_version_prints_the_client_part_and_exits_1() {
    // a kubeconfig whose server does not answer (a port nothing listens on)
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{port}\n\
             contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let out = plugin_at(&kc).args(["version", "--request-timeout", "5s"]).output().unwrap();
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(so.starts_with("Client Version: v"), "{so}");
    assert!(!so.contains("Server Version"), "{so}");
    assert!(se.contains(&format!("127.0.0.1:{port}")) && se.contains("could not be read"), "{se}");
    let out = plugin_at(&kc).args(["version", "-o", "json", "--request-timeout", "5s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["clientVersion"]["version"].is_string() && j["serverVersion"].is_null(), "{j}");
    // --client sends nothing: no kubeconfig needed at all
    let out = plugin_at(&dir.path().join("missing")).args(["version", "--client"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Client Version: v"));
}
