//! `upgrade status`, `upgrade pause` and `upgrade abort`: read and change the state
//! annotation of an upgrade under way (a paused one is resumed by `upgrade resume`).

use super::super::{Ctx, print};
use super::record::{Record, Written, save};
use super::{crd_has_overrides, now, own, state_of, state_of_text};
use crate::cluster::read;
use crate::error::{Error, Result};
use crate::output::clean;
use crate::plan::upgrade;
use crate::plan::upgrade::writes::state_write;
use crate::plan::upgrade::{State, StatusDoc};
use crate::render::upgrade_run::lines;

pub(super) async fn status(ctx: &mut Ctx<'_>) -> Result<i32> {
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let mut snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let state = state_of(&snap)?;
    if snap.cluster.upgrade_reconcile && snap.cluster.held {
        crate::output::note(&format!(
            "the CephCluster carries the {} label a stopped run of this upgrade left on (Rook reconciles no mon, mgr \
             or osd while it is on): `upgrade resume` removes it and goes on, `upgrade abort` removes it",
            crate::model::DNR_LABEL
        ));
    }
    own::own_label_aside(&mut snap);
    let mut doc = StatusDoc {
        namespace: snap.cluster.namespace.clone(),
        cluster: snap.cluster.name.clone(),
        state: state.clone(),
        image: state.as_ref().map(|st| st.params.image.clone()),
        on_target: 0,
        total: 0,
        next_stage: None,
        stages_left: 0,
        excluded: 0,
    };
    if let Some(st) = &state {
        let overrides = crd_has_overrides(&conn).await?;
        if let Ok(plan) = upgrade::plan(&snap, &st.params, overrides, Some(st)) {
            doc.on_target = plan.summary.on_target;
            doc.total = plan.summary.on_target + plan.summary.moving;
            doc.next_stage = plan.stages.first().map(|x| x.name.clone());
            doc.stages_left = plan.stages.len();
            doc.excluded = plan.summary.excluded;
        }
    }
    print(s, &doc, || crate::render::upgrade_run::status_text(&doc))?;
    Ok(0)
}

pub(super) async fn set_phase(ctx: &mut Ctx<'_>, phase: &str) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let Some(st) = state_of(&snap)?.filter(|st| st.phase != "aborted") else {
        return Err(Error::usage("no upgrade is under way on this CephCluster: nothing to pause"));
    };
    let paused = |mut st: State| {
        st.phase = phase.into();
        st.message = Some("paused by `upgrade pause`".into());
        st.updated = now();
        st
    };
    if s.dry_run.is_some() {
        let w = state_write(&snap.cluster.name, Some(&paused(st)), &snap.cluster.resource_version);
        crate::output::emit(&crate::render::writes::writes_text(&[w]));
        return Ok(0);
    }
    ctx.confirm(&format!("Pause the upgrade to {} ({})?", st.params.image, st.stage))?;
    // The upgrade went on while the question was asked (stages done, pins recorded), or
    // finished: the state is read again and only what is there now is paused.
    let mut tries = 0;
    loop {
        let c = read::get_cluster(&conn.kube, &conn.namespace, &snap.cluster.name).await?.into_model();
        let Some(now_st) = state_of_text(&c.name, c.upgrade.as_deref())?.filter(|n| n.phase != "aborted") else {
            return Err(Error::usage(format!(
                "the upgrade to {} finished or was aborted since it was read (no upgrade is under way now): nothing \
                 to pause; nothing was written",
                clean(&st.params.image)
            )));
        };
        if now_st.phase == phase {
            crate::output::emit(&format!(
                "Already paused (at stage {}): nothing was written; `kubectl ceph-image upgrade resume` goes on.\n",
                clean(&now_st.stage)
            ));
            return Ok(0);
        }
        let mut rec = Record::of(&c);
        if let Written::Done = save(&conn, s, &mut rec, Some(&paused(now_st))).await? {
            break;
        }
        tries += 1;
        if tries >= super::super::change::MAX_CONFLICTS {
            return Err(Error::Failed("the upgrade's state keeps changing: nothing was paused; try again".into()));
        }
    }
    crate::output::emit(
        "Paused: the upgrade stops before its next stage (a stage under way finishes); `kubectl ceph-image upgrade \
         resume` goes on.\n",
    );
    Ok(0)
}

