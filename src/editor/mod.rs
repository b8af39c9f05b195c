//! The interactive editor (`kubectl ceph-image` on a terminal, and `demo`): pick a daemon
//! type, stage image changes and holds (or a whole-cluster pause), see one combined restart
//! plan made from a fresh read of the cluster, then submit it (one CephCluster patch plus
//! the label patches) or discard it. Built for 80x24 and for 2000 OSDs: every row is cut to
//! the terminal's width with an ellipsis, every list is paged to its height, the header
//! stays at the top. Esc goes back in every prompt, `q` quits (asking first when changes
//! are staged), Ctrl-C exits 130 with the cursor restored. Nothing is sent that was not
//! confirmed after its plan was shown.

use dialoguer::console::{Key, Term, measure_text_width};
use dialoguer::{Confirm, Select};

use crate::cluster::read::{self, Support};
use crate::commands::Ctx;
use crate::error::{Error, Result};
use crate::model::Snapshot;
use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::image;
use crate::output::clean;
use crate::plan::status;
use crate::plan::{self, Change, Target};
use crate::render;

/// Run a blocking prompt without stalling the runtime; map dialoguer's errors.
fn ask<T>(f: impl FnOnce() -> dialoguer::Result<T>) -> Result<T> {
    tokio::task::block_in_place(f).map_err(|e| match e {
        dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("terminal: {other}")),
    })
}

fn io(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::Interrupted {
        Error::Interrupted
    } else {
        Error::Failed(format!("terminal: {e}"))
    }
}

/// The terminal's size as (rows, columns), never below a usable minimum.
fn size(term: &Term) -> (usize, usize) {
    let (rows, cols) = term.size();
    ((rows as usize).max(10), (cols as usize).max(40))
}

/// `s` cut to `width` columns, an ellipsis where it was cut. Strings from the cluster are
/// sanitised (`clean`) before they get here; this only shortens.
pub fn fit(s: &str, width: usize) -> String {
    render::fit_lines(s, Some(width)).trim_end_matches('\n').to_string()
}

/// Text laid into lines of at most `width` columns at spaces (long words are cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split(' ') {
            if !line.is_empty() && measure_text_width(&line) + 1 + measure_text_width(word) > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(fit(&line, width));
    }
    lines
}

/// Write text to the terminal, every line fitted to its width.
fn show(term: &Term, text: &str) {
    let (_, cols) = size(term);
    for line in text.lines() {
        let _ = term.write_line(&fit(line, cols - 1));
    }
}

/// A one-line text prompt. Enter answers (after `valid` accepts it: a rejected answer stays
/// on the line to be edited, the reason below it); Esc goes back (`None`); Ctrl-C
/// interrupts. Nothing of it stays on screen afterwards.
fn read_line(
    term: &Term,
    prompt: &str,
    initial: &str,
    valid: impl Fn(&str) -> std::result::Result<(), String>,
) -> Result<Option<String>> {
    let mut text: Vec<char> = initial.chars().collect();
    let mut at = text.len();
    let mut error: Option<String> = None;
    // Three lines: the prompt, `> text`, and the reason an answer was rejected. The
    // cursor rests on the text line between draws.
    let draw = |text: &[char], at: usize, error: &Option<String>| -> std::io::Result<()> {
        let (_, cols) = size(term);
        let room = cols.saturating_sub(4).max(8);
        // Scroll the text so the cursor stays visible.
        let start = at.saturating_sub(room);
        let shown: String = text[start..].iter().take(room).collect();
        term.write_str("\r")?;
        term.move_cursor_up(1)?;
        term.clear_line()?;
        term.write_line(&fit(&format!("{prompt} (Enter: done, Esc: back)"), cols - 1))?;
        term.clear_line()?;
        term.write_line(&format!("> {shown}"))?;
        term.clear_line()?;
        if let Some(e) = error {
            term.write_str(&fit(&format!("  ! {e}"), cols - 1))?;
        }
        term.write_str("\r")?;
        term.move_cursor_up(1)?;
        term.move_cursor_right(2 + (at - start))?;
        Ok(())
    };
    let clear = || -> std::io::Result<()> {
        term.write_str("\r")?;
        term.move_cursor_up(1)?;
        term.clear_line()?;
        term.move_cursor_down(1)?;
        term.clear_line()?;
        term.move_cursor_down(1)?;
        term.clear_line()?;
        term.move_cursor_up(2)?;
        term.write_str("\r")
    };
    // Reserve the three lines, so drawing never scrolls the screen; rest on the second.
    term.write_str("\n\n").map_err(io)?;
    term.move_cursor_up(1).map_err(io)?;
    loop {
        draw(&text, at, &error).map_err(io)?;
        let key = tokio::task::block_in_place(|| term.read_key()).map_err(io)?;
        match key {
            Key::Escape => {
                clear().map_err(io)?;
                return Ok(None);
            }
            Key::Enter => {
                let answer: String = text.iter().collect();
                match valid(answer.trim()) {
                    Ok(()) => {
                        clear().map_err(io)?;
                        return Ok(Some(answer.trim().to_string()));
                    }
                    Err(e) => error = Some(e),
                }
            }
            Key::Backspace if at > 0 => {
                at -= 1;
                text.remove(at);
            }
            Key::Del if at < text.len() => {
                text.remove(at);
            }
            Key::ArrowLeft => at = at.saturating_sub(1),
            Key::ArrowRight => at = (at + 1).min(text.len()),
            Key::Home => at = 0,
            Key::End => at = text.len(),
            Key::Char(c) if !c.is_control() => {
                text.insert(at, c);
                at += 1;
                error = None;
            }
            _ => {}
        }
    }
}

