//! Ceph's word before a restart the plugin causes (issue 23 item 2): before a fence step or
//! an upgrade batch restarts OSDs, mons or MDS, Ceph is asked `ok-to-stop` for exactly those
//! (`plan::ok_to_stop::asks`). While Ceph says no, the run waits (asking again every
//! `RETRY`) within its `--timeout`, then stops with Ceph's reason. Where Ceph cannot be
//! asked (no exec right, no operator pod, no answer) nothing is restarted unless the user
//! passed `--allow-unchecked-restarts`; a "no" from Ceph stops the run with or without it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cluster::Kube;
use crate::cluster::ceph::{Ceph, CephError};
use crate::error::{Error, Result};
use crate::model::ceph::{OkToStop, ok_to_stop_of};
use crate::model::daemon::DaemonId;
use crate::output::clean;
use crate::plan::ok_to_stop::{Ask, asks};

/// How long to wait between two asks while Ceph says no or does not answer.
pub const RETRY: Duration = Duration::from_secs(5);
/// How long one `ceph ... ok-to-stop` may take (Ceph's own `--connect-timeout`).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// What lifts the refusal to restart unchecked, named in every such refusal.
pub const ALLOW_UNCHECKED: &str = "--allow-unchecked-restarts";

/// Where and how to ask, for one command.
pub struct CephGate {
    kube: Kube,
    cluster_namespace: String,
    /// The pod `ceph` runs in, or why none could be found; found again after a failure (an
    /// operator pod that restarted has a new name).
    found: Mutex<std::result::Result<Ceph, CephError>>,
    /// `--allow-unchecked-restarts`.
    pub allow_unchecked: bool,
    /// Deployment name -> the daemon it runs: what a step's writes restart.
    pub daemons: BTreeMap<String, DaemonId>,
    /// mons and MDS restart together (a fence step) rather than one after another (Rook's
    /// rollout of what an upgrade stage releases).
    pub together: bool,
    /// `upgradeOSDRequiresHealthyPGs`: before OSDs restart every PG must be in a state this
    /// matches (`pgHealthyRegex`), as Rook's osd/update.go waits before its own batches.
    pub pgs_healthy: Option<regex::Regex>,
    /// Said already this run that Ceph could not be asked for its health.
    said_no_health: std::sync::atomic::AtomicBool,
}

/// The PG states an OSD restart waits for, from the CephCluster's knobs: None where
/// `upgradeOSDRequiresHealthyPGs` is off or `skipUpgradeChecks` on (Rook's osd/update.go);
/// Err where `pgHealthyRegex` does not compile (Rook stops its OSD updates on that too).
pub fn pgs_healthy(c: &crate::model::Cluster) -> std::result::Result<Option<regex::Regex>, String> {
    if !c.knobs.upgrade_osd_requires_healthy_pgs || c.skip_upgrade_checks {
        return Ok(None);
    }
    let re = c.knobs.pg_healthy_regex.as_deref().filter(|r| !r.is_empty());
    let re = re.unwrap_or(crate::model::ceph::DEFAULT_PG_HEALTHY_REGEX);
    regex::Regex::new(re).map(Some).map_err(|e| {
        format!(
            "spec.disruptionManagement.pgHealthyRegex `{}` does not compile ({}): with upgradeOSDRequiresHealthyPGs \
             no OSD restarts until it does",
            clean(re),
            clean(&e.to_string().replace('\n', " "))
        )
    })
}

/// Why a set of daemons is not restarted now.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// Ceph said no (`EBUSY`), with its reason.
    No { ask: Ask, reason: String },
    /// Ceph could not be asked or gave no answer; `reason` as `CephError::reason` says it
    /// (`forbidden`, `noPod`, `timeout`, `exit`, `notJson`, `api`).
    Unanswered { ask: Ask, error: String, retry: bool, reason: &'static str },
    /// Not every placement group is in a healthy state (`upgradeOSDRequiresHealthyPGs`).
    Unclean { ask: Ask, states: String },
}

