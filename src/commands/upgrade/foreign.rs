//! What someone else changed of what a staged upgrade set or keeps (the base image, a
//! pin): the upgrade stops at its next round, says both values and overwrites nothing.

use super::record::{Record, fail};
use crate::error::{Error, Result};
use crate::model::Snapshot;
use crate::output::clean;
use crate::plan::upgrade::{self, State};

/// Someone else changed what the upgrade set or keeps: record the stop and say what is
/// true (which daemons run which image) and the safe ways on. Setting it back is advised
/// only where it downgrades nothing: never when the new value is newer than what it
/// replaced (or cannot be told), since Rook moves what it reconciles to it, perhaps
/// between this read and the operator's edit. Nothing is overwritten.
pub(super) async fn stop_on_foreign_change(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    rec: &mut Record,
    snap: &Snapshot,
    st: &mut State,
) -> Result<()> {
    let Some((why, now_set, was)) = foreign_change(snap, st) else { return Ok(()) };
    fail(conn, s, rec, st, &why).await;
    Err(Error::Failed(format!(
        "{why}. The upgrade stops here and overwrites nothing; nothing further moves. {}",
        way_on(snap, &now_set, &was)
    )))
}

/// What runs what now, and the ways on that downgrade nothing.
fn way_on(snap: &Snapshot, now_set: &str, was: &str) -> String {
    let mut by_image: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for d in snap.daemons.iter().filter(|d| !d.ceph_images.is_empty() && d.replicas != Some(0)) {
        by_image.entry(d.image.as_deref().unwrap_or("?")).or_default().push(d.id.to_string());
    }
    let runs: Vec<String> =
        by_image.iter().map(|(img, ds)| format!("{} run(s) {}", upgrade::summarise(ds), clean(img))).collect();
    let now_runs = by_image.get(now_set).map(|v| v.as_slice()).unwrap_or_default();
    let newer = match (snap.version_of(now_set), snap.version_of(was)) {
        (Some(a), Some(b)) => Some(a > b),
        _ => None,
    };
    let ways = match newer {
        Some(false) => format!(
            "Setting it back to {} downgrades nothing: then `upgrade resume` goes on; or `upgrade abort`",
            clean(was)
        ),
        _ => format!(
            "{} is {} {}: Rook moves what it reconciles to it, so setting it back would downgrade {}. The safe ways \
             on: `upgrade abort` and let Rook roll the cluster to {} (what the upgrade still holds or pins moves once \
             released or unpinned: `upgrade abort` names each), or `upgrade abort`, then `kubectl ceph-image upgrade {}`, which \
             takes over this upgrade's holds and pins and moves the rest in stages",
            clean(now_set),
            if newer.is_some() { "newer than" } else { "not known to be older than" },
            clean(was),
            if now_runs.is_empty() {
                "the daemons it moves (none runs it yet, as far as this read shows)".to_string()
            } else {
                upgrade::summarise(now_runs)
            },
            clean(now_set),
            clean(now_set)
        ),
    };
    format!("Now {}. {ways}", runs.join("; "))
}

/// What someone else changed of what the upgrade set or keeps, if anything: the base image
/// (before the mon stage it must be where the upgrade found it or the target; after it,
/// the target; with `--types`, where it was found), or a pin's value.
fn foreign_change(snap: &Snapshot, st: &State) -> Option<(String, String, String)> {
    let c = &snap.cluster;
    let image = &st.params.image;
    let expected: Vec<&String> = match (&st.from, st.params.types.is_empty(), st.spec_set) {
        (_, true, true) => vec![image],
        (Some(from), true, false) => vec![from, image],
        (Some(from), false, _) => vec![from],
        (None, _, _) => vec![],
    };
    if !expected.is_empty() && !expected.contains(&&c.base_image) {
        let why = format!(
            "CephCluster {}/{}: spec.cephVersion.image is {} now, where this upgrade {} {}: someone else changed it",
            c.namespace,
            c.name,
            clean(&c.base_image),
            if expected.len() == 1 && expected[0] == image { "had set" } else { "keeps" },
            clean(expected[0])
        );
        // What setting it back restores: the target once the spec named it, else where
        // the upgrade found it.
        return Some((why, c.base_image.clone(), expected[0].clone()));
    }
    for (k, v) in &st.pins {
        if let Some(now) = c.overrides.get(k).filter(|o| *o != v) {
            let why = format!(
                "CephCluster {}/{}: imageOverrides.{k} is {} now, where this upgrade pinned {}: someone else changed it",
                c.namespace,
                c.name,
                clean(now),
                clean(v)
            );
            return Some((why, now.clone(), v.clone()));
        }
    }
    None
}
