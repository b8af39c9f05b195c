//! Deployments and Pods of a cluster -> daemons, copies that are not daemons, and
//! Deployments the plugin does not handle (with the reason). Nothing read is silently
//! left out: `deployments_read` = daemons + copies + not handled. Pure: unit-tested on the
//! field shapes (`../shared/field`, FACTS §6) without a server.
//!
//! Which containers run Ceph follows what Rook writes into each (`rook_role`): the daemon's
//! main container (named after its type, `main_container`) and Rook's `log-collector`,
//! `ops-log` and `cmd-proxy` sidecars get `spec.cephVersion.image`, so they run Ceph
//! whatever image they run now (a main container moved by hand with `kubectl set image`,
//! rook/rook#15849, is drift, and the daemon runs what that container runs). The NVMe-oF
//! gateway container, and NFS's `nfs-ganesha` and `dbus-daemon` when `CephNFS.spec.server.image`
//! is set, get an image of their own: never drift, never rewritten (FACTS §6). Every other
//! container is judged by its image: it runs Ceph when that is a Ceph image of this cluster
//! (the base image, an override, what Rook detected, a Ceph `CONTAINER_IMAGE` value of the
//! Deployment, a fence's images); Rook's helpers (mgr `watch-active`, old-Rook and KMS init
//! containers) run the operator image and are left alone.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::cluster::wire::{Deployment, PodSpec, WirePod, pod_deployment};
use crate::model::daemon::{DaemonId, DaemonType};
use crate::model::{
    CephContainer, Cluster, Copy, DNR_LABEL, Daemon, FENCE_AT, FENCE_IMAGE, FENCE_REPLACED, Fence, HandMoved, Labels,
    NotHandled, Pod, REPLACE_ANNOTATIONS, Snapshot, daemon_order,
};

/// The floating mon of a two-node DRBD cluster (Rook v1.20): a real mon under another app
/// label, so Rook's skip query (`app=rook-ceph-mon`) never finds its label (FACTS §6).
pub const FLOATING_MON_APP: &str = "rook-ceph-floating-mon";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Strings shared while LIST pages are reduced: label keys, container names and images,
/// and many label values repeat on every Deployment and Pod of a cluster.
#[derive(Default)]
pub struct Interner {
    strs: HashSet<Arc<str>>,
    strings: HashSet<SharedString>,
}

#[derive(PartialEq, Eq, Hash)]
struct SharedString(Arc<String>);

impl Borrow<str> for SharedString {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl Interner {
    pub fn str(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strs.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strs.insert(a.clone());
        a
    }

    pub fn string(&mut self, s: String) -> Arc<String> {
        if let Some(a) = self.strings.get(s.as_str()) {
            return a.0.clone();
        }
        let a = Arc::new(s);
        self.strings.insert(SharedString(a.clone()));
        a
    }

    pub fn labels(&mut self, m: BTreeMap<String, String>) -> Labels {
        Labels::from_shared(m.into_iter().map(|(k, v)| (self.str(&k), self.string(v))).collect())
    }
}

/// A container as classification sees it: which images it runs and names.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    pub name: Arc<str>,
    pub image: Option<Arc<str>>,
    /// Its `CONTAINER_IMAGE` value.
    pub env: Option<Arc<str>>,
    pub init: bool,
}

impl ContainerRecord {
    fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }

    fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }
}

/// Init containers first (unless `with_init` is false), then the main ones, as a pod
/// starts them.
fn container_records(spec: &PodSpec, shared: &mut Interner, with_init: bool) -> Vec<ContainerRecord> {
    let inits = spec.init_containers.iter().filter(|_| with_init).map(|c| (c, true));
    let mut out = Vec::with_capacity(spec.containers.len() + if with_init { spec.init_containers.len() } else { 0 });
    for (c, init) in inits.chain(spec.containers.iter().map(|c| (c, false))) {
        out.push(ContainerRecord {
            name: shared.str(&c.name),
            image: c.image.as_deref().map(|i| shared.str(i)),
            env: c.container_image_env().map(|e| shared.str(e)),
            init,
        });
    }
    out
}

