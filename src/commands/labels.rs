//! `pause` / `resume` of daemons: the do-not-reconcile label on their Deployments, patched
//! concurrently (bounded), each result reported; idempotent, so running it again
//! completes what a failed run left. `cluster` goes to the CephCluster instead.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Ctx, change, print};
use crate::cli::{DryRun, Targets};
use crate::cluster::read;
use crate::error::{Error, Result};
use crate::execute::{self, Done, Journal};
use crate::model::Snapshot;
use crate::model::daemon::{DaemonId, DaemonType, HoldScope};
use crate::model::selector::Selector;
use crate::output::note;
use crate::plan::writes::Write;
use crate::plan::{self, Change, Plan};
use crate::render;

/// What the command line names, checked before anything is read.
#[derive(Debug, PartialEq)]
pub struct Spec {
    pub cluster: bool,
    pub ids: Vec<DaemonId>,
    pub types: Vec<DaemonType>,
    pub node: Option<String>,
    pub selector: Option<Selector>,
}

pub fn parse(t: &Targets, pause: bool) -> Result<Spec> {
    let verb = if pause { "pause" } else { "resume" };
    let mut spec = Spec { cluster: false, ids: vec![], types: vec![], node: t.node.clone(), selector: None };
    if let Some(sel) = &t.selector {
        let parsed = Selector::parse(sel).map_err(|e| Error::usage(format!("invalid --selector: {e}")))?;
        if parsed.0.is_empty() {
            return Err(Error::usage(format!(
                "--selector {sel:?} is empty and would {verb} every daemon: give a label, e.g. -l \
                 topology-location-host=worker-7, or name the daemons"
            )));
        }
        spec.selector = Some(parsed);
    }
    if spec.node.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(Error::usage("--node is empty: name a node as `kubectl get nodes` shows it, e.g. --node worker-7"));
    }
    if t.daemons.is_empty() && spec.selector.is_none() {
        return Err(Error::usage(format!(
            "name what to {verb}: daemon ids (osd.12 mon.a rgw.my-store), a type with --node (osd --node NODE), \
             -l SELECTOR, or `cluster`"
        )));
    }
    for d in &t.daemons {
        if d == "cluster" {
            spec.cluster = true;
        } else if d.contains('.') {
            spec.ids.push(d.parse().map_err(Error::Usage)?);
        } else {
            spec.types.push(d.parse().map_err(|e: String| match crate::model::daemon::id_missing_its_dot(d) {
                Some(id) => Error::usage(format!("{d:?} is not a daemon type or id: did you mean {id}?")),
                None => Error::usage(format!("{e}; or name a daemon as TYPE.ID (osd.12), or `cluster`")),
            })?);
        }
    }
    if spec.cluster && (t.daemons.len() > 1 || spec.node.is_some() || spec.selector.is_some()) {
        return Err(Error::usage(format!("`{verb} cluster` takes no other daemons, --node or --selector")));
    }
    if pause {
        let named = spec.ids.iter().map(|i| i.dtype).chain(spec.types.iter().copied());
        // Before any suggestion of how to name them: no way of naming them would work.
        for ty in named {
            if ty.hold_scope() == HoldScope::NotHonoured {
                return Err(Error::usage(format!(
                    "cannot pause {}: Rook does not honour ceph.rook.io/do-not-reconcile on its Deployments; its \
                     next reconcile rewrites them and drops the label",
                    ty.ceph_name()
                )));
            }
        }
    }
    if !spec.types.is_empty() && spec.node.is_none() && spec.selector.is_none() {
        let t = spec.types[0];
        return Err(Error::usage(format!(
            "`{verb} {t}` alone would {verb} every {t} daemon: name them ({t}.ID), or add --node NODE or -l SELECTOR",
            t = t.ceph_name()
        )));
    }
    if spec.node.is_some() && spec.types.is_empty() {
        return Err(Error::usage("--node needs a daemon type, e.g. `pause osd --node NODE`"));
    }
    Ok(spec)
}

