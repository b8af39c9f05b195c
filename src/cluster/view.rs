//! A watch-fed view of one namespace's CephClusters and its daemons' Deployments and Pods
//! (issue 24): each collection is read once with the paginated LIST `read` uses, then
//! followed with a WATCH from the list's resourceVersion (`allowWatchBookmarks`), so a long
//! upgrade costs the API server the cluster's changes, not a LIST of everything each round.
//!
//! - A watch that ends (its `timeoutSeconds`) or drops is resumed from the last
//!   resourceVersion seen, a BOOKMARK's included. A 410 Gone (the watch request's answer or
//!   an `ERROR` event: history compacted past that resourceVersion), an `ERROR` event of
//!   another kind or an object that does not decode lists that collection again.
//! - A watch or re-LIST failing transiently (429, 5xx, no answer) is tried again after the
//!   retry policy's delays (`api::retry_delay`, at least `api::backoff`), for as long as it
//!   takes; any other failure (403, 404) stops the view and every later read returns it.
//! - The same `Snapshot` as `read::snapshot` builds from the same objects: each object is
//!   reduced to classification's records as it arrives (`classify::DeploymentRecord`,
//!   `PodRecord`, as `read` reduces LIST pages), and `snapshot` classifies them with
//!   `classify_records`, the CephCluster chosen by `read::choose_cluster`.
//! - Never staler than this process's own writes: `snapshot` first waits until the view
//!   has seen the resourceVersion of the latest write the process made to the CephClusters
//!   and the Deployments (`Kube::written`; the process writes no daemon pod: the pre-pull
//!   pods lie outside the daemon selector). resourceVersions are compared as the integers
//!   kube-apiserver gives (etcd revisions); where either is not a number the collection is
//!   listed again, which is as fresh as the write. A watch that does not catch up within
//!   `CATCH_UP` is replaced by a LIST.
//!
//! Why not `kube::runtime::watcher`/`reflector` (kube's `runtime` feature): they send
//! through `kube::Api` on the kube `Client`, so their requests would bypass `api::Kube`,
//! where every request of the plugin gets its retry policy, `-v` request log, timeouts,
//! notices and the exec credential's renewal on 401; they need `kube::Resource` types
//! (k8s-openapi or `DynamicObject`) where the plugin decodes its own lenient wire types;
//! and the reflector's store keeps whole objects, where the view keeps the compact records
//! that hold a 2000-OSD cluster in a few MiB (DESIGN §8). So the view follows the pattern
//! `execute::wait` already uses for pods.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use kube::api::WatchParams;
use kube::core::Request;
use serde_json::Value;

use super::api::{Kube, What, backoff, request_error, retry_delay};
use super::read::{
    CEPHCLUSTERS, choose_cluster, cluster_path, daemon_selector, deployments_path, list_clusters, list_fold, pods_path,
};
use super::wire::{CephCluster, Deployment, WirePod, pod_deployment};
use crate::classify::{DeploymentRecord, DeploymentRecords, Interner, PodRecord, PodRecords, classify_records};
use crate::error::{Error, Result};
use crate::model::Snapshot;

/// How long a watch stays open before the server ends it (and the view resumes it):
/// kube-apiserver ends a watch after its `--min-request-timeout` (1800 s) at the latest.
pub const WATCH_SECONDS: u32 = 290;

/// How long `snapshot` waits for a watch to deliver this process's own write before it
/// lists that collection again instead.
pub const CATCH_UP: Duration = Duration::from_secs(10);

/// One collection the view follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Every CephCluster of the namespace (no selector, as `read::find_cluster` reads them).
    Clusters,
    /// The Deployments of `read::daemon_selector`.
    Deployments,
    /// The Pods of `read::daemon_selector`.
    Pods,
}

pub const COLLECTIONS: [Collection; 3] = [Collection::Clusters, Collection::Deployments, Collection::Pods];

impl Collection {
    fn i(self) -> usize {
        self as usize
    }

