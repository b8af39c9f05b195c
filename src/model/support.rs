//! Rook's rules the planner follows: which Ceph releases a Rook release runs, what a tag
//! that names no release means, and how Rook's health gates read `status.ceph`.
//!
//! Rook checks the spec image's version before it reconciles anything
//! (`pkg/operator/ceph/cluster/version.go` validateCephVersion): below `Minimum` it refuses
//! outright; outside `supportedVersions` it refuses unless
//! `spec.cephVersion.allowUnsupported` is true. Either way the reconcile stops there, so
//! nothing restarts and the CephCluster shows the error. The table is read from
//! `pkg/operator/ceph/version/version.go` at each release tag of rook/rook.

use serde::Serialize;

use crate::model::daemon::DaemonType;
use crate::model::image::{CephVersion, ceph_version, is_ceph_repository};

/// What a Rook release accepts: its minimum Ceph version and the supported majors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub minimum: CephVersion,
    /// Supported Ceph majors (`isRelease` compares the major only).
    pub majors: &'static [u32],
}

const fn v(major: u32, minor: u32, patch: u32) -> CephVersion {
    CephVersion { major, minor, patch }
}

/// Rook `(minor, patch)` -> what it accepts, for Rook v1.5 to v1.21; None outside that
/// range (a Rook this table does not know is not judged). v1.18 added Tentacle in
/// v1.18.8; v1.21 is rook/rook main at d0c3b9c (FACTS §7).
pub fn accepts(rook_minor: u32, rook_patch: u32) -> Option<Accepts> {
    let a = |minimum, majors| Some(Accepts { minimum, majors });
    match rook_minor {
        5 => a(v(14, 2, 5), &[14, 15]),
        6 | 7 => a(v(14, 2, 5), &[14, 15, 16]),
        8 => a(v(15, 2, 0), &[15, 16]),
        9 => a(v(15, 2, 0), &[15, 16, 17]),
        10 | 11 => a(v(16, 2, 0), &[16, 17]),
        12 => a(v(16, 2, 0), &[16, 17, 18]),
        13 | 14 => a(v(17, 2, 0), &[17, 18]),
        15 => a(v(17, 2, 0), &[17, 18, 19]),
        16 | 17 => a(v(18, 2, 0), &[18, 19]),
        18 if rook_patch < 8 => a(v(18, 2, 0), &[18, 19]),
        18 => a(v(18, 2, 0), &[18, 19, 20]),
        19..=21 => a(v(19, 2, 0), &[19, 20]),
        _ => None,
    }
}

/// Why the running Rook (`rook_version` as its labels carry it, `v1.20.6`) will not run
/// Ceph `to`: below its minimum (whatever `allow_unsupported` says), or outside its
/// supported releases without `allow_unsupported`. None when it will, or when the Rook
/// version is unknown to the table.
pub fn refusal(rook_version: Option<&str>, to: CephVersion, allow_unsupported: bool) -> Option<String> {
    let rv = rook_version?;
    let mut it = rv.strip_prefix('v')?.split(['.', '-']);
    let (major, minor, patch): (u32, u32, u32) =
        (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next().and_then(|p| p.parse().ok()).unwrap_or(0));
    if major != 1 {
        return None;
    }
    let acc = accepts(minor, patch)?;
    if to < acc.minimum {
        return Some(format!(
            "Rook {rv} runs Ceph {} or newer: it refuses Ceph {to} ({}) whatever spec.cephVersion.allowUnsupported says",
            acc.minimum,
            capitalised(to.release())
        ));
    }
    if !acc.majors.contains(&to.major) && !allow_unsupported {
        let names: Vec<String> =
            acc.majors.iter().map(|m| format!("{} {m}", capitalised(v(*m, 0, 0).release()))).collect();
        return Some(format!(
            "Rook {rv} supports {} only: Ceph {to} ({}) needs spec.cephVersion.allowUnsupported: true",
            names.join(" and "),
            capitalised(to.release())
        ));
    }
    None
}

