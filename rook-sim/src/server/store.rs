//! The object store: every object as compact JSON bytes (so a LIST of 20000 objects is a
//! concatenation, not a re-serialisation) plus the labels and fields selectors need.
//! One global resourceVersion counter, a bounded event history for watches, and the
//! apiserver's write rules (preconditions, generation, uid, timestamps).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::resources::Kind;
use crate::server::status::ApiError;

pub type Key = (String, String); // (namespace, name); namespace "" for cluster-scoped kinds

#[derive(Debug, Clone)]
pub struct Stored {
    pub bytes: Bytes,
    pub labels: BTreeMap<String, String>,
    pub node: Option<String>,
    pub rv: u64,
}

#[derive(Debug)]
pub struct WatchEvent {
    pub plural: &'static str,
    pub namespace: String,
    pub name: String,
    pub etype: &'static str,
    pub labels: BTreeMap<String, String>,
    pub node: Option<String>,
    pub bytes: Bytes,
    pub rv: u64,
}

const HISTORY: usize = 100_000;

pub struct Store {
    rv: u64,
    /// Continue tokens and watches from before this revision answer 410 Expired.
    compacted: u64,
    objects: HashMap<&'static str, BTreeMap<Key, Stored>>,
    history: VecDeque<Arc<WatchEvent>>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    uid_counter: u64,
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

fn node_of(v: &Value) -> Option<String> {
    v.pointer("/spec/nodeName").and_then(Value::as_str).map(str::to_string)
}

/// Everything but metadata and status: a change here bumps `metadata.generation`.
fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Store {
        let (tx, _) = broadcast::channel(200_000);
        Store { rv: 1, compacted: 0, objects: HashMap::new(), history: VecDeque::new(), tx, uid_counter: 0 }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Forget history up to now, as etcd compaction does: old continue tokens and watch
    /// resourceVersions become 410 Expired.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// The resourceVersion the history starts after: a watch from an older one is 410
    /// Expired (the number the message gives, as the watch cache's `oldest - 1`).
    pub fn history_start(&self) -> u64 {
        let first = self.history.front().map_or(self.rv, |e| e.rv - 1);
        first.max(self.compacted)
    }

    /// Events after `rv`, or None when history no longer reaches back that far.
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<WatchEvent>>> {
        let oldest = self.history.front().map(|e| e.rv).unwrap_or(self.rv + 1);
        if rv < self.compacted || (rv + 1 < oldest && rv < self.rv) {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> Option<&Stored> {
        self.objects.get(kind.plural)?.get(&(ns.to_string(), name.to_string()))
    }

    pub fn get_value(&self, kind: &Kind, ns: &str, name: &str) -> Option<Value> {
        self.get(kind, ns, name).map(|s| serde_json::from_slice(&s.bytes).expect("stored JSON"))
    }

    /// Objects of a kind, in key order, optionally in one namespace and after a key.
    pub fn iter<'a>(
        &'a self,
        kind: &Kind,
        ns: Option<&'a str>,
        after: Option<&'a Key>,
    ) -> impl Iterator<Item = (&'a Key, &'a Stored)> + 'a {
        let map = self.objects.get(kind.plural);
        map.into_iter().flat_map(move |m| {
            let start = match after {
                Some(k) => std::ops::Bound::Excluded(k.clone()),
                None => std::ops::Bound::Unbounded,
            };
            m.range((start, std::ops::Bound::Unbounded)).filter(move |(k, _)| ns.is_none_or(|n| k.0 == n))
        })
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let h = fnv64(format!("{}-{}", self.uid_counter, now_rfc3339()).as_bytes());
        let c = self.uid_counter;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (h >> 32) as u32,
            (h >> 16) as u16,
            (h & 0xfff) as u16,
            (c & 0xfff) as u16,
            c ^ (h & 0xffff_ffff_ffff)
        )
    }

    fn emit(&mut self, plural: &'static str, key: &Key, etype: &'static str, s: &Stored) {
        let ev = Arc::new(WatchEvent {
            plural,
            namespace: key.0.clone(),
            name: key.1.clone(),
            etype,
            labels: s.labels.clone(),
            node: s.node.clone(),
            bytes: s.bytes.clone(),
            rv: s.rv,
        });
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(ev.clone());
        let _ = self.tx.send(ev);
    }

