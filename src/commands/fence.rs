//! `set TYPE IMAGE --strategy fence` and `unset TYPE --strategy fence [--reconcile-now]`
//! (DESIGN §3.2): per-daemon images on the Rook of today. Each Deployment of the type gets
//! one strategic merge patch (label, annotations, Ceph containers and CONTAINER_IMAGE),
//! applied one at a time in Rook's order; unfencing removes label and annotations, and
//! `--reconcile-now` starts a reconcile by adding and removing the CephCluster-level label.

use serde::Serialize;
use serde_json::Value;

use super::labels::LabelResult;
use super::{Ctx, print};
use crate::cli::DryRun;
use crate::cluster::wire::Deployment;
use crate::cluster::{read, write};
use crate::error::{Error, Result};
use crate::model::{DNR_LABEL, FENCE_IMAGE, Snapshot};
use crate::output::clean;
use crate::plan::{self, Change, Plan};
use crate::render;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPatch {
    pub deployment: String,
    /// `strategic` (a fence) or `merge` (removing one).
    pub patch_type: &'static str,
    pub patch: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub plan: Plan,
    pub patches: Vec<DeploymentPatch>,
    pub dry_run: Option<&'static str>,
    pub applied: bool,
    pub results: Vec<LabelResult>,
    /// `--reconcile-now`: the CephCluster-level label was added and removed.
    pub reconcile_started: bool,
}

fn patches(snap: &Snapshot, change: &Change, now: &str) -> Vec<DeploymentPatch> {
    match change {
        Change::Fence { dtype, image } => snap
            .daemons
            .iter()
            // An OSD under replacement is Rook's: never fenced (FACTS §2).
            .filter(|d| d.id.dtype == *dtype && !d.under_replacement)
            .filter(|d| !d.fenced_to(image))
            .map(|d| DeploymentPatch {
                deployment: d.deployment.clone(),
                patch_type: "strategic",
                patch: write::fence_patch(d, image, now),
            })
            .collect(),
        Change::Unfence { dtype, .. } => snap
            .daemons
            .iter()
            // Never strip the label Rook's OSD replacement set (FACTS §2).
            .filter(|d| d.id.dtype == *dtype && d.fence.is_some() && !d.under_replacement)
            .map(|d| DeploymentPatch {
                deployment: d.deployment.clone(),
                patch_type: "merge",
                patch: write::unfence_patch(),
            })
            .collect(),
        _ => vec![],
    }
}

/// Does the API's answer show what the patch asked for?
fn check(d: &Deployment, change: &Change) -> Result<()> {
    let ok = match change {
        Change::Fence { image, .. } => {
            let spec = &d.spec.template.spec;
            d.metadata.labels.contains_key(DNR_LABEL)
                && d.metadata.annotations.get(FENCE_IMAGE) == Some(image)
                && crate::classify::images(spec, Some(image)).iter().all(|i| i == image)
        }
        _ => !d.metadata.labels.contains_key(DNR_LABEL) && !d.metadata.annotations.contains_key(FENCE_IMAGE),
    };
    if ok { Ok(()) } else { Err(Error::Failed("the answer does not show the Deployment as requested".into())) }
}

pub async fn run(ctx: &mut Ctx<'_>, change: Change) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    let snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
    let reconcile_now = matches!(change, Change::Unfence { reconcile_now: true, .. });
    if reconcile_now && snap.cluster.held {
        return Err(Error::usage(
            "--reconcile-now starts a reconcile by adding and removing the CephCluster-level do-not-reconcile \
             label, but the CephCluster already carries it: `resume cluster` first",
        ));
    }
    let plan = plan::plan(&snap, &change).map_err(|e| Error::usage(e.to_string()))?;
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let dry = s.dry_run.map(DryRun::as_str);
    let mut outcome = Outcome {
        patches: patches(&snap, &change, &now),
        plan,
        dry_run: dry,
        applied: false,
        results: vec![],
        reconcile_started: false,
    };
    if outcome.plan.noop || s.dry_run == Some(DryRun::Client) {
        print(s, &outcome, || text(&outcome, s))?;
        return Ok(if s.exit_code && outcome.plan.summary.restart_pods > 0 { 4 } else { 0 });
    }
    if s.dry_run.is_none() {
        super::show_plan(s, &outcome.plan);
        let what = if matches!(change, Change::Fence { .. }) { "Fence" } else { "Unfence" };
        ctx.confirm(&format!("{what} {} Deployment(s) in {ns}?", outcome.patches.len()))?;
    }
    let dry_run = s.dry_run == Some(DryRun::Server);
    let failed = apply_in_steps(&conn.kube, &ns, &change, &mut outcome, dry_run, s).await?;
    outcome.applied = !dry_run && failed < outcome.results.len();
    if reconcile_now && !dry_run && failed == 0 {
        start_reconcile(&conn.kube, &ns, &snap.cluster.name).await?;
        outcome.reconcile_started = true;
    }
    print(s, &outcome, || text(&outcome, s))?;
    // A fence already waited step by step; an unfence restarts pods only through the
    // reconcile it started.
    if outcome.reconcile_started && s.wait {
        crate::wait::wait(&conn.kube, &ns, &crate::wait::targets(&outcome.plan), s.timeout, s.progress_bar).await?;
    }
    if failed > 0 {
        return Err(Error::Failed(format!(
            "{failed} of {} Deployment(s) were not patched: see above; running the same command again completes the rest",
            outcome.results.len()
        )));
    }
    Ok(0)
}