/// The CephCluster's status as Rook writes it (`pkg/apis/ceph.rook.io/v1/types.go`
/// ClusterStatus, CephStatus): its phase and message, and Ceph's health checks with the
/// time Rook last asked Ceph. All strings come from the cluster: render them sanitised.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RookStatus {
    /// `status.phase` (`Ready`, `Progressing`, `Failure`, `Connected`, ...).
    pub phase: Option<String>,
    /// `status.state` (`Created`, `Creating`, `Updating`, `Error`, ...).
    pub state: Option<String>,
    /// `status.message`: Rook's own words for the phase (`failed to ...`).
    pub message: Option<String>,
    /// `status.ceph` exists at all: Rook has reached Ceph once.
    pub ceph_present: bool,
    /// `status.ceph.lastChecked` as written (RFC 3339).
    pub last_checked: Option<String>,
    /// `status.ceph.details`: Ceph's health checks, by code.
    pub health_checks: Vec<HealthCheck>,
}

/// One of Ceph's health checks (`OSD_DOWN`, `AUTH_INSECURE_SERVICE_KEY_TYPE`, ...) as Rook
/// copies it into `status.ceph.details`: severity `HEALTH_WARN` or `HEALTH_ERR`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub code: String,
    pub severity: String,
    pub message: String,
}

/// HEALTH_ERR codes Rook's child controllers reconcile through
/// (`controller/controller_utils.go` canIgnoreHealthErrStatusInReconcile).
pub const CHILD_RECONCILE_ALLOWS: [&str; 5] = [
    "MDS_ALL_DOWN",
    "MGR_MODULE_ERROR",
    "AUTH_INSECURE_SERVICE_KEY_TYPE",
    "AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE",
    "AUTH_INSECURE_SERVICE_TICKETS",
];

/// The Rook controller that rolls a type's Deployments where it is not the CephCluster's
/// own (`IsReadyToReconcile` callers: object, file, nfs, rbd, file/mirror, nvmeof).
pub fn child_controller(t: DaemonType) -> Option<&'static str> {
    Some(match t {
        DaemonType::Mds => "CephFilesystem",
        DaemonType::Rgw => "CephObjectStore",
        DaemonType::Nfs => "CephNFS",
        DaemonType::Rbdmirror => "CephRBDMirror",
        DaemonType::Cephfsmirror => "CephFilesystemMirror",
        DaemonType::Nvmeof => "CephNVMeOFGateway",
        _ => return None,
    })
}

/// Why Rook's child controllers skip their reconcile now, from `status.ceph`, as
/// `IsReadyToReconcile` decides (`controller/controller_utils.go`, Rook v1.3 on): they
/// reconcile on HEALTH_OK or HEALTH_WARN, or on HEALTH_ERR whose every HEALTH_ERR code is
/// in `CHILD_RECONCILE_ALLOWS`; anything else skips, an absent `status.ceph` included.
/// An absent health counts only while Rook's `phase` says the cluster is not Ready yet (a
/// cluster being created, an operator that never reached Ceph): a cluster Rook calls Ready
/// always has it on a real server, so its absence there is a copy that left it out.
/// `rook_version` (`v1.20.6`): before v1.3 there was no such check. None when they
/// reconcile.
pub fn child_reconcile_skipped(
    health: Option<&str>,
    checks: &[HealthCheck],
    phase: Option<&str>,
    rook_version: Option<&str>,
) -> Option<String> {
    if matches!(health, Some("HEALTH_OK" | "HEALTH_WARN")) {
        return None;
    }
    if health.is_none_or(str::is_empty) && phase.is_none_or(|p| matches!(p, "Ready" | "Connected")) {
        return None;
    }
    let errs: Vec<&str> = checks.iter().filter(|c| c.severity == "HEALTH_ERR").map(|c| c.code.as_str()).collect();
    if !errs.is_empty() && errs.iter().all(|c| CHILD_RECONCILE_ALLOWS.contains(c)) {
        return None;
    }
    let minor = rook_version
        .and_then(|v| v.strip_prefix('v'))
        .and_then(|v| v.strip_prefix("1."))
        .and_then(|v| v.split(['.', '-']).next())
        .and_then(|m| m.parse::<u32>().ok());
    if minor.is_some_and(|m| m < 3) {
        return None;
    }
    Some(match health.filter(|h| !h.is_empty()) {
        None => "the CephCluster has no status.ceph health yet (Rook has not reached Ceph: a cluster being created, \
                 or an operator that has not run)"
            .to_string(),
        Some("HEALTH_ERR") if errs.is_empty() => "the CephCluster reports HEALTH_ERR".to_string(),
        Some("HEALTH_ERR") => format!("the CephCluster reports HEALTH_ERR ({})", errs.join(", ")),
        Some(other) => format!("the CephCluster reports {other}"),
    })
}