pub(super) async fn abort(ctx: &mut Ctx<'_>) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let state = state_of(&snap)?;
    let Some(st) = state.clone().filter(|st| st.phase != "aborted") else {
        // Aborted before, but a run stopped since (or the abort itself) left its own label
        // or pre-pull pods: those go now.
        if let Some(st) = state {
            let (label, pods) = own::leftovers(&conn, &snap.cluster.name).await?;
            if label || !pods.is_empty() || !st.flags.is_empty() {
                return clean_up_after(ctx, &conn, &snap, &st).await;
            }
        }
        return Err(Error::usage("no upgrade is under way on this CephCluster: nothing to abort"));
    };
    let aborted = |mut st: State| {
        st.phase = "aborted".into();
        st.message = Some("aborted by `upgrade abort`".into());
        st.updated = now();
        st
    };
    if s.dry_run.is_some() {
        let mut w = vec![state_write(&snap.cluster.name, Some(&aborted(st)), &snap.cluster.resource_version)];
        w.extend(own::cleanup_writes(&conn, &snap.cluster.name).await?);
        crate::output::emit(&crate::render::writes::writes_text(&w));
        return Ok(0);
    }
    ctx.confirm(&format!(
        "Abort the upgrade to {}? The cluster stays as it is, with its holds{}.",
        clean(&st.params.image),
        if snap.cluster.upgrade_reconcile {
            "; the CephCluster-level label a stopped run of it left goes (Rook reconciles again)"
        } else {
            ""
        }
    ))?;
    // Kept, as aborted: its holds and pins stay known as this plugin's, for a new upgrade
    // to take over (`upgrade IMAGE`), and for `status`. Read again after the question: what
    // the upgrade recorded meanwhile (pins) is kept, and a finished one is not recreated.
    let mut tries = 0;
    let (snap, st, mut rec) = loop {
        let snap = read::snapshot(&conn.kube, &conn.namespace, Some(&snap.cluster.name)).await?;
        let Some(now_st) = state_of(&snap)? else {
            return Err(Error::usage(format!(
                "the upgrade to {} finished since it was read (no upgrade is under way now): nothing to abort; \
                 nothing was written",
                clean(&st.params.image)
            )));
        };
        if now_st.phase == "aborted" {
            let done = own::cleanup(&conn, s, &snap.cluster.name, &snap.cluster.base_image).await?;
            let mut t = format!(
                "Already aborted (by another terminal): its state was not written again.\n{}",
                lines(&done.lines)
            );
            if done.lines.is_empty() {
                t = "Already aborted (by another terminal): nothing was written.\n".into();
            }
            crate::output::emit(&t);
            return Ok(if done.left { 1 } else { 0 });
        }
        let mut rec = Record::of(&snap.cluster);
        if let Written::Done = save(&conn, s, &mut rec, Some(&aborted(now_st.clone()))).await? {
            break (snap, now_st, rec);
        }
        tries += 1;
        if tries >= super::super::change::MAX_CONFLICTS {
            return Err(Error::Failed("the upgrade's state keeps changing: nothing was aborted; try again".into()));
        }
    };
    // What runs what, and what keeps it so.
    let mut by_image: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for d in &snap.daemons {
        by_image.entry(d.image.clone().unwrap_or_else(|| "?".into())).or_default().push(d.id.to_string());
    }
    let mut t = format!("Aborted: the upgrade to {} moves nothing further.\n", clean(&st.params.image));
    if st.phase == "running" {
        t.push_str(&format!(
            "  If a process is running it, it stops after the stage under way ({}) passes its gates: until then, \
             that stage's daemons may still move\n",
            clean(&st.stage)
        ));
    }
    for (img, ds) in &by_image {
        t.push_str(&format!("  {} daemon(s) run {}\n", ds.len(), clean(img)));
    }
    let holds: Vec<String> =
        snap.daemons.iter().filter(|d| d.upgrade_hold.is_some()).map(|d| d.id.to_string()).collect();
    if !holds.is_empty() {
        t.push_str(&format!(
            "  {} daemon(s) stay held by the upgrade's do-not-reconcile label: {}. `kubectl ceph-image resume ID...` \
             releases them (Rook moves them to the base image on its next reconcile; `pause cluster` then `resume \
             cluster` starts one)\n",
            holds.len(),
            clean(&holds.join(" "))
        ));
    }
    // --types: the overrides it set are its result, not a pin; they stay.
    for k in st.params.types.iter().map(|ty| ty.key()) {
        if snap.cluster.overrides.get(k) == Some(&st.params.image) {
            t.push_str(&format!(
                "  imageOverrides.{k} stays on {} (set by this --types upgrade); `kubectl ceph-image unset {k}` sends \
                 the type back to the base image\n",
                clean(&st.params.image)
            ));
        }
    }
    for (k, v) in st.pins.iter().filter(|(k, _)| snap.cluster.overrides.contains_key(*k)) {
        t.push_str(&format!(
            "  imageOverrides.{k} stays pinned to {}; `kubectl ceph-image unset {k}` removes it\n",
            clean(v)
        ));
    }
    // What a stopped run left of the upgrade's own (its CephCluster-level label, its
    // pre-pull pods): removed now, and said.
    let done = own::cleanup(&conn, s, &snap.cluster.name, &snap.cluster.base_image).await?;
    t.push_str(&lines(&done.lines));
    // and the OSD flags it set (a killed run's, or one still running: it stops after its stage)
    let (flag_lines, flags_left) = super::flags::remove_recorded(&conn, s, &mut rec, &mut aborted(st.clone())).await;
    t.push_str(&lines(&flag_lines));
    crate::output::emit(&t);
    Ok(if done.left || flags_left { 1 } else { 0 })
}

/// `upgrade abort` of an upgrade aborted before, whose stopped run left its own label or
/// pre-pull pods (a kill after the abort's state write, or a run that was still under way):
/// the state is not written again; those are removed, and said.
async fn clean_up_after(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    snap: &crate::model::Snapshot,
    st: &State,
) -> Result<i32> {
    let s = ctx.settings;
    if s.dry_run.is_some() {
        crate::output::emit(&crate::render::writes::writes_text(&own::cleanup_writes(conn, &snap.cluster.name).await?));
        return Ok(0);
    }
    ctx.confirm(&format!(
        "The upgrade to {} was aborted; remove what a stopped run of it left (its CephCluster-level label, its \
         pre-pull pods)?",
        clean(&st.params.image)
    ))?;
    let done = own::cleanup(conn, s, &snap.cluster.name, &snap.cluster.base_image).await?;
    let mut rec = Record::of(&snap.cluster);
    let (flag_lines, flags_left) = super::flags::remove_recorded(conn, s, &mut rec, &mut st.clone()).await;
    crate::output::emit(&format!(
        "The upgrade to {} was aborted before: {}.\n{}{}",
        clean(&st.params.image),
        if flag_lines.is_empty() { "its state was not written again" } else { "its state now records no OSD flag" },
        lines(&done.lines),
        lines(&flag_lines)
    ));
    Ok(if done.left || flags_left { 1 } else { 0 })
}
