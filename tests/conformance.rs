//! Conformance (issue 20, step 5; DESIGN §6): every kind of request the plugin makes, sent
//! to both servers — rook-sim's embedded API server and the real control plane — and the
//! answers compared: status codes, `reason`s, messages and the fields the plugin reads.
//! Where they differ, the real one is right.
//!
//! Each test has a namespace of the real control plane and a simulation whose cluster lives
//! in a namespace of the same name (the real one seeded from it, `seed_from`), so that both
//! get byte-for-byte the same requests: the plugin's own, built by its request builders
//! (`read::list_request`, `wait::watch_request`, `write::*_request`).
//!
//! Known differences left as they are (none in what the plugin sends or reads):
//! - Strict field validation of built-in kinds: the real server refuses an unknown field
//!   in a Deployment or Pod (422 on a patch, quoting a strategic merge patch as a Go map);
//!   rook-sim has no schemas for built-in kinds and takes it. The plugin writes only
//!   fields those kinds have.
//! - Graceful deletion: the real server answers a pod's DELETE with `deletionTimestamp`,
//!   `deletionGracePeriodSeconds` and generation + 1, sends a MODIFIED before the DELETED,
//!   and keeps a pod bound to a node with a grace period Terminating until its kubelet is
//!   done; rook-sim removes the pod at once (its kubelets' business). The plugin reads
//!   nothing of a delete's answer and waits for pods by what replaces them.
//! - History: the real server's watch history (and its continued lists) come from a watch
//!   cache per resource, started with the apiserver or the CRD and outliving an etcd
//!   compaction; rook-sim has one history, which `Sim::compact` cuts. So the 410 Expired
//!   of a stale continue token is compared with etcd3's code only, and "too old" watches
//!   on CephClusters.
//! - Messages of unparseable label selectors (the plugin's are built, never typed).

mod common;

use std::path::Path;
use std::time::Duration;

use common::control_plane::{ControlPlane, control_plane};
use http_body_util::BodyExt;
use kubectl_ceph_image::cluster::connect::{ConnectOptions, connect};
use kubectl_ceph_image::cluster::read::{self, cluster_path, daemon_selector, deployments_path, pods_path};
use kubectl_ceph_image::cluster::{Kube, wire, write};
use kubectl_ceph_image::execute::{prepull, wait};
use kubectl_ceph_image::model::daemon::DaemonType;
use kubectl_ceph_image::plan::{Change, Target, writes};
use rook_sim::{Crd, OperatorConfig, Sim, SimOptions, Topology};
use serde_json::{Value, json};

/// One answer: the HTTP status, the content type, the body (JSON, or its text as a string).
#[derive(Debug, Clone)]
struct Answer {
    code: u16,
    content_type: String,
    body: Value,
}

impl Answer {
    fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
    /// A failure's `Status`, whole (the plugin reads its code, kind, reason, message and
    /// details: `api::api_failure`).
    fn failure(&self) -> Value {
        json!({"code": self.code, "kind": self.body["kind"], "status": self.body["status"],
            "reason": self.body["reason"], "message": self.body["message"], "details": self.body["details"],
            "bodyCode": self.body["code"]})
    }
}

/// A watch: the answer's status and content type, every event, and whether the server
/// ended the stream itself (within our guard).
#[derive(Debug)]
struct Watched {
    code: u16,
    content_type: String,
    events: Vec<Value>,
    ended: bool,
}

impl Watched {
    fn of_type(&self, t: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == t).collect()
    }
}

/// Longest we read a watch ourselves: it ends when the server ends it (timeoutSeconds).
const WATCH_GUARD: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct Server {
    name: &'static str,
    client: kube::Client,
}

impl Server {
    async fn new(name: &'static str, kubeconfig: &Path) -> Server {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
        Server { name, client: kube::Client::try_from(config).expect("client") }
    }

    async fn send(&self, req: http::Request<Vec<u8>>) -> Answer {
        let what = format!("{} {}", req.method(), req.uri());
        let res = self
            .client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap_or_else(|e| panic!("{}: {what}: no answer: {e}", self.name));
        let code = res.status().as_u16();
        let content_type = content_type(res.headers());
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { code, content_type, body }
    }

    /// Open a watch: its answer's headers have arrived (the server has it) when this
    /// returns; the events are read on a task until the server ends the stream.
    async fn watch(&self, req: http::Request<Vec<u8>>) -> tokio::task::JoinHandle<Watched> {
        let res = self.client.send(req.map(kube::client::Body::from)).await.expect("a watch answer");
        let code = res.status().as_u16();
        let content_type = content_type(res.headers());
        tokio::spawn(async move {
            let mut body = res.into_body();
            let mut buf = Vec::new();
            let mut events = Vec::new();
            let ended = tokio::time::timeout(WATCH_GUARD, async {
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else { return false };
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                    while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=nl).collect();
                        events.push(serde_json::from_slice::<Value>(&line).expect("each line of a watch is JSON"));
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
            Watched { code, content_type, events, ended }
        })
    }
}

fn content_type(h: &http::HeaderMap) -> String {
    h.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).expect("request")
}

fn raw(method: &str, path: &str, content_type: &str, body: &Value) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(serde_json::to_vec(body).expect("json"))
        .expect("request")
}

/// A simulated cluster and the real control plane, both holding the same CephCluster and
/// Deployments in a namespace of the same name.
struct Pair {
    sim: Sim,
    cp: &'static ControlPlane,
    ns: String,
    rt: tokio::runtime::Runtime,
}

impl Pair {
    fn new(prefix: &str) -> Pair {
        let cp = control_plane(Crd::Released);
        let ns = cp.namespace(prefix);
        let sim = Sim::start(SimOptions {
            topology: Topology { osds: 3, namespace: ns.clone(), ..Default::default() },
            crd: Crd::Released,
            operator: OperatorConfig { daemon_delay: Duration::ZERO, ..Default::default() },
            ..Default::default()
        })
        .expect("simulated cluster starts");
        cp.seed_from(&sim, &ns);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        Pair { sim, cp, ns, rt }
    }

