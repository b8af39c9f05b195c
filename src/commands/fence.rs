//! `set TYPE IMAGE --strategy fence` and `unset TYPE --strategy fence [--reconcile-now]`
//! (DESIGN §3.2): per-daemon images on the Rook of today. Each Deployment of the type gets
//! one strategic merge patch (label, annotations, Ceph containers and CONTAINER_IMAGE),
//! applied one at a time in Rook's order; unfencing removes label and annotations, and
//! `--reconcile-now` starts a reconcile by adding and removing the CephCluster-level label.

use serde::Serialize;

use super::{Ctx, print};
use crate::cli::DryRun;
use crate::cluster::read;
use crate::cluster::view::View;
use crate::error::{Error, Result};
use crate::execute::ceph_gate::{ALLOW_UNCHECKED, CephGate, Held};
use crate::execute::{self, Done, Journal};
use crate::model::Snapshot;
use crate::model::daemon::DaemonType;
use crate::output::clean;
use crate::plan::writes::Write;
use crate::plan::{self, Change, Plan};
use crate::render;
use crate::render::journal::results_summary;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub plan: Plan,
    /// Every write, in order, exactly as it is (or would be) sent.
    pub writes: Vec<Write>,
    pub dry_run: Option<&'static str>,
    pub applied: bool,
    pub journal: Option<Journal>,
    /// `--reconcile-now`: the CephCluster-level label was added and removed.
    pub reconcile_started: bool,
    /// What Ceph said, before anything was sent, of the first step that restarts OSDs, mons
    /// or MDS (`ceph ... ok-to-stop`): one line; null when no such step (issue 23 item 2).
    pub ok_to_stop: Option<String>,
}

