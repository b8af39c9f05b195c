//! `upgrade IMAGE` and `upgrade status|pause|resume|abort` (DESIGN §10, issue 15): the
//! staged upgrade planned by `crate::plan::upgrade`, run stage by stage through the one executor.
//!
//! Each round re-reads the cluster and plans again from what it finds: the first stage of
//! that plan is the next one. A killed process, a pause or a failed gate therefore leaves
//! nothing to remember but the state annotation (the parameters, this upgrade's pins, the
//! phase): `upgrade resume` plans from the cluster as it is, and what is done is not done
//! again (holds that are there are not re-added; daemons on the target are not moved).

mod check;
mod control;
mod flags;
mod foreign;
mod gates;
mod own;
mod prepull_stage;
mod record;
mod runner;
mod state;

use serde::Serialize;

use super::{Ctx, print};
use crate::cluster::read;
use crate::cluster::view::View;
use crate::error::{Error, Result};
use crate::execute;
use crate::model::daemon::DaemonType;
use crate::model::{DNR_LABEL, Snapshot};
use crate::output::{clean, note};
use crate::plan::upgrade::writes::{StageWrites, all_writes, reconcile_toggle, stage_suffix, stage_writes};
use crate::plan::upgrade::{self, Params, StageKind, State, UpgradePlan};
use crate::plan::writes::Write;
use crate::render::upgrade_run::{left_after, left_from, stage_summary};
use control::{abort, set_phase, status};
use foreign::stop_on_foreign_change;
use prepull_stage::{prepull, template_of};
use record::{Record, Written, fail, obey, save};
use state::{crd_has_overrides, now, state_of, state_of_text, writes_to};

/// What `upgrade` was asked to do.
#[derive(Debug, Clone)]
pub enum Request {
    Start(Params),
    /// `upgrade check IMAGE`: the findings only, nothing written.
    Check(String),
    Status,
    Pause,
    Resume,
    Abort,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunDoc<'a> {
    plan: &'a UpgradePlan,
    /// Every stage's writes. The first stage's are exactly what would be sent; later
    /// stages' are planned from the CephCluster as the earlier ones would leave it (each
    /// stage reads the cluster again and takes its resourceVersion then).
    writes: Vec<StageWrites>,
    dry_run: &'static str,
}

pub async fn run(ctx: &mut Ctx<'_>, req: Request) -> Result<i32> {
    // Each stage is planned from the cluster as the one before leaves it: the API server
    // cannot validate later stages' writes now, and a partial server dry run would mislead.
    if ctx.settings.dry_run == Some(crate::cli::DryRun::Server) {
        return Err(Error::usage(
            "upgrade takes --dry-run (client) only: each stage is planned from the cluster as the stage before leaves \
             it, so the API server cannot check the later stages' writes now. --dry-run shows every stage and its \
             writes",
        ));
    }
    match req {
        Request::Check(image) => check::run(ctx, &image).await,
        Request::Status => status(ctx).await,
        Request::Start(params) => start(ctx, params).await,
        Request::Pause => set_phase(ctx, "paused").await,
        Request::Resume => resume(ctx).await,
        Request::Abort => abort(ctx).await,
    }
}

