//! Text for people: the restart plan and the status, summarised at scale (every restarting
//! pod is listed; unchanged daemons are counted by type). Renderers take `&Styles` and
//! return strings, so tests compare plain text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use owo_colors::OwoColorize;

use crate::daemon::DaemonType;
use crate::output::{Styles, clean};
use crate::plan::{Action, DaemonPlan, Plan, Warning};
use crate::status::StatusView;

fn type_name(t: DaemonType) -> &'static str {
    t.ceph_name()
}

/// Columns padded to the widest cell, two spaces apart.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|i| rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(indent);
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn counts_by_type<'a>(ds: impl Iterator<Item = &'a DaemonPlan>) -> String {
    let mut m: BTreeMap<DaemonType, usize> = BTreeMap::new();
    for d in ds {
        *m.entry(d.dtype).or_default() += 1;
    }
    m.iter().map(|(t, n)| format!("{n} {}", type_name(*t))).collect::<Vec<_>>().join(", ")
}

fn describe_change(p: &Plan) -> String {
    let c = &p.change;
    let to = c.to.as_deref().map(clean).unwrap_or_default();
    match (c.action, c.target.as_str()) {
        ("set", "base") => format!(
            "set the base image (spec.cephVersion.image) to {to} (was {})",
            c.from.as_deref().filter(|f| !f.is_empty()).map(clean).unwrap_or("unset".into())
        ),
        ("set", t) => format!(
            "set the {t} image override (spec.cephVersion.imageOverrides.{t}) to {to} (was {})",
            c.from.as_deref().map(clean).unwrap_or("none: the base image".into())
        ),
        ("unset", t) => format!(
            "remove the {t} image override{}; {t} follows the base image again",
            c.from.as_deref().map(|f| format!(" ({})", clean(f))).unwrap_or_default()
        ),
        ("pause", "cluster") => "add ceph.rook.io/do-not-reconcile to the CephCluster".into(),
        ("resume", "cluster") => "remove ceph.rook.io/do-not-reconcile from the CephCluster".into(),
        ("pause", _) => format!("add ceph.rook.io/do-not-reconcile to {} Deployment(s)", c.deployments.len()),
        ("resume", _) => format!("remove ceph.rook.io/do-not-reconcile from {} Deployment(s)", c.deployments.len()),
        (a, t) => format!("{a} {t}"),
    }
}

pub fn warnings(ws: &[Warning], s: &Styles) -> String {
    let mut out = String::new();
    if ws.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n{}", "Warnings:".style(s.warn));
    for w in ws {
        let _ = writeln!(out, "  {} {}: {}", "!".style(s.warn), w.code, clean(&w.message));
    }
    out
}

