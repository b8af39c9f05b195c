//! The repository and the real control plane's binaries (`scripts/control-plane build`,
//! cached after the first call): one copy for the tests (`common::control_plane`) and the
//! benchmarks (`benches/common`, through `#[path]`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder the control plane's binaries are in (built on first call).
pub fn bin_dir() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(repo().join("scripts/control-plane"))
            .arg("build")
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/control-plane runs");
        assert!(
            out.status.success(),
            "scripts/control-plane build failed: building the real control plane needs Go 1.26+ and the Go module \
             proxy (once)"
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// The real kubectl of the control plane's release.
pub fn kubectl_bin() -> PathBuf {
    bin_dir().join("kubectl")
}
