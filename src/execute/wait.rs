//! `--wait`: follow the rollout a plan announced until each restarting Deployment is rolled
//! out (held daemons are not waited for): every one of its `spec.replicas` pods runs the
//! new image, Running and Ready, and none of its other pods is left active. That is what
//! `kubectl rollout status` calls done (k8s.io/kubectl v0.37.2
//! `pkg/polymorphichelpers/rollout_status.go`: `updatedReplicas` at least `spec.replicas`,
//! no more `replicas` than `updatedReplicas`, every updated replica available), read from
//! the pods the plugin already watches instead of one more watch on Deployments: the
//! Deployment controller rolls a Deployment of several replicas (an RGW with
//! `instances: 2`) one pod at a time, so one new Ready pod is not the end of it.
//! One LIST, then the watch API from its resourceVersion; a watch that ends or drops is
//! resumed from the last resourceVersion seen, a 410 Expired starts over with a LIST. A
//! watch (or re-LIST) failing transiently (429, 5xx, no answer) is tried again under the
//! retry policy's delays (src/cluster/api.rs), for as long as --timeout leaves.
//! Progress goes to stderr: a bar on a terminal, one line per event otherwise, each message
//! through the sanitising writer (`output`): daemon ids come from labels, failures quote
//! the server.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use kube::api::WatchParams;
use kube::core::Request;
use serde::Deserialize;

use crate::cluster::Kube;
use crate::cluster::api::{What, backoff, first_line, request_error, retry_delay};
use crate::cluster::read::{daemon_selector, list_all, pods_path};
use crate::cluster::view::View;
use crate::cluster::wire::{self, WirePod};
use crate::error::{Error, Result};
use crate::output;
use crate::plan::{Action, Plan};

/// What has to happen for one restarting daemon: its Deployment rolled out on `image`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The daemon id (`rgw.my-store`), for messages.
    pub daemon: String,
    pub deployment: String,
    /// The pods the plan saw (names): none of them counts as a new pod.
    pub old_pods: BTreeSet<String>,
    /// The image the daemon's main Ceph container must run.
    pub image: String,
    /// How many pods must run `image`, Running and Ready: the Deployment's `spec.replicas`
    /// when it was read (unset: 1; at least 1), e.g. 2 for an RGW with `instances: 2`.
    pub replicas: usize,
}

/// A daemon whose Deployment already runs `image` but that is not rolled out on it (a
/// step or stage cut off before its gate): not every one of its `spec.replicas` pods is
/// Running and Ready on `image`, or an old pod is still active. What to wait for, or None
/// (also for a Deployment at 0 replicas: nothing runs, nothing is waited for). The pods
/// not on `image` are the ones new pods replace.
pub fn not_up_on(d: &crate::model::Daemon, image: &str) -> Option<Target> {
    if d.replicas == Some(0) {
        return None;
    }
    let replicas = d.rollout_replicas();
    let up = |p: &crate::model::Pod| p.running() && p.ready && p.image.as_deref() == Some(image);
    let up_count = d.pods.iter().filter(|p| up(p)).count();
    let other_active = d.pods.iter().any(|p| p.replaced_by_rollout() && !up(p));
    if up_count >= replicas && !other_active {
        return None;
    }
    Some(Target {
        daemon: d.id.to_string(),
        deployment: d.deployment.clone(),
        old_pods: d.pods.iter().filter(|p| p.image.as_deref() != Some(image)).map(|p| p.name.clone()).collect(),
        image: image.to_string(),
        replicas,
    })
}

