//! The interactive editor (`kubectl ceph-image` on a terminal, and `demo`): pick a daemon
//! type, stage image changes and holds, see one combined restart plan, then submit it (one
//! CephCluster patch plus the label patches) or discard it. Esc goes back, q quits, Ctrl-C
//! exits 130 with the cursor restored. Nothing is sent that was not confirmed after its
//! plan was shown.

use dialoguer::console::Term;
use dialoguer::{Input, MultiSelect, Select};

use crate::cluster::read::{self, Support};
use crate::commands::Ctx;
use crate::daemon::{DaemonType, HoldScope};
use crate::error::{Error, Result};
use crate::model::Snapshot;
use crate::output::clean;
use crate::plan::{self, Change, Target};
use crate::{image, render, status};

/// Run a blocking prompt without stalling the runtime; map dialoguer's errors.
fn ask<T>(f: impl FnOnce() -> dialoguer::Result<T>) -> Result<T> {
    tokio::task::block_in_place(f).map_err(|e| match e {
        dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("terminal: {other}")),
    })
}

fn type_line(t: &status::TypeStatus) -> String {
    let running: Vec<String> = t.running.iter().map(|r| format!("{}x {}", r.pods, clean(&r.image))).collect();
    let source = match t.source {
        crate::model::ImageSource::Base => "base",
        crate::model::ImageSource::Override => "override",
    };
    format!(
        "{:<14} {} ({source})  | runs {}  | held {}{}",
        t.dtype.ceph_name(),
        clean(&t.desired_image),
        running.join(", "),
        t.held,
        if t.fenced > 0 { format!(", fenced {}", t.fenced) } else { String::new() }
    )
}

/// Replace a staged change with the same target, else add it.
fn stage(staged: &mut Vec<Change>, c: Change) {
    let same = |a: &Change| match (a, &c) {
        (Change::SetImage { target: x, .. }, Change::SetImage { target: y, .. }) => x == y,
        (Change::SetImage { target: Target::Type(x), .. }, Change::Unset(y))
        | (Change::Unset(x), Change::SetImage { target: Target::Type(y), .. })
        | (Change::Unset(x), Change::Unset(y)) => x == y,
        _ => false,
    };
    staged.retain(|a| !same(a));
    staged.push(c);
}

fn describe(c: &Change) -> String {
    match c {
        Change::SetImage { target: Target::Base, image } => format!("base image -> {image}"),
        Change::SetImage { target: Target::Type(t), image } => format!("{t} override -> {image}"),
        Change::Unset(t) => format!("clear the {t} override"),
        Change::Pause(d) => format!("hold {}", d.join(", ")),
        Change::Resume(d) => format!("release {}", d.join(", ")),
        other => format!("{other:?}"),
    }
}

/// Pick an image: one already in use, or a typed one validated as it is typed.
fn choose_image(term: &Term, snap: &Snapshot, what: &str) -> Result<Option<String>> {
    let mut in_use: Vec<String> = snap.daemons.iter().flat_map(|d| d.ceph_images.clone()).collect();
    in_use.push(snap.cluster.base_image.clone());
    in_use.extend(snap.cluster.overrides.values().cloned());
    in_use.sort();
    in_use.dedup();
    let mut items: Vec<String> = in_use.iter().map(|i| clean(i).into_owned()).collect();
    items.push("Type an image...".into());
    let prompt = format!("Image for {what} (Esc: back)");
    let Some(i) = ask(|| {
        Select::new().report(false).with_prompt(&prompt).items(&items).default(items.len() - 1).interact_on_opt(term)
    })?
    else {
        return Ok(None);
    };
    if i < in_use.len() {
        return Ok(Some(in_use[i].clone()));
    }
    let typed: String = ask(|| {
        Input::<String>::new()
            .report(false)
            .with_prompt(format!("Image for {what}, e.g. quay.io/ceph/ceph:v19.2.3 (empty: back)"))
            .allow_empty(true)
            .validate_with(|s: &String| if s.is_empty() { Ok(()) } else { image::parse(s).map(|_| ()) })
            .interact_text_on(term)
    })?;
    Ok((!typed.is_empty()).then_some(typed))
}

