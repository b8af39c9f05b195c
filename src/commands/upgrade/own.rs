//! What is the upgrade's own beyond its holds and pins, and what a stopped run leaves of it:
//! the CephCluster-level label a stage adds to start a reconcile (known by
//! `UPGRADE_RECONCILE`, added in the same patch), the pre-pull pods (known by their
//! labels, `prepull::LABELS`). `upgrade abort` removes both (never a label or pod someone
//! else made) and says so; `upgrade status` plans as if the label were off; the next
//! pre-pull deletes the pods it cannot take as its own; a resume starts the reconcile a
//! stopped stage did not.

use serde_json::json;

use super::record::Record;
use super::writes_to;
use crate::cluster::connect::Connection;
use crate::cluster::read;
use crate::error::{Error, Result};
use crate::execute;
use crate::execute::prepull;
use crate::model::{DNR_LABEL, Snapshot, UPGRADE_RECONCILE};
use crate::output::clean;
use crate::plan::upgrade::writes::write;
use crate::plan::upgrade::{Stage, StageKind, State};
use crate::plan::writes::{Expect, Object, Write};
use crate::settings::Settings;

/// The snapshot as the upgrade plans from it: its own CephCluster-level label (a stopped
/// run left it, `UPGRADE_RECONCILE`) holds nothing the upgrade counts as held, since the
/// next run removes it first. Without this, `upgrade status` counted every mgr and OSD as
/// held by the label and named the wrong next stage.
pub(super) fn own_label_aside(snap: &mut Snapshot) {
    if snap.cluster.upgrade_reconcile {
        snap.cluster.held = false;
    }
}

/// The removal of the upgrade's own CephCluster-level label and its annotation, with the
/// resourceVersion read as precondition: an operator's `pause cluster` since the read
/// (then the label may be theirs) meets 409 and is read again.
fn label_removal(cluster: &str, resource_version: &str) -> Write {
    let gone = |section: &str, k: &str| (format!("/metadata/{section}/{}", k.replace('/', "~1")), None);
    write(
        Object::CephCluster(cluster.to_string()),
        json!({"metadata": {"resourceVersion": resource_version, "labels": {DNR_LABEL: null},
            "annotations": {UPGRADE_RECONCILE: null}}}),
        Expect::Fields { fields: vec![gone("labels", DNR_LABEL), gone("annotations", UPGRADE_RECONCILE)] },
        1,
        format!("remove {DNR_LABEL} (the upgrade's own, left by a stopped run)"),
    )
}

/// The first error of a journal, for a message.
fn first_error(j: &execute::Journal) -> String {
    j.entries
        .iter()
        .find_map(|e| match &e.done {
            execute::Done::Failed { error } | execute::Done::Conflict { error } => {
                Some(error.lines().next().unwrap_or_default().to_string())
            }
            _ => None,
        })
        .unwrap_or_else(|| "interrupted".into())
}

/// What `cleanup` did and found, one line each, and whether anything of the upgrade's own
/// could not be removed.
pub(super) struct Cleanup {
    pub lines: Vec<String>,
    pub left: bool,
}

/// What a stopped run of the upgrade left that is the plugin's own, and the writes that
/// remove it (for `--dry-run`): the label (with its annotation) and the pre-pull pods.
pub(super) async fn leftovers(conn: &Connection, cluster: &str) -> Result<(bool, Vec<String>)> {
    let c = read::get_cluster(&conn.kube, &conn.namespace, cluster).await?.into_model();
    let pods = prepull::ours(&conn.kube, &conn.namespace).await?.iter().map(prepull::name_of).collect();
    Ok((c.upgrade_reconcile, pods))
}

/// The writes `cleanup` sends, as a dry run shows them.
pub(super) async fn cleanup_writes(conn: &Connection, cluster: &str) -> Result<Vec<Write>> {
    let c = read::get_cluster(&conn.kube, &conn.namespace, cluster).await?.into_model();
    let mut w = Vec::new();
    if c.upgrade_reconcile {
        w.push(label_removal(cluster, &c.resource_version));
    }
    let pods: Vec<String> = prepull::ours(&conn.kube, &conn.namespace).await?.iter().map(prepull::name_of).collect();
    w.extend(prepull::delete_writes(&pods));
    Ok(w)
}