pub async fn run(ctx: &mut Ctx<'_>, change: Change) -> Result<i32> {
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    // One LIST of each collection (as `read::snapshot`), then, once writes go, watches:
    // each step's gates read the view, not the namespace again (issue 24).
    let view = View::start(&conn.kube, &ns, s.cluster.as_deref()).await?;
    let snap = view.snapshot().await?;
    let reconcile_now = matches!(change, Change::Unfence { reconcile_now: true, .. });
    if reconcile_now && snap.cluster.held {
        return Err(Error::usage(
            "--reconcile-now starts a reconcile by adding and removing the CephCluster-level do-not-reconcile \
             label, but the CephCluster already carries it: `resume cluster` first",
        ));
    }
    let plan = plan::plan(&snap, &change).map_err(|e| Error::usage(e.to_string()))?;
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let writes = crate::plan::writes::build(&snap, std::slice::from_ref(&change), &plan, &now);
    let dry = s.dry_run.map(DryRun::as_str);
    let mut outcome = Outcome {
        plan,
        writes,
        dry_run: dry,
        applied: false,
        journal: None,
        reconcile_started: false,
        ok_to_stop: None,
    };
    // No step restarts daemons of one failure domain while OSDs of another are down
    // (issue #22 kind 5): refused before any write, and a dry run says so too; the
    // executor checks again before each step, since a node can go down while the fence runs.
    let blocked = match &change {
        Change::Fence { batching, dtype, image } if !outcome.plan.noop && !outcome.writes.is_empty() => {
            crate::plan::down::fence_blocker(&snap, &outcome.plan, batching.by, *dtype, image)
        }
        _ => None,
    };
    let refusal = |why: &str, sent: &str| {
        Error::Failed(format!(
            "refusing to fence: {}. {sent}; bring those OSDs back first (their node, or their pods Running and Ready)",
            clean(why)
        ))
    };
    // Ceph's word for the first step that restarts OSDs, mons or MDS, asked before
    // anything is sent: where Ceph cannot be asked the fence refuses now, not after the
    // confirmation (issue 23 item 2). The executor asks again before every such step.
    let gate = match (&change, !outcome.plan.noop) {
        (Change::Fence { .. }, true) => ceph_gate(&conn, &snap, &outcome.writes, s).await?,
        _ => None,
    };
    // noout on the OSDs of each step while they restart, where Ceph answers (issue 23 item 5)
    let noout = noout_osds(&change, &gate, &snap, s);
    if let Some(osds) = &noout {
        outcome.writes = crate::plan::writes::with_noout(std::mem::take(&mut outcome.writes), osds);
    }
    // Ceph's own no comes first in a refusal: it is the reason that counts.
    let blocked = blocked.map(|why| match &gate {
        Some((_, Some(h @ (Held::No { .. } | Held::Unclean { .. })), _)) => format!("{}; and {why}", h.text()),
        _ => why,
    });
    let unchecked = gate.as_ref().and_then(|(g, held, _)| match held {
        Some(h @ Held::Unanswered { .. }) if !g.allow_unchecked => Some(h.clone()),
        _ => None,
    });
    if let Some((g, held, names)) = &gate {
        let line = match held {
            None => format!(
                "Ceph says {} {} ok to stop now (the first step that restarts daemons Ceph is asked of)",
                clean(&names.join(", ")),
                if names.len() == 1 { "is" } else { "are" }
            ),
            Some(h @ (Held::No { .. } | Held::Unclean { .. })) => {
                format!("{} now: the fence waits for it (up to --timeout) before that step", h.text())
            }
            Some(h) if g.allow_unchecked => format!("{}: they are restarted unchecked ({ALLOW_UNCHECKED})", h.text()),
            Some(h) => h.text(),
        };
        // a refusal below says it with its other reason
        if blocked.is_none() {
            crate::output::note(&line);
        }
        outcome.ok_to_stop = Some(line);
    }
    let ceph_refusal = |h: &Held, sent: &str| {
        Error::Failed(format!("refusing to fence: {}. {sent}", crate::execute::ceph_gate::refusal(h, None)))
    };
    if outcome.plan.noop || outcome.writes.is_empty() || s.dry_run == Some(DryRun::Client) {
        print(s, &outcome, || text(&outcome, s))?;
        if let Some(why) = &blocked {
            return Err(refusal(why, "Dry run: nothing was sent, and the fence would send nothing"));
        }
        if let Some(h) = &unchecked {
            return Err(ceph_refusal(h, "Dry run: nothing was sent, and the fence would send nothing"));
        }
        return Ok(if s.exit_code && outcome.plan.summary.restart_pods > 0 { 4 } else { 0 });
    }
    if let Some(why) = &blocked {
        return Err(refusal(why, "Nothing was sent"));
    }
    if let Some(h) = &unchecked {
        return Err(ceph_refusal(h, "Nothing was sent"));
    }
    if s.dry_run.is_none() {
        super::show_plan(s, &outcome.plan);
        let what = if matches!(change, Change::Fence { .. }) { "Fence" } else { "Unfence" };
        let n =
            outcome.writes.iter().filter(|w| matches!(w.object, crate::plan::writes::Object::Deployment(_))).count();
        ctx.confirm(&format!("{what} {n} Deployment(s) in {ns}?"))?;
    }
    let dry_run = s.dry_run == Some(DryRun::Server);
    // A fence waits for each step's pods (Kubernetes restarts a fenced Deployment as soon as
    // its patch lands and Rook's own quorum checks do not run); a failure or a step that
    // does not come up within --timeout stops there.
    // A re-run after an interrupted or timed-out fence: the daemons already fenced whose
    // pods are not yet Running and Ready on the image come up first, so no step starts
    // while an earlier one is still down (one mgr at a time, one failure domain a batch).
    if let (Change::Fence { dtype, image, .. }, false) = (&change, dry_run) {
        let unsettled: Vec<crate::execute::wait::Target> = snap
            .daemons
            .iter()
            .filter(|d| d.id.dtype == *dtype && d.fenced_to(image))
            .filter_map(|d| crate::execute::wait::not_up_on(d, image))
            .collect();
        if !unsettled.is_empty() {
            crate::output::note(&format!(
                "{} daemon(s) fenced by an earlier run are not Running and Ready yet ({}): waiting for them before the \
                 next step",
                unsettled.len(),
                clean(&unsettled.iter().map(|u| u.daemon.as_str()).collect::<Vec<_>>().join(", "))
            ));
            // the view's watches, not a LIST and a watch of its own: the steps read it next
            view.follow();
            crate::execute::wait::wait_in(&view, &unsettled, s.timeout, s.progress_bar).await?;
        }
    }
    let mut target = super::exec_target(&conn, &outcome.plan, dry_run, s);
    if let Change::Fence { batching, .. } = &change {
        target.down_gate = Some(batching.by);
    }
    target.ceph_gate = gate.as_ref().map(|(g, _, _)| g);
    if !dry_run {
        view.follow();
        target.view = Some(&view);
    }
    let mut journal = execute::run(&target, &outcome.writes).await;
    // A fenced Deployment changed since it was read (409): judged by intent, re-read and
    // fenced from its current state; what is already fenced is not sent again.
    let mut snap = snap;
    let mut conflicts = 0;
    while journal.conflict() && journal.interrupted.is_none() && !dry_run {
        if conflicts >= super::change::MAX_CONFLICTS {
            return Err(Error::Failed(format!(
                "gave up after {} conflicts: another writer keeps changing the Deployments being fenced.\n{}",
                super::change::MAX_CONFLICTS,
                render::journal::text(&journal, &execute::rerun_hint()).trim_end()
            )));
        }
        conflicts += 1;
        let Change::Fence { dtype, image, .. } = &change else { break };
        let changed: Vec<String> = journal
            .entries
            .iter()
            .filter(|e| matches!(e.done, Done::Conflict { .. }))
            .map(|e| e.object.clone())
            .collect();
        crate::output::note(&format!(
            "{} changed since it was read (409 Conflict): reading again ({conflicts}/{})",
            clean(&changed.join(", ")),
            super::change::MAX_CONFLICTS
        ));
        // read, not the view: the other writer's change may not have reached its watch yet
        let fresh = read::snapshot(&conn.kube, &ns, Some(&snap.cluster.name)).await?;
        let clashes = fence_clashes(&snap, &fresh, *dtype, image);
        if !clashes.is_empty() {
            let msg = format!(
                "another writer changed the fence of the same Deployments while this fence was being applied: {}",
                clean(&clashes.join("; "))
            );
            if s.yes {
                return Err(Error::Failed(format!(
                    "{msg}; with --yes nothing is overwritten.\n{}",
                    render::journal::text(&journal, &execute::rerun_hint()).trim_end()
                )));
            }
            crate::output::note(&msg);
        }
        let again = plan::plan(&fresh, &change).map_err(|e| Error::usage(e.to_string()))?;
        if !clashes.is_empty() {
            super::show_plan(s, &again);
            ctx.confirm("Fence these Deployments to the image asked (the plan above)?")?;
        }
        let mut writes = crate::plan::writes::build(&fresh, std::slice::from_ref(&change), &again, &now);
        if let Some(osds) = &noout {
            writes = crate::plan::writes::with_noout(writes, osds);
        }
        let mut target = super::exec_target(&conn, &again, false, s);
        target.down_gate = Some(match &change {
            Change::Fence { batching, .. } => batching.by,
            _ => crate::plan::FailureDomain::Host,
        });
        target.ceph_gate = gate.as_ref().map(|(g, _, _)| g);
        target.view = Some(&view);
        let next = execute::run(&target, &writes).await;
        // The journal of the whole command: what the earlier runs applied, then this run.
        let mut merged = execute::Journal::new(&[]);
        merged.entries =
            journal.entries.into_iter().filter(|e| matches!(e.done, Done::Applied)).chain(next.entries).collect();
        merged.interrupted = next.interrupted;
        // a step gate that failed after the re-read fails the command
        merged.gate = next.gate;
        journal = merged;
        outcome.writes.extend(writes.into_iter().map(|mut w| {
            w.action = format!("{} (again, after a conflict)", w.action);
            w
        }));
        snap = fresh;
    }
    outcome.applied = !dry_run && journal.count(|d| matches!(d, Done::Applied)) > 0;
    outcome.reconcile_started = reconcile_now && !dry_run && journal.all_done();
    let all_done = journal.all_done();
    outcome.journal = Some(journal);
    print(s, &outcome, || text(&outcome, s))?;
    if !all_done {
        return Err(execute::failure(outcome.journal.as_ref().expect("set above"), &execute::rerun_hint()));
    }
    // A fence already waited step by step; an unfence restarts pods only through the
    // reconcile it started.
    if outcome.reconcile_started && s.wait {
        crate::execute::wait::wait(
            &conn.kube,
            &ns,
            &crate::execute::wait::targets(&outcome.plan),
            s.timeout,
            s.progress_bar,
        )
        .await?;
    }
    Ok(0)
}

