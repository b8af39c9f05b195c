//! The versions `version` reports: the plugin's own, the API server's (`GET /version`)
//! and Rook's (the `rook-version` label on its daemon Deployments), and the view that holds
//! them (`version -o json`). Data only: `commands::version` reads them, `render::version`
//! says them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The plugin's own version (Cargo.toml) and the git commit it was built from (`build.rs`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersion {
    /// `v0.1.0`
    pub version: String,
    /// The full commit hash, or `unknown` when built outside a git checkout.
    pub commit: String,
}

/// What `GET /version` answers (the fields kubectl prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    #[serde(default)]
    pub major: String,
    #[serde(default)]
    pub minor: String,
    #[serde(default)]
    pub git_version: String,
    #[serde(default)]
    pub platform: String,
}

/// The Rook version found on the cluster: the `rook-version` label Rook puts on every daemon
/// Deployment it writes, in the CephCluster's namespace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RookVersion {
    pub namespace: String,
    /// The newest label value (`v1.20.6`); None when no Deployment carries one.
    pub version: Option<String>,
    /// Every label value, with how many Deployments carry it (more than one: an operator
    /// upgrade is under way, or daemons are held).
    pub deployments: BTreeMap<String, usize>,
}

/// `version -o json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    pub client_version: ClientVersion,
    /// None with `--client`, or when the server could not be read.
    pub server_version: Option<ServerVersion>,
    pub rook_version: Option<RookVersion>,
}
