//! The process that runs a staged upgrade (`model::Runner`, recorded in its state when a
//! run takes the upgrade on): a second `upgrade resume` or `upgrade IMAGE` while it runs on
//! this host is refused up front, naming it; one whose process is gone (killed) is gone on
//! with, as `upgrade resume` promises.

use crate::error::{Error, Result};
use crate::model::Runner;
use crate::output::clean;
use crate::plan::upgrade::State;

/// This process, as the state records the run.
pub(super) fn me() -> Runner {
    Runner { host: hostname(), pid: std::process::id(), since: super::now() }
}

/// The host's name, as the kernel has it (Linux: `/proc/sys/kernel/hostname`); elsewhere
/// `$HOSTNAME` or nothing (then no run is taken for one on this host).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// The run that `runner` names is alive on this host: a process by its pid whose command
/// line is this plugin's, so a pid used again by another program does not count (Linux,
/// `/proc`; where there is none, no run is seen and two runs meet at the next state write,
/// where the later one stops). A run on another host cannot be seen from here.
pub(super) fn alive_here(r: &Runner) -> bool {
    if r.host.is_empty() || r.host != hostname() || r.pid == std::process::id() {
        return false;
    }
    std::fs::read(format!("/proc/{}/cmdline", r.pid)).is_ok_and(|c| {
        let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(argv0).rsplit('/').next().is_some_and(|n| n.contains("ceph-image"))
    })
}

/// A second run while the state says another one runs on this host and that process is
/// alive: refused up front (exit 2), naming it; nothing is written. A run that was killed
/// (its pid gone) is gone on with, as `upgrade resume` promises.
pub(super) fn refuse_if_running(st: &State, what: &str) -> Result<()> {
    match &st.runner {
        Some(r) if st.phase == "running" && alive_here(r) => Err(Error::usage(format!(
            "the upgrade to {} is being run by another process ({}, at {}): {what} is refused and moves nothing. \
             `upgrade status` shows it; `upgrade pause` or `upgrade abort` stops it",
            clean(&st.params.image),
            crate::render::upgrade_run::runner_text(r),
            if st.stage.is_empty() { "its start".to_string() } else { format!("stage {}", clean(&st.stage)) }
        ))),
        _ => Ok(()),
    }
}