/// Pick several of `items`: a page that fits the terminal, the count selected always in
/// view. Space toggles, `a` toggles all, Enter is done, Esc goes back (`None`).
fn multi_select(term: &Term, title: &str, items: &[String]) -> Result<Option<Vec<usize>>> {
    let mut chosen = vec![false; items.len()];
    let mut at = 0usize;
    let mut drawn = 0usize;
    loop {
        let (rows, cols) = size(term);
        let page = rows.saturating_sub(8).max(3);
        let first = (at / page) * page;
        let last = (first + page).min(items.len());
        let n = chosen.iter().filter(|c| **c).count();
        let mut lines = vec![
            fit(&format!("{title}: {n} of {} selected", items.len()), cols - 1),
            fit("space: toggle, a: all, Enter: done, Esc: back", cols - 1),
        ];
        for (i, item) in items.iter().enumerate().take(last).skip(first) {
            let mark = if chosen[i] { "[x]" } else { "[ ]" };
            let cursor = if i == at { ">" } else { " " };
            lines.push(fit(&format!("{cursor} {mark} {item}"), cols - 1));
        }
        if items.len() > page {
            lines.push(fit(&format!("  rows {}-{} of {} (PgUp/PgDn: page)", first + 1, last, items.len()), cols - 1));
        }
        term.clear_last_lines(drawn).map_err(io)?;
        for l in &lines {
            term.write_line(l).map_err(io)?;
        }
        drawn = lines.len();
        let _ = term.hide_cursor();
        let key = tokio::task::block_in_place(|| term.read_key());
        let _ = term.show_cursor();
        match key.map_err(io)? {
            Key::Escape => {
                term.clear_last_lines(drawn).map_err(io)?;
                return Ok(None);
            }
            Key::Enter => {
                term.clear_last_lines(drawn).map_err(io)?;
                return Ok(Some((0..items.len()).filter(|i| chosen[*i]).collect()));
            }
            Key::Char(' ') if !items.is_empty() => chosen[at] = !chosen[at],
            Key::Char('a') => {
                let all = chosen.iter().all(|c| *c);
                chosen.iter_mut().for_each(|c| *c = !all);
            }
            Key::ArrowDown | Key::Char('j') if at + 1 < items.len() => at += 1,
            Key::ArrowUp | Key::Char('k') => at = at.saturating_sub(1),
            Key::PageDown => at = (at + page).min(items.len().saturating_sub(1)),
            Key::PageUp => at = at.saturating_sub(page),
            Key::Home => at = 0,
            Key::End => at = items.len().saturating_sub(1),
            _ => {}
        }
    }
}

