//! The upgrade's gates from Ceph itself (issue 23 items 2 and 3), Rook's copy of Ceph's
//! health where Ceph cannot be asked.
//!
//! - Before a stage releases OSDs, mons or MDS to Rook: `ok-to-stop` for them. Rook asks it
//!   again for its own OSD batches (osd/update.go); asking first means the upgrade waits,
//!   within `--timeout`, while Ceph says no, and stops with Ceph's reason and its state
//!   `failed` rather than hand Rook a batch that would take data offline. Where Ceph cannot
//!   be asked the stage goes on with a warning: Rook's own OSD check still stands.
//! - After a stage, and before the first: no HEALTH_ERR, from `ceph health detail` asked
//!   now, with its codes. Only where Ceph cannot be asked is `status.ceph` read, and then a
//!   health Rook wrote since the stage started is awaited (Rook refreshes it about every
//!   60 s: cluster/cephstatus.go), a minute a batch that asking Ceph does not cost.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::commands::Connection;
use crate::error::{Error, Result};
use crate::execute::ceph_gate::{CephGate, Held};
use crate::model::Snapshot;
use crate::output::{clean, note};
use crate::plan::upgrade::{Stage, StageKind};
use crate::settings::Settings;

/// One run's gates: where Ceph is asked (found when first needed) and the time spent.
#[derive(Default)]
pub(super) struct Gates {
    ceph: Option<CephGate>,
    /// In health gates, and how many of them read Rook's copy.
    health: Duration,
    from_rook: usize,
    /// Waiting for Ceph's ok-to-stop.
    ok_to_stop: Duration,
    /// Daemons this run moved, by `ceph versions` type: at least as many must report the
    /// target release after each stage.
    pub(super) moved: BTreeMap<&'static str, u64>,
    /// Said once a run, not at every stage: that Ceph could not be asked for ok-to-stop
    /// (hundreds of lines over a 2000-OSD upgrade otherwise).
    said_no_ok_to_stop: AtomicBool,
    /// Said once that no OSD flag is set since Ceph could not be asked (`flags`).
    pub(super) said_no_flags: bool,
    /// Flags found set by someone else, said once each (`flags`).
    pub(super) said_theirs: Vec<crate::model::osd_flag::OsdFlag>,
    /// Ceph's `osd tree`, asked once a run (`flags`): an upgrade restarts OSDs, it does
    /// not move them in CRUSH, and at 2000 OSDs asking it at every batch cost more CPU
    /// than the batch's own planning.
    pub(super) osd_tree: Option<serde_json::Value>,
}

impl Gates {
    /// The gate for this run, found when first needed.
    pub(super) async fn found(&mut self, conn: &Connection, s: &Settings) -> &mut CephGate {
        if self.ceph.is_none() {
            self.ceph = Some(CephGate::find(&conn.kube, &conn.namespace, s.connect.request_timeout).await);
        }
        self.ceph.as_mut().expect("set above")
    }

    /// The gate, once found.
    pub(super) fn ceph(&self) -> Option<&CephGate> {
        self.ceph.as_ref()
    }

    /// `Time in gates: health 3.2 s (Ceph asked), ok-to-stop 0.4 s.`: what the gates cost,
    /// for the operator and for `benches/upgrade.rs`.
    pub(super) fn summary(&self) -> String {
        let source = match self.from_rook {
            0 => "Ceph asked".to_string(),
            n => format!("{n} of them read Rook's status.ceph"),
        };
        format!(
            "Time in gates: health {:.1} s ({source}), ok-to-stop {:.1} s.",
            self.health.as_secs_f64(),
            self.ok_to_stop.as_secs_f64()
        )
    }
}

