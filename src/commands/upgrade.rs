//! `upgrade IMAGE` and `upgrade status|pause|resume|abort` (DESIGN §10, issue 15): the
//! staged upgrade planned by `crate::plan::upgrade`, run stage by stage through the one executor.
//!
//! Each round re-reads the cluster and plans again from what it finds: the first stage of
//! that plan is the next one. A killed process, a pause or a failed gate therefore leaves
//! nothing to remember but the state annotation (the parameters, this upgrade's pins, the
//! phase): `upgrade resume` plans from the cluster as it is, and what is done is not done
//! again (holds that are there are not re-added; daemons on the target are not moved).

use serde::Serialize;
use serde_json::{Value, json};

use super::{Ctx, print};
use crate::cluster::read::{self, Support};
use crate::error::{Error, Result};
use crate::execute;
use crate::model::{DNR_LABEL, Snapshot, UPGRADE_HOLD, UPGRADE_RECONCILE, UPGRADE_STATE};
use crate::output::{clean, note};
use crate::plan::upgrade::{self, Params, Stage, StageKind, State, UpgradePlan};
use crate::plan::writes::{Expect, Object, PatchType, Write};

/// What `upgrade` was asked to do.
#[derive(Debug, Clone)]
pub enum Request {
    Start(Params),
    Status,
    Pause,
    Resume,
    Abort,
}

fn state_of(snap: &Snapshot) -> Result<Option<State>> {
    match &snap.cluster.upgrade {
        None => Ok(None),
        Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
            Error::Failed(format!(
                "the CephCluster's {UPGRADE_STATE} annotation is not an upgrade state this plugin wrote ({e}): remove \
                 it with kubectl annotate cephcluster {} {UPGRADE_STATE}- if no upgrade is under way",
                snap.cluster.name
            ))
        }),
    }
}