/// How old `status.ceph` may be before it is called stale: five of Rook's refreshes, which
/// come about every 60 s (`cluster/cephstatus.go`). Older means the operator is not
/// running or cannot reach Ceph.
pub const HEALTH_STALE_AFTER_SECS: i64 = 300;

/// Seconds from an RFC 3339 time (`status.ceph.lastChecked`, a fence's `at`) to `now`, at
/// least 0; None where absent or not a time.
pub fn secs_since(time: Option<&str>, now: jiff::Timestamp) -> Option<i64> {
    let t: jiff::Timestamp = time?.parse().ok()?;
    Some((now.as_second() - t.as_second()).max(0))
}

/// Why Ceph's health as Rook last wrote it cannot be trusted to start a restart: absent
/// (Rook has not reached Ceph: the cluster is being created, or the operator never ran),
/// HEALTH_ERR, or older than `HEALTH_STALE_AFTER_SECS`. None when it is OK or WARN and
/// fresh (or carries no `lastChecked`, as Rook before v1.0 wrote it).
pub fn health_blocks(health: Option<&str>, last_checked: Option<&str>, now: jiff::Timestamp) -> Option<String> {
    let Some(h) = health.filter(|h| !h.is_empty()) else {
        return Some(
            "status.ceph.health is absent: Rook has not reported Ceph's health (a cluster being created, or an \
             operator that is not running)"
                .into(),
        );
    };
    if h == "HEALTH_ERR" {
        return Some("status.ceph.health is HEALTH_ERR (Rook refuses to upgrade on it too)".into());
    }
    match secs_since(last_checked, now) {
        Some(age) if age > HEALTH_STALE_AFTER_SECS => Some(format!(
            "status.ceph was last checked {} ago ({h} then): Rook refreshes it about every 60 s, so the operator is \
             not running or cannot reach Ceph",
            age_text(age)
        )),
        _ => None,
    }
}

/// `3d4h`, `2h10m`, `5m`, `40s`.
pub fn age_text(secs: i64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{secs}s")
    }
}

/// `squid` -> `Squid`, as Ceph's release notes name releases.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A tag of a Ceph repository that names no `X.Y.Z` (`v21`, `v19.2`, `main`, `umbrella`,
/// `latest`, `latest-main`), or no tag and no digest: each node pulls whatever the tag
/// points to when it pulls, as with `:latest`. A digest pins it, whatever its tag.
pub fn floats(image: &str) -> bool {
    let Ok(r) = crate::model::image::parse(image) else { return false };
    if r.digest.is_some() {
        return false;
    }
    match r.tag.as_deref() {
        None => true,
        Some("latest") => true,
        Some(_) => is_ceph_repository(image) && ceph_version(image).is_none(),
    }
}

