//! `completion bash` driven in a real bash: the script is sourced, `complete -p` shows it
//! registered, and the completion function is called as bash calls it (COMP_WORDS,
//! COMP_CWORD), against the simulated cluster for daemon ids.

mod common;

use std::process::Command;

use common::*;
use rook_sim::Crd;

/// What bash offers for the words typed so far (the last one is the partial word).
fn complete(dir: &std::path::Path, kubeconfig: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "set -e; source {dir}/completion.bash; complete -p kubectl-ceph_image >&2; \
         COMP_WORDS=(kubectl-ceph_image {words}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
         COMP_POINT=${{#COMP_LINE}}; _kubectl_ceph_image; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        dir = dir.display(),
        words = quoted.join(" "),
        cword = words.len(),
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(script)
        .env("PATH", format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()))
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("bash runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bash failed: {err}");
    assert!(err.contains("-F _kubectl_ceph_image kubectl-ceph_image"), "not registered: {err}");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_flags_types_and_ids_after_a_subcommand() {
    let sim = sim(Crd::Proposed);
    run(&sim, &["pause", "osd.3", "--yes"]).ok();
    let dir = tempfile::tempdir().unwrap();
    // As installed: the binary on PATH as kubectl-ceph_image, the script from `completion bash`.
    std::os::unix::fs::symlink(bin(), dir.path().join("kubectl-ceph_image")).unwrap();
    let script = run(&sim, &["completion", "bash"]).ok().stdout;
    std::fs::write(dir.path().join("completion.bash"), script).unwrap();
    let kc = sim.kubeconfig();
    let c = |w: &[&str]| complete(dir.path(), kc, w);

    let subs = c(&[""]);
    for s in ["status", "set", "unset", "pause", "resume", "completion", "demo"] {
        assert!(subs.contains(&s.to_string()), "{s} in {subs:?}");
    }
    assert_eq!(c(&["st"]), ["status"]);
    // after a subcommand: its flags (and the global ones), not file names
    let flags = c(&["pause", "--"]);
    for f in ["--node", "--selector", "--dry-run", "--yes", "--namespace"] {
        assert!(flags.contains(&f.to_string()), "{f} in {flags:?}");
    }
    assert!(!c(&["status", "--"]).contains(&"--yes".to_string()), "status has no --yes");
    // types after `set`
    let types = c(&["set", ""]);
    for t in ["base", "mgr", "osd", "rbdmirror"] {
        assert!(types.contains(&t.to_string()), "{t} in {types:?}");
    }
    assert_eq!(c(&["set", "mg"]), ["mgr"]);
    // ids from the cluster after `pause`, and after global flags before it
    let ids = c(&["pause", "osd.1"]);
    assert!(ids.contains(&"osd.1".to_string()) && ids.contains(&"osd.10".to_string()), "{ids:?}");
    assert!(c(&["-n", "rook-ceph", "pause", "mon."]).contains(&"mon.a".to_string()));
    assert_eq!(c(&["resume", "osd."]), ["osd.3"], "resume offers the held one");
    // flag values, also in the --flag=value form bash splits at '='
    assert_eq!(c(&["status", "-o", "j"]), ["json"]);
    assert_eq!(c(&["set", "mgr", "x:1", "--dry-run", "=", "s"]), ["server"]);
}
