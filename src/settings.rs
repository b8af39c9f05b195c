//! Parse, then resolve: flags and environment become one settings value, decided once.
//! Nothing deeper reads the environment or asks whether a stream is a terminal.

use std::io::IsTerminal;

use std::time::Duration;

use crate::cli::{ChangeArgs, ColorChoice, DryRun, GlobalArgs, OutputFormat};
use crate::cluster::connect::ConnectOptions;
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
    /// `--allow-unchecked-restarts` (a fence): restart where Ceph cannot be asked
    /// `ok-to-stop` (issue 23 item 2).
    pub allow_unchecked_restarts: bool,
    /// `--no-noout` (a fence): no noout on the OSDs of each step while they restart.
    pub no_noout: bool,
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

/// The most each duration flag may say: beyond these a value is a typing error, and
/// deadlines stay far inside what timers can represent.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MAX_PAUSE_BETWEEN: Duration = Duration::from_secs(24 * 3600);

/// A duration flag as kubectl writes them: `0`, a bare number of seconds, or numbers with
/// units `ms`, `s`, `m`, `h` (`1m30s`, `1.5h`), bounded by `max`. `Ok(None)` is zero,
/// which each flag gives its meaning (no limit, no pause). Integer arithmetic throughout:
/// no value, however long, can overflow or panic; a negative, unitless fraction, unknown
/// unit or sub-millisecond value is refused naming the flag, the value and what would do.
pub fn duration_flag(flag: &str, value: &str, max: Duration, zero: &str) -> Result<Option<Duration>> {
    let hint = format!("e.g. 30s, 2m, 1h30m, or 0 for {zero}; at most {}", human(max));
    let bad = |why: &str| Error::usage(format!("{flag} {value:?}: {why} ({hint})"));
    let v = value.trim();
    if v.is_empty() {
        return Err(bad("empty"));
    }
    if v.starts_with('-') {
        return Err(bad("a duration cannot be negative"));
    }
    if v == "0" {
        return Ok(None);
    }
    // Milliseconds, saturating at anything past the maximum (which is then refused).
    let cap = max.as_millis().saturating_add(1);
    let (mut total, mut rest, mut bare) = (0u128, v, false);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        if num.is_empty() {
            return Err(bad("expected a number before each unit"));
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let per_unit: u128 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if digits == v.len() => {
                bare = true;
                1000
            }
            "" => return Err(bad("every number needs a unit (ms, s, m, h)")),
            "ns" | "us" | "µs" => return Err(bad("the smallest unit is ms")),
            "d" => return Err(bad("days are written in hours (24h)")),
            other => return Err(bad(&format!("unknown unit {other:?}: use ms, s, m or h"))),
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') || (bare && !frac.is_empty()) {
            return Err(bad("not a number"));
        }
        // digits past what the maximum can hold only make it larger
        let mut ms: u128 = 0;
        for d in whole.bytes() {
            ms = (ms * 10 + u128::from(d - b'0')).min(cap);
        }
        ms = ms.saturating_mul(per_unit).min(cap);
        // a fraction of the unit, to the millisecond (at most 12 digits count)
        let frac = &frac[..frac.len().min(12)];
        if !frac.is_empty() {
            let f: u128 = frac.parse().unwrap_or(0);
            ms = ms.saturating_add(f * per_unit / 10u128.pow(frac.len() as u32)).min(cap);
        }
        total = total.saturating_add(ms).min(cap);
        rest = next;
    }
    if total == 0 {
        return if v.bytes().all(|b| b == b'0' || b == b'.' || b.is_ascii_alphabetic()) {
            Ok(None)
        } else {
            Err(bad("less than a millisecond"))
        };
    }
    if total > max.as_millis() {
        return Err(bad("too long"));
    }
    Ok(Some(Duration::from_millis(total as u64)))
}