/// Why a staged upgrade to `image` (Ceph `to`, where known) must not start: it floats
/// (its stages could pull different builds), or the running Rook will not run it (its
/// version check would stop the reconcile at the first stage).
pub fn upgrade_refusal(
    image: &str,
    to: Option<CephVersion>,
    rook_version: Option<&str>,
    allow: bool,
) -> Option<String> {
    if floats(image) {
        return Some(format!(
            "{image} names no fixed release (no tag, :latest, or a tag with no X.Y.Z such as v21 or main, and no \
             digest): each node would pull whatever it is when its daemon restarts, so the stages could run \
             different builds; name a full version+build tag (v19.2.3-20250717) or a digest"
        ));
    }
    let why = refusal(rook_version, to?, allow)?;
    Some(format!(
        "{why}: Rook's version check (cluster/version.go) would stop its reconcile at the first stage and nothing \
         would move"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rook_refuses_what_its_version_check_refuses() {
        let squid = v(19, 2, 3);
        let umbrella = v(21, 2, 0);
        assert_eq!(refusal(Some("v1.20.6"), squid, false), None);
        assert_eq!(refusal(Some("v1.20.6"), v(20, 2, 4), false), None);
        let e = refusal(Some("v1.20.6"), umbrella, false).unwrap();
        assert!(e.contains("Squid 19 and Tentacle 20") && e.contains("allowUnsupported: true"), "{e}");
        assert_eq!(refusal(Some("v1.20.6"), umbrella, true), None);
        let e = refusal(Some("v1.20.6"), v(18, 2, 7), true).unwrap();
        assert!(e.contains("19.2.0 or newer") && e.contains("whatever"), "{e}");
        // Tentacle from v1.18.8 on.
        assert!(refusal(Some("v1.18.7"), v(20, 2, 4), false).is_some());
        assert_eq!(refusal(Some("v1.18.8"), v(20, 2, 4), false), None);
        // A Rook the table does not know is not judged.
        assert_eq!(refusal(Some("v1.30.0"), umbrella, false), None);
        assert_eq!(refusal(None, umbrella, false), None);
    }

    #[test]
    fn health_that_cannot_be_trusted_blocks() {
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        assert_eq!(health_blocks(Some("HEALTH_OK"), Some("2026-12-07T11:59:00Z"), now), None);
        assert_eq!(health_blocks(Some("HEALTH_WARN"), None, now), None);
        assert!(health_blocks(Some("HEALTH_ERR"), Some("2026-12-07T11:59:00Z"), now).unwrap().contains("HEALTH_ERR"));
        assert!(health_blocks(None, None, now).unwrap().contains("absent"));
        let e = health_blocks(Some("HEALTH_OK"), Some("2026-12-05T08:00:00Z"), now).unwrap();
        assert!(e.contains("2d4h ago") && e.contains("not running"), "{e}");
        assert_eq!(health_blocks(Some("HEALTH_OK"), Some("2026-12-07T11:55:00Z"), now), None, "5 min is fresh");
    }

    #[test]
    fn tags_that_name_no_release_float() {
        for f in [
            "quay.io/ceph/ceph",
            "quay.io/ceph/ceph:latest",
            "quay.io/ceph/ceph:v21",
            "quay.io/ceph/ceph:v19.2",
            "quay.io/ceph/ceph:main",
            "quay.io/ceph/ceph:umbrella",
            "quay.io/ceph/ceph:latest-main",
            "quay.ceph.io/ceph-ci/ceph:latest-squid-devel",
        ] {
            assert!(floats(f), "{f}");
        }
        for fixed in [
            "quay.io/ceph/ceph:v19.2.3",
            "quay.io/ceph/ceph:v19.2.3-20250717",
            "quay.io/ceph/ceph:main@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com/storage/ceph:v19.2.3-hotfix.1",
            // not a Ceph repository: its tag is not Ceph's to judge
            "quay.io/ceph/nvmeof:1.5",
        ] {
            assert!(!floats(fixed), "{fixed}");
        }
    }
}