/// Remove what a stopped run of the upgrade left that is the plugin's own (`upgrade abort`):
/// its CephCluster-level label, only while it carries `UPGRADE_RECONCILE` (an operator's
/// label is named and left), and its pre-pull pods (only those carrying its labels, each
/// deleted with its uid as precondition). Each is said; what cannot be removed is named
/// with the command that removes it.
pub(super) async fn cleanup(conn: &Connection, s: &Settings, cluster: &str, base: &str) -> Result<Cleanup> {
    let ns = conn.namespace.as_str();
    let mut out = Cleanup { lines: Vec::new(), left: false };
    let mut conflicts = 0;
    loop {
        let c = read::get_cluster(&conn.kube, ns, cluster).await?.into_model();
        if !c.upgrade_reconcile {
            if c.held {
                out.lines.push(format!(
                    "The CephCluster carries {DNR_LABEL}, which this upgrade did not set: it is left as it is \
                     (Rook reconciles no mon, mgr or osd while it is on; `kubectl ceph-image resume cluster` removes it)"
                ));
            }
            break;
        }
        let j = execute::run(&writes_to(conn, s, cluster), &[label_removal(cluster, &c.resource_version)]).await;
        if j.all_done() {
            out.lines.push(format!(
                "Removed the CephCluster-level {DNR_LABEL} label a stopped run of this upgrade left on (it was \
                 starting a stage's reconcile): Rook reconciles the mons, mgrs and OSDs again. What the upgrade \
                 released moves to the base image {}; what it holds stays",
                clean(base)
            ));
            break;
        }
        if j.conflict() && j.interrupted.is_none() && conflicts < super::super::change::MAX_CONFLICTS {
            conflicts += 1;
            continue;
        }
        out.left = true;
        out.lines.push(format!(
            "The CephCluster still carries the {DNR_LABEL} label a stopped run of this upgrade left on ({}): Rook \
             reconciles no mon, mgr or osd while it is on. Remove it: kubectl -n {ns} label cephcluster {cluster} \
             {DNR_LABEL}- && kubectl -n {ns} annotate cephcluster {cluster} {UPGRADE_RECONCILE}-",
            clean(&first_error(&j))
        ));
        break;
    }
    let pods: Vec<String> = prepull::ours(&conn.kube, ns).await?.iter().map(prepull::name_of).collect();
    if !pods.is_empty() {
        let writes = prepull::delete_writes(&pods);
        let j = execute::run(&writes_to(conn, s, cluster), &writes).await;
        let (gone, failed): (Vec<_>, Vec<_>) =
            pods.iter().zip(&j.entries).partition(|(_, e)| matches!(e.done, execute::Done::Applied));
        let names = |v: &[(&String, &execute::Entry)]| {
            v.iter().map(|(n, _)| clean(n).into_owned()).collect::<Vec<_>>().join(", ")
        };
        if !gone.is_empty() {
            out.lines.push(format!("Deleted {} pre-pull pod(s) a stopped run left: {}", gone.len(), names(&gone)));
        }
        if !failed.is_empty() {
            out.left = true;
            out.lines.push(format!(
                "{} pre-pull pod(s) a stopped run left could not be deleted ({}): {}. Remove them: kubectl -n {ns} \
                 delete pods -l {}",
                failed.len(),
                clean(&first_error(&j)),
                names(&failed),
                prepull::selector()
            ));
        }
    }
    Ok(out)
}

/// The daemons of a release stage that a stopped run already released (no hold on their
/// Deployment) but that still run their old image, when the stage's writes start no
/// reconcile (no write to the CephCluster): the run stopped after the releases and before
/// the CephCluster-level label was added (Ctrl-C, a kill, a failed label add). Releasing
/// a hold starts nothing in Rook (FACTS §2), so without a reconcile they would never move
/// and every resume would wait at this stage's gate.
pub(super) fn released_unreconciled(snap: &Snapshot, stage: &Stage, writes: &[Write], image: &str) -> Vec<String> {
    if stage.kind != StageKind::Release || writes.iter().any(|w| matches!(w.object, Object::CephCluster(_))) {
        return Vec::new();
    }
    stage
        .daemons
        .iter()
        .filter(|m| snap.daemons.iter().any(|d| d.deployment == m.deployment && !d.labelled && d.differs_from(image)))
        .map(|m| m.daemon.clone())
        .collect()
}