    pub fn path(self, ns: &str) -> String {
        match self {
            Collection::Clusters => cluster_path(ns),
            Collection::Deployments => deployments_path(ns),
            Collection::Pods => pods_path(ns),
        }
    }

    fn selector(self, ns: &str) -> Option<String> {
        match self {
            Collection::Clusters => None,
            _ => Some(daemon_selector(ns)),
        }
    }

    fn resource(self) -> &'static str {
        match self {
            Collection::Clusters => CEPHCLUSTERS,
            Collection::Deployments => "deployments.apps",
            Collection::Pods => "pods",
        }
    }
}

/// What the view holds: every object of the three collections, reduced, and how far each
/// collection's watch has come.
#[derive(Default)]
pub struct Objects {
    clusters: BTreeMap<String, CephCluster>,
    deployments: BTreeMap<String, DeploymentRecord>,
    deployment_strings: Interner,
    /// Pods of a Deployment (others are not kept, as `PodRecords` keeps none), by their
    /// Deployment's name, then by name.
    pods: HashMap<String, BTreeMap<String, PodRecord>>,
    pod_strings: Interner,
    /// The resourceVersion each collection is known up to (its LIST's, then the last
    /// event's or bookmark's).
    rv: [String; 3],
    /// LIST passes and WATCH requests sent, by collection (the initial LISTs counted).
    pub lists: [u32; 3],
    pub watches: [u32; 3],
    /// The server answered each collection's first watch (opened, or refused: a watch the
    /// plugin may not send stops the view before anything is planned from it).
    answered: [bool; 3],
}

/// What an event line asks of the follower.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Applied (or a bookmark, or a line that is no event): go on reading.
    Go,
    /// List the collection again: history is gone (410), the server reported another
    /// error, or an object did not decode.
    Relist,
}

impl Objects {
    /// Apply one line of a watch of collection `c` (a JSON event); the resourceVersion
    /// follows every event and bookmark applied. The object is decoded straight into the
    /// collection's wire type (one pass; a 2000-OSD upgrade's events are most of what the
    /// view decodes); a line that does not decode so is read as JSON: a BOOKMARK, an
    /// ERROR, or an object the view cannot hold.
    pub fn apply_line(&mut self, c: Collection, line: &[u8]) -> Step {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Step::Go;
        }
        let applied = match c {
            Collection::Clusters => typed::<CephCluster>(line).map(|(t, o)| {
                let rv = o.metadata.resource_version.clone();
                (t, rv, Object::Cluster(Box::new(o)))
            }),
            Collection::Deployments => typed::<Deployment>(line).map(|(t, o)| {
                let rv = o.metadata.resource_version.clone();
                (t, rv, Object::Deployment(o))
            }),
            Collection::Pods => typed::<WirePod>(line).map(|(t, o)| {
                let rv = o.metadata.resource_version.clone();
                (t, rv, Object::Pod(o))
            }),
        };
        let rv = match applied {
            Some((etype, rv, object)) if etype != "ERROR" && etype != "BOOKMARK" => {
                self.apply(&etype, object);
                rv
            }
            // a Status, a bookmark's empty object, or what the wire type cannot hold
            _ => {
                #[derive(serde::Deserialize)]
                struct Loose {
                    #[serde(rename = "type")]
                    etype: String,
                    object: Value,
                }
                let Ok(ev) = serde_json::from_slice::<Loose>(line) else { return Step::Relist };
                if ev.etype != "BOOKMARK" {
                    return Step::Relist;
                }
                ev.object.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string)
            }
        };
        if let Some(rv) = rv {
            self.rv[c.i()] = rv;
        }
        Step::Go
    }

    fn apply(&mut self, etype: &str, object: Object) {
        let gone = etype == "DELETED";
        match object {
            Object::Cluster(cc) => {
                if gone {
                    self.clusters.remove(&cc.metadata.name);
                } else {
                    self.clusters.insert(cc.metadata.name.clone(), *cc);
                }
            }
            Object::Deployment(d) => {
                if gone {
                    self.deployments.remove(&d.metadata.name);
                } else {
                    self.deployments
                        .insert(d.metadata.name.clone(), DeploymentRecord::new(d, &mut self.deployment_strings));
                }
            }
            Object::Pod(p) => {
                // a pod's owner does not change: its Deployment is where it is kept
                let Some(dep) = pod_deployment(&p) else { return };
                if gone {
                    if let Some(of) = self.pods.get_mut(&dep) {
                        of.remove(&p.metadata.name);
                        if of.is_empty() {
                            self.pods.remove(&dep);
                        }
                    }
                } else {
                    let name = p.metadata.name.clone();
                    self.pods.entry(dep).or_default().insert(name, PodRecord::new(p, &mut self.pod_strings));
                }
            }
        }
    }

    /// The resourceVersion collection `c` is known up to.
    pub fn resource_version(&self, c: Collection) -> &str {
        &self.rv[c.i()]
    }

    /// The records of the Deployments named (all when None) and of their pods, as
    /// classification takes them, and the CephClusters.
    fn records(&self, only: Option<&[&str]>) -> (Vec<CephCluster>, DeploymentRecords, PodRecords) {
        let deployments: Vec<DeploymentRecord> = match only {
            None => self.deployments.values().cloned().collect(),
            Some(names) => names.iter().filter_map(|n| self.deployments.get(*n)).cloned().collect(),
        };
        let pods_of = |dep: &str| self.pods.get(dep).map(|of| (dep.to_string(), of.values().cloned().collect()));
        let pods: HashMap<String, Vec<PodRecord>> = match only {
            None => self.pods.keys().filter_map(|d| pods_of(d)).collect(),
            Some(names) => names.iter().filter_map(|d| pods_of(d)).collect(),
        };
        (self.clusters.values().cloned().collect(), DeploymentRecords::of(deployments), PodRecords::of(pods))
    }
}

