//! From parsed command line to exit code.

use crate::cli::{Cli, Command, Strategy};
use crate::commands::{self, Ctx};
use crate::error::{Error, Result};
use crate::model::daemon::DaemonType;
use crate::model::image;
use crate::output::note;
use crate::plan::{Change, Target};
use crate::prompt::{Confirm, TerminalConfirm};
use crate::settings::{self, Env};

/// Bad input is found before anything is read or sent.
fn parse_type(s: &str) -> Result<DaemonType> {
    s.parse().map_err(Error::Usage)
}

/// `set`'s TYPE: a daemon type, or a hint when it mistypes `base`.
fn parse_set_type(s: &str) -> Result<DaemonType> {
    match crate::model::daemon::closest(s, ["base"]) {
        Some(_) if s.parse::<DaemonType>().is_err() => {
            Err(Error::usage(format!("unknown daemon type {s:?}: did you mean base (spec.cephVersion.image)?")))
        }
        _ => parse_type(s),
    }
}

fn parse_image(s: &str) -> Result<String> {
    image::parse(s).map(|r| r.original).map_err(Error::Usage)
}

/// `upgrade ...` as a request; flags that belong to `upgrade IMAGE` are refused elsewhere.
/// An upgrade (or its check) to the Rook operator's image is a usage error: Ceph's image is
/// what `spec.cephVersion.image` names.
fn not_rook_operator(image: &str) -> Result<()> {
    if crate::model::image::is_rook_operator(image) {
        return Err(Error::usage(format!(
            "{image} is the Rook operator's image, not a Ceph release: spec.cephVersion.image names a Ceph image (e.g. \
             quay.io/ceph/ceph:v20.2.6); Rook itself is upgraded with its own Deployment or Helm chart"
        )));
    }
    Ok(())
}

fn upgrade_request(u: crate::cli::UpgradeArgs) -> Result<commands::upgrade::Request> {
    use crate::cli::UpgradeAction;
    use commands::upgrade::Request;
    let flags = !u.order.is_empty()
        || !u.types.is_empty()
        || u.canary.is_some()
        || u.batch_by.is_some()
        || u.max_unavailable.is_some()
        || u.prepull
        || u.no_noout
        || u.no_noautoscale;
    let waits = u.change.wait
        || matches!(&u.action, Some(UpgradeAction::Pause(c) | UpgradeAction::Resume(c) | UpgradeAction::Abort(c)) if c.wait);
    if waits {
        return Err(Error::usage("upgrade waits at every stage's gates by itself: --wait does not apply"));
    }
    match (u.action, u.image) {
        (Some(a), _) => {
            if flags || u.pause_between.is_some() {
                return Err(Error::usage(
                    "--order, --types, --canary, --batch-by, --max-unavailable, --pause-between, --prepull, --no-noout \
                     and --no-noautoscale go with `upgrade IMAGE`",
                ));
            }
            Ok(match a {
                UpgradeAction::Check { image } => {
                    not_rook_operator(&image)?;
                    Request::Check(parse_image(&image)?)
                }
                UpgradeAction::Status => Request::Status,
                UpgradeAction::Pause(_) => Request::Pause,
                UpgradeAction::Resume(_) => Request::Resume,
                UpgradeAction::Abort(_) => Request::Abort,
            })
        }
        (None, None) => Err(Error::usage(
            "upgrade needs the target image (`upgrade quay.io/ceph/ceph:v20.2.6`) or one of check, status, pause, resume, abort",
        )),
        (None, Some(image)) => {
            if !image.contains(['/', ':', '@'])
                && let Some(m) = crate::model::daemon::closest(&image, ["check", "status", "pause", "resume", "abort"])
            {
                return Err(Error::usage(format!(
                    "{image:?} is not an upgrade subcommand (did you mean {m}?), nor an image to upgrade to"
                )));
            }
            let image = parse_image(&image)?;
            let last = image.rsplit('/').next().unwrap_or(&image);
            if crate::model::image::parse(&image)
                .is_ok_and(|r| r.tag.as_deref() == Some("latest") && r.digest.is_none())
            {
                return Err(Error::usage(format!(
                    "{image} is :latest: an upgrade goes to one release, not to whatever latest is at each pull; name \
                     it (e.g. quay.io/ceph/ceph:v20.2.6 or REPO@sha256:DIGEST)"
                )));
            }
            not_rook_operator(&image)?;
            if !last.contains([':', '@']) {
                return Err(Error::usage(format!(
                    "{image} names no tag or digest: an upgrade goes to one release, not to whatever `latest` is at \
                     each pull; name it (e.g. quay.io/ceph/ceph:v20.2.6 or REPO@sha256:DIGEST)"
                )));
            }
            if u.types.iter().chain(&u.order).any(|t| t.trim().is_empty()) {
                return Err(Error::usage(
                    "--types and --order take daemon types separated by single commas (e.g. mon,mgr): one entry is empty",
                ));
            }
            let named = u.order.iter().map(|t| parse_type(t.trim())).collect::<Result<Vec<_>>>()?;
            let order = crate::plan::upgrade::order_of(&named).map_err(Error::Usage)?;
            let mut types = Vec::new();
            for t in u.types.iter().map(|t| parse_type(t.trim())) {
                let t = t?;
                if types.contains(&t) {
                    return Err(Error::usage(format!("--types names {t} twice")));
                }
                types.push(t);
            }
            Ok(Request::Start(crate::plan::upgrade::Params {
                image,
                order,
                canary: u.canary.unwrap_or(0),
                batch_by: u.batch_by.unwrap_or_default(),
                max_unavailable: u.max_unavailable,
                types,
                // Taken from the settings (`--pause-between`, parsed with the other durations).
                pause_between_ms: 0,
                prepull: u.prepull,
                noout: !u.no_noout,
                noautoscale: !u.no_noautoscale,
            }))
        }
    }
}

