//! What someone else changed of what a staged upgrade set or keeps (the base image, a
//! pin): the upgrade stops at its next round, says both values and overwrites nothing.

use super::record::{Record, fail};
use crate::error::{Error, Result};
use crate::model::Snapshot;
use crate::output::clean;
use crate::plan::upgrade::{self, State};

/// Someone else changed what the upgrade set or keeps: record the stop and say what to do,
/// which depends on whether Rook already moved daemons to the new value (setting a newer
/// image back would downgrade them). Nothing is overwritten.
pub(super) async fn stop_on_foreign_change(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    rec: &mut Record,
    snap: &Snapshot,
    st: &mut State,
) -> Result<()> {
    let Some((why, now_set)) = foreign_change(snap, st) else { return Ok(()) };
    fail(conn, s, rec, st, &why).await;
    // Daemons Rook already moved to the new value cannot go back (no downgrade).
    let moved: Vec<String> = snap
        .daemons
        .iter()
        .filter(|d| !d.ceph_images.is_empty() && !d.differs_from(&now_set))
        .map(|d| d.id.to_string())
        .collect();
    let newer = match (snap.version_of(&now_set), snap.version_of(&st.params.image)) {
        (Some(a), Some(b)) => a > b,
        _ => true,
    };
    let way = if moved.is_empty() || !newer {
        "Set it back and `upgrade resume`, or `upgrade abort`".to_string()
    } else {
        format!(
            "{} already run(s) {}: setting it back would downgrade them. `upgrade abort`, then `upgrade IMAGE` to \
             that image or a newer one (the new upgrade takes over this one's holds and pins)",
            upgrade::summarise(&moved),
            clean(&now_set)
        )
    };
    Err(Error::Failed(format!("{why}. The upgrade stops here and overwrites nothing; nothing further moves. {way}")))
}

/// What someone else changed of what the upgrade set or keeps, if anything: the base image
/// (before the mon stage it must be where the upgrade found it or the target; after it,
/// the target; with `--types`, where it was found), or a pin's value.
fn foreign_change(snap: &Snapshot, st: &State) -> Option<(String, String)> {
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
        return Some((why, c.base_image.clone()));
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
            return Some((why, now.clone()));
        }
    }
    None
}
