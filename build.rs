// Cargo reads its directives from this script's stdout: println! is the protocol here,
// not terminal text.
#![allow(clippy::disallowed_macros)]

//! Embeds the git commit the plugin is built from, for `kubectl ceph-image version`:
//! `KUBECTL_CEPH_IMAGE_COMMIT` when set (a release built from a source archive), else
//! `git rev-parse HEAD`, else `unknown`. Uses only std: no build dependency.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn absolute(p: String) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() { p } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(p) }
}

fn main() {
    println!("cargo:rerun-if-env-changed=KUBECTL_CEPH_IMAGE_COMMIT");
    let commit = std::env::var("KUBECTL_CEPH_IMAGE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KUBECTL_CEPH_IMAGE_COMMIT={commit}");
    // Build again when HEAD moves (a commit, a checkout), in a worktree too; without these
    // lines Cargo would rerun this script on every change of any file of the package.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(absolute) {
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let (Some(common), Some(head)) =
            (git(&["rev-parse", "--git-common-dir"]).map(absolute), git(&["symbolic-ref", "-q", "HEAD"]))
        {
            // a path that does not exist would make Cargo rerun this script every build
            for p in [common.join(head), common.join("packed-refs")].iter().filter(|p| p.exists()) {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