    /// The raw clients: [rook-sim, the real control plane].
    fn servers(&self) -> [Server; 2] {
        self.rt.block_on(async {
            [
                Server::new("rook-sim", self.sim.kubeconfig()).await,
                Server::new("real", &self.cp.kubeconfig("admin")).await,
            ]
        })
    }

    /// The plugin's own connections, the same way round.
    fn kubes(&self) -> [Kube; 2] {
        let connect_to = |path: &Path| {
            let o = ConnectOptions {
                kubeconfig: Some(path.to_path_buf()),
                namespace: Some(self.ns.clone()),
                request_timeout: Some(Duration::from_secs(20)),
                ..Default::default()
            };
            self.rt.block_on(connect(&o)).unwrap_or_else(|e| panic!("connect: {e}")).kube
        };
        [connect_to(self.sim.kubeconfig()), connect_to(&self.cp.kubeconfig("admin"))]
    }

    /// Wait until the real Deployment and ReplicaSet controllers have made one pod per
    /// seeded Deployment.
    fn real_pods(&self) {
        // the daemons' (the simulation's Rook operator Deployment is not seeded there)
        let want = self
            .sim
            .list(&rook_sim::resources::DEPLOYMENTS, &self.ns)
            .iter()
            .filter(|d| d["metadata"]["labels"].get("rook_cluster").is_some())
            .count();
        let sel = daemon_selector(&self.ns);
        for _ in 0..200 {
            let n =
                self.cp.kubectl_ok("admin", &["-n", &self.ns, "get", "pods", "-l", &sel, "-o", "name"]).lines().count();
            if n == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the real controllers made no pod for every seeded Deployment within 20 s");
    }

    /// Wait until the namespace's ServiceAccounts exist (pods name them; the real server's
    /// ServiceAccount admission refuses a pod naming a missing one).
    fn real_service_account(&self, sa: &str) {
        for _ in 0..200 {
            if self.cp.kubectl("admin", &["-n", &self.ns, "get", "serviceaccount", sa]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no ServiceAccount {sa} in {} within 20 s", self.ns);
    }
}

/// `a` and `b` are equal, or the test fails showing what each server answered.
#[track_caller]
fn same(what: &str, sim: &Value, real: &Value) {
    assert_eq!(sim, real, "{what}: rook-sim answered\n{sim:#}\nthe real control plane answered\n{real:#}");
}

fn base64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap_or_else(|e| panic!("{s:?}: not base64url: {e}"))
}

fn rv_number(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a numeric resourceVersion: {v}"))
}

/// Every page of a LIST (limit `limit`), checking each page's shape on the way: the
/// list's kind and version, one resourceVersion for all pages, a continue token on every
/// page but the last that decodes as kube-apiserver's do, and no `remainingItemCount`
/// where a selector makes it unknowable. Returns the pages' metadata and the items.
async fn pages(s: &Server, path: &str, selector: &str, limit: u32, list_kind: &str) -> (Vec<Value>, Vec<Value>) {
    let mut token: Option<String> = None;
    let mut metas = Vec::new();
    let mut items = Vec::new();
    loop {
        let a = s.send(read::list_request(path, selector, limit, token.as_deref()).expect("request")).await;
        assert_eq!(a.code, 200, "{}: {a:?}", s.name);
        assert_eq!(a.body["kind"], list_kind, "{}", s.name);
        let m = a.body["metadata"].clone();
        let page = a.body["items"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= limit as usize, "{}: {} items past limit {limit}", s.name, page.len());
        items.extend(page);
        metas.push(m.clone());
        match m["continue"].as_str() {
            Some(c) => {
                assert!(!c.is_empty(), "{}", s.name);
                // kube-apiserver's token: base64url without padding of
                // {"v":"meta.k8s.io/v1","rv":N,"start":...}, N the list's resourceVersion
                let t: Value = serde_json::from_slice(&base64url(c)).expect("a JSON token");
                assert_eq!(t["v"], "meta.k8s.io/v1", "{}: {t}", s.name);
                assert_eq!(t["rv"].as_u64(), Some(rv_number(&m["resourceVersion"])), "{}: {t} {m}", s.name);
                assert!(t["start"].is_string(), "{}: {t}", s.name);
                token = Some(c.to_string());
            }
            None => break,
        }
    }
    let rv = &metas[0]["resourceVersion"];
    rv_number(rv);
    assert!(
        metas.iter().all(|m| &m["resourceVersion"] == rv),
        "{}: every page has the list's resourceVersion: {metas:?}",
        s.name
    );
    (metas, items)
}

/// "... in record (123). ..." -> "... in record (N). ...": the server's own resourceVersion.
fn mask_record(s: &str) -> String {
    match s.split_once("in record (") {
        Some((head, tail)) => match tail.split_once(')') {
            Some((_, rest)) => format!("{head}in record (N){}", mask_record(rest)),
            None => s.to_string(),
        },
        None => s.to_string(),
    }
}

fn names(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect()
}

fn apps(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> =
        items.iter().map(|i| i["metadata"]["labels"]["app"].as_str().unwrap_or_default().to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_paginated_list_by_label_selector_answers_alike() {
    let p = Pair::new("conf-list");
    p.real_pods();
    let ns = p.ns.clone();
    let servers = p.servers();
    let [sim_kube, real_kube] = p.kubes();
    let selectors = [
        daemon_selector(&ns),
        format!("rook_cluster={ns},app in (rook-ceph-mon,rook-ceph-mgr,rook-ceph-osd)"),
        format!("rook_cluster={ns},app notin (rook-ceph-crashcollector),ceph_daemon_id"),
    ];
    p.rt.block_on(async {
        for (path, kind) in [(deployments_path(&ns), "DeploymentList"), (pods_path(&ns), "PodList")] {
            for sel in &selectors {
                let (sim_meta, sim_items) = pages(&servers[0], &path, sel, 2, kind).await;
                let (real_meta, real_items) = pages(&servers[1], &path, sel, 2, kind).await;
                assert!(sim_items.len() > 2, "{sel}: more than one page: {}", sim_items.len());
                // the same objects: Deployments by name (in name order, as etcd keys sort),
                // pods (named by their ReplicaSets) by app label
                if kind == "DeploymentList" {
                    same(&format!("{path}?{sel}: names"), &json!(names(&sim_items)), &json!(names(&real_items)));
                }
                same(&format!("{path}?{sel}: apps"), &json!(apps(&sim_items)), &json!(apps(&real_items)));
                same(&format!("{path}?{sel}: pages"), &json!(sim_meta.len()), &json!(real_meta.len()));
                // a label selector: kube-apiserver cannot know how many are left
                let keys = |ms: &[Value]| -> Value {
                    ms.iter().map(|m| m.as_object().unwrap().keys().cloned().collect::<Vec<_>>()).collect()
                };
                same(&format!("{path}?{sel}: metadata fields of each page"), &keys(&sim_meta), &keys(&real_meta));
            }
            // no selector: the server knows how many are left past the page, and says it
            let first = || read::list_request(&path, "", 2, None).expect("request");
            let (a, b) = (servers[0].send(first()).await, servers[1].send(first()).await);
            if kind == "DeploymentList" {
                same(
                    "remainingItemCount without a selector",
                    &a.body["metadata"]["remainingItemCount"],
                    &b.body["metadata"]["remainingItemCount"],
                );
                assert!(
                    a.body["metadata"]["remainingItemCount"].as_u64().is_some_and(|n| n > 0),
                    "{:?}",
                    a.body["metadata"]
                );
            }
            // the plugin's own paging (500 a page) reads the same
            let sel = daemon_selector(&ns);
            let what = kubectl_ceph_image::cluster::api::What::new("list", "x", Some(&ns));
            let sim_all = read::list_all::<Value>(&sim_kube, &path, &sel, &what).await.expect("list");
            let real_all = read::list_all::<Value>(&real_kube, &path, &sel, &what).await.expect("list");
            same("the plugin's list_all: apps", &json!(apps(&sim_all.items)), &json!(apps(&real_all.items)));
        }
        // a continue token the server cannot read: 400 BadRequest
        for path in [deployments_path(&ns), pods_path(&ns)] {
            let bad = || read::list_request(&path, &daemon_selector(&ns), 2, Some("garbage")).expect("request");
            let (a, b) = (servers[0].send(bad()).await, servers[1].send(bad()).await);
            same("a garbled continue token", &json!([a.code, a.reason()]), &json!([b.code, b.reason()]));
            assert_eq!((a.code, a.reason()), (400, "BadRequest"));
            for x in [&a, &b] {
                let m = x.message();
                assert!(m.starts_with("invalid continue token: continue key is not valid"), "{m}");
            }
        }
    });
    // A continue token from before an etcd compaction is 410 Expired when etcd answers
    // the list (`storage/etcd3` interpretListError). The real server answers continued
    // lists from its watch cache, which kept answering such tokens (200) after the test
    // compacted etcd itself: the 410 cannot be provoked there in a test's time. rook-sim's
    // `compact` stands for both, and its answer is etcd3's.
    let stale = p.rt.block_on(async {
        let first = servers[0].send(read::list_request(&pods_path(&ns), &daemon_selector(&ns), 2, None).unwrap()).await;
        // a write after the list, then a compaction past it
        p.sim
            .update(&rook_sim::resources::DEPLOYMENTS, &ns, "rook-ceph-mgr-a", |d| {
                d["metadata"]["labels"]["x"] = "1".into()
            })
            .expect("a write");
        p.sim.compact();
        let c = first.body["metadata"]["continue"].as_str().expect("a token").to_string();
        servers[0].send(read::list_request(&pods_path(&ns), &daemon_selector(&ns), 2, Some(&c)).unwrap()).await
    });
    assert_eq!((stale.code, stale.reason()), (410, "Expired"), "{stale:?}");
    assert!(stale.message().starts_with("The provided continue parameter is too old"), "{}", stale.message());
}

/// The plugin's watch (`wait::watch_request`: the daemon selector, bookmarks, from the
/// list's resourceVersion, ended by the server at timeoutSeconds) while a pod is created,
/// relabelled and deleted: the same events on both, in order, of the same shape, a
/// BOOKMARK of the same shape, and the stream ended by the server.
#[test]
fn a_watch_answers_the_same_events_and_bookmarks() {
    let p = Pair::new("conf-watch");
    let ns = p.ns.clone();
    p.real_service_account("default");
    let servers = p.servers();
    // both at once: each watch lasts until its server ends it
    let run = |s: Server| {
        let ns = ns.clone();
        async move {
            let listed = s.send(read::list_request(&pods_path(&ns), &daemon_selector(&ns), 500, None).unwrap()).await;
            let rv = listed.body["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
            // 5 s: kube-apiserver sends its bookmark 2 s before the deadline (cacher.go)
            let w = s.watch(wait::watch_request(&ns, &rv, 5).expect("request")).await;
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "conf-watched", "labels": {"rook_cluster": ns, "app": "conf"}},
                "spec": {"containers": [{"name": "c", "image": "quay.io/ceph/ceph:v20.2.4"}], "terminationGracePeriodSeconds": 0}});
            let created = s.send(write::create_request(&pods_path(&ns), &pod, false).unwrap()).await;
            assert_eq!(created.code, 201, "{}: {created:?}", s.name);
            let patch = json!({"metadata": {"labels": {"conf": "relabelled"}}});
            let patched =
                s.send(write::patch_request(&pods_path(&ns), "conf-watched", &patch, false, false).unwrap()).await;
            assert_eq!(patched.code, 200, "{}: {patched:?}", s.name);
            let deleted = s.send(write::delete_pod_request(&ns, "conf-watched", None, false).unwrap()).await;
            assert_eq!(deleted.code, 200, "{}: {deleted:?}", s.name);
            (rv, w.await.expect("watch task"))
        }
    };
    let [a, b] = servers.clone();
    let (sim_w, real_w) = p.rt.block_on(async { tokio::join!(run(a), run(b)) });
    let watched = [sim_w, real_w];
    let mut shapes = Vec::new();
    for ((start, w), s) in watched.iter().zip(&servers) {
        assert_eq!((w.code, w.content_type.as_str()), (200, "application/json"), "{}: {w:?}", s.name);
        assert!(w.ended, "{}: the server ends the watch at timeoutSeconds", s.name);
        let mut last = rv_number(&json!(start));
        let mut ours = Vec::new();
        for e in &w.events {
            let keys: Vec<&String> = e.as_object().expect("an event").keys().collect();
            assert_eq!(keys, ["object", "type"], "{}: {e}", s.name);
            let o = &e["object"];
            let rv = rv_number(&o["metadata"]["resourceVersion"]);
            assert!(rv >= last, "{}: resourceVersions never go back: {rv} after {last}", s.name);
            last = rv;
            match e["type"].as_str().unwrap() {
                "BOOKMARK" => {
                    // only the resourceVersion (what the plugin reads), in an empty Pod
                    assert_eq!((&o["kind"], &o["apiVersion"]), (&json!("Pod"), &json!("v1")), "{}: {e}", s.name);
                    let meta: Vec<&String> = o["metadata"].as_object().unwrap().keys().collect();
                    assert_eq!(meta, ["resourceVersion"], "{}: {e}", s.name);
                    shapes.push((s.name, "BOOKMARK", o.clone()));
                }
                t @ ("ADDED" | "MODIFIED" | "DELETED") => {
                    assert_eq!((&o["kind"], &o["apiVersion"]), (&json!("Pod"), &json!("v1")), "{}: {e}", s.name);
                    serde_json::from_value::<wire::WirePod>(o.clone()).expect("the plugin reads the pod");
                    if o["metadata"]["name"] == "conf-watched" {
                        ours.push((t, o["metadata"]["labels"]["conf"].as_str().unwrap_or_default().to_string()));
                    }
                }
                t => panic!("{}: an event of type {t}: {e}", s.name),
            }
        }
        // ADDED, then the relabelling among the MODIFIEDs (the real scheduler adds its
        // own: PodScheduled False, no nodes), then DELETED
        assert_eq!(ours.first(), Some(&("ADDED", String::new())), "{}: {ours:?}", s.name);
        assert_eq!(ours.last().map(|o| o.0), Some("DELETED"), "{}: {ours:?}", s.name);
        assert!(ours[1..ours.len() - 1].iter().all(|o| o.0 == "MODIFIED"), "{}: {ours:?}", s.name);
        assert!(ours.iter().any(|o| o.0 == "MODIFIED" && o.1 == "relabelled"), "{}: {ours:?}", s.name);
        assert!(!w.of_type("BOOKMARK").is_empty(), "{}: a bookmark before the deadline: {:?}", s.name, w.events);
    }
    // the bookmark is an empty Pod with only a resourceVersion, on both
    let strip = |o: &Value| {
        let mut o = o.clone();
        o["metadata"]["resourceVersion"] = json!("N");
        o
    };
    let sim_b = shapes.iter().find(|s| s.0 == "rook-sim").map(|s| strip(&s.2));
    let real_b = shapes.iter().find(|s| s.0 == "real").map(|s| strip(&s.2));
    same("a BOOKMARK's object", &json!(sim_b), &json!(real_b));
}

/// A watch from a resourceVersion older than the server's history: not an HTTP 410 but a
/// 200 whose one event is an ERROR holding a 410 Expired Status (cacher.go: "once we have
/// passed authn/authz/admission ... errors must fail with a watch event of type ERROR"),
/// then the end of the stream. The real server's history for CephClusters starts when the
/// CRD was established, so "1" is too old there; rook-sim's is compacted first.
#[test]
fn a_watch_from_a_too_old_resource_version_is_an_error_event_in_a_200_stream() {
    let p = Pair::new("conf-gone");
    let ns = p.ns.clone();
    let servers = p.servers();
    p.sim.compact();
    let watched = p.rt.block_on(async {
        let mut out = Vec::new();
        for s in &servers {
            let req = kube::core::Request::new(cluster_path(&ns))
                .watch(&kube::api::WatchParams::default().timeout(5), "1")
                .expect("request");
            out.push(s.watch(req).await.await.expect("watch task"));
        }
        out
    });
    let mut errors = Vec::new();
    for (w, s) in watched.iter().zip(&servers) {
        assert_eq!(w.code, 200, "{}: {w:?}", s.name);
        assert!(w.ended, "{}: the stream ends after the error", s.name);
        assert_eq!(w.events.len(), 1, "{}: {:?}", s.name, w.events);
        let e = &w.events[0];
        assert_eq!(e["type"], "ERROR", "{}: {e}", s.name);
        let msg = e["object"]["message"].as_str().unwrap_or_default();
        let (head, tail) = msg.split_once(" (").unwrap_or_else(|| panic!("{}: {msg}", s.name));
        assert_eq!(head, "too old resource version: 1", "{}", s.name);
        assert!(tail.trim_end_matches(')').parse::<u64>().is_ok_and(|n| n > 1), "{}: {msg}", s.name);
        let mut o = e["object"].clone();
        o["message"] = json!("too old resource version: 1 (N)");
        errors.push(o);
    }
    same("the ERROR event's Status", &errors[0], &errors[1]);
    assert_eq!((&errors[0]["reason"], &errors[0]["code"]), (&json!("Expired"), &json!(410)));

    // a resourceVersion that is no number: 500, no reason, no stream
    let (a, b) = p.rt.block_on(async {
        let req = || wait::watch_request(&ns, "abc", 2).unwrap();
        (servers[0].send(req()).await, servers[1].send(req()).await)
    });
    same("a watch from resourceVersion \"abc\"", &a.failure(), &b.failure());
    assert_eq!(a.code, 500);

    // The plugin's own watch of pods from "1": the real server's pod history reaches back
    // to its start (a fresh control plane), or not; it answers 200 either way, with the
    // events since, or with the ERROR above. The plugin takes both (execute/wait.rs `follow`).
    let pods = p.rt.block_on(async {
        servers[1].watch(wait::watch_request(&ns, "1", 2).unwrap()).await.await.expect("watch task")
    });
    assert_eq!(pods.code, 200, "{pods:?}");
    let expired = pods.of_type("ERROR");
    assert!(expired.is_empty() || (pods.events.len() == 1 && expired[0]["object"]["code"] == 410), "{:?}", pods.events);
}

#[test]
fn a_get_of_a_missing_object_is_404_not_found_with_the_same_details() {
    let p = Pair::new("conf-get");
    let ns = p.ns.clone();
    let servers = p.servers();
    let [sim_kube, real_kube] = p.kubes();
    p.rt.block_on(async {
        for path in [
            format!("{}/nope", deployments_path(&ns)),
            format!("{}/nope", pods_path(&ns)),
            format!("{}/nope", cluster_path(&ns)),
            "/api/v1/namespaces/conf-no-such-namespace".to_string(),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/nopes.ceph.rook.io".to_string(),
        ] {
            let (a, b) = (servers[0].send(get(&path)).await, servers[1].send(get(&path)).await);
            same(&format!("GET {path}"), &a.failure(), &b.failure());
            assert_eq!((a.code, a.reason()), (404, "NotFound"), "{a:?}");
        }
        // what the plugin reads of the objects that are there: the CephCluster (its list,
        // as `find_cluster` sends it) and the CRD's schema (`overrides_support`)
        for (kube, s) in [(&sim_kube, &servers[0]), (&real_kube, &servers[1])] {
            let c = read::find_cluster(kube, &ns, None).await.unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(c.metadata.name, ns, "{}: Rook names it after its namespace", s.name);
            let support = read::overrides_support(kube).await.expect("the CRD");
            assert_eq!(support, read::Support::No, "{}: released Rook", s.name);
            let e = read::get_cluster(kube, &ns, "nope").await.expect_err("missing");
            assert_eq!(e.api_code(), Some(404), "{}", s.name);
        }
    });
}

/// The plugin's CephCluster write: a JSON merge patch carrying `metadata.resourceVersion`
/// (`writes::cluster_patch`). The current one: 200, the change, generation + 1; a stale one:
/// 409 Conflict, the same Status on both.
#[test]
fn a_merge_patch_of_the_cephcluster_with_a_resource_version_precondition() {
    let p = Pair::new("conf-patch");
    let ns = p.ns.clone();
    let servers = p.servers();
    p.rt.block_on(async {
        let mut conflicts = Vec::new();
        for s in &servers {
            let image = "quay.io/ceph/ceph:v20.2.5";
            let change = Change::SetImage { target: Target::Base, image: image.into() };
            // The simulated Rook writes the CephCluster's status whenever it likes (and after
            // every spec change, as it reconciles), on both servers: a 409 between the read
            // and the patch is read again, as the plugin does.
            let (before, a, patch) = patch_fresh(s, &ns, &change).await;
            let rv = before["metadata"]["resourceVersion"].as_str().unwrap().to_string();
            assert_eq!(a.code, 200, "{}: {a:?}", s.name);
            assert_eq!(a.body["spec"]["cephVersion"]["image"], image, "{}", s.name);
            assert_eq!(a.body["metadata"]["generation"], before["metadata"]["generation"].as_i64().unwrap() + 1);
            assert_ne!(a.body["metadata"]["resourceVersion"], json!(rv), "{}", s.name);
            // the CephCluster-level label: metadata only, no new generation
            let (before_pause, l, _) = patch_fresh(s, &ns, &Change::PauseCluster).await;
            assert_eq!(l.code, 200, "{}: {l:?}", s.name);
            assert_eq!(l.body["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"], "true", "{}", s.name);
            assert_eq!(l.body["metadata"]["generation"], before_pause["metadata"]["generation"], "{}", s.name);
            // the first patch again: its resourceVersion is stale now
            let stale = s.send(write::patch_request(&cluster_path(&ns), &ns, &patch, false, false).unwrap()).await;
            conflicts.push(stale);
        }
        same("a stale resourceVersion", &conflicts[0].failure(), &conflicts[1].failure());
        assert_eq!((conflicts[0].code, conflicts[0].reason()), (409, "Conflict"));
    });
}

/// GET the CephCluster and send `change` as the plugin's merge patch carrying the
/// resourceVersion just read; on a 409 (a status write of the simulated Rook came between)
/// read again, at most 10 times. Returns the object read, the answer and the patch sent.
async fn patch_fresh(s: &Server, ns: &str, change: &Change) -> (Value, Answer, Value) {
    let mut tries = 0;
    loop {
        let before = s.send(write::get_request(&cluster_path(ns), ns).unwrap()).await.body;
        let rv = before["metadata"]["resourceVersion"].as_str().unwrap().to_string();
        let patch = writes::cluster_patch(change, &rv).unwrap();
        let a = s.send(write::patch_request(&cluster_path(ns), ns, &patch, false, false).unwrap()).await;
        tries += 1;
        if a.code != 409 || tries == 10 {
            return (before, a, patch);
        }
    }
}

/// Labels of a Deployment: a strategic merge patch adds, a merge patch with null removes
/// (the plugin's pause/resume); the fence (`writes::fence_patch`, a strategic merge patch
/// merging containers and env by name) rewrites only the Ceph containers' images.
#[test]
fn label_and_fence_patches_of_a_deployment_leave_the_same_objects() {
    let p = Pair::new("conf-labels");
    let ns = p.ns.clone();
    let servers = p.servers();
    let [sim_kube, real_kube] = p.kubes();
    p.real_pods();
    p.rt.block_on(async {
        let mut after = Vec::new();
        for (s, kube) in servers.iter().zip([&sim_kube, &real_kube]) {
            let path = deployments_path(&ns);
            let add = json!({"metadata": {"labels": {"ceph.rook.io/do-not-reconcile": "true"}}});
            let a = s.send(write::patch_request(&path, "rook-ceph-osd-1", &add, true, false).unwrap()).await;
            assert_eq!(a.code, 200, "{}: {a:?}", s.name);
            let removed = writes::label_patch(false, false);
            let b = s.send(write::patch_request(&path, "rook-ceph-osd-1", &add, false, false).unwrap()).await;
            let c = s.send(write::patch_request(&path, "rook-ceph-osd-2", &add, false, false).unwrap()).await;
            let d = s.send(write::patch_request(&path, "rook-ceph-osd-2", &removed, false, false).unwrap()).await;
            for x in [&b, &c, &d] {
                assert_eq!(x.code, 200, "{}: {x:?}", s.name);
                assert_eq!(x.body["metadata"]["generation"], 1, "{}: labels are no spec change", s.name);
            }
            // the fence of mgr.a, from the plugin's own snapshot; the real Deployment
            // controller may still be writing the status of a freshly made Deployment (a
            // new resourceVersion: 409), as it may on any cluster: read again, as the
            // plugin's fence does on a conflict
            let mut tries = 0;
            let (fence, f) = loop {
                let snap = read::snapshot(kube, &ns, None).await.unwrap_or_else(|e| panic!("{}: {e}", s.name));
                let mgr = snap.daemons.iter().find(|d| d.deployment == "rook-ceph-mgr-a").expect("mgr.a");
                let fence = writes::fence_patch(mgr, "quay.io/ceph/ceph:v20.2.5", "2026-01-01T00:00:00Z");
                let f = s.send(write::patch_request(&path, "rook-ceph-mgr-a", &fence, true, false).unwrap()).await;
                tries += 1;
                if f.code != 409 || tries == 5 {
                    break (fence, f);
                }
            };
            assert_eq!(f.code, 200, "{}: {f:?}", s.name);
            assert_eq!(f.body["metadata"]["generation"], 2, "{}: a template change", s.name);
            // a stale resourceVersion in the fence patch: 409 Conflict
            let stale = s.send(write::patch_request(&path, "rook-ceph-mgr-a", &fence, true, false).unwrap()).await;
            let mut seen = Vec::new();
            for name in ["rook-ceph-osd-1", "rook-ceph-osd-2", "rook-ceph-mgr-a"] {
                let o = s.send(write::get_request(&path, name).unwrap()).await.body;
                let containers = |key: &str| -> Value {
                    o["spec"]["template"]["spec"][key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let env: Vec<&Value> = c["env"].as_array().into_iter().flatten().filter(|e| e["name"] == "CONTAINER_IMAGE").collect();
                            json!({"name": c["name"], "image": c["image"], "env": env})
                        })
                        .collect()
                };
                seen.push(json!({"name": name, "labels": o["metadata"]["labels"], "annotations": o["metadata"]["annotations"].as_object().map(|m| m.iter().filter(|(k, _)| k.starts_with("kubectl-ceph-image/"))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect::<serde_json::Map<_, _>>()),
                    "containers": containers("containers"), "initContainers": containers("initContainers")}));
            }
            after.push((seen, stale));
        }
        same("the Deployments after the patches", &json!(after[0].0), &json!(after[1].0));
        same("a fence with a stale resourceVersion", &after[0].1.failure(), &after[1].1.failure());
        assert_eq!(after[0].1.code, 409);
    });
}

/// `dryRun=All` on each write the plugin sends: the answer shows the change, nothing is
/// persisted.
#[test]
fn dry_run_all_persists_nothing_and_answers_the_change() {
    let p = Pair::new("conf-dry");
    let ns = p.ns.clone();
    let servers = p.servers();
    let [sim_kube, real_kube] = p.kubes();
    let sa = p.sim.get(&rook_sim::resources::DEPLOYMENTS, &ns, "rook-ceph-mgr-a").unwrap();
    let tpl = prepull::Template::of_deployment(&sa);
    if let Some(sa) = &tpl.service_account {
        p.real_service_account(sa);
    }
    p.rt.block_on(async {
        for (s, kube) in servers.iter().zip([&sim_kube, &real_kube]) {
            // the CephCluster
            let before = s.send(write::get_request(&cluster_path(&ns), &ns).unwrap()).await.body;
            let rv = before["metadata"]["resourceVersion"].as_str().unwrap();
            let change = Change::SetImage { target: Target::Base, image: "quay.io/ceph/ceph:v20.2.5".into() };
            let patch = writes::cluster_patch(&change, rv).unwrap();
            let a = s.send(write::patch_request(&cluster_path(&ns), &ns, &patch, false, true).unwrap()).await;
            assert_eq!(a.code, 200, "{}: {a:?}", s.name);
            assert_eq!(a.body["spec"]["cephVersion"]["image"], "quay.io/ceph/ceph:v20.2.5", "{}", s.name);
            assert_eq!(a.body["metadata"]["resourceVersion"], rv, "{}: a dry run has no new resourceVersion", s.name);
            assert_eq!(
                a.body["metadata"]["generation"],
                before["metadata"]["generation"].as_i64().unwrap() + 1,
                "{}",
                s.name
            );
            let now = s.send(write::get_request(&cluster_path(&ns), &ns).unwrap()).await.body;
            assert_eq!(now["spec"], before["spec"], "{}", s.name);
            assert_eq!(now["metadata"]["resourceVersion"], rv, "{}", s.name);
            // a Deployment
            let path = deployments_path(&ns);
            let d0 = s.send(write::get_request(&path, "rook-ceph-mgr-a").unwrap()).await.body;
            let label = writes::label_patch(true, false);
            let d = s.send(write::patch_request(&path, "rook-ceph-mgr-a", &label, true, true).unwrap()).await;
            assert_eq!(d.code, 200, "{}: {d:?}", s.name);
            assert_eq!(d.body["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"], "true", "{}", s.name);
            // (the real Deployment controller may write its status meanwhile)
            let d1 = s.send(write::get_request(&path, "rook-ceph-mgr-a").unwrap()).await.body;
            assert_eq!(d1["metadata"]["labels"], d0["metadata"]["labels"], "{}", s.name);
            assert_eq!(d1["metadata"]["generation"], d0["metadata"]["generation"], "{}", s.name);
            // a pre-pull pod: created...
            let pod = prepull::manifest(&ns, "node-00", "quay.io/ceph/ceph:v20.2.5", &tpl, Duration::from_secs(60));
            let name = pod["metadata"]["name"].as_str().unwrap().to_string();
            let c = s.send(write::create_request(&pods_path(&ns), &pod, true).unwrap()).await;
            assert_eq!(c.code, 201, "{}: {c:?}", s.name);
            assert!(c.body["metadata"]["uid"].is_string(), "{}: {c:?}", s.name);
            assert!(c.body["metadata"].get("resourceVersion").is_none(), "{}: {:?}", s.name, c.body["metadata"]);
            let g = s.send(write::get_request(&pods_path(&ns), &name).unwrap()).await;
            assert_eq!(g.code, 404, "{}: nothing created", s.name);
            // ...and deleted: the pod is still there after a dry-run delete
            let created = s.send(write::create_request(&pods_path(&ns), &pod, false).unwrap()).await;
            assert_eq!(created.code, 201, "{}: {created:?}", s.name);
            let answer = write::delete_pod_value(kube, &ns, &name, None, true).await;
            assert!(answer.is_ok(), "{}: {answer:?}", s.name);
            let g = s.send(write::get_request(&pods_path(&ns), &name).unwrap()).await;
            assert_eq!(g.code, 200, "{}: a dry-run delete deleted the pod: {g:?}", s.name);
            assert!(g.body["metadata"].get("deletionTimestamp").is_none(), "{}: {:?}", s.name, g.body["metadata"]);
            let gone = write::delete_pod_value(kube, &ns, &name, None, false).await;
            assert!(gone.is_ok(), "{}: {gone:?}", s.name);
        }
    });
}

/// Strict field validation of a field the released CRD prunes
/// (`spec.cephVersion.imageOverrides`): a patch answers 422 Invalid naming the field
/// `patch`, a create or an update 400 BadRequest; the plugin reads the same refusal.
#[test]
fn strict_field_validation_of_a_pruned_field() {
    let p = Pair::new("conf-strict");
    let ns = p.ns.clone();
    let servers = p.servers();
    p.rt.block_on(async {
        let mut seen = Vec::new();
        for s in &servers {
            let cluster = s.send(write::get_request(&cluster_path(&ns), &ns).unwrap()).await.body;
            let rv = cluster["metadata"]["resourceVersion"].as_str().unwrap();
            let change =
                Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v20.2.5".into() };
            let patch = writes::cluster_patch(&change, rv).unwrap();
            let a = s.send(write::patch_request(&cluster_path(&ns), &ns, &patch, false, true).unwrap()).await;
            assert_eq!((a.code, a.reason()), (422, "Invalid"), "{}: {a:?}", s.name);
            let causes = a.body["details"]["causes"].as_array().expect("causes");
            assert_eq!(causes.len(), 1, "{}", s.name);
            assert_eq!((&causes[0]["field"], &causes[0]["reason"]), (&json!("patch"), &json!("FieldValueInvalid")));
            let details: Vec<&String> = a.body["details"].as_object().unwrap().keys().collect();
            assert_eq!(details, ["causes"], "{}: no name, group or kind", s.name);
            assert!(
                a.message().starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
                "{}: {}",
                s.name,
                a.message()
            );
            let tail = "strict decoding error: unknown field \"spec.cephVersion.imageOverrides\"";
            assert!(a.message().ends_with(tail), "{}: {}", s.name, a.message());
            assert!(causes[0]["message"].as_str().unwrap().ends_with(tail), "{}", s.name);
            // what the plugin shows of it
            let shown = kubectl_ceph_image::cluster::api::shorten_message(a.message());
            // a create and an update with the field: 400 BadRequest
            let mut other = cluster.clone();
            other["spec"]["cephVersion"]["imageOverrides"] = json!({"mgr": "quay.io/ceph/ceph:v20.2.5"});
            let put = s
                .send(raw(
                    "PUT",
                    &format!("{}/{ns}?fieldValidation=Strict", cluster_path(&ns)),
                    "application/json",
                    &other,
                ))
                .await;
            other["metadata"] = json!({"name": "other", "namespace": ns});
            let create = s
                .send(raw("POST", &format!("{}?fieldValidation=Strict", cluster_path(&ns)), "application/json", &other))
                .await;
            seen.push((shown, put, create));
        }
        same("the plugin's reading of the 422", &json!(seen[0].0), &json!(seen[1].0));
        same("a strict update with the field", &seen[0].1.failure(), &seen[1].1.failure());
        same("a strict create with the field", &seen[0].2.failure(), &seen[1].2.failure());
        assert_eq!((seen[0].1.code, seen[0].1.reason()), (400, "BadRequest"));
        assert_eq!((seen[0].2.code, seen[0].2.reason()), (400, "BadRequest"));
    });
}

/// The pre-pull's pod: created (201, the fields the executor judges), created again (409
/// AlreadyExists), deleted with a precondition that does not hold (409 Conflict: uid or
/// resourceVersion), with the one that does (200), and once more (404).
#[test]
fn a_pod_is_created_and_deleted_with_preconditions_alike() {
    let p = Pair::new("conf-pod");
    let ns = p.ns.clone();
    let servers = p.servers();
    let [sim_kube, real_kube] = p.kubes();
    let d = p.sim.get(&rook_sim::resources::DEPLOYMENTS, &ns, "rook-ceph-mgr-a").unwrap();
    let tpl = prepull::Template::of_deployment(&d);
    if let Some(sa) = &tpl.service_account {
        p.real_service_account(sa);
    }
    let pod = prepull::manifest(&ns, "node-00", "quay.io/ceph/ceph:v20.2.5", &tpl, Duration::from_secs(60));
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    p.rt.block_on(async {
        let mut seen: Vec<Vec<Value>> = Vec::new();
        for (s, kube) in servers.iter().zip([&sim_kube, &real_kube]) {
            let c = s.send(write::create_request(&pods_path(&ns), &pod, false).unwrap()).await;
            assert_eq!(c.code, 201, "{}: {c:?}", s.name);
            let uid = c.body["metadata"]["uid"].as_str().unwrap().to_string();
            let judged = json!({"labels": c.body["metadata"]["labels"], "node": c.body["spec"]["nodeName"],
                "image": c.body["spec"]["containers"][0]["image"], "deletionTimestamp": c.body["metadata"]["deletionTimestamp"],
                "generation": c.body["metadata"]["generation"]});
            let again = s.send(write::create_request(&pods_path(&ns), &pod, false).unwrap()).await;
            let not_uid = s.send(write::delete_pod_request(&ns, &name, Some("00000000-0000-0000-0000-000000000000"), false).unwrap()).await;
            let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}});
            let not_rv = s.send(raw("DELETE", &format!("{}/{name}", pods_path(&ns)), "application/json", &body)).await;
            let gone = s.send(write::delete_pod_request(&ns, &name, Some(&uid), false).unwrap()).await;
            assert_eq!(gone.code, 200, "{}: {gone:?}", s.name);
            assert_eq!((&gone.body["kind"], &gone.body["metadata"]["uid"]), (&json!("Pod"), &json!(uid)), "{}", s.name);
            let missing = s.send(write::delete_pod_request(&ns, &name, Some(&uid), false).unwrap()).await;
            let e = write::delete_pod_value(kube, &ns, &name, None, false).await.expect_err("gone");
            assert_eq!(e.api_code(), Some(404), "{}", s.name);
            // uids and resourceVersions are each server's own
            let norm = |a: &Answer| -> Value {
                let t = a.failure().to_string().replace(&uid, "UID");
                serde_json::from_str(&mask_record(&t)).unwrap()
            };
            seen.push(vec![judged, norm(&again), norm(&not_uid), norm(&not_rv), norm(&missing)]);
        }
        for (i, what) in ["the created pod", "a second create", "a uid precondition that does not hold",
            "a resourceVersion precondition that does not hold", "a delete of a missing pod"].iter().enumerate() {
            same(what, &seen[0][i], &seen[1][i]);
        }
        assert_eq!(seen[0][1]["reason"], "AlreadyExists");
        assert_eq!((&seen[0][2]["code"], &seen[0][2]["reason"]), (&json!(409), &json!("Conflict")));
        assert_eq!((&seen[0][3]["code"], &seen[0][3]["reason"]), (&json!(409), &json!("Conflict")));
        assert_eq!(seen[0][4]["code"], 404);
    });
}

