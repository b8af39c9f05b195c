//! `upgrade IMAGE` and `upgrade status|pause|resume|abort` (DESIGN §10, issue 15): the
//! staged upgrade planned by `crate::upgrade`, run stage by stage through the one executor.
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
use crate::execute::{self, Expect, Object, PatchType, Write};
use crate::model::{DNR_LABEL, Snapshot, UPGRADE_HOLD, UPGRADE_STATE};
use crate::output::{clean, note};
use crate::upgrade::{self, Params, Stage, StageKind, State, UpgradePlan};

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

/// A stage's writes, in order: holds; the base image with its pins; hold releases; the
/// overrides removed or a reconcile started (the CephCluster-level label added, then
/// removed: a cleanup write, sent even after an interrupt).
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
    if stage.kind == StageKind::Base && c.base_image != image {
        let mut fields = vec![("/spec/cephVersion/image".to_string(), Some(image.to_string()))];
        let mut cv = json!({"image": image});
        for (k, v) in &stage.pins {
            cv["imageOverrides"][k] = v.clone().into();
            fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), Some(v.clone())));
        }
        let pins: Vec<String> = stage.pins.iter().map(|(k, v)| format!("imageOverrides.{k} to {v}")).collect();
        out.push(write(
            Object::CephCluster(c.name.clone()),
            json!({"metadata": {"resourceVersion": c.resource_version}, "spec": {"cephVersion": cv}}),
            Expect::Fields { fields },
            2,
            if pins.is_empty() {
                format!("set spec.cephVersion.image to {image}")
            } else {
                format!("set spec.cephVersion.image to {image}, pin {}", pins.join(", "))
            },
        ));
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
    if !stage.unpin.is_empty() {
        let mut ov = json!({});
        let mut fields = Vec::new();
        for k in &stage.unpin {
            ov[k] = Value::Null;
            fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), None));
        }
        // The last pin goes: the field goes with it rather than stay as `{}`.
        if c.overrides.keys().all(|k| stage.unpin.contains(k)) {
            ov = Value::Null;
        }
        out.push(write(
            Object::CephCluster(c.name.clone()),
            json!({"metadata": {"resourceVersion": c.resource_version}, "spec": {"cephVersion": {"imageOverrides": ov}}}),
            Expect::Fields { fields },
            4,
            format!("remove spec.cephVersion.imageOverrides.{}", stage.unpin.join(", imageOverrides.")),
        ));
    } else if !stage.release.is_empty() {
        let label = |add: bool| json!({"metadata": {"labels": {DNR_LABEL: if add { Value::from("true") } else { Value::Null }}}});
        out.push(write(
            Object::CephCluster(c.name.clone()),
            label(true),
            Expect::Label { present: true },
            4,
            format!("add {DNR_LABEL} (start a reconcile)"),
        ));
        let mut remove = write(
            Object::CephCluster(c.name.clone()),
            label(false),
            Expect::Label { present: false },
            5,
            format!("remove {DNR_LABEL} (start a reconcile)"),
        );
        remove.cleanup = true;
        out.push(remove);
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunDoc<'a> {
    plan: &'a UpgradePlan,
    /// The first stage's writes exactly as they would be sent (later stages' are planned
    /// from the cluster as the earlier ones leave it).
    first_writes: Vec<Write>,
    dry_run: &'static str,
}

pub async fn run(ctx: &mut Ctx<'_>, req: Request) -> Result<i32> {
    match req {
        Request::Status => status(ctx).await,
        Request::Start(params) => start(ctx, params).await,
        Request::Pause => set_phase(ctx, "paused").await,
        Request::Resume => resume(ctx).await,
        Request::Abort => abort(ctx).await,
    }
}

