//! `upgrade check IMAGE` (issue 23 item 6): reads the cluster, asks Ceph, lists the
//! toolbox pods, and prints `plan::upgrade::check`'s findings. It never writes: GETs,
//! LISTs and the `ceph health detail` / `ceph versions` execs of `status` only.
//!
//! `-o json|yaml`: `{namespace, cluster, image, cephAsked, blockers: [{code, message, fix}],
//! warnings: [{code, message, fix}]}`. Exit 0 when nothing blocks, 4 when something does
//! (as `--exit-code` elsewhere), 1 when the cluster cannot be read.

use serde::Serialize;

use super::super::{Ctx, print};
use crate::cluster::connect::Connection;
use crate::cluster::read;
use crate::cluster::wire::{WirePod, pod_deployment};
use crate::error::Result;
use crate::model::Snapshot;
use crate::output::{clean, note};
use crate::plan::upgrade::check::{self, Findings, Toolbox};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a> {
    namespace: &'a str,
    cluster: &'a str,
    image: &'a str,
    /// Ceph answered `ceph health detail` and `ceph versions`; false: the health codes are
    /// Rook's (`ceph-not-asked` says why).
    ceph_asked: bool,
    #[serde(flatten)]
    findings: &'a Findings,
}

pub(super) async fn run(ctx: &mut Ctx<'_>, image: &str) -> Result<i32> {
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let (findings, asked) = gather(&conn, s, &snap, image).await;
    let c = &snap.cluster;
    let doc = Doc { namespace: &c.namespace, cluster: &c.name, image, ceph_asked: asked, findings: &findings };
    print(s, &doc, || {
        format!(
            "Upgrade check of CephCluster {}/{} for {}:\n{}",
            clean(&c.namespace),
            clean(&c.name),
            clean(image),
            crate::render::upgrade::check_text(&findings, image)
        )
    })?;
    Ok(if findings.blockers.is_empty() { 0 } else { 4 })
}

/// The findings for an upgrade of `snap`'s cluster to `image`, with Ceph asked (as `status`
/// asks it, bounded the same way) and the toolbox pods listed; whether Ceph answered. Reads
/// only: a failure to ask Ceph or to list the toolbox is a finding or a note, never an error.
pub(super) async fn gather(
    conn: &Connection,
    s: &crate::settings::Settings,
    snap: &Snapshot,
    image: &str,
) -> (Findings, bool) {
    let timeout = s
        .connect
        .request_timeout
        .map_or(super::super::status::CEPH_TIMEOUT, |t| t.min(super::super::status::CEPH_TIMEOUT));
    let ceph = crate::cluster::ceph::ask_status(&conn.kube, &conn.namespace, timeout).await;
    let toolbox = toolbox(conn).await;
    let f = check::check(snap, Some(&ceph), toolbox.as_deref(), image, jiff::Timestamp::now());
    (f, ceph.asked)
}

/// The toolbox pods (`app=rook-ceph-tools`, deploy/examples/toolbox.yaml) in the cluster's
/// namespace; None (and a note) when they cannot be listed.
async fn toolbox(conn: &Connection) -> Option<Vec<Toolbox>> {
    let ns = &conn.namespace;
    let what = crate::cluster::api::What::new("list", "pods", Some(ns.as_str()));
    let selector = crate::cluster::ceph::TOOLBOX_SELECTOR;
    match read::list_all::<WirePod>(&conn.kube, &read::pods_path(ns), selector, &what).await {
        Ok(l) => Some(
            l.items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter_map(|p| {
                    let cs = &p.spec.containers;
                    let c = cs.iter().find(|c| c.name == crate::cluster::ceph::TOOLBOX_CONTAINER).or(cs.first())?;
                    Some(Toolbox {
                        pod: p.metadata.name.clone(),
                        deployment: pod_deployment(p),
                        image: c.image.clone()?,
                    })
                })
                .collect(),
        ),
        Err(e) => {
            note(&format!(
                "cannot list the toolbox pods ({}): its image is not checked",
                clean(&crate::cluster::api::first_line(&e))
            ));
            None
        }
    }
}
