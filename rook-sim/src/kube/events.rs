//! What the rollouts did, as tests and `Sim::pod_events` read it: every pod the Deployment
//! and ReplicaSet controllers created, deleted or saw turn Ready, in one sequence
//! (`store::next_seq`), and how many times each Deployment's pods were replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::server::store::next_seq;

/// What happened to a pod of a Deployment, as the Deployment and ReplicaSet controllers
/// and the kubelet saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodEventKind {
    /// The ReplicaSet controller created it (Pending).
    Created,
    /// The ReplicaSet controller deleted it.
    Deleted,
    /// Its kubelet reported it Running and Ready.
    Ready,
}

/// One entry of the pod event log ([`Replacements::pod_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    /// From [`crate::server::store::next_seq`]: orders events across the whole process.
    pub seq: u64,
    pub deployment: String,
    /// The pod's ReplicaSet, `<deployment>-<template hash>`.
    pub replica_set: String,
    pub pod: String,
    pub kind: PodEventKind,
}

/// The Deployment controller's memory: template-change rollouts (how many per Deployment,
/// in which order they started), each Deployment's new ReplicaSet, the pod event log, and
/// the holds tests put on scheduling ([`hold`]).
#[derive(Default)]
pub struct Replacements {
    inner: Mutex<ReplacementLog>,
}

#[derive(Default)]
pub(super) struct ReplacementLog {
    pub(super) counts: BTreeMap<String, BTreeMap<String, u32>>,
    /// (seq, namespace, Deployment), in the order the rollouts started.
    pub(super) log: Vec<(u64, String, String)>,
    /// (namespace, Deployment) -> the ReplicaSet its last template change made.
    pub(super) current: BTreeMap<(String, String), String>,
    /// (namespace, event), in sequence order.
    pub(super) pods: Vec<(String, PodEvent)>,
    /// (namespace, Deployment) -> how many pods of its new ReplicaSet may be scheduled.
    pub(super) holds: BTreeMap<(String, String), usize>,
    /// Pods created while held, not scheduled yet: (namespace, pod).
    pub(super) unscheduled: BTreeSet<(String, String)>,
}

pub(super) fn key(ns: &str, deployment: &str) -> (String, String) {
    (ns.to_string(), deployment.to_string())
}

impl Replacements {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, ReplacementLog> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A template-change rollout of `deployment` in `ns` starts now.
    pub fn record(&self, ns: &str, deployment: &str) {
        let mut r = self.lock();
        // taken under the lock: the log stays in sequence order
        let seq = next_seq();
        *r.counts.entry(ns.to_string()).or_default().entry(deployment.to_string()).or_default() += 1;
        r.log.push((seq, ns.to_string(), deployment.to_string()));
    }

    /// Rollouts per Deployment of `ns`.
    pub fn counts(&self, ns: &str) -> BTreeMap<String, u32> {
        self.lock().counts.get(ns).cloned().unwrap_or_default()
    }

    /// The rollouts of `ns` as (sequence number, Deployment), in the order they started.
    pub fn log(&self, ns: &str) -> Vec<(u64, String)> {
        self.lock().log.iter().filter(|(_, n, _)| n == ns).map(|(s, _, d)| (*s, d.clone())).collect()
    }

    /// Forget the counts, the rollout log and the pod event log (sequence numbers keep
    /// growing; what the controller knows of each Deployment and the holds stay).
    pub fn reset(&self) {
        let mut r = self.lock();
        r.counts.clear();
        r.log.clear();
        r.pods.clear();
    }

    pub(super) fn pod_event(&self, ns: &str, deployment: &str, replica_set: &str, pod: &str, kind: PodEventKind) {
        let mut r = self.lock();
        let seq = next_seq();
        let e = PodEvent {
            seq,
            deployment: deployment.to_string(),
            replica_set: replica_set.to_string(),
            pod: pod.to_string(),
            kind,
        };
        r.pods.push((ns.to_string(), e));
    }

    /// The pod events of `ns` (of every Deployment), in the order they happened.
    pub fn pod_events(&self, ns: &str) -> Vec<PodEvent> {
        self.lock().pods.iter().filter(|(n, _)| n == ns).map(|(_, e)| e.clone()).collect()
    }

    pub(super) fn current(&self, ns: &str, deployment: &str) -> Option<String> {
        self.lock().current.get(&key(ns, deployment)).cloned()
    }

    pub(super) fn set_current(&self, ns: &str, deployment: &str, rs: &str) {
        self.lock().current.insert(key(ns, deployment), rs.to_string());
    }

    pub(super) fn hold_of(&self, ns: &str, deployment: &str) -> Option<usize> {
        self.lock().holds.get(&key(ns, deployment)).copied()
    }
}