async fn crd_has_overrides(conn: &crate::cluster::connect::Connection) -> Result<bool> {
    Ok(matches!(read::overrides_support(&conn.kube).await?, Support::Yes))
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn write(object: Object, patch: Value, expect: Expect, step: u32, action: String) -> Write {
    Write {
        object,
        patch_type: PatchType::Merge,
        preconditioned: patch.pointer("/metadata/resourceVersion").is_some(),
        patch,
        expect,
        step,
        wait_ready: false,
        cleanup: false,
        action,
    }
}

/// The state annotation's write (not preconditioned: only this plugin writes it).
fn state_write(cluster: &str, st: Option<&State>) -> Write {
    let value = st.map(|s| serde_json::to_string(s).expect("state serialises"));
    let pointer = format!("/metadata/annotations/{}", UPGRADE_STATE.replace('/', "~1"));
    write(
        Object::CephCluster(cluster.to_string()),
        json!({"metadata": {"annotations": {UPGRADE_STATE: value}}}),
        Expect::Fields { fields: vec![(pointer, value.clone())] },
        1,
        match st {
            Some(s) => format!("record the upgrade's state ({}{})", s.phase, stage_suffix(s)),
            None => "remove the upgrade's state".into(),
        },
    )
}

fn stage_suffix(s: &State) -> String {
    if s.stage.is_empty() { String::new() } else { format!(", stage {}", s.stage) }
}

/// A stage's writes, in order: holds; the base stage's spec patch (base image, pins,
/// `--types` overrides, overrides that name the target removed); hold releases; a release
/// stage's spec patch (a pin removed, a `--types` override set), or else a reconcile
/// started (the CephCluster-level label added, then removed: a cleanup write, sent even
/// after an interrupt).
pub fn stage_writes(snap: &Snapshot, stage: &Stage, image: &str) -> Vec<Write> {
    let c = &snap.cluster;
    let mut out = Vec::new();
    for d in &stage.holds {
        out.push(write(
            Object::Deployment(d.clone()),
            json!({"metadata": {"labels": {DNR_LABEL: "true"}, "annotations": {UPGRADE_HOLD: image}}}),
            Expect::Label { present: true },
            1,
            format!("add {DNR_LABEL} (upgrade hold)"),
        ));
    }
    // The stage's CephCluster spec patch: the base image, pins, overrides set to the target,
    // overrides removed, all in one merge patch (each one restarts what Rook rebuilds).
    let base = stage.base.as_deref().filter(|b| *b != c.base_image);
    let mut cv = json!({});
    let mut fields = Vec::new();
    let mut what = Vec::new();
    if let Some(b) = base {
        cv["image"] = b.into();
        fields.push(("/spec/cephVersion/image".to_string(), Some(b.to_string())));
        what.push(format!("set spec.cephVersion.image to {b}"));
    }
    let mut after: std::collections::BTreeSet<&String> = c.overrides.keys().collect();
    for (k, v, verb) in
        stage.pins.iter().map(|(k, v)| (k, v, "pin")).chain(stage.overrides.iter().map(|(k, v)| (k, v, "set")))
    {
        cv["imageOverrides"][k] = v.clone().into();
        fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), Some(v.clone())));
        what.push(format!("{verb} imageOverrides.{k} to {v}"));
        after.insert(k);
    }
    for k in &stage.unpin {
        cv["imageOverrides"][k] = Value::Null;
        fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), None));
        what.push(format!("remove imageOverrides.{k}"));
        after.remove(k);
    }
    // The last override goes: the field goes with it rather than stay as `{}`.
    if !stage.unpin.is_empty() && after.is_empty() {
        cv["imageOverrides"] = Value::Null;
    }
    // The base stage's patch comes after the holds it needs; a release stage's after the
    // releases, so that the reconcile it starts finds them released (the executor runs the
    // writes by step).
    let release_first = stage.kind == StageKind::Release;
    let spec_patch = (!what.is_empty()).then(|| {
        write(
            Object::CephCluster(c.name.clone()),
            json!({"metadata": {"resourceVersion": c.resource_version}, "spec": {"cephVersion": cv}}),
            Expect::Fields { fields },
            if release_first { 4 } else { 2 },
            what.join(", "),
        )
    });
    let released = spec_patch.is_some();
    if !release_first {
        out.extend(spec_patch.clone());
    }
    for d in &stage.release {
        out.push(write(
            Object::Deployment(d.clone()),
            json!({"metadata": {"labels": {DNR_LABEL: null}, "annotations": {UPGRADE_HOLD: null}}}),
            Expect::Label { present: false },
            3,
            format!("remove {DNR_LABEL} (release the upgrade hold)"),
        ));
    }
    if release_first {
        out.extend(spec_patch);
    }
    // A spec change starts a reconcile by itself; releasing holds alone does not.
    if !released && !stage.release.is_empty() {
        out.extend(reconcile_toggle(&c.name));
    }
    out
}

