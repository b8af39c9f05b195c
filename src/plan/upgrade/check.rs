//! `upgrade check IMAGE` (issue 23 item 6): every blocker and risk of an upgrade to IMAGE,
//! each with a stable `code`, a one-line `message` and a one-line `fix`, from what the
//! cluster shows (a `Snapshot`), what Ceph answered (`CephAnswer`, when it could be asked),
//! the toolbox pods and the time. Pure: no I/O. The same findings head every `upgrade
//! IMAGE` plan (`UpgradePlan::check`).
//!
//! Blockers are what stops the upgrade (this plugin's refusals and preflight, Rook's own
//! gates: `cluster/version.go` refuses on anything but HEALTH_OK/HEALTH_WARN and a release
//! it does not support) or what must not be done (a known-bad release). Warnings are risks
//! the upgrade goes through. Each code is in [`CHECK_CODES`] and the README's table.

use crate::model::ceph::CephAnswer;
use crate::model::daemon::DaemonType;
use crate::model::image::CephVersion;
use crate::model::support::{self, CHILD_RECONCILE_ALLOWS, HealthCheck};
use crate::model::{DNR_LABEL, Snapshot};
use crate::output::clean;

pub use super::types::{Finding, Findings};

/// Every code [`check`] emits, each in the README's table of upgrade check codes.
pub const CHECK_CODES: &[&str] = &[
    "floating-image",
    "downgrade",
    "major-jump",
    "unsupported-release",
    "known-bad-release",
    "external-cluster",
    "rook-too-old",
    "cluster-held",
    "owned",
    "upgrade-under-way",
    "rook-rollout",
    "health-err",
    "health-stale",
    "cephx-key-type",
    "node-down",
    "daemons-down",
    "skip-upgrade-checks",
    "continue-if-unhealthy",
    "healthy-pgs",
    "osd-max-updates",
    "health-warn",
    "ceph-not-asked",
    "cephx-boundary",
    "end-of-life",
    "allow-unsupported",
    "rgw-order",
    "toolbox-image",
    "rollout-paused",
    "managed-elsewhere",
];

/// A pod of the toolbox (`app=rook-ceph-tools` in the cluster's namespace): its name, its
/// Deployment (None: a bare pod) and the image of its `rook-ceph-tools` container (else its
/// first container).
#[derive(Debug, Clone, PartialEq)]
pub struct Toolbox {
    pub pod: String,
    pub deployment: Option<String>,
    pub image: String,
}

/// Rook's default `disruptionManagement.pgHealthyRegex` (`pkg/apis/ceph.rook.io/v1/types.go`).
pub const DEFAULT_PG_HEALTHY_REGEX: &str = r"^active(\+(clean|deep|scrubbing|snaptrim|snaptrim_wait))+$";

/// The cephx AES256K boundary (CVE-2025-30156): Ceph 19.2.6, 20.2.4 and 21.2.0 on raise
/// AUTH_INSECURE_SERVICE_KEY_TYPE at HEALTH_ERR while a daemon key is still `aes` (FACTS §7).
pub fn aes256k(v: CephVersion) -> bool {
    match v.major {
        19 => (v.minor, v.patch) >= (2, 6),
        20 => (v.minor, v.patch) >= (2, 4),
        m => m >= 21,
    }
}

/// The cephx health codes Ceph raises for `aes` keys past the boundary.
const CEPHX_CODES: [&str; 3] =
    ["AUTH_INSECURE_SERVICE_KEY_TYPE", "AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE", "AUTH_INSECURE_SERVICE_TICKETS"];