/// Pick daemons of a type: a filter by id or node first, so thousands of OSDs stay usable;
/// then a multi-select of what matched (space toggles, a toggles all shown).
fn choose_daemons(term: &Term, snap: &Snapshot, t: DaemonType, labelled: bool) -> Result<Option<Vec<String>>> {
    let filter: String = ask(|| {
        Input::<String>::new()
            .report(false)
            .with_prompt(format!("Filter {t} daemons by id or node (empty: all)"))
            .allow_empty(true)
            .interact_text_on(term)
    })?;
    let matches: Vec<&crate::model::Daemon> = snap
        .daemons
        .iter()
        .filter(|d| d.id.dtype == t && d.labelled == labelled && !(labelled && d.under_replacement))
        .filter(|d| {
            filter.is_empty()
                || d.id.to_string().contains(&filter)
                || d.node.as_deref().is_some_and(|n| n.contains(&filter))
        })
        .collect();
    if matches.is_empty() {
        let _ = term.write_line(&format!("No {t} daemon matches {filter:?}."));
        return Ok(None);
    }
    let items: Vec<String> = matches
        .iter()
        .map(|d| {
            format!(
                "{:<12} {:<12} {}",
                clean(&d.id.to_string()),
                clean(d.node.as_deref().unwrap_or("-")),
                clean(d.image.as_deref().unwrap_or("?"))
            )
        })
        .collect();
    let prompt = format!(
        "{} daemons to {} (space: toggle, a: all shown, enter: done, Esc: back)",
        matches.len(),
        if labelled { "release" } else { "hold" }
    );
    let Some(picked) = ask(|| {
        MultiSelect::new().report(false).with_prompt(&prompt).items(&items).max_length(15).interact_on_opt(term)
    })?
    else {
        return Ok(None);
    };
    Ok((!picked.is_empty()).then(|| picked.into_iter().map(|i| matches[i].deployment.clone()).collect()))
}

pub async fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    let term = Term::stderr();
    let support = read::overrides_support(&conn.kube).await.unwrap_or(Support::Unknown);
    let mut staged: Vec<Change> = Vec::new();
    // Read again only after something may have been sent: staging changes nothing.
    let mut snap = read::snapshot(&conn.kube, &ns, ctx.settings.cluster.as_deref()).await?;
    let mut stale = false;
    loop {
        if stale {
            snap = read::snapshot(&conn.kube, &ns, ctx.settings.cluster.as_deref()).await?;
            stale = false;
        }
        let view = status::view(&snap, jiff::Timestamp::now());
        let mut items: Vec<String> = view.types.iter().map(type_line).collect();
        items.push(format!("Base image (spec.cephVersion.image): {}", clean(&view.base_image)));
        items.push(format!("Review and submit staged changes ({})", staged.len()));
        if !staged.is_empty() {
            items.push("Discard staged changes".into());
        }
        items.push("Quit".into());
        let header = format!("CephCluster {}/{} (Esc/q: quit)", clean(&ns), clean(&snap.cluster.name));
        let Some(i) = ask(|| {
            Select::new()
                .report(false)
                .with_prompt(&header)
                .items(&items)
                .default(0)
                .max_length(20)
                .interact_on_opt(&term)
        })?
        else {
            break;
        };
        let n = view.types.len();
        if i < n {
            stale = type_menu(ctx, &term, &snap, &view.types[i], support, &mut staged).await?;
        } else if i == n {
            if let Some(img) = choose_image(&term, &snap, "every type without an override")? {
                stage(&mut staged, Change::SetImage { target: Target::Base, image: img });
            }
        } else if i == n + 1 {
            if staged.is_empty() {
                let _ = term.write_line("Nothing staged yet: choose a daemon type to change.");
                continue;
            }
            if review_and_submit(ctx, &conn, &term, &snap, &staged).await? {
                staged.clear();
            }
            stale = true;
        } else if !staged.is_empty() && i == n + 2 {
            staged.clear();
            let _ = term.write_line("Staged changes discarded; nothing was sent.");
        } else {
            break;
        }
    }
    if !staged.is_empty() {
        let _ = term.write_line(&format!("Quit: {} staged change(s) discarded; nothing was sent.", staged.len()));
    }
    Ok(0)
}

