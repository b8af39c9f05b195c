//! Rook-shaped objects: a CephCluster from Rook's example `cluster.yaml`, and the
//! Deployments and Pods of its daemons named, labelled and built as Rook builds them
//! (FACTS §3, §4): init containers and the Ceph image, `CONTAINER_IMAGE`, the mgr's
//! `watch-active` sidecar on the Rook image, OSDs pinned to nodes, realistic sizes.

use serde_json::{Value, json};

use crate::server::store::fnv64;

pub const ROOK_VERSION: &str = "v1.20.6";
pub const DNR_LABEL: &str = "ceph.rook.io/do-not-reconcile";

/// One daemon type as Rook labels it. `key` is the `imageOverrides` key.
#[derive(Debug, PartialEq, Eq)]
pub struct SimType {
    pub key: &'static str,
    pub app: &'static str,
    pub id_label: &'static str,
    pub daemon_type: &'static str,
    /// Key of `status.ceph.versions`, where Ceph reports this type.
    pub versions_key: Option<&'static str>,
}

pub const TYPES: [SimType; 11] = [
    SimType { key: "mon", app: "rook-ceph-mon", id_label: "mon", daemon_type: "mon", versions_key: Some("mon") },
    SimType { key: "mgr", app: "rook-ceph-mgr", id_label: "mgr", daemon_type: "mgr", versions_key: Some("mgr") },
    SimType {
        key: "osd",
        app: "rook-ceph-osd",
        id_label: "ceph-osd-id",
        daemon_type: "osd",
        versions_key: Some("osd"),
    },
    SimType { key: "mds", app: "rook-ceph-mds", id_label: "mds", daemon_type: "mds", versions_key: Some("mds") },
    SimType { key: "rgw", app: "rook-ceph-rgw", id_label: "rgw", daemon_type: "rgw", versions_key: Some("rgw") },
    SimType { key: "nfs", app: "rook-ceph-nfs", id_label: "nfs", daemon_type: "nfs", versions_key: None },
    SimType {
        key: "rbdmirror",
        app: "rook-ceph-rbd-mirror",
        id_label: "rbd-mirror",
        daemon_type: "rbd-mirror",
        versions_key: Some("rbd-mirror"),
    },
    SimType {
        key: "cephfsmirror",
        app: "rook-ceph-fs-mirror",
        id_label: "fs-mirror",
        daemon_type: "cephfs-mirror",
        versions_key: Some("cephfs-mirror"),
    },
    SimType {
        key: "crashcollector",
        app: "rook-ceph-crashcollector",
        id_label: "crashcollector",
        daemon_type: "crashcollector",
        versions_key: None,
    },
    SimType {
        key: "exporter",
        app: "rook-ceph-exporter",
        id_label: "ceph_daemon_id",
        daemon_type: "exporter",
        versions_key: None,
    },
    // NVMe-oF gateways (Rook v1.20): never generated, only loaded from dumps.
    SimType {
        key: "nvmeof",
        app: "rook-ceph-nvmeof",
        id_label: "ceph_daemon_id",
        daemon_type: "nvmeof",
        versions_key: None,
    },
];

pub fn sim_type(key: &str) -> &'static SimType {
    TYPES.iter().find(|t| t.key == key).expect("known type")
}

