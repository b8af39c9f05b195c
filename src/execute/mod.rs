//! The one executor (DESIGN §3): every change is an ordered list of writes, each with its
//! object, its exact patch, its precondition and how to tell it is applied; this module runs
//! such a list for every command and the editor, and keeps a journal of what was done.
//!
//! - Steps run in order; the writes of one step go concurrently (at most `CONCURRENCY`).
//!   Holds are in steps before any write that would restart what they hold, releases after.
//! - A write whose answer is lost, or that meets 409 or a server error, is judged by reading
//!   the object back: applied is reported as applied, and nothing is applied twice (label
//!   patches are idempotent; every other write carries a resourceVersion precondition).
//! - A preconditioned write that meets 409 and is not applied is a conflict: the caller
//!   re-reads and judges it by intent (`commands::change`).
//! - Pods the plugin makes itself (an upgrade's pre-pull pods, `prepull`) are created and
//!   deleted here too: a create that meets 409 AlreadyExists, or loses its answer, is read
//!   back (a pod of ours as asked is the create done); a delete reads the pod first and
//!   deletes only one of ours, with its uid as precondition (404 is the delete done).
//! - SIGINT/SIGTERM during a run: no new write is sent, those in flight finish, cleanup
//!   writes (removing a CephCluster-level label the run added, deleting pods it created)
//!   still go, and the journal says what was done, what was not, and the command that
//!   finishes the job.
//! - Between steps that restart pods: the rollout gate (`wait`: a LIST and watch of its
//!   own, or a `cluster::view` the caller keeps), Ceph's ok-to-stop and the OSD flag
//!   commands (`ceph_gate`), the down gate. The journal, the record of each write, is data
//!   (`plan::journal`, re-exported here).

pub mod ceph_gate;
pub mod prepull;
pub mod wait;

pub use crate::plan::journal::{Done, Entry, Journal};

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use futures::StreamExt;
use serde_json::Value;

use crate::cluster::Kube;
use crate::cluster::write;
use crate::error::{Error, Result};
use crate::plan::writes::{Object, PatchType, Write};

/// How many writes of one step are in flight at once: enough to label 200 OSDs quickly,
/// few enough not to trip API priority and fairness.
pub const CONCURRENCY: usize = write::CONCURRENCY;

// Interrupts: while a run is under way, SIGINT/SIGTERM stop it between writes instead of
// killing the process, so the journal can be printed.
static RUNNING: AtomicBool = AtomicBool::new(false);
static STOP: AtomicI32 = AtomicI32::new(0);
static STOPPED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Called by the signal handler: true when a run takes the signal (the process must not exit).
pub fn take_signal(code: i32) -> bool {
    if RUNNING.load(Ordering::SeqCst) {
        STOP.store(code, Ordering::SeqCst);
        STOPPED.notify_waiters();
        true
    } else {
        false
    }
}

/// Run `f` unless a signal stops the run first (then None): waits between steps (pods
/// coming Ready, --pause-between, HEALTH_ERR) must not outlast a SIGTERM's grace period.
async fn unless_stopped<F: std::future::Future>(f: F) -> Option<F::Output> {
    let stop = STOPPED.notified();
    tokio::pin!(stop);
    stop.as_mut().enable();
    if stopped().is_some() {
        return None;
    }
    tokio::select! {
        out = f => Some(out),
        _ = stop => None,
    }
}

/// The journal of the last run that wrote something, for a signal that comes after the
/// run but before the command finished (reading back, printing, `--wait`): the process
/// stops then, and says what was done rather than a bare "interrupted".
static LAST: std::sync::Mutex<Option<Journal>> = std::sync::Mutex::new(None);

/// What a signal after the writes should print: the last run's journal, if any write ran.
pub fn after_run_text() -> Option<String> {
    let j = LAST.lock().ok()?.clone()?;
    let mut j = j;
    if j.interrupted.is_none() {
        j.interrupted = Some(0);
    }
    Some(crate::render::journal::text(&j, &rerun_hint()))
}

/// The last run's journal was shown: a later signal is not about it (the editor).
pub fn forget_last() {
    if let Ok(mut last) = LAST.lock() {
        *last = None;
    }
}