/// A menu of `items` under `prompt`, each row fitted to the width and the page to the
/// height left under `reserved` lines. Esc and `q` go back (`None`).
fn menu(term: &Term, prompt: &str, items: &[String], default: usize, reserved: usize) -> Result<Option<usize>> {
    let (rows, cols) = size(term);
    let fitted: Vec<String> = items.iter().map(|i| fit(i, cols - 3)).collect();
    let prompt = fit(prompt, cols - 3);
    let page = rows.saturating_sub(reserved + 2).max(3);
    ask(|| {
        // `with_prompt` turns the report on: it goes first, so `report(false)` holds and
        // an answered menu leaves nothing behind.
        Select::new()
            .with_prompt(&prompt)
            .report(false)
            .items(&fitted)
            .default(default.min(items.len().saturating_sub(1)))
            .max_length(page)
            .interact_on_opt(term)
    })
}

/// Yes or no; Esc is a no.
fn yes_no(term: &Term, question: &str) -> Result<bool> {
    let (_, cols) = size(term);
    let q = fit(question, cols - 8);
    Ok(ask(|| Confirm::new().report(false).with_prompt(&q).default(false).interact_on_opt(term))?.unwrap_or(false))
}

/// What is staged for a type, for its row: `set IMAGE`, `clear override`, `hold 2`.
fn staged_for(staged: &[Change], snap: &Snapshot, t: DaemonType) -> Vec<String> {
    let of_type = |names: &Vec<String>| {
        names.iter().filter(|n| snap.daemons.iter().any(|d| &d.deployment == *n && d.id.dtype == t)).count()
    };
    staged
        .iter()
        .filter_map(|c| match c {
            Change::SetImage { target: Target::Type(x), image } if *x == t => Some(format!("-> {}", clean(image))),
            Change::Unset(x) if *x == t => Some("-> clear override".into()),
            Change::Pause(names) if of_type(names) > 0 => Some(format!("hold +{}", of_type(names))),
            Change::Resume(names) if of_type(names) > 0 => Some(format!("release {}", of_type(names))),
            _ => None,
        })
        .collect()
}

/// A type's row: name, staged changes first (so a cut row still shows them), desired
/// image and source, held and fenced counts, what runs.
fn type_line(t: &status::TypeStatus, staged: &[String]) -> String {
    let running: Vec<String> = t.running.iter().map(|r| format!("{} ({})", clean(&r.image), r.pods)).collect();
    let source = match t.source {
        crate::model::ImageSource::Base => "base",
        crate::model::ImageSource::Override => "override",
    };
    let mark = if staged.is_empty() { "  ".to_string() } else { format!("* [staged: {}] ", staged.join(", ")) };
    format!(
        "{:<13} {mark}{} ({source}) | held {}{} | runs {}",
        t.dtype.ceph_name(),
        clean(&t.desired_image),
        t.held,
        if t.fenced > 0 { format!(", fenced {}", t.fenced) } else { String::new() },
        running.join(", "),
    )
}

/// Replace a staged change with the same target, else add it.
fn stage(staged: &mut Vec<Change>, c: Change) {
    let same = |a: &Change| match (a, &c) {
        (Change::SetImage { target: x, .. }, Change::SetImage { target: y, .. }) => x == y,
        (Change::SetImage { target: Target::Type(x), .. }, Change::Unset(y))
        | (Change::Unset(x), Change::SetImage { target: Target::Type(y), .. })
        | (Change::Unset(x), Change::Unset(y)) => x == y,
        (Change::PauseCluster | Change::ResumeCluster, Change::PauseCluster | Change::ResumeCluster) => true,
        _ => false,
    };
    staged.retain(|a| !same(a));
    staged.push(c);
}