pub fn type_of_app(app: &str) -> Option<&'static SimType> {
    TYPES.iter().find(|t| t.app == app)
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub namespace: String,
    pub osds: usize,
    pub nodes: usize,
    pub mons: usize,
    pub mgrs: usize,
    pub filesystem: Option<String>,
    pub object_store: Option<String>,
    /// The object store's `spec.gateway.instances`: Rook writes one Deployment
    /// `rook-ceph-rgw-<store>-a` with this many replicas (FACTS §3; rook object/rgw.go "We
    /// force a single deployment and later set the deployment replica to the instances
    /// value"). Default 1.
    pub rgw_instances: usize,
    pub nfs: Option<String>,
    pub rbd_mirrors: usize,
    pub cephfs_mirror: bool,
    pub ceph_image: String,
    pub rook_image: String,
    /// Where the Rook operator's Deployment `rook-ceph-operator` runs: None, the cluster's
    /// namespace (Rook's deploy/examples: operator.yaml and cluster.yaml both in
    /// `rook-ceph`); Some, a namespace of its own (the Helm charts' `rook-ceph` operator
    /// with the cluster elsewhere).
    pub operator_namespace: Option<String>,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            namespace: "rook-ceph".into(),
            osds: 12,
            nodes: 0,
            mons: 3,
            mgrs: 2,
            filesystem: Some("myfs".into()),
            object_store: Some("my-store".into()),
            rgw_instances: 1,
            nfs: Some("my-nfs".into()),
            rbd_mirrors: 1,
            cephfs_mirror: true,
            ceph_image: "quay.io/ceph/ceph:v20.2.4".into(),
            rook_image: format!("docker.io/rook/ceph:{ROOK_VERSION}"),
            operator_namespace: None,
        }
    }
}

impl Topology {
    /// Nodes: as given, else one per 12 OSDs and at least 3.
    pub fn node_count(&self) -> usize {
        if self.nodes > 0 { self.nodes } else { self.osds.div_ceil(12).max(3) }
    }

    pub fn node_name(&self, i: usize) -> String {
        let width = self.node_count().saturating_sub(1).to_string().len().max(2);
        format!("node-{i:0width$}")
    }

    /// Every daemon, in Rook's order.
    pub fn daemons(&self) -> Vec<Daemon> {
        let n = self.node_count();
        let letters = |i: usize| -> String {
            let mut s = String::new();
            let mut x = i;
            loop {
                s.insert(0, (b'a' + (x % 26) as u8) as char);
                if x < 26 {
                    break;
                }
                x = x / 26 - 1;
            }
            s
        };
        let mut out = Vec::new();
        for i in 0..self.mons {
            out.push(Daemon::new(sim_type("mon"), &letters(i), self.node_name(i % n)));
        }
        for i in 0..self.mgrs {
            out.push(Daemon::new(sim_type("mgr"), &letters(i), self.node_name(i % n)));
        }
        for i in 0..self.osds {
            out.push(Daemon::new(sim_type("osd"), &i.to_string(), self.node_name(i % n)));
        }
        if let Some(fs) = &self.filesystem {
            for i in 0..2 {
                out.push(Daemon::new(sim_type("mds"), &format!("{fs}-{}", letters(i)), self.node_name((i + 1) % n)));
            }
        }
        if let Some(store) = &self.object_store {
            let mut rgw = Daemon::new(sim_type("rgw"), &format!("{store}-a"), self.node_name(0));
            rgw.replicas = self.rgw_instances.max(1);
            out.push(rgw);
        }
        if let Some(nfs) = &self.nfs {
            out.push(Daemon::new(sim_type("nfs"), &format!("{nfs}-a"), self.node_name(1 % n)));
        }
        for i in 0..self.rbd_mirrors {
            out.push(Daemon::new(sim_type("rbdmirror"), &letters(i), self.node_name((i + 2) % n)));
        }
        if self.cephfs_mirror {
            out.push(Daemon::new(sim_type("cephfsmirror"), "fs-mirror", self.node_name(0)));
        }
        for i in 0..n {
            out.push(Daemon::new(sim_type("crashcollector"), &self.node_name(i), self.node_name(i)));
        }
        for i in 0..n {
            out.push(Daemon::new(sim_type("exporter"), &self.node_name(i), self.node_name(i)));
        }
        out
    }
}

/// One Ceph daemon: what Rook derives its Deployment from.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub t: &'static SimType,
    /// Instance: `a`, `12`, `myfs-a`, `my-store-a`, `my-nfs-a`, a node for crash/exporter.
    pub instance: String,
    /// Where its (first) pod runs.
    pub node: String,
    /// The Deployment's `spec.replicas`: 1, except an RGW with several instances.
    pub replicas: usize,
}

