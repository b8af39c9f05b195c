//! Ceph's `ok-to-stop` before a stage releases OSDs, mons or MDS to Rook (issue 23 item 2).
//! Rook asks it again for its own OSD batches (osd/update.go); asking here first means the
//! upgrade waits, within `--timeout`, while Ceph says no, and stops with Ceph's reason and
//! its state `failed` rather than hand Rook a batch that would take data offline. Where Ceph
//! cannot be asked, the stage goes on with a warning: Rook's own OSD check still stands.

use crate::commands::Connection;
use crate::error::Result;
use crate::execute::ceph_gate::{CephGate, Held};
use crate::model::Snapshot;
use crate::plan::upgrade::{Stage, StageKind};
use crate::settings::Settings;

/// Ask Ceph for the daemons `stage` restarts; Ok when it says yes or cannot be asked (said
/// on stderr), Err with Ceph's reason when it still says no after `--timeout`. `gate`: found
/// at the first stage that needs it, kept for the run.
pub(super) async fn ok_to_stop(
    conn: &Connection,
    s: &Settings,
    snap: &Snapshot,
    stage: &Stage,
    gate: &mut Option<CephGate>,
) -> Result<()> {
    if !matches!(stage.kind, StageKind::Base | StageKind::Release) {
        return Ok(());
    }
    let deps: Vec<&str> = stage.daemons.iter().map(|m| m.deployment.as_str()).collect();
    let ids = snap.daemons.iter().filter(|d| deps.contains(&d.deployment.as_str())).map(|d| &d.id);
    // Rook moves mons (and MDS) one after another: each is asked alone.
    let asks = crate::plan::ok_to_stop::asks(ids, false);
    if asks.is_empty() {
        return Ok(());
    }
    if gate.is_none() {
        *gate = Some(CephGate::find(&conn.kube, &conn.namespace, s.connect.request_timeout).await);
    }
    let g = gate.as_ref().expect("set above");
    match g.ask(&asks).await {
        None => Ok(()),
        Some(h @ Held::Unanswered { .. }) => {
            crate::output::note(&format!(
                "{}: the stage goes on without it (Rook asks Ceph itself before it restarts OSDs)",
                h.text()
            ));
            Ok(())
        }
        Some(Held::No { .. }) => g.wait(&asks, s.timeout).await,
    }
}