/// What classification needs of a Deployment, kept while the rest of the list arrives:
/// its labels (compact), the fence and replacement annotations, and its containers' images.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub name: String,
    pub labels: Labels,
    pub fence: Option<Fence>,
    /// A staged upgrade's hold (`UPGRADE_HOLD`): its target image.
    pub upgrade_hold: Option<String>,
    /// Rook's OSD replacement annotations are present.
    pub under_replacement: bool,
    pub resource_version: Option<String>,
    pub replicas: Option<i32>,
    /// `spec.paused` (`kubectl rollout pause`).
    pub paused: bool,
    /// The `kubernetes.io/hostname` node selector of its pod template.
    pub hostname: Option<String>,
    pub containers: Vec<ContainerRecord>,
}

impl DeploymentRecord {
    pub fn new(d: Deployment, shared: &mut Interner) -> DeploymentRecord {
        let spec = &d.spec.template.spec;
        let containers = container_records(spec, shared, true);
        let hostname = spec.node_selector.get(HOSTNAME_LABEL).cloned();
        let m = d.metadata;
        DeploymentRecord {
            fence: fence_of(&m.annotations),
            upgrade_hold: m.annotations.get(crate::model::UPGRADE_HOLD).cloned(),
            under_replacement: REPLACE_ANNOTATIONS.iter().any(|a| m.annotations.contains_key(*a)),
            labels: shared.labels(m.labels),
            name: m.name,
            resource_version: m.resource_version,
            replicas: d.spec.replicas,
            paused: d.spec.paused,
            hostname,
            containers,
        }
    }
}

/// What classification needs of a Pod: its state, and its main containers' images (the
/// Deployment's images tell which one runs Ceph).
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecord {
    pub name: String,
    pub node: Option<Arc<str>>,
    pub phase: Option<Arc<str>>,
    pub ready: bool,
    pub terminating: bool,
    pub containers: Vec<ContainerRecord>,
}

impl PodRecord {
    pub fn new(p: WirePod, shared: &mut Interner) -> PodRecord {
        PodRecord {
            // A Running pod without conditions is a trimmed dump's (the API always writes
            // them once the pod is scheduled): read as Ready, as the simulator does, so a
            // copy of a cluster does not show every node down.
            ready: p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                || (p.status.conditions.is_empty() && p.status.phase.as_deref() == Some("Running")),
            node: p.spec.node_name.as_deref().map(|n| shared.str(n)),
            phase: p.status.phase.as_deref().map(|n| shared.str(n)),
            terminating: p.metadata.deletion_timestamp.is_some(),
            containers: container_records(&p.spec, shared, false),
            name: p.metadata.name,
        }
    }
}

/// Deployments reduced to records as LIST pages arrive.
#[derive(Default)]
pub struct DeploymentRecords {
    shared: Interner,
    pub items: Vec<DeploymentRecord>,
}

impl DeploymentRecords {
    pub fn add(&mut self, d: Deployment) {
        self.items.push(DeploymentRecord::new(d, &mut self.shared));
    }

    /// Records reduced elsewhere (a watch-fed view: `cluster::view`), in the API's order
    /// (by name), as a LIST would have given them.
    pub fn of(items: Vec<DeploymentRecord>) -> DeploymentRecords {
        DeploymentRecords { shared: Interner::default(), items }
    }
}

/// Pods reduced to records as LIST pages arrive, by the Deployment they belong to; a pod
/// of no Deployment is not kept.
#[derive(Default)]
pub struct PodRecords {
    shared: Interner,
    pub by_deployment: HashMap<String, Vec<PodRecord>>,
}

impl PodRecords {
    pub fn add(&mut self, p: WirePod) {
        if let Some(d) = pod_deployment(&p) {
            self.by_deployment.entry(d).or_default().push(PodRecord::new(p, &mut self.shared));
        }
    }