fn stopped() -> Option<i32> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        c => Some(c),
    }
}

struct Running;
impl Running {
    fn start() -> Running {
        STOP.store(0, Ordering::SeqCst);
        RUNNING.store(true, Ordering::SeqCst);
        Running
    }
}
impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Where the writes go and how to follow their restarts.
pub struct Target<'a> {
    pub kube: &'a Kube,
    pub namespace: &'a str,
    /// The CephCluster, whose `status.ceph.health` gates each batch that restarts pods.
    pub cluster: String,
    pub dry_run: bool,
    /// The pods each restarting Deployment must replace (`wait::targets` of the plan).
    pub restarts: Vec<crate::execute::wait::Target>,
    pub timeout: std::time::Duration,
    pub progress_bar: bool,
    /// `--pause-between`: after a step whose pods came Ready, wait this long (rook #14933).
    pub pause_between: std::time::Duration,
    /// A fence: before each step that restarts pods, no OSD of another failure domain (of
    /// this kind) may be down (`plan::down::blocker`, issue #22 kind 5).
    pub down_gate: Option<crate::plan::FailureDomain>,
    /// Before each step that restarts OSDs, mons or MDS: Ceph's `ok-to-stop` for them
    /// (issue 23 item 2).
    pub ceph_gate: Option<&'a ceph_gate::CephGate>,
    /// A watch-fed view of the cluster (`cluster::view`, issue 24): where given, each
    /// step's rollout gate and down gate read it instead of listing the namespace again
    /// (a fence of 2000 OSDs in 167 steps listed every daemon's Deployment and pod at each).
    pub view: Option<&'a crate::cluster::view::View>,
}

/// Send one write through `kube` (`t.kube`, or it with fewer attempts left). `uid`: a
/// delete's precondition (the object read just before).
async fn send(t: &Target<'_>, kube: &Kube, w: &Write, uid: Option<&str>) -> Result<Value> {
    let (ns, dry) = (t.namespace, t.dry_run);
    match (&w.object, w.patch_type) {
        (Object::CephCluster(n), PatchType::Merge | PatchType::Strategic) => {
            write::patch_cluster_value(kube, ns, n, &w.patch, dry).await
        }
        (Object::Deployment(n), PatchType::Merge) => write::patch_deployment_value(kube, ns, n, &w.patch, dry).await,
        (Object::Deployment(n), PatchType::Strategic) => {
            write::strategic_patch_deployment_value(kube, ns, n, &w.patch, dry).await
        }
        (Object::Pod(n), PatchType::Create) => write::create_pod_value(kube, ns, n, &w.patch, dry).await,
        (Object::Pod(n), PatchType::Delete) => write::delete_pod_value(kube, ns, n, uid, dry).await,
        // answered by `ceph osd dump` after the command, as a patch is by the object
        (Object::OsdFlag(f), PatchType::Ceph) => {
            let g = t.ceph_gate.ok_or_else(|| Error::Failed(no_ceph(f)))?;
            let args: Vec<String> =
                w.patch.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            g.change(&args).await.map_err(Error::Failed)?;
            read(t, &w.object).await
        }
        (o, p) => Err(Error::Failed(format!("the plugin has no {p:?} write for {}", o.describe()))),
    }
}

async fn read(t: &Target<'_>, o: &Object) -> Result<Value> {
    match o {
        Object::CephCluster(n) => write::get_cluster_value(t.kube, t.namespace, n).await,
        Object::Deployment(n) => write::get_deployment_value(t.kube, t.namespace, n).await,
        Object::Pod(n) => write::get_pod_value(t.kube, t.namespace, n).await,
        Object::OsdFlag(f) => {
            let g = t.ceph_gate.ok_or_else(|| Error::Failed(no_ceph(f)))?;
            g.osd_dump().await.map_err(Error::Failed)
        }
    }
}

/// A flag write in a run that has no way to Ceph (a caller's mistake, said plainly).
fn no_ceph(f: &crate::model::osd_flag::OsdFlag) -> String {
    format!("the OSD flag {} cannot be changed: this run has no way to ask Ceph", f.describe())
}

