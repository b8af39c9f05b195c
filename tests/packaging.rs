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

const PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The <os, arch> pairs krew installs on (cmd/validate-krew-manifest's allPlatforms, with
/// the arm64 ones added since).
const KREW_PLATFORMS: [(&str, &str); 10] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// Does a krew `matchLabels` selector select this <os, arch>?
fn selects(sel: &Value, os: &str, arch: &str) -> bool {
    sel["matchLabels"]
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| (k == "os" && v == os) || (k == "arch" && v == arch)))
}

/// What krew (pkg/index/validation ValidatePlugin, cmd/validate-krew-manifest) and the
/// krew-index review rules say is wrong with a manifest named `file_name`: apiVersion and
/// kind, a safe name equal to the file's, a v-prefixed semantic version, a shortDescription
/// of at most 50 characters without a trailing period, caveats present, lines of
/// description and caveats at most 80 characters, and per platform: uri, a lowercase hex
/// sha256, bin, files, a selector of only os/arch that selects a platform krew supports, no
/// two platforms selecting the same one. Also this project's own: every archive holds the
/// binary and LICENSE.
fn krew_problems(m: &Value, file_name: &str) -> Vec<String> {
    let mut p = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            p.push(what);
        }
    };
    check(
        m["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2",
        format!("apiVersion {}", m["apiVersion"]),
    );
    check(m["kind"] == "Plugin", format!("kind {}", m["kind"]));
    let name = m["metadata"]["name"].as_str().unwrap_or("");
    check(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        format!("unsafe plugin name {name:?}"),
    );
    check(
        file_name == format!("{name}.yaml"),
        format!("the manifest of {name} must be named {name}.yaml, not {file_name}"),
    );
    let spec = &m["spec"];
    let version = spec["version"].as_str().unwrap_or("");
    let semver = version.strip_prefix('v').is_some_and(|v| {
        let core = v.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    });
    check(semver, format!("version {version:?} is not v-prefixed semver (vMAJOR.MINOR.PATCH)"));
    let short = spec["shortDescription"].as_str().unwrap_or("");
    check(!short.is_empty(), "no shortDescription".into());
    check(short.chars().count() <= 50, format!("shortDescription longer than 50 characters: {short:?}"));
    check(!short.trim_end().ends_with('.'), format!("shortDescription ends with a period: {short:?}"));
    let caveats = spec["caveats"].as_str().unwrap_or("");
    check(!caveats.trim().is_empty(), "no caveats".into());
    for (field, text) in [("description", spec["description"].as_str().unwrap_or("")), ("caveats", caveats)] {
        for line in text.lines() {
            check(
                line.chars().count() <= 80 || !line.trim().contains(' '),
                format!("a line of {field} is longer than 80 characters: {line:?}"),
            );
        }
    }
    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    check(!platforms.is_empty(), "no platforms".into());
    for (i, pl) in platforms.iter().enumerate() {
        check(pl["uri"].as_str().is_some_and(|u| !u.is_empty()), format!("platform {i}: no uri"));
        let sha = pl["sha256"].as_str().unwrap_or("");
        check(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            format!("platform {i}: sha256 {sha:?} does not match ^[a-f0-9]{{64}}$"),
        );
        check(pl["bin"].as_str().is_some_and(|b| !b.is_empty()), format!("platform {i}: no bin"));
        let from: BTreeSet<&str> =
            pl["files"].as_array().map(|f| f.iter().filter_map(|f| f["from"].as_str()).collect()).unwrap_or_default();
        check(
            from == BTreeSet::from(["kubectl-ceph-image", "LICENSE"]),
            format!("platform {i}: the archive must hold the binary and LICENSE, the files are {from:?}"),
        );
        let sel = &pl["selector"];
        let keys_ok =
            sel["matchLabels"].as_object().is_some_and(|l| !l.is_empty() && l.keys().all(|k| k == "os" || k == "arch"))
                && sel.get("matchExpressions").is_none();
        check(keys_ok, format!("platform {i}: the selector must be a non-empty matchLabels of os and arch: {sel}"));
        check(
            KREW_PLATFORMS.iter().any(|(os, arch)| selects(sel, os, arch)),
            format!("platform {i}: the selector {sel} selects no platform krew supports"),
        );
    }
    for (os, arch) in KREW_PLATFORMS {
        let hits: Vec<usize> =
            platforms.iter().enumerate().filter(|(_, pl)| selects(&pl["selector"], os, arch)).map(|(i, _)| i).collect();
        check(hits.len() <= 1, format!("platforms {hits:?} overlap: each selects {os}/{arch}"));
    }
    p
}