    /// Records reduced elsewhere (a watch-fed view: `cluster::view`), by Deployment.
    pub fn of(by_deployment: HashMap<String, Vec<PodRecord>>) -> PodRecords {
        PodRecords { shared: Interner::default(), by_deployment }
    }
}

/// What one Deployment is.
enum Kind {
    Daemon { dtype: DaemonType, id: String, floating: bool },
    Copy { kind: &'static str, of: Option<String> },
    NotHandled(String),
}

/// The daemon type an `app` label names (the floating mon's is a mon).
pub fn type_of_app_label(app: &str) -> Option<DaemonType> {
    type_of_app(app).map(|(t, _)| t)
}

fn type_of_app(app: &str) -> Option<(DaemonType, bool)> {
    if app == FLOATING_MON_APP {
        return Some((DaemonType::Mon, true));
    }
    DaemonType::from_app_label(app).map(|t| (t, false))
}

/// The daemon id from the type's id label (FACTS §3), `ceph_daemon_id` on older Rook, or
/// the Deployment name after `rook-ceph-<type>-`.
fn daemon_id(d: &DeploymentRecord, t: DaemonType) -> Option<String> {
    let l = &d.labels;
    let id = match t {
        DaemonType::Crashcollector | DaemonType::Exporter => l.get("node_name").or(l.get(HOSTNAME_LABEL)),
        _ => l.get(t.id_label()).or(l.get("ceph_daemon_id")),
    };
    id.filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| d.name.strip_prefix(&format!("{}-", t.app_label())).map(str::to_string))
}

fn kind(d: &DeploymentRecord) -> Kind {
    let l = &d.labels;
    let Some(app) = l.get("app") else {
        return Kind::NotHandled("no app label: not a Rook daemon Deployment".into());
    };
    let Some((dtype, floating)) = type_of_app(app) else {
        return Kind::NotHandled(format!("app={app} is not a Ceph daemon type the plugin plans for"));
    };
    let id = daemon_id(d, dtype);
    let of = id.as_ref().map(|i| DaemonId::new(dtype, i.clone()).to_string());
    let name = d.name.as_str();
    if l.get("mon_canary").is_some_and(|v| v == "true") || name.ends_with("-canary") {
        return Kind::Copy { kind: "mon canary", of };
    }
    if name.ends_with("-maintenance") {
        return Kind::Copy { kind: "maintenance copy", of };
    }
    if name.ends_with("-debug") {
        return Kind::Copy { kind: "debug copy", of };
    }
    match id {
        Some(id) => Kind::Daemon { dtype, id, floating },
        None => Kind::NotHandled(format!("app={app} but no {} label: cannot tell which daemon", dtype.id_label())),
    }
}

/// The Ceph images of this cluster, before looking at any Deployment.
fn cluster_images(c: &Cluster) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = c.overrides.values().cloned().collect();
    s.insert(c.base_image.clone());
    s.extend(c.status_image.clone());
    s.remove("");
    s
}

/// The main container of a daemon type's pod, as Rook names it: the daemon itself, whose
/// image is the image the daemon runs. Rook's source (rook/rook, pkg/operator/ceph/):
/// `cluster/mon/spec.go` (`monContainerName = "mon"`), `cluster/mgr/spec.go`
/// (`makeMgrDaemonContainer`: `mgr`), `cluster/osd/spec.go` (`osd`), `file/mds/spec.go`
/// (`mds`), `object/spec.go` (`rgwContainerName = "rgw"`), `nfs/spec.go`
/// (`ganeshaContainerName = "nfs-ganesha"`), `cluster/rbd/spec.go` (`rbd-mirror`),
/// `file/mirror/spec.go` (`fs-mirror`), `nvmeof/spec.go` (`nvmeof-gateway`),
/// `cluster/nodedaemon/crash.go` (`ceph-crash`) and `exporter.go` (`ceph-exporter`). The
/// floating mon keeps `mon`. The same names since Rook v1.1 (`../shared/field/08-...`).
pub fn main_container(t: DaemonType) -> &'static str {
    match t {
        DaemonType::Mon => "mon",
        DaemonType::Mgr => "mgr",
        DaemonType::Osd => "osd",
        DaemonType::Mds => "mds",
        DaemonType::Rgw => "rgw",
        DaemonType::Nfs => "nfs-ganesha",
        DaemonType::Rbdmirror => "rbd-mirror",
        DaemonType::Cephfsmirror => "fs-mirror",
        DaemonType::Nvmeof => "nvmeof-gateway",
        DaemonType::Crashcollector => "ceph-crash",
        DaemonType::Exporter => "ceph-exporter",
    }
}