impl Daemon {
    pub fn new(t: &'static SimType, instance: &str, node: String) -> Daemon {
        Daemon { t, instance: instance.to_string(), node, replicas: 1 }
    }

    /// The node of each of its pods at start: `node` for the first, the next nodes (of
    /// `nodes`, in order) for the others, as Rook's preferred anti-affinity spreads RGWs.
    pub fn pod_nodes(&self, nodes: &[String]) -> Vec<String> {
        let first = nodes.iter().position(|n| *n == self.node).unwrap_or(0);
        (0..self.replicas)
            .map(
                |i| {
                    if i == 0 || nodes.is_empty() {
                        self.node.clone()
                    } else {
                        nodes[(first + i) % nodes.len()].clone()
                    }
                },
            )
            .collect()
    }

    pub fn deployment_name(&self) -> String {
        match self.t.key {
            "cephfsmirror" => "rook-ceph-fs-mirror".into(),
            _ => format!("{}-{}", self.t.app, self.instance),
        }
    }

    /// The value of the type's id label (FACTS §3).
    pub fn id_value(&self) -> String {
        match self.t.key {
            "rgw" => self.instance.trim_end_matches("-a").to_string(),
            "crashcollector" => "crash".into(),
            "exporter" => "exporter".into(),
            "cephfsmirror" => "fs-mirror".into(),
            _ => self.instance.clone(),
        }
    }

    fn pod_labels(&self, ns: &str) -> Value {
        let mut l = json!({
            "app": self.t.app,
            "app.kubernetes.io/component": "cephclusters.ceph.rook.io",
            "app.kubernetes.io/created-by": "rook-ceph-operator",
            "app.kubernetes.io/instance": self.instance,
            "app.kubernetes.io/managed-by": "rook-ceph-operator",
            "app.kubernetes.io/name": format!("ceph-{}", self.t.daemon_type),
            "app.kubernetes.io/part-of": ns,
            "ceph_daemon_id": self.id_value(),
            "ceph_daemon_type": self.t.daemon_type,
            "rook.io/operator-namespace": "rook-ceph",
            "rook_cluster": ns,
        });
        let id = self.id_value();
        match self.t.key {
            "osd" => {
                l["ceph-osd-id"] = id.clone().into();
                l["osd"] = id.into();
                l["failure-domain"] = self.node.clone().into();
                l["portable"] = "false".into();
                l["topology-location-host"] = self.node.clone().into();
                l["topology-location-root"] = "default".into();
                l["device-class"] = "hdd".into();
                l["osd-store"] = "bluestore".into();
            }
            "mds" => {
                l["mds"] = id.into();
                l["rook_file_system"] =
                    self.instance.rsplit_once('-').map(|(fs, _)| fs).unwrap_or(&self.instance).into();
            }
            "rgw" => {
                l["rgw"] = id.clone().into();
                l["rook_object_store"] = id.into();
            }
            "nfs" => {
                l["nfs"] = id.into();
                l["ceph_nfs"] = self.instance.rsplit_once('-').map(|(n, _)| n).unwrap_or(&self.instance).into();
                l["instance"] = self.instance.rsplit_once('-').map(|(_, i)| i).unwrap_or("a").into();
            }
            "crashcollector" => {
                l["crashcollector"] = "crash".into();
                l["node_name"] = self.node.clone().into();
            }
            "exporter" => {
                l["node_name"] = self.node.clone().into();
            }
            "mon" => {
                l["mon"] = id.into();
                l["mon_cluster"] = ns.into();
            }
            _ => {
                l[self.t.id_label] = id.into();
            }
        }
        l
    }

    fn selector(&self, ns: &str) -> Value {
        let l = self.pod_labels(ns);
        let mut m = json!({"app": self.t.app, "rook_cluster": ns});
        m[self.t.id_label] = l[self.t.id_label].clone();
        if self.t.key == "crashcollector" || self.t.key == "exporter" {
            m["node_name"] = self.node.clone().into();
        }
        m
    }

