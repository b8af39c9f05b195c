//! Text for people: the restart plan and the status, summarised at scale (every restarting
//! pod is listed; unchanged daemons are counted by type). Renderers take `&Styles` and
//! return strings, so tests compare plain text. Beside them: the dry run's writes
//! (`writes`), a run's journal and results (`journal`), the line after a patch
//! (`applied`), the staged upgrade (`upgrade`, `upgrade_run`), `version` and Ceph's
//! answers (`ceph`). Nothing here prints; the commands write what these return.

pub mod applied;
pub mod ceph;
pub mod journal;
pub mod upgrade;
pub mod upgrade_run;
pub mod version;
pub mod writes;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use owo_colors::OwoColorize;

use crate::model::daemon::DaemonType;
use crate::output::{Styles, clean};
use crate::plan::status::StatusView;
use crate::plan::{Action, DaemonPlan, Plan, Warning};

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
            "set the base image (spec.cephVersion.image) to {to} (was {}); every type without an image override \
             follows it, types with an override stay on their override",
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

/// Every line of `text` cut to `width` columns with an ellipsis (the editor's screens);
/// `None` leaves it as it is. Strings in it were sanitised when rendered: this only cuts.
pub fn fit_lines(text: &str, width: Option<usize>) -> String {
    let Some(w) = width else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if dialoguer::console::measure_text_width(line) > w {
            out.push_str(&dialoguer::console::truncate_str(line, w.max(2), "…"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Lists longer than this many rows are summarised by type and node in text output; `-o wide`
/// (and JSON/YAML) lists every row.
pub const LIST_MAX: usize = 20;

/// The plan as text, lists that grow with the cluster summarised (see `plan_view`).
pub fn plan(p: &Plan, s: &Styles) -> String {
    plan_view(p, s, false)
}

/// The plan as text: what changes, the restarts in order, what is held, unchanged or not
/// managed, the warnings, and last, right above any prompt, its totals. With `wide` every
/// restarting pod and held daemon is listed; without, lists longer than `LIST_MAX` rows are
/// summarised by type and node with counts.
pub fn plan_view(p: &Plan, s: &Styles, wide: bool) -> String {
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
        // A noop can still carry a reason (an OSD under replacement is not resumed).
        out.push_str(&warnings(&p.warnings, s));
        let _ = writeln!(out, "{}", noop_line(p));
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        if p.triggers_reconcile {
            "This change starts an operator reconcile."
        } else if p.summary.restart > 0 {
            "No operator reconcile: the pods below restart because their Deployments are rewritten directly."
        } else if p.warnings.iter().any(|w| w.code == "unsupported-release") {
            "Rook's version check refuses the new spec image: its reconcile stops there and nothing restarts."
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
        let pod_rows: usize = restarts.iter().map(|d| d.pods.len().max(1)).sum();
        if !wide && pod_rows > LIST_MAX {
            out.push_str(&restart_summary(&restarts));
            let _ = writeln!(
                out,
                "  {}",
                format!("{pod_rows} pods summarised by step, type and node: every pod with -o wide (or -o json)")
                    .style(s.dim)
            );
        } else {
            out.push_str(&restart_rows(&restarts));
        }
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
        if !wide && started.len() > LIST_MAX {
            out.push_str(&by_type_and_node(started.iter().map(|d| (d.dtype, d.node.as_deref()))));
        } else {
            for d in &started {
                let _ = writeln!(out, "  {}  {}", clean(&d.daemon), clean(d.note.as_deref().unwrap_or("")));
            }
        }
    }
    let held: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::Held).collect();
    if !held.is_empty() {
        let _ = writeln!(out, "\n{} {} daemon(s):", "Held:".style(s.held), held.len());
        if !wide && held.len() > LIST_MAX {
            out.push_str(&by_type_and_node(held.iter().map(|d| (d.dtype, d.node.as_deref()))));
            out.push_str(&same_notes(held.iter().copied(), s));
        } else {
            let mut rows = vec![vec!["DAEMON".into(), "NODE".into(), "WHY".into()]];
            rows.extend(held.iter().map(|d| {
                vec![
                    clean(&d.daemon).into_owned(),
                    node_list(&d.nodes, d.node.as_deref()),
                    clean(d.note.as_deref().unwrap_or("")).into_owned(),
                ]
            }));
            out.push_str(&table(&rows, "  "));
        }
    }
    let noted: Vec<&DaemonPlan> = p
        .daemons
        .iter()
        .filter(|d| matches!(d.action, Action::Unchanged | Action::Restart) && d.note.is_some())
        .filter(|d| !(d.action == Action::Restart && d.note.as_deref().is_some_and(|n| n.starts_with("fenced:"))))
        .collect();
    if !noted.is_empty() {
        let _ = writeln!(out, "\n{}", "Notes:".style(s.header));
        if !wide && noted.len() > LIST_MAX {
            out.push_str(&same_notes(noted.iter().copied(), s));
        } else {
            for d in noted {
                let _ = writeln!(out, "  {}: {}", clean(&d.daemon), clean(d.note.as_deref().unwrap_or("")));
            }
        }
    }
    let unchanged: Vec<&DaemonPlan> = p.daemons.iter().filter(|d| d.action == Action::Unchanged).collect();
    if !unchanged.is_empty() {
        let nodes: BTreeSet<&str> =
            unchanged.iter().flat_map(|d| d.nodes.iter().map(String::as_str).chain(d.node.as_deref())).collect();
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
        let _ = writeln!(
            out,
            "\nNot managed: {} (no container runs a Ceph image of this cluster)",
            some_of(&names, if wide { usize::MAX } else { LIST_MAX })
        );
    }
    out.push_str(&others(&p.copies, &p.not_handled, s));
    out.push_str(&warnings(&p.warnings, s));
    out.push_str(&plan_totals(p, s));
    out
}

/// `text` (a rendered plan) with `extra` (the writes of a dry run, say) put before its
/// totals, so the totals stay the last line.
pub fn before_totals(text: &str, extra: &str) -> String {
    let body = text.trim_end_matches('\n');
    match body.rsplit_once("\n\n") {
        Some((head, totals)) if totals.contains("Total:") => format!("{head}\n\n{extra}\n{totals}\n"),
        _ => format!("{text}\n{extra}"),
    }
}

/// The last line of a plan, right above any prompt: what it does in numbers.
fn plan_totals(p: &Plan, s: &Styles) -> String {
    let m = &p.summary;
    let mut parts = vec![format!("{} pod(s) of {} daemon(s) restart", m.restart_pods, m.restart)];
    if m.start > 0 {
        parts.push(format!("{} start", m.start));
    }
    parts.push(format!("{} held", m.held));
    parts.push(format!("{} unchanged", m.unchanged));
    if m.not_managed > 0 {
        parts.push(format!("{} not managed", m.not_managed));
    }
    if !p.warnings.is_empty() {
        parts.push(format!("{} warning(s)", p.warnings.len()));
    }
    format!("\n{} {}\n", "Total:".style(s.header), parts.join(", "))
}

/// What a plan that changes nothing says, in the terms of its change.
fn noop_line(p: &Plan) -> String {
    let n = p.change.deployments.len();
    match p.change.action {
        "pause" if p.change.target != "cluster" => {
            format!("Nothing to change: the {n} Deployment(s) already carry ceph.rook.io/do-not-reconcile.")
        }
        "resume" if p.change.target != "cluster" => {
            format!("Nothing to change: none of the {n} Deployment(s) carries ceph.rook.io/do-not-reconcile.")
        }
        _ => "Nothing to change: the cluster already has this.".into(),
    }
}

/// Every restarting pod, one row each, in the order they go.
fn restart_rows(restarts: &[&DaemonPlan]) -> String {
    let mut rows = vec![vec!["STEP".into(), "DAEMON".into(), "POD".into(), "NODE".into(), "IMAGE".into()]];
    for d in restarts {
        for pod in &d.pods {
            rows.push(vec![
                step_of(d),
                clean(&d.daemon).into_owned(),
                clean(&pod.name).into_owned(),
                clean(pod.node.as_deref().unwrap_or("-")).into_owned(),
                image_move(d),
            ]);
        }
        if d.pods.is_empty() {
            rows.push(vec![
                step_of(d),
                clean(&d.daemon).into_owned(),
                "(no pod running)".into(),
                node_list(&d.nodes, d.node.as_deref()),
                format!("-> {}", clean(d.image_to.as_deref().unwrap_or("?"))),
            ]);
        }
    }
    table(&rows, "  ")
}

fn step_of(d: &DaemonPlan) -> String {
    match (d.step, d.alongside) {
        (Some(x), true) => format!("{x}+"),
        (Some(x), false) => x.to_string(),
        (None, _) => String::new(),
    }
}

/// `from -> to`; for a daemon whose main container runs an image of its own, that image
/// stays and only its Ceph parts move: `own (stays; Ceph from -> to)`.
fn image_move(d: &DaemonPlan) -> String {
    let ceph =
        format!("{} -> {}", clean(d.image_from.as_deref().unwrap_or("?")), clean(d.image_to.as_deref().unwrap_or("?")));
    match &d.own_image {
        Some(own) => format!("{} (stays; Ceph {ceph})", clean(own)),
        None => ceph,
    }
}

/// Restarts grouped by type and image move, in order: the steps they take, how many
/// daemons and pods, on how many nodes.
fn restart_summary(restarts: &[&DaemonPlan]) -> String {
    struct Group {
        first: String,
        last: String,
        dtype: DaemonType,
        image: String,
        daemons: usize,
        pods: usize,
        nodes: BTreeSet<String>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for d in restarts {
        let image = image_move(d);
        let step = step_of(d);
        let nodes = d.pods.iter().filter_map(|p| p.node.clone()).chain(d.node.clone());
        match groups.iter_mut().find(|g| g.dtype == d.dtype && g.image == image) {
            Some(g) => {
                g.last = step;
                g.daemons += 1;
                g.pods += d.pods.len();
                g.nodes.extend(nodes);
            }
            None => groups.push(Group {
                first: step.clone(),
                last: step,
                dtype: d.dtype,
                image,
                daemons: 1,
                pods: d.pods.len(),
                nodes: nodes.collect(),
            }),
        }
    }
    let mut rows =
        vec![vec!["STEPS".into(), "TYPE".into(), "DAEMONS".into(), "PODS".into(), "NODES".into(), "IMAGE".into()]];
    for g in groups {
        rows.push(vec![
            if g.first == g.last { g.first } else { format!("{}-{}", g.first, g.last) },
            type_name(g.dtype).into(),
            g.daemons.to_string(),
            g.pods.to_string(),
            g.nodes.len().to_string(),
            g.image,
        ]);
    }
    table(&rows, "  ")
}

/// A daemon's nodes for a NODE column: all of them, comma-separated (an RGW of several
/// instances), else its one node, else `-`; sanitised.
fn node_list(nodes: &[String], node: Option<&str>) -> String {
    if nodes.is_empty() { clean(node.unwrap_or("-")).into_owned() } else { clean(&nodes.join(",")).into_owned() }
}

/// Daemons counted by type, with the nodes they are on (the busiest first, a few named).
fn by_type_and_node<'a>(items: impl Iterator<Item = (DaemonType, Option<&'a str>)>) -> String {
    let mut m: BTreeMap<DaemonType, BTreeMap<&str, usize>> = BTreeMap::new();
    for (t, node) in items {
        *m.entry(t).or_default().entry(node.unwrap_or("-")).or_default() += 1;
    }
    let mut rows = vec![vec!["TYPE".into(), "DAEMONS".into(), "NODES".into(), "BY NODE".into()]];
    for (t, nodes) in m {
        let total: usize = nodes.values().sum();
        let mut by: Vec<(&str, usize)> = nodes.iter().map(|(n, c)| (*n, *c)).collect();
        by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let named: Vec<String> = by.iter().map(|(n, c)| format!("{} ({c})", clean(n))).collect();
        rows.push(vec![type_name(t).into(), total.to_string(), by.len().to_string(), some_of(&named, 3)]);
    }
    table(&rows, "  ")
}

/// Notes shared by many daemons, each said once with how many it concerns.
fn same_notes<'a>(ds: impl Iterator<Item = &'a DaemonPlan>, s: &Styles) -> String {
    let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for d in ds {
        if let Some(n) = d.note.as_deref() {
            m.entry(n).or_default().push(&d.daemon);
        }
    }
    let mut out = String::new();
    for (note, daemons) in m {
        let names: Vec<String> = daemons.iter().map(|d| clean(d).into_owned()).collect();
        let _ =
            writeln!(out, "  {} {}: {}", some_of(&names, 3), format!("({})", names.len()).style(s.dim), clean(note));
    }
    out
}

/// The first `max` names, then how many more.
fn some_of(names: &[String], max: usize) -> String {
    crate::output::some_of(names, max, max, ", ", |n| format!(", ... and {n} more"))
}

/// Deployments that are not daemons, and those not handled: shown, never changed.
fn others(copies: &[crate::model::Copy], not_handled: &[crate::model::NotHandled], s: &Styles) -> String {
    let mut out = String::new();
    if !copies.is_empty() {
        let _ = writeln!(out, "\n{} {} Deployment(s), never changed:", "Not daemons:".style(s.header), copies.len());
        let mut rows = vec![vec!["DEPLOYMENT".into(), "WHAT".into(), "LABEL".into()]];
        rows.extend(copies.iter().map(|c| {
            vec![
                clean(&c.deployment).into_owned(),
                format!("{} of {}", c.kind, clean(c.of.as_deref().unwrap_or("?"))),
                if c.labelled { "do-not-reconcile".into() } else { "-".into() },
            ]
        }));
        out.push_str(&table(&rows, "  "));
    }
    if !not_handled.is_empty() {
        let _ = writeln!(out, "\n{} {} Deployment(s):", "Not handled:".style(s.header), not_handled.len());
        let mut rows = vec![vec!["DEPLOYMENT".into(), "WHY".into()]];
        rows.extend(not_handled.iter().map(|n| vec![clean(&n.deployment).into_owned(), clean(&n.reason).into_owned()]));
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

/// The status as text, long lists summarised (see `status_view`).
pub fn status(v: &StatusView, s: &Styles) -> String {
    status_view(v, s, false)
}

/// The status as text: the cluster, one row per daemon type (every header over its
/// column), held and fenced daemons, Ceph's versions, warnings, and last its totals. With
/// `wide` every held and fenced daemon is listed; without, more than `LIST_MAX` are
/// summarised by type and node.
pub fn status_view(v: &StatusView, s: &Styles, wide: bool) -> String {
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
        // The age only where it says something: Rook refreshes it about every 60 s.
        match v.health_age_seconds.filter(|a| *a > 120) {
            Some(a) => {
                facts.push(format!("health {} (last checked {} ago)", clean(h), crate::model::support::age_text(a)))
            }
            None => facts.push(format!("health {}", clean(h))),
        }
    } else if !v.external {
        facts.push("health unknown (no status.ceph)".into());
    }
    facts.push(format!(
        "{} Deployment(s): {} daemon(s), {} not daemon(s), {} not handled",
        v.deployments_read,
        v.types.iter().map(|t| t.daemons).sum::<usize>(),
        v.copies.len(),
        v.not_handled.len()
    ));
    let _ = writeln!(out, "{}", facts.join("; "));
    for hc in &v.health_checks {
        let _ = writeln!(out, "  {} ({}): {}", clean(&hc.code), clean(&hc.severity), clean(&hc.message));
    }
    if let Some(c) = &v.ceph {
        out.push_str(&ceph::answer_lines(c, v.health.as_deref()));
    }
    if let Some(r) = &v.rook_rollout {
        let _ = writeln!(
            out,
            "{}",
            format!(
                "Rook is rolling out {}: {} of {} daemon(s) that follow the spec image run it (or the operator has not \
                 reconciled yet)",
                clean(&r.image),
                r.on_target,
                r.total
            )
            .style(s.held)
        );
    }
    let settled = matches!(v.phase.as_deref(), None | Some("Ready") | Some("Connected"));
    if !settled || v.state.as_deref() == Some("Error") {
        let mut line = format!("Rook: phase {}", clean(v.phase.as_deref().unwrap_or("unknown")));
        if let Some(st) = &v.state {
            line.push_str(&format!(", state {}", clean(st)));
        }
        if let Some(m) = &v.message {
            line.push_str(&format!(": {}", clean(m)));
        }
        let _ = writeln!(out, "{}", line.style(s.held));
    }
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
    if let Some(u) = &v.upgrade {
        let _ = if u.phase == "aborted" {
            writeln!(
                out,
                "Upgrade to {} aborted at stage {}: its holds (shown as held below) and pins stay until a new `upgrade \
                 IMAGE` takes them over or you release them (`upgrade status`)",
                clean(&u.image),
                clean(&u.stage)
            )
        } else {
            writeln!(
                out,
                "Upgrade under way: to {}, {} at stage {} (`upgrade status`); its holds show as held below",
                clean(&u.image),
                clean(&u.phase),
                clean(&u.stage)
            )
        };
    }
    let mut rows = vec![vec![
        "TYPE".into(),
        "DESIRED IMAGE".into(),
        "SOURCE".into(),
        "READY".into(),
        "HELD".into(),
        "FENCED".into(),
        "RUNNING IMAGE (PODS)".into(),
    ]];
    for t in &v.types {
        // One column: the image with its pod count, so the header names every column.
        let running: Vec<String> = t.running.iter().map(|r| format!("{} ({})", clean(&r.image), r.pods)).collect();
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
        if !wide && v.held.len() > LIST_MAX {
            out.push_str(&by_type_and_node(v.held.iter().map(|h| (type_of(&h.daemon), h.node.as_deref()))));
            let _ = writeln!(out, "  {}", "every held daemon with -o wide (or -o json)".style(s.dim));
        } else {
            let mut rows = vec![vec!["DAEMON".into(), "NODE".into(), "IMAGE".into(), "WHY".into()]];
            rows.extend(v.held.iter().map(|h| {
                let version = h.version.as_deref().map_or_else(String::new, |v| format!(" (Ceph {v})"));
                vec![
                    clean(&h.daemon).into_owned(),
                    node_list(&h.nodes, h.node.as_deref()),
                    clean(&format!("{}{version}", h.image.as_deref().unwrap_or("?"))).into_owned(),
                    clean(&h.reason).into_owned(),
                ]
            }));
            out.push_str(&table(&rows, "  "));
        }
    }
    if !v.fenced.is_empty() {
        let _ = writeln!(out, "\n{} {} daemon(s), pinned by this plugin:", "Fenced:".style(s.restart), v.fenced.len());
        if !wide && v.fenced.len() > LIST_MAX {
            out.push_str(&by_type_and_node(v.fenced.iter().map(|f| (type_of(&f.daemon), f.node.as_deref()))));
            let _ = writeln!(out, "  {}", "every fenced daemon with -o wide (or -o json)".style(s.dim));
        } else {
            let mut rows =
                vec![vec!["DAEMON".into(), "NODE".into(), "IMAGE".into(), "WAS".into(), "FENCED FOR".into()]];
            rows.extend(v.fenced.iter().map(|f| {
                vec![
                    clean(&f.daemon).into_owned(),
                    node_list(&f.nodes, f.node.as_deref()),
                    clean(&f.image).into_owned(),
                    clean(f.replaced_image.as_deref().unwrap_or("?")).into_owned(),
                    f.age.as_deref().unwrap_or("?").to_string(),
                ]
            }));
            out.push_str(&table(&rows, "  "));
        }
    }
    out.push_str(&not_running(&v.not_running, s, wide));
    if !v.ceph_versions.is_empty() {
        let _ = writeln!(out, "\nCeph versions (status.ceph.versions):");
        let mut rows = vec![vec!["TYPE".into(), "DAEMONS".into(), "VERSION".into()]];
        for (t, lines) in &v.ceph_versions {
            for (line, n) in lines {
                rows.push(vec![clean(t).into_owned(), n.to_string(), clean(line).into_owned()]);
            }
        }
        out.push_str(&table(&rows, "  "));
    }
    out.push_str(&others(&v.copies, &v.not_handled, s));
    out.push_str(&warnings(&v.warnings, s));
    out.push_str(&status_totals(v, s));
    out
}

/// "Not running:": per node, the daemons with no pod Running and Ready there, and whether
/// the node looks down; at scale a few names per node (every one with -o wide).
fn not_running(groups: &[crate::plan::down::NotRunning], s: &Styles, wide: bool) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let n: usize = groups.iter().map(|g| g.daemons.len()).sum();
    let mut out = format!("\n{} {n} daemon(s), by node:\n", "Not running:".style(s.held));
    let shown = if wide { usize::MAX } else { LIST_MAX };
    for g in groups.iter().take(shown) {
        let ids = if wide {
            g.daemons.join(", ")
        } else {
            crate::output::some_of(&g.daemons, 8, 6, ", ", |k| format!(" and {k} more"))
        };
        let down = if g.node_down { " (looks down)" } else { "" };
        let _ = writeln!(out, "  {}{down}: {}", clean(&g.node), clean(&ids));
    }
    if groups.len() > shown {
        let _ = writeln!(out, "  and {} more node(s); every one with -o wide (or -o json)", groups.len() - shown);
    }
    out
}

/// The daemon type of a daemon id as the view names it (`rbd-mirror.a`).
fn type_of(daemon: &str) -> DaemonType {
    daemon.split_once('.').and_then(|(t, _)| t.parse().ok()).unwrap_or(DaemonType::Osd)
}

/// The last line of `status`: the cluster in numbers.
fn status_totals(v: &StatusView, s: &Styles) -> String {
    let daemons: usize = v.types.iter().map(|t| t.daemons).sum();
    let pods: usize = v.types.iter().map(|t| t.pods).sum();
    let ready: usize = v.types.iter().map(|t| t.ready_pods).sum();
    let drifted: usize = v.types.iter().map(|t| t.drifted).sum();
    let mut parts = vec![
        format!("{daemons} daemon(s) of {} type(s)", v.types.len()),
        format!("{ready}/{pods} pod(s) ready"),
        format!("{} held", v.held.len()),
        format!("{} fenced", v.fenced.len()),
        format!("{drifted} drifted"),
    ];
    if !v.warnings.is_empty() {
        parts.push(format!("{} warning(s)", v.warnings.len()));
    }
    format!("\n{} {}\n", "Total:".style(s.header), parts.join(", "))
}

/// An error as the last word, for stderr (the caller writes it through the sanitising
/// writer, `output::note`: an error quotes names and server messages).
#[must_use]
pub fn report(e: &crate::error::Error, styles: &crate::output::Styles) -> String {
    use crate::error::Error;
    use owo_colors::OwoColorize;
    let text = e.to_string();
    match e {
        Error::Api(_) => text,
        Error::Declined => format!("{}", text.style(styles.warn)),
        Error::Interrupted => "\ninterrupted".to_string(),
        _ => format!("{} {text}", "error:".style(styles.error)),
    }
}