async fn type_menu(
    ctx: &mut Ctx<'_>,
    term: &Term,
    snap: &Snapshot,
    t: &status::TypeStatus,
    support: Support,
    staged: &mut Vec<Change>,
) -> Result<bool> {
    // true when something was sent (a fence is applied at once)
    let dt = t.dtype;
    let mut actions: Vec<(&str, String)> = vec![("set", format!("Set the {dt} image..."))];
    if snap.cluster.overrides.contains_key(dt.key()) {
        actions.push(("unset", format!("Clear the {dt} override (follow the base image)")));
    }
    if !matches!(dt.hold_scope(), HoldScope::NotHonoured) {
        actions.push(("hold", format!("Hold {dt} daemons (do-not-reconcile)...")));
    }
    if snap.daemons.iter().any(|d| d.id.dtype == dt && d.labelled) {
        actions.push(("release", format!("Release held {dt} daemons...")));
    }
    actions.push(("back", "Back".into()));
    let labels: Vec<&String> = actions.iter().map(|(_, l)| l).collect();
    let prompt = format!("{} (Esc: back)", type_line(t));
    let Some(i) =
        ask(|| Select::new().report(false).with_prompt(&prompt).items(&labels).default(0).interact_on_opt(term))?
    else {
        return Ok(false);
    };
    match actions[i].0 {
        "set" if support == Support::No => {
            fence_offer(ctx, term, snap, dt).await?;
            return Ok(true);
        }
        "set" => {
            if let Some(img) = choose_image(term, snap, &format!("{dt} (imageOverrides.{dt})"))? {
                stage(staged, Change::SetImage { target: Target::Type(dt), image: img });
            }
        }
        "unset" => stage(staged, Change::Unset(dt)),
        "hold" => {
            if let Some(ds) = choose_daemons(term, snap, dt, false)? {
                stage(staged, Change::Pause(ds));
            }
        }
        "release" => {
            if let Some(ds) = choose_daemons(term, snap, dt, true)? {
                stage(staged, Change::Resume(ds));
            }
        }
        _ => {}
    }
    Ok(false)
}

/// Released Rook: an override would be dropped. The fence is offered, explained, never
/// chosen silently; it is applied at once (its own plan and confirmation), not staged.
async fn fence_offer(ctx: &mut Ctx<'_>, term: &Term, snap: &Snapshot, dt: DaemonType) -> Result<()> {
    let _ = term.write_line(&format!(
        "This cluster's CephCluster CRD has no spec.cephVersion.imageOverrides (released Rook): the API server \
         would silently drop a {dt} override. The fence strategy instead labels the {dt} Deployments \
         do-not-reconcile and rewrites their Ceph images; they then miss the operator's updates until unfenced."
    ));
    if plan::check_fenceable(dt).is_err() {
        let _ = term.write_line(&format!("Rook does not honour the label on {dt}: it cannot be fenced either."));
        return Ok(());
    }
    let choices = [format!("Pin {dt} with the fence strategy..."), "Back".to_string()];
    let Some(0) = ask(|| {
        Select::new()
            .report(false)
            .with_prompt("Per-daemon image on released Rook")
            .items(&choices)
            .default(1)
            .interact_on_opt(term)
    })?
    else {
        return Ok(());
    };
    if let Some(img) = choose_image(term, snap, &format!("{dt} (fence)"))? {
        match crate::commands::fence::run(ctx, Change::Fence { dtype: dt, image: img, batching: Default::default() })
            .await
        {
            Ok(_) | Err(Error::Declined) => {}
            Err(e) => {
                let _ = term.write_line(&format!("error: {e}"));
            }
        }
    }
    Ok(())
}

/// Show the combined plan; on a yes, its writes through the one executor: holds first, the
/// CephCluster merge patch (resourceVersion precondition), releases last. True when done.
async fn review_and_submit(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    term: &Term,
    snap: &Snapshot,
    staged: &[Change],
) -> Result<bool> {
    let _ = term.write_line("Staged:");
    for c in staged {
        let _ = term.write_line(&format!("  - {}", clean(&describe(c))));
    }
    let p = plan::plan_many(snap, staged).map_err(|e| Error::usage(e.to_string()))?;
    let _ = term.write_str(&render::plan(&p, &ctx.settings.err_styles));
    if p.noop {
        return Ok(true);
    }
    crate::commands::change::check_owner(snap, staged, ctx.settings.force)?;
    let q = format!("Submit these changes to CephCluster {}/{}?", snap.cluster.namespace, snap.cluster.name);
    match ctx.confirm(&q) {
        Ok(()) => {}
        Err(Error::Declined) => {
            let _ = term.write_line("Not submitted; the changes stay staged.");
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    // Holds land and are verified before the CephCluster patch that starts the rollout;
    // releases after it (`writes::build`).
    let writes = crate::writes::build(snap, staged, &p, "");
    let target = crate::commands::exec_target(conn, &p, false, ctx.settings);
    let journal = crate::execute::run(&target, &writes).await;
    crate::execute::forget_last();
    if journal.all_done() {
        let _ = term.write_str(&crate::commands::labels::results_text(&journal, false));
        return Ok(true);
    }
    if journal.interrupted.is_some() {
        return Err(crate::execute::failure(&journal, "the editor: submit the same changes again"));
    }
    let _ = term.write_str(&journal.text("submit the same changes again (they stay staged)"));
    if journal.conflict() {
        let _ =
            term.write_line("The CephCluster changed since it was read (409): review the new plan and submit again.");
    }
    Ok(false)
}
