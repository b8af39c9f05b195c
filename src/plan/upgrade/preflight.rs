//! What keeps a staged upgrade from starting, checked before it writes anything (its
//! state included) and, for nodes, again before each stage (issue #22 kinds 5 and 9): a
//! fresh-user trial found an upgrade that wrote its state and restarted the mons and mgrs
//! while a node was down, then stopped at the first OSD batch; and one that wrote its
//! state on an absent or stale health, waited out --timeout and reported holds it never
//! set. No I/O here.

use super::{Stage, StageKind, UpgradePlan};
use crate::model::Snapshot;
use crate::plan::{FailureDomain, Warning};

/// How every message of [`preflight`] starts, so a refusal can quote the reasons alone.
pub const NOT_STARTING: &str = "the upgrade does not start: ";

/// Why `stage` must not start now: it restarts daemons of one failure domain while OSDs
/// of another are down (`plan::down::blocker`; a mon or mgr stage spans several domains,
/// so any OSD down blocks it). Pre-pulls and holds restart nothing. The runner reads the
/// cluster again before each stage, so a node that goes down mid-upgrade stops the next.
pub fn stage_blocked(snap: &Snapshot, stage: &Stage, by: FailureDomain) -> Option<String> {
    if matches!(stage.kind, StageKind::Prepull | StageKind::Prepare) {
        return None;
    }
    let moving: Vec<&str> = stage.daemons.iter().map(|m| m.deployment.as_str()).collect();
    crate::plan::down::blocker(snap, by, &moving)
}

/// Why a new upgrade must not start now, each a warning with its code; empty when it may:
/// - `health-err` / `health-stale`: Ceph's health as Rook last wrote it is HEALTH_ERR,
///   absent, or older than a few of Rook's 60-s refreshes (`support::health_blocks`);
/// - `node-down`: the first stage that restarts daemons would restart some while OSDs of
///   another failure domain are down ([`stage_blocked`]).
///
/// `now` dates the health. `upgrade IMAGE` refuses on any of these before it writes, and
/// its dry run shows them and exits as the run would.
pub fn preflight(snap: &Snapshot, plan: &UpgradePlan, by: FailureDomain, now: jiff::Timestamp) -> Vec<Warning> {
    let c = &snap.cluster;
    let mut out = Vec::new();
    if let Some(why) = crate::model::support::health_blocks(c.health.as_deref(), c.rook.last_checked.as_deref(), now) {
        let message = format!(
            "{NOT_STARTING}{why}; it writes nothing (no state, no hold, no image) until Rook reports \
             Ceph's health again and it is not HEALTH_ERR"
        );
        out.push(if c.health.as_deref() == Some("HEALTH_ERR") {
            Warning { code: "health-err", message }
        } else {
            Warning { code: "health-stale", message }
        });
    }
    let first = plan.stages.iter().find(|s| !matches!(s.kind, StageKind::Prepull | StageKind::Prepare));
    if let Some(stage) = first
        && let Some(why) = stage_blocked(snap, stage, by)
    {
        out.push(Warning {
            code: "node-down",
            message: format!(
                "{NOT_STARTING}its stage {} would restart daemons now, and {why}; it writes nothing \
                 until those OSDs run again (their node back, or their pods Running and Ready)",
                stage.name
            ),
        });
    }
    out
}