/// Sidecars to which Rook always gives `spec.cephVersion.image`, whatever the daemon:
/// `log-collector` (pkg/operator/ceph/controller/spec.go `LogCollectorContainer`), `ops-log`
/// (same file, `RgwOpsLogSidecarContainer`), `cmd-proxy` (cluster/mgr/spec.go
/// `makeCmdProxySidecarContainer`). The mgr's `watch-active` gets the operator image.
pub const CEPH_SIDECARS: [&str; 3] = ["log-collector", "ops-log", "cmd-proxy"];

/// NFS's dbus sidecar: Rook gives it the NFS image (`GetNFSImage`: `CephNFS.spec.server.image`,
/// else the Ceph image) and a `CONTAINER_IMAGE` that names that image, not Ceph's
/// (pkg/operator/ceph/nfs/spec.go `dbusContainer`, `k8sutil.ClusterDaemonEnvVars(r.GetNFSImage(nfs))`,
/// Rook v1.20+).
const NFS_DBUS: &str = "dbus-daemon";

/// The daemon type whose Deployments are named `rook-ceph-<type>-...` (or exactly so, as
/// `rook-ceph-fs-mirror`), for a pod known only by its Deployment's name.
pub fn type_of_deployment_name(name: &str) -> Option<DaemonType> {
    DaemonType::ALL.into_iter().find(|t| {
        let app = t.app_label();
        name == app || name.strip_prefix(app).is_some_and(|r| r.starts_with('-'))
    })
}

/// What Rook writes into a container's image (FACTS §4, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `spec.cephVersion.image`: the main container, Rook's Ceph sidecars. It runs Ceph
    /// whatever it runs now; another image there is a hand edit Rook reverts.
    Ceph,
    /// An image of its own, by design: the NVMe-oF gateway, NFS on `spec.server.image`.
    Own,
    /// Judged by its image: init containers, helpers, sidecars Rook's source does not name.
    ByImage,
}

/// Which containers of a daemon's pod run what, as Rook wrote them: the type, and whether
/// its NFS containers run an NFS image of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    dtype: Option<DaemonType>,
    nfs_own: bool,
}

impl Layout {
    /// For a Deployment (or a pod spec) of `dtype`: for NFS, the NFS image Rook wrote is
    /// what the dbus sidecar's `CONTAINER_IMAGE` names (else its image, for Rook before
    /// v1.20); NFS runs its own image when that is not a Ceph image of the cluster.
    fn of(dtype: Option<DaemonType>, containers: &[ContainerRecord], ceph: &CephSet) -> Layout {
        let nfs_own = dtype == Some(DaemonType::Nfs)
            && containers
                .iter()
                .find(|c| !c.init && &*c.name == NFS_DBUS)
                .and_then(|c| c.env().or(c.image()))
                .or_else(|| containers.iter().find(|c| !c.init && &*c.name == "nfs-ganesha").and_then(|c| c.image()))
                .is_some_and(|r| !ceph.contains(r));
        Layout { dtype, nfs_own }
    }