/// Every blocker and risk of upgrading the cluster of `snap` to `image` at `now`. `ceph`:
/// what Ceph answered (`asked: false` says why it could not be asked); None where the
/// caller did not ask (then Rook's `status.ceph` is the only source, and nothing says so).
/// `toolbox`: the toolbox pods (None: not read).
pub fn check(
    snap: &Snapshot,
    ceph: Option<&CephAnswer>,
    toolbox: Option<&[Toolbox]>,
    image: &str,
    now: jiff::Timestamp,
) -> Findings {
    let mut f = Findings::default();
    let c = &snap.cluster;
    let (ns, name) = (clean(&c.namespace).into_owned(), clean(&c.name).into_owned());
    let img = clean(image).into_owned();
    let patch = |field: &str, value: &str| {
        format!("kubectl -n {ns} patch cephcluster {name} --type merge -p '{{\"spec\":{{{field}:{value}}}}}'")
    };
    let block = |f: &mut Findings, code, message: String, fix: String| f.blockers.push(Finding { code, message, fix });
    let risk = |f: &mut Findings, code, message: String, fix: String| f.warnings.push(Finding { code, message, fix });

    // --- The target release.
    let to = snap.version_of(image);
    if support::floats(image) {
        block(
            &mut f,
            "floating-image",
            format!("{img} names no fixed release: each node pulls whatever it points to when its daemon restarts"),
            "name a full version+build tag (quay.io/ceph/ceph:v20.2.4-20261001) or a digest".into(),
        );
    }
    let running: Vec<(DaemonType, CephVersion)> = snap
        .daemons
        .iter()
        .filter(|d| d.replicas != Some(0))
        .filter_map(|d| Some((d.id.dtype, d.image.as_deref().and_then(|i| snap.version_of(i))?)))
        .collect();
    if let Some(to) = to {
        if let Some(newest) = running.iter().map(|(_, v)| *v).max().filter(|n| *n > to) {
            let n = running.iter().filter(|(_, v)| *v > to).count();
            block(
                &mut f,
                "downgrade",
                format!(
                    "{img} is Ceph {to}, older than the {newest} that {n} daemon(s) run: a daemon once upgraded cannot be downgraded"
                ),
                format!("name Ceph {newest} or newer"),
            );
        }
        // An upgrade may skip at most one major release (FACTS §5: Reef 18 or Squid 19 to
        // Tentacle 20)
        if let Some(oldest) = running.iter().map(|(_, v)| *v).min().filter(|o| to.major > o.major + 2) {
            block(
                &mut f,
                "major-jump",
                format!(
                    "{img} is Ceph {to} ({}), which skips more than one major release past the {oldest} ({}) still running: an upgrade may skip at most one",
                    to.release(),
                    oldest.release()
                ),
                format!(
                    "upgrade to the latest {} {} release first, then to {img}",
                    capital(oldest.major + 2),
                    oldest.major + 2
                ),
            );
        }
        if (to.major, to.minor, to.patch) == (20, 2, 0) {
            block(
                &mut f,
                "known-bad-release",
                "Ceph 20.2.0 is not to be used: data corruption with read affinity (rook/rook#16839)".into(),
                "name a later Tentacle release (20.2.4 or newer also carries the cephx fix)".into(),
            );
        }
        if to.major <= 19 {
            risk(
                &mut f,
                "end-of-life",
                format!("Ceph {} ({to}) is at or past its end of life: no further fixes", capital(to.major)),
                "plan the next step to Tentacle 20 (20.2.4 or newer) once this one is done".into(),
            );
        }
    }
    let rook = snap.rook_version.as_deref();
    let supported = support::image_refusal(image, to, rook, false);
    match support::image_refusal(image, to, rook, c.allow_unsupported) {
        Some(why) => {
            let umbrella = to.map(|v| v.major).or(support::named_major(image)) == Some(21);
            let fix = if why.contains("whatever") {
                "name a release this Rook runs, or upgrade Rook first".to_string()
            } else if umbrella {
                format!(
                    "upgrade Rook to a release that supports Umbrella 21 first, or allow it (not for production): {}",
                    patch("\"cephVersion\"", "{\"allowUnsupported\":true}")
                )
            } else {
                format!(
                    "upgrade Rook to a release that supports it first, or: {}",
                    patch("\"cephVersion\"", "{\"allowUnsupported\":true}")
                )
            };
            block(
                &mut f,
                "unsupported-release",
                format!(
                    "{} (Rook's version check, cluster/version.go, stops its reconcile: nothing moves)",
                    clean(&why)
                ),
                fix,
            );
        }
        None if supported.is_some() => risk(
            &mut f,
            "allow-unsupported",
            format!(
                "Rook {} runs {img} only because spec.cephVersion.allowUnsupported is true: a release it was not tested with",
                clean(rook.unwrap_or("?"))
            ),
            "prefer a Rook that supports this release; keep allowUnsupported only as long as needed".into(),
        ),
        None => {}
    }

    // --- What this plugin's staged upgrade refuses.
    if c.external {
        block(
            &mut f,
            "external-cluster",
            format!("CephCluster {ns}/{name} is external: Rook runs no mon, mgr or osd here"),
            "upgrade the Ceph cluster where it runs".into(),
        );
    }
    if snap.rook_release().is_some_and(|r| r < (1, 19)) {
        block(
            &mut f,
            "rook-too-old",
            format!(
                "Rook {} has no CephCluster-level do-not-reconcile label, which the staged upgrade releases its stages with",
                clean(rook.unwrap_or("?"))
            ),
            "upgrade Rook to v1.19 or newer first".into(),
        );
    }
    if c.held && !c.upgrade_reconcile {
        block(
            &mut f,
            "cluster-held",
            format!("the CephCluster carries {DNR_LABEL}: Rook reconciles no mon, mgr or osd while it does"),
            "kubectl ceph-image resume cluster".into(),
        );
    }
    for m in &c.managers {
        let who = format!("{} {}", clean(&m.tool), clean(&m.name));
        if m.controller {
            block(
                &mut f,
                "owned",
                format!(
                    "the CephCluster is controlled by {who}: it writes its spec back, undoing the upgrade's writes half way"
                ),
                format!("upgrade through {} (ODF: its own upgrade), not on the CephCluster", clean(&m.tool)),
            );
        } else {
            risk(
                &mut f,
                "managed-elsewhere",
                format!(
                    "the CephCluster is managed by {who}: its next sync writes spec.cephVersion.image back (a chart default there turns a chart bump into an unplanned Ceph upgrade)"
                ),
                format!(
                    "set the image to {img} in its source (Helm: cephClusterSpec.cephVersion.image in the values) and pause its sync during the upgrade"
                ),
            );
        }
    }
    upgrade_under_way(snap, image, &mut f);
    if let Some(r) = snap.rook_rollout().filter(|r| r.on_target < r.total) {
        block(
            &mut f,
            "rook-rollout",
            format!(
                "Rook is rolling out {} now: {} of {} daemon(s) that follow the spec image run it",
                clean(&r.image),
                r.on_target,
                r.total
            ),
            "let Rook finish (`kubectl ceph-image status` follows it), or `kubectl ceph-image pause cluster` and choose"
                .into(),
        );
    }

    // --- Health: Ceph's own answer when it could be asked, else Rook's status.ceph.
    health(snap, ceph, now, &mut f);

    // --- Daemons down, nodes NotReady (from the pods: the plugin reads no Node objects).
    for n in crate::plan::down::not_running_by_node(snap) {
        let daemons = crate::output::some_of(&n.daemons, 6, 5, ", ", |k| format!(" and {k} more"));
        let core = n.daemons.iter().any(|d| d.starts_with("osd.") || d.starts_with("mon."));
        let node = clean(&n.node).into_owned();
        if n.node_down {
            block(
                &mut f,
                "node-down",
                format!(
                    "node {node} looks NotReady (its pods Unknown or none serving): {} do not run",
                    clean(&daemons)
                ),
                format!("bring {node} back (`kubectl get node {node}`), or remove its OSDs for good, before upgrading"),
            );
        } else {
            // a daemon whose pod is on no node (Pending, unscheduled) has no node to list by
            let placed = !n.node.starts_with('(');
            let message = match placed {
                true => format!("{} on node {node} do not run (no pod Running and Ready)", clean(&daemons)),
                false => format!("{} do not run and are on no node (no pod scheduled)", clean(&daemons)),
            };
            let fix = match placed {
                true => format!(
                    "get them Running and Ready first: `kubectl -n {ns} get pods -o wide --field-selector spec.nodeName={node}`"
                ),
                false => format!(
                    "get them scheduled and Ready first: `kubectl -n {ns} get pods --field-selector status.phase=Pending` and \
                     `kubectl -n {ns} describe pod POD` say why not"
                ),
            };
            if core { block(&mut f, "daemons-down", message, fix) } else { risk(&mut f, "daemons-down", message, fix) }
        }
    }

    // --- Rook's knobs.
    let k = &c.knobs;
    if c.skip_upgrade_checks {
        risk(
            &mut f,
            "skip-upgrade-checks",
            "!! spec.skipUpgradeChecks is true: Rook skips its own upgrade checks: it upgrades on HEALTH_ERR, asks Ceph no ok-to-stop for any daemon and updates OSDs one at a time (cluster/version.go, osd/update.go); often left set after the autumn-2026 wave".into(),
            patch("\"skipUpgradeChecks\"", "false"),
        );
    }
    if k.continue_upgrade_after_checks_even_if_not_healthy {
        let wait = k.wait_timeout_for_healthy_osd_minutes.unwrap_or(10);
        risk(
            &mut f,
            "continue-if-unhealthy",
            format!(
                "spec.continueUpgradeAfterChecksEvenIfNotHealthy is true: Rook restarts an OSD Ceph does not call ok-to-stop after waitTimeoutForHealthyOSDInMinutes ({wait} min), and mgr, RGW and MDS at once (osd/update.go, mgr/mgr.go)"
            ),
            patch("\"continueUpgradeAfterChecksEvenIfNotHealthy\"", "false"),
        );
    }
    if k.upgrade_osd_requires_healthy_pgs {
        let regex = k.pg_healthy_regex.as_deref().unwrap_or(DEFAULT_PG_HEALTHY_REGEX);
        if c.skip_upgrade_checks {
            risk(
                &mut f,
                "healthy-pgs",
                "spec.upgradeOSDRequiresHealthyPGs is true but ignored: skipUpgradeChecks is true too (osd/update.go)"
                    .into(),
                patch("\"skipUpgradeChecks\"", "false"),
            );
        } else if regex != DEFAULT_PG_HEALTHY_REGEX {
            risk(
                &mut f,
                "healthy-pgs",
                format!(
                    "Rook waits before each OSD batch until every PG matches the custom pgHealthyRegex {}: a state it never matches stalls Rook's OSD updates",
                    clean(regex)
                ),
                "check that `ceph pg stat` shows only states it matches, or remove spec.disruptionManagement.pgHealthyRegex".into(),
            );
        }
    }
    if let Some(n) = k.osd_max_updates_in_parallel.filter(|n| *n > 20) {
        risk(
            &mut f,
            "osd-max-updates",
            format!(
                "spec.storage.osdMaxUpdatesInParallel is {n}: Rook stops up to {n} OSDs of one failure domain at once, and this plugin's OSD batches default to it (--max-unavailable)"
            ),
            "pass --max-unavailable with the number of OSDs your PGs can lose at once, or lower the knob".into(),
        );
    }

    cephx(snap, ceph, image, to, &running, toolbox, &mut f);

    // --- The `profile rgw` order rule: no RGW ahead of the OSDs (ceph PR #70538, rook #18305).
    let oldest_osd = running.iter().filter(|(t, _)| *t == DaemonType::Osd).map(|(_, v)| *v).min();
    let newest_rgw = running.iter().filter(|(t, _)| *t == DaemonType::Rgw).map(|(_, v)| *v).max();
    if let (Some(osd), Some(rgw)) = (oldest_osd, newest_rgw)
        && rgw > osd
    {
        risk(
            &mut f,
            "rgw-order",
            format!("RGWs run Ceph {rgw} while OSDs still run {osd}: OSDs older than the mons read RGW keys with `profile rgw` as no caps (ceph PR #70538, rook #18305)"),
            "move the OSDs first (the staged upgrade does: OSD batches before any RGW); hold the RGWs meanwhile: `kubectl ceph-image pause rgw.STORE`".into(),
        );
    }

    // --- Deployments paused by `kubectl rollout pause`.
    let paused: Vec<String> =
        snap.daemons.iter().filter(|d| d.paused).map(|d| clean(&d.deployment).into_owned()).collect();
    if !paused.is_empty() {
        risk(
            &mut f,
            "rollout-paused",
            format!(
                "{} paused by `kubectl rollout pause`: Rook's write in its stage clears the pause, so it restarts then",
                crate::output::some_of(&paused, 6, 5, ", ", |k| format!(" and {k} more"))
            ),
            format!(
                "`kubectl -n {ns} rollout resume deploy/NAME` now, or keep it where it is with `kubectl ceph-image pause ID`"
            ),
        );
    }
    f
}