pub fn plan(p: &Plan, s: &Styles) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} CephCluster {}/{}: {}",
        "Plan for".style(s.header),
        clean(&p.namespace),
        clean(&p.cluster),
        describe_change(p)
    );
    if p.noop {
        let _ = writeln!(out, "Nothing to change: the cluster already has this.");
        // A noop can still carry a reason (an OSD under replacement is not resumed).
        out.push_str(&warnings(&p.warnings, s));
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        if p.triggers_reconcile {
            "This change starts an operator reconcile."
        } else if p.summary.restart > 0 {
            "No operator reconcile: the pods below restart because their Deployments are rewritten directly."
        } else {
            "Changing Deployment labels starts no reconcile: nothing restarts now."
        }
        .style(s.dim)
    );
    let mut restarts: Vec<&DaemonPlan> = p.restarts().collect();
    // In the order they go: by step (stable, so Rook's order within a step).
    restarts.sort_by_key(|d| d.step.unwrap_or(u32::MAX));
    if restarts.is_empty() {
        let _ = writeln!(out, "\n{}", "No pod restarts.".style(s.ok));
    } else {
        let _ = writeln!(
            out,
            "\n{} {} pod(s) of {} daemon(s), in this order:",
            "Restarts:".style(s.restart),
            p.summary.restart_pods,
            p.summary.restart
        );
        let mut rows = vec![vec!["STEP".into(), "DAEMON".into(), "POD".into(), "NODE".into(), "IMAGE".into()]];
        let step = |d: &DaemonPlan| match (d.step, d.alongside) {
            (Some(x), true) => format!("{x}+"),
            (Some(x), false) => x.to_string(),
            (None, _) => String::new(),
        };
        for d in &restarts {
            for pod in &d.pods {
                rows.push(vec![
                    step(d),
                    clean(&d.daemon).into_owned(),
                    clean(&pod.name).into_owned(),
                    clean(pod.node.as_deref().unwrap_or("-")).into_owned(),
                    format!(
                        "{} -> {}",
                        clean(d.image_from.as_deref().unwrap_or("?")),
                        clean(d.image_to.as_deref().unwrap_or("?"))
                    ),
                ]);
            }
            if d.pods.is_empty() {
                rows.push(vec![
                    step(d),
                    clean(&d.daemon).into_owned(),
                    "(no pod running)".into(),
                    clean(d.node.as_deref().unwrap_or("-")).into_owned(),
                    format!("-> {}", clean(d.image_to.as_deref().unwrap_or("?"))),
                ]);
            }
        }
        out.push_str(&table(&rows, "  "));
        if restarts.iter().any(|d| d.alongside) {
            let _ = writeln!(
                out,
                "  {}",
                "N+: rolled by its own controller from step N on, alongside the mgr and OSD steps (rook/rook#18367)"
                    .style(s.dim)
            );
        }
    }
    let started: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::Start).collect();
    if !started.is_empty() {
        let _ = writeln!(
            out,
            "\n{} {} OSD(s) at 0 replicas that Rook starts again:",
            "Start:".style(s.restart),
            started.len()
        );
        for d in &started {
            let _ = writeln!(out, "  {}  {}", clean(&d.daemon), clean(d.note.as_deref().unwrap_or("")));
        }
    }
    let held: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::Held).collect();
    if !held.is_empty() {
        let _ = writeln!(out, "\n{} {} daemon(s):", "Held:".style(s.held), held.len());
        let rows: Vec<Vec<String>> = held
            .iter()
            .map(|d| {
                vec![
                    clean(&d.daemon).into_owned(),
                    clean(d.node.as_deref().unwrap_or("-")).into_owned(),
                    clean(d.note.as_deref().unwrap_or("")).into_owned(),
                ]
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    let noted: Vec<&DaemonPlan> = p
        .daemons
        .iter()
        .filter(|d| matches!(d.action, Action::Unchanged | Action::Restart) && d.note.is_some())
        .filter(|d| !(d.action == Action::Restart && d.note.as_deref().is_some_and(|n| n.starts_with("fenced:"))))
        .collect();
    if !noted.is_empty() {
        let _ = writeln!(out, "\n{}", "Notes:".style(s.header));
        for d in noted {
            let _ = writeln!(out, "  {}: {}", clean(&d.daemon), clean(d.note.as_deref().unwrap_or("")));
        }
    }
    let unchanged: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::Unchanged).collect();
    if !unchanged.is_empty() {
        let nodes: BTreeSet<&str> = unchanged.iter().filter_map(|d| d.node.as_deref()).collect();
        let _ = writeln!(
            out,
            "\n{} {} ({} daemon(s) on {} node(s))",
            "Unchanged:".style(s.ok),
            counts_by_type(unchanged.iter().copied()),
            unchanged.len(),
            nodes.len()
        );
    }
    let unmanaged: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::NotManaged).collect();
    if !unmanaged.is_empty() {
        let names: Vec<String> = unmanaged.iter().map(|d| clean(&d.daemon).into_owned()).collect();
        let _ = writeln!(out, "\nNot managed: {} (no container runs a Ceph image of this cluster)", names.join(", "));
    }
    out.push_str(&others(&p.copies, &p.not_handled, s));
    out.push_str(&warnings(&p.warnings, s));
    out
}

