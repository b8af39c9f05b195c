//! `set`, `unset`, `pause cluster`, `resume cluster`: one merge patch of the CephCluster,
//! with its resourceVersion as precondition, after the plan is shown and confirmed; read
//! back and verified; on 409 re-read and re-planned (DESIGN §3).

use serde::Serialize;
use serde_json::Value;

use super::{Ctx, print};
use crate::cli::DryRun;
use crate::cluster::read::{self, Support};
use crate::cluster::wire::CephCluster;
use crate::cluster::write;
use crate::error::{Error, Result};
use crate::execute::{self, Journal};
use crate::model::{DNR_LABEL, Snapshot};
use crate::output::note;
use crate::plan::writes::Write;
use crate::plan::{self, Change, Plan, Target};
use crate::render;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub plan: Plan,
    /// The exact merge patch of the CephCluster (sent, or that would be sent).
    pub patch: Option<Value>,
    /// Every write, in order, exactly as it is (or would be) sent.
    pub writes: Vec<Write>,
    pub dry_run: Option<&'static str>,
    pub applied: bool,
    pub journal: Option<Journal>,
    /// After a write: the CephCluster's new generation and resourceVersion.
    pub generation: Option<i64>,
    pub resource_version: Option<String>,
}

/// How many times a change re-reads after a 409 before it gives up.
pub const MAX_CONFLICTS: usize = 5;

fn plan_of(snap: &Snapshot, change: &Change) -> Result<Plan> {
    plan::plan(snap, change).map_err(|e| Error::usage(e.to_string()))
}

/// The value the change should leave in the object read back.
pub fn verify(change: &Change, c: &CephCluster) -> Result<()> {
    let cv = c.spec.ceph_version.clone().unwrap_or_default();
    let ok = match change {
        Change::SetImage { target: Target::Base, image } => cv.image.as_deref() == Some(image),
        Change::SetImage { target: Target::Type(t), image } => cv.image_overrides.get(t.key()) == Some(image),
        Change::Unset(t) => !cv.image_overrides.contains_key(t.key()),
        Change::PauseCluster => c.metadata.labels.contains_key(DNR_LABEL),
        Change::ResumeCluster => !c.metadata.labels.contains_key(DNR_LABEL),
        Change::Pause(_) | Change::Resume(_) | Change::Fence { .. } | Change::Unfence { .. } => true,
    };
    if ok {
        return Ok(());
    }
    let what = match change {
        Change::SetImage { target: Target::Type(t), .. } | Change::Unset(t) => {
            format!("spec.cephVersion.imageOverrides.{t}")
        }
        Change::SetImage { .. } => "spec.cephVersion.image".into(),
        _ => format!("the {DNR_LABEL} label"),
    };
    Err(Error::Failed(format!(
        "the API server accepted the patch, but reading the CephCluster back shows {what} is not as requested: \
         the CRD may prune it, or another writer changed it since. Nothing is reported as done."
    )))
}

fn unsupported(t: crate::model::daemon::DaemonType) -> Error {
    Error::Refused(format!(
        "cannot set a {t} image override: this cluster's CephCluster CRD has no spec.cephVersion.imageOverrides \
         (released Rook has none), so the API server would silently drop it and the {t} daemons would keep \
         their image. Per-daemon image overrides need a Rook whose CRD has the field (rook/rook#14965). \
         On the Rook of today, `--strategy fence` pins the {t} Deployments directly (labels them \
         do-not-reconcile and rewrites their images; see `set --help`); `set base IMAGE` changes every \
         type without an override. Nothing was sent."
    ))
}