/// `squid` as `Squid`, by major.
fn capital(major: u32) -> String {
    let r = CephVersion { major, minor: 0, patch: 0 }.release();
    let mut c = r.chars();
    c.next().map(|x| x.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A staged upgrade of this plugin's, recorded on the CephCluster and not aborted.
fn upgrade_under_way(snap: &Snapshot, image: &str, f: &mut Findings) {
    let Some(text) = snap.cluster.upgrade.as_deref() else { return };
    let Ok(st) = serde_json::from_str::<super::State>(text) else {
        f.blockers.push(Finding {
            code: "upgrade-under-way",
            message: format!(
                "the CephCluster's {} annotation is not an upgrade state this plugin wrote",
                crate::model::UPGRADE_STATE
            ),
            fix: format!(
                "remove it if no upgrade is under way: kubectl annotate cephcluster {} {}-",
                clean(&snap.cluster.name),
                crate::model::UPGRADE_STATE
            ),
        });
        return;
    };
    if st.phase == "aborted" {
        return;
    }
    let (to, phase) = (clean(&st.params.image).into_owned(), clean(&st.phase).into_owned());
    let message = format!("an upgrade to {to} is under way on this CephCluster ({phase})");
    if st.params.image == image && st.phase != "running" {
        f.warnings.push(Finding {
            code: "upgrade-under-way",
            message,
            fix: "kubectl ceph-image upgrade resume".into(),
        });
    } else {
        f.blockers.push(Finding {
            code: "upgrade-under-way",
            message,
            fix: "`kubectl ceph-image upgrade status` shows it; `upgrade resume` goes on, `upgrade abort` stops it"
                .into(),
        });
    }
}

/// Which of Rook's gates a HEALTH_ERR code blocks (`cluster/version.go` IsCephHealthy: any
/// HEALTH_ERR; `controller/controller_utils.go` canIgnoreHealthErrStatusInReconcile: the
/// child controllers reconcile through the allow-listed codes).
fn gates_blocked(code: &str) -> &'static str {
    if CHILD_RECONCILE_ALLOWS.contains(&code) {
        "it blocks Rook's CephCluster upgrade (mons, mgrs, OSDs) and this plugin's stages; Rook's RGW, MDS and NFS controllers reconcile through it (controller_utils.go allow-list), so gateways can move while OSDs stay"
    } else {
        "it blocks Rook's CephCluster upgrade, its RGW, MDS and NFS controllers (they skip their reconcile) and this plugin's stages"
    }
}

/// The fix for a health code: the few the upgrades meet, else Ceph's own page for it.
fn health_fix(code: &str) -> String {
    match code {
        "DAEMON_OLD_VERSION" => "converge the versions, or mute it: spec.healthCheck.muteHealthWarning or `ceph health mute DAEMON_OLD_VERSION --sticky`".into(),
        "OSD_DOWN" | "OSD_HOST_DOWN" | "OSD_RACK_DOWN" => "bring the OSDs up (`ceph osd tree down`) before restarting others".into(),
        "PG_DEGRADED" | "PG_AVAILABILITY" => "wait for recovery (`ceph pg stat` all active+clean) before restarting OSDs".into(),
        "MON_DOWN" => "bring the mon back into quorum (`ceph quorum_status`) first".into(),
        "MGR_MODULE_ERROR" => "disable or fix the failing module (`ceph health detail` names it)".into(),
        _ => format!(
            "fix what `ceph health detail` says for {c}: https://docs.ceph.com/en/latest/rados/operations/health-checks/#{}",
            code.to_ascii_lowercase().replace('_', "-"),
            c = clean(code)
        ),
    }
}

/// Health findings: each HEALTH_ERR code a blocker (the cephx ones as `cephx-key-type`),
/// each HEALTH_WARN code a warning; Rook's `status.ceph` absent, stale or HEALTH_ERR blocks
/// too, as the staged upgrade's preflight (`preflight.rs`) reads it.
fn health(snap: &Snapshot, ceph: Option<&CephAnswer>, now: jiff::Timestamp, f: &mut Findings) {
    let c = &snap.cluster;
    let asked = ceph.filter(|a| a.asked);
    let (source, status, checks): (&str, Option<&str>, &[HealthCheck]) = match asked {
        Some(a) => ("Ceph", a.health.as_deref(), &a.checks),
        None => ("Rook's status.ceph", c.health.as_deref(), &c.rook.health_checks),
    };
    if let Some(a) = ceph.filter(|a| !a.asked) {
        f.warnings.push(Finding {
            code: "ceph-not-asked",
            message: format!(
                "Ceph could not be asked ({}): health codes are Rook's (up to 60 s old), the keys' type and the daemons Ceph sees up are unchecked; an upgrade sets no OSD flag (noout, noautoscale) and leaves require-osd-release to Rook",
                clean(a.error.as_deref().unwrap_or("no answer"))
            ),
            fix: "bind the ceph-image-ceph-exec role (deploy/rbac.yaml) and make sure the Rook operator pod runs".into(),
        });
    }
    for h in checks {
        let (code, msg) = (clean(&h.code).into_owned(), clean(&h.message).into_owned());
        if h.severity == "HEALTH_ERR" {
            if CEPHX_CODES.contains(&h.code.as_str()) {
                f.blockers.push(Finding {
                    code: "cephx-key-type",
                    message: format!(
                        "{source} reports {code} at HEALTH_ERR ({msg}): daemon keys are still `aes` past the cephx boundary (CVE-2025-30156); {}",
                        gates_blocked(&h.code)
                    ),
                    fix: crate::model::ceph::ROTATE_KEYS_FIX.into(),
                });
            } else {
                f.blockers.push(Finding {
                    code: "health-err",
                    message: format!("{source} reports {code} at HEALTH_ERR ({msg}): {}", gates_blocked(&h.code)),
                    fix: health_fix(&h.code),
                });
            }
        } else if !h.severity.is_empty() {
            f.warnings.push(Finding {
                code: "health-warn",
                message: format!("{source} reports {code} ({msg}): Rook's upgrade gate lets HEALTH_WARN pass"),
                fix: health_fix(&h.code),
            });
        }
    }
    let errs = checks.iter().any(|h| h.severity == "HEALTH_ERR");
    if status == Some("HEALTH_ERR") && !errs {
        f.blockers.push(Finding {
            code: "health-err",
            message: format!("{source} reports HEALTH_ERR: it blocks Rook's CephCluster upgrade (cluster/version.go) and this plugin's stages"),
            fix: "`ceph health detail` names the cause; fix it first".into(),
        });
    }
    // The staged upgrade's own preflight reads Rook's status.ceph: absent, stale, or still
    // HEALTH_ERR there while Ceph no longer says so refuses it (a HEALTH_ERR both say is
    // named above, once).
    if let Some(why) = support::health_blocks(c.health.as_deref(), c.rook.last_checked.as_deref(), now)
        && (c.health.as_deref() != Some("HEALTH_ERR")
            || asked.is_some_and(|a| a.health.as_deref() != Some("HEALTH_ERR")))
    {
        let code = if c.health.as_deref() == Some("HEALTH_ERR") { "health-err" } else { "health-stale" };
        f.blockers.push(Finding {
            code,
            message: format!("{}: the staged upgrade refuses until Rook reports a fresh health that is not HEALTH_ERR", clean(&why)),
            fix: "make sure the Rook operator runs and reaches Ceph (`kubectl -n OPERATOR_NS get pods -l app=rook-ceph-operator`); Rook refreshes status.ceph about every 60 s".into(),
        });
    }
}

/// The cephx key-type boundary: what Ceph says of the keys, what crossing it does, and
/// the toolbox, which Rook does not manage (rook #18240).
fn cephx(
    snap: &Snapshot,
    ceph: Option<&CephAnswer>,
    image: &str,
    to: Option<CephVersion>,
    running: &[(DaemonType, CephVersion)],
    toolbox: Option<&[Toolbox]>,
    f: &mut Findings,
) {
    let c = &snap.cluster;
    let below: Vec<CephVersion> = running.iter().map(|(_, v)| *v).filter(|v| !aes256k(*v)).collect();
    let crosses = to.is_some_and(aes256k) && !below.is_empty();
    let asked = ceph.is_some_and(|a| a.asked);
    let flagged = ceph
        .filter(|a| a.asked)
        .map_or(&c.rook.health_checks, |a| &a.checks)
        .iter()
        .any(|h| CEPHX_CODES.contains(&h.code.as_str()));
    if crosses && !flagged {
        let mons_fixed = running.iter().any(|(t, v)| *t == DaemonType::Mon && aes256k(*v));
        let keys = if mons_fixed && asked {
            "Ceph raises no key-type check now, so the keys it checks are AES256K".to_string()
        } else if asked {
            "Ceph below the boundary cannot tell a key's type: keys made before it are `aes`".to_string()
        } else {
            "Ceph could not be asked: the keys' type is unknown".to_string()
        };
        let rotation = match (c.knobs.daemon_key_rotation_policy.as_deref(), c.knobs.daemon_key_type.as_deref()) {
            (Some("KeyGeneration"), Some("aes256k")) => "; spec.security.cephx.daemon asks Rook to rotate to aes256k, which Rook (v1.20.5+) does only once no OSD runs below the boundary".to_string(),
            _ => String::new(),
        };
        let oldest = below.iter().min().copied().unwrap_or(CephVersion { major: 0, minor: 0, patch: 0 });
        f.warnings.push(Finding {
            code: "cephx-boundary",
            message: format!(
                "the upgrade crosses the cephx AES256K boundary (from {oldest}; 19.2.6, 20.2.4, 21.2.0, CVE-2025-30156): once the mons run it, Ceph raises AUTH_INSECURE_SERVICE_KEY_TYPE at HEALTH_ERR until daemon keys are AES256K, which stops Rook's CephCluster upgrade and this plugin's gates but not Rook's RGW, MDS and NFS controllers ({keys}{rotation})"
            ),
            fix: "set spec.security.cephx.daemon {keyRotationPolicy: KeyGeneration, keyType: aes256k} (Rook v1.19.9 / v1.20.5+) and expect a stop after the mon stage until the keys rotate; never skipUpgradeChecks".into(),
        });
    }
    let Some(tb) = toolbox else { return };
    for t in tb.iter().filter(|t| !snap.same_image(&t.image, image)) {
        let deploy = t.deployment.as_deref().unwrap_or("rook-ceph-tools");
        let stale = snap.version_of(&t.image).is_none_or(|v| !aes256k(v)) && to.is_some_and(aes256k);
        f.warnings.push(Finding {
            code: "toolbox-image",
            message: format!(
                "the toolbox {} runs {}, not {}: Rook does not manage it, so the upgrade leaves it there{}",
                clean(&t.pod),
                clean(&t.image),
                clean(image),
                if stale { ", and below the cephx boundary it cannot read AES256K keyrings (rook #18240)" } else { "" }
            ),
            fix: format!(
                "after the upgrade: kubectl -n {} set image deploy/{} rook-ceph-tools={}",
                clean(&c.namespace),
                clean(deploy),
                clean(image)
            ),
        });
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