    /// The Deployment Rook would write for this daemon running `image`.
    pub fn deployment(&self, ns: &str, image: &str, rook_image: &str, cluster_uid: &str) -> Value {
        let (version, _) = ceph_version_of(image);
        let mut labels = self.pod_labels(ns);
        labels["rook-version"] = ROOK_VERSION.into();
        labels["ceph-version"] = version.clone().into();
        let template_labels = self.pod_labels(ns);
        let mut spec = self.pod_spec(ns, image, rook_image, &version);
        if matches!(self.t.key, "osd" | "crashcollector" | "exporter" | "mon") {
            spec["nodeSelector"] = json!({"kubernetes.io/hostname": self.node});
        }
        let strategy = if self.t.key == "rgw" {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        } else {
            json!({"type": "Recreate"})
        };
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self.deployment_name(),
                "namespace": ns,
                "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "name": ns,
                    "uid": cluster_uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": self.selector(ns)},
                "strategy": strategy,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "template": {
                    "metadata": {"name": self.deployment_name(), "labels": template_labels,
                        "annotations": {"config-hash": format!("{:016x}", fnv64(ns.as_bytes()))}},
                    "spec": spec,
                },
            },
            "status": {"observedGeneration": 1, "replicas": self.replicas, "updatedReplicas": self.replicas,
                "readyReplicas": self.replicas, "availableReplicas": self.replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{}\" has successfully progressed.", self.deployment_name())}]},
        })
    }

    fn containers(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        match self.t.key {
            "mon" => (vec!["chown-container-data-dir", "init-mon-fs"], vec!["mon", "log-collector"]),
            "mgr" => (vec!["chown-container-data-dir"], vec!["mgr", "watch-active", "log-collector"]),
            "osd" => (
                vec!["blkdevmapper", "activate", "expand-bluefs", "chown-container-data-dir"],
                vec!["osd", "log-collector"],
            ),
            "mds" => (vec!["chown-container-data-dir"], vec!["mds", "log-collector"]),
            "rgw" => (vec!["chown-container-data-dir"], vec!["rgw", "log-collector"]),
            "nfs" => (vec!["generate-minimal-ceph-conf"], vec!["nfs-ganesha", "dbus-daemon"]),
            "rbdmirror" => (vec!["chown-container-data-dir"], vec!["rbd-mirror", "log-collector"]),
            "cephfsmirror" => (vec!["chown-container-data-dir"], vec!["fs-mirror"]),
            "crashcollector" => (vec!["make-container-crash-dir", "chown-container-data-dir"], vec!["ceph-crash"]),
            _ => (vec!["chown-container-data-dir"], vec!["ceph-exporter"]),
        }
    }

    fn pod_spec(&self, ns: &str, image: &str, rook_image: &str, version: &str) -> Value {
        let (inits, mains) = self.containers();
        let build = |name: &str, init: bool| -> Value {
            // Rook's own helper (mgr watch-active) runs the operator image, not Ceph's.
            let rook_helper = name == "watch-active";
            let img = if rook_helper { rook_image } else { image };
            let mut env = vec![
                json!({"name": "CONTAINER_IMAGE", "value": image}),
                json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
                json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}),
                json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}),
                json!({"name": "POD_MEMORY_LIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.memory"}}}),
                json!({"name": "POD_MEMORY_REQUEST", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "requests.memory"}}}),
                json!({"name": "POD_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "1", "resource": "limits.cpu"}}}),
                json!({"name": "POD_CPU_REQUEST", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "requests.cpu"}}}),
                json!({"name": "CEPH_USE_RANDOM_NONCE", "value": "true"}),
                json!({"name": "ROOK_MSGR2", "value": "msgr2_false_encryption_false_compression_false"}),
                json!({"name": "ROOK_CEPH_MON_HOST", "valueFrom": {"secretKeyRef": {"key": "mon_host", "name": "rook-ceph-config"}}}),
                json!({"name": "ROOK_CEPH_MON_INITIAL_MEMBERS", "valueFrom": {"secretKeyRef": {"key": "mon_initial_members", "name": "rook-ceph-config"}}}),
            ];
            if rook_helper {
                env = vec![
                    json!({"name": "ROOK_CLUSTER_ID", "value": ns}),
                    json!({"name": "ROOK_CLUSTER_NAME", "value": ns}),
                    json!({"name": "ROOK_OPERATOR_NAMESPACE", "value": "rook-ceph"}),
                ];
            }
            if self.t.key == "osd" && !init {
                for (k, v) in [
                    ("ROOK_OSD_ID", self.instance.as_str()),
                    ("ROOK_CEPH_VERSION", version),
                    ("ROOK_OSD_RESTART_INTERVAL", "0"),
                    ("ROOK_OSD_UUID", "6e3f8d52-1f0a-4c4b-9d7e-2b1f0f1c9a10"),
                    ("ROOK_OSD_STORE_TYPE", "bluestore"),
                    ("ROOK_CV_MODE", "raw"),
                    ("ROOK_BLOCK_PATH", "/dev/sdb"),
                    ("ROOK_TOPOLOGY_AFFINITY", ""),
                    ("ROOK_CRUSHMAP_HOSTNAME", self.node.as_str()),
                    ("ROOK_IS_DEVICE", "true"),
                    ("ROOK_PG_LIMIT", "0"),
                    ("TINI_SUBREAPER", ""),
                    ("CEPH_VOLUME_DEBUG", "1"),
                    ("CEPH_VOLUME_SKIP_RESTORECON", "1"),
                    ("DM_DISABLE_UDEV", "1"),
                ] {
                    env.push(json!({"name": k, "value": v}));
                }
            }
            let daemon = self.t.daemon_type;
            let args: Vec<String> = if init || rook_helper || name == "log-collector" {
                vec![format!("--config-dir=/var/lib/rook/{ns}"), format!("--daemon={daemon}")]
            } else {
                vec![
                    "--fsid=2a9c3f0e-5b7d-4e61-9f2a-8c1d7b3e6f40".into(),
                    "--keyring=/etc/ceph/keyring-store/keyring".into(),
                    "--default-log-to-stderr=true".into(),
                    "--default-err-to-stderr=true".into(),
                    "--default-mon-cluster-log-to-stderr=true".into(),
                    format!("--default-log-stderr-prefix=debug "),
                    "--default-log-to-file=false".into(),
                    "--default-mon-cluster-log-to-file=false".into(),
                    "--mon-host=$(ROOK_CEPH_MON_HOST)".into(),
                    "--mon-initial-members=$(ROOK_CEPH_MON_INITIAL_MEMBERS)".into(),
                    format!("--id={}", self.id_value()),
                    "--setuser=ceph".into(),
                    "--setgroup=ceph".into(),
                    "--foreground".into(),
                ]
            };
            json!({
                "name": name,
                "image": img,
                "imagePullPolicy": "IfNotPresent",
                "command": [if rook_helper { "rook" } else if name == "log-collector" { "/bin/bash" } else { "ceph-daemon" }],
                "args": args,
                "env": env,
                "resources": {},
                "securityContext": {"privileged": self.t.key == "osd", "runAsUser": 0, "readOnlyRootFilesystem": false},
                "volumeMounts": [
                    {"mountPath": "/etc/ceph", "name": "rook-config-override", "readOnly": true},
                    {"mountPath": "/etc/ceph/keyring-store/", "name": format!("rook-ceph-{daemon}-keyring"), "readOnly": true},
                    {"mountPath": "/var/log/ceph", "name": "rook-ceph-log"},
                    {"mountPath": "/var/lib/ceph/crash", "name": "rook-ceph-crash"},
                    {"mountPath": "/run/ceph", "name": "ceph-daemons-sock-dir"},
                    {"mountPath": format!("/var/lib/ceph/{daemon}/ceph-{}", self.id_value()), "name": "ceph-daemon-data"},
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            })
        };
        let priority = match self.t.key {
            "mon" | "osd" => "system-node-critical",
            "mgr" => "system-cluster-critical",
            _ => "",
        };
        json!({
            "initContainers": inits.iter().map(|c| build(c, true)).collect::<Vec<_>>(),
            "containers": mains.iter().map(|c| build(c, false)).collect::<Vec<_>>(),
            "volumes": [
                {"name": "rook-config-override", "projected": {"defaultMode": 420, "sources": [{"configMap": {"name": "rook-config-override", "items": [{"key": "config", "mode": 292, "path": "ceph.conf"}]}}]}},
                {"name": format!("rook-ceph-{}-keyring", self.t.daemon_type), "secret": {"defaultMode": 420, "secretName": format!("rook-ceph-{}-keyring", self.t.daemon_type)}},
                {"name": "rook-ceph-log", "hostPath": {"path": format!("/var/lib/rook/{ns}/log"), "type": ""}},
                {"name": "rook-ceph-crash", "hostPath": {"path": format!("/var/lib/rook/{ns}/crash"), "type": ""}},
                {"name": "ceph-daemons-sock-dir", "hostPath": {"path": "/var/lib/rook/exporter", "type": "DirectoryOrCreate"}},
                {"name": "ceph-daemon-data", "hostPath": {"path": format!("/var/lib/rook/{}-{}/data", self.t.daemon_type, self.instance), "type": ""}},
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "serviceAccountName": if self.t.key == "osd" { "rook-ceph-osd" } else { "rook-ceph-default" },
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "priorityClassName": priority,
            "tolerations": [{"effect": "NoSchedule", "key": "storage-node", "operator": "Exists"}],
        })
    }
}