/// Establish that the CRD keeps `imageOverrides` before the first write (DESIGN §3.1):
/// read the CRD's schema; where that is forbidden, a dryRun=All patch must keep the field.
async fn check_support(
    ctx: &Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    snap: &Snapshot,
    change: &Change,
) -> Result<()> {
    let Change::SetImage { target: Target::Type(t), image } = change else { return Ok(()) };
    match read::overrides_support(&conn.kube).await? {
        Support::Yes => Ok(()),
        Support::No => Err(unsupported(*t)),
        Support::Unknown => {
            if ctx.settings.connect.verbose {
                note("reading the CRD is forbidden: probing with a dryRun=All patch");
            }
            // The probe asks only whether the field survives: without the resourceVersion
            // precondition, so that Rook's own status writes (a real server's CephCluster
            // changes about every minute) cannot fail it with a 409.
            let patch = crate::plan::writes::cluster_change(change).unwrap_or_default();
            let answer = write::patch_cluster(&conn.kube, &conn.namespace, &snap.cluster.name, &patch, true).await;
            match answer {
                Ok(c) if c.spec.ceph_version.as_ref().and_then(|v| v.image_overrides.get(t.key())) == Some(image) => {
                    Ok(())
                }
                Ok(_) => Err(unsupported(*t)),
                // Strict field validation names the unknown field: kube-apiserver answers a
                // patch 422 Invalid ("patch: ... strict decoding error: unknown field
                // \"spec.cephVersion.imageOverrides\"", handlers/patch.go), a create or
                // update 400 BadRequest.
                Err(Error::Api(a))
                    if matches!(a.code, 400 | 422)
                        && a.message.contains("unknown field")
                        && a.message.contains("imageOverrides") =>
                {
                    Err(unsupported(*t))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// A CephCluster with a controller owner (ODF's StorageCluster) gets its spec written back
/// by that owner: a direct spec change is reverted with its restarts half done (FACTS §6).
/// Refused unless `--force`; the refusal names the owner and where the change belongs.
pub fn check_owner(snap: &Snapshot, changes: &[Change], force: bool) -> Result<()> {
    let writes_spec = changes.iter().any(|c| matches!(c, Change::SetImage { .. } | Change::Unset(_)));
    let Some(owner) = snap.cluster.managers.iter().find(|m| m.controller) else { return Ok(()) };
    if !writes_spec || force {
        return Ok(());
    }
    let where_ = if owner.tool == "StorageCluster" {
        format!(
            "change the image through the StorageCluster {} (ODF/OCS manages the Ceph image with its operator's \
             release)",
            owner.name
        )
    } else {
        format!("change it in the {} {} that owns it", owner.tool, owner.name)
    };
    Err(Error::Usage(format!(
        "CephCluster {}/{} is controlled by {} {} (a controller ownerReference): it writes its own spec back, \
         undoing this change with its restarts half done; {where_}. Pass --force to write it anyway. Nothing was \
         sent.",
        snap.cluster.namespace, snap.cluster.name, owner.tool, owner.name
    )))
}

pub async fn run(ctx: &mut Ctx<'_>, change: Change) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    let mut snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
    let mut plan = plan_of(&snap, &change)?;
    if !plan.noop {
        check_owner(&snap, std::slice::from_ref(&change), s.force)?;
    }
    if let Change::Unset(t) = &change {
        let fenced = snap.daemons.iter().filter(|d| d.id.dtype == *t && d.fence.is_some()).count();
        if plan.noop && fenced > 0 {
            return Err(Error::usage(format!(
                "{t} has no image override, but {fenced} {t} Deployment(s) are fenced by this plugin: \
                 `unset {t} --strategy fence` removes the fence"
            )));
        }
    }
    if !plan.noop {
        check_support(ctx, &conn, &snap, &change).await?;
    }
    let mut writes = crate::plan::writes::build(&snap, std::slice::from_ref(&change), &plan, "");
    let dry = s.dry_run.map(DryRun::as_str);
    if plan.noop || writes.is_empty() || s.dry_run.is_some() {
        let mut outcome = Outcome {
            patch: writes.first().map(|w| w.patch.clone()),
            plan,
            writes,
            dry_run: dry,
            applied: false,
            journal: None,
            generation: None,
            resource_version: None,
        };
        if s.dry_run == Some(DryRun::Server) && !outcome.plan.noop && !outcome.writes.is_empty() {
            let target = super::exec_target(&conn, &outcome.plan, true, s);
            let journal = execute::run(&target, &outcome.writes).await;
            if !journal.all_done() {
                return Err(execute::failure(&journal, &execute::rerun_hint()));
            }
            outcome.journal = Some(journal);
        }
        let restarts = outcome.plan.summary.restart_pods;
        print(s, &outcome, || {
            let t = render::plan_view(&outcome.plan, &s.out_styles, s.wide);
            if !outcome.plan.noop && !outcome.writes.is_empty() {
                let mut w = render::writes::writes_text(&outcome.writes);
                w.push_str(match s.dry_run {
                    Some(DryRun::Server) => {
                        "Dry run (server): the API server accepted the patch; nothing was persisted.\n"
                    }
                    _ => "Dry run: nothing was sent.\n",
                });
                return render::before_totals(&t, &w);
            }
            t
        })?;
        return Ok(if s.exit_code && restarts > 0 { 4 } else { 0 });
    }
    // Show, confirm, write; on 409 re-read and judge by intent.
    super::show_plan(s, &plan);
    ctx.confirm(&format!("Apply this change to CephCluster {ns}/{}?", snap.cluster.name))?;
    let mut conflicts = 0;
    let journal = loop {
        let target = super::exec_target(&conn, &plan, false, s);
        let journal = execute::run(&target, &writes).await;
        if journal.all_done() {
            break journal;
        }
        if !journal.conflict() || conflicts >= MAX_CONFLICTS {
            if journal.conflict() {
                return Err(Error::Failed(format!(
                    "gave up after {MAX_CONFLICTS} conflicts: another writer keeps changing CephCluster {ns}/{}. \
                     Nothing was lost; nothing of this change was written.",
                    snap.cluster.name
                )));
            }
            return Err(execute::failure(&journal, &execute::rerun_hint()));
        }
        conflicts += 1;
        note(&format!(
            "the CephCluster changed since it was read (409 Conflict): reading it again ({conflicts}/{MAX_CONFLICTS})"
        ));
        let fresh = read::snapshot(&conn.kube, &ns, Some(&snap.cluster.name)).await?;
        match intent(&snap, &fresh, &change) {
            Intent::Done => {
                note("another writer already made this exact change: nothing to write");
                return Ok(0);
            }
            Intent::SameField { field, read_then, now, want } => {
                let msg = format!(
                    "{field} was {read_then} when this command read it and is now {now}: another writer changed \
                     the same field while this change was being applied"
                );
                if s.yes {
                    return Err(Error::Failed(format!(
                        "{msg}; with --yes nothing is overwritten and nothing was written. Run the command again to \
                         review a plan from {now} to {want}."
                    )));
                }
                note(&msg);
                let again = plan_of(&fresh, &change)?;
                super::show_plan(s, &again);
                ctx.confirm(&format!("Replace {now} with {want} (the plan above)?"))?;
                plan = again;
            }
            Intent::Elsewhere => {
                let again = plan_of(&fresh, &change)?;
                if again.noop {
                    note("the cluster already has this change: nothing to write");
                    return Ok(0);
                }
                // A change elsewhere in the spec does not matter while what this change
                // restarts is the same. When no image or hold of the CephCluster changed
                // (Rook wrote its status, another writer some other field), the plan can
                // only differ by rollouts under way: this change still asks the same.
                let same_images = (&fresh.cluster.base_image, &fresh.cluster.overrides, fresh.cluster.held)
                    == (&snap.cluster.base_image, &snap.cluster.overrides, snap.cluster.held);
                if !same_images && !own_restarts(&again, &change).eq(own_restarts(&plan, &change)) {
                    if s.yes {
                        if s.output == crate::cli::OutputFormat::Text {
                            crate::output::emit(&render::plan_view(&again, &s.out_styles, s.wide));
                        }
                        return Err(Error::Failed(
                            "the CephCluster changed while this change was being applied and what it restarts is now \
                             different (shown above); with --yes nothing is written. Run the command again to review \
                             the new plan."
                                .into(),
                        ));
                    }
                    super::show_plan(s, &again);
                    ctx.confirm("What this change restarts is now different (shown above). Apply the new plan?")?;
                }
                plan = again;
            }
        }
        snap = fresh;
        writes = crate::plan::writes::build(&snap, std::slice::from_ref(&change), &plan, "");
    };
    // Never report a write as done without reading it back (FACTS §1).
    let back = read::get_cluster(&conn.kube, &ns, &snap.cluster.name).await?;
    verify(&change, &back)?;
    let outcome = Outcome {
        patch: writes.first().map(|w| w.patch.clone()),
        plan,
        writes,
        dry_run: None,
        applied: true,
        journal: Some(journal),
        generation: back.metadata.generation,
        resource_version: back.metadata.resource_version.clone(),
    };
    if s.wait {
        print(s, &outcome, || render::applied::applied_text(&outcome.plan, outcome.generation, &ns))?;
        crate::execute::wait::wait(
            &conn.kube,
            &ns,
            &crate::execute::wait::targets(&outcome.plan),
            s.timeout,
            s.progress_bar,
        )
        .await?;
        return Ok(0);
    }
    print(s, &outcome, || render::applied::applied_text(&outcome.plan, outcome.generation, &ns))?;
    Ok(0)
}

/// How a concurrent write relates to this change (DESIGN §3: conflicts judged by intent).
#[derive(Debug, PartialEq)]
pub enum Intent {
    /// The field already holds what this change asks.
    Done,
    /// Someone else changed the same field: never overwritten silently.
    SameField { field: String, read_then: String, now: String, want: String },
    /// The change was elsewhere in the object.
    Elsewhere,
}

/// The field a change writes, its value in a snapshot and the value the change asks
/// ("(none)" when absent): (field, value, wanted).
fn field_of(snap: &Snapshot, change: &Change) -> Option<(String, String, String)> {
    let none = || "(none)".to_string();
    if let Some((pointer, want)) = plan::writes::spec_field(change) {
        let field = pointer.trim_start_matches('/').replace('/', ".");
        let value = plan::writes::spec_value(snap, &pointer).map(str::to_string).unwrap_or_else(none);
        return Some((field, value, want.unwrap_or_else(none)));
    }
    // A label a stopped upgrade left (`UPGRADE_RECONCILE`) is not yet what `pause cluster`
    // asks: the operator's own label.
    let label = |held: bool, upgrades: bool| match (held, upgrades) {
        (true, true) => "present (a stopped upgrade's)",
        (true, false) => "present",
        (false, _) => "absent",
    };
    match change {
        Change::PauseCluster | Change::ResumeCluster => Some((
            format!("the CephCluster's {DNR_LABEL} label"),
            label(snap.cluster.held, snap.cluster.upgrade_reconcile).to_string(),
            label(matches!(change, Change::PauseCluster), false).to_string(),
        )),
        _ => None,
    }
}

/// Judge a 409 by intent: compare the field this change writes as it was read and as it is.
pub fn intent(read_then: &Snapshot, now: &Snapshot, change: &Change) -> Intent {
    let (Some((field, then, want)), Some((_, current, _))) = (field_of(read_then, change), field_of(now, change))
    else {
        return Intent::Elsewhere;
    };
    if current == want {
        Intent::Done
    } else if current != then {
        Intent::SameField { field, read_then: then, now: current, want }
    } else {
        Intent::Elsewhere
    }
}

/// What this change itself restarts: the Deployments of its type (all types for the base
/// image) moving to its image (or, for unset, of its type); for the cluster label, every
/// restart. Which Deployments and to what image, not their pods: a rollout under way
/// (another writer's, or Rook's) replaces pods without changing what this change does.
fn own_restarts<'a>(p: &'a Plan, change: &'a Change) -> impl Iterator<Item = (&'a str, &'a Option<String>)> {
    p.restarts()
        .filter(move |d| match change {
            Change::SetImage { target: Target::Type(t), image } => {
                d.dtype == *t && d.image_to.as_deref() == Some(image.as_str())
            }
            Change::SetImage { target: Target::Base, image } => d.image_to.as_deref() == Some(image.as_str()),
            Change::Unset(t) => d.dtype == *t,
            _ => true,
        })
        .map(|d| (d.deployment.as_str(), &d.image_to))
}