    fn role(&self, c: &ContainerRecord) -> Role {
        let Some(t) = self.dtype else { return Role::ByImage };
        if c.init {
            return Role::ByImage;
        }
        let name = &*c.name;
        match t {
            DaemonType::Nvmeof if name == main_container(t) => Role::Own,
            DaemonType::Nfs if name == main_container(t) || name == NFS_DBUS => {
                if self.nfs_own {
                    Role::Own
                } else {
                    Role::Ceph
                }
            }
            _ if name == main_container(t) || CEPH_SIDECARS.contains(&name) => Role::Ceph,
            _ => Role::ByImage,
        }
    }

    /// Rook gives its main container an image of its own (the NVMe-oF gateway, NFS on
    /// `CephNFS.spec.server.image`).
    fn main_runs_own(&self) -> bool {
        self.dtype == Some(DaemonType::Nvmeof) || (self.dtype == Some(DaemonType::Nfs) && self.nfs_own)
    }

    /// The main container, by Rook's name for it.
    fn main<'c>(&self, containers: &'c [ContainerRecord]) -> Option<&'c ContainerRecord> {
        let name = main_container(self.dtype?);
        containers.iter().find(|c| !c.init && &*c.name == name)
    }
}

/// The Ceph images a pod spec may run: the cluster's plus its own `CONTAINER_IMAGE`
/// values (not the NFS dbus sidecar's, which names the NFS image) and a fence's images.
struct CephSet<'a> {
    cluster: &'a BTreeSet<String>,
    own: BTreeSet<&'a str>,
}

impl<'a> CephSet<'a> {
    fn new(
        cluster: &'a BTreeSet<String>,
        containers: &'a [ContainerRecord],
        fence: Option<&'a Fence>,
        dtype: Option<DaemonType>,
    ) -> CephSet<'a> {
        let nfs_dbus = |c: &ContainerRecord| dtype == Some(DaemonType::Nfs) && !c.init && &*c.name == NFS_DBUS;
        let mut own: BTreeSet<&str> = containers.iter().filter(|c| !nfs_dbus(c)).filter_map(|c| c.env()).collect();
        if let Some(f) = fence {
            own.insert(&f.image);
            own.extend(f.replaced.as_deref());
        }
        CephSet { cluster, own }
    }

    fn contains(&self, image: &str) -> bool {
        !image.is_empty() && (self.cluster.contains(image) || self.own.contains(image))
    }
}

/// What runs Ceph in a pod spec: the containers the fence rewrites, the image of the
/// daemon's main Ceph container, every image and `CONTAINER_IMAGE` value the operator
/// would rewrite, the containers that run their own image on purpose, and a main
/// container moved by hand.
pub struct CephParts {
    pub containers: Vec<CephContainer>,
    pub main: Option<String>,
    pub images: Vec<String>,
    pub own_images: Vec<(String, String)>,
    pub moved_by_hand: Option<HandMoved>,
}

/// The image of the daemon's main container: by Rook's name for it (for one on an image of
/// its own, the Ceph image its `CONTAINER_IMAGE` names); where no container has that name,
/// the first main container that runs Ceph and carries the variable, else the first that
/// runs Ceph, else what the variable names.
fn main_of(containers: &[ContainerRecord], ceph: &CephSet, layout: Layout) -> Option<String> {
    if let Some(m) = layout.main(containers) {
        let image = match layout.role(m) {
            Role::Own => m.env().or(m.image()),
            _ => m.image().or(m.env()),
        };
        if image.is_some() {
            return image.map(str::to_string);
        }
    }
    let runs = |c: &ContainerRecord| c.image().is_some_and(|i| ceph.contains(i));
    let main = || containers.iter().filter(|c| !c.init);
    main()
        .find(|c| runs(c) && c.env.is_some())
        .or_else(|| main().find(|c| runs(c)))
        .and_then(|c| c.image().map(str::to_string))
        .or_else(|| main().find_map(|c| c.env().map(str::to_string)))
}