/// One watch event's object, decoded.
enum Object {
    Cluster(Box<CephCluster>),
    Deployment(Deployment),
    Pod(WirePod),
}

/// A watch event whose object decodes as `T`: its type and the object.
fn typed<T: serde::de::DeserializeOwned>(line: &[u8]) -> Option<(String, T)> {
    #[derive(serde::Deserialize)]
    struct Event<T> {
        #[serde(rename = "type")]
        etype: String,
        object: T,
    }
    serde_json::from_slice::<Event<T>>(line).ok().map(|e| (e.etype, e.object))
}

/// A collection listed: what replaces it in the view.
enum Listed {
    Clusters(BTreeMap<String, CephCluster>),
    Deployments(BTreeMap<String, DeploymentRecord>, Interner),
    Pods(HashMap<String, BTreeMap<String, PodRecord>>, Interner),
}

/// One paginated LIST of collection `c`, each page reduced as it arrives (`list_fold`).
async fn list(kube: &Kube, ns: &str, c: Collection) -> Result<(Listed, String)> {
    let what = What::new("list", c.resource(), Some(ns));
    let path = c.path(ns);
    let sel = c.selector(ns).unwrap_or_default();
    match c {
        Collection::Clusters => {
            let (items, rv) = list_clusters(kube, ns).await?;
            Ok((Listed::Clusters(items.into_iter().map(|c| (c.metadata.name.clone(), c)).collect()), rv))
        }
        Collection::Deployments => {
            let ((items, strings), rv) =
                list_fold(kube, &path, &sel, &what, Default::default, |(m, s): &mut (BTreeMap<_, _>, Interner), d| {
                    let d: Deployment = d;
                    m.insert(d.metadata.name.clone(), DeploymentRecord::new(d, s));
                })
                .await?;
            Ok((Listed::Deployments(items, strings), rv))
        }
        Collection::Pods => {
            let ((items, strings), rv) =
                list_fold(kube, &path, &sel, &what, Default::default, |(m, s): &mut (HashMap<_, _>, Interner), p| {
                    let p: WirePod = p;
                    if let Some(dep) = pod_deployment(&p) {
                        let name = p.metadata.name.clone();
                        m.entry(dep).or_insert_with(BTreeMap::new).insert(name, PodRecord::new(p, s));
                    }
                })
                .await?;
            Ok((Listed::Pods(items, strings), rv))
        }
    }
}