    fn store(&mut self, kind: &'static Kind, key: Key, v: &Value, etype: &'static str) {
        let s = Stored {
            bytes: Bytes::from(serde_json::to_vec(v).expect("serialisable")),
            labels: labels_of(v),
            node: node_of(v),
            rv: self.rv,
        };
        self.emit(kind.plural, &key, etype, &s);
        self.objects.entry(kind.plural).or_default().insert(key, s);
    }

    /// Create: fills uid, creationTimestamp, resourceVersion and generation.
    pub fn create(&mut self, kind: &'static Kind, ns: &str, obj: Value, dry_run: bool) -> Result<Value, ApiError> {
        self.create_keeping(kind, ns, obj, dry_run, false)
    }

    /// Seed the store with an object dumped from a cluster: its `uid`, `creationTimestamp`
    /// and `generation` are kept when present (owner references point at uids); the
    /// resourceVersion is this store's.
    pub fn load(&mut self, kind: &'static Kind, ns: &str, obj: Value) -> Result<Value, ApiError> {
        self.create_keeping(kind, ns, obj, false, true)
    }

    fn create_keeping(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
        keep: bool,
    ) -> Result<Value, ApiError> {
        let meta = obj
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        if meta.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
            match meta.get("generateName").and_then(Value::as_str) {
                Some(g) => {
                    let suffix = &self.next_uid()[..5];
                    meta.insert("name".into(), format!("{g}{suffix}").into());
                }
                None => {
                    return Err(ApiError::invalid(
                        kind,
                        "",
                        vec![("metadata.name".into(), "Required value: name or generateName is required".into())],
                    ));
                }
            }
        }
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        if kind.namespaced {
            meta.insert("namespace".into(), ns.into());
        } else {
            meta.remove("namespace");
        }
        let key = (if kind.namespaced { ns.to_string() } else { String::new() }, name.clone());
        if self.objects.get(kind.plural).is_some_and(|m| m.contains_key(&key)) {
            return Err(ApiError::already_exists(kind, &name));
        }
        let uid = self.next_uid();
        let meta = obj["metadata"].as_object_mut().expect("metadata");
        let has = |meta: &serde_json::Map<String, Value>, k: &str| keep && meta.get(k).is_some_and(|v| !v.is_null());
        if !has(meta, "uid") {
            meta.insert("uid".into(), uid.into());
        }
        if !has(meta, "creationTimestamp") {
            meta.insert("creationTimestamp".into(), now_rfc3339().into());
        }
        // Pods have a generation too (1 on create; pod strategy PrepareForCreate, v1.37).
        if kind.plural != "events" && kind.plural != "namespaces" && !has(meta, "generation") {
            meta.insert("generation".into(), 1.into());
        }
        obj["apiVersion"] = kind.api_version().into();
        obj["kind"] = kind.kind.into();
        if dry_run {
            return Ok(obj);
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = self.rv.to_string().into();
        self.store(kind, key, &obj, "ADDED");
        Ok(obj)
    }