/// Start a reconcile: the CephCluster-level label added, then removed (a cleanup write,
/// sent even after an interrupt), each with `UPGRADE_RECONCILE` so that a kill in between
/// leaves a label known as the upgrade's.
fn reconcile_toggle(cluster: &str) -> Vec<Write> {
    let label = |add: bool| {
        let v = if add { Value::from("true") } else { Value::Null };
        json!({"metadata": {"labels": {DNR_LABEL: v.clone()}, "annotations": {UPGRADE_RECONCILE: v}}})
    };
    let add = write(
        Object::CephCluster(cluster.to_string()),
        label(true),
        Expect::Label { present: true },
        4,
        format!("add {DNR_LABEL} (start a reconcile)"),
    );
    // Done only when both are gone: a label removed by someone else (`resume cluster`)
    // still leaves the annotation to remove.
    let gone = |section: &str, k: &str| (format!("/metadata/{section}/{}", k.replace('/', "~1")), None);
    let mut remove = write(
        Object::CephCluster(cluster.to_string()),
        label(false),
        Expect::Fields { fields: vec![gone("labels", DNR_LABEL), gone("annotations", UPGRADE_RECONCILE)] },
        5,
        format!("remove {DNR_LABEL} (start a reconcile)"),
    );
    remove.cleanup = true;
    vec![add, remove]
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StageWrites {
    stage: String,
    writes: Vec<Write>,
}

/// Every stage's writes, each planned from the CephCluster's spec as the stages before it
/// leave it (base image, pins and overrides; the holds are in the writes themselves).
/// `pulls`: the pre-pull stage's writes (`prepull::writes`), which need a read of their own.
fn all_writes(snap: &Snapshot, plan: &UpgradePlan, mut pulls: Vec<Write>) -> Vec<StageWrites> {
    let mut snap = snap.clone();
    let mut out = Vec::new();
    for st in &plan.stages {
        let writes = match st.kind {
            StageKind::Prepull => std::mem::take(&mut pulls),
            _ => stage_writes(&snap, st, &plan.image),
        };
        out.push(StageWrites { stage: st.name.clone(), writes });
        let c = &mut snap.cluster;
        if let Some(b) = &st.base {
            c.base_image = b.clone();
        }
        c.overrides.extend(st.pins.clone());
        c.overrides.extend(st.overrides.clone());
        for k in &st.unpin {
            c.overrides.remove(k);
        }
    }
    out
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
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
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
            st.phase,
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
            st.phase,
            stage_suffix(st)
        )));
    }
    let overrides = crd_has_overrides(&conn).await?;
    // An upgrade under way keeps its parameters; this one's are taken when none is.
    let had_aborted = aborted.is_some();
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
    });
    let params = st.params.clone();
    let plan = upgrade::plan(&snap, &params, overrides, Some(&st)).map_err(Error::Usage)?;
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
                t.push_str(&execute::writes_text(&first.writes[..shown]));
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
        return Ok(if s.exit_code && plan.summary.pods > 0 { 4 } else { 0 });
    }
    if plan.done {
        // Nothing of an aborted upgrade is left either: its record goes too.
        if had_aborted {
            save(&conn, s, &snap.cluster.name, None).await?;
        }
        print(s, &plan, || format!("Every daemon already runs {}: nothing to upgrade.\n", clean(&params.image)))?;
        return Ok(0);
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
    drive(ctx, &conn, st, overrides).await
}

async fn resume(ctx: &mut Ctx<'_>) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
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
    let overrides = crd_has_overrides(&conn).await?;
    // Resuming after the canary's stop is the confirmation it asked for.
    if st.phase == "paused" && st.stage.starts_with("osd canary") {
        st.canary_done = true;
    }
    if s.dry_run.is_none() {
        stop_on_foreign_change(&conn, s, &snap, &mut st).await?;
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
    drive(ctx, &conn, st, overrides).await
}

/// Where an upgrade's writes go: the executor waits for nothing itself (the stages have
/// their own gates) and never pauses between its steps.
fn writes_to<'a>(
    conn: &'a crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    cluster: &str,
) -> execute::Target<'a> {
    execute::Target {
        kube: &conn.kube,
        namespace: &conn.namespace,
        cluster: cluster.to_string(),
        dry_run: false,
        restarts: vec![],
        timeout: s.timeout,
        progress_bar: s.progress_bar,
        pause_between: std::time::Duration::ZERO,
    }
}

/// Write the state (or remove it: None) through the executor.
async fn save(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    cluster: &str,
    st: Option<&State>,
) -> Result<()> {
    let w = vec![state_write(cluster, st)];
    let t = writes_to(conn, s, cluster);
    let j = execute::run(&t, &w).await;
    if j.all_done() { Ok(()) } else { Err(execute::failure(&j, &execute::rerun_hint())) }
}