/// A pre-pull stopped because a pod by a name it creates is there and is not one of its
/// own (`clear_stale_pulls` removed those): the stop says so, names each pod, says that it
/// is left untouched and what to do, rather than the journal's account, whose 'delete:
/// done' of such a pod (nothing of ours to delete) and 'the same command again finishes
/// the job' are not true of it. None: no such pod.
pub(super) fn names_taken(j: &execute::Journal, writes: &[Write], ns: &str) -> Option<Error> {
    let taken: Vec<(String, String)> = writes
        .iter()
        .zip(&j.entries)
        .filter(|(w, _)| w.patch_type == crate::plan::writes::PatchType::Create)
        .filter_map(|(w, e)| match &e.done {
            execute::Done::Failed { error } if error.contains("AlreadyExists") => {
                Some((w.object.describe(), error.lines().next().unwrap_or_default().to_string()))
            }
            _ => None,
        })
        .collect();
    if taken.is_empty() {
        return None;
    }
    let names: Vec<String> = taken.iter().map(|(o, _)| clean(o).into_owned()).collect();
    Some(Error::Failed(format!(
        "the pre-pull cannot create its pod(s) {}: a pod by that name is there and is not one this plugin made for \
         this pull (not labelled {}, or for another node or image; {}): it is left as it is, untouched. The pre-pull \
         pods this run made were deleted; nothing was held and nothing restarted. Once it is gone (kubectl -n {ns} get \
         pod {} -o yaml shows it), `kubectl ceph-image upgrade resume` pulls and goes on; to keep it, `upgrade \
         abort`, then upgrade without --prepull",
        names.join(", "),
        prepull::selector(),
        clean(&taken.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join("; ")),
        clean(&taken.iter().map(|(o, _)| o.trim_start_matches("pod/")).collect::<Vec<_>>().join(" "))
    )))
}

/// `clear_stale_pulls`, its stop recorded in the state (`failed`, with the names).
pub(super) async fn clear_stale_pulls_or_fail(
    conn: &Connection,
    s: &Settings,
    rec: &mut Record,
    st: &mut State,
    nodes: &[String],
) -> Result<()> {
    let (cluster, image) = (rec.cluster.clone(), st.params.image.clone());
    let r = clear_stale_pulls(conn, s, &cluster, nodes, &image).await;
    if let Err(e) = &r {
        super::record::fail(conn, s, rec, st, &e.to_string()).await;
    }
    r
}

/// Before the pre-pull creates its pods: the plugin's own pre-pull pods a stopped run left
/// that cannot stand for this run's (another image or node, ended, being deleted) are
/// deleted and named, and waited for until their names are free, so that this run's
/// creates meet no pod of its own. One that can (`prepull::reusable`) is kept: its create
/// takes it as it is. What cannot be deleted stops the upgrade, named.
pub(super) async fn clear_stale_pulls(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    nodes: &[String],
    image: &str,
) -> Result<()> {
    let ns = conn.namespace.as_str();
    let stale: Vec<String> = prepull::ours(&conn.kube, ns)
        .await?
        .iter()
        .filter(|p| !prepull::reusable(p, nodes, image))
        .map(prepull::name_of)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let names = clean(&stale.join(", ")).into_owned();
    crate::output::note(&format!(
        "{} pre-pull pod(s) of this plugin's that a stopped run left ({names}) are for another image or node, or \
         ended: deleting them first",
        stale.len()
    ));
    let j = execute::run(&writes_to(conn, s, cluster), &prepull::delete_writes(&stale)).await;
    let left = if j.all_done() { prepull::wait_gone(&conn.kube, ns, &stale, s.timeout).await? } else { stale };
    if left.is_empty() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "the pre-pull pod(s) {} that a stopped run left could not be removed ({}): nothing was held and nothing \
         restarted. Remove them (kubectl -n {ns} delete pods -l {}), then `kubectl ceph-image upgrade resume`",
        clean(&left.join(", ")),
        if j.all_done() { format!("still there after {:?}", s.timeout) } else { clean(&first_error(&j)).into_owned() },
        prepull::selector()
    )))
}