fn known_ids(snap: &Snapshot, t: DaemonType) -> String {
    let ids: Vec<&str> = snap.daemons.iter().filter(|d| d.id.dtype == t).map(|d| d.id.id.as_str()).collect();
    match ids.len() {
        0 => format!("the cluster has no {t} daemons"),
        n if n <= 12 => format!("its {t} daemons: {}", ids.join(", ")),
        n => format!("{n} {t} daemons, e.g. {} ... {}", ids[..5].join(", "), ids[n - 1]),
    }
}

/// The Deployments the spec names, in the snapshot's (Rook's) order.
pub fn resolve(spec: &Spec, snap: &Snapshot) -> Result<Vec<String>> {
    let c = &snap.cluster;
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    for id in &spec.ids {
        // Every Deployment claiming the id (two may: `duplicate-id`); the plan says so.
        let claiming: Vec<&str> = snap.daemons.iter().filter(|d| d.id == *id).map(|d| d.deployment.as_str()).collect();
        if claiming.is_empty() {
            let ids: Vec<String> =
                snap.daemons.iter().filter(|d| d.id.dtype == id.dtype).map(|d| d.id.to_string()).collect();
            let typed = id.to_string();
            let hint = crate::model::daemon::closest(&typed, ids.iter().map(String::as_str))
                .filter(|_| id.id.len() >= 3)
                .map(|m| format!("did you mean {m}? "))
                .unwrap_or_default();
            return Err(Error::usage(format!(
                "no daemon {id} in CephCluster {}/{}; {hint}{}",
                c.namespace,
                c.name,
                known_ids(snap, id.dtype)
            )));
        }
        chosen.extend(claiming);
    }
    if !spec.types.is_empty() || (spec.selector.is_some() && spec.ids.is_empty()) {
        let matched: Vec<&str> = snap
            .daemons
            .iter()
            .filter(|d| spec.types.is_empty() || spec.types.contains(&d.id.dtype))
            .filter(|d| spec.node.as_ref().is_none_or(|n| d.on_node(n)))
            .filter(|d| spec.selector.as_ref().is_none_or(|s| s.matches(&d.labels)))
            .map(|d| d.deployment.as_str())
            .collect();
        if matched.is_empty() {
            let what = match (&spec.node, &spec.selector) {
                (Some(n), _) => format!("on node {n:?}"),
                _ => "matching the selector".to_string(),
            };
            let types: Vec<String> = spec.types.iter().map(|t| t.to_string()).collect();
            return Err(Error::usage(format!(
                "no {} daemon {what} in CephCluster {}/{}",
                if types.is_empty() { "Rook".to_string() } else { types.join("/") },
                c.namespace,
                c.name
            )));
        }
        chosen.extend(matched);
    }
    Ok(snap.daemons.iter().filter(|d| chosen.contains(d.deployment.as_str())).map(|d| d.deployment.clone()).collect())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub plan: Plan,
    /// Every write, in order, exactly as it is (or would be) sent.
    pub writes: Vec<Write>,
    pub dry_run: Option<&'static str>,
    pub applied: bool,
    /// What became of each write (after a real or server-side dry run).
    pub journal: Option<Journal>,
}