/// Deployments that are not daemons, and those not handled: shown, never changed.
fn others(copies: &[crate::model::Copy], not_handled: &[crate::model::NotHandled], s: &Styles) -> String {
    let mut out = String::new();
    if !copies.is_empty() {
        let _ = writeln!(out, "\n{} {} Deployment(s), never changed:", "Not daemons:".style(s.header), copies.len());
        let rows: Vec<Vec<String>> = copies
            .iter()
            .map(|c| {
                vec![
                    clean(&c.deployment).into_owned(),
                    format!("{} of {}", c.kind, clean(c.of.as_deref().unwrap_or("?"))),
                    if c.labelled { "labelled do-not-reconcile".into() } else { String::new() },
                ]
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    if !not_handled.is_empty() {
        let _ = writeln!(out, "\n{} {} Deployment(s):", "Not handled:".style(s.header), not_handled.len());
        let rows: Vec<Vec<String>> = not_handled
            .iter()
            .map(|n| vec![clean(&n.deployment).into_owned(), clean(&n.reason).into_owned()])
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    out
}

/// An empty or missing value, said as such rather than printed as nothing.
fn or_none(v: &str) -> std::borrow::Cow<'_, str> {
    if v.is_empty() { "(none)".into() } else { clean(v) }
}

/// One line: whether this cluster's Rook takes per-type image overrides (README, "What
/// works on which Rook").
fn overrides_line(v: &StatusView) -> String {
    match (v.crd_image_overrides, &v.crd_unreadable) {
        (Some(true), _) => "Image overrides: the CRD has spec.cephVersion.imageOverrides (set TYPE IMAGE works)".into(),
        (Some(false), _) => "Image overrides: not in this CRD (released Rook): per-type images need --strategy fence; \
                             holds, plans and set base work"
            .into(),
        (None, why) => format!(
            "Image overrides: unknown, the CephCluster CRD could not be read ({})",
            clean(why.as_deref().unwrap_or("no answer"))
        ),
    }
}

pub fn status(v: &StatusView, s: &Styles) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}/{}  base image {}",
        "CephCluster".style(s.header),
        clean(&v.namespace),
        clean(&v.cluster),
        or_none(&v.base_image)
    );
    if v.external {
        let _ = writeln!(
            out,
            "{}",
            "External cluster: Rook runs no mon, mgr or osd here; their images are the external cluster's."
                .style(s.held)
        );
    }
    match (&v.detected_image, &v.detected_version) {
        (Some(i), Some(ver)) => {
            let _ = writeln!(out, "Rook detected: {} ({})", clean(i), clean(ver));
        }
        (None, Some(ver)) => {
            let _ = writeln!(out, "Rook detected: Ceph {}", clean(ver));
        }
        _ => {}
    }
    let mut facts = Vec::new();
    if let Some(r) = &v.rook_version {
        facts.push(format!("Rook {}", clean(r)));
    }
    if let Some(h) = &v.health {
        facts.push(format!("health {}", clean(h)));
    }
    facts.push(format!(
        "{} Deployment(s): {} daemon(s), {} not daemon(s), {} not handled",
        v.deployments_read,
        v.types.iter().map(|t| t.daemons).sum::<usize>(),
        v.copies.len(),
        v.not_handled.len()
    ));
    let _ = writeln!(out, "{}", facts.join("; "));
    let _ = writeln!(
        out,
        "CephCluster-level do-not-reconcile: {}",
        if v.cluster_held {
            "yes: mon, mgr and osd reconcile is skipped".style(s.held).to_string()
        } else {
            "no".to_string()
        }
    );
    let _ = writeln!(out, "{}", overrides_line(v));
    let mut rows = vec![vec![
        "TYPE".into(),
        "DESIRED IMAGE".into(),
        "SOURCE".into(),
        "READY".into(),
        "HELD".into(),
        "FENCED".into(),
        "RUNNING".into(),
    ]];
    for t in &v.types {
        let running: Vec<String> = t.running.iter().map(|r| format!("{}x {}", r.pods, clean(&r.image))).collect();
        rows.push(vec![
            type_name(t.dtype).into(),
            clean(&t.desired_image).into_owned(),
            match t.source {
                crate::model::ImageSource::Base => "base".into(),
                crate::model::ImageSource::Override => "override".into(),
            },
            if t.not_running_pods > 0 {
                format!("{}/{} (+{} not running)", t.ready_pods, t.pods, t.not_running_pods)
            } else {
                format!("{}/{}", t.ready_pods, t.pods)
            },
            t.held.to_string(),
            t.fenced.to_string(),
            if running.is_empty() { "-".into() } else { running.join(", ") },
        ]);
    }
    out.push('\n');
    if v.types.is_empty() {
        let _ = writeln!(out, "No Ceph daemon Deployments in this namespace.");
    } else {
        out.push_str(&table(&rows, ""));
    }
    if !v.held.is_empty() {
        let _ = writeln!(out, "\n{} {} daemon(s):", "Held:".style(s.held), v.held.len());
        let rows: Vec<Vec<String>> = v
            .held
            .iter()
            .map(|h| {
                vec![
                    clean(&h.daemon).into_owned(),
                    clean(h.node.as_deref().unwrap_or("-")).into_owned(),
                    clean(h.image.as_deref().unwrap_or("?")).into_owned(),
                    clean(&h.reason).into_owned(),
                ]
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    if !v.fenced.is_empty() {
        let _ = writeln!(out, "\n{} {} daemon(s), pinned by this plugin:", "Fenced:".style(s.restart), v.fenced.len());
        let rows: Vec<Vec<String>> = v
            .fenced
            .iter()
            .map(|f| {
                vec![
                    clean(&f.daemon).into_owned(),
                    clean(f.node.as_deref().unwrap_or("-")).into_owned(),
                    clean(&f.image).into_owned(),
                    format!("(was {})", clean(f.replaced_image.as_deref().unwrap_or("?"))),
                    format!("for {}", f.age.as_deref().unwrap_or("?")),
                ]
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    if !v.ceph_versions.is_empty() {
        let _ = writeln!(out, "\nCeph versions (status.ceph.versions):");
        for (t, lines) in &v.ceph_versions {
            for (line, n) in lines {
                let _ = writeln!(out, "  {:<14} {:>5}  {}", clean(t), n, clean(line));
            }
        }
    }
    out.push_str(&others(&v.copies, &v.not_handled, s));
    out.push_str(&warnings(&v.warnings, s));
    out
}