impl Objects {
    fn replace(&mut self, c: Collection, listed: Listed, rv: String) {
        match listed {
            Listed::Clusters(m) => self.clusters = m,
            Listed::Deployments(m, s) => (self.deployments, self.deployment_strings) = (m, s),
            Listed::Pods(m, s) => (self.pods, self.pod_strings) = (m, s),
        }
        self.rv[c.i()] = rv;
        self.lists[c.i()] += 1;
    }
}

struct Shared {
    objects: Mutex<Objects>,
    /// Bumped at every change (an event applied, a LIST, a failure): readers wait on it.
    changed: tokio::sync::watch::Sender<u64>,
    /// A reader gave up waiting for a collection's watch: list it again.
    relist: [tokio::sync::Notify; 3],
    /// What stopped the view (a failure that is not transient), for every later read.
    stopped: Mutex<Option<Error>>,
    /// The last transient failure of each collection's follower, while it retries.
    failing: Mutex<[Option<String>; 3]>,
}

impl Shared {
    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().expect("lock")
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// The view; its followers stop when it is dropped.
pub struct View {
    shared: Arc<Shared>,
    kube: Kube,
    ns: String,
    cluster: Option<String>,
    /// The watches, one task per collection, started by the first read that needs them
    /// (`follow`): a run that only reads once (a dry run) opens none.
    followers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for View {
    fn drop(&mut self) {
        for f in self.followers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f.abort();
        }
    }
}

impl View {
    /// List the three collections (at once, as `read::snapshot` does; its errors are
    /// this one's); `follow` then follows each with a watch in the background. `cluster`:
    /// the `--cluster` name, for `snapshot`.
    pub async fn start(kube: &Kube, ns: &str, cluster: Option<&str>) -> Result<View> {
        let (c, d, p) = tokio::join!(
            list(kube, ns, Collection::Clusters),
            list(kube, ns, Collection::Deployments),
            list(kube, ns, Collection::Pods)
        );
        let mut objects = Objects::default();
        for (coll, listed) in COLLECTIONS.into_iter().zip([c, d, p]) {
            let (listed, rv) = listed?;
            objects.replace(coll, listed, rv);
        }
        let shared = Arc::new(Shared {
            objects: Mutex::new(objects),
            changed: tokio::sync::watch::Sender::new(0),
            relist: Default::default(),
            stopped: Mutex::new(None),
            failing: Mutex::default(),
        });
        Ok(View {
            shared,
            kube: kube.clone(),
            ns: ns.to_string(),
            cluster: cluster.map(str::to_string),
            followers: Mutex::default(),
        })
    }

    /// Follow the collections with their watches from now on (once; from the LISTs'
    /// resourceVersions, so nothing in between is missed while history lasts).
    /// Called within the tokio runtime (it spawns the followers).
    pub fn follow(&self) {
        let mut f = self.followers.lock().expect("lock");
        if f.is_empty() {
            *f = COLLECTIONS
                .into_iter()
                .map(|c| tokio::spawn(follow(self.kube.clone(), self.ns.clone(), c, self.shared.clone())))
                .collect();
        }
    }

    /// The snapshot of the cluster as the view holds it, once it has seen this process's
    /// own latest writes (see the module): what `read::snapshot` would read now.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        self.caught_up().await?;
        let (clusters, deployments, pods) = self.shared.objects().records(None);
        let cluster = choose_cluster(&self.kube, &self.ns, self.cluster.as_deref(), clusters).await?.into_model();
        Ok(classify_records(cluster, deployments, pods))
    }

    /// Only the Deployments named and their pods, classified against the CephCluster (a
    /// cheap partial snapshot, for following a rollout at each change); None while the
    /// view holds no CephCluster to choose.
    pub fn daemons_of(&self, deployments: &[&str]) -> Result<Option<Snapshot>> {
        self.follow();
        self.stopped()?;
        let (clusters, ds, ps) = self.shared.objects().records(Some(deployments));
        let cluster = match &self.cluster {
            Some(n) => clusters.into_iter().find(|c| &c.metadata.name == n),
            None if clusters.len() == 1 => clusters.into_iter().next(),
            None => None,
        };
        Ok(cluster.map(|c| classify_records(c.into_model(), ds, ps)))
    }