/// What this project ships: linux and darwin, amd64 and arm64, each archive named for it.
fn check_platforms(m: &Value) {
    let mut selectors = BTreeSet::new();
    for p in m["spec"]["platforms"].as_array().unwrap() {
        let l = &p["selector"]["matchLabels"];
        let key = (l["os"].as_str().unwrap().to_string(), l["arch"].as_str().unwrap().to_string());
        assert_eq!(p["bin"], "kubectl-ceph-image");
        let version = m["spec"]["version"].as_str().unwrap();
        assert!(
            p["uri"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{version}/kubectl-ceph-image_{version}_{}_{}.tar.gz", key.0, key.1)),
            "{}",
            p["uri"]
        );
        selectors.insert(key);
    }
    let want: BTreeSet<(String, String)> = ["linux", "darwin"]
        .iter()
        .flat_map(|os| ["amd64", "arm64"].iter().map(move |a| (os.to_string(), a.to_string())))
        .collect();
    assert_eq!(selectors, want);
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_krew_manifest_template_passes_krews_rules() {
    let m = manifest(&root().join("plugin.yaml"));
    // the template is published as ceph-image.yaml (release.sh writes that name)
    assert_eq!(krew_problems(&m, "ceph-image.yaml"), Vec::<String>::new());
    check_platforms(&m);
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = cargo.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"');
    assert_eq!(m["spec"]["version"], format!("v{version}"), "the template's version is Cargo.toml's");
    let caveats = m["spec"]["caveats"].as_str().unwrap();
    assert!(caveats.contains("deploy/rbac.yaml"), "the caveats point at the RBAC: {caveats}");
    assert!(caveats.contains("imageOverrides") && caveats.contains("--strategy fence"), "{caveats}");
}

#[test]
fn the_krew_rules_catch_what_krew_refuses() {
    let good = manifest(&root().join("plugin.yaml"));
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut m = good.clone();
        f(&mut m);
        krew_problems(&m, "ceph-image.yaml")
    };
    let one = |problems: Vec<String>, needle: &str| {
        assert!(problems.len() == 1 && problems[0].contains(needle), "{needle}: {problems:?}");
    };
    one(broken(&|m| m["spec"]["version"] = "0.1.0".into()), "v-prefixed");
    one(broken(&|m| m["spec"]["shortDescription"] = "Per-daemon Ceph images and holds for Rook.".into()), "period");
    one(broken(&|m| m["spec"]["shortDescription"] = "x".repeat(51).into()), "50 characters");
    one(broken(&|m| m["spec"].as_object_mut().unwrap().remove("caveats").map(drop).unwrap()), "no caveats");
    one(broken(&|m| m["spec"]["platforms"][1]["selector"]["matchLabels"]["arch"] = "amd64".into()), "overlap");
    one(
        broken(&|m| m["spec"]["platforms"][0]["sha256"] = PLACEHOLDER.to_uppercase().replace('0', "A").into()),
        "sha256",
    );
    one(broken(&|m| m["spec"]["platforms"][0]["files"].as_array_mut().unwrap().truncate(1)), "LICENSE");
    one(broken(&|m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = "plan9".into()), "no platform");
    assert!(krew_problems(&good, "plugin.yaml").iter().any(|p| p.contains("ceph-image.yaml")));
}

fn release(binary: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(root().join("scripts/release.sh"))
        .args(["--binary", binary.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn archive_files(archive: &Path) -> BTreeSet<String> {
    let listing = Command::new("tar").arg("tzf").arg(archive).output().unwrap();
    String::from_utf8_lossy(&listing.stdout).lines().map(str::to_string).collect()
}

#[test]
fn the_release_archive_matches_its_manifest() {
    let out = tempfile::tempdir().unwrap();
    let o = release(&bin(), out.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(&out.path().join("ceph-image.yaml"));
    assert_eq!(krew_problems(&m, "ceph-image.yaml"), Vec::<String>::new());
    check_platforms(&m);
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
    assert_eq!(archive_files(&archive), BTreeSet::from(["kubectl-ceph-image".to_string(), "LICENSE".to_string()]));
}

/// Cross-built archives: one run per platform, each reading the last run's manifest, fill
/// every sha256; until then the others keep the placeholder, and the script says which.
#[test]
fn release_runs_per_platform_fill_every_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-binary");
    std::fs::write(&fake, "#!/bin/sh\necho fake\n").unwrap();
    let out = dir.path().join("dist");
    let generated = out.join("ceph-image.yaml");
    let platforms = [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")];
    for (i, (os, arch)) in platforms.iter().enumerate() {
        let mut args = vec!["--os", os, "--arch", arch, "--version", "v9.8.7"];
        let g = generated.to_str().unwrap().to_string();
        if i > 0 {
            args.extend(["--manifest", g.as_str()]);
        }
        let o = release(&fake, &out, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let m = manifest(&generated);
        assert_eq!(m["spec"]["version"], "v9.8.7");
        let archive = out.join(format!("kubectl-ceph-image_v9.8.7_{os}_{arch}.tar.gz"));
        assert_eq!(archive_files(&archive), BTreeSet::from(["kubectl-ceph-image".to_string(), "LICENSE".to_string()]));
        let digest = format!("{:x}", sha2::Sha256::digest(std::fs::read(&archive).unwrap()));
        let shas: Vec<String> = m["spec"]["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sha256"].as_str().unwrap().to_string())
            .collect();
        for (j, (pos, parch)) in platforms.iter().enumerate() {
            let p = &m["spec"]["platforms"][j];
            assert_eq!(p["selector"]["matchLabels"]["os"], *pos);
            assert_eq!(p["selector"]["matchLabels"]["arch"], *parch);
            if j <= i {
                assert_ne!(shas[j], PLACEHOLDER, "{pos}/{parch} was built: {shas:?}");
            } else {
                assert_eq!(shas[j], PLACEHOLDER, "{pos}/{parch} not built yet");
                assert!(
                    stderr(&o).contains(&format!("_{pos}_{parch}.tar.gz")),
                    "named as a placeholder: {}",
                    stderr(&o)
                );
            }
        }
        assert_eq!(shas[i], digest);
        if i == platforms.len() - 1 {
            assert!(!stderr(&o).contains("placeholder"), "{}", stderr(&o));
            assert_eq!(krew_problems(&m, "ceph-image.yaml"), Vec::<String>::new());
        }
    }
    let bad = release(&fake, &out, &["--os", "windows", "--arch", "amd64"]);
    assert_eq!(bad.status.code(), Some(2), "a platform the manifest lacks is refused");
    assert!(stderr(&bad).contains("no platform windows/amd64"), "{}", stderr(&bad));
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
    Command::new(common::control_plane::kubectl_bin())
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