fn parts(containers: &[ContainerRecord], ceph: &CephSet, layout: Layout) -> CephParts {
    let mut out = CephParts { containers: vec![], main: None, images: vec![], own_images: vec![], moved_by_hand: None };
    let mut images = BTreeSet::new();
    for c in containers {
        let role = layout.role(c);
        let runs_ceph = match role {
            Role::Ceph => true,
            Role::Own => false,
            Role::ByImage => c.image().is_some_and(|i| ceph.contains(i)),
        };
        // An own-image container's variable is Ceph's (nfs-ganesha, nvmeof-gateway:
        // `DaemonEnvVars`) unless it names its own image (the NFS dbus sidecar).
        let has_env = c.env.is_some() && !(role == Role::Own && c.env() == c.image());
        if runs_ceph || has_env {
            out.containers.push(CephContainer { name: c.name.to_string(), init: c.init, has_env, runs_ceph });
        }
        if runs_ceph {
            images.extend(c.image());
        }
        if has_env {
            images.extend(c.env());
        }
        if role == Role::Own || (has_env && !runs_ceph) {
            out.own_images.push((c.name.to_string(), c.image().unwrap_or_default().to_string()));
        }
    }
    out.main = main_of(containers, ceph, layout);
    if let Some(m) = layout.main(containers)
        && layout.role(m) == Role::Ceph
        && let (Some(image), Some(env)) = (m.image(), m.env())
        && image != env
    {
        out.moved_by_hand = Some(HandMoved { container: m.name.to_string(), image: image.into(), rook: env.into() });
    }
    out.images = images.into_iter().map(str::to_string).collect();
    out
}

/// What runs Ceph in the pod spec of a `dtype` daemon, `ceph` being the cluster's Ceph images.
pub fn ceph_parts(spec: &PodSpec, ceph: &BTreeSet<String>, dtype: Option<DaemonType>) -> CephParts {
    let containers = container_records(spec, &mut Interner::default(), true);
    let set = CephSet { cluster: ceph, own: BTreeSet::new() };
    let layout = Layout::of(dtype, &containers, &set);
    parts(&containers, &set, layout)
}

/// The Ceph images a pod spec may run (see `CephSet`), as one set.
#[cfg(test)]
fn ceph_set(cluster: &BTreeSet<String>, spec: &PodSpec, fence: Option<&Fence>) -> BTreeSet<String> {
    let containers = container_records(spec, &mut Interner::default(), true);
    let set = CephSet::new(cluster, &containers, fence, None);
    set.cluster
        .iter()
        .map(String::as_str)
        .chain(set.own.iter().copied())
        .filter(|i| !i.is_empty())
        .map(str::to_string)
        .collect()
}

/// The image of a pod's (or pod template's) main Ceph container, judged by its own
/// `CONTAINER_IMAGE` values (and `also`) and, where known, by Rook's layout of `dtype`:
/// for following a rollout to a known image.
pub fn main_image(spec: &PodSpec, also: Option<&str>, dtype: Option<DaemonType>) -> Option<String> {
    let containers = container_records(spec, &mut Interner::default(), true);
    let also: BTreeSet<String> = also.map(str::to_string).into_iter().collect();
    let set = CephSet::new(&also, &containers, None, dtype);
    main_of(&containers, &set, Layout::of(dtype, &containers, &set))
}

/// Every Ceph image a pod template runs, judged as `main_image` is.
pub fn images(spec: &PodSpec, also: Option<&str>, dtype: Option<DaemonType>) -> Vec<String> {
    let containers = container_records(spec, &mut Interner::default(), true);
    let also: BTreeSet<String> = also.map(str::to_string).into_iter().collect();
    let set = CephSet::new(&also, &containers, None, dtype);
    parts(&containers, &set, Layout::of(dtype, &containers, &set)).images
}

fn fence_of(annotations: &BTreeMap<String, String>) -> Option<Fence> {
    Some(Fence {
        image: annotations.get(FENCE_IMAGE)?.clone(),
        replaced: annotations.get(FENCE_REPLACED).cloned(),
        at: annotations.get(FENCE_AT).cloned(),
    })
}

