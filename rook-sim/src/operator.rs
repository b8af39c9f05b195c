//! A simulated Rook operator (FACTS §2, §4, §5). On a CephCluster spec change, or when
//! the CephCluster-level do-not-reconcile label is added or removed, it regenerates every
//! daemon's Deployment in Rook's order and replaces the pods whose template changed.
//! It honours `ceph.rook.io/do-not-reconcile` per type exactly as Rook does, including the
//! types that ignore it, and `imageOverrides` when the CRD keeps that field. Removing a
//! Deployment's label triggers nothing, as in Rook.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::SimState;
use super::resources::{CEPHCLUSTERS, DEPLOYMENTS, EVENTS, PODS};
use super::store::{Store, now_rfc3339};
use super::topology::{self, DNR_LABEL, Daemon, TYPES};

#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Pause after each daemon (or OSD batch) is replaced, as Rook waits for each rollout.
    pub daemon_delay: Duration,
    /// How long a replaced pod stays Pending before it is Running and Ready.
    pub ready_delay: Duration,
    /// OSDs updated at once (Rook: `osdMaxUpdatesInParallel`, default 20).
    pub osd_batch: usize,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig { daemon_delay: Duration::from_millis(2), ready_delay: Duration::from_millis(2), osd_batch: 20 }
    }
}

pub struct Operator {
    cfg: OperatorConfig,
    rook_image: String,
    notify: Notify,
    requested: AtomicU64,
    done: watch::Sender<u64>,
    seq: AtomicU64,
    /// Every daemon the operator manages, by (namespace, Deployment name).
    daemons: Mutex<BTreeMap<(String, String), Daemon>>,
}

fn has_dnr(v: &Value) -> bool {
    v.pointer("/metadata/labels").and_then(|l| l.get(DNR_LABEL)).is_some()
}

