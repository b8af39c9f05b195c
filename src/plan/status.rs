//! The `status` view: per daemon type the desired image (base or override) and what its
//! pods run, held daemons, the versions Ceph reports, and warnings. Pure: snapshot in,
//! view out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::{ImageSource, Snapshot};
use crate::plan::{Warning, held_now};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageCount {
    pub image: String,
    pub pods: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TypeStatus {
    #[serde(rename = "type")]
    pub dtype: DaemonType,
    pub desired_image: String,
    pub source: ImageSource,
    pub daemons: usize,
    /// Pods in phase Running (not terminating).
    pub pods: usize,
    pub ready_pods: usize,
    /// Pods that exist but do not run: Pending, Failed, Unknown or terminating.
    pub not_running_pods: usize,
    /// Images the running pods run now, most used first.
    pub running: Vec<ImageCount>,
    pub held: usize,
    pub fenced: usize,
    /// Daemons whose Deployment differs from the desired image (a hand edit, an old hold),
    /// held ones included: they restart at the operator's next reconcile, or when resumed.
    /// Fenced ones are counted under `fenced`.
    pub drifted: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeldDaemon {
    pub daemon: String,
    pub deployment: String,
    /// Its first node (`nodes[0]`).
    pub node: Option<String>,
    /// Every node one of its pods runs on (an RGW of several instances has several).
    pub nodes: Vec<String>,
    /// The image its main container runs, and the Ceph build of that image as `ceph
    /// versions` tells them apart (`19.2.3`, `19.2.3-hotfix.2`: its tag, else what Rook
    /// detected for it; `Snapshot::build_of`). Never the Deployment's `ceph-version` label
    /// where that describes another image than runs (a hand edit, a held daemon moved).
    pub image: Option<String>,
    pub version: Option<String>,
    pub reason: String,
}

/// A Deployment this plugin pinned with `--strategy fence`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FencedDaemon {
    pub daemon: String,
    pub deployment: String,
    /// Its first node (`nodes[0]`).
    pub node: Option<String>,
    /// Every node one of its pods is on.
    pub nodes: Vec<String>,
    /// What the fence pinned, and what the Deployment ran before.
    pub image: String,
    pub replaced_image: Option<String>,
    pub fenced_at: Option<String>,
    /// `3d4h`, `2h10m`, `5m`: since `fencedAt`.
    pub age: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub namespace: String,
    pub cluster: String,
    /// `spec.external.enable`: Rook runs no mon, mgr or osd here.
    pub external: bool,
    /// The newest `rook-version` label of the daemon Deployments (`v1.20.6`).
    pub rook_version: Option<String>,
    /// `status.ceph.health`.
    pub health: Option<String>,
    /// `status.ceph.lastChecked`, as Rook wrote it (RFC 3339).
    pub health_checked: Option<String>,
    /// Seconds since `health_checked`.
    pub health_age_seconds: Option<i64>,
    /// `status.ceph.details`: Ceph's health checks, code, severity and message.
    pub health_checks: Vec<crate::model::HealthCheck>,
    /// Rook's own rollout of the spec image in flight: daemons that follow it, and how many
    /// run it. Null when every one runs it (or Rook's reconcile is held, or external).
    pub rook_rollout: Option<crate::model::RookRollout>,
    /// Rook's `status.phase`, `status.state` and `status.message`.
    pub phase: Option<String>,
    pub state: Option<String>,
    pub message: Option<String>,
    /// Controller owners and Helm/Flux/Argo CD markers on the CephCluster.
    pub managers: Vec<crate::model::Manager>,
    pub base_image: String,
    pub image_overrides: BTreeMap<String, String>,
    /// The CephCluster carries do-not-reconcile (mon/mgr/osd reconcile skipped).
    pub cluster_held: bool,
    /// `status.version` as Rook detected it.
    pub detected_image: Option<String>,
    pub detected_version: Option<String>,
    pub types: Vec<TypeStatus>,
    pub held: Vec<HeldDaemon>,
    pub fenced: Vec<FencedDaemon>,
    /// `status.ceph.versions`, as `ceph versions` reports.
    pub ceph_versions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Deployments read (`rook_cluster=<ns>`): daemons + copies + notHandled.
    pub deployments_read: usize,
    /// Copies of daemons that are not daemons (canaries, maintenance copies).
    pub copies: Vec<crate::model::Copy>,
    /// Deployments the plugin does not plan for, with the reason.
    pub not_handled: Vec<crate::model::NotHandled>,
    pub warnings: Vec<Warning>,
    /// Does the CephCluster CRD have `spec.cephVersion.imageOverrides` (a Rook that takes
    /// per-type overrides)? false: released Rook (the fence is the way); null: the CRD could
    /// not be read (`crd_unreadable` says why).
    pub crd_image_overrides: Option<bool>,
    /// Why the CRD could not be read (text output only).
    #[serde(skip)]
    pub crd_unreadable: Option<String>,
    /// A staged upgrade under way (`upgrade status` has the whole of it): null when none.
    pub upgrade: Option<UpgradeUnderWay>,
    /// Daemons that should run and have no pod Running and Ready, by the node they are on
    /// (a NotReady node leaves its pods Unknown, Terminating or Pending).
    pub not_running: Vec<crate::plan::down::NotRunning>,
    /// What Ceph itself answered when asked in the operator pod (`ceph health detail`,
    /// `ceph versions`), or why it could not be asked; null when it was not tried.
    pub ceph: Option<crate::model::ceph::CephAnswer>,
}

/// What `status` says of a staged upgrade: its target, phase and stage, from the
/// CephCluster's `kubectl-ceph-image/upgrade` annotation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpgradeUnderWay {
    pub image: String,
    pub phase: String,
    pub stage: String,
}

