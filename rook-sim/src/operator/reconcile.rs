//! The simulated Rook operator at work (FACTS §2, §4, §5): each reconcile regenerates the
//! daemons' Deployments in Rook's order and writes the CephCluster's status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Operator, has_dnr, rollout_complete};
use crate::SimState;
use crate::operator::rook::{self, Managed};
use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS, EVENTS, PODS};
use crate::server::store::now_rfc3339;
use crate::topology;

/// One reconcile of one cluster.
struct Run<'a> {
    ns: &'a str,
    uid: &'a str,
    base: &'a str,
    overrides: &'a serde_json::Map<String, Value>,
    daemons: &'a [Managed],
    rook_version: &'a str,
}

impl Operator {
    pub async fn run(&self, state: &Arc<SimState>) {
        loop {
            self.notify.notified().await;
            let target = self.requested.load(Ordering::SeqCst);
            self.reconcile(state).await;
            self.done.send_replace(target);
        }
    }

    async fn reconcile(&self, state: &Arc<SimState>) {
        let clusters = rook::clusters(state.list(&CEPHCLUSTERS, None));
        for cluster in clusters {
            self.reconcile_cluster(state, &cluster).await;
        }
    }

    async fn reconcile_cluster(&self, state: &Arc<SimState>, cluster: &Value) {
        let ns = cluster["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let uid = cluster["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let base = cluster.pointer("/spec/cephVersion/image").and_then(Value::as_str).unwrap_or_default().to_string();
        let overrides =
            cluster.pointer("/spec/cephVersion/imageOverrides").and_then(Value::as_object).cloned().unwrap_or_default();
        // An external cluster runs no mon, mgr or osd in Kubernetes; Rook reconciles none.
        let external = cluster.pointer("/spec/external/enable").and_then(Value::as_bool) == Some(true);
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
        let core = !(cluster_held || external);
        let daemons: Vec<Managed> =
            self.daemons.lock().expect("lock").iter().filter(|((n, _), _)| *n == ns).map(|(_, d)| d.clone()).collect();
        let rook_version = self.rook_version(&ns);
        // PR #18369 (v1.21): the object-store controller waits for the OSDs too.
        let rgw_after_osds = rook::rook_minor(&rook_version).is_some_and(|v| v >= (1, 21));
        let run = Run {
            ns: &ns,
            uid: &uid,
            base: &base,
            overrides: &overrides,
            daemons: &daemons,
            rook_version: &rook_version,
        };
        // The cluster controller: mons one at a time, then mgrs, then OSDs in batches.
        if core {
            self.roll_type(state, &run, "mon").await;
        }
        let cluster_controller = async {
            if core {
                self.roll_type(state, &run, "mgr").await;
                self.roll_type(state, &run, "osd").await;
            }
            if rgw_after_osds {
                self.roll_type(state, &run, "rgw").await;
            }
            // crash and exporter are rebuilt once status.version matches the spec image
            if !external {
                self.update_status(state, &ns, &base);
            }
            self.roll_type(state, &run, "crashcollector").await;
            self.roll_type(state, &run, "exporter").await;
        };
        // The other controllers wait only until every mon runs the new version (rook #18367):
        // they roll while the mgrs and OSDs still roll.
        let other_controllers = async {
            for key in ["mds", "rgw", "nfs", "rbdmirror", "cephfsmirror", "nvmeof"] {
                if key == "rgw" && rgw_after_osds {
                    continue;
                }
                self.roll_type(state, &run, key).await;
            }
        };
        futures::join!(cluster_controller, other_controllers);
        if !external {
            self.update_status(state, &ns, &base);
        }
    }

    /// Update every Deployment of one type Rook does not hold, one at a time (OSDs in
    /// batches), waiting for each one's rollout (Rook waits, and gives up after a while).
    async fn roll_type(&self, state: &Arc<SimState>, run: &Run<'_>, key: &str) {
        let desired = run.overrides.get(key).and_then(Value::as_str).unwrap_or(run.base).to_string();
        let of_type: Vec<&Managed> = run.daemons.iter().filter(|d| d.t().key == key).collect();
        if of_type.is_empty() {
            return;
        }
        let todo: Vec<(Managed, Value)> = {
            let skip = rook::SkipSets::of(&state.labels(&DEPLOYMENTS, run.ns));
            let names: Vec<String> = of_type.iter().map(|d| d.deployment_name()).collect();
            of_type
                .iter()
                .zip(state.get_many(&DEPLOYMENTS, run.ns, &names))
                .filter_map(|(d, v)| v.map(|v| ((*d).clone(), v)))
                .filter(|(d, v)| !skip.holds(d, v))
                .collect()
        };
        let batch = if key == "osd" { self.cfg.osd_batch.max(1) } else { 1 };
        for chunk in todo.chunks(batch) {
            let mut started = Vec::new();
            for (d, current) in chunk {
                let generated = d.deployment(run.ns, &desired, &self.rook_image, run.rook_version, run.uid);
                if self.apply(state, run.ns, d, current, &generated) {
                    started.push(d.deployment_name());
                }
            }
            if !started.is_empty() {
                // Rook waits for the rollout, and gives up after a while
                let _ = tokio::time::timeout(self.cfg.ready_timeout, rolled_out(state, run.ns, &started)).await;
                tokio::time::sleep(self.cfg.daemon_delay).await;
            }
        }
    }

    /// Write the generated Deployment where it differs. True when its pods roll (the pod
    /// template or the replicas changed): the Deployment controller takes it from there.
    fn apply(&self, state: &Arc<SimState>, ns: &str, d: &Managed, current: &Value, generated: &Value) -> bool {
        let restart = current["spec"]["template"] != generated["spec"]["template"];
        let scale = current["spec"]["replicas"] != generated["spec"]["replicas"];
        let same_meta = current["metadata"]["labels"] == generated["metadata"]["labels"]
            && current["metadata"]["annotations"] == generated["metadata"]["annotations"];
        if !restart && same_meta && current["spec"] == generated["spec"] {
            return false;
        }
        let written = state.update(&DEPLOYMENTS, ns, &d.deployment_name(), |dep| {
            for k in ["labels", "annotations"] {
                match generated["metadata"].get(k) {
                    Some(v) => dep["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = dep["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            dep["spec"] = generated["spec"].clone();
        });
        written.is_ok() && (restart || scale)
    }

    /// The namespace whose cluster manages a Deployment named `deployment`; else the first
    /// with a CephCluster; else `rook-ceph`.
    pub fn namespace_of(&self, state: &SimState, deployment: &str) -> String {
        if let Some((ns, _)) = self.daemons.lock().expect("lock").keys().find(|(_, d)| d == deployment) {
            return ns.clone();
        }
        rook::clusters(state.list(&CEPHCLUSTERS, None))
            .first()
            .and_then(|c| c["metadata"]["namespace"].as_str())
            .unwrap_or("rook-ceph")
            .to_string()
    }

    /// `status.version` from the spec image, `status.ceph.versions` counted from the
    /// images the Ready pods run, as `ceph versions` would report them.
    pub fn update_status(&self, state: &Arc<SimState>, ns: &str, base: &str) {
        let Some(cluster) = cluster_in(state, ns) else { return };
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let counts = versions(&state.list(&PODS, Some(ns)));
        let (version, _) = topology::ceph_version_of(base);
        let current = cluster.pointer("/status/ceph/health").and_then(Value::as_str).map(str::to_string);
        let health = state.health.now(ns, current.as_deref(), |names| state.get_many(&PODS, ns, names));
        let _ = state.update_status(&CEPHCLUSTERS, ns, &name, |c| {
            c["status"]["version"] = json!({"image": base, "version": version});
            c["status"]["ceph"]["versions"] = serde_json::to_value(&counts).expect("json");
            c["status"]["observedGeneration"] = c["metadata"]["generation"].clone();
            c["status"]["phase"] = "Ready".into();
            c["status"]["state"] = "Created".into();
            c["status"]["message"] = "Cluster created successfully".into();
            // a health pinned since it was computed wins (health.rs `write`)
            c["status"]["ceph"]["health"] = state.health.pinned(ns).unwrap_or_else(|| health.clone()).into();
            c["status"]["ceph"]["lastChecked"] = crate::operator::health::now_checked().into();
        });
    }

    /// A loaded cluster whose dump has no `status.ceph.versions` gets them from its pods
    /// (a real cluster refreshes them every 60 s); everything else is kept as dumped.
    pub fn fill_versions(&self, state: &Arc<SimState>, ns: &str) {
        let Some(c) = cluster_in(state, ns) else { return };
        if c.pointer("/status/ceph/versions").is_some()
            || c.pointer("/spec/external/enable").and_then(Value::as_bool) == Some(true)
        {
            return;
        }
        let name = c["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let counts = versions(&state.list(&PODS, Some(ns)));
        let _ = state.update_status(&CEPHCLUSTERS, ns, &name, |c| {
            c["status"]["ceph"]["versions"] = serde_json::to_value(&counts).expect("json");
        });
    }

    fn event(&self, state: &Arc<SimState>, ns: &str, cluster: &Value, reason: &str, message: &str) {
        let seq = self.next_seq();
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
        let ev = json!({
            "metadata": {"name": format!("{name}.{seq:x}"), "namespace": ns},
            "involvedObject": {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "name": name, "namespace": ns, "uid": cluster["metadata"]["uid"]},
            "reason": reason, "message": message, "type": "Normal", "count": 1,
            "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(),
            "source": {"component": "rook-ceph-operator"}, "reportingComponent": "rook-ceph-operator",
        });
        let _ = state.create(&EVENTS, ns, ev);
    }
}

/// The CephCluster Rook reconciles in `ns`, if any.
pub fn cluster_in(state: &SimState, ns: &str) -> Option<Value> {
    rook::clusters(state.list(&CEPHCLUSTERS, Some(ns))).into_iter().next()
}

/// Until every named Deployment of `ns` has rolled out (or is gone): checked again at each
/// change the embedded store announces, or every 100 ms on a real server.
async fn rolled_out(state: &Arc<SimState>, ns: &str, names: &[String]) {
    let mut events = (!state.is_remote()).then(|| state.store().subscribe());
    loop {
        let done = state.get_many(&DEPLOYMENTS, ns, names).iter().all(|d| d.as_ref().is_none_or(rollout_complete));
        if done {
            return;
        }
        match &mut events {
            Some(rx) => {
                let _ = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await;
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `ceph versions` as Ceph would report it from the namespace's pods: the Running pods of
/// each daemon type (the floating mon is a mon; canaries and maintenance copies run no
/// daemon), by the image of their first container.
fn versions(pods: &[Value]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for p in pods {
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        // `<deployment>-<hash>-<suffix>`
        let deployment = name.rsplitn(3, '-').nth(2).unwrap_or(name);
        let labels = crate::server::store::labels_of(p);
        let Some(t) = rook::daemon_type(deployment, &labels) else { continue };
        let Some(key) = t.versions_key else { continue };
        if p.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
            continue;
        }
        let image = p.pointer("/spec/containers/0/image").and_then(Value::as_str).unwrap_or_default();
        let line = topology::ceph_version_line(&topology::ceph_version_of(image).0);
        *counts.entry(key.to_string()).or_default().entry(line.clone()).or_default() += 1;
        *counts.entry("overall".to_string()).or_default().entry(line).or_default() += 1;
    }
    counts
}