/// Ask Ceph for the daemons `stage` restarts; Ok when it says yes or cannot be asked (said
/// on stderr), Err with Ceph's reason when it still says no after `--timeout`.
pub(super) async fn ok_to_stop(
    conn: &Connection,
    s: &Settings,
    snap: &Snapshot,
    stage: &Stage,
    gates: &mut Gates,
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
    // Rook's upgradeOSDRequiresHealthyPGs holds the plugin's OSD batches as it holds its own
    let pgs = crate::execute::ceph_gate::pgs_healthy(&snap.cluster).map_err(Error::Failed)?;
    let start = Instant::now();
    gates.found(conn, s).await.pgs_healthy = pgs;
    let g = gates.ceph.as_ref().expect("found above");
    let r = match g.ask(&asks).await {
        None => Ok(()),
        Some(h @ Held::Unanswered { .. }) => {
            if !gates.said_no_ok_to_stop.swap(true, Ordering::Relaxed) {
                note(&format!(
                    "{}: this stage and the next go on without it (Rook itself checks with Ceph before it restarts OSDs, and \
                     keeps the mon quorum)",
                    h.text()
                ));
            }
            Ok(())
        }
        Some(Held::No { .. } | Held::Unclean { .. }) => {
            // Rook's own knobs govern the plugin's OSD batches as they govern Rook's
            // (osd/update.go): the wait is waitTimeoutForHealthyOSDInMinutes (default 10)
            // within --timeout, and continueUpgradeAfterChecksEvenIfNotHealthy goes on after
            // it; mons never go on (Rook's mon update does not either).
            let knobs = &snap.cluster.knobs;
            let osds = asks.iter().any(|a| a.args.first().is_some_and(|w| w == "osd"));
            let mons = asks.iter().any(|a| a.args.first().is_some_and(|w| w == "mon"));
            let wait = match osds {
                true => s.timeout.min(Duration::from_secs(
                    60 * knobs.wait_timeout_for_healthy_osd_minutes.unwrap_or(10).max(0) as u64,
                )),
                false => s.timeout,
            };
            match g.wait(&asks, wait).await {
                Err(e) if knobs.continue_upgrade_after_checks_even_if_not_healthy && !mons => {
                    note(&format!(
                        "{e}; the CephCluster's continueUpgradeAfterChecksEvenIfNotHealthy is true: stage {} goes on \
                         anyway, as Rook's own upgrade would",
                        clean(&stage.name)
                    ));
                    Ok(())
                }
                r => r,
            }
        }
    };
    gates.ok_to_stop += start.elapsed();
    r
}

/// No HEALTH_ERR, within `--timeout`: Ceph's own health where it can be asked, else the
/// CephCluster's `status.ceph.health`, written by Rook after `after` when it says when it
/// checked (`status.ceph.lastChecked`, whole seconds): a health read before the stage says
/// nothing about it.
pub(super) async fn health(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    after: jiff::Timestamp,
    gates: &mut Gates,
) -> Result<()> {
    let start = Instant::now();
    gates.found(conn, s).await;
    let g = gates.ceph.as_ref().expect("found above");
    let (r, from_rook) = health_wait(conn, s, cluster, after, g).await;
    gates.health += start.elapsed();
    gates.from_rook += usize::from(from_rook);
    r
}

/// The health gate's wait, and whether it read Rook's copy.
async fn health_wait(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    after: jiff::Timestamp,
    g: &CephGate,
) -> (Result<()>, bool) {
    let timeout = s.timeout;
    let start = Instant::now();
    let mut said_fallback = false;
    loop {
        // Ceph asked again every few seconds; Rook's copy read often, to catch its write
        let (blocks, pause) = match g.health_blocks().await {
            Ok(blocks) => (blocks, crate::execute::ceph_gate::RETRY.min(timeout / 4)),
            Err(why) => {
                said_fallback = true;
                match rook_health_blocks(conn, cluster, after).await {
                    Ok(b) => {
                        // said once the API answered: an API that fails says so itself
                        g.say_health_unasked(&why);
                        (b, Duration::from_millis(250))
                    }
                    Err(e) => return (Err(e), true),
                }
            }
        };
        let Some(why) = blocks else { return (Ok(()), said_fallback) };
        if start.elapsed() >= timeout {
            let e = format!("CephCluster {cluster}: {} after {timeout:?}: the next stage does not start", clean(&why));
            return (Err(Error::Failed(e)), said_fallback);
        }
        tokio::time::sleep(pause.max(Duration::from_millis(250))).await;
    }
}

