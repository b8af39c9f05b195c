//! From parsed command line to exit code.

use crate::cli::{Cli, Command, Strategy};
use crate::commands::{self, Ctx};
use crate::daemon::DaemonType;
use crate::error::{Error, Result};
use crate::image;
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
    match crate::daemon::closest(s, ["base"]) {
        Some(_) if s.parse::<DaemonType>().is_err() => {
            Err(Error::usage(format!("unknown daemon type {s:?}: did you mean base (spec.cephVersion.image)?")))
        }
        _ => parse_type(s),
    }
}

fn parse_image(s: &str) -> Result<String> {
    image::parse(s).map(|r| r.original).map_err(Error::Usage)
}

/// `kubectl_complete-ceph_image WORDS...` (kubectl's plugin completion) or `__complete`.
pub async fn complete(words: Vec<String>) -> i32 {
    let (cands, directive) = crate::complete::complete(&words).await;
    crate::complete::print(&cands, directive);
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
                    eprintln!(
                        "\n{} received: finishing the writes in flight, then stopping",
                        if code == 130 { "SIGINT" } else { "SIGTERM" }
                    );
                    continue;
                }
                eprint!("\x1b[?25h");
                eprintln!("\ninterrupted");
                std::process::exit(code);
            }
        });
    }
    let env = Env::detect();
    let mut s = settings::resolve(&cli.global, cli.change_args(), &env)?;
    s.force = matches!(&cli.command, Some(Command::Set { force: true, .. } | Command::Unset { force: true, .. }));
    if let Some(Command::Set { strategy, batch_by, max_unavailable, pause_between, .. }) = &cli.command {
        let pacing = batch_by.is_some() || max_unavailable.is_some() || pause_between.is_some();
        if pacing && !matches!(strategy, Strategy::Fence) {
            return Err(Error::usage(
                "--batch-by, --max-unavailable and --pause-between pace a fence (--strategy fence); an override's \
                 rollout is Rook's own",
            ));
        }
        if let Some(p) = pause_between {
            s.pause_between = crate::cluster::connect::parse_duration(p)
                .map_err(|e| Error::usage(format!("--pause-between: {e}")))?
                .unwrap_or_default();
            if s.pause_between > std::time::Duration::from_secs(24 * 3600) {
                return Err(Error::usage(format!(
                    "--pause-between {p}: at most 24h between two steps (e.g. 2m, 30m, 1h)"
                )));
            }
        }
    }
    let mut prompt = TerminalConfirm;
    let confirm: &mut dyn Confirm = &mut prompt;
    let mut ctx = Ctx { settings: &s, confirm };
    match cli.command {
        None if s.interactive => crate::editor::run(&mut ctx).await,
        None => Err(Error::usage(
            "no command given and no terminal for the interactive editor: use one of status, set, unset, pause, \
             resume, completion, demo (kubectl ceph-image --help)",
        )),
        Some(Command::Status) => commands::status::run(&mut ctx).await,
        Some(Command::Set { target, image, strategy, batch_by, max_unavailable, .. }) => {
            let image = parse_image(&image)?;
            match (strategy, target.as_str()) {
                (Strategy::Fence, "base") => Err(Error::usage(
                    "--strategy fence pins one daemon type; the base image is the CephCluster's: `set base IMAGE`",
                )),
                (Strategy::Fence, t) => {
                    let dtype = parse_type(t)?;
                    crate::plan::check_fenceable(dtype).map_err(|e| Error::usage(e.to_string()))?;
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
        Some(Command::Pause(t)) => commands::labels::run(&mut ctx, &t, true).await,
        Some(Command::Resume(t)) => commands::labels::run(&mut ctx, &t, false).await,
        Some(Command::Completion { shell: clap_complete::Shell::Bash }) => {
            crate::output::emit(&crate::complete::bash_script());
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
                crate::demo::serve(&d).await.map_err(Error::Failed)?;
                Ok(0)
            } else {
                crate::demo::show(&d, &mut ctx).await
            }
        }
    }
}

/// Print an error as the last word, on stderr.
pub fn report(e: &Error, styles: &crate::output::Styles) {
    use owo_colors::OwoColorize;
    let text = crate::output::clean(&e.to_string()).into_owned();
    match e {
        Error::Api(_) => note(&text),
        Error::Declined => note(&format!("{}", text.style(styles.warn))),
        // Ctrl-C in a prompt: leave the terminal sane.
        Error::Interrupted => note("\x1b[?25h\ninterrupted"),
        _ => note(&format!("{} {text}", "error:".style(styles.error))),
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