/// `kubectl_complete-ceph_image WORDS...` (kubectl's plugin completion) or `__complete`.
pub async fn complete(words: Vec<String>) -> i32 {
    let (cands, directive) = crate::commands::complete::complete(&words).await;
    crate::commands::complete::print(&cands, directive);
    0
}

pub async fn run(cli: Cli) -> Result<i32> {
    let serving = matches!(&cli.command, Some(Command::Demo(d)) if d.serve);
    if !serving {
        // Ctrl-C: leave the terminal sane (cursor shown) and exit 130.
        // While writes run, the signal stops them between writes instead, so the journal
        // can say what was done (`execute`); a second signal exits at once.
        tokio::spawn(async {
            let mut taken = false;
            loop {
                let code = signal().await;
                if !taken && crate::execute::take_signal(code) {
                    taken = true;
                    note(&format!(
                        "\n{} received: finishing the writes in flight, then stopping",
                        if code == 130 { "SIGINT" } else { "SIGTERM" }
                    ));
                    continue;
                }
                crate::output::show_cursor();
                // an upgrade's OSD flags are not left set by a Ctrl-C at its gates
                if let Some(done) = crate::execute::signal_cleanup(std::time::Duration::from_secs(20)).await {
                    note(&format!("\n{done}"));
                }
                match crate::execute::after_run_text() {
                    // After the writes (reading back, printing, --wait), or a second
                    // signal during them: say what was done.
                    Some(journal) => note(&format!(
                        "\ninterrupted{}:\n{}",
                        if taken { " again" } else { " after the writes" },
                        journal.trim_end()
                    )),
                    None => note("\ninterrupted"),
                }
                std::process::exit(code);
            }
        });
    }
    let env = Env::detect();
    let mut s = settings::resolve(&cli.global, cli.change_args(), &env)?;
    crate::output::allow_colour(s.out_styles.is_colored(), s.err_styles.is_colored());
    s.force = matches!(&cli.command, Some(Command::Set { force: true, .. } | Command::Unset { force: true, .. }));
    if let Some(Command::Upgrade(u)) = &cli.command
        && let Some(p) = &u.pause_between
    {
        s.pause_between =
            settings::duration_flag("--pause-between", p, settings::MAX_PAUSE_BETWEEN, "no pause")?.unwrap_or_default();
    }
    if let Some(Command::Set {
        strategy,
        batch_by,
        max_unavailable,
        pause_between,
        allow_unchecked_restarts,
        no_noout,
        ..
    }) = &cli.command
    {
        let pacing = batch_by.is_some() || max_unavailable.is_some() || pause_between.is_some();
        if (pacing || *allow_unchecked_restarts || *no_noout) && !matches!(strategy, Strategy::Fence) {
            return Err(Error::usage(
                "--batch-by, --max-unavailable, --pause-between, --allow-unchecked-restarts and --no-noout go with a \
                 fence (--strategy fence); an override's rollout is Rook's own, and Rook asks Ceph itself",
            ));
        }
        s.allow_unchecked_restarts = *allow_unchecked_restarts;
        s.no_noout = *no_noout;
        if let Some(p) = pause_between {
            s.pause_between = settings::duration_flag("--pause-between", p, settings::MAX_PAUSE_BETWEEN, "no pause")?
                .unwrap_or_default();
        }
    }
    let mut prompt = TerminalConfirm;
    let confirm: &mut dyn Confirm = &mut prompt;
    let mut ctx = Ctx { settings: &s, confirm };
    match cli.command {
        None if s.interactive => crate::editor::run(&mut ctx).await,
        None => Err(Error::usage(
            "no command given and no terminal for the interactive editor: use one of status, set, unset, pause, \
             resume, upgrade, version, completion, demo (kubectl ceph-image --help)",
        )),
        Some(Command::Status) => commands::status::run(&mut ctx).await,
        Some(Command::Version { client }) => commands::version::run(&mut ctx, client).await,
        Some(Command::Set { target, image, strategy, batch_by, max_unavailable, .. }) => {
            let image = parse_image(&image)?;
            match (strategy, target.as_str()) {
                (Strategy::Fence, "base") => Err(Error::usage(
                    "--strategy fence pins one daemon type; the base image is the CephCluster's: `set base IMAGE`",
                )),
                (Strategy::Fence, t) => {
                    let dtype = parse_type(t)?;
                    crate::plan::warnings::check_fenceable(dtype).map_err(|e| Error::usage(e.to_string()))?;
                    let batching = crate::plan::Batching { by: batch_by.unwrap_or_default(), max: max_unavailable };
                    commands::fence::run(&mut ctx, Change::Fence { dtype, image, batching }).await
                }
                (Strategy::Overrides, "base") => {
                    commands::change::run(&mut ctx, Change::SetImage { target: Target::Base, image }).await
                }
                (Strategy::Overrides, t) => {
                    let target = Target::Type(parse_set_type(t)?);
                    commands::change::run(&mut ctx, Change::SetImage { target, image }).await
                }
            }
        }
        Some(Command::Unset { target, strategy, reconcile_now, .. }) => {
            if target == "base" {
                return Err(Error::usage("the base image cannot be unset: use `set base IMAGE` to change it"));
            }
            let dtype = parse_type(&target)?;
            match strategy {
                Strategy::Fence => commands::fence::run(&mut ctx, Change::Unfence { dtype, reconcile_now }).await,
                Strategy::Overrides if reconcile_now => Err(Error::usage(
                    "--reconcile-now goes with --strategy fence (an override change reconciles by itself)",
                )),
                Strategy::Overrides => commands::change::run(&mut ctx, Change::Unset(dtype)).await,
            }
        }
        Some(Command::Upgrade(u)) => commands::upgrade::run(&mut ctx, upgrade_request(u)?).await,
        Some(Command::Pause(t)) => commands::labels::run(&mut ctx, &t, true).await,
        Some(Command::Resume(t)) => commands::labels::run(&mut ctx, &t, false).await,
        Some(Command::Completion { shell: clap_complete::Shell::Bash }) => {
            crate::output::emit(&crate::commands::complete::bash_script());
            Ok(0)
        }
        Some(Command::Completion { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "kubectl-ceph_image",
                &mut out,
            );
            crate::output::emit(&String::from_utf8_lossy(&out));
            Ok(0)
        }
        Some(Command::Demo(d)) => {
            if d.serve {
                crate::commands::demo::serve(&d, ctx.settings.connect.namespace.as_deref()).await?;
                Ok(0)
            } else {
                crate::commands::demo::show(&d, &mut ctx).await
            }
        }
    }
}

/// The next SIGINT (130) or SIGTERM (143), as the exit code each one means.
async fn signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}