fn describe(c: &Change, snap: &Snapshot) -> String {
    let ids = |names: &[String]| -> String {
        let ids: Vec<String> = names
            .iter()
            .map(|n| {
                snap.daemons.iter().find(|d| &d.deployment == n).map(|d| d.id.to_string()).unwrap_or_else(|| n.clone())
            })
            .collect();
        if ids.len() > 4 { format!("{} daemons ({}, ...)", ids.len(), ids[..3].join(", ")) } else { ids.join(", ") }
    };
    match c {
        Change::SetImage { target: Target::Base, image } => format!("base image -> {}", clean(image)),
        Change::SetImage { target: Target::Type(t), image } => {
            format!("{} override -> {}", t.ceph_name(), clean(image))
        }
        Change::Unset(t) => format!("clear the {} override", t.ceph_name()),
        Change::Pause(d) => format!("hold {}", ids(d)),
        Change::Resume(d) => format!("release {}", ids(d)),
        Change::PauseCluster => "pause the whole cluster (CephCluster do-not-reconcile)".into(),
        Change::ResumeCluster => "resume the whole cluster".into(),
        other => format!("{other:?}"),
    }
}

/// Pick an image: one already in use, or a typed one, checked when Enter is pressed.
fn choose_image(term: &Term, snap: &Snapshot, what: &str) -> Result<Option<String>> {
    let mut in_use: Vec<String> = snap.daemons.iter().flat_map(|d| d.ceph_images.clone()).collect();
    in_use.push(snap.cluster.base_image.clone());
    in_use.extend(snap.cluster.overrides.values().cloned());
    in_use.retain(|i| !i.is_empty());
    in_use.sort();
    in_use.dedup();
    let mut items: Vec<String> = in_use.iter().map(|i| clean(i).into_owned()).collect();
    items.push("Type an image...".into());
    let prompt = format!("Image for {what} (Esc: back)");
    let Some(i) = menu(term, &prompt, &items, items.len() - 1, 4)? else {
        return Ok(None);
    };
    if i < in_use.len() {
        return Ok(Some(in_use[i].clone()));
    }
    read_line(term, &format!("Image for {what}, e.g. quay.io/ceph/ceph:v19.2.3"), "", |s| {
        if s.is_empty() { Err("type an image, or Esc to go back".into()) } else { image::parse(s).map(|_| ()) }
    })
}

/// Pick daemons of a type: a filter by id or node first, so thousands of OSDs stay usable;
/// then a paged multi-select of what matched.
fn choose_daemons(term: &Term, snap: &Snapshot, t: DaemonType, labeled: bool) -> Result<Option<Vec<String>>> {
    let Some(filter) = read_line(term, &format!("Filter {t} daemons by id or node (empty: all)"), "", |_| Ok(()))?
    else {
        return Ok(None);
    };
    let matches: Vec<&crate::model::Daemon> = snap
        .daemons
        .iter()
        .filter(|d| d.id.dtype == t && d.labelled == labeled && !(labeled && d.under_replacement))
        .filter(|d| {
            filter.is_empty() || d.id.to_string().contains(&filter) || d.nodes().iter().any(|n| n.contains(&filter))
        })
        .collect();
    if matches.is_empty() {
        return Err(Error::Usage(format!("no {t} daemon matches {filter:?}")));
    }
    let id_w = matches.iter().map(|d| d.id.to_string().len()).max().unwrap_or(0);
    // every node of a daemon of several replicas (an RGW of several instances)
    let nodes =
        |d: &crate::model::Daemon| Some(d.nodes().join(",")).filter(|n| !n.is_empty()).unwrap_or_else(|| "-".into());
    let node_w = matches.iter().map(|d| nodes(d).len()).max().unwrap_or(0);
    let items: Vec<String> = matches
        .iter()
        .map(|d| {
            format!(
                "{:<id_w$}  {:<node_w$}  {}",
                clean(&d.id.to_string()),
                clean(&nodes(d)),
                clean(d.image.as_deref().unwrap_or("?"))
            )
        })
        .collect();
    let title = format!("{} daemons to {}", matches.len(), if labeled { "release" } else { "hold" });
    let Some(picked) = multi_select(term, &title, &items)? else {
        return Ok(None);
    };
    Ok((!picked.is_empty()).then(|| picked.into_iter().map(|i| matches[i].deployment.clone()).collect()))
}

