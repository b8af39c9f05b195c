//! Parse, then resolve: flags and environment become one settings value, decided once.
//! Nothing deeper reads the environment or asks whether a stream is a terminal.

use std::io::IsTerminal;

use crate::cli::{ChangeArgs, ColorChoice, DryRun, GlobalArgs, OutputFormat};
use crate::cluster::connect::{ConnectOptions, parse_duration};
use crate::error::{Error, Result};
use crate::output::Styles;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `text`, `json` or `yaml` (`-o wide` is text with `wide` set).
    pub output: OutputFormat,
    /// `-o wide`: text that lists every row instead of summarising long lists.
    pub wide: bool,
    pub dry_run: Option<DryRun>,
    pub yes: bool,
    pub exit_code: bool,
    /// stdin and stderr are terminals: a prompt can be answered.
    pub interactive: bool,
    pub out_styles: Styles,
    pub err_styles: Styles,
    pub connect: ConnectOptions,
    pub cluster: Option<String>,
    /// `--wait`: follow the rollout after applying.
    pub wait: bool,
    /// `--timeout`: how long any wait for pods may take (`--wait`, and a fence's steps).
    pub timeout: std::time::Duration,
    /// stderr is a terminal: progress as a bar, else one line per event.
    pub progress_bar: bool,
    /// `--force` (set, unset): write a CephCluster that another controller owns.
    pub force: bool,
    /// `-v=N` (0 when absent): how much the request log says.
    pub verbosity: u8,
    /// `--pause-between` (a fence): the wait between steps once a step's pods are Ready.
    pub pause_between: std::time::Duration,
    /// Text lines cut to this many columns: set by the editor, whose screens must fit the
    /// terminal; None for commands (a pipe or a scrollback has no width).
    pub fit_width: Option<usize>,
}

/// The environment the settings are resolved against.
pub struct Env {
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    pub stdin_tty: bool,
    pub no_color: bool,
    pub term_dumb: bool,
}

impl Env {
    pub fn detect() -> Env {
        Env {
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            stdin_tty: std::io::stdin().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            term_dumb: std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        }
    }
}

fn colour(choice: ColorChoice, tty: bool, env: &Env) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !env.no_color && !env.term_dumb,
    }
}

/// Resolve the global flags and, for a command that changes the cluster, its change flags
/// (`None`: a command without them, which then never applies, waits or skips a prompt).
pub fn resolve(g: &GlobalArgs, change: Option<&ChangeArgs>, env: &Env) -> Result<Settings> {
    let timeout = parse_duration(&g.request_timeout).map_err(|e| Error::usage(format!("--request-timeout: {e}")))?;
    let none = ChangeArgs::default();
    let c = change.unwrap_or(&none);
    if c.exit_code && c.dry_run.is_none() {
        return Err(Error::usage("--exit-code goes with --dry-run: it reports whether the plan restarts pods"));
    }
    let wait_for = if c.timeout.is_empty() {
        Some(std::time::Duration::from_secs(15 * 60))
    } else {
        parse_duration(&c.timeout).map_err(|e| Error::usage(format!("--timeout: {e}")))?
    };
    let styles = |on: bool| if on { Styles::colored() } else { Styles::plain() };
    let wide = g.output == OutputFormat::Wide;
    let output = if wide { OutputFormat::Text } else { g.output };
    Ok(Settings {
        output,
        wide,
        dry_run: c.dry_run,
        yes: c.yes,
        force: false,
        pause_between: std::time::Duration::ZERO,
        fit_width: None,
        verbosity: g.verbosity.unwrap_or(0),
        exit_code: c.exit_code,
        interactive: env.stdin_tty && env.stderr_tty,
        out_styles: styles(output == OutputFormat::Text && colour(g.color, env.stdout_tty, env)),
        err_styles: styles(colour(g.color, env.stderr_tty, env)),
        connect: ConnectOptions {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            namespace: g.namespace.clone(),
            request_timeout: timeout,
            verbose: g.verbosity.is_some_and(|v| v >= 1),
        },
        cluster: g.cluster.clone(),
        wait: c.wait,
        // `--timeout 0`: no limit (a year, so deadlines stay representable)
        timeout: wait_for.unwrap_or(std::time::Duration::from_secs(365 * 86400)),
        progress_bar: env.stderr_tty && !env.term_dumb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn env(tty: bool, no_color: bool) -> Env {
        Env { stdout_tty: tty, stderr_tty: tty, stdin_tty: tty, no_color, term_dumb: false }
    }

    fn settings(args: &[&str], e: &Env) -> Result<Settings> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("kubectl-ceph-image").chain(args.iter().copied())).unwrap();
        resolve(&cli.global, cli.change_args(), e)
    }

    #[test]
    fn colour_only_on_terminals_and_without_no_color() {
        assert!(settings(&["status"], &env(true, false)).unwrap().out_styles.header != Styles::plain().header);
        assert_eq!(settings(&["status"], &env(false, false)).unwrap().out_styles.header, Styles::plain().header);
        assert_eq!(settings(&["status"], &env(true, true)).unwrap().out_styles.header, Styles::plain().header);
        assert!(
            settings(&["status", "--color", "always"], &env(false, true)).unwrap().out_styles.header
                != Styles::plain().header
        );
        assert_eq!(
            settings(&["status", "--color=never"], &env(true, false)).unwrap().err_styles.header,
            Styles::plain().header
        );
    }

    #[test]
    fn dry_run_forms_and_bad_flags() {
        assert_eq!(
            settings(&["set", "mgr", "x:1", "--dry-run"], &env(false, false)).unwrap().dry_run,
            Some(DryRun::Client)
        );
        assert_eq!(
            settings(&["set", "mgr", "x:1", "--dry-run=server"], &env(false, false)).unwrap().dry_run,
            Some(DryRun::Server)
        );
        assert!(
            settings(&["status", "--request-timeout", "soon"], &env(false, false))
                .unwrap_err()
                .to_string()
                .contains("--request-timeout")
        );
        assert_eq!(settings(&["set", "mgr", "x:1", "--exit-code"], &env(false, false)).unwrap_err().exit_code(), 2);
        assert!(!settings(&["status"], &env(false, false)).unwrap().interactive);
    }
}