/// `20.2.4-0` and major 20 from a tag such as `v20.2.4`, `v19.2.3-mgrfix` or
/// `v18.2.7-20250101`; images without a version tag count as the release of `fallback`.
pub fn ceph_version_of(image: &str) -> (String, u32) {
    parse_version(image).unwrap_or(("20.2.4-0".into(), 20))
}

pub fn parse_version(image: &str) -> Option<(String, u32)> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let tag = last.split_once(':').map(|(_, t)| t)?;
    let t = tag.trim_start_matches('v');
    let nums: Vec<&str> = t.split(|c: char| !c.is_ascii_digit()).take(3).collect();
    if nums.len() == 3 && nums.iter().all(|n| !n.is_empty()) && t.starts_with(nums[0]) {
        let major = nums[0].parse().ok()?;
        Some((format!("{}.{}.{}-0", nums[0], nums[1], nums[2]), major))
    } else {
        None
    }
}

pub fn release_name(major: u32) -> &'static str {
    match major {
        16 => "pacific",
        17 => "quincy",
        18 => "reef",
        19 => "squid",
        20 => "tentacle",
        21 => "umbrella",
        _ => "unknown",
    }
}

/// The line `ceph versions` prints for a version.
pub fn ceph_version_line(version: &str) -> String {
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let hash = format!("{:016x}{:016x}", fnv64(version.as_bytes()), fnv64(format!("{version}x").as_bytes()));
    format!("ceph version {version} ({}{:08x}) {} (stable)", hash, fnv64(hash.as_bytes()) as u32, release_name(major))
}