/// Paths that lead nowhere, and writes of a kind the server does not take.
#[test]
fn unknown_resources_and_paths_and_a_strategic_patch_of_a_custom_resource() {
    let p = Pair::new("conf-unknown");
    let ns = p.ns.clone();
    let servers = p.servers();
    p.rt.block_on(async {
        for path in [
            format!("/apis/apps/v1/namespaces/{ns}/nothings"),
            format!("/apis/apps/v1/namespaces/{ns}/nothings/x"),
            format!("/apis/apps/v9/namespaces/{ns}/deployments"),
            format!("/api/v1/namespaces/{ns}/nothings"),
            // a group nobody serves, a resource no CRD of the group defines, no API at all
            format!("/apis/nothing.example.com/v1/namespaces/{ns}/things"),
            format!("/apis/ceph.rook.io/v1/namespaces/{ns}/nothings"),
            "/nothing".to_string(),
        ] {
            let (a, b) = (servers[0].send(get(&path)).await, servers[1].send(get(&path)).await);
            same(
                &format!("GET {path}"),
                &json!([a.code, a.content_type, a.body]),
                &json!([b.code, b.content_type, b.body]),
            );
            assert_eq!(a.code, 404);
        }
        // a strategic merge patch of a custom resource, and a body of no patch type
        let patch = json!({"metadata": {"labels": {"a": "b"}}});
        for (ct, code) in [("application/strategic-merge-patch+json", 415), ("text/plain", 415)] {
            let path = format!("{}/{ns}?fieldManager=kubectl-ceph-image", cluster_path(&ns));
            let (a, b) = (
                servers[0].send(raw("PATCH", &path, ct, &patch)).await,
                servers[1].send(raw("PATCH", &path, ct, &patch)).await,
            );
            same(&format!("PATCH {ct}"), &a.failure(), &b.failure());
            assert_eq!((a.code, a.reason()), (code, "UnsupportedMediaType"));
        }
        let strategic = write::patch_request(&cluster_path(&ns), &ns, &patch, true, false).unwrap();
        assert_eq!(
            servers[1].send(strategic).await.code,
            415,
            "the plugin's strategic patch builder, on a CephCluster"
        );
        // a dryRun value the server does not know (never the plugin's): 422 Invalid
        for (method, path) in [
            ("PATCH", format!("{}/{ns}?dryRun=Bogus", cluster_path(&ns))),
            ("DELETE", format!("{}/nope?dryRun=Bogus", pods_path(&ns))),
        ] {
            let req = || {
                http::Request::builder()
                    .method(method)
                    .uri(&path)
                    .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
                    .body(b"{}".to_vec())
                    .unwrap()
            };
            let req_empty = || http::Request::builder().method(method).uri(&path).body(Vec::new()).unwrap();
            let (a, b) = if method == "PATCH" {
                (servers[0].send(req()).await, servers[1].send(req()).await)
            } else {
                (servers[0].send(req_empty()).await, servers[1].send(req_empty()).await)
            };
            same(&format!("{method} {path}"), &a.failure(), &b.failure());
            assert_eq!((a.code, a.reason()), (422, "Invalid"));
        }
    });
}
