//! From parsed command line to exit code.

use crate::cli::{Cli, Command};
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
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprint!("\x1b[?25h");
                eprintln!("\ninterrupted");
                std::process::exit(130);
            }
        });
    }
    let env = Env::detect();
    let s = settings::resolve(&cli.global, &env)?;
    let mut prompt = TerminalConfirm;
    let confirm: &mut dyn Confirm = &mut prompt;
    let mut ctx = Ctx { settings: &s, confirm };
    match cli.command {
        None => Err(Error::usage(
            "no command given: use one of status, set, unset, pause, resume, demo (kubectl ceph-image --help)",
        )),
        Some(Command::Status) => commands::status::run(&mut ctx).await,
        Some(Command::Set { target, image }) => {
            let target = if target == "base" { Target::Base } else { Target::Type(parse_type(&target)?) };
            let image = parse_image(&image)?;
            commands::change::run(&mut ctx, Change::SetImage { target, image }).await
        }
        Some(Command::Unset { target }) => {
            if target == "base" {
                return Err(Error::usage("the base image cannot be unset: use `set base IMAGE` to change it"));
            }
            commands::change::run(&mut ctx, Change::Unset(parse_type(&target)?)).await
        }
        Some(Command::Pause(t)) => commands::labels::run(&mut ctx, &t, true).await,
        Some(Command::Resume(t)) => commands::labels::run(&mut ctx, &t, false).await,
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
        _ => note(&format!("{} {text}", "error:".style(styles.error))),
    }
}
