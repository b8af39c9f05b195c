//! `status`

use std::time::Duration;

use super::{Ctx, print};
use crate::cluster::read::{self, Support};
use crate::error::Result;
use crate::plan::status;
use crate::render;

/// How long `status` lets Ceph take to answer (each of `ceph health detail` and `ceph
/// versions`, run at once), or `--request-timeout` when shorter: a Ceph without quorum
/// must not hold up the Kubernetes view.
pub const CEPH_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    let conn = ctx.connect().await?;
    let ceph_timeout = ctx.settings.connect.request_timeout.map_or(CEPH_TIMEOUT, |t| t.min(CEPH_TIMEOUT));
    let (snap, support) = tokio::join!(
        read::snapshot(&conn.kube, &conn.namespace, ctx.settings.cluster.as_deref()),
        read::overrides_support_why(&conn.kube)
    );
    let mut snap = snap?;
    // after the Kubernetes view, not beside it: a cluster that is not there is never
    // exec'd into, and the reads keep the order they had (faults and logs count them)
    let ceph = crate::cluster::ceph::ask_status(&conn.kube, &conn.namespace, ceph_timeout).await;
    let (overrides, unreadable) = match support {
        Ok((Support::Yes, _)) => (Some(true), None),
        Ok((Support::No, _)) => (Some(false), None),
        // An override the API server kept is proof enough that the schema has the field.
        _ if !snap.cluster.overrides.is_empty() => (Some(true), None),
        Ok((Support::Unknown, why)) => (None, why),
        Err(e) => (None, Some(crate::cluster::api::first_line(&e))),
    };
    // Known before the view is built: its advice names the command this Rook takes.
    snap.cluster.crd_overrides = overrides;
    let mut view = status::view(&snap, jiff::Timestamp::now());
    (view.crd_image_overrides, view.crd_unreadable) = (overrides, unreadable);
    // Ceph's own answer is a check more, never a condition of the rest: where it cannot
    // be asked, one line on stderr says why and what that leaves unchecked.
    if let Some(line) = render::ceph::not_asked_line(&ceph) {
        crate::output::note(&line);
    }
    view.ceph = Some(ceph);
    print(ctx.settings, &view, || render::status_view(&view, &ctx.settings.out_styles, ctx.settings.wide))?;
    Ok(0)
}
