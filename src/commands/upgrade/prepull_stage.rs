//! The upgrade's pre-pull stage (`--prepull`), run by `drive`: pods that pull the image on
//! every node that will restart a daemon, made from the daemons' own pod template.

use serde_json::Value;

use super::own;
use super::record::{Record, Written, fail, obey, save};
use super::state::{now, writes_to};
use crate::cluster::read;
use crate::error::{Error, Result};
use crate::execute;
use crate::model::Snapshot;
use crate::output::{clean, note};
use crate::plan::upgrade::{Stage, State};
use crate::plan::writes::PatchType;

/// What the pre-pull pods take from the daemons' pod template (`prepull::Template`): a
/// mon's Deployment (Rook runs the mons with `rook-ceph-default`, its general account),
/// else any daemon's, read with one LIST of a single item (the `list` the plan's reads
/// already need, so a dry run needs no more). Unreadable: the namespace's default account,
/// and a note that says so.
pub(super) async fn template_of(
    conn: &crate::cluster::connect::Connection,
    snap: &Snapshot,
) -> crate::execute::prepull::Template {
    let daemon =
        snap.daemons.iter().find(|d| d.id.dtype == crate::model::daemon::DaemonType::Mon).or(snap.daemons.first());
    let Some(app) = daemon.and_then(|d| d.labels.get("app")) else { return Default::default() };
    let ns = &conn.namespace;
    let selector = format!("{},app={app}", read::daemon_selector(ns));
    let what = crate::cluster::api::What::new("list", "deployments.apps", Some(ns.as_str()));
    let req = kube::core::Request::new(read::deployments_path(ns))
        .list(&kube::api::ListParams::default().labels(&selector).limit(1))
        .map_err(crate::cluster::api::request_error);
    let listed = match req {
        Ok(req) => conn.kube.json::<crate::cluster::wire::List<Value>>(req, &what).await,
        Err(e) => Err(e),
    };
    match listed.map(|l| l.items.into_iter().next()) {
        Ok(Some(d)) => crate::execute::prepull::Template::of_deployment(&d),
        Ok(None) => Default::default(),
        Err(e) => {
            note(&format!(
                "cannot read the daemons' pod template ({}): the pre-pull pods run with the namespace's default \
                 service account and no pull secret of their own",
                clean(&crate::cluster::api::first_line(&e))
            ));
            Default::default()
        }
    }
}

/// The pre-pull stage (`--prepull`): a pod on each of the stage's nodes pulls the image,
/// through the executor (`prepull::writes`: the creates, a wait for the pulls, the deletes
/// as cleanup writes, sent whatever happened). Passed: the state records it, so no later
/// round and no `upgrade resume` pulls again. Failed: the state says `failed`, with the
/// nodes and the kubelet's reasons; nothing was held and nothing restarted.
pub(super) async fn prepull(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    rec: &mut Record,
    snap: &Snapshot,
    stage: &Stage,
    st: &mut State,
) -> Result<Option<i32>> {
    let cluster = rec.cluster.clone();
    let cluster = cluster.as_str();
    own::clear_stale_pulls_or_fail(conn, s, rec, st, &stage.nodes).await?;
    let tpl = template_of(conn, snap).await;
    let writes = crate::execute::prepull::writes(&conn.namespace, &stage.nodes, &st.params.image, &tpl, s.timeout);
    let journal = execute::run(&writes_to(conn, s, cluster), &writes).await;
    if journal.all_done() {
        st.prepulled = true;
        st.updated = now();
        return match save(conn, s, rec, Some(st)).await? {
            Written::Done => Ok(None),
            Written::Changed(other) => obey(other, false).map(Some),
        };
    }
    let rerun = "kubectl ceph-image upgrade resume";
    if journal.interrupted.is_some() {
        return Err(execute::failure(&journal, rerun));
    }
    // Pods of ours a delete could not remove: named, with how to remove them.
    let left: Vec<String> = writes
        .iter()
        .zip(&journal.entries)
        .filter(|(w, e)| w.patch_type == PatchType::Delete && !matches!(e.done, execute::Done::Applied))
        .map(|(w, _)| w.object.describe())
        .collect();
    let cleanup = if left.is_empty() {
        "the pre-pull pods were deleted".to_string()
    } else {
        format!(
            "{} pre-pull pod(s) could not be deleted ({}): kubectl -n {} delete pods -l {}",
            left.len(),
            left.join(", "),
            conn.namespace,
            crate::execute::prepull::selector()
        )
    };
    match &journal.gate {
        Some(gate) => {
            fail(conn, s, rec, st, gate).await;
            Err(Error::Failed(format!(
                "{gate}. The upgrade stopped before anything restarted; {cleanup}. Once the node(s) can pull the \
                 image, `{rerun}` pulls again and goes on"
            )))
        }
        None => {
            fail(conn, s, rec, st, &format!("a write of the pre-pull failed; {cleanup}")).await;
            Err(own::names_taken(&journal, &writes, &conn.namespace)
                .unwrap_or_else(|| execute::failure(&journal, rerun)))
        }
    }
}