impl Held {
    /// Ceph could not be asked `ask`: why, and whether asking again may help (a refused
    /// exec will not, until someone grants it).
    fn unanswered(ask: &Ask, e: &CephError) -> Held {
        Held::Unanswered {
            ask: ask.clone(),
            error: e.to_string(),
            retry: !matches!(e, CephError::Forbidden { .. }),
            reason: e.reason(),
        }
    }

    /// One line: which daemons, what Ceph said or why it could not be asked.
    pub fn text(&self) -> String {
        match self {
            Held::No { ask, reason } => format!(
                "Ceph says {} {} not ok to stop: {} (`{}`)",
                clean(&ask.daemons.join(", ")),
                if ask.daemons.len() == 1 { "is" } else { "are" },
                clean(reason),
                clean(&ask.command())
            ),
            Held::Unclean { ask, states } => format!(
                "placement groups are not all clean before {} restart{} (upgradeOSDRequiresHealthyPGs, \
                 pgHealthyRegex): {}",
                clean(&ask.daemons.join(", ")),
                if ask.daemons.len() == 1 { "s" } else { "" },
                clean(states)
            ),
            Held::Unanswered { ask, error, .. } => format!(
                "Ceph could not be asked whether {} {} ok to stop: {}",
                clean(&ask.daemons.join(", ")),
                if ask.daemons.len() == 1 { "is" } else { "are" },
                clean(error)
            ),
        }
    }
}

