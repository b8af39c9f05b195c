//! A proper kubectl plugin: the krew manifest, the release archive, the name kubectl finds
//! it by, and completion through kubectl itself.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use rook_sim::Crd;
use serde_json::Value;
use sha2::Digest;

fn manifest(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_manifest(m: &Value) {
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "ceph-image");
    let short = m["spec"]["shortDescription"].as_str().unwrap();
    assert!(short.chars().count() <= 50, "shortDescription is at most 50 characters: {short:?}");
    assert!(m["spec"]["version"].as_str().unwrap().starts_with('v'));
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    let mut selectors = BTreeSet::new();
    for p in platforms {
        let l = &p["selector"]["matchLabels"];
        let key = (l["os"].as_str().unwrap().to_string(), l["arch"].as_str().unwrap().to_string());
        assert!(selectors.insert(key.clone()), "platform selectors overlap: {key:?}");
        assert_eq!(p["bin"], "kubectl-ceph-image");
        let from: BTreeSet<&str> = p["files"].as_array().unwrap().iter().map(|f| f["from"].as_str().unwrap()).collect();
        assert_eq!(from, BTreeSet::from(["kubectl-ceph-image", "LICENSE"]), "the archive holds the binary and LICENSE");
        let sha = p["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{sha}");
        assert!(p["uri"].as_str().unwrap().ends_with(&format!("_{}_{}.tar.gz", key.0, key.1)));
    }
    let want: BTreeSet<(String, String)> = ["linux", "darwin"]
        .iter()
        .flat_map(|os| ["amd64", "arm64"].iter().map(move |a| (os.to_string(), a.to_string())))
        .collect();
    assert_eq!(selectors, want);
}

#[test]
fn the_krew_manifest_is_valid() {
    check_manifest(&manifest(Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.yaml").as_path()));
}

#[test]
fn the_release_archive_matches_its_manifest() {
    let out = tempfile::tempdir().unwrap();
    let st = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release.sh"))
        .args(["--binary", bin().to_str().unwrap(), "--out", out.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let m = manifest(&out.path().join("ceph-image.yaml"));
    check_manifest(&m);
    let archive = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let entry = m["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["uri"].as_str().unwrap().ends_with(&name))
        .expect("the manifest names this platform's archive");
    let digest = format!("{:x}", sha2::Sha256::digest(std::fs::read(&archive).unwrap()));
    assert_eq!(entry["sha256"], digest.as_str());
    let listing = Command::new("tar").arg("tzf").arg(&archive).output().unwrap();
    let files: BTreeSet<String> = String::from_utf8_lossy(&listing.stdout).lines().map(str::to_string).collect();
    assert_eq!(files, BTreeSet::from(["kubectl-ceph-image".to_string(), "LICENSE".to_string()]));
}

/// A PATH with only the given links to the built binary, then the system's.
fn path_with(links: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for l in links {
        std::os::unix::fs::symlink(bin(), dir.path().join(l)).unwrap();
    }
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    (dir, path)
}

fn kubectl_with_path(path: &str, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new("kubectl")
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache.path())
        .output()
        .expect("kubectl runs")
}

#[test]
fn kubectl_finds_the_plugin_as_kubectl_ceph_underscore_image() {
    let sim = sim(Crd::Proposed);
    let (_dir, path) = path_with(&["kubectl-ceph_image"]);
    let help = kubectl_with_path(&path, sim.kubeconfig(), &["ceph-image", "--help"]);
    assert!(help.status.success(), "{}", stderr(&help));
    assert!(stdout(&help).contains("Usage: kubectl ceph-image"), "{}", stdout(&help));
    let status = kubectl_with_path(&path, sim.kubeconfig(), &["ceph-image", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains("CephCluster rook-ceph/rook-ceph"), "{}", stdout(&status));
    let list = kubectl_with_path(&path, sim.kubeconfig(), &["plugin", "list"]);
    assert!(list.status.success());
    assert!(stdout(&list).contains("kubectl-ceph_image"), "{}", stdout(&list));
    assert!(!stderr(&list).to_lowercase().contains("warning"), "{}", stderr(&list));
    // A file named kubectl-ceph-image would answer `kubectl ceph image`, not `kubectl ceph-image`.
    let (_dir2, wrong) = path_with(&["kubectl-ceph-image"]);
    let miss = kubectl_with_path(&wrong, sim.kubeconfig(), &["ceph-image", "--help"]);
    assert!(!miss.status.success());
    assert!(stderr(&miss).contains("unknown command \"ceph-image\""), "{}", stderr(&miss));
}

#[test]
fn kubectl_completes_through_the_plugin_with_ids_from_the_cluster() {
    let sim = sim(Crd::Proposed);
    let (_dir, path) = path_with(&["kubectl-ceph_image", "kubectl_complete-ceph_image"]);
    let comp = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["__complete", "ceph-image"];
        a.extend_from_slice(args);
        let o = kubectl_with_path(&path, sim.kubeconfig(), &a);
        stdout(&o).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect()
    };
    let subs = comp(&[""]);
    for s in ["status", "set", "unset", "pause", "resume", "demo", "completion"] {
        assert!(subs.contains(&s.to_string()), "{s}: {subs:?}");
    }
    assert_eq!(subs.last().map(String::as_str), Some(":4"));
    assert_eq!(comp(&["pause", "osd.1"]), ["osd.1", "osd.10", "osd.11", ":4"]);
    assert!(comp(&["pause", "c"]).contains(&"cluster".to_string()));
    assert!(!comp(&["pause", "cr"]).iter().any(|c| c.starts_with("crash.")), "crash cannot be paused");
    assert_eq!(comp(&["set", "m"]), ["mon", "mgr", "mds", ":4"]);
    assert_eq!(comp(&["set", "mgr", ""]), ["quay.io/ceph/ceph:v20.2.4", ":4"], "images in use");
    assert_eq!(comp(&["-n", ""]), ["rook-ceph", ":4"], "namespaces holding a CephCluster");
    assert!(comp(&["pause", "osd", "--node", ""]).contains(&"node-01".to_string()));
}

#[test]
fn completion_scripts_for_each_shell() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef kubectl-ceph_image"), ("fish", "complete -c kubectl-ceph_image")]
    {
        let out = assert_cmd::Command::new(bin()).args(["completion", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(marker), "{shell}");
    }
}

#[test]
fn every_subcommand_help_has_examples_and_the_kubectl_usage_line() {
    use clap::CommandFactory;
    kubectl_ceph_image::cli::Cli::command().debug_assert();
    for sub in ["status", "set", "unset", "pause", "resume", "demo", "completion"] {
        let out = assert_cmd::Command::new(bin()).args([sub, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("Usage: kubectl ceph-image {sub}")), "{sub}: {text}");
        assert!(text.contains("Examples:"), "{sub} has examples");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let sim = sim_with(Crd::Proposed, 600);
    let mut child = std::process::Command::new(bin())
        .args(["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run"])
        .env("KUBECONFIG", sim.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take()); // `| head -c 64`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