pub fn view(snap: &Snapshot, now: jiff::Timestamp) -> StatusView {
    let c = &snap.cluster;
    let held = held_now(snap);
    let mut types = Vec::new();
    let mut held_list = Vec::new();
    let mut fenced_list = Vec::new();
    let mut warnings = Vec::new();
    for t in DaemonType::ALL {
        let ds: Vec<(usize, &crate::model::Daemon)> =
            snap.daemons.iter().enumerate().filter(|(_, d)| d.id.dtype == t).collect();
        if ds.is_empty() {
            continue;
        }
        let (desired, source) = c.desired_image(t);
        let mut running: BTreeMap<String, usize> = BTreeMap::new();
        let (mut pods, mut ready, mut nheld, mut nfenced, mut drifted, mut not_running) = (0, 0, 0, 0, 0, 0);
        let mut held_drifted = 0;
        for (i, d) in &ds {
            for p in &d.pods {
                if !p.running() {
                    not_running += 1;
                    continue;
                }
                pods += 1;
                ready += p.ready as usize;
                // What the main container runs: an NFS server on its own image runs that, not
                // the Ceph image its CONTAINER_IMAGE names.
                *running.entry(p.runs().unwrap_or("?").to_string()).or_default() += 1;
            }
            if let Some(f) = &d.fence {
                nfenced += 1;
                fenced_list.push(FencedDaemon {
                    daemon: d.id.to_string(),
                    deployment: d.deployment.clone(),
                    node: d.node.clone(),
                    nodes: d.nodes(),
                    image: f.image.clone(),
                    replaced_image: f.replaced.clone(),
                    fenced_at: f.at.clone(),
                    age: crate::model::support::secs_since(f.at.as_deref(), now).map(crate::model::support::age_text),
                });
            } else {
                // A held daemon on another image is drift too: it moves when resumed.
                if !d.ceph_images.is_empty() && d.differs_from(desired) {
                    drifted += 1;
                    held_drifted += held[*i].is_some() as usize;
                }
                if let Some(reason) = &held[*i] {
                    nheld += 1;
                    held_list.push(HeldDaemon {
                        daemon: d.id.to_string(),
                        deployment: d.deployment.clone(),
                        node: d.node.clone(),
                        nodes: d.nodes(),
                        // The build, as status.ceph.versions tells them apart (a hotfix
                        // of the release is a version of its own to Ceph).
                        version: d.image.as_deref().and_then(|i| snap.build_of(i)).map(|b| b.to_string()),
                        image: d.image.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            if let Some(h) = &d.moved_by_hand {
                let runs = snap.version_of(&h.image).map_or_else(String::new, |v| format!(" (Ceph {v})"));
                let back = match (snap.version_of(&h.image), snap.version_of(desired)) {
                    (Some(from), Some(to)) if to < from => format!(
                        ": a downgrade from {from} to {to}, and a Ceph daemon once upgraded cannot be downgraded"
                    ),
                    _ => String::new(),
                };
                let when = if held[*i].is_some() {
                    "it is held, so Rook leaves it until it is resumed; the first reconcile after that moves it back"
                } else {
                    "Rook's next reconcile moves it back"
                };
                // The way to keep it: a Ceph image can be the type's; an NFS server's own
                // image belongs in CephNFS.spec.server.image (rook nfs/spec.go GetNFSImage).
                let keep = if t == DaemonType::Nfs && snap.version_of(&h.image).is_none() {
                    "; to run it on purpose, set it as the CephNFS's spec.server.image".to_string()
                } else if snap.version_of(&h.image).is_some() {
                    format!(
                        "; to keep it where it is, make its image the desired one ({}) before it is reconciled",
                        c.keep_advice(t, &h.image, held[*i].is_some().then(|| d.id.to_string()).as_deref())
                    )
                } else {
                    String::new()
                };
                warnings.push(Warning {
                    code: "moved-by-hand",
                    message: format!(
                        "{}: its {} container was moved by hand to {}{runs}, while Rook wrote {} (its \
                         CONTAINER_IMAGE): {when} to {desired}{back}{keep}",
                        d.id, h.container, h.image, h.rook
                    ),
                });
            }
        }
        let mut running: Vec<ImageCount> =
            running.into_iter().map(|(image, pods)| ImageCount { image, pods }).collect();
        running.sort_by(|a, b| b.pods.cmp(&a.pods).then(a.image.cmp(&b.image)));
        if drifted > 0 {
            let when = match (drifted - held_drifted, held_drifted) {
                (_, 0) => "they restart at the operator's next reconcile".to_string(),
                (0, 1) => "it is held, so it restarts when resumed and reconciled".to_string(),
                (0, _) => "all are held, so they restart when resumed and reconciled".to_string(),
                (_, h) => format!(
                    "{h} of them held (they restart when resumed and reconciled), the others restart at the \
                     operator's next reconcile"
                ),
            };
            warnings.push(Warning {
                code: "drift",
                message: format!("{drifted} {t} daemon(s) differ from the desired image {desired}: {when}"),
            });
        }
        types.push(TypeStatus {
            dtype: t,
            desired_image: desired.to_string(),
            source,
            daemons: ds.len(),
            pods,
            ready_pods: ready,
            not_running_pods: not_running,
            running,
            held: nheld,
            fenced: nfenced,
            drifted,
        });
    }
    for d in &snap.daemons {
        if d.labelled && d.id.dtype.hold_scope() == HoldScope::NotHonoured {
            warnings.push(Warning {
                code: "label-ignored",
                message: format!("{} is labeled, but Rook ignores the label on {} Deployments", d.id, d.id.dtype),
            });
        }
        if d.labelled && d.id.dtype.hold_scope() == HoldScope::Ineffective {
            warnings.push(Warning {
                code: "mds-ineffective",
                message: format!("{} is labeled, but the mds label does not take effect on current Rook", d.id),
            });
        }
        if d.under_replacement {
            warnings.push(Warning {
                code: "osd-replacement",
                message: format!("{} is being replaced (osd.rook.io/replace*); Rook holds it", d.id),
            });
        }
    }
    warnings.extend(snap.duplicate_warnings(&[]));
    // `kubectl rollout pause`: the Deployment controller rolls out no template change.
    let paused: Vec<&str> = snap.daemons.iter().filter(|d| d.paused).map(|d| d.deployment.as_str()).collect();
    if let Some(first) = paused.first() {
        warnings.push(Warning {
            code: "rollout-paused",
            message: format!(
                "{} paused with kubectl rollout pause: no change of the pod template rolls out while paused (a \
                 fence leaves {} out), and Rook's own update of the Deployment clears the pause; resume with \
                 kubectl rollout resume deployment/{first} -n {}",
                paused.join(", "),
                if paused.len() == 1 { "it" } else { "them" },
                c.namespace
            ),
        });
    }
    // A spec image that floats: each node pulls whatever its tag points to when a daemon
    // restarts, so daemons restarted apart may run different builds.
    let specs = std::iter::once(("spec.cephVersion.image".to_string(), &c.base_image))
        .chain(c.overrides.iter().map(|(t, i)| (format!("the {t} override"), i)));
    for (what, image) in specs.filter(|(_, i)| crate::model::support::floats(i)) {
        warnings.push(Warning {
            code: "floating-image",
            message: format!(
                "{what} is {image}, which names no fixed release (no tag, :latest, or a tag with no X.Y.Z such as \
                 v19 or main, and no digest): each node pulls whatever it is when a daemon restarts, so daemons \
                 restarted apart may run different builds; name a full version+build tag (v19.2.3-20250717) or a \
                 digest"
            ),
        });
    }
    if !fenced_list.is_empty() {
        let types: std::collections::BTreeSet<String> =
            snap.daemons.iter().filter(|d| d.fence.is_some()).map(|d| d.id.dtype.to_string()).collect();
        warnings.push(Warning {
            code: "fenced",
            message: format!(
                "{} daemon(s) are fenced by this plugin and miss the operator's updates until unfenced \
                 (`kubectl ceph-image unset {} --strategy fence`)",
                fenced_list.len(),
                types.into_iter().collect::<Vec<_>>().join("|")
            ),
        });
    }
    if snap.daemons.iter().any(|d| d.labelled && d.id.dtype == DaemonType::Mon) {
        warnings.push(Warning {
            code: "mon-failover",
            message: "a mon is labeled: Rook's mon health checks and failover are stopped for the whole cluster".into(),
        });
    }
    if let Some(overall) = c.ceph_versions.get("overall")
        && overall.len() > 1
    {
        warnings.push(Warning {
            code: "mixed-versions",
            message: format!(
                "Ceph reports {} versions running: Rook treats every reconcile as an upgrade while versions are mixed",
                overall.len()
            ),
        });
    }
    if c.external {
        warnings.push(Warning {
            code: "external-cluster",
            message: "this CephCluster connects to an external Ceph cluster (spec.external.enable): Rook runs no \
                      mon, mgr or osd here, so their images are the external cluster's business; only the daemons \
                      Rook runs here (e.g. rgw, mds, nfs) follow this CephCluster's images"
                .into(),
        });
    }
    for m in &c.managers {
        warnings.push(if m.controller {
            Warning {
                code: "owned",
                message: format!(
                    "the CephCluster is controlled by {} {}: it writes the spec back, so image changes belong \
                     there (set/unset refuse without --force)",
                    m.tool, m.name
                ),
            }
        } else {
            Warning {
                code: "managed-elsewhere",
                message: format!(
                    "the CephCluster is managed by {}{}: change images in its source, or its next sync undoes them",
                    m.tool,
                    if m.name.is_empty() { String::new() } else { format!(" ({})", m.name) }
                ),
            }
        });
    }
    for d in snap.daemons.iter().filter(|d| d.labelled && !d.label_holds) {
        warnings.push(Warning {
            code: "label-ignored",
            message: format!(
                "{} ({}) is labeled, but the floating mon's label holds nothing: Rook's skip query selects \
                 app=rook-ceph-mon",
                d.id, d.deployment
            ),
        });
    }
    // HEALTH_ERR speaks for itself in the header; absent or stale health is said here.
    if !c.external
        && let Some(why) =
            crate::model::support::health_blocks(c.health.as_deref(), c.rook.last_checked.as_deref(), now)
                .filter(|_| c.health.as_deref() != Some("HEALTH_ERR"))
    {
        warnings.push(Warning {
            code: "health-stale",
            message: format!("{why}: `upgrade` starts no stage until it is fresh, and plans read it as it was then"),
        });
    }
    let not_running = crate::plan::down::not_running_by_node(snap);
    let down: Vec<String> = not_running.iter().filter(|g| g.node_down).map(|g| g.node.clone()).collect();
    if !down.is_empty() {
        warnings.push(Warning {
            code: "node-down",
            message: crate::output::clean(&format!(
                "node(s) {} look down (no daemon pod there Running and Ready): their daemons cannot run there until \
                 the node is back; a fence or staged upgrade restarts nothing of another failure domain meanwhile",
                crate::output::some_of(&down, 4, 3, ", ", |n| format!(" and {n} more"))
            ))
            .into_owned(),
        });
    }
    StatusView {
        not_running,
        ceph: None,
        namespace: c.namespace.clone(),
        cluster: c.name.clone(),
        external: c.external,
        rook_version: snap.rook_version.clone(),
        health: c.health.clone(),
        health_checked: c.rook.last_checked.clone(),
        health_age_seconds: crate::model::support::secs_since(c.rook.last_checked.as_deref(), now),
        health_checks: c.rook.health_checks.clone(),
        rook_rollout: snap.rook_rollout().filter(|r| r.on_target < r.total),
        phase: c.rook.phase.clone(),
        state: c.rook.state.clone(),
        message: c.rook.message.clone(),
        managers: c.managers.clone(),
        deployments_read: snap.deployments_read,
        copies: snap.copies.clone(),
        not_handled: snap.not_handled.clone(),
        base_image: c.base_image.clone(),
        image_overrides: c.overrides.clone(),
        cluster_held: c.held,
        detected_image: c.status_image.clone(),
        detected_version: c.status_version.clone(),
        types,
        held: held_list,
        fenced: fenced_list,
        ceph_versions: c.ceph_versions.clone(),
        warnings,
        crd_image_overrides: None,
        crd_unreadable: None,
        upgrade: c
            .upgrade
            .as_deref()
            .and_then(|s| serde_json::from_str::<crate::plan::upgrade::State>(s).ok())
            .map(|st| UpgradeUnderWay { image: st.params.image, phase: st.phase, stage: st.stage }),
    }
}