/// Send the patches step by step in the plan's order (mons and mgrs one at a time, OSDs in
/// batches of osdMaxUpdatesInParallel): Kubernetes restarts a fenced Deployment as soon as
/// its patch lands and Rook's own quorum checks do not run, so each step's new pods must be
/// Running and Ready on the image before the next step is sent. A failure or a step that
/// does not come up within --timeout stops there; running the command again continues.
/// Returns how many patches failed.
async fn apply_in_steps(
    kube: &crate::cluster::Kube,
    ns: &str,
    change: &Change,
    outcome: &mut Outcome,
    dry_run: bool,
    s: &crate::settings::Settings,
) -> Result<usize> {
    let step_of =
        |dep: &str| outcome.plan.daemons.iter().find(|d| d.deployment == dep).and_then(|d| d.step).unwrap_or(0);
    let mut steps: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, p) in outcome.patches.iter().enumerate() {
        steps.entry(step_of(&p.deployment)).or_default().push(i);
    }
    let mut failed = 0;
    for (step, idx) in steps {
        for i in &idx {
            let p = &outcome.patches[*i];
            let r = if p.patch_type == "strategic" {
                write::strategic_patch_deployment(kube, ns, &p.deployment, &p.patch, dry_run).await
            } else {
                write::patch_deployment(kube, ns, &p.deployment, &p.patch, dry_run).await
            };
            let r = r.and_then(|d| check(&d, change));
            if r.is_err() {
                failed += 1;
            }
            outcome.results.push(LabelResult {
                deployment: p.deployment.clone(),
                ok: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        if failed > 0 {
            break;
        }
        // Step 0 restarts nothing (labels and annotations only); unfencing restarts nothing.
        if dry_run || step == 0 || !matches!(change, Change::Fence { .. }) {
            continue;
        }
        let deps: Vec<&str> = idx.iter().map(|i| outcome.patches[*i].deployment.as_str()).collect();
        let targets: Vec<crate::wait::Target> =
            crate::wait::targets(&outcome.plan).into_iter().filter(|t| deps.contains(&t.deployment.as_str())).collect();
        crate::wait::wait(kube, ns, &targets, s.timeout, s.progress_bar).await.map_err(|e| {
            Error::Failed(format!(
                "{e}; stopped before fencing the next daemons (those fenced so far keep their fence): run the same \
                 command again to continue"
            ))
        })?;
    }
    Ok(failed)
}

/// Removing a label starts no reconcile; adding and removing the CephCluster-level one
/// does (FACTS §2). Each write has the CephCluster's resourceVersion as precondition.
async fn start_reconcile(kube: &crate::cluster::Kube, ns: &str, name: &str) -> Result<()> {
    let c = read::get_cluster(kube, ns, name).await?;
    let rv = c.metadata.resource_version.unwrap_or_default();
    let add = write::cluster_patch(&Change::PauseCluster, &rv).unwrap_or_default();
    let c = write::patch_cluster(kube, ns, name, &add, false).await?;
    let rv = c.metadata.resource_version.unwrap_or_default();
    let remove = write::cluster_patch(&Change::ResumeCluster, &rv).unwrap_or_default();
    let c = match write::patch_cluster(kube, ns, name, &remove, false).await {
        Ok(c) => c,
        Err(e) if e.api_code() == Some(409) => {
            // the operator's status write may land in between: read, remove again
            let c = read::get_cluster(kube, ns, name).await?;
            let rv = c.metadata.resource_version.unwrap_or_default();
            let remove = write::cluster_patch(&Change::ResumeCluster, &rv).unwrap_or_default();
            write::patch_cluster(kube, ns, name, &remove, false).await?
        }
        Err(e) => {
            return Err(Error::Failed(format!(
                "the CephCluster-level label was added to start a reconcile but could not be removed ({e}); \
                 remove it with `kubectl ceph-image resume cluster`"
            )));
        }
    };
    if c.metadata.labels.contains_key(DNR_LABEL) {
        return Err(Error::Failed(
            "the CephCluster still carries the do-not-reconcile label: run `resume cluster`".into(),
        ));
    }
    Ok(())
}

fn text(o: &Outcome, s: &crate::settings::Settings) -> String {
    let mut t = String::new();
    if o.results.is_empty() {
        t.push_str(&render::plan(&o.plan, &s.out_styles));
        if !o.plan.noop {
            t.push_str(&format!(
                "\nPatches ({} Deployment(s), fieldManager={}):\n",
                o.patches.len(),
                crate::model::FIELD_MANAGER
            ));
            for p in &o.patches {
                t.push_str(&format!(
                    "  {} ({}): {}\n",
                    clean(&p.deployment),
                    p.patch_type,
                    clean(&p.patch.to_string())
                ));
            }
            t.push_str("Dry run: nothing was sent.\n");
        }
        return t;
    }
    let verb = if o.plan.change.action == "fence" { "fenced" } else { "unfenced" };
    t.push_str(&super::labels::results_text(&o.results, verb, o.dry_run.is_some()));
    if o.reconcile_started {
        t.push_str("Started an operator reconcile (added and removed the CephCluster-level do-not-reconcile label).\n");
    }
    t
}