fn pod_model(p: PodRecord, ceph: &CephSet, layout: Layout) -> Pod {
    // Its main container on an image of its own: by Rook's name for it, else (a pod whose
    // containers are named otherwise, as trimmed dumps have them) the first main container
    // that carries a CONTAINER_IMAGE.
    let own_image = layout
        .main_runs_own()
        .then(|| layout.main(&p.containers).or_else(|| p.containers.iter().find(|c| !c.init && c.env.is_some())))
        .flatten()
        .and_then(|m| m.image())
        .map(str::to_string);
    Pod {
        image: main_of(&p.containers, ceph, layout),
        own_image,
        name: p.name,
        node: p.node.map(|n| n.to_string()),
        phase: p.phase.map_or_else(|| "Unknown".into(), |p| p.to_string()),
        ready: p.ready,
        terminating: p.terminating,
    }
}

/// `19.2.3` from a `ceph-version` label or `status.version` (`19.2.3-0`).
fn version_text(v: &str) -> Option<String> {
    crate::model::image::parse_version(v).map(|v| v.to_string())
}

/// Whether Rook's `ceph-version` label `label` (`19.2.3-0`) can describe `image`: not when
/// the image's tag names another build (`v19.2.3-hotfix.2`, `19.2.3.1` beside `19.2.3-0`).
fn label_describes(image: &str, label: &str) -> bool {
    use crate::model::image::{detected_build, tag_build};
    match (tag_build(image), detected_build(label)) {
        (Some(tag), Some(rook)) => tag.name == rook.name,
        _ => true,
    }
}

pub use crate::model::support::rook_version_key;

/// The snapshot the planner works on, from whole lists (see `classify_records`).
pub fn classify(cluster: Cluster, deployments: Vec<Deployment>, pods: Vec<WirePod>) -> Snapshot {
    let mut ds = DeploymentRecords::default();
    deployments.into_iter().for_each(|d| ds.add(d));
    let mut ps = PodRecords::default();
    pods.into_iter().for_each(|p| ps.add(p));
    classify_records(cluster, ds, ps)
}