pub async fn run(ctx: &mut Ctx<'_>, targets: &Targets, pause: bool) -> Result<i32> {
    let spec = parse(targets, pause)?;
    if spec.cluster {
        return change::run(ctx, if pause { Change::PauseCluster } else { Change::ResumeCluster }).await;
    }
    ctx.require_confirmable()?;
    let s = ctx.settings;
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    let snap = read::snapshot(&conn.kube, &ns, s.cluster.as_deref()).await?;
    let named = resolve(&spec, &snap)?;
    let change = if pause { Change::Pause(named.clone()) } else { Change::Resume(named.clone()) };
    let plan = plan::plan(&snap, &change).map_err(|e| Error::usage(e.to_string()))?;
    // Only what changes is sent: already-labelled (or unlabelled) ones and OSDs under
    // replacement are left alone.
    let writes = crate::plan::writes::build(&snap, std::slice::from_ref(&change), &plan, "");
    let dry = s.dry_run.map(DryRun::as_str);
    let mut outcome = Outcome { plan, writes, dry_run: dry, applied: false, journal: None };
    if outcome.plan.noop || outcome.writes.is_empty() || s.dry_run == Some(DryRun::Client) {
        print(s, &outcome, || text(&outcome, s))?;
        return Ok(0);
    }
    if s.dry_run.is_none() {
        super::show_plan(s, &outcome.plan);
        let verb = if pause { "Label" } else { "Unlabel" };
        ctx.confirm(&format!("{verb} {} Deployment(s) in {ns}?", outcome.writes.len()))?;
    }
    let dry_run = s.dry_run == Some(DryRun::Server);
    let target = super::exec_target(&conn, &outcome.plan, dry_run, s);
    let journal = execute::run(&target, &outcome.writes).await;
    outcome.applied = !dry_run && journal.count(|d| matches!(d, Done::Applied)) > 0;
    let all_done = journal.all_done();
    outcome.journal = Some(journal);
    print(s, &outcome, || text(&outcome, s))?;
    let journal = outcome.journal.as_ref().expect("set above");
    if !all_done {
        return Err(execute::failure(journal, &execute::rerun_hint()));
    }
    if s.wait && !dry_run {
        // Labels start no reconcile: nothing restarts now, so there is nothing to follow.
        note("--wait: nothing restarts now (a Deployment label starts no reconcile); nothing to wait for");
    }
    Ok(0)
}

fn text(o: &Outcome, s: &crate::settings::Settings) -> String {
    match &o.journal {
        None => {
            let t = render::plan_view(&o.plan, &s.out_styles, s.wide);
            if !o.plan.noop && !o.writes.is_empty() {
                let w = format!("{}Dry run: nothing was sent.\n", render::writes::writes_text(&o.writes));
                return render::before_totals(&t, &w);
            }
            t
        }
        Some(j) if j.all_done() => render::journal::results_summary(j, o.dry_run.is_some(), s.wide),
        // A failed or stopped run: the error carries the journal.
        Some(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(d: &[&str], node: Option<&str>, sel: Option<&str>) -> Targets {
        Targets {
            daemons: d.iter().map(|s| s.to_string()).collect(),
            node: node.map(str::to_string),
            selector: sel.map(str::to_string),
            change: Default::default(),
        }
    }

    #[test]
    fn bad_targets_are_usage_errors() {
        for (d, node, sel, why) in [
            (&[][..], None, None, "name what to pause"),
            (&["osd"][..], None, None, "would pause every osd"),
            (&["osd12"][..], None, None, "did you mean osd.12?"),
            (&["mrg.a"][..], None, None, "did you mean mgr?"),
            (&["osd.x"][..], None, None, "an OSD id is a number"),
            (&["cluster", "osd.1"][..], None, None, "takes no other"),
            (&["crash.node-1"][..], None, None, "cannot pause crash"),
            (&["crash"][..], None, None, "cannot pause crash: Rook does not honour"),
            (&["exporter"][..], Some("n"), None, "cannot pause exporter"),
            (&["fs-mirror.fs-mirror"][..], None, None, "cannot pause cephfs-mirror"),
            (&["osd.1"][..], Some("n"), None, "--node needs a daemon type"),
            (&[][..], None, Some("app in (x"), "invalid --selector"),
            (&[][..], None, Some(""), "is empty and would pause every daemon"),
            (&[][..], None, Some(" , "), "is empty"),
            (&["osd"][..], Some(""), None, "--node is empty"),
        ] {
            let e = parse(&targets(d, node, sel), true).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{d:?}");
            assert!(e.to_string().contains(why), "{d:?}: {e}");
        }
        // resume of a type Rook ignores is allowed: removing a stray label is harmless
        assert!(parse(&targets(&["crash.node-1"], None, None), false).is_ok());
        assert!(parse(&targets(&["osd"], Some("node-1"), None), true).is_ok());
        assert!(parse(&targets(&["cluster"], None, None), true).unwrap().cluster);
    }
}
