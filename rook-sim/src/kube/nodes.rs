//! The simulated nodes' state, plain data: which nodes exist, the images each has pulled
//! (and the log of pulls), and the faults tests set on them - pulls that fail, pods that
//! never turn Ready, nodes down, stale images. The kubelets (kubelet.rs) act on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::resources::PODS;
use crate::server::store::Store;

/// The kubelets' state: the nodes, what each pulled, and the faults set on pods.
#[derive(Default)]
pub struct Kubelet {
    nodes: Mutex<BTreeSet<String>>,
    pulled: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// (node, image) pulls that fail.
    failing: Mutex<BTreeSet<(String, String)>>,
    /// (namespace, Deployment) whose new pods never turn Ready.
    never_ready: Mutex<BTreeSet<(String, String)>>,
    /// Nodes that are NotReady: their kubelet does not report, new pods stay Pending.
    down: Mutex<BTreeSet<String>>,
    /// (node, image) -> the Ceph version its cached copy really runs: a tag re-pushed with
    /// a new build while the node keeps the old one (`imagePullPolicy: IfNotPresent`).
    stale: Mutex<BTreeMap<(String, String), String>>,
    /// Pulls that finished: (sequence number, node, image), in order.
    pull_log: Mutex<Vec<(u64, String, String)>>,
    /// On a real server: the pods being started at once (`REMOTE_STARTS`).
    starts: std::sync::OnceLock<Arc<tokio::sync::Semaphore>>,
}

/// On a real server, how many pods the kubelets start at once. Each remote call blocks its
/// task's thread (`block_in_place`, which hands the worker's core to a new thread of the
/// runtime's blocking pool, 512 at most): 2000 pods bound at once took every thread of the
/// pool, and no worker was left to drive their requests' I/O (the simulation hung, issue 20).
pub const REMOTE_STARTS: usize = 64;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every image a pod's containers (init ones first) run, without repeats.
pub fn images_of(pod: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in ["initContainers", "containers"] {
        for c in pod["spec"][key].as_array().into_iter().flatten() {
            if let Some(i) = c["image"].as_str().filter(|i| !i.is_empty())
                && !out.iter().any(|o| o == i)
            {
                out.push(i.to_string());
            }
        }
    }
    out
}

impl Kubelet {
    /// A node exists (pods can run on it).
    pub fn add_node(&self, node: &str) {
        lock(&self.nodes).insert(node.to_string());
    }

    pub fn nodes(&self) -> BTreeSet<String> {
        lock(&self.nodes).clone()
    }

    pub fn has_node(&self, node: &str) -> bool {
        lock(&self.nodes).contains(node)
    }

    /// The node has `image` (pulled, or there from the start).
    pub fn mark_pulled(&self, node: &str, image: &str) {
        lock(&self.pulled).entry(node.to_string()).or_default().insert(image.to_string());
    }

    pub fn pulled(&self, node: &str) -> BTreeSet<String> {
        lock(&self.pulled).get(node).cloned().unwrap_or_default()
    }

    /// A pod's pull of `image` on `node` finished: the node has it, and the pull log says
    /// when, numbered in the sequence rollouts are numbered in (`store::next_seq`).
    pub fn finish_pull(&self, node: &str, image: &str) {
        let mut log = lock(&self.pull_log);
        log.push((crate::server::store::next_seq(), node.to_string(), image.to_string()));
        self.mark_pulled(node, image);
    }

    /// Every pull a pod made (not the images a node had from the start): (sequence number,
    /// node, image), in the order they finished.
    pub fn pull_log(&self) -> Vec<(u64, String, String)> {
        lock(&self.pull_log).clone()
    }

    /// Seed the nodes and their image caches from the pods in the store: every node a pod
    /// is bound to exists, and has the images of its Running pods.
    pub fn seed(&self, store: &Store) {
        for (_, s) in store.iter(&PODS, None, None) {
            let Some(node) = s.node.as_deref().filter(|n| !n.is_empty()) else { continue };
            self.add_node(node);
            let p: Value = serde_json::from_slice(&s.bytes).expect("json");
            if p.pointer("/status/phase").and_then(Value::as_str) == Some("Running") {
                for i in images_of(&p) {
                    self.mark_pulled(node, &i);
                }
            }
        }
    }

    pub fn fail_pulls(&self, node: &str, image: &str) {
        lock(&self.failing).insert((node.to_string(), image.to_string()));
    }

    /// `image` on `node` runs Ceph `version` (`20.2.4-0`), whatever its tag says.
    pub fn set_stale(&self, node: &str, image: &str, version: &str) {
        lock(&self.stale).insert((node.to_string(), image.to_string()), version.to_string());
    }

    /// What `image` on `node` really runs, where it is a stale copy.
    pub fn stale_version(&self, node: &str, image: &str) -> Option<String> {
        lock(&self.stale).get(&(node.to_string(), image.to_string())).cloned()
    }

    pub fn clear_pull_failures(&self) {
        lock(&self.failing).clear();
    }

    /// Those of `images` whose pull on `node` is marked to fail.
    pub fn failing(&self, node: &str, images: &[String]) -> Vec<String> {
        let f = lock(&self.failing);
        images.iter().filter(|i| f.contains(&(node.to_string(), (*i).clone()))).cloned().collect()
    }

    pub fn set_never_ready(&self, ns: &str, deployment: &str) {
        lock(&self.never_ready).insert((ns.to_string(), deployment.to_string()));
    }

    pub fn clear_never_ready(&self) {
        lock(&self.never_ready).clear();
    }

    /// (namespace, Deployment) pairs whose pods never turn Ready.
    pub fn never_ready_list(&self) -> Vec<(String, String)> {
        lock(&self.never_ready).iter().cloned().collect()
    }

    /// Mark `node` NotReady (`down`) or Ready again.
    pub fn set_down(&self, node: &str, down: bool) {
        if down {
            lock(&self.down).insert(node.to_string());
        } else {
            lock(&self.down).remove(node);
        }
    }

    /// On a real server: the permits of the pods started at once (`REMOTE_STARTS`).
    pub fn starts(&self) -> Arc<tokio::sync::Semaphore> {
        self.starts.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(REMOTE_STARTS))).clone()
    }

    pub fn is_down(&self, node: &str) -> bool {
        lock(&self.down).contains(node)
    }

    pub fn is_never_ready(&self, ns: &str, deployment: Option<&str>) -> bool {
        deployment.is_some_and(|d| lock(&self.never_ready).contains(&(ns.to_string(), d.to_string())))
    }
}