/// The CephCluster of Rook's example `cluster.yaml`, in `ns`, with a Ready status.
pub fn ceph_cluster(ns: &str, image: &str) -> Value {
    let mut c: Value = serde_saphyr::from_str(include_str!("../assets/cluster.yaml")).expect("cluster.yaml parses");
    c["metadata"]["namespace"] = ns.into();
    c["metadata"]["name"] = ns.into();
    c["spec"]["cephVersion"]["image"] = image.into();
    c
}

/// The pod-template-hash Kubernetes derives from a template.
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv64(serde_json::to_string(template).unwrap_or_default().as_bytes());
    let mut s = String::new();
    for _ in 0..10 {
        s.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h /= ALPHABET.len() as u64;
    }
    s
}

pub fn pod_suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv64(&seed.to_le_bytes()) ^ seed.rotate_left(17);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

pub(crate) fn image_id(image: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = match repo.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => r,
        _ => repo,
    };
    let d = format!(
        "{:016x}{:016x}{:016x}{:016x}",
        fnv64(image.as_bytes()),
        fnv64(b"a"),
        fnv64(repo.as_bytes()),
        fnv64(b"b")
    );
    format!("{repo}@sha256:{d}")
}

/// The Rook operator's Deployment as Rook's deploy/examples/operator.yaml writes it: labels
/// `operator: rook` and `app.kubernetes.io/*` on the Deployment, `app=rook-ceph-operator`
/// on its pod (what kubectl-rook-ceph finds it by, pkg/exec/exec.go), one container
/// `rook-ceph-operator` running `rook_image` (`ceph operator`), `/var/lib/rook` where the
/// operator writes each cluster's `<ns>/<ns>.config` and admin keyring. No `rook_cluster`
/// label: it belongs to no one cluster, and the plugin's daemon reads do not see it.
pub fn operator_deployment(ns: &str, rook_image: &str) -> Value {
    let field = |path: &str| json!({"fieldRef": {"apiVersion": "v1", "fieldPath": path}});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "rook-ceph-operator",
            "namespace": ns,
            "generation": 1,
            "labels": {"operator": "rook", "storage-backend": "ceph", "app.kubernetes.io/name": "rook-ceph",
                "app.kubernetes.io/instance": "rook-ceph", "app.kubernetes.io/component": "rook-ceph-operator",
                "app.kubernetes.io/part-of": "rook-ceph-operator"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "rook-ceph-operator"}},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": {"app": "rook-ceph-operator"}},
                "spec": {
                    "serviceAccountName": "rook-ceph-system",
                    "containers": [{
                        "name": "rook-ceph-operator",
                        "image": rook_image,
                        "args": ["ceph", "operator"],
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 2016, "runAsGroup": 2016,
                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"mountPath": "/var/lib/rook", "name": "rook-config"},
                            {"mountPath": "/etc/ceph", "name": "default-config-dir"}],
                        "env": [{"name": "ROOK_CURRENT_NAMESPACE_ONLY", "value": "false"},
                            {"name": "NODE_NAME", "valueFrom": field("spec.nodeName")},
                            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
                            {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")}],
                    }],
                    "volumes": [{"name": "rook-config", "emptyDir": {}}, {"name": "default-config-dir", "emptyDir": {}}],
                },
            },
        },
    })
}