/// Before a delete: read the object. `Err(done)` when there is nothing to delete (absent,
/// being deleted, or not ours: `Expect::Gone`) or it cannot be read, else `Ok` with its
/// uid for the DELETE's precondition.
async fn before_delete(t: &Target<'_>, w: &Write) -> std::result::Result<Option<String>, Done> {
    match read(t, &w.object).await {
        Err(e) if e.api_code() == Some(404) => Err(Done::Applied),
        Err(e) => Err(Done::Failed { error: e.to_string() }),
        Ok(obj) if w.expect.holds(&obj) => Err(Done::Applied),
        Ok(obj) => Ok(obj.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string)),
    }
}

/// One write: send it; on an answer that does not show it applied, a 409, a server error
/// or no answer, read the object back and judge by what it shows. Applied is applied;
/// not applied is sent again after the retry policy's delay, unless it is a preconditioned
/// write that met 409: that is a conflict, for the caller to judge by intent. The
/// transport repeats a write only when the server refused it unprocessed (429, 503:
/// `api::Kube::send`), so a write that landed is never sent twice. One bound for both
/// loops: the write is sent at most `api::ATTEMPTS` times in all, the transport's repeats
/// counted (each send gets what is left), and the error says how many.
async fn one(t: &Target<'_>, w: &Write) -> Done {
    // A server dry run's answer is the object as it would be stored: a field the CRD
    // prunes is missing from it (FACTS §1), so it is judged like a real answer.
    let delete = w.patch_type == PatchType::Delete;
    // Ceph has no dry run: the listing shows the command
    if t.dry_run && w.patch_type == PatchType::Ceph {
        return Done::Applied;
    }
    if t.dry_run {
        // A delete's answer is the object as it was: any success, or nothing to delete.
        return match send(t, t.kube, w, None).await {
            Ok(_) if delete => Done::Applied,
            Err(e) if delete && e.api_code() == Some(404) => Done::Applied,
            Ok(obj) if w.expect.holds(&obj) => Done::Applied,
            Ok(_) => Done::Failed { error: "the server's dry-run answer does not show the change".into() },
            Err(e) => Done::Failed { error: e.to_string() },
        };
    }
    use crate::cluster::api::{ATTEMPTS, not_processed};
    // sends so far, the transport's repeats included; `attempt`: failed rounds, for the delay
    let (mut sent, mut attempt) = (0u32, 1u32);
    let gave_up = |e: Error, sent: u32| match e {
        Error::Api(mut a) => {
            a.attempts = sent;
            Done::Failed { error: Error::Api(a).to_string() }
        }
        e => Done::Failed { error: e.to_string() },
    };
    loop {
        // Each attempt of a delete reads the object first: what is there now is judged.
        let uid = if delete {
            match before_delete(t, w).await {
                Ok(uid) => uid,
                Err(done) => return done,
            }
        } else {
            None
        };
        let e = match send(t, &t.kube.with_attempts(ATTEMPTS - sent), w, uid.as_deref()).await {
            // A delete was accepted: the answer is the object as it was (or a Status).
            Ok(_) if delete => return Done::Applied,
            Err(e) if delete && e.api_code() == Some(404) => return Done::Applied,
            Ok(obj) if w.expect.holds(&obj) => return Done::Applied,
            Ok(_) => return Done::Failed { error: "the answer does not show the change".into() },
            // Refused before it was processed (403, 422, 429...): it did not apply.
            Err(e) if e.api_code().is_some_and(|c| c != 409 && c < 500) => {
                return Done::Failed { error: e.to_string() };
            }
            // No credential to send it with (the exec plugin failed to renew it): it was
            // not sent, and a read back could not be sent either.
            Err(e @ Error::Config(_)) => return Done::Failed { error: e.to_string() },
            Err(e) => e,
        };
        sent += match &e {
            Error::Api(a) => a.attempts.max(1),
            _ => 1,
        };
        // Refused unprocessed (503) as often as the transport could send it: not applied,
        // nothing to read back, and no attempt left.
        if not_processed(&e) && sent >= ATTEMPTS {
            return gave_up(e, sent);
        }
        // 409, a server error or no answer: it may have applied; the object tells.
        let conflict = e.api_code() == Some(409);
        match read(t, &w.object).await {
            Ok(obj) if w.expect.holds(&obj) => return Done::Applied,
            Ok(_) if conflict && w.preconditioned => return Done::Conflict { error: e.to_string() },
            // AlreadyExists, and what is there is not ours as asked and is not going away
            // (which would free the name): another try would meet it again.
            Ok(obj)
                if conflict
                    && w.patch_type == PatchType::Create
                    && obj["metadata"].get("deletionTimestamp").is_none_or(Value::is_null) =>
            {
                return Done::Failed {
                    error: format!(
                        "{e}\n  (the {} there is not the one this write creates: not made by kubectl-ceph-image, or \
                         for another node or image; it is left as it is)",
                        w.object.describe()
                    ),
                };
            }
            Ok(_) => {}
            // Not there: a lost create did not land (send it again), a lost delete did.
            Err(read_err) if read_err.api_code() == Some(404) && matches!(w.object, Object::Pod(_)) => {
                if delete {
                    return Done::Applied;
                }
            }
            // Cannot tell whether it landed: say so rather than guess.
            Err(read_err) => {
                return Done::Failed {
                    error: format!("{e}; reading it back to see whether it landed failed too: {read_err}"),
                };
            }
        }
        // Not applied. A 409 on a write without a precondition (the server's own conflict
        // while merging) is worth another try like a server error.
        let delay = if conflict {
            Some(crate::cluster::api::backoff(attempt))
        } else {
            crate::cluster::api::retry_delay(&e, attempt)
        };
        match delay {
            Some(d) if sent < ATTEMPTS && stopped().is_none() => {
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            _ => return gave_up(e, sent),
        }
    }
}

/// Run the writes in their steps. Returns the journal; the run stops at the first step with
/// a failure or conflict, at a step whose pods do not come Ready, or at a signal.
pub async fn run(t: &Target<'_>, writes: &[Write]) -> Journal {
    let _running = Running::start();
    let mut journal = Journal::new(writes);
    let mut steps: Vec<u32> = writes.iter().map(|w| w.step).collect();
    steps.sort_unstable();
    steps.dedup();
    let mut failed = false;
    let mut restarted_before = false;
    for step in steps {
        let idx: Vec<usize> = (0..writes.len()).filter(|&i| writes[i].step == step).collect();
        // A step that restarts daemons (its pods are awaited) or creates pre-pull pods
        // (their pulls are awaited); only the first is paced and gated on health.
        let pulls = crate::execute::prepull::expected(&idx.iter().map(|&i| &writes[i]).collect::<Vec<_>>());
        let restarts = idx.iter().any(|&i| writes[i].wait_ready && !matches!(writes[i].object, Object::Pod(_)));
        // Before a step that restarts pods: the pause asked for, and no new batch while the
        // cluster reports HEALTH_ERR (rook #15367, #14933).
        if restarts && !t.dry_run && !failed && stopped().is_none() {
            if restarted_before && !t.pause_between.is_zero() {
                crate::output::note(&format!("pausing {:?} before the next step (--pause-between)", t.pause_between));
                unless_stopped(tokio::time::sleep(t.pause_between)).await;
            }
            if let Some(Err(e)) = unless_stopped(health_gate(t)).await {
                crate::output::note(&format!("{e}; stopped before the next step"));
                journal.gate = Some(e.to_string());
                failed = true;
            }
            if let (Some(g), false) = (t.ceph_gate, failed) {
                let asks = g.asks_for(&step_deployments(writes, &idx));
                if let Some(Err(e)) = unless_stopped(g.wait(&asks, t.timeout)).await {
                    crate::output::note(&format!("{e}; stopped before the next step"));
                    journal.gate = Some(e.to_string());
                    failed = true;
                }
            }
            if let (Some(by), false) = (t.down_gate, failed) {
                let deps = step_deployments(writes, &idx);
                if let Some(Err(e)) = unless_stopped(down_gate(t, by, &deps)).await {
                    crate::output::note(&format!("{e}; stopped before the next step"));
                    journal.gate = Some(e.to_string());
                    failed = true;
                }
            }
        }
        let stop = failed || stopped().is_some();
        // After a stop only cleanup writes go, and only those whose temporary write may
        // have landed: removing a label this run never added is not a write to make.
        let undoes_something = |i: usize| {
            writes[i].cleanup
                && (0..i).any(|j| {
                    writes[j].object == writes[i].object
                        && !writes[j].cleanup
                        && !matches!(journal.entries[j].done, Done::NotSent)
                })
        };
        let go: Vec<bool> = idx.iter().map(|&i| !stop || undoes_something(i)).collect();
        // What a second signal finds: this step's writes may be in flight.
        if !t.dry_run {
            let mut live = journal.clone();
            for (&i, &g) in idx.iter().zip(&go) {
                if g {
                    live.entries[i].done = Done::InFlight;
                }
            }
            remember(live);
        }
        let results: Vec<(usize, Done)> = futures::stream::iter(idx.iter().copied().zip(go))
            .filter(|&(i, go)| async move { go && (stopped().is_none() || writes[i].cleanup) })
            .map(|(i, _)| i)
            .map(|i| async move { (i, one(t, &writes[i]).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (i, d) in results {
            if !matches!(d, Done::Applied) {
                failed = true;
            }
            journal.entries[i].done = d;
        }
        if !t.dry_run {
            remember(journal.clone());
        }
        if failed || stopped().is_some() || t.dry_run {
            continue;
        }
        if !pulls.is_empty() {
            let waited = unless_stopped(crate::execute::prepull::wait(t.kube, t.namespace, &pulls, t.timeout));
            if let Some(Err(e)) = waited.await {
                // The pods exist; only cleanup writes (their deletes) follow.
                journal.gate = Some(e.to_string());
                failed = true;
                continue;
            }
        }
        if restarts {
            restarted_before = true;
            let deps: Vec<String> = idx
                .iter()
                .filter_map(|&i| match &writes[i].object {
                    Object::Deployment(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            let targets: Vec<crate::execute::wait::Target> =
                t.restarts.iter().filter(|r| deps.contains(&r.deployment)).cloned().collect();
            let waited = match t.view {
                Some(view) => {
                    unless_stopped(crate::execute::wait::wait_in(view, &targets, t.timeout, t.progress_bar)).await
                }
                None => {
                    unless_stopped(crate::execute::wait::wait(t.kube, t.namespace, &targets, t.timeout, t.progress_bar))
                        .await
                }
            };
            if let Some(Err(e)) = waited {
                // The step's writes are done; what follows is not sent.
                crate::output::note(&format!("{e}; stopped before the next step"));
                journal.gate = Some(e.to_string());
                failed = true;
            }
        }
    }
    journal.interrupted = stopped();
    if !t.dry_run {
        remember(journal.clone());
    }
    journal
}

/// The Deployments the writes `idx` of a step patch.
fn step_deployments<'w>(writes: &'w [Write], idx: &[usize]) -> Vec<&'w str> {
    idx.iter()
        .filter_map(|&i| match &writes[i].object {
            Object::Deployment(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn remember(j: Journal) {
    if let Ok(mut last) = LAST.lock() {
        *last = Some(j);
    }
}

/// Wait (within the timeout) while Ceph reports HEALTH_ERR: asked itself where the run
/// has a Ceph gate (issue 23 item 3), else as the CephCluster's `status.ceph.health` says
/// (Rook refreshes it about every 60 s).
async fn health_gate(t: &Target<'_>) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        // Ceph's own answer where there is a gate; else (or where it failed) Rook's copy
        let asked = match t.ceph_gate {
            Some(g) => g.health_blocks().await,
            None => Err(String::new()),
        };
        let why = match asked {
            Ok(why) => why,
            Err(unasked) => {
                let c = write::get_cluster_value(t.kube, t.namespace, &t.cluster).await?;
                // said once the API answered: an API that fails says so itself
                if let Some(g) = t.ceph_gate {
                    g.say_health_unasked(&unasked);
                }
                let health = c.pointer("/status/ceph/health").and_then(Value::as_str).unwrap_or("");
                (health == "HEALTH_ERR")
                    .then(|| format!("CephCluster {} reports HEALTH_ERR (status.ceph.health)", t.cluster))
            }
        };
        let Some(why) = why else { return Ok(()) };
        let why = crate::output::clean(&why);
        if start.elapsed() >= t.timeout {
            return Err(Error::Failed(format!(
                "{why} after waiting {:?}: no new batch is started while it does",
                t.timeout
            )));
        }
        crate::output::note(&format!("{why}: waiting before the next batch"));
        tokio::time::sleep(std::time::Duration::from_secs(5).min(t.timeout)).await;
    }
}

/// Wait (within the timeout, as the health gate does) while OSDs of another failure
/// domain than the step's are down; the cluster is read again each time, since a node can
/// go down or come back while the run goes on.
async fn down_gate(t: &Target<'_>, by: crate::plan::FailureDomain, deps: &[&str]) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let snap = match t.view {
            Some(view) => view.snapshot().await?,
            None => crate::cluster::read::snapshot(t.kube, t.namespace, Some(&t.cluster)).await?,
        };
        let Some(why) = crate::plan::down::blocker(&snap, by, deps) else { return Ok(()) };
        if start.elapsed() >= t.timeout {
            return Err(Error::Failed(format!("{why} (waited {:?})", t.timeout)));
        }
        crate::output::note(&format!("{why}: waiting before the next step"));
        tokio::time::sleep(std::time::Duration::from_secs(5).min(t.timeout)).await;
    }
}

/// What must be undone if a signal ends the process outside a run (an upgrade waiting at
/// its gates with OSD flags set): a future that undoes it and says what it did.
/// The future need not be `Send`: it runs on a blocking thread of its own (it may run the
/// executor, whose future the compiler cannot prove `Send` for every lifetime).
pub type SignalCleanup = Box<dyn FnOnce() -> futures::future::LocalBoxFuture<'static, String> + Send>;

static ON_SIGNAL: std::sync::Mutex<Option<SignalCleanup>> = std::sync::Mutex::new(None);

/// Register (Some) or clear (None) what a signal that ends the process undoes first.
pub fn on_signal(cleanup: Option<SignalCleanup>) {
    if let Ok(mut c) = ON_SIGNAL.lock() {
        *c = cleanup;
    }
}

/// Run what `on_signal` registered, within `within` (a SIGTERM's grace period is short):
/// what it says, or None when nothing was registered.
pub async fn signal_cleanup(within: std::time::Duration) -> Option<String> {
    let f = ON_SIGNAL.lock().ok()?.take()?;
    let handle = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || handle.block_on(f()));
    Some(match tokio::time::timeout(within, done).await {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => format!("undoing what this run left failed: {e}"),
        Err(_) => format!("undoing what this run left did not finish within {within:?}"),
    })
}

/// A command whose re-run is another command (`upgrade IMAGE` goes on with `upgrade
/// resume`) says so here.
static RERUN: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Name the command that finishes what a stopped run of this process left.
pub fn set_rerun_hint(cmd: &str) {
    if let Ok(mut r) = RERUN.lock() {
        *r = Some(cmd.to_string());
    }
}

/// The command that finishes what a stopped run left: the same one (writes are idempotent
/// or preconditioned, and done writes are not repeated), unless `set_rerun_hint` named one.
pub fn rerun_hint() -> String {
    if let Some(r) = RERUN.lock().ok().and_then(|r| r.clone()) {
        return r;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("kubectl ceph-image {}", args.join(" "))
}

/// The journal as the command's error: what was done and what finishes it, with the exit
/// code (130 SIGINT, 143 SIGTERM, 1 otherwise).
pub fn failure(journal: &Journal, rerun: &str) -> Error {
    let text = crate::render::journal::text(journal, rerun);
    match journal.interrupted {
        Some(code) => Error::Stopped { code, journal: text },
        None => match &journal.gate {
            Some(gate) if journal.complete() => Error::Failed(format!(
                "every write was applied, but the last step did not pass its gate: {gate}\n{}",
                text.trim_end()
            )),
            Some(gate) => Error::Failed(format!("stopped at a gate ({gate}):\n{}", text.trim_end())),
            None => Error::Failed(format!("not every write was applied:\n{}", text.trim_end())),
        },
    }
}