async fn start(ctx: &mut Ctx<'_>, params: Params) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let snap = read::snapshot(&conn.kube, &conn.namespace, s.cluster.as_deref()).await?;
    let state = state_of(&snap)?;
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
    let params = state.as_ref().map(|st| st.params.clone()).unwrap_or(params);
    let plan = upgrade::plan(&snap, &params, overrides, state.as_ref()).map_err(Error::Usage)?;
    if let Some(mode) = s.dry_run {
        let first_writes = plan.stages.first().map(|st| stage_writes(&snap, st, &params.image)).unwrap_or_default();
        let doc = DryRunDoc { plan: &plan, first_writes, dry_run: mode.as_str() };
        print(s, &doc, || {
            let mut t = upgrade::text(&plan, s.wide);
            if !doc.first_writes.is_empty() {
                t.push('\n');
                t.push_str(&execute::writes_text(&doc.first_writes));
            }
            t.push_str("Dry run: nothing was sent.\n");
            t
        })?;
        return Ok(if s.exit_code && plan.summary.pods > 0 { 4 } else { 0 });
    }
    if plan.done {
        print(s, &plan, || format!("Every daemon already runs {}: nothing to upgrade.\n", clean(&params.image)))?;
        return Ok(0);
    }
    match s.output {
        crate::cli::OutputFormat::Text => crate::output::emit(&upgrade::text(&plan, s.wide)),
        _ => note(&upgrade::text(&plan, s.wide)),
    }
    ctx.confirm(&format!(
        "Upgrade CephCluster {}/{} to {} in these {} stage(s)?",
        plan.namespace,
        plan.cluster,
        params.image,
        plan.stages.len()
    ))?;
    let st = state.unwrap_or(State {
        params,
        pins: Default::default(),
        phase: "running".into(),
        stage: String::new(),
        message: None,
        canary_done: false,
        updated: now(),
    });
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
    let overrides = crd_has_overrides(&conn).await?;
    // Resuming after the canary's stop is the confirmation it asked for.
    if st.phase == "paused" && st.stage.starts_with("osd canary") {
        st.canary_done = true;
    }
    let plan = upgrade::plan(&snap, &st.params, overrides, Some(&st)).map_err(Error::Usage)?;
    if s.dry_run.is_some() {
        print(s, &plan, || upgrade::text(&plan, s.wide))?;
        return Ok(0);
    }
    match s.output {
        crate::cli::OutputFormat::Text => crate::output::emit(&upgrade::text(&plan, s.wide)),
        _ => note(&upgrade::text(&plan, s.wide)),
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
                Some(other) if other.phase == "paused" => {
                    note(&format!(
                        "the upgrade was paused (`upgrade pause`) before stage {}: nothing further moves; `upgrade \
                         resume` goes on",
                        clean(&other.stage)
                    ));
                    return Ok(0);
                }
                _ => {}
            }
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
            if let Err(e) = crate::wait::wait(&conn.kube, &ns, &unsettled, s.timeout, s.progress_bar).await {
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
        // Gates: the stage's pods Running and Ready on the target, then health.
        let targets: Vec<crate::wait::Target> = stage
            .daemons
            .iter()
            .map(|d| crate::wait::Target {
                daemon: d.daemon.clone(),
                deployment: d.deployment.clone(),
                old_pods: d.pods.iter().cloned().collect(),
                image: st.params.image.clone(),
            })
            .collect();
        if !targets.is_empty()
            && let Err(e) = crate::wait::wait(&conn.kube, &ns, &targets, s.timeout, s.progress_bar).await
        {
            let why = format!("stage {} did not pass its gate: {e}", stage.name);
            fail(conn, s, &cluster, &mut st, &why).await;
            return Err(Error::Failed(format!(
                "{why}. The upgrade stopped here; nothing further moves. `upgrade status` shows what is left; \
                 `upgrade resume` goes on once the daemon is fixed"
            )));
        }
        if !stage.daemons.is_empty()
            && let Err(e) = health_gate(conn, &cluster, s.timeout, stage_start).await
        {
            fail(conn, s, &cluster, &mut st, &e.to_string()).await;
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
        if !s.pause_between.is_zero() && stage.types.contains(&crate::daemon::DaemonType::Osd) {
            note(&format!("pausing {:?} before the next stage (--pause-between)", s.pause_between));
            tokio::time::sleep(s.pause_between).await;
        }
    }
    // Done: nothing of ours may be left.
    let snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
    let holds: Vec<&str> =
        snap.daemons.iter().filter(|d| d.upgrade_hold.is_some()).map(|d| d.deployment.as_str()).collect();
    let pins: Vec<&String> = st.pins.keys().filter(|k| snap.cluster.overrides.contains_key(*k)).collect();
    if !holds.is_empty() || !pins.is_empty() || snap.cluster.base_image != st.params.image {
        return Err(Error::Failed(format!(
            "the upgrade's stages are done but the cluster is not as planned: holds left on {:?}, pins left {:?}, base \
             image {}",
            holds,
            pins,
            clean(&snap.cluster.base_image)
        )));
    }
    save(conn, s, &cluster, None).await?;
    crate::output::emit(&format!(
        "Upgrade done: CephCluster {ns}/{} runs {} with no hold or override of the upgrade's left.\n",
        clean(&cluster),
        clean(&st.params.image)
    ));
    Ok(0)
}

/// Daemons whose Deployment already runs `image` (Rook rebuilt it) but that have no pod
/// Running and Ready on it: a stage was cut off before its gate.
fn unsettled(snap: &Snapshot, image: &str) -> Vec<crate::wait::Target> {
    snap.daemons
        .iter()
        .filter(|d| !d.ceph_images.is_empty() && !d.differs_from(image) && d.replicas != Some(0))
        .filter_map(|d| crate::wait::not_up_on(d, image))
        .collect()
}

fn stage_summary(s: &Stage) -> String {
    let mut parts = Vec::new();
    if !s.holds.is_empty() {
        parts.push(format!("hold {}", s.holds.len()));
    }
    if s.kind == StageKind::Base {
        parts.push("set the base image".into());
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
                if fresh {
                    "(HEALTH_ERR holds the next batch)"
                } else {
                    "and was not refreshed since the stage started"
                }
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
    let Some(mut st) = state_of(&snap)? else {
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
    let Some(st) = state_of(&snap)? else {
        return Err(Error::usage("no upgrade is under way on this CephCluster: nothing to abort"));
    };
    if s.dry_run.is_some() {
        crate::output::emit(&execute::writes_text(&[state_write(&snap.cluster.name, None)]));
        return Ok(0);
    }
    ctx.confirm(&format!("Abort the upgrade to {}? The cluster stays as it is, with its holds.", st.params.image))?;
    save(&conn, s, &snap.cluster.name, None).await?;
    // What runs what, and what keeps it so.
    let mut by_image: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for d in &snap.daemons {
        by_image.entry(d.image.clone().unwrap_or_else(|| "?".into())).or_default().push(d.id.to_string());
    }
    let mut t = format!("Aborted: the upgrade to {} moves nothing further.\n", clean(&st.params.image));
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
    for (k, v) in st.pins.iter().filter(|(k, _)| snap.cluster.overrides.contains_key(*k)) {
        t.push_str(&format!(
            "  imageOverrides.{k} stays pinned to {}; `kubectl ceph-image unset {k}` removes it\n",
            clean(v)
        ));
    }
    crate::output::emit(&t);
    Ok(0)
}
