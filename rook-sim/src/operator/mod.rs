//! A simulated Rook operator (FACTS §2, §4, §5). On a CephCluster spec change, or when
//! the CephCluster-level do-not-reconcile label is added or removed, it regenerates every
//! daemon's Deployment in Rook's order and replaces the pods whose template changed.
//! It honours `ceph.rook.io/do-not-reconcile` per type exactly as Rook does, including the
//! types that ignore it, and `imageOverrides` when the CRD keeps that field. Removing a
//! Deployment's label triggers nothing, as in Rook.
//!
//! This file is the operator's state, plain data `SimState` holds (its config, the daemons
//! it manages, its Rook version per namespace, the reconcile requests and their count);
//! what it does lives above `SimState`: the reconcile (reconcile.rs), Rook's health checker
//! (checker.rs). rook.rs (what Rook writes) and health.rs (the health's state) are data too.

pub mod checker;
pub mod health;
pub mod reconcile;
pub mod rook;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::operator::rook::Managed;
use crate::topology::{self, DNR_LABEL};

#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Pause after each daemon (or OSD batch) is replaced, as Rook waits for each rollout.
    pub daemon_delay: Duration,
    /// How long a replaced pod stays Pending before it is Running and Ready.
    pub ready_delay: Duration,
    /// OSDs updated at once (Rook: `osdMaxUpdatesInParallel`, default 20).
    pub osd_batch: usize,
    /// How long `status.ceph.health` stays `HEALTH_WARN` after the last restarted daemon
    /// pod turned Ready, before it returns to `HEALTH_OK`.
    pub health_settle: Duration,
    /// How much longer a pod stays Pending when its node has not pulled one of its images
    /// yet (zero: pulls are instant, but still recorded in the node's cache).
    pub pull_delay: Duration,
    /// How long the operator waits for a replaced daemon's pods to turn Ready before it
    /// goes on with the next daemon (Rook gives up waiting on a Deployment after a while
    /// and carries on, as its OSD updater does).
    pub ready_timeout: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            daemon_delay: Duration::from_millis(2),
            ready_delay: Duration::from_millis(2),
            osd_batch: 20,
            health_settle: Duration::from_millis(5),
            pull_delay: Duration::ZERO,
            ready_timeout: Duration::from_secs(2),
        }
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
    daemons: Mutex<BTreeMap<(String, String), Managed>>,
    /// The `rook-version` the operator writes, per namespace.
    rook_versions: Mutex<BTreeMap<String, String>>,
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
            rook_versions: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> &OperatorConfig {
        &self.cfg
    }

    pub fn rook_image(&self) -> &str {
        &self.rook_image
    }

    pub fn register(&self, ns: &str, d: Managed) {
        self.daemons.lock().expect("lock").insert((ns.to_string(), d.deployment_name()), d);
    }

    /// The Rook version that runs a namespace's cluster (default: the generated one's).
    pub fn set_rook_version(&self, ns: &str, version: &str) {
        self.rook_versions.lock().expect("lock").insert(ns.to_string(), version.to_string());
    }

    pub fn rook_version(&self, ns: &str) -> String {
        self.rook_versions.lock().expect("lock").get(ns).cloned().unwrap_or_else(|| topology::ROOK_VERSION.to_string())
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

    /// The daemon a Deployment of the cluster runs, if the operator manages it.
    pub fn daemon(&self, ns: &str, deployment: &str) -> Option<Managed> {
        self.daemons.lock().expect("lock").get(&(ns.to_string(), deployment.to_string())).cloned()
    }

    pub fn ready_delay(&self) -> Duration {
        self.cfg.ready_delay
    }
}

/// Whether a Deployment's rollout is complete, as `kubectl rollout status` decides it
/// (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go): the controller has seen the
/// latest generation, and every replica is updated, ready and the only one.
pub fn rollout_complete(dep: &Value) -> bool {
    let n = |p: &str| dep.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let replicas = dep.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    n("/status/observedGeneration") >= n("/metadata/generation")
        && n("/status/updatedReplicas") >= replicas
        && n("/status/readyReplicas") >= replicas
        && n("/status/replicas") <= n("/status/updatedReplicas")
}