/// The OSDs (Deployment -> id) a fence of OSDs sets noout on, step by step: None for
/// another type, with `--no-noout`, or where Ceph cannot be asked (said: restarts
/// unchecked set no flag either).
fn noout_osds(
    change: &Change,
    gate: &Option<(CephGate, Option<Held>, Vec<String>)>,
    snap: &Snapshot,
    s: &crate::settings::Settings,
) -> Option<std::collections::BTreeMap<String, u32>> {
    if !matches!(change, Change::Fence { dtype: DaemonType::Osd, .. }) || s.no_noout {
        return None;
    }
    match gate {
        Some((_, Some(Held::Unanswered { .. }), _)) => {
            crate::output::note("Ceph could not be asked: no noout is set on the OSDs while they restart");
            None
        }
        Some(_) => Some(
            snap.daemons
                .iter()
                .filter(|d| d.id.dtype == DaemonType::Osd)
                .filter_map(|d| Some((d.deployment.clone(), d.id.id.parse().ok()?)))
                .collect(),
        ),
        None => None,
    }
}

/// Where the fence restarts OSDs, mons or MDS: the gate that asks Ceph before each such
/// step, and what Ceph says now of the first one (None: ok to stop). None when no step
/// restarts a daemon Ceph is asked of (an MGR, RGW, ... fence runs no exec).
async fn ceph_gate(
    conn: &super::Connection,
    snap: &Snapshot,
    writes: &[Write],
    s: &crate::settings::Settings,
) -> Result<Option<(CephGate, Option<Held>, Vec<String>)>> {
    let daemons: std::collections::BTreeMap<String, crate::model::daemon::DaemonId> = snap
        .daemons
        .iter()
        .filter(|d| crate::plan::ok_to_stop::asked_of(d.id.dtype))
        .map(|d| (d.deployment.clone(), d.id.clone()))
        .collect();
    let restarting = |w: &&Write| {
        w.wait_ready && matches!(&w.object, crate::plan::writes::Object::Deployment(n) if daemons.contains_key(n))
    };
    let Some(first) = writes.iter().filter(restarting).map(|w| w.step).min() else { return Ok(None) };
    let pgs_healthy = match crate::execute::ceph_gate::pgs_healthy(&snap.cluster) {
        Ok(re) => re,
        Err(why) => return Err(Error::Failed(format!("refusing to fence: {why}. Nothing was sent"))),
    };
    let mut gate = CephGate::find(&conn.kube, &conn.namespace, s.connect.request_timeout).await;
    gate.daemons = daemons;
    gate.allow_unchecked = s.allow_unchecked_restarts;
    gate.pgs_healthy = pgs_healthy;
    let deps: Vec<&str> = writes
        .iter()
        .filter(|w| w.step == first)
        .filter_map(|w| match &w.object {
            crate::plan::writes::Object::Deployment(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let asks = gate.asks_for(&deps);
    let held = gate.ask(&asks).await;
    let names: Vec<String> = asks.into_iter().flat_map(|a| a.daemons).collect();
    Ok(Some((gate, held, names)))
}

/// Deployments of the fenced type whose fence another writer changed between two reads,
/// to something other than this fence's image: "deployment X: fenced to A when read, now B".
fn fence_clashes(then: &Snapshot, now: &Snapshot, t: DaemonType, image: &str) -> Vec<String> {
    let fence = |d: &crate::model::Daemon| match (&d.fence, d.labelled) {
        (Some(f), _) => format!("fenced to {}", f.image),
        (None, true) => "held (do-not-reconcile)".to_string(),
        (None, false) => "not fenced".to_string(),
    };
    now.daemons
        .iter()
        .filter(|d| d.id.dtype == t)
        .filter_map(|d| {
            let before = then.daemons.iter().find(|b| b.deployment == d.deployment)?;
            let (was, is) = (fence(before), fence(d));
            (was != is && !d.fenced_to(image))
                .then(|| format!("deployment {}: {was} when read, now {is}", d.deployment))
        })
        .collect()
}

fn text(o: &Outcome, s: &crate::settings::Settings) -> String {
    let mut t = String::new();
    match &o.journal {
        None => {
            let plan = render::plan_view(&o.plan, &s.out_styles, s.wide);
            if !o.plan.noop && !o.writes.is_empty() {
                let w = format!("{}Dry run: nothing was sent.\n", render::writes::writes_text(&o.writes));
                t.push_str(&render::before_totals(&plan, &w));
            } else {
                t.push_str(&plan);
            }
        }
        Some(j) if j.all_done() => {
            // The totals stay last.
            if o.reconcile_started {
                t.push_str(
                    "Started an operator reconcile (added and removed the CephCluster-level do-not-reconcile label).\n",
                );
            }
            t.push_str(&results_summary(j, o.dry_run.is_some(), s.wide));
        }
        Some(_) => {}
    }
    t
}