/// The snapshot the planner works on: every Deployment of the cluster classified, pods
/// joined to their Deployment, one node identity, the versions Rook knows.
pub fn classify_records(cluster: Cluster, deployments: DeploymentRecords, pods: PodRecords) -> Snapshot {
    let known = cluster_images(&cluster);
    let DeploymentRecords { shared, items: deployments } = deployments;
    drop(shared);
    let PodRecords { shared, by_deployment: mut pods_by_deploy } = pods;
    drop(shared);
    let deployments_read = deployments.len();
    let mut daemons = Vec::new();
    let mut copies = Vec::new();
    let mut not_handled = Vec::new();
    // (app, id) of every labelled Deployment: Rook's skip set per type (FACTS §2, §6).
    let mut skip: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    if let (Some(i), Some(v)) = (&cluster.status_image, cluster.status_version.as_deref().and_then(version_text)) {
        versions.insert(i.clone(), v);
    }
    let mut rook_version: Option<String> = None;
    for d in deployments {
        let dtype = d.labels.get("app").and_then(|a| type_of_app(a)).map(|(t, _)| t);
        let ceph = CephSet::new(&known, &d.containers, d.fence.as_ref(), dtype);
        let layout = Layout::of(dtype, &d.containers, &ceph);
        let records = pods_by_deploy.remove(&d.name).unwrap_or_default();
        let mut pods: Vec<Pod> = records.into_iter().map(|p| pod_model(p, &ceph, layout)).collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        let labelled = d.labels.contains_key(DNR_LABEL);
        // The first of its nodes by name (`Daemon::nodes` has them all).
        let node = pods
            .iter()
            .filter(|p| p.replaced_by_rollout())
            .filter_map(|p| p.node.clone())
            .min()
            .or_else(|| pods.iter().find_map(|p| p.node.clone()));
        if let Some(app) = d.labels.get("app")
            && labelled
            && let Some((t, _)) = type_of_app(app)
            && let Some(id) = daemon_id(&d, t)
        {
            skip.entry((app.clone(), id)).or_insert_with(|| d.name.clone());
        }
        match kind(&d) {
            Kind::NotHandled(reason) => {
                not_handled.push(NotHandled { app: d.labels.get("app").cloned(), deployment: d.name, reason })
            }
            Kind::Copy { kind, of } => copies.push(Copy {
                kind,
                of,
                labelled,
                pods: pods.iter().filter(|p| p.replaced_by_rollout()).count(),
                node: node.or(d.hostname),
                deployment: d.name,
            }),
            Kind::Daemon { dtype, id, floating } => {
                let parts = parts(&d.containers, &ceph, layout);
                // The `ceph-version` label describes the image Rook last deployed (rook
                // pkg/operator/ceph/controller: `CephVersionLabelKey` from the cluster's
                // detected version as it writes the Deployment). It is not what runs after a
                // hand edit or a fence, nor on a held daemon that runs an image Rook does not
                // deploy (its image was changed while Rook left it alone), nor where the tag
                // names another build than the label. A staged upgrade's own hold changes no
                // image: the label still describes what it runs.
                let held = labelled && d.upgrade_hold.is_none();
                if d.fence.is_none()
                    && parts.moved_by_hand.is_none()
                    && let (Some(main), Some(v)) = (&parts.main, d.labels.get("ceph-version"))
                    && (!held || known.contains(main))
                    && label_describes(main, v)
                    && let Some(v) = version_text(v)
                {
                    versions.entry(main.clone()).or_insert(v);
                }
                if let Some(rv) = d.labels.get("rook-version")
                    && rook_version_key(rv) > rook_version.as_deref().and_then(rook_version_key)
                {
                    rook_version = Some(rv.clone());
                }
                // crash and exporter name their node in `node_name` (FACTS §6).
                let named_node = matches!(dtype, DaemonType::Crashcollector | DaemonType::Exporter)
                    .then(|| d.labels.get("node_name").cloned())
                    .flatten();
                daemons.push(Daemon {
                    id: DaemonId::new(dtype, id),
                    labelled,
                    label_holds: !floating,
                    held_by: None,
                    under_replacement: d.under_replacement,
                    node: node.or(named_node),
                    hostname: d.hostname,
                    replicas: d.replicas,
                    paused: d.paused,
                    rook_version: d.labels.get("rook-version").cloned(),
                    own_images: parts.own_images,
                    moved_by_hand: parts.moved_by_hand,
                    ceph_images: parts.images,
                    image: parts.main,
                    pods,
                    resource_version: d.resource_version.unwrap_or_default(),
                    ceph_containers: parts.containers,
                    fence: d.fence,
                    upgrade_hold: d.upgrade_hold,
                    deployment: d.name,
                    labels: d.labels,
                });
            }
        }
    }
    // Held by another Deployment's label: Rook looks up `app=<type app>` Deployments with
    // the label and skips every daemon whose id label matches (a maintenance copy holds
    // the real OSD; the floating mon's own label holds nothing).
    for d in &mut daemons {
        if let Some(by) = skip.get(&(d.id.dtype.app_label().to_string(), d.id.id.clone()))
            && *by != d.deployment
        {
            d.held_by = Some(by.clone());
        }
    }
    // One node identity: where a pod told the node name for a hostname label value, a
    // daemon with no pod on that node gets the name too.
    let names: BTreeMap<String, String> = daemons
        .iter()
        .filter_map(|d| Some((d.hostname.clone()?, d.pods.iter().find_map(|p| p.node.clone())?)))
        .collect();
    for d in &mut daemons {
        if d.node.is_none() {
            d.node = d.hostname.as_ref().map(|h| names.get(h).cloned().unwrap_or_else(|| h.clone()));
        }
    }
    daemons.sort_by(daemon_order);
    copies.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    not_handled.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    Snapshot { cluster, daemons, copies, not_handled, deployments_read, versions, rook_version }
}

#[cfg(test)]
mod tests;