    /// Replace an object with `new`: `metadata.resourceVersion`, when set, is a
    /// precondition; uid and creationTimestamp are kept; generation bumps when anything
    /// outside metadata and status changed. A write that changes nothing keeps the
    /// resourceVersion, as the apiserver does.
    pub fn update(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        mut new: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = (if kind.namespaced { ns.to_string() } else { String::new() }, name.to_string());
        let old_stored =
            self.objects.get(kind.plural).and_then(|m| m.get(&key)).ok_or_else(|| ApiError::not_found(kind, name))?;
        let old: Value = serde_json::from_slice(&old_stored.bytes).expect("stored JSON");
        let current_rv = old_stored.rv;
        let precondition = new.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty());
        if precondition.is_some_and(|rv| rv.parse::<u64>().ok() != Some(current_rv)) {
            return Err(ApiError::conflict(kind, name));
        }
        if new.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                new["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = serde_json::json!({});
        }
        for f in ["uid", "creationTimestamp", "name", "namespace", "generation"] {
            match old["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        new["apiVersion"] = kind.api_version().into();
        new["kind"] = kind.kind.into();
        if let Some(g) = old["metadata"].get("generation").and_then(Value::as_i64)
            && spec_part(&old) != spec_part(&new)
        {
            new["metadata"]["generation"] = (g + 1).into();
        }
        new["metadata"]["resourceVersion"] = current_rv.to_string().into();
        if new == old || dry_run {
            return Ok(new);
        }
        self.rv += 1;
        new["metadata"]["resourceVersion"] = self.rv.to_string().into();
        self.store(kind, key, &new, "MODIFIED");
        Ok(new)
    }

    pub fn delete(&mut self, kind: &'static Kind, ns: &str, name: &str, dry_run: bool) -> Result<Value, ApiError> {
        let key = (if kind.namespaced { ns.to_string() } else { String::new() }, name.to_string());
        let old = self.get_value(kind, &key.0, name).ok_or_else(|| ApiError::not_found(kind, name))?;
        if dry_run {
            return Ok(old);
        }
        self.objects.get_mut(kind.plural).and_then(|m| m.remove(&key));
        self.rv += 1;
        let mut gone = old.clone();
        gone["metadata"]["resourceVersion"] = self.rv.to_string().into();
        let s = Stored {
            bytes: Bytes::from(serde_json::to_vec(&gone).expect("json")),
            labels: labels_of(&gone),
            node: node_of(&gone),
            rv: self.rv,
        };
        self.emit(kind.plural, &key, "DELETED", &s);
        Ok(gone)
    }

    pub fn count(&self, kind: &Kind) -> usize {
        self.objects.get(kind.plural).map_or(0, BTreeMap::len)
    }
}

pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// One sequence for the events whose order tests compare: rollouts (`Replacements`), pod
/// events of the Deployment controller (`kube::events::PodEvent`) and finished image pulls
/// (`kube::nodes::Kubelet::pull_log`). One counter for the process, so an event numbered below
/// another happened before it, whichever simulation they belong to.
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The next number of [`SEQ`] (from 1).
pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS};
    use serde_json::json;

    #[test]
    fn generation_and_resource_version_follow_the_apiserver() {
        let mut s = Store::new();
        let c =
            s.create(&CEPHCLUSTERS, "rook-ceph", json!({"metadata": {"name": "c"}, "spec": {"a": 1}}), false).unwrap();
        assert_eq!(c["metadata"]["generation"], 1);
        let rv1 = c["metadata"]["resourceVersion"].as_str().unwrap().to_string();
        // label change: new resourceVersion, same generation
        let mut l = c.clone();
        l["metadata"]["labels"] = json!({"x": "y"});
        let l = s.update(&CEPHCLUSTERS, "rook-ceph", "c", l, false).unwrap();
        assert_eq!(l["metadata"]["generation"], 1);
        assert_ne!(l["metadata"]["resourceVersion"].as_str().unwrap(), rv1);
        // stale precondition
        let mut stale = l.clone();
        stale["metadata"]["resourceVersion"] = rv1.clone().into();
        assert_eq!(s.update(&CEPHCLUSTERS, "rook-ceph", "c", stale, false).unwrap_err().reason, "Conflict");
        // spec change bumps generation; dry run persists nothing
        let mut sp = l.clone();
        sp["spec"]["a"] = 2.into();
        let dry = s.update(&CEPHCLUSTERS, "rook-ceph", "c", sp.clone(), true).unwrap();
        assert_eq!(dry["metadata"]["generation"], 2);
        assert_eq!(s.get_value(&CEPHCLUSTERS, "rook-ceph", "c").unwrap()["spec"]["a"], 1);
        let done = s.update(&CEPHCLUSTERS, "rook-ceph", "c", sp, false).unwrap();
        assert_eq!(done["metadata"]["generation"], 2);
        // a no-op write keeps the resourceVersion
        let same = s.update(&CEPHCLUSTERS, "rook-ceph", "c", done.clone(), false).unwrap();
        assert_eq!(same["metadata"]["resourceVersion"], done["metadata"]["resourceVersion"]);
    }

    #[test]
    fn history_and_compaction() {
        let mut s = Store::new();
        let before = s.resource_version();
        s.create(&DEPLOYMENTS, "ns", json!({"metadata": {"name": "a"}}), false).unwrap();
        s.create(&DEPLOYMENTS, "ns", json!({"metadata": {"name": "b"}}), false).unwrap();
        assert_eq!(s.events_since(before).unwrap().len(), 2);
        s.compact();
        assert!(s.events_since(before).is_none());
        assert!(s.create(&DEPLOYMENTS, "ns", json!({"metadata": {"name": "a"}}), false).is_err());
    }
}