impl Operator {
    pub fn new(cfg: OperatorConfig, rook_image: String) -> Operator {
        let (done, _) = watch::channel(0);
        Operator {
            cfg,
            rook_image,
            notify: Notify::new(),
            requested: AtomicU64::new(0),
            done,
            seq: AtomicU64::new(1),
            daemons: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn rook_image(&self) -> &str {
        &self.rook_image
    }

    pub fn register(&self, ns: &str, d: Daemon) {
        self.daemons.lock().expect("lock").insert((ns.to_string(), d.deployment_name()), d);
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn pod_ip(seq: u64) -> String {
        format!("10.244.{}.{}", (seq / 250) % 250, seq % 250 + 2)
    }

    /// Ask for a reconcile (what a CephCluster watch event does in Rook).
    pub fn trigger(&self) {
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// What Rook's CephCluster watch reacts to (FACTS §2): a spec change (generation), or
    /// the CephCluster-level do-not-reconcile label added or removed.
    pub fn cluster_written(&self, old: &Value, new: &Value) {
        if new["metadata"]["generation"] != old["metadata"]["generation"] || has_dnr(new) != has_dnr(old) {
            self.trigger();
        }
    }

    /// Wait until every reconcile asked for so far has finished.
    pub async fn settle(&self) {
        let target = self.requested.load(Ordering::SeqCst);
        let mut rx = self.done.subscribe();
        while *rx.borrow_and_update() < target {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub async fn run(&self, state: &SimState) {
        loop {
            self.notify.notified().await;
            let target = self.requested.load(Ordering::SeqCst);
            self.reconcile(state).await;
            self.done.send_replace(target);
        }
    }

    /// The CephCluster Rook reconciles in each namespace: the oldest one.
    fn clusters(store: &Store) -> Vec<Value> {
        let mut by_ns: BTreeMap<String, Value> = BTreeMap::new();
        for ((ns, _), s) in store.iter(&CEPHCLUSTERS, None, None) {
            let v: Value = serde_json::from_slice(&s.bytes).expect("json");
            let older = |a: &Value, b: &Value| {
                a["metadata"]["creationTimestamp"].as_str() < b["metadata"]["creationTimestamp"].as_str()
            };
            match by_ns.get(ns) {
                Some(cur) if !older(&v, cur) => {}
                _ => {
                    by_ns.insert(ns.clone(), v);
                }
            }
        }
        by_ns.into_values().collect()
    }

    async fn reconcile(&self, state: &SimState) {
        let clusters = Self::clusters(&state.store());
        for cluster in clusters {
            self.reconcile_cluster(state, &cluster).await;
        }
    }

    async fn reconcile_cluster(&self, state: &SimState, cluster: &Value) {
        let ns = cluster["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let uid = cluster["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let base = cluster.pointer("/spec/cephVersion/image").and_then(Value::as_str).unwrap_or_default().to_string();
        let overrides =
            cluster.pointer("/spec/cephVersion/imageOverrides").and_then(Value::as_object).cloned().unwrap_or_default();
        let cluster_held = has_dnr(cluster);
        if cluster_held {
            self.event(
                state,
                &ns,
                cluster,
                "ReconcileSkipped",
                "CephCluster has the ceph.rook.io/do-not-reconcile label: mon, mgr and osd reconcile skipped",
            );
        }
        let daemons: Vec<Daemon> =
            self.daemons.lock().expect("lock").iter().filter(|((n, _), _)| *n == ns).map(|(_, d)| d.clone()).collect();
        for t in &TYPES {
            if cluster_held && matches!(t.key, "mon" | "mgr" | "osd") {
                continue;
            }
            if t.key == "crashcollector" {
                // crash and exporter are rebuilt once status.version matches the spec image
                self.update_status(state, &ns, &base);
            }
            let desired = overrides.get(t.key).and_then(Value::as_str).unwrap_or(&base).to_string();
            let of_type: Vec<(Daemon, Value)> = {
                let store = state.store();
                daemons
                    .iter()
                    .filter(|d| d.t == t)
                    .filter_map(|d| store.get_value(&DEPLOYMENTS, &ns, &d.deployment_name()).map(|v| (d.clone(), v)))
                    .collect()
            };
            let held = held_deployments(t.key, &of_type);
            let todo: Vec<(Daemon, Value)> =
                of_type.into_iter().filter(|(d, _)| !held.contains(&d.deployment_name())).collect();
            let batch = if t.key == "osd" { self.cfg.osd_batch.max(1) } else { 1 };
            for chunk in todo.chunks(batch) {
                let mut started = Vec::new();
                for (d, current) in chunk {
                    let generated = d.deployment(&ns, &desired, &self.rook_image, &uid);
                    if let Some(pods) = self.apply(state, &ns, d, current, &generated) {
                        started.push((d.clone(), pods));
                    }
                }
                if !started.is_empty() {
                    tokio::time::sleep(self.cfg.ready_delay).await;
                    for (d, pods) in &started {
                        self.mark_ready(state, &ns, d, pods);
                    }
                    tokio::time::sleep(self.cfg.daemon_delay).await;
                }
            }
        }
        self.update_status(state, &ns, &base);
    }

    /// Write the generated Deployment where it differs; when its pod template changed,
    /// replace its pods. Returns the seeds of the new (still Pending) pods.
    fn apply(&self, state: &SimState, ns: &str, d: &Daemon, current: &Value, generated: &Value) -> Option<Vec<u64>> {
        let restart = current["spec"]["template"] != generated["spec"]["template"];
        let same_meta = current["metadata"]["labels"] == generated["metadata"]["labels"]
            && current["metadata"]["annotations"] == generated["metadata"]["annotations"];
        if !restart && same_meta && current["spec"] == generated["spec"] {
            return None;
        }
        let mut store = state.store();
        let mut dep = store.get_value(&DEPLOYMENTS, ns, &d.deployment_name())?;
        dep["metadata"]["labels"] = generated["metadata"]["labels"].clone();
        dep["metadata"]["annotations"] = generated["metadata"]["annotations"].clone();
        dep["spec"] = generated["spec"].clone();
        if let Some(m) = dep["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        store.update(&DEPLOYMENTS, ns, &d.deployment_name(), dep, false).ok()?;
        if !restart {
            return None;
        }
        Some(super::rollout::start(&mut store, self, ns, d))
    }

    fn mark_ready(&self, state: &SimState, ns: &str, d: &Daemon, seeds: &[u64]) {
        super::rollout::finish(&mut state.store(), ns, d, seeds);
    }

    /// The daemon a Deployment of the cluster runs, if the operator manages it.
    pub fn daemon(&self, ns: &str, deployment: &str) -> Option<Daemon> {
        self.daemons.lock().expect("lock").get(&(ns.to_string(), deployment.to_string())).cloned()
    }

    pub fn ready_delay(&self) -> Duration {
        self.cfg.ready_delay
    }

    /// `status.version` from the spec image, `status.ceph.versions` counted from the
    /// images the Ready pods run, as `ceph versions` would report them.
    pub fn update_status(&self, state: &SimState, ns: &str, base: &str) {
        let mut store = state.store();
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (_, s) in store.iter(&PODS, Some(ns), None) {
            let Some(t) = s.labels.get("app").and_then(|a| topology::type_of_app(a)) else { continue };
            let Some(key) = t.versions_key else { continue };
            let p: Value = serde_json::from_slice(&s.bytes).expect("json");
            if p.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
                continue;
            }
            let image = p.pointer("/spec/containers/0/image").and_then(Value::as_str).unwrap_or_default();
            let line = topology::ceph_version_line(&topology::ceph_version_of(image).0);
            *counts.entry(key.to_string()).or_default().entry(line.clone()).or_default() += 1;
            *counts.entry("overall".to_string()).or_default().entry(line).or_default() += 1;
        }
        let Some(cluster) = Self::clusters(&store).into_iter().find(|c| c["metadata"]["namespace"] == ns) else {
            return;
        };
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let mut c = cluster;
        let (version, _) = topology::ceph_version_of(base);
        c["status"]["version"] = json!({"image": base, "version": version});
        c["status"]["ceph"]["versions"] = serde_json::to_value(&counts).expect("json");
        c["status"]["observedGeneration"] = c["metadata"]["generation"].clone();
        c["status"]["phase"] = "Ready".into();
        c["status"]["state"] = "Created".into();
        c["status"]["message"] = "Cluster created successfully".into();
        c["status"]["ceph"]["health"] = "HEALTH_OK".into();
        c["status"]["ceph"]["lastChecked"] = now_rfc3339().into();
        if let Some(m) = c["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let _ = store.update(&CEPHCLUSTERS, ns, &name, c, false);
    }

    fn event(&self, state: &SimState, ns: &str, cluster: &Value, reason: &str, message: &str) {
        let seq = self.next_seq();
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
        let ev = json!({
            "metadata": {"name": format!("{name}.{seq:x}"), "namespace": ns},
            "involvedObject": {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "name": name, "namespace": ns, "uid": cluster["metadata"]["uid"]},
            "reason": reason, "message": message, "type": "Normal", "count": 1,
            "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(),
            "source": {"component": "rook-ceph-operator"}, "reportingComponent": "rook-ceph-operator",
        });
        let _ = state.store().create(&EVENTS, ns, ev, false);
    }
}

/// Which Deployments of a type Rook leaves alone (FACTS §2).
fn held_deployments(type_key: &str, deps: &[(Daemon, Value)]) -> BTreeSet<String> {
    let labelled = |v: &Value| has_dnr(v);
    match type_key {
        "mon" | "mgr" | "osd" | "nfs" => {
            deps.iter().filter(|(_, v)| labelled(v)).map(|(d, _)| d.deployment_name()).collect()
        }
        // one labelled RGW holds every RGW of its object store
        "rgw" => {
            let stores: BTreeSet<String> =
                deps.iter().filter(|(_, v)| labelled(v)).map(|(d, _)| d.id_value()).collect();
            deps.iter().filter(|(d, _)| stores.contains(&d.id_value())).map(|(d, _)| d.deployment_name()).collect()
        }
        // any labelled rbd-mirror holds them all
        "rbdmirror" => {
            if deps.iter().any(|(_, v)| labelled(v)) {
                deps.iter().map(|(d, _)| d.deployment_name()).collect()
            } else {
                BTreeSet::new()
            }
        }
        // mds: Rook compares the bare letter with `<fs>-a`, so the label never matches;
        // crash, exporter, cephfs-mirror do not honour it at all.
        _ => BTreeSet::new(),
    }
}