    /// Resolves at the view's next change (an event applied, a LIST, a failure).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.follow();
        self.shared.changed.subscribe()
    }

    /// LIST passes and WATCH requests sent so far, by collection (`COLLECTIONS` order).
    pub fn requests(&self) -> ([u32; 3], [u32; 3]) {
        let o = self.shared.objects();
        (o.lists, o.watches)
    }

    /// The failure that stopped the view, if one did.
    fn stopped(&self) -> Result<()> {
        match &*self.shared.stopped.lock().expect("lock") {
            Some(e) => Err(copy(e)),
            None => Ok(()),
        }
    }

    /// Wait until the CephClusters and the Deployments are known up to this process's
    /// latest write to each (see the module).
    pub async fn caught_up(&self) -> Result<()> {
        let mut changes = self.shared.changed.subscribe();
        let mut deadline = Instant::now() + CATCH_UP;
        // per collection: the LIST count at which a re-LIST was asked for
        let mut relisted: [Option<u32>; 3] = [None; 3];
        loop {
            self.stopped()?;
            let following = !self.followers.lock().expect("lock").is_empty();
            let unanswered = following && !self.shared.objects().answered.iter().all(|a| *a);
            if unanswered {
                let _ = tokio::time::timeout_at(deadline.into(), changes.changed()).await;
                if Instant::now() < deadline {
                    continue;
                }
                return Err(Error::Connection(format!(
                    "the watches of namespace {} were not answered within {}s",
                    self.ns,
                    CATCH_UP.as_secs()
                )));
            }
            let mut behind = None;
            {
                let o = self.shared.objects();
                for c in [Collection::Clusters, Collection::Deployments] {
                    let Some(written) = self.kube.written(&c.path(&self.ns)) else { continue };
                    let listed_since = relisted[c.i()].is_some_and(|n| o.lists[c.i()] > n);
                    let seen = match (o.rv[c.i()].parse::<u64>(), written.parse::<u64>()) {
                        (Ok(have), Ok(want)) => have >= want,
                        // not numbers: not ordered; a LIST after the write is as fresh
                        _ => listed_since,
                    };
                    if !seen && !listed_since {
                        let numeric = o.rv[c.i()].parse::<u64>().is_ok() && written.parse::<u64>().is_ok();
                        behind = Some((c, written, o.lists[c.i()], numeric));
                        break;
                    }
                }
            }
            let Some((c, written, lists, numeric)) = behind else { return Ok(()) };
            self.follow();
            let now = Instant::now();
            if relisted[c.i()].is_none() && (!numeric || now >= deadline) {
                relisted[c.i()] = Some(lists);
                self.shared.relist[c.i()].notify_one();
                deadline = now + CATCH_UP;
                continue;
            }
            if now >= deadline {
                let failing = self.shared.failing.lock().expect("lock")[c.i()].clone();
                return Err(Error::Failed(format!(
                    "the view of {} in namespace {} did not reach this process's own write (resourceVersion {written}) \
                     within {}s{}",
                    c.resource(),
                    self.ns,
                    CATCH_UP.as_secs() * 2,
                    failing.map(|f| format!(": {f}")).unwrap_or_default()
                )));
            }
            let _ = tokio::time::timeout_at(deadline.into(), changes.changed()).await;
        }
    }
}

/// An error again, for each reader of a stopped view.
fn copy(e: &Error) -> Error {
    match e {
        Error::Api(a) => Error::Api(a.clone()),
        Error::Connection(m) => Error::Connection(m.clone()),
        Error::Refused(m) => Error::Refused(m.clone()),
        e => Error::Failed(e.to_string()),
    }
}