/// Why Rook's copy of Ceph's health holds the next stage: HEALTH_ERR, absent or stale, or
/// not written since `after`.
async fn rook_health_blocks(conn: &Connection, cluster: &str, after: jiff::Timestamp) -> Result<Option<String>> {
    let c = crate::cluster::write::get_cluster_value(&conn.kube, &conn.namespace, cluster).await?;
    let health = c.pointer("/status/ceph/health").and_then(Value::as_str).unwrap_or("");
    let last = c.pointer("/status/ceph/lastChecked").and_then(Value::as_str);
    let checked = last.and_then(|t| t.parse::<jiff::Timestamp>().ok());
    // lastChecked has whole seconds.
    let fresh = checked.is_none_or(|t| t.as_second() >= after.as_second());
    let blocks = crate::model::support::health_blocks(Some(health), last, jiff::Timestamp::now());
    Ok(match (blocks, fresh) {
        (Some(b), _) => Some(b),
        (None, true) => None,
        (None, false) => {
            Some(format!("status.ceph.health is {} and was not refreshed since the stage started", clean(health)))
        }
    })
}

/// After a stage's pods are Ready: Ceph itself reports its daemons on the target release
/// (`ceph versions`), at least as many of each type as this run moved so far. A Ready pod
/// is not yet a daemon that joined the cluster on the new version. Waits within
/// `--timeout`; skipped where the target names no release (a digest) or Ceph cannot be
/// asked (the health gate said so).
pub(super) async fn versions(
    conn: &Connection,
    s: &Settings,
    stage: &Stage,
    image: &str,
    gates: &mut Gates,
) -> Result<()> {
    let Some(target) = crate::model::image::ceph_version(image) else { return Ok(()) };
    if !matches!(stage.kind, StageKind::Base | StageKind::Release) {
        return Ok(());
    }
    for m in &stage.daemons {
        if matches!(m.dtype.ceph_name(), "mon" | "mgr" | "osd" | "mds" | "rgw") {
            *gates.moved.entry(m.dtype.ceph_name()).or_default() += 1;
        }
    }
    let want: Vec<(&'static str, u64)> = gates
        .moved
        .iter()
        .filter(|(t, _)| stage.daemons.iter().any(|m| m.dtype.ceph_name() == **t))
        .map(|(t, n)| (*t, *n))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let g = &*gates.found(conn, s).await;
    let r = loop {
        let Ok(v) = g.versions().await else { break Ok(()) };
        let short: Vec<String> = want
            .iter()
            .filter_map(|(t, n)| {
                let on = crate::model::ceph::count_on(&v, t, target);
                (on < *n).then(|| format!("{on} of {n} {t} daemon(s) moved"))
            })
            .collect();
        if short.is_empty() {
            break Ok(());
        }
        if start.elapsed() >= s.timeout {
            break Err(Error::Failed(format!(
                "stage {}: Ceph reports {} on {target} (`ceph versions`) after {:?}: their pods are Ready but the \
                 daemons have not joined on the new release",
                clean(&stage.name),
                short.join(", "),
                s.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    gates.health += start.elapsed();
    r
}

/// A stage refused because OSDs of another failure domain are down (`why`): wait within
/// `--timeout` for them, reading the cluster again every 5 s, as the fence does between
/// its steps (a node back from a reboot brings its OSDs up a little later). Ok(true): they
/// are back, plan the stage again from a fresh read; Ok(false): still down after the wait.
pub(super) async fn down_cleared(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    stage: &Stage,
    by: crate::plan::FailureDomain,
    why: &str,
) -> Result<bool> {
    let start = Instant::now();
    note(&format!("{}: waiting for them within --timeout", clean(why)));
    loop {
        let left = s.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_secs(5).min(left)).await;
        let snap = crate::cluster::read::snapshot(&conn.kube, &conn.namespace, Some(cluster)).await?;
        if crate::plan::upgrade::stage_blocked(&snap, stage, by).is_none() {
            return Ok(true);
        }
    }
}