pub fn targets(plan: &Plan) -> Vec<Target> {
    plan.daemons
        .iter()
        .filter(|d| d.action == Action::Restart)
        .map(|d| Target {
            daemon: d.daemon.clone(),
            deployment: d.deployment.clone(),
            old_pods: d.pods.iter().map(|p| p.name.clone()).collect(),
            image: d.image_to.clone().unwrap_or_default(),
            replicas: d.replicas,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
struct PodState {
    deployment: Option<String>,
    running_ready: bool,
    /// Counted by its ReplicaSet: not Failed or Succeeded, not being deleted (a pod going
    /// away no longer counts, as `status.replicas` no longer counts it).
    active: bool,
    image: Option<String>,
}

fn pod_state(p: &WirePod) -> PodState {
    let ready = p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let terminal = matches!(p.status.phase.as_deref(), Some("Failed" | "Succeeded"));
    let deployment = wire::pod_deployment(p);
    let dtype = deployment.as_deref().and_then(crate::classify::type_of_deployment_name);
    PodState {
        deployment,
        running_ready: ready && p.status.phase.as_deref() == Some("Running"),
        active: !terminal && p.metadata.deletion_timestamp.is_none(),
        image: crate::classify::main_image(&p.spec, None, dtype),
    }
}

/// The rollout as far as it has come: pure, so the rules are tested without a server.
#[derive(Debug, Default)]
pub struct Progress {
    pods: BTreeMap<String, PodState>,
}

impl Progress {
    /// How many of the targets are done.
    pub fn done_count(&self, targets: &[Target]) -> usize {
        targets.iter().filter(|t| self.done(t)).count()
    }

    /// "waiting for osd.3": the first target not done (empty when all are); for a
    /// Deployment of several replicas with how far it is, "waiting for rgw.my-store (1 of
    /// 2 replicas Ready on the image)".
    pub fn waiting_for(&self, targets: &[Target]) -> String {
        targets
            .iter()
            .find(|t| !self.done(t))
            .map(|t| {
                let name = output::clean(&t.daemon);
                if t.replicas < 2 {
                    return format!("waiting for {name}");
                }
                let r = self.rollout(t);
                let old = if r.old > 0 { format!(", {} old pod(s) still active", r.old) } else { String::new() };
                format!("waiting for {name} ({} of {} replicas Ready on the image{old})", r.ready, t.replicas)
            })
            .unwrap_or_default()
    }

    pub fn apply(&mut self, etype: &str, pod: &WirePod) {
        match etype {
            "DELETED" => {
                self.pods.remove(&pod.metadata.name);
            }
            _ => {
                self.pods.insert(pod.metadata.name.clone(), pod_state(pod));
            }
        }
    }

    /// Where the rollout of a target's Deployment stands, from its pods.
    pub fn rollout(&self, t: &Target) -> Rollout {
        let mut r = Rollout::default();
        for (name, s) in &self.pods {
            if s.deployment.as_deref() != Some(&t.deployment) || !s.active {
                continue;
            }
            // a new pod: one the plan did not name, on the new image
            if !t.old_pods.contains(name) && s.image.as_deref() == Some(&t.image) {
                r.updated += 1;
                r.ready += usize::from(s.running_ready);
            } else {
                r.old += 1;
            }
        }
        r
    }

    /// A target is done when its Deployment is rolled out, as `kubectl rollout status`
    /// judges one: at least `replicas` new pods (pods the plan did not name, on the new
    /// image), every one of them Running and Ready, and no other active pod left.
    pub fn done(&self, t: &Target) -> bool {
        let r = self.rollout(t);
        r.updated >= t.replicas && r.ready == r.updated && r.old == 0
    }
}

/// The active pods of one Deployment during its rollout.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// New pods: not named by the plan, on the new image (`status.updatedReplicas`).
    pub updated: usize,
    /// Of those, Running and Ready.
    pub ready: usize,
    /// Every other active pod (old image, or named by the plan): `status.replicas -
    /// status.updatedReplicas`, the old replicas kubectl says are pending termination.
    pub old: usize,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    etype: String,
    object: serde_json::Value,
}

enum Report {
    Bar(indicatif::ProgressBar),
    Lines,
}

impl Report {
    fn new(total: usize, terminal: bool) -> Report {
        if terminal {
            let bar =
                indicatif::ProgressBar::with_draw_target(Some(total as u64), indicatif::ProgressDrawTarget::stderr());
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} pods  {msg}",
            ) {
                bar.set_style(style);
            }
            Report::Bar(bar)
        } else {
            Report::Lines
        }
    }

    // the one place the bar's text is set: sanitised here (clippy.toml refuses it elsewhere)
    #[allow(clippy::disallowed_methods)]
    fn update(&self, done: usize, total: usize, msg: &str, start: Instant) {
        match self {
            Report::Bar(b) => {
                b.set_position(done as u64);
                b.set_message(output::for_stderr(msg));
            }
            Report::Lines => {
                // nothing left to name once every target is done: no dangling colon
                let what = if msg.is_empty() { String::new() } else { format!(": {msg}") };
                output::note(&format!("[{:>5.1}s] {done}/{total} restarted{what}", start.elapsed().as_secs_f64()))
            }
        }
    }

    #[allow(clippy::disallowed_methods)]
    fn note(&self, msg: &str, start: Instant) {
        match self {
            Report::Bar(b) => b.println(output::for_stderr(msg)),
            Report::Lines => output::note(&format!("[{:>5.1}s] {msg}", start.elapsed().as_secs_f64())),
        }
    }

    fn finish(&self) {
        if let Report::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

async fn list(kube: &Kube, ns: &str, progress: &mut Progress) -> Result<String> {
    let what = What::new("list", "pods", Some(ns));
    let l = list_all::<WirePod>(kube, &pods_path(ns), &daemon_selector(ns), &what).await?;
    progress.pods.clear();
    for p in &l.items {
        progress.apply("ADDED", p);
    }
    Ok(l.resource_version)
}

/// The watch of the cluster's pods from `rv`, as `wait` sends it: the daemon selector,
/// bookmarks allowed (kube's default), ended by the server after `timeout_secs`.
pub fn watch_request(ns: &str, rv: &str, timeout_secs: u32) -> Result<http::Request<Vec<u8>>> {
    let wp = WatchParams::default().labels(&daemon_selector(ns)).timeout(timeout_secs);
    Request::new(pods_path(ns)).watch(&wp, rv).map_err(request_error)
}

/// Follow the rollout until every target is done, or the timeout.
pub async fn wait(kube: &Kube, ns: &str, targets: &[Target], timeout: Duration, terminal: bool) -> Result<()> {
    let start = Instant::now();
    let total = targets.len();
    if total == 0 {
        output::note("nothing to wait for: no pod restarts in this plan");
        return Ok(());
    }
    let report = Report::new(total, terminal);
    let mut progress = Progress::default();
    let mut rv = list(kube, ns, &mut progress).await?;
    let count = |p: &Progress| p.done_count(targets);
    let in_progress = |p: &Progress| p.waiting_for(targets);
    report.update(count(&progress), total, &in_progress(&progress), start);
    let deadline = start + timeout;
    // a re-LIST is due (410 Expired); transient failures in a row; the last one
    let mut relist = false;
    let mut failures = 0u32;
    let mut last_failure: Option<String> = None;
    while count(&progress) < total {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let failed = if relist {
            match tokio::time::timeout(left, list(kube, ns, &mut progress)).await {
                Ok(Ok(r)) => {
                    rv = r;
                    relist = false;
                    failures = 0;
                    report.update(count(&progress), total, &in_progress(&progress), start);
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => break,
            }
        } else {
            let req = watch_request(ns, &rv, left.as_secs().clamp(1, 290) as u32)?;
            let what = What::new("watch", "pods", Some(ns));
            match tokio::time::timeout(left, kube.stream(req, &what)).await {
                Ok(Ok(r)) => {
                    failures = 0;
                    follow(r, deadline, &mut rv, &mut relist, &mut progress, &report, targets, start).await;
                    continue;
                }
                Ok(Err(e)) if e.api_code() == Some(410) => {
                    relist = true;
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => break,
            }
        };
        // transient: wait as the retry policy says, never past the deadline, and never less
        // than the backoff: unlike one request's, these tries are bounded by time, not count
        failures += 1;
        let Some(delay) = retry_delay(&failed, failures) else { return Err(failed) };
        let delay = delay.max(backoff(failures));
        let line = first_line(&failed);
        report.note(&format!("{line}; trying again in {} ms", delay.as_millis()), start);
        last_failure = Some(line);
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    report.finish();
    outcome(targets.iter().filter(|t| !progress.done(t)), total, start, timeout, last_failure)
}

/// How long `wait_in` lets a view's changes gather before it judges the targets again.
const COALESCE: Duration = Duration::from_millis(50);

/// As `wait`, the pods followed in a watch-fed view (`cluster::view`) instead of a LIST
/// and a watch of its own: no request at all. Each change of the view judges the targets
/// again from their Deployments' pods (`View::daemons_of`, classified as a snapshot
/// classifies them), and a target is done only once the view also holds its Deployment
/// on the image: the next round, planned from the same view, sees the daemon moved.
pub async fn wait_in(view: &View, targets: &[Target], timeout: Duration, terminal: bool) -> Result<()> {
    let start = Instant::now();
    let total = targets.len();
    if total == 0 {
        output::note("nothing to wait for: no pod restarts in this plan");
        return Ok(());
    }
    let report = Report::new(total, terminal);
    let deps: Vec<&str> = targets.iter().map(|t| t.deployment.as_str()).collect();
    let by_deployment: HashMap<&str, &Target> = targets.iter().map(|t| (t.deployment.as_str(), t)).collect();
    let mut changes = view.changes();
    let deadline = start + timeout;
    let mut shown = None;
    let mut progress;
    let mut on_image: BTreeSet<&str>;
    loop {
        changes.borrow_and_update();
        progress = Progress::default();
        on_image = BTreeSet::new();
        if let Some(snap) = view.daemons_of(&deps)? {
            for d in &snap.daemons {
                if let Some(t) = by_deployment.get(d.deployment.as_str())
                    && d.image.as_deref() == Some(t.image.as_str())
                {
                    on_image.insert(t.deployment.as_str());
                }
                for p in &d.pods {
                    let state = PodState {
                        deployment: Some(d.deployment.clone()),
                        running_ready: p.running() && p.ready,
                        active: p.replaced_by_rollout(),
                        image: p.image.clone(),
                    };
                    progress.pods.insert(p.name.clone(), state);
                }
            }
        }
        let moved: Vec<Target> = targets.iter().filter(|t| on_image.contains(t.deployment.as_str())).cloned().collect();
        let done = progress.done_count(&moved);
        if shown != Some(done) || matches!(report, Report::Bar(_)) {
            report.update(done, total, &progress.waiting_for(targets), start);
            shown = Some(done);
        }
        if done == total {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !matches!(tokio::time::timeout(left, changes.changed()).await, Ok(Ok(()))) {
            break;
        }
        // A rollout's changes come in bursts (each Deployment's update, its pods deleted,
        // created, scheduled, started): judged once a burst, not once an event. A stage of
        // 167 Deployments sees some 800 changes (an estimate: about 5 a Deployment); judging
        // on each was most of the plugin's CPU in a 2000-OSD upgrade (benches/upgrade.rs,
        // profiled), for an answer at most COALESCE later.
        tokio::time::sleep(COALESCE.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    report.finish();
    outcome(
        targets.iter().filter(|t| !on_image.contains(t.deployment.as_str()) || !progress.done(t)),
        total,
        start,
        timeout,
        None,
    )
}

/// The end of a wait: done, or which targets are not, and the last failed request.
fn outcome<'a>(
    not_done: impl Iterator<Item = &'a Target>,
    total: usize,
    start: Instant,
    timeout: Duration,
    last_failure: Option<String>,
) -> Result<()> {
    let left: Vec<String> = not_done.map(|t| output::clean(&t.daemon).into_owned()).collect();
    if left.is_empty() {
        output::note(&format!(
            "rollout done: {total} daemon(s) running Ready on the new image after {:.1}s",
            start.elapsed().as_secs_f64()
        ));
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "timed out after {:?}: {} of {total} daemon(s) not yet Running and Ready on the new image: {}{}",
            timeout,
            left.len(),
            left.join(", "),
            last_failure.map(|f| format!("\n  (the last failed request: {f})")).unwrap_or_default()
        )))
    }
}

/// Read one watch's events until it ends, drops, the deadline, or every target is done;
/// `rv` follows the events, an ERROR event (410 Expired) sets `relist`.
#[allow(clippy::too_many_arguments)]
async fn follow(
    res: http::Response<kube::client::Body>,
    deadline: Instant,
    rv: &mut String,
    relist: &mut bool,
    progress: &mut Progress,
    report: &Report,
    targets: &[Target],
    start: Instant,
) {
    let total = targets.len();
    let count = |p: &Progress| p.done_count(targets);
    let in_progress = |p: &Progress| p.waiting_for(targets);
    let mut body = res.into_body();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, body.frame()).await {
            Err(_) => return,           // the deadline
            Ok(None) => return,         // the watch ended: resume from rv
            Ok(Some(Err(_))) => return, // the connection dropped: resume from rv
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(ev) = serde_json::from_slice::<Event>(&line) else { continue };
            if ev.etype == "ERROR" {
                // 410 Expired: history is gone; list again
                *relist = true;
                return;
            }
            if let Some(r) = ev.object.pointer("/metadata/resourceVersion").and_then(|r| r.as_str()) {
                *rv = r.to_string();
            }
            if ev.etype == "BOOKMARK" {
                continue;
            }
            if let Ok(pod) = serde_json::from_value::<WirePod>(ev.object) {
                let before = count(progress);
                progress.apply(&ev.etype, &pod);
                let now = count(progress);
                if now != before || matches!(report, Report::Bar(_)) {
                    report.update(now, total, &in_progress(progress), start);
                }
            }
        }
        if count(progress) == total {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rs: &str, image: &str, ready: bool) -> WirePod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]},
            "spec": {"containers": [{"name": "mgr", "image": image, "env": [{"name": "CONTAINER_IMAGE", "value": image}]}]},
            "status": {"phase": if ready { "Running" } else { "Pending" }, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn done_means_a_new_pod_ready_on_the_new_image() {
        let t = Target {
            daemon: "mgr.a".into(),
            deployment: "rook-ceph-mgr-a".into(),
            old_pods: ["rook-ceph-mgr-a-1111111111-aaaaa".to_string()].into(),
            image: "ceph:2".into(),
            replicas: 1,
        };
        let mut p = Progress::default();
        p.apply("ADDED", &pod("rook-ceph-mgr-a-1111111111-aaaaa", "rook-ceph-mgr-a-1111111111", "ceph:1", true));
        assert!(!p.done(&t), "the old pod");
        p.apply("ADDED", &pod("rook-ceph-mgr-a-2222222222-bbbbb", "rook-ceph-mgr-a-2222222222", "ceph:2", false));
        assert!(!p.done(&t), "new but Pending");
        p.apply("MODIFIED", &pod("rook-ceph-mgr-a-2222222222-bbbbb", "rook-ceph-mgr-a-2222222222", "ceph:2", true));
        assert!(!p.done(&t), "the old pod is still there (a surge: the new pod came first)");
        p.apply("DELETED", &pod("rook-ceph-mgr-a-1111111111-aaaaa", "rook-ceph-mgr-a-1111111111", "ceph:1", true));
        assert!(p.done(&t));
        p.apply("DELETED", &pod("rook-ceph-mgr-a-2222222222-bbbbb", "rook-ceph-mgr-a-2222222222", "ceph:2", true));
        assert!(!p.done(&t));
        p.apply("ADDED", &pod("rook-ceph-mgr-a-3333333333-ccccc", "rook-ceph-mgr-a-3333333333", "ceph:3", true));
        assert!(!p.done(&t), "ready on another image");
    }

    /// Issue 20: a Deployment of 2 replicas (an RGW with `instances: 2`, rolled by the
    /// Deployment controller one pod at a time) is done only when both run the image Ready
    /// and neither old pod is left; a terminating or Failed old pod does not hold it up.
    #[test]
    fn done_means_every_replica_on_the_new_image_and_no_old_pod_left() {
        let rs_old = "rook-ceph-rgw-s-a-1111111111";
        let rs_new = "rook-ceph-rgw-s-a-2222222222";
        let t = Target {
            daemon: "rgw.s".into(),
            deployment: "rook-ceph-rgw-s-a".into(),
            old_pods: [format!("{rs_old}-aaaaa"), format!("{rs_old}-bbbbb")].into(),
            image: "ceph:2".into(),
            replicas: 2,
        };
        let mut p = Progress::default();
        p.apply("ADDED", &pod(&format!("{rs_old}-aaaaa"), rs_old, "ceph:1", true));
        p.apply("ADDED", &pod(&format!("{rs_old}-bbbbb"), rs_old, "ceph:1", true));
        // Rook's RGW strategy (maxUnavailable 1, maxSurge 0): one old pod goes, one new comes
        p.apply("DELETED", &pod(&format!("{rs_old}-bbbbb"), rs_old, "ceph:1", true));
        p.apply("ADDED", &pod(&format!("{rs_new}-ccccc"), rs_new, "ceph:2", false));
        assert!(!p.done(&t));
        p.apply("MODIFIED", &pod(&format!("{rs_new}-ccccc"), rs_new, "ceph:2", true));
        assert!(!p.done(&t), "one of two replicas: the old gate called this done");
        assert_eq!(p.rollout(&t), Rollout { updated: 1, ready: 1, old: 1 });
        assert_eq!(
            p.waiting_for(std::slice::from_ref(&t)),
            "waiting for rgw.s (1 of 2 replicas Ready on the image, 1 old pod(s) still active)"
        );
        // the second old pod is being deleted: it no longer counts, the second new one does
        let mut going = pod(&format!("{rs_old}-aaaaa"), rs_old, "ceph:1", true);
        going.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        p.apply("MODIFIED", &going);
        p.apply("ADDED", &pod(&format!("{rs_new}-ddddd"), rs_new, "ceph:2", false));
        assert!(!p.done(&t), "the second new pod is not Ready yet");
        p.apply("MODIFIED", &pod(&format!("{rs_new}-ddddd"), rs_new, "ceph:2", true));
        assert!(p.done(&t));
        // an old pod still active (a surge rollout: new pods first) holds it up
        p.apply("ADDED", &pod(&format!("{rs_old}-eeeee"), rs_old, "ceph:1", true));
        assert!(!p.done(&t));
        let mut failed = pod(&format!("{rs_old}-eeeee"), rs_old, "ceph:1", false);
        failed.status.phase = Some("Failed".into());
        p.apply("MODIFIED", &failed);
        assert!(p.done(&t), "a Failed pod is not active");
    }
}