/// The lines above the main menu: the cluster, what is staged, the last message.
fn header(snap: &Snapshot, staged: &[Change], message: &str, cols: usize) -> Vec<String> {
    let c = &snap.cluster;
    let mut lines = vec![fit(
        &format!(
            "CephCluster {}/{}{}  base {}",
            clean(&c.namespace),
            clean(&c.name),
            if c.held { " [whole cluster paused]" } else { "" },
            clean(&c.base_image)
        ),
        cols - 1,
    )];
    lines.push(fit(
        &if staged.is_empty() {
            "Nothing staged: choose a daemon type to change it.".to_string()
        } else {
            let d: Vec<String> = staged.iter().map(|x| describe(x, snap)).collect();
            format!("Staged ({}): {}", staged.len(), d.join("; "))
        },
        cols - 1,
    ));
    if !message.is_empty() {
        lines.extend(wrap(message, cols - 1).into_iter().take(2));
    }
    lines
}

pub async fn run(ctx: &mut Ctx<'_>) -> Result<i32> {
    let conn = ctx.connect().await?;
    let ns = conn.namespace.clone();
    let term = Term::stderr();
    let support = read::overrides_support(&conn.kube).await.unwrap_or(Support::Unknown);
    let mut staged: Vec<Change> = Vec::new();
    let mut snap = read::snapshot(&conn.kube, &ns, ctx.settings.cluster.as_deref()).await?;
    let mut stale = false;
    let mut message = String::new();
    let mut cursor = 0usize;
    loop {
        if stale {
            snap = read::snapshot(&conn.kube, &ns, ctx.settings.cluster.as_deref()).await?;
            stale = false;
        }
        let view = status::view(&snap, jiff::Timestamp::now());
        let (_, cols) = size(&term);
        let head = header(&snap, &staged, &message, cols);
        message.clear();
        let n = view.types.len();
        let mut items: Vec<String> =
            view.types.iter().map(|t| type_line(t, &staged_for(&staged, &snap, t.dtype))).collect();
        let base_staged = staged.iter().find_map(|c| match c {
            Change::SetImage { target: Target::Base, image } => Some(clean(image).into_owned()),
            _ => None,
        });
        items.push(match base_staged {
            Some(i) => format!("Base image (spec.cephVersion.image): * [staged: -> {i}] {}", clean(&view.base_image)),
            None => format!("Base image (spec.cephVersion.image): {}", clean(&view.base_image)),
        });
        items.push(format!("Review and submit staged changes ({})", staged.len()));
        let discard = (!staged.is_empty()).then_some(items.len());
        if discard.is_some() {
            items.push("Discard staged changes...".into());
        }
        let cluster_item = items.len();
        items.push(if snap.cluster.held {
            "Resume the whole cluster (remove the CephCluster do-not-reconcile label)".into()
        } else {
            "Pause the whole cluster (CephCluster do-not-reconcile: mon, mgr, osd)".into()
        });
        let refresh = items.len();
        items.push("Refresh (read the cluster again)".into());
        items.push("Quit".into());
        let _ = term.clear_screen();
        for l in &head {
            let _ = term.write_line(l);
        }
        let prompt = "Choose (Enter: open, Esc/q: quit)";
        let choice = menu(&term, prompt, &items, cursor, head.len())?;
        let Some(i) = choice.filter(|i| *i != items.len() - 1) else {
            if staged.is_empty() || yes_no(&term, &format!("Quit and discard {} staged change(s)?", staged.len()))? {
                break;
            }
            continue;
        };
        cursor = i;
        if i < n {
            match type_menu(ctx, &term, &snap, &view.types[i], support, &mut staged).await {
                Ok(sent) => stale = sent,
                Err(Error::Usage(m)) => message = m,
                Err(e) => return Err(e),
            }
        } else if i == n {
            if let Some(img) = choose_image(&term, &snap, "every type without an override")? {
                stage(&mut staged, Change::SetImage { target: Target::Base, image: img });
                message = "Types with an image override stay on their override.".into();
            }
        } else if i == n + 1 {
            if staged.is_empty() {
                message = "Nothing staged yet: choose a daemon type to change.".into();
                continue;
            }
            let _ = term.clear_screen();
            match review_and_submit(ctx, &conn, &term, &ns, &staged).await? {
                Submitted::Done(m) => {
                    staged.clear();
                    message = m;
                }
                Submitted::Kept(m) => message = m,
            }
            stale = true;
        } else if Some(i) == discard {
            if yes_no(&term, &format!("Discard {} staged change(s)? Nothing was sent.", staged.len()))? {
                staged.clear();
                message = "Staged changes discarded; nothing was sent.".into();
            }
        } else if i == cluster_item {
            stage(&mut staged, if snap.cluster.held { Change::ResumeCluster } else { Change::PauseCluster });
        } else if i == refresh {
            stale = true;
            message = "Read the cluster again.".into();
        }
    }
    let _ = term.clear_screen();
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
    let name = dt.ceph_name();
    let mut actions: Vec<(&str, String)> = vec![("set", format!("Set the {name} image..."))];
    if snap.cluster.overrides.contains_key(dt.key()) {
        actions.push(("unset", format!("Clear the {name} override (follow the base image)")));
    }
    if !matches!(dt.hold_scope(), HoldScope::NotHonoured) {
        actions.push(("hold", format!("Hold {name} daemons (do-not-reconcile)...")));
    }
    if snap.daemons.iter().any(|d| d.id.dtype == dt && d.labelled && d.fence.is_none()) {
        actions.push(("release", format!("Release held {name} daemons...")));
    }
    let fenced = snap.daemons.iter().filter(|d| d.id.dtype == dt && d.fence.is_some()).count();
    if fenced > 0 {
        actions.push(("unfence", format!("Remove the fence from {fenced} {name} daemon(s)...")));
    }
    actions.push(("back", "Back".into()));
    let labels: Vec<String> = actions.iter().map(|(_, l)| l.clone()).collect();
    let prompt = format!("{} (Esc: back)", type_line(t, &[]));
    let Some(i) = menu(term, &prompt, &labels, 0, 4)? else {
        return Ok(false);
    };
    match actions[i].0 {
        "set" if support == Support::No => return fence_offer(ctx, term, snap, dt).await,
        "set" => {
            if let Some(img) = choose_image(term, snap, &format!("{name} (imageOverrides.{dt})"))? {
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
        "unfence" => {
            let _ = term.clear_screen();
            return apply_now(ctx, term, Change::Unfence { dtype: dt, reconcile_now: false }).await;
        }
        _ => {}
    }
    Ok(false)
}

/// A fence or unfence is applied at once, with its own plan and confirmation (not staged).
/// True when something may have been sent.
async fn apply_now(ctx: &mut Ctx<'_>, term: &Term, change: Change) -> Result<bool> {
    // Its plan and results fit the terminal like the editor's own screens.
    let mut fitted = ctx.settings.clone();
    fitted.fit_width = Some(size(term).1 - 1);
    let mut sub = Ctx { settings: &fitted, confirm: &mut *ctx.confirm };
    let r = crate::commands::fence::run(&mut sub, change).await;
    let note = match r {
        Ok(_) => "Done.".to_string(),
        Err(Error::Declined) => "Not applied.".to_string(),
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(e) => format!("error: {e}"),
    };
    let (_, cols) = size(term);
    for l in wrap(&format!("{note} Press Enter to go back."), cols - 1) {
        let _ = term.write_line(&l);
    }
    tokio::task::block_in_place(|| {
        loop {
            match term.read_key() {
                Ok(Key::Enter | Key::Escape) | Err(_) => break,
                _ => {}
            }
        }
    });
    Ok(true)
}

/// Released Rook: an override would be dropped. The fence is offered, explained, never
/// chosen silently; it is applied at once (its own plan and confirmation), not staged.
async fn fence_offer(ctx: &mut Ctx<'_>, term: &Term, snap: &Snapshot, dt: DaemonType) -> Result<bool> {
    let (_, cols) = size(term);
    let name = dt.ceph_name();
    let _ = term.clear_screen();
    let explain = format!(
        "This cluster's CephCluster CRD has no spec.cephVersion.imageOverrides (released Rook): the API server \
         would silently drop a {name} override. The fence strategy instead labels the {name} Deployments \
         do-not-reconcile and rewrites their Ceph images; they then miss the operator's updates until unfenced."
    );
    for l in wrap(&explain, cols - 1) {
        let _ = term.write_line(&l);
    }
    if plan::warnings::check_fenceable(dt).is_err() {
        return Err(Error::Usage(format!("Rook does not honour the label on {name}: it cannot be fenced either.")));
    }
    let choices = [format!("Pin {name} with the fence strategy..."), "Back".to_string()];
    let Some(0) = menu(term, "Per-daemon image on released Rook (Esc: back)", &choices, 1, 8)? else {
        return Ok(false);
    };
    let Some(img) = choose_image(term, snap, &format!("{name} (fence)"))? else {
        return Ok(false);
    };
    let _ = term.clear_screen();
    apply_now(ctx, term, Change::Fence { dtype: dt, image: img, batching: Default::default() }).await
}

/// What became of a review.
enum Submitted {
    /// Sent and verified: the message says what was done.
    Done(String),
    /// Not sent (declined, or a failure): the changes stay staged.
    Kept(String),
}

/// Read the cluster afresh, show the combined plan, and on a yes send its writes through
/// the one executor: holds first, the CephCluster merge patch (resourceVersion
/// precondition), releases last.
async fn review_and_submit(
    ctx: &mut Ctx<'_>,
    conn: &crate::cluster::connect::Connection,
    term: &Term,
    ns: &str,
    staged: &[Change],
) -> Result<Submitted> {
    // A plan of what the cluster is now: after a submit the operator replaces pods and
    // moves the resourceVersion, so a plan from an earlier read would be stale.
    let snap = read::snapshot(&conn.kube, ns, ctx.settings.cluster.as_deref()).await?;
    show(term, "Staged:");
    for c in staged {
        show(term, &format!("  - {}", describe(c, &snap)));
    }
    let p = match plan::plan_many(&snap, staged) {
        Ok(p) => p,
        Err(e) => return Ok(Submitted::Kept(format!("Cannot plan the staged changes: {e}"))),
    };
    show(term, &render::plan(&p, &ctx.settings.err_styles));
    if p.noop {
        return Ok(Submitted::Done("Nothing to change: the cluster already has the staged changes.".into()));
    }
    if let Err(e) = crate::commands::change::check_owner(&snap, staged, ctx.settings.force) {
        return Ok(Submitted::Kept(e.to_string()));
    }
    let q = format!("Submit these changes to CephCluster {}/{}?", snap.cluster.namespace, snap.cluster.name);
    match ctx.confirm(&q) {
        Ok(()) => {}
        Err(Error::Declined) => return Ok(Submitted::Kept("Not submitted; the changes stay staged.".into())),
        Err(e) => return Err(e),
    }
    // Holds land and are verified before the CephCluster patch that starts the rollout;
    // releases after it (`writes::build`).
    let writes = crate::plan::writes::build(&snap, staged, &p, "");
    let target = crate::commands::exec_target(conn, &p, false, ctx.settings);
    let journal = crate::execute::run(&target, &writes).await;
    crate::execute::forget_last();
    if journal.all_done() {
        let done = crate::render::journal::results_text(&journal, false);
        let lines: Vec<&str> = done.lines().collect();
        let said = if lines.len() > 3 {
            format!("{}; ... {} writes in all", lines[..2].join("; "), lines.len())
        } else {
            lines.join("; ")
        };
        return Ok(Submitted::Done(format!(
            "Submitted: {said}. {} pod(s) restart as planned.",
            p.summary.restart_pods
        )));
    }
    if journal.interrupted.is_some() {
        return Err(crate::execute::failure(&journal, "the editor: submit the same changes again"));
    }
    show(term, &crate::render::journal::text(&journal, "submit the same changes again (they stay staged)"));
    let why = if journal.conflict() {
        "The CephCluster changed while it was being written (409): review again for a fresh plan."
    } else {
        "Not all of it was done (above): the changes stay staged."
    };
    let _ = yes_no(term, &format!("{why} Continue?"));
    Ok(Submitted::Kept(why.into()))
}
