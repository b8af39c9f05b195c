//! `status`

use super::{Ctx, print};
use crate::cluster::read::{self, Support};
use crate::error::Result;
use crate::plan::status;
use crate::render;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    let conn = ctx.connect().await?;
    let (snap, support) = tokio::join!(
        read::snapshot(&conn.kube, &conn.namespace, ctx.settings.cluster.as_deref()),
        read::overrides_support_why(&conn.kube)
    );
    let mut snap = snap?;
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
    print(ctx.settings, &view, || render::status_view(&view, &ctx.settings.out_styles, ctx.settings.wide))?;
    Ok(0)
}
