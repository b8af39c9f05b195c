//! The upgrade's state record (`UPGRADE_STATE` on the CephCluster, DESIGN §10): one record
//! with one writer at a time. Several terminals may write it (`upgrade pause`, `abort`, a
//! second `upgrade IMAGE` or `resume`), so every write of it carries the resourceVersion the
//! CephCluster was read at, and is sent only while the annotation is still what this
//! process last read or wrote. A 409 reads it again: unchanged (Rook wrote the status, or
//! this run its own spec patch), the write goes again with the new resourceVersion; changed
//! by someone else, nothing is written and the caller obeys what is there now (`obey`).

use super::{now, state_of_text, writes_to};
use crate::cluster::connect::Connection;
use crate::cluster::read;
use crate::error::{Error, Result};
use crate::execute;
use crate::model::Cluster;
use crate::output::{clean, note};
use crate::plan::upgrade::State;
use crate::plan::upgrade::writes::{stage_suffix, state_write};
use crate::settings::Settings;

/// What this process knows of the record.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub cluster: String,
    /// The resourceVersion of the CephCluster read with `seen` on it (None: read it again
    /// before the next write).
    pub rv: Option<String>,
    /// The annotation exactly as this process last read or wrote it (None: no state).
    pub seen: Option<String>,
}

/// What became of a write of the state.
#[derive(Debug)]
pub(super) enum Written {
    Done,
    /// Someone else wrote the state since this process read it: nothing was written. What
    /// is there now (None: no state).
    Changed(Option<Box<State>>),
}

impl Record {
    pub fn of(c: &Cluster) -> Record {
        Record { cluster: c.name.clone(), rv: Some(c.resource_version.clone()), seen: c.upgrade.clone() }
    }

    /// A new read of the CephCluster: Ok when the state on it is still what this process
    /// last saw (its resourceVersion is then the next write's precondition), else what
    /// someone else left there.
    pub fn check(&mut self, c: &Cluster) -> Result<std::result::Result<(), Option<Box<State>>>> {
        if c.upgrade == self.seen {
            self.rv = Some(c.resource_version.clone());
            return Ok(Ok(()));
        }
        self.rv = None;
        Ok(Err(state_of_text(&c.name, c.upgrade.as_deref())?.map(Box::new)))
    }

    /// The record holds a state `upgrade resume` goes on with (not none, not aborted).
    pub fn resumable(&self) -> bool {
        self.seen
            .as_deref()
            .and_then(|t| state_of_text(&self.cluster, Some(t)).ok().flatten())
            .is_some_and(|st| st.phase != "aborted")
    }
}

/// Write the state (None: remove it) through the executor, preconditioned; see the module.
pub(super) async fn save(conn: &Connection, s: &Settings, rec: &mut Record, st: Option<&State>) -> Result<Written> {
    let mut conflicts = 0;
    loop {
        let rv = match rec.rv.clone() {
            Some(rv) => rv,
            None => {
                let c = read::get_cluster(&conn.kube, &conn.namespace, &rec.cluster).await?.into_model();
                if let Err(other) = rec.check(&c)? {
                    return Ok(Written::Changed(other));
                }
                c.resource_version
            }
        };
        let w = vec![state_write(&rec.cluster, st, &rv)];
        let j = execute::run(&writes_to(conn, s, &rec.cluster), &w).await;
        if j.all_done() {
            rec.seen = st.map(|x| serde_json::to_string(x).expect("state serialises"));
            rec.rv = None;
            if rec.resumable() {
                execute::set_rerun_hint("kubectl ceph-image upgrade resume");
            }
            return Ok(Written::Done);
        }
        if j.conflict() && j.interrupted.is_none() && conflicts < super::super::change::MAX_CONFLICTS {
            conflicts += 1;
            note(&format!(
                "the CephCluster changed since the upgrade's state was read (409 Conflict): reading it again ({conflicts}/{})",
                super::super::change::MAX_CONFLICTS
            ));
            rec.rv = None;
            continue;
        }
        return Err(execute::failure(&j, &execute::rerun_hint()));
    }
}

/// Record a stop on the CephCluster (best effort: the error the caller returns is the news).
pub(super) async fn fail(conn: &Connection, s: &Settings, rec: &mut Record, st: &mut State, why: &str) {
    st.phase = "failed".into();
    st.message = Some(why.to_string());
    st.updated = now();
    match save(conn, s, rec, Some(st)).await {
        Ok(Written::Done) => {}
        Ok(Written::Changed(other)) => note(&format!(
            "the stop is not recorded on the CephCluster: another terminal changed the upgrade's state meanwhile ({}), \
             and it is left as it is",
            other.map(|o| format!("{}{}", clean(&o.phase), stage_suffix(&o))).unwrap_or_else(|| "removed".into())
        )),
        // A lost connection or credential fails this write as it failed the step: the
        // error that follows says it once.
        Err(e) if why.contains(e.to_string().lines().next().unwrap_or_default()) => {
            note("could not record the stop on the CephCluster either: the same error")
        }
        Err(e) => note(&format!("could not record the stop on the CephCluster: {e}")),
    }
}

/// Someone else wrote the state since this run read it (another terminal's `upgrade pause`,
/// `abort`, `resume` or `upgrade IMAGE`): this run stops, moves nothing further and says
/// why. `started`: this run has recorded nothing yet (a second `upgrade IMAGE` that lost
/// the race to the first): refused, naming the one under way.
pub(super) fn obey(other: Option<Box<State>>, started: bool) -> Result<i32> {
    match other {
        None => Err(Error::Failed(
            "the upgrade's state was removed from the CephCluster since this run read it (the upgrade finished in \
             another terminal, or someone removed it): stopping; nothing further moves. `upgrade status` shows what \
             is there now"
                .into(),
        )),
        Some(o) if o.phase == "aborted" => {
            note("the upgrade was aborted (`upgrade abort`): stopping; nothing further moves");
            Ok(1)
        }
        Some(o) if o.phase == "paused" && !started => {
            note(&format!(
                "the upgrade was paused (`upgrade pause`) after stage {}: nothing further moves; `upgrade resume` goes on",
                clean(&o.stage)
            ));
            Ok(0)
        }
        Some(o) if started => Err(Error::usage(format!(
            "an upgrade to {} is under way on this CephCluster ({}{}{}), recorded by another terminal since this one \
             read the cluster: this one is refused and moves nothing. `upgrade status` shows it, `upgrade resume` \
             goes on with it, `upgrade abort` stops it",
            clean(&o.params.image),
            clean(&o.phase),
            stage_suffix(&o),
            o.runner
                .as_ref()
                .map(|r| format!(", run by {}", crate::render::upgrade_run::runner_text(r)))
                .unwrap_or_default()
        ))),
        Some(o) => Err(Error::Failed(format!(
            "another run of the upgrade to {} (`upgrade resume` or `upgrade IMAGE` in another terminal) recorded its \
             state since this one read it ({}{}): this one stops so that only one moves the cluster; nothing further \
             moves from here. `upgrade status` shows it",
            clean(&o.params.image),
            clean(&o.phase),
            stage_suffix(&o)
        ))),
    }
}
