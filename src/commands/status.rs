//! `status`

use super::{Ctx, print};
use crate::cluster::read;
use crate::error::Result;
use crate::{render, status};

pub async fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, ctx.settings.cluster.as_deref()).await?;
    let view = status::view(&snap, jiff::Timestamp::now());
    print(ctx.settings, &view, || render::status_view(&view, &ctx.settings.out_styles, ctx.settings.wide))?;
    Ok(0)
}