/// The watch request of collection `c` from `rv`: its selector, bookmarks allowed,
/// ended by the server after `WATCH_SECONDS`.
pub fn watch_request(c: Collection, ns: &str, rv: &str) -> Result<http::Request<Vec<u8>>> {
    let mut wp = WatchParams::default().timeout(WATCH_SECONDS);
    if let Some(sel) = c.selector(ns) {
        wp = wp.labels(&sel);
    }
    Request::new(c.path(ns)).watch(&wp, rv).map_err(request_error)
}

/// How one watch ended.
enum Ended {
    /// Ended by the server or dropped: resume from the last resourceVersion; whether any
    /// line came.
    Resume {
        lines: bool,
    },
    Relist,
}

/// Follow collection `c` until the view is dropped: watch, resume, list again (see the
/// module). The initial LIST is `View::start`'s.
async fn follow(kube: Kube, ns: String, c: Collection, shared: Arc<Shared>) {
    let what = What::new("watch", c.resource(), Some(&ns));
    let mut relist = false;
    // transient failures in a row, for the delay
    let mut failures = 0u32;
    loop {
        let failed = if relist {
            match list(&kube, &ns, c).await {
                Ok((listed, rv)) => {
                    shared.objects().replace(c, listed, rv);
                    shared.bump();
                    relist = false;
                    failures = 0;
                    continue;
                }
                Err(e) => e,
            }
        } else {
            let rv = shared.objects().rv[c.i()].clone();
            let req = match watch_request(c, &ns, &rv) {
                Ok(r) => r,
                Err(e) => return stop(&shared, e),
            };
            shared.objects().watches[c.i()] += 1;
            let opened = Instant::now();
            match kube.stream(req, &what).await {
                Ok(res) => {
                    answered(&shared, c);
                    match read_events(res, c, &shared).await {
                        Ended::Relist => relist = true,
                        // a watch that ends at once with nothing: not resumed in a tight loop
                        Ended::Resume { lines: false } if opened.elapsed() < Duration::from_secs(1) => {
                            failures += 1;
                            tokio::time::sleep(backoff(failures)).await;
                        }
                        Ended::Resume { .. } => failures = 0,
                    }
                    continue;
                }
                Err(e) if e.api_code() == Some(410) => {
                    answered(&shared, c);
                    relist = true;
                    continue;
                }
                Err(e) => e,
            }
        };
        failures += 1;
        let Some(delay) = retry_delay(&failed, failures) else { return stop(&shared, failed) };
        shared.failing.lock().expect("lock")[c.i()] = Some(super::api::first_line(&failed));
        answered(&shared, c);
        tokio::time::sleep(delay.max(backoff(failures))).await;
    }
}

/// The server answered a watch of `c` (or it failed transiently): `caught_up` waits for
/// this once, so that a refused watch stops the view before anything is planned from it.
fn answered(shared: &Shared, c: Collection) {
    shared.objects().answered[c.i()] = true;
    shared.bump();
}

fn stop(shared: &Shared, e: Error) {
    *shared.stopped.lock().expect("lock") = Some(e);
    shared.bump();
}