impl CephGate {
    /// Find where `ceph` runs for the cluster in `ns` (lists pods: `Ceph::find`); a failure
    /// is kept and said when a restart needs Ceph's word, never before.
    pub async fn find(kube: &Kube, ns: &str, request_timeout: Option<Duration>) -> CephGate {
        let exec_timeout = request_timeout.map_or(EXEC_TIMEOUT, |t| t.min(EXEC_TIMEOUT));
        let found = Ceph::find(kube, ns, None, exec_timeout).await;
        CephGate {
            kube: kube.clone(),
            cluster_namespace: ns.to_string(),
            found: Mutex::new(found),
            allow_unchecked: false,
            daemons: BTreeMap::new(),
            together: true,
            pgs_healthy: None,
            said_no_health: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The asks for the daemons these Deployments run (none for other types).
    pub fn asks_for(&self, deployments: &[&str]) -> Vec<Ask> {
        asks(deployments.iter().filter_map(|d| self.daemons.get(*d)), self.together)
    }

    fn ceph(&self) -> std::result::Result<Ceph, CephError> {
        self.found.lock().expect("lock").clone()
    }

    /// What a failed command says of the way to Ceph: an exec refused by RBAC is refused
    /// for the rest of the run (rights do not change mid-run), so it is not sent again.
    fn failed(&self, e: &CephError) {
        if matches!(e, CephError::Forbidden { .. }) {
            *self.found.lock().expect("lock") = Err(e.clone());
        }
    }

    /// Find the pod again, after a failure that a new pod may cure.
    async fn find_again(&self) {
        let timeout = self.ceph().map_or(EXEC_TIMEOUT, |c| c.timeout());
        let found = Ceph::find(&self.kube, &self.cluster_namespace, None, timeout).await;
        *self.found.lock().expect("lock") = found;
    }

    /// Ask each once. `None`: every one is ok to stop; else the first that is not.
    pub async fn ask(&self, asks: &[Ask]) -> Option<Held> {
        for ask in asks {
            let ceph = match self.ceph() {
                Ok(c) => c,
                Err(e) => return Some(Held::unanswered(ask, &e)),
            };
            if let (Some(re), true) = (&self.pgs_healthy, ask.args.first().is_some_and(|a| a == "osd")) {
                let held = match ceph.json(&["status"]).await {
                    Ok(v) => {
                        crate::model::ceph::pgs_unclean(&v, re).map(|states| Held::Unclean { ask: ask.clone(), states })
                    }
                    Err(e) => {
                        self.failed(&e);
                        Some(Held::unanswered(ask, &e))
                    }
                };
                if held.is_some() {
                    return held;
                }
            }
            let args: Vec<&str> = ask.args.iter().map(String::as_str).collect();
            let held = match ceph.output(&args).await {
                Ok(out) => match ok_to_stop_of(ask.args[0] == "osd", out.code, &out.stdout, &out.stderr) {
                    Ok(OkToStop::Yes) => None,
                    Ok(OkToStop::No { reason }) => Some(Held::No { ask: ask.clone(), reason }),
                    Err(e) => Some(Held::Unanswered {
                        ask: ask.clone(),
                        error: format!("`{}` in pod {}: {e}", ask.command(), ceph.pod_name()),
                        retry: true,
                        reason: if out.code == 0 { "notJson" } else { "exit" },
                    }),
                },
                Err(e) => {
                    self.failed(&e);
                    Some(Held::unanswered(ask, &e))
                }
            };
            if held.is_some() {
                return held;
            }
        }
        None
    }

    /// Ceph's own health now (`ceph health detail`): why it stops the next restart (None:
    /// it does not), or Err with why Ceph could not be asked.
    pub async fn health_blocks(&self) -> std::result::Result<Option<String>, String> {
        let ceph = self.ceph().map_err(|e| e.to_string())?;
        match ceph.json(&["health", "detail"]).await {
            Ok(v) => match crate::model::ceph::health_of(&v) {
                Some((status, checks)) => Ok(crate::model::ceph::health_blocks(&status, &checks)),
                None => Err(format!("`ceph health detail` in pod {} answered no status", ceph.pod_name())),
            },
            Err(e) => {
                self.failed(&e);
                if !matches!(e, CephError::Forbidden { .. }) {
                    self.find_again().await;
                }
                Err(e.to_string())
            }
        }
    }

    /// Say once a run, not at every gate (hundreds of lines over a 2000-OSD run), that
    /// Ceph could not be asked for its health (`why`) and Rook's copy is read instead.
    pub fn say_health_unasked(&self, why: &str) {
        if !self.said_no_health.swap(true, std::sync::atomic::Ordering::Relaxed) {
            crate::output::note(&format!(
                "Ceph could not be asked for its health ({}): the health gates read Rook's status.ceph, refreshed \
                 about every 60 s",
                clean(why)
            ));
        }
    }

    /// `ceph versions` now: daemon type -> version line -> count; Err: why Ceph could not be
    /// asked (no new search for the pod: the health gate does that).
    pub async fn versions(&self) -> std::result::Result<BTreeMap<String, BTreeMap<String, u64>>, String> {
        let ceph = self.ceph().map_err(|e| e.to_string())?;
        let v = ceph.json(&["versions"]).await.map_err(|e| {
            self.failed(&e);
            e.to_string()
        })?;
        crate::model::ceph::versions_of(&v)
            .ok_or_else(|| format!("`ceph versions` in pod {} answered no counts by type", ceph.pod_name()))
    }

    /// The way to `ceph` found, for a task that outlives this gate (the signal cleanup).
    pub fn handle(&self) -> Option<Ceph> {
        self.ceph().ok()
    }

    /// Whether a `ceph` pod was found (and exec was not refused): flags can be set.
    pub fn reachable(&self) -> std::result::Result<(), String> {
        self.ceph().map(|_| ()).map_err(|e| e.to_string())
    }

    /// Run `ceph <args>` that changes the cluster (`osd set-group noout node-01`): Ok when
    /// it exits 0 (such commands print nothing on stdout); Err: why not, with Ceph's own
    /// stderr (sanitised).
    pub async fn change(&self, args: &[String]) -> std::result::Result<(), String> {
        let ceph = self.ceph().map_err(|e| e.to_string())?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match ceph.output(&args).await {
            Ok(out) if out.code == 0 => Ok(()),
            Ok(out) => Err(format!(
                "`ceph {}` in pod {} exited with {}: {}",
                clean(&args.join(" ")),
                ceph.pod_name(),
                out.code,
                crate::cluster::ceph::bounded(
                    &String::from_utf8_lossy(&out.stderr),
                    crate::cluster::ceph::STDERR_SHOWN
                )
            )),
            Err(e) => {
                self.failed(&e);
                Err(e.to_string())
            }
        }
    }

    /// `ceph <args> -f json` (`osd dump`, `osd tree`); Err: why Ceph could not be asked.
    pub async fn json(&self, args: &[&str]) -> std::result::Result<serde_json::Value, String> {
        let ceph = self.ceph().map_err(|e| e.to_string())?;
        ceph.json(args).await.map_err(|e| {
            self.failed(&e);
            e.to_string()
        })
    }

    /// `ceph osd dump -f json` cut to what the OSD flags are judged by
    /// (`osd_flag::OsdDump`), as JSON; Err: why Ceph could not be asked.
    pub async fn osd_dump(&self) -> std::result::Result<serde_json::Value, String> {
        let ceph = self.ceph().map_err(|e| e.to_string())?;
        match ceph.json_as::<crate::model::osd_flag::OsdDump>(&["osd", "dump"]).await {
            Ok(d) => Ok(d.into_value()),
            Err(e) => {
                self.failed(&e);
                Err(e.to_string())
            }
        }
    }

    /// Ask until every one is ok to stop, within `timeout`. Err: Ceph's reason, or why it
    /// could not be asked and what lifts that; Ok with `allow_unchecked` where Ceph could
    /// not be asked (said on stderr).
    pub async fn wait(&self, asks: &[Ask], timeout: Duration) -> Result<()> {
        if asks.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let mut said: Option<String> = None;
        loop {
            let Some(held) = self.ask(asks).await else { return Ok(()) };
            if let (Held::Unanswered { .. }, true) = (&held, self.allow_unchecked) {
                crate::output::note(&format!("{}: restarting them unchecked ({ALLOW_UNCHECKED})", held.text()));
                return Ok(());
            }
            let retry = !matches!(held, Held::Unanswered { retry: false, .. });
            let left = timeout.saturating_sub(start.elapsed());
            if !retry || left.is_zero() {
                return Err(Error::Failed(refusal(&held, retry.then(|| start.elapsed()))));
            }
            // said in full once; while it stays the same, only how long it has lasted
            let text = held.text();
            if said.as_deref() == Some(text.as_str()) {
                crate::output::note(&format!("  still so after {}s: asking again", start.elapsed().as_secs()));
            } else {
                crate::output::note(&format!("{text}: asking again every {}s within --timeout", RETRY.as_secs()));
                said = Some(text);
            }
            if matches!(held, Held::Unanswered { .. }) {
                self.find_again().await;
            }
            tokio::time::sleep(RETRY.min(left)).await;
        }
    }
}

/// The refusal: what Ceph said (and how long it was asked), or why it could not be asked
/// and what lifts that.
pub fn refusal(held: &Held, waited: Option<Duration>) -> String {
    let waited = waited.map(|w| format!(" (asked for {}s)", w.as_secs())).unwrap_or_default();
    match held {
        Held::No { .. } | Held::Unclean { .. } => format!("{}{waited}", held.text()),
        Held::Unanswered { reason, .. } => {
            let cure = match *reason {
                "forbidden" => "grant the exec right (deploy/rbac.yaml, role ceph-image-ceph-exec)",
                "noPod" => "bring the Rook operator pod back (or run Rook's toolbox, deploy/examples/toolbox.yaml)",
                _ => {
                    "check that Ceph answers (`kubectl exec deploy/rook-ceph-operator -- ceph status`: a Ceph \
                     without mon quorum answers nothing)"
                }
            };
            format!(
                "{}{waited}. Without Ceph's word no OSD, mon or MDS is restarted: {cure}, or pass {ALLOW_UNCHECKED} to \
                 restart them unchecked",
                held.text()
            )
        }
    }
}