/// A Pod of `deployment`, named `<deployment>-<template hash>-<suffix>`, on `node`.
pub fn pod(deployment: &Value, node: &str, seed: u64, ready: bool, ip: &str) -> Value {
    let template = &deployment["spec"]["template"];
    let hash = template_hash(template);
    let dname = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let ns = deployment["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = hash.clone().into();
    if dname.starts_with("rook-ceph-mgr-") {
        labels["mgr_role"] = if dname.ends_with("-a") { "active" } else { "standby" }.into();
    }
    let mut spec = template["spec"].clone();
    spec["nodeName"] = node.into();
    let now = crate::server::store::now_rfc3339();
    let statuses = |key: &str, init: bool| -> Vec<Value> {
        spec[key].as_array().map(|cs| cs.iter().map(|c| {
            let image = c["image"].as_str().unwrap_or_default();
            let state = if init {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
            } else if ready {
                json!({"running": {"startedAt": now}})
            } else {
                json!({"waiting": {"reason": "ContainerCreating"}})
            };
            json!({"name": c["name"], "image": image, "imageID": if ready || init { image_id(image) } else { String::new() },
                "containerID": format!("containerd://{:016x}{:016x}", fnv64(format!("{seed}{}", c["name"]).as_bytes()), seed),
                "ready": ready && !init, "restartCount": 0, "started": ready && !init, "state": state})
        }).collect()).unwrap_or_default()
    };
    let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now, "lastProbeTime": null});
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{dname}-{hash}-{}", pod_suffix(seed)),
            "namespace": ns,
            "labels": labels,
            "annotations": template["metadata"]["annotations"].clone(),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{dname}-{hash}"),
                "uid": format!("{:08x}-0000-4000-8000-{:012x}", fnv64(hash.as_bytes()) as u32, fnv64(dname.as_bytes()) & 0xffff_ffff_ffff),
                "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
        "status": {
            "phase": if ready { "Running" } else { "Pending" },
            "conditions": [cond("PodReadyToStartContainers", true), cond("Initialized", true), cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", true)],
            "hostIP": ip, "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now, "qosClass": "BestEffort",
            "initContainerStatuses": statuses("initContainers", true),
            "containerStatuses": statuses("containers", false),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_tags() {
        assert_eq!(parse_version("quay.io/ceph/ceph:v20.2.4"), Some(("20.2.4-0".into(), 20)));
        assert_eq!(parse_version("registry.example.com:5000/ceph:v19.2.3-mgrfix"), Some(("19.2.3-0".into(), 19)));
        assert_eq!(parse_version("quay.io/ceph/ceph:latest"), None);
        assert_eq!(parse_version("registry:5000/ceph"), None);
        assert!(ceph_version_line("19.2.3-0").ends_with("squid (stable)"));
    }

    #[test]
    fn daemons_are_named_and_labelled_as_rook_does() {
        let t = Topology { osds: 30, ..Default::default() };
        let ds = t.daemons();
        let names: Vec<String> = ds.iter().map(Daemon::deployment_name).collect();
        for n in [
            "rook-ceph-mon-a",
            "rook-ceph-mgr-b",
            "rook-ceph-osd-29",
            "rook-ceph-mds-myfs-a",
            "rook-ceph-rgw-my-store-a",
            "rook-ceph-nfs-my-nfs-a",
            "rook-ceph-rbd-mirror-a",
            "rook-ceph-fs-mirror",
            "rook-ceph-crashcollector-node-00",
            "rook-ceph-exporter-node-02",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing");
        }
        let osd = ds.iter().find(|d| d.deployment_name() == "rook-ceph-osd-12").unwrap();
        let dep = osd.deployment("rook-ceph", "quay.io/ceph/ceph:v20.2.4", "docker.io/rook/ceph:v1.20.6", "uid");
        assert_eq!(dep["metadata"]["labels"]["ceph-osd-id"], "12");
        assert_eq!(dep["metadata"]["labels"]["ceph-version"], "20.2.4-0");
        assert_eq!(dep["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"], osd.node.as_str());
        assert!(serde_json::to_vec(&dep).unwrap().len() > 5000, "a real OSD Deployment is several KB");
        let mgr = Daemon::new(sim_type("mgr"), "a", "node-00".into()).deployment(
            "rook-ceph",
            "quay.io/ceph/ceph:v20.2.4",
            "docker.io/rook/ceph:v1.20.6",
            "uid",
        );
        let images: Vec<&str> = mgr["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        assert_eq!(images, ["quay.io/ceph/ceph:v20.2.4", "docker.io/rook/ceph:v1.20.6", "quay.io/ceph/ceph:v20.2.4"]);
        let p = pod(&mgr, "node-00", 7, true, "10.0.0.1");
        let name = p["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("rook-ceph-mgr-a-") && name.len() == "rook-ceph-mgr-a-".len() + 10 + 1 + 5, "{name}");
        assert_eq!(p["metadata"]["labels"]["mgr_role"], "active");
    }

    #[test]
    fn cluster_from_rook_example() {
        let c = ceph_cluster("rook-ceph", "quay.io/ceph/ceph:v20.2.4");
        assert_eq!(c["kind"], "CephCluster");
        assert_eq!(c["spec"]["mon"]["count"], 3);
    }
}