async fn start(ctx: &mut Ctx<'_>, mut params: Params) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    params.pause_between_ms = u64::try_from(s.pause_between.as_millis()).unwrap_or(u64::MAX);
    let conn = ctx.connect().await?;
    let view = View::start(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let mut snap = view.snapshot().await?;
    own::own_label_aside(&mut snap);
    // An aborted upgrade is over, but its holds and pins are this plugin's: a new one takes
    // them over (and releases them in their stages).
    let (state, aborted) = match state_of(&snap)? {
        Some(st) if st.phase == "aborted" => (None, Some(st)),
        other => (other, None),
    };
    if let Some(st) = &state
        && st.params.image == params.image
        && st.params != params
    {
        return Err(Error::usage(format!(
            "an upgrade to {} with other parameters is under way on this CephCluster ({}{}): `upgrade resume` goes \
             on with its own (`upgrade status` shows them); `upgrade abort` first to start again with these",
            clean(&st.params.image),
            clean(&st.phase),
            stage_suffix(st)
        )));
    }
    // One that runs (in another terminal, or a process that was killed) is not run twice:
    // two runs at once would both move the cluster.
    if let Some(st) = &state {
        runner::refuse_if_running(st, "this `upgrade IMAGE`")?;
    }
    if let Some(st) = &state
        && st.params.image == params.image
        && st.phase == "running"
    {
        return Err(Error::usage(format!(
            "an upgrade to {} is under way on this CephCluster ({}{}), perhaps in another terminal: `upgrade status` \
             shows it; if the process that ran it was stopped, `upgrade resume` goes on",
            clean(&st.params.image),
            clean(&st.phase),
            stage_suffix(st)
        )));
    }
    if let Some(st) = &state
        && st.params.image != params.image
    {
        return Err(Error::usage(format!(
            "an upgrade to {} is under way on this CephCluster ({}{}): `upgrade status` shows it, `upgrade resume` \
             goes on, `upgrade abort` stops it",
            clean(&st.params.image),
            clean(&st.phase),
            stage_suffix(st)
        )));
    }
    let overrides = crd_has_overrides(&conn).await?;
    // An upgrade under way keeps its parameters; this one's are taken when none is.
    let had_aborted = aborted.is_some();
    let fresh = state.is_none();
    // flags an aborted upgrade could not remove are this one's to remove
    let left_flags = aborted.as_ref().map(|a| a.flags.clone()).unwrap_or_default();
    let st = state.unwrap_or_else(|| State {
        params,
        pins: aborted
            .map(|a| a.pins.into_iter().filter(|(k, v)| snap.cluster.overrides.get(k) == Some(v)).collect())
            .unwrap_or_default(),
        phase: "running".into(),
        stage: String::new(),
        message: None,
        canary_done: false,
        prepulled: false,
        updated: now(),
        from: Some(snap.cluster.base_image.clone()),
        spec_set: false,
        flags: left_flags,
        runner: None,
    });
    let params = st.params.clone();
    let mut plan = upgrade::plan(&snap, &params, overrides, Some(&st)).map_err(Error::Usage)?;
    // A new upgrade that may not start writes nothing, not even its state (an upgrade
    // under way has its gates at each stage instead).
    let blocks = if fresh && !plan.done {
        upgrade::preflight(&snap, &plan, params.batch_by, jiff::Timestamp::now())
    } else {
        Vec::new()
    };
    plan.warnings.retain(|w| blocks.iter().all(|b| b.code != w.code));
    plan.warnings.splice(0..0, blocks.iter().cloned());
    // `upgrade check`'s findings head the plan (reads only; the refusal stays the preflight's).
    plan.check = Some(check::gather(&conn, s, &snap, &params.image).await.0);
    let refusal = |sent: &str| {
        let why: Vec<String> = blocks
            .iter()
            .map(|b| clean(b.message.strip_prefix(upgrade::NOT_STARTING).unwrap_or(&b.message)).into_owned())
            .collect();
        Error::Failed(format!("refusing to upgrade: {}. {sent}", why.join("; ")))
    };
    if let Some(mode) = s.dry_run {
        // The pre-pull's pods take the daemons' service account and pull secrets (one read).
        let pulls = match plan.stages.iter().find(|st| st.kind == StageKind::Prepull) {
            Some(st) => {
                let tpl = template_of(&conn, &snap).await;
                crate::execute::prepull::writes(&conn.namespace, &st.nodes, &params.image, &tpl, s.timeout)
            }
            None => Vec::new(),
        };
        let doc = DryRunDoc { plan: &plan, writes: all_writes(&snap, &plan, pulls), dry_run: mode.as_str() };
        print(s, &doc, || {
            let mut t = crate::render::upgrade::text(&plan, s.wide);
            if let Some(first) = doc.writes.first().filter(|w| !w.writes.is_empty()) {
                t.push_str(&format!("\nThe writes of stage 1 ({}):\n", clean(&first.stage)));
                let shown = if s.wide { first.writes.len() } else { first.writes.len().min(20) };
                t.push_str(&crate::render::writes::writes_text(&first.writes[..shown]));
                if shown < first.writes.len() {
                    t.push_str(&format!(
                        "  ... and {} more like them (-o wide or -o json lists them all)\n",
                        first.writes.len() - shown
                    ));
                }
                let later: usize = doc.writes.iter().skip(1).map(|w| w.writes.len()).sum();
                if later > 0 {
                    t.push_str(&format!("and {later} write(s) in the later stages (-o json lists them all)\n"));
                }
            }
            t.push_str("Dry run: nothing was sent.\n");
            t
        })?;
        if !blocks.is_empty() {
            return Err(refusal("Dry run: nothing was sent, and the upgrade would send nothing"));
        }
        return Ok(if s.exit_code && plan.summary.pods > 0 { 4 } else { 0 });
    }
    let mut rec = Record::of(&snap.cluster);
    if plan.done {
        // Nothing of an aborted upgrade is left either: its record goes too (unless
        // another terminal wrote the state meanwhile: then it stays as that one left it).
        if had_aborted && let Written::Changed(other) = save(&conn, s, &mut rec, None).await? {
            return obey(other, true);
        }
        print(s, &plan, || format!("Every daemon already runs {}: nothing to upgrade.\n", clean(&params.image)))?;
        return Ok(0);
    }
    if !blocks.is_empty() {
        return Err(refusal("Nothing was sent"));
    }
    match s.output {
        crate::cli::OutputFormat::Text => crate::output::emit(&crate::render::upgrade::text(&plan, s.wide)),
        _ => note(&crate::render::upgrade::text(&plan, s.wide)),
    }
    ctx.confirm(&format!(
        "Upgrade CephCluster {}/{} to {} in these {} stage(s)?",
        plan.namespace,
        plan.cluster,
        params.image,
        plan.stages.len()
    ))?;
    drive(ctx, &conn, &view, st, overrides, rec).await
}

async fn resume(ctx: &mut Ctx<'_>) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let view = View::start(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let mut snap = view.snapshot().await?;
    own::own_label_aside(&mut snap);
    let Some(mut st) = state_of(&snap)? else {
        return Err(Error::usage("no upgrade is under way on this CephCluster: `upgrade IMAGE` starts one"));
    };
    if st.phase == "aborted" {
        return Err(Error::usage(format!(
            "the upgrade to {} was aborted: `upgrade IMAGE` starts a new one, which takes over the aborted one's holds \
             and pins",
            clean(&st.params.image)
        )));
    }
    // Another process runs it now (on this host, alive): refused before anything is
    // written. One that was killed is gone on with.
    if s.dry_run.is_none() {
        runner::refuse_if_running(&st, "this `upgrade resume`")?;
    }
    let overrides = crd_has_overrides(&conn).await?;
    // Resuming after the canary's stop is the confirmation it asked for.
    if st.phase == "paused" && st.stage.starts_with("osd canary") {
        st.canary_done = true;
    }
    let mut rec = Record::of(&snap.cluster);
    if s.dry_run.is_none() {
        stop_on_foreign_change(&conn, s, &mut rec, &snap, &mut st).await?;
    }
    let plan = upgrade::plan(&snap, &st.params, overrides, Some(&st)).map_err(Error::Usage)?;
    if s.dry_run.is_some() {
        print(s, &plan, || crate::render::upgrade::text(&plan, s.wide))?;
        return Ok(0);
    }
    match s.output {
        crate::cli::OutputFormat::Text => crate::output::emit(&crate::render::upgrade::text(&plan, s.wide)),
        _ => note(&crate::render::upgrade::text(&plan, s.wide)),
    }
    ctx.confirm(&format!("Resume the upgrade to {} ({} stage(s) left)?", st.params.image, plan.stages.len()))?;
    drive(ctx, &conn, &view, st, overrides, rec).await
}

/// Run the remaining stages, then remove the OSD flags the run left recorded, however it
/// ended (`flags::restore`).
async fn drive(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    view: &View,
    mut st: State,
    overrides: bool,
    mut rec: Record,
) -> Result<i32> {
    let mut run_gates = gates::Gates::default();
    let r = drive_stages(ctx, conn, view, &mut st, overrides, &mut rec, &mut run_gates).await;
    flags::restore(conn, ctx.settings, &mut rec, &mut st, &mut run_gates).await;
    r
}

/// Run the remaining stages: each round plans again from the cluster, as `view` holds it
/// once it has seen this run's own writes (read once, then watched: issue 24), and runs
/// the first.
async fn drive_stages(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    view: &View,
    st: &mut State,
    overrides: bool,
    rec: &mut Record,
    run_gates: &mut gates::Gates,
) -> Result<i32> {
    let s = ctx.settings;
    let ns = conn.namespace.clone();
    // `upgrade resume` finishes the job only once a state it goes on with is recorded
    // (`record::save` names it then); before, the same command again does.
    if rec.resumable() {
        execute::set_rerun_hint("kubectl ceph-image upgrade resume");
    }
    // Nothing recorded by this run yet: a state someone else writes meanwhile refuses it.
    let started = !rec.resumable();
    // This run's first state write takes the upgrade on (`claimed`), naming this process;
    // it comes before anything else this run writes. A second run that read the same
    // state loses there (409, the state changed) and is refused, naming the first.
    let mut claimed = false;
    let mut cluster;
    st.phase = "running".into();
    st.message = None;
    st.runner = Some(runner::me());
    let mut last_stage = String::new();
    let mut rounds = 0usize;
    // At most the first plan's stages and 64 more (plans made again after a 409 or a
    // change by someone else). Fixed at the first plan: the later ones have fewer stages
    // left while `rounds` counts them all, so comparing with them stopped any upgrade of
    // more than about 65 stages halfway (2000 OSDs: 167 batches).
    let mut max_rounds = None;
    let mut conflicts = 0usize;
    view.follow();
    loop {
        let mut snap = view.snapshot().await?;
        cluster = snap.cluster.name.clone();
        // Another terminal's `upgrade pause`, `abort` or run, seen between stages (or
        // during the prompt): the state is not what this run last read or wrote.
        if let Err(other) = rec.check(&snap.cluster)? {
            let r = refused(started, claimed, &other);
            return obey(other, r);
        }
        // Someone else changed what the upgrade set (or the base it keeps): never overwritten.
        stop_on_foreign_change(conn, s, rec, &snap, st).await?;
        let unsettled = unsettled(&snap, &st.params.image);
        // What a stopped run left is seen to only by the run that took the upgrade on: the
        // state is written first (a stage's record does it otherwise).
        if !claimed && (snap.cluster.upgrade_reconcile || !unsettled.is_empty()) {
            st.updated = now();
            if let Written::Changed(other) = save(conn, s, rec, Some(&*st)).await? {
                let r = refused(started, claimed, &other);
                return obey(other, r);
            }
            claimed = true;
            continue;
        }
        // A kill between adding and removing the CephCluster-level label left it on: it is
        // the upgrade's (UPGRADE_RECONCILE says so), and removing it starts the reconcile
        // the stage wanted.
        if snap.cluster.upgrade_reconcile {
            note(&format!(
                "the CephCluster still carries the {DNR_LABEL} label an earlier run of this upgrade added to start a \
                 reconcile: removing it"
            ));
            let cleanup: Vec<Write> = reconcile_toggle(&snap.cluster.name).into_iter().skip(1).collect();
            let j = execute::run(&writes_to(conn, s, &snap.cluster.name), &cleanup).await;
            if !j.all_done() {
                return Err(execute::failure(&j, "kubectl ceph-image upgrade resume"));
            }
            continue;
        }
        // A stage cut off by an interrupt or a kill: Rook already rebuilt its Deployments,
        // but their pods may not be up. Its gate is passed before anything else moves.
        if !unsettled.is_empty() {
            note(&format!(
                "{} daemon(s) already moved to {} are not Running and Ready yet ({}): waiting for them before the next \
                 stage",
                unsettled.len(),
                clean(&st.params.image),
                clean(&unsettled.iter().map(|u| u.daemon.as_str()).collect::<Vec<_>>().join(", "))
            ));
            if let Err(e) = crate::execute::wait::wait_in(view, &unsettled, s.timeout, s.progress_bar).await {
                let why = format!("daemons moved by an earlier run did not come up: {e}");
                fail(conn, s, rec, st, &why).await;
                return Err(Error::Failed(format!("{why}. Nothing further moves; `upgrade resume` goes on")));
            }
            continue;
        }
        let plan = upgrade::plan(&snap, &st.params, overrides, Some(&*st)).map_err(Error::Usage)?;
        let Some(stage) = plan.stages.first().cloned() else { break };
        rounds += 1;
        if rounds > *max_rounds.get_or_insert(plan.stages.len() + 64)
            || (stage.name == last_stage
                && stage_writes(&snap, &stage, &st.params.image).is_empty()
                && stage.daemons.is_empty())
        {
            return Err(Error::Failed(format!(
                "the upgrade makes no progress at stage {}: `upgrade status` shows what is left",
                stage.name
            )));
        }
        last_stage = stage.name.clone();
        st.stage = stage.name.clone();
        st.updated = now();
        // Pins are recorded before the patch that writes them: a crash in between leaves
        // nothing of ours unrecorded.
        st.pins.extend(stage.pins.clone());
        // So are the OSD flags it restarts under (`flags`), before they are set.
        let flag_changes = flags::plan(conn, s, st, &stage, run_gates).await;
        if let Written::Changed(other) = save(conn, s, rec, Some(&*st)).await? {
            let r = refused(started, claimed, &other);
            return obey(other, r);
        }
        claimed = true;
        // The state write changed the CephCluster's resourceVersion: the spec patches take
        // the new one, unless someone else changed the spec meanwhile (then plan again).
        let fresh = read::get_cluster(&conn.kube, &ns, &cluster).await?.into_model();
        if let Err(other) = rec.check(&fresh)? {
            return obey(other, false);
        }
        if (&fresh.base_image, &fresh.overrides) != (&snap.cluster.base_image, &snap.cluster.overrides) {
            note("the CephCluster's images changed since it was read: planning again");
            last_stage.clear();
            continue;
        }
        snap.cluster.resource_version = fresh.resource_version;
        if stage.kind == StageKind::Prepull {
            note(&format!("stage {}: {}", clean(&stage.name), stage_summary(&stage)));
            if let Some(code) = prepull(conn, s, rec, &snap, &stage, st).await? {
                return Ok(code);
            }
            continue;
        }
        // No stage starts on HEALTH_ERR (Rook refuses to upgrade on it too); nor are holds
        // added to a cluster that may need Rook to heal it.
        if matches!(stage.kind, StageKind::Prepare | StageKind::Base | StageKind::Release)
            && let Err(e) = gates::health(conn, s, &cluster, jiff::Timestamp::MIN, run_gates).await
        {
            flags::not_set(st, &flag_changes);
            fail(conn, s, rec, st, &e.to_string()).await;
            return Err(Error::Failed(format!(
                "{e}. Stage {} did not start; nothing further moves. {}. `upgrade resume` goes on once it clears",
                clean(&stage.name),
                left_from(&plan.stages)
            )));
        }
        // No stage restarts daemons while OSDs of another failure domain are down (issue
        // #22 kind 5).
        if let Some(why) = upgrade::stage_blocked(&snap, &stage, st.params.batch_by) {
            if gates::down_cleared(conn, s, &cluster, &stage, st.params.batch_by, &why).await? {
                last_stage.clear();
                continue;
            }
            flags::not_set(st, &flag_changes);
            fail(conn, s, rec, st, &why).await;
            let left = left_from(&plan.stages);
            return Err(Error::Failed(format!(
                "{why}. Stage {} did not start. {left}. `upgrade resume` goes on",
                clean(&stage.name)
            )));
        }
        if let Err(e) = gates::ok_to_stop(conn, s, &snap, &stage, run_gates).await {
            flags::not_set(st, &flag_changes);
            fail(conn, s, rec, st, &e.to_string()).await;
            let left = left_from(&plan.stages);
            return Err(Error::Failed(format!(
                "{e}. Stage {} did not start. {left}. `upgrade resume` goes on",
                clean(&stage.name)
            )));
        }
        note(&format!("stage {}: {}", clean(&stage.name), stage_summary(&stage)));
        if let Err(e) = flags::apply(conn, s, &cluster, st, &flag_changes, run_gates).await {
            fail(conn, s, rec, st, &format!("the OSD flags of stage {} were not set", stage.name)).await;
            return Err(e);
        }
        let mut writes = stage_writes(&snap, &stage, &st.params.image);
        let released = own::released_unreconciled(&snap, &stage, &writes, &st.params.image);
        if !released.is_empty() {
            note(&format!(
                "{} released by an earlier run but not reconciled by Rook yet (the run stopped before it started a \
                 reconcile): starting it",
                clean(&upgrade::summarise(&released))
            ));
            writes.extend(reconcile_toggle(&cluster));
        }
        let target = writes_to(conn, s, &cluster);
        let stage_start = jiff::Timestamp::now();
        let journal = execute::run(&target, &writes).await;
        // The stage's own CephCluster writes moved its resourceVersion on.
        rec.rv = None;
        // Rook writes the CephCluster's status all the time: a 409 on the stage's spec
        // patch means the object moved on, not that the stage is wrong. The next round
        // reads it again and plans this stage from what it finds (a change to the images
        // by someone else shows there, and so does a hold an operator's `pause` took over
        // before its release), at most MAX_CONFLICTS times in a row.
        if journal.conflict() && journal.interrupted.is_none() && conflicts < super::change::MAX_CONFLICTS {
            conflicts += 1;
            note(&format!(
                "{} changed since it was read (409 Conflict): reading the cluster again ({conflicts}/{})",
                crate::render::journal::conflicted(&journal),
                super::change::MAX_CONFLICTS
            ));
            last_stage.clear();
            continue;
        }
        conflicts = 0;
        if !journal.all_done() {
            let e = execute::failure(&journal, "kubectl ceph-image upgrade resume");
            if journal.interrupted.is_none() {
                fail(conn, s, rec, st, &format!("a write of stage {} failed", stage.name)).await;
            }
            return Err(e);
        }
        for k in &stage.unpin {
            st.pins.remove(k);
        }
        if stage.kind == StageKind::Base {
            st.spec_set = true;
        }
        // Gates: the stage's pods Running and Ready on the target, then health.
        let targets: Vec<crate::execute::wait::Target> = stage
            .daemons
            .iter()
            .map(|d| crate::execute::wait::Target {
                daemon: d.daemon.clone(),
                deployment: d.deployment.clone(),
                old_pods: d.pods.iter().cloned().collect(),
                image: st.params.image.clone(),
                replicas: d.replicas,
            })
            .collect();
        if !targets.is_empty()
            && let Err(e) = crate::execute::wait::wait_in(view, &targets, s.timeout, s.progress_bar).await
        {
            let why = format!("stage {} did not pass its gate: {e}", stage.name);
            fail(conn, s, rec, st, &why).await;
            return Err(Error::Failed(format!(
                "{why}. The upgrade stopped here; nothing further moves. {}. `upgrade status` shows it; `upgrade \
                 resume` goes on once the stage's daemons are up",
                left_after(&plan)
            )));
        }
        if let Err(e) = gates::versions(conn, s, &stage, &st.params.image, run_gates).await {
            fail(conn, s, rec, st, &e.to_string()).await;
            return Err(Error::Failed(format!("{e}. {}. `upgrade resume` goes on", left_after(&plan))));
        }
        if !stage.daemons.is_empty()
            && let Err(e) = gates::health(conn, s, &cluster, stage_start, run_gates).await
        {
            fail(conn, s, rec, st, &e.to_string()).await;
            return Err(Error::Failed(format!(
                "{e}. The upgrade stopped here; nothing further moves. {}. `upgrade resume` goes on",
                left_after(&plan)
            )));
        }
        let later_osds = plan.stages[1..].iter().any(|s| s.daemons.iter().any(|d| d.dtype == DaemonType::Osd));
        if let Err(e) = flags::after(conn, s, &cluster, st, later_osds, run_gates).await {
            fail(conn, s, rec, st, &format!("the OSD flags of stage {} were not removed", stage.name)).await;
            return Err(e);
        }
        if stage.canary {
            st.canary_done = true;
            let go_on = s.interactive
                && !s.yes
                && ctx.confirm.confirm("The canary runs the target image and is Ready. Go on with the upgrade?")?;
            if !go_on {
                st.phase = "paused".into();
                st.message = Some("stopped after the canary for confirmation".into());
                st.updated = now();
                if let Written::Changed(other) = save(conn, s, rec, Some(&*st)).await? {
                    return obey(other, false);
                }
                crate::output::emit(&format!(
                    "Canary done: {} run(s) {} and are Ready. The upgrade is paused; `kubectl ceph-image upgrade resume` \
                     goes on.\n",
                    stage.daemons.iter().map(|d| clean(&d.daemon).into_owned()).collect::<Vec<_>>().join(", "),
                    clean(&st.params.image)
                ));
                return Ok(0);
            }
        }
        let pause = std::time::Duration::from_millis(st.params.pause_between_ms);
        if !pause.is_zero() && stage.types.contains(&crate::model::daemon::DaemonType::Osd) {
            note(&format!("pausing {pause:?} before the next stage (--pause-between)"));
            tokio::time::sleep(pause).await;
        }
    }
    // Done, once the health allows it (a resume after a failed health gate at the last
    // stage waits for it here): nothing of ours may be left.
    if let Err(e) = gates::health(conn, s, &cluster, jiff::Timestamp::MIN, run_gates).await {
        fail(conn, s, rec, st, &e.to_string()).await;
        return Err(Error::Failed(format!(
            "{e}. Every stage ran, but the upgrade is not called done on HEALTH_ERR; `upgrade resume` checks again"
        )));
    }
    let snap = view.snapshot().await?;
    let holds: Vec<&str> =
        snap.daemons.iter().filter(|d| d.upgrade_hold.is_some()).map(|d| d.deployment.as_str()).collect();
    let pins: Vec<&String> = st.pins.keys().filter(|k| snap.cluster.overrides.contains_key(*k)).collect();
    let partial = !st.params.types.is_empty();
    if !holds.is_empty() || !pins.is_empty() || (!partial && snap.cluster.base_image != st.params.image) {
        return Err(Error::Failed(format!(
            "the upgrade's stages are done but the cluster is not as planned: holds left on {:?}, pins left {:?}, base \
             image {}",
            holds,
            pins,
            clean(&snap.cluster.base_image)
        )));
    }
    flags::require_osd_release(conn, s, &cluster, &st.params.image, run_gates).await;
    if !st.flags.is_empty() {
        return Err(Error::Failed("every stage ran, but OSD flags it set are still recorded".into()));
    }
    if let Written::Changed(other) = save(conn, s, rec, None).await? {
        return obey(other, false);
    }
    if partial {
        let types: Vec<&str> = st.params.types.iter().map(|t| t.key()).collect();
        let plan = upgrade::plan(&snap, &st.params, overrides, None).map_err(Error::Usage)?;
        let left: Vec<String> = plan.left.iter().map(|l| format!("{} ({})", l.dtype.ceph_name(), l.daemons)).collect();
        crate::output::emit(&format!(
            "Upgrade done: {} of CephCluster {ns}/{} run(s) {} through imageOverrides.{}, with no hold of the \
             upgrade's left. {} stay on the base image {}: `kubectl ceph-image upgrade {}` moves them and folds the \
             overrides into the base image.\n",
            types.join(", "),
            clean(&cluster),
            clean(&st.params.image),
            types.join(", imageOverrides."),
            if left.is_empty() { "No other type".to_string() } else { left.join(", ") },
            clean(&snap.cluster.base_image),
            clean(&st.params.image)
        ));
        return Ok(0);
    }
    // What it left where it is (a hold of the operator's, one taken over from the upgrade
    // by `pause` while it ran, included), named.
    let left: Vec<String> = upgrade::plan(&snap, &st.params, overrides, None)
        .map(|p| p.excluded.iter().map(|e| format!("{} ({})", clean(&e.daemon), clean(&e.reason))).collect())
        .unwrap_or_default();
    crate::output::emit(&format!(
        "Upgrade done: CephCluster {ns}/{} runs {} with no hold or override of the upgrade's left.\n{}  {}\n",
        clean(&cluster),
        clean(&st.params.image),
        if left.is_empty() { String::new() } else { format!("  Left where they are: {}\n", left.join("; ")) },
        run_gates.summary()
    ));
    Ok(0)
}

/// Someone else wrote the state before this run took the upgrade on (its first state
/// write): this run is refused (`obey`'s `started`), as a second `upgrade IMAGE` is, unless
/// that write was a pause (a resume then stops as paused) or an abort.
fn refused(started: bool, claimed: bool, other: &Option<Box<State>>) -> bool {
    !claimed && (started || other.as_ref().is_some_and(|o| o.phase != "paused"))
}

/// Daemons whose Deployment already runs `image` (Rook rebuilt it) but that have no pod
/// Running and Ready on it: a stage was cut off before its gate.
fn unsettled(snap: &Snapshot, image: &str) -> Vec<crate::execute::wait::Target> {
    snap.daemons
        .iter()
        .filter(|d| !d.ceph_images.is_empty() && !d.differs_from(image) && d.replicas != Some(0))
        .filter_map(|d| crate::execute::wait::not_up_on(d, image))
        .collect()
}