/// `7d (168h)`, `24h`, `15m`: a bound as people read it.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86400 && s % 86400 == 0 && s > 86400 => format!("{}h ({} days)", s / 3600, s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A name the API server would accept in a path: a DNS-1123 label (namespaces) or
/// subdomain (CephCluster names), checked before anything is sent.
fn check_name(flag: &str, value: &str, subdomain: bool) -> Result<()> {
    let max = if subdomain { 253 } else { 63 };
    let what = if subdomain { "a DNS-1123 subdomain" } else { "a DNS-1123 label" };
    let example = if flag == "--namespace" { "rook-ceph" } else { "my-cluster" };
    if value.is_empty() {
        return Err(Error::usage(format!(
            "{flag} is empty: name one (e.g. {flag} {example}), or leave the flag out for the default"
        )));
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    let ok = value.len() <= max && if subdomain { value.split('.').all(part_ok) } else { part_ok(value) };
    if !ok {
        return Err(Error::usage(format!(
            "{flag} {:?} is not a valid name: it must be {what} (lower-case letters, digits and '-'{}, starting \
             and ending with a letter or digit, at most {max} characters), e.g. {example}",
            crate::output::clean(value),
            if subdomain { ", dot-separated" } else { "" }
        )));
    }
    Ok(())
}

/// Resolve the global flags and, for a command that changes the cluster, its change flags
/// (`None`: a command without them, which then never applies, waits or skips a prompt).
pub fn resolve(g: &GlobalArgs, change: Option<&ChangeArgs>, env: &Env) -> Result<Settings> {
    if let Some(ns) = &g.namespace {
        check_name("--namespace", ns, false)?;
    }
    if let Some(c) = &g.cluster {
        check_name("--cluster", c, true)?;
    }
    let timeout = duration_flag("--request-timeout", &g.request_timeout, MAX_REQUEST_TIMEOUT, "no limit")?;
    let none = ChangeArgs::default();
    let c = change.unwrap_or(&none);
    if c.exit_code && c.dry_run.is_none() {
        return Err(Error::usage("--exit-code goes with --dry-run: it reports whether the plan restarts pods"));
    }
    let wait_for = match &c.timeout {
        None => Some(Duration::from_secs(15 * 60)),
        Some(t) => duration_flag("--timeout", t, MAX_TIMEOUT, "no limit")?,
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
        allow_unchecked_restarts: false,
        no_noout: false,
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
            terminal: crate::cluster::exec::Terminal { stdin: env.stdin_tty, stderr: env.stderr_tty },
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
        for (args, why) in [
            (&["status", "-n", ""][..], "--namespace is empty"),
            (&["status", "-n", "Rook_Ceph"][..], "not a valid name: it must be a DNS-1123 label"),
            (&["status", "--cluster", ""][..], "--cluster is empty"),
            (&["set", "mgr", "x:1", "--timeout", "99999999999h"][..], "--timeout \"99999999999h\": too long"),
            (&["set", "mgr", "x:1", "--timeout", "-5m"][..], "cannot be negative"),
            (&["status", "--request-timeout", "99999999999999999999999s"][..], "too long"),
            (&["status", "--request-timeout", "25h"][..], "at most 24h"),
            (&["status", "--request-timeout", "1ns"][..], "the smallest unit is ms"),
            (&["status", "--request-timeout", "0.0001s"][..], "less than a millisecond"),
            (&["set", "mgr", "x:1", "--timeout", "1.5"][..], "not a number"),
            (&["set", "mgr", "x:1", "--timeout", "5m3"][..], "every number needs a unit"),
            (&["set", "mgr", "x:1", "--timeout", ""][..], "empty"),
        ] {
            let e = settings(args, &env(false, false)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(why), "{args:?}: {e}");
        }
    }

    #[test]
    fn durations_as_kubectl_writes_them() {
        let d = |v: &str| duration_flag("--timeout", v, MAX_TIMEOUT, "no limit");
        assert_eq!(d("0").unwrap(), None);
        assert_eq!(d("0s").unwrap(), None);
        assert_eq!(d("30").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(d("1m30s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(d("500ms").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(d("1.5h").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(d(".5s").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(d("168h").unwrap(), Some(MAX_TIMEOUT));
        let e = d("168h1ms").unwrap_err().to_string();
        assert!(e.contains("too long") && e.contains("at most 168h (7 days)") && e.contains("0 for no limit"), "{e}");
        for bad in ["1x", "s", "h1", "1d", "1..5s", "--5s", "1e9s", "∞"] {
            assert_eq!(d(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert!(settings(&["status", "-n", "storage-1"], &env(false, false)).is_ok());
        assert!(settings(&["status", "--cluster", "my.cluster-1"], &env(false, false)).is_ok());
        assert!(!settings(&["status"], &env(false, false)).unwrap().interactive);
    }
}