/// Run the remaining stages: each round plans again from the cluster and runs the first.
async fn drive(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    mut st: State,
    overrides: bool,
) -> Result<i32> {
    let s = ctx.settings;
    let ns = conn.namespace.clone();
    execute::set_rerun_hint("kubectl ceph-image upgrade resume");
    let mut cluster;
    st.phase = "running".into();
    st.message = None;
    let mut last_stage = String::new();
    let mut rounds = 0usize;
    // At most the first plan's stages and 64 more (plans made again after a 409 or a
    // change by someone else). Fixed at the first plan: the later ones have fewer stages
    // left while `rounds` counts them all, so comparing with them stopped any upgrade of
    // more than about 65 stages halfway (2000 OSDs: 167 batches).
    let mut max_rounds = None;
    let mut conflicts = 0usize;
    loop {
        let mut snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
        cluster = snap.cluster.name.clone();
        // Another terminal's `upgrade pause` or `upgrade abort`, seen between stages.
        if rounds > 0 {
            match state_of(&snap)? {
                None => {
                    note("the upgrade was aborted (`upgrade abort`): stopping; nothing further moves");
                    return Ok(1);
                }
                Some(other) if other.phase == "aborted" => {
                    note("the upgrade was aborted (`upgrade abort`): stopping; nothing further moves");
                    return Ok(1);
                }
                Some(other) if other.phase == "paused" => {
                    note(&format!(
                        "the upgrade was paused (`upgrade pause`) after stage {}: nothing further moves; `upgrade \
                         resume` goes on",
                        clean(&other.stage)
                    ));
                    return Ok(0);
                }
                _ => {}
            }
        }
        // Someone else changed what the upgrade set (or the base it keeps): never overwritten.
        stop_on_foreign_change(conn, s, &snap, &mut st).await?;
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
        let unsettled = unsettled(&snap, &st.params.image);
        if !unsettled.is_empty() {
            note(&format!(
                "{} daemon(s) already moved to {} are not Running and Ready yet ({}): waiting for them before the next \
                 stage",
                unsettled.len(),
                clean(&st.params.image),
                clean(&unsettled.iter().map(|u| u.daemon.as_str()).collect::<Vec<_>>().join(", "))
            ));
            if let Err(e) = crate::execute::wait::wait(&conn.kube, &ns, &unsettled, s.timeout, s.progress_bar).await {
                let why = format!("daemons moved by an earlier run did not come up: {e}");
                fail(conn, s, &snap.cluster.name, &mut st, &why).await;
                return Err(Error::Failed(format!("{why}. Nothing further moves; `upgrade resume` goes on")));
            }
            continue;
        }
        let plan = upgrade::plan(&snap, &st.params, overrides, Some(&st)).map_err(Error::Usage)?;
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
        save(conn, s, &cluster, Some(&st)).await?;
        // The state write changed the CephCluster's resourceVersion: the spec patches take
        // the new one, unless someone else changed the spec meanwhile (then plan again).
        let fresh = read::get_cluster(&conn.kube, &ns, &cluster).await?.into_model();
        if (&fresh.base_image, &fresh.overrides) != (&snap.cluster.base_image, &snap.cluster.overrides) {
            note("the CephCluster's images changed since it was read: planning again");
            last_stage.clear();
            continue;
        }
        snap.cluster.resource_version = fresh.resource_version;
        if stage.kind == StageKind::Prepull {
            note(&format!("stage {}: {}", clean(&stage.name), stage_summary(&stage)));
            prepull(conn, s, &cluster, &snap, &stage, &mut st).await?;
            continue;
        }
        // No stage starts on HEALTH_ERR (Rook refuses to upgrade on it too); nor are holds
        // added to a cluster that may need Rook to heal it.
        if matches!(stage.kind, StageKind::Prepare | StageKind::Base | StageKind::Release)
            && let Err(e) = health_gate(conn, &cluster, s.timeout, jiff::Timestamp::MIN).await
        {
            fail(conn, s, &cluster, &mut st, &e.to_string()).await;
            return Err(Error::Failed(format!(
                "{e}. Stage {} did not start; nothing further moves. {}. `upgrade resume` goes on once it clears",
                clean(&stage.name),
                left_from(&plan.stages)
            )));
        }
        note(&format!("stage {}: {}", clean(&stage.name), stage_summary(&stage)));
        let writes = stage_writes(&snap, &stage, &st.params.image);
        let target = writes_to(conn, s, &cluster);
        let stage_start = jiff::Timestamp::now();
        let journal = execute::run(&target, &writes).await;
        // Rook writes the CephCluster's status all the time: a 409 on the stage's spec
        // patch means the object moved on, not that the stage is wrong. The next round
        // reads it again and plans this stage from what it finds (a change to the images
        // by someone else shows there), at most MAX_CONFLICTS times in a row.
        if journal.conflict() && journal.interrupted.is_none() && conflicts < super::change::MAX_CONFLICTS {
            conflicts += 1;
            note(&format!(
                "the CephCluster changed since it was read (409 Conflict): reading it again ({conflicts}/{})",
                super::change::MAX_CONFLICTS
            ));
            last_stage.clear();
            continue;
        }
        conflicts = 0;
        if !journal.all_done() {
            let e = execute::failure(&journal, "kubectl ceph-image upgrade resume");
            if journal.interrupted.is_none() {
                fail(conn, s, &cluster, &mut st, &format!("a write of stage {} failed", stage.name)).await;
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
            && let Err(e) = crate::execute::wait::wait(&conn.kube, &ns, &targets, s.timeout, s.progress_bar).await
        {
            let why = format!("stage {} did not pass its gate: {e}", stage.name);
            fail(conn, s, &cluster, &mut st, &why).await;
            return Err(Error::Failed(format!(
                "{why}. The upgrade stopped here; nothing further moves. {}. `upgrade status` shows it; `upgrade \
                 resume` goes on once the stage's daemons are up",
                left_after(&plan)
            )));
        }
        if !stage.daemons.is_empty()
            && let Err(e) = health_gate(conn, &cluster, s.timeout, stage_start).await
        {
            fail(conn, s, &cluster, &mut st, &e.to_string()).await;
            return Err(Error::Failed(format!(
                "{e}. The upgrade stopped here; nothing further moves. {}. `upgrade resume` goes on",
                left_after(&plan)
            )));
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
                save(conn, s, &cluster, Some(&st)).await?;
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
    if let Err(e) = health_gate(conn, &cluster, s.timeout, jiff::Timestamp::MIN).await {
        fail(conn, s, &cluster, &mut st, &e.to_string()).await;
        return Err(Error::Failed(format!(
            "{e}. Every stage ran, but the upgrade is not called done on HEALTH_ERR; `upgrade resume` checks again"
        )));
    }
    let snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
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
    save(conn, s, &cluster, None).await?;
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
    crate::output::emit(&format!(
        "Upgrade done: CephCluster {ns}/{} runs {} with no hold or override of the upgrade's left.\n",
        clean(&cluster),
        clean(&st.params.image)
    ));
    Ok(0)
}

/// What a stop leaves after the stage it stopped at (the first of `plan`): "Left: 4
/// stage(s) (mgr, osd batch 2/3, ...), 17 daemon(s) not on the target, held where they are".
fn left_after(plan: &UpgradePlan) -> String {
    let rest = &plan.stages[plan.stages.len().min(1)..];
    if rest.is_empty() {
        return "It was the last stage".into();
    }
    format!("After it, {}", left_from(rest))
}

/// "4 stage(s) (mgr, osd batch 2/3, ...) with 17 daemon(s) still on their image, kept
/// there by the upgrade's holds and pins".
fn left_from(rest: &[Stage]) -> String {
    let names: Vec<String> = rest.iter().map(|s| clean(&s.name).into_owned()).collect();
    let shown = if names.len() > 6 { format!("{}, ...", names[..5].join(", ")) } else { names.join(", ") };
    let daemons: usize = rest.iter().map(|s| s.daemons.len()).sum();
    format!(
        "{} stage(s) are left ({shown}) with {daemons} daemon(s) still on their image, kept there by the upgrade's \
         holds and pins",
        rest.len()
    )
}

/// Someone else changed what the upgrade set or keeps: record the stop and say what to do,
/// which depends on whether Rook already moved daemons to the new value (setting a newer
/// image back would downgrade them). Nothing is overwritten.
async fn stop_on_foreign_change(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    snap: &Snapshot,
    st: &mut State,
) -> Result<()> {
    let Some((why, now_set)) = foreign_change(snap, st) else { return Ok(()) };
    fail(conn, s, &snap.cluster.name, st, &why).await;
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

/// Daemons whose Deployment already runs `image` (Rook rebuilt it) but that have no pod
/// Running and Ready on it: a stage was cut off before its gate.
fn unsettled(snap: &Snapshot, image: &str) -> Vec<crate::execute::wait::Target> {
    snap.daemons
        .iter()
        .filter(|d| !d.ceph_images.is_empty() && !d.differs_from(image) && d.replicas != Some(0))
        .filter_map(|d| crate::execute::wait::not_up_on(d, image))
        .collect()
}

fn stage_summary(s: &Stage) -> String {
    let mut parts = Vec::new();
    if s.kind == StageKind::Prepull {
        parts.push(format!("pull the image on {} node(s), a pod each", s.nodes.len()));
    }
    if !s.holds.is_empty() {
        parts.push(format!("hold {}", s.holds.len()));
    }
    if s.base.is_some() {
        parts.push("set the base image".into());
    }
    if !s.overrides.is_empty() {
        parts.push(format!("set imageOverrides.{}", s.overrides.keys().cloned().collect::<Vec<_>>().join(", .")));
    }
    if !s.release.is_empty() {
        parts.push(format!("release {}", s.release.len()));
    }
    if !s.unpin.is_empty() {
        parts.push(format!("remove override {}", s.unpin.join(", ")));
    }
    if !s.daemons.is_empty() {
        parts.push(format!("wait for {} daemon(s)", s.daemons.len()));
    }
    parts.join(", ")
}

/// What the pre-pull pods take from the daemons' pod template (`prepull::Template`): a
/// mon's Deployment (Rook runs the mons with `rook-ceph-default`, its general account),
/// else any daemon's, read with one LIST of a single item (the `list` the plan's reads
/// already need, so a dry run needs no more). Unreadable: the namespace's default account,
/// and a note that says so.
async fn template_of(conn: &crate::cluster::connect::Connection, snap: &Snapshot) -> crate::execute::prepull::Template {
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
async fn prepull(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    cluster: &str,
    snap: &Snapshot,
    stage: &Stage,
    st: &mut State,
) -> Result<()> {
    let tpl = template_of(conn, snap).await;
    let writes = crate::execute::prepull::writes(&conn.namespace, &stage.nodes, &st.params.image, &tpl, s.timeout);
    let journal = execute::run(&writes_to(conn, s, cluster), &writes).await;
    if journal.all_done() {
        st.prepulled = true;
        st.updated = now();
        return save(conn, s, cluster, Some(st)).await;
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
            fail(conn, s, cluster, st, gate).await;
            Err(Error::Failed(format!(
                "{gate}. The upgrade stopped before anything restarted; {cleanup}. Once the node(s) can pull the \
                 image, `{rerun}` pulls again and goes on"
            )))
        }
        None => {
            fail(conn, s, cluster, st, &format!("a write of the pre-pull failed; {cleanup}")).await;
            Err(execute::failure(&journal, rerun))
        }
    }
}

/// Record a stop on the CephCluster (best effort: the error the caller returns is the news).
async fn fail(
    conn: &crate::cluster::connect::Connection,
    s: &crate::settings::Settings,
    cluster: &str,
    st: &mut State,
    why: &str,
) {
    st.phase = "failed".into();
    st.message = Some(why.to_string());
    st.updated = now();
    if let Err(e) = save(conn, s, cluster, Some(st)).await {
        note(&format!("could not record the stop on the CephCluster: {e}"));
    }
}

/// No HEALTH_ERR, and a health Rook wrote since the stage's writes were sent, when the
/// CephCluster says when it checked (`status.ceph.lastChecked`; Rook refreshes it about
/// every 60 s): a health read before the stage says nothing about it.
async fn health_gate(
    conn: &crate::cluster::connect::Connection,
    cluster: &str,
    timeout: std::time::Duration,
    after: jiff::Timestamp,
) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let c = crate::cluster::write::get_cluster_value(&conn.kube, &conn.namespace, cluster).await?;
        let health = c.pointer("/status/ceph/health").and_then(Value::as_str).unwrap_or("");
        let checked = c
            .pointer("/status/ceph/lastChecked")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        // lastChecked has whole seconds.
        let fresh = checked.is_none_or(|t| t.as_second() >= after.as_second());
        if health != "HEALTH_ERR" && fresh {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::Failed(format!(
                "CephCluster {cluster}: status.ceph.health is {} {} after {timeout:?}: the next stage does not start",
                if health.is_empty() { "unknown" } else { health },
                if fresh { "(no stage starts on HEALTH_ERR)" } else { "and was not refreshed since the stage started" }
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusDoc {
    namespace: String,
    cluster: String,
    /// None: no upgrade under way.
    state: Option<State>,
    image: Option<String>,
    /// Daemons on the target image, of those the upgrade moves or moved.
    on_target: usize,
    total: usize,
    /// The next stage (what it waits for), and how many are left.
    next_stage: Option<String>,
    stages_left: usize,
    excluded: usize,
}

async fn status(ctx: &mut Ctx<'_>) -> Result<i32> {
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let state = state_of(&snap)?;
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
    print(s, &doc, || match &doc.state {
        None => format!("No upgrade under way on CephCluster {}/{}.\n", clean(&doc.namespace), clean(&doc.cluster)),
        Some(st) => format!(
            "Upgrade of CephCluster {}/{} to {}: {}{}\n  {}/{} daemons on the target; {} stage(s) left{}{}\n  updated {}{}\n",
            clean(&doc.namespace),
            clean(&doc.cluster),
            clean(&st.params.image),
            st.phase,
            stage_suffix(st),
            doc.on_target,
            doc.total,
            doc.stages_left,
            doc.next_stage.as_deref().map(|n| format!("; next: {}", clean(n))).unwrap_or_default(),
            st.message.as_deref().map(|m| format!("\n  {}", clean(m))).unwrap_or_default(),
            clean(&st.updated),
            if st.phase == "running" {
                " (if the process that ran it was stopped, `upgrade resume` goes on)"
            } else {
                ""
            }
        ),
    })?;
    Ok(0)
}

async fn set_phase(ctx: &mut Ctx<'_>, phase: &str) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let Some(mut st) = state_of(&snap)?.filter(|st| st.phase != "aborted") else {
        return Err(Error::usage("no upgrade is under way on this CephCluster: nothing to pause"));
    };
    if s.dry_run.is_some() {
        crate::output::emit(&execute::writes_text(&[state_write(&snap.cluster.name, Some(&st))]));
        return Ok(0);
    }
    ctx.confirm(&format!("Pause the upgrade to {} ({})?", st.params.image, st.stage))?;
    st.phase = phase.into();
    st.message = Some("paused by `upgrade pause`".into());
    st.updated = now();
    save(&conn, s, &snap.cluster.name, Some(&st)).await?;
    crate::output::emit(
        "Paused: the upgrade stops before its next stage (a stage under way finishes); `kubectl ceph-image upgrade \
         resume` goes on.\n",
    );
    Ok(0)
}

async fn abort(ctx: &mut Ctx<'_>) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let Some(st) = state_of(&snap)?.filter(|st| st.phase != "aborted") else {
        return Err(Error::usage("no upgrade is under way on this CephCluster: nothing to abort"));
    };
    if s.dry_run.is_some() {
        crate::output::emit(&execute::writes_text(&[state_write(&snap.cluster.name, None)]));
        return Ok(0);
    }
    ctx.confirm(&format!("Abort the upgrade to {}? The cluster stays as it is, with its holds.", st.params.image))?;
    // Kept, as aborted: its holds and pins stay known as this plugin's, for a new upgrade
    // to take over (`upgrade IMAGE`), and for `status`.
    let mut aborted = st.clone();
    aborted.phase = "aborted".into();
    aborted.message = Some("aborted by `upgrade abort`".into());
    aborted.updated = now();
    save(&conn, s, &snap.cluster.name, Some(&aborted)).await?;
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
    crate::output::emit(&t);
    Ok(0)
}
