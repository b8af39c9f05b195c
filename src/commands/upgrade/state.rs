//! The upgrade's state as the CephCluster holds it (`UPGRADE_STATE`), whether the CRD has
//! `imageOverrides`, the time stamps the state records, and where the upgrade's writes go.

use crate::cluster::read::{self, Support};
use crate::error::{Error, Result};
use crate::execute;
use crate::model::{Snapshot, UPGRADE_STATE};
use crate::plan::upgrade::State;

pub(super) fn state_of(snap: &Snapshot) -> Result<Option<State>> {
    state_of_text(&snap.cluster.name, snap.cluster.upgrade.as_deref())
}

pub(super) fn state_of_text(cluster: &str, text: Option<&str>) -> Result<Option<State>> {
    match text {
        None => Ok(None),
        Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
            Error::Failed(format!(
                "the CephCluster's {UPGRADE_STATE} annotation is not an upgrade state this plugin wrote ({e}): remove \
                 it with kubectl annotate cephcluster {cluster} {UPGRADE_STATE}- if no upgrade is under way"
            ))
        }),
    }
}

pub(super) async fn crd_has_overrides(conn: &crate::cluster::connect::Connection) -> Result<bool> {
    Ok(matches!(read::overrides_support(&conn.kube).await?, Support::Yes))
}

pub(super) fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Where an upgrade's writes go: the executor waits for nothing itself (the stages have
/// their own gates) and never pauses between its steps.
pub(super) fn writes_to<'a>(
    conn: &'a crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    cluster: &str,
) -> execute::Target<'a> {
    execute::Target {
        kube: &conn.kube,
        namespace: &conn.namespace,
        cluster: cluster.to_string(),
        dry_run: false,
        restarts: vec![],
        timeout: s.timeout,
        progress_bar: s.progress_bar,
        pause_between: std::time::Duration::ZERO,
        down_gate: None,
        ceph_gate: None,
        view: None,
    }
}