/// Read one watch's events into the view until it ends, drops, needs a LIST, or a
/// reader asks for one.
async fn read_events(res: http::Response<kube::client::Body>, c: Collection, shared: &Shared) -> Ended {
    let mut body = res.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut lines = false;
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = shared.relist[c.i()].notified() => return Ended::Relist,
        };
        let data = match frame {
            None | Some(Err(_)) => return Ended::Resume { lines },
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        // only the new bytes are searched for the end of a line: a 14 kB Deployment
        // arrives in several frames
        let mut search = buf.len();
        buf.extend_from_slice(&data);
        let mut applied = false;
        {
            let mut o = shared.objects();
            let mut start = 0;
            while let Some(i) = buf[search..].iter().position(|b| *b == b'\n') {
                let nl = search + i;
                lines = true;
                if o.apply_line(c, &buf[start..=nl]) == Step::Relist {
                    return Ended::Relist;
                }
                applied = true;
                (start, search) = (nl + 1, nl + 1);
            }
            buf.drain(..start);
        }
        if applied {
            shared.failing.lock().expect("lock")[c.i()] = None;
            shared.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(etype: &str, object: Value) -> Vec<u8> {
        let mut l = serde_json::to_vec(&json!({"type": etype, "object": object})).unwrap();
        l.push(b'\n');
        l
    }

    fn pod(name: &str, rv: &str, image: &str) -> Value {
        json!({"metadata": {"name": name, "resourceVersion": rv,
                "ownerReferences": [{"kind": "ReplicaSet", "name": "rook-ceph-osd-1-5d8f9"}]},
               "spec": {"containers": [{"name": "osd", "image": image}]},
               "status": {"phase": "Running"}})
    }

    #[test]
    fn events_and_bookmarks_move_the_view_and_its_resource_version_on() {
        let mut o = Objects::default();
        assert_eq!(o.apply_line(Collection::Pods, &line("ADDED", pod("p1", "10", "ceph:1"))), Step::Go);
        assert_eq!(o.resource_version(Collection::Pods), "10");
        assert!(o.pods["rook-ceph-osd-1"].contains_key("p1"), "kept under its Deployment");
        o.apply_line(Collection::Pods, &line("MODIFIED", pod("p1", "12", "ceph:2")));
        assert_eq!(o.pods["rook-ceph-osd-1"]["p1"].containers[0].image.as_deref(), Some("ceph:2"));
        // a bookmark changes no object, only where a resumed watch starts from
        let bookmark = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "40"},
                              "spec": {"containers": null}, "status": {}});
        assert_eq!(o.apply_line(Collection::Pods, &line("BOOKMARK", bookmark)), Step::Go);
        assert_eq!((o.resource_version(Collection::Pods), o.pods.len()), ("40", 1));
        o.apply_line(Collection::Pods, &line("DELETED", pod("p1", "41", "ceph:2")));
        assert!(o.pods.is_empty());
        assert_eq!(o.resource_version(Collection::Pods), "41");
        // the other collections are not moved by the pods' events
        assert_eq!(o.resource_version(Collection::Deployments), "");
    }

    #[test]
    fn an_expired_watch_or_an_undecodable_object_asks_for_a_list() {
        let mut o = Objects::default();
        o.apply_line(Collection::Pods, &line("ADDED", pod("p1", "10", "ceph:1")));
        // kube-apiserver's ERROR event when history is compacted past the watch's start
        let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "message": "too old resource version: 5 (9)", "reason": "Expired", "code": 410});
        assert_eq!(o.apply_line(Collection::Pods, &line("ERROR", gone)), Step::Relist);
        assert_eq!(o.resource_version(Collection::Pods), "10", "an ERROR moves nothing on");
        let bad = json!({"metadata": {"name": "p2", "resourceVersion": "11"}, "spec": {"containers": "nope"}});
        assert_eq!(o.apply_line(Collection::Pods, &line("ADDED", bad)), Step::Relist);
        assert_eq!(o.resource_version(Collection::Pods), "10");
        assert_eq!(o.apply_line(Collection::Pods, b"{not json\n"), Step::Relist);
        assert_eq!(o.apply_line(Collection::Pods, b"\n"), Step::Go, "a keep-alive blank line");
    }

    #[test]
    fn a_pod_of_no_deployment_is_not_kept_and_a_listed_collection_is_replaced_whole() {
        let mut o = Objects::default();
        let mut lone = pod("lone", "3", "ceph:1");
        lone["metadata"]["ownerReferences"] = json!([]);
        o.apply_line(Collection::Pods, &line("ADDED", lone));
        assert!(o.pods.is_empty());
        assert_eq!(o.resource_version(Collection::Pods), "3");
        o.apply_line(Collection::Pods, &line("ADDED", pod("p1", "4", "ceph:1")));
        o.replace(Collection::Pods, Listed::Pods(HashMap::new(), Interner::default()), "9".into());
        assert!(o.pods.is_empty(), "what the LIST did not return is gone");
        assert_eq!((o.resource_version(Collection::Pods), o.lists[Collection::Pods.i()]), ("9", 1));
    }
}
