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

/// Rook `(minor, patch)` -> what it accepts, for Rook v1.0 to v1.21; None outside that
/// range (a Rook this table does not know is not judged). Read from
/// `pkg/operator/ceph/version/version.go` (`Minimum`, `supportedVersions`) at every release
/// tag of rook/rook, v1.0.0 to v1.20.6: v1.0 has no minimum (Luminous, Mimic, Nautilus);
/// v1.1.0 set 13.2.4 (Mimic, Nautilus); v1.3.0 14.2.5 (Nautilus, Octopus); Pacific from
/// v1.6.0; v1.18 added Tentacle in v1.18.8; v1.21 is rook/rook main at d0c3b9c (FACTS §7).
pub fn accepts(rook_minor: u32, rook_patch: u32) -> Option<Accepts> {
    let a = |minimum, majors| Some(Accepts { minimum, majors });
    match rook_minor {
        0 => a(v(0, 0, 0), &[12, 13, 14]),
        1 | 2 => a(v(13, 2, 4), &[13, 14]),
        3..=5 => a(v(14, 2, 5), &[14, 15]),
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

/// `v1.20.6` as (1, 20, 6) (a suffix after the patch, `v1.20.6-rc1`, is dropped): the one
/// parse of a Rook version label, for the newest label and for what a release does.
pub fn rook_version_key(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.strip_prefix('v')?.splitn(3, '.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map(|p| p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0")).unwrap_or("0");
    Some((major, minor, patch.parse().unwrap_or(0)))
}

/// What the Rook of `rook_version` (`v1.20.6`, as its labels carry it) accepts; None when
/// unknown to the table or not a Rook v1 version.
fn accepts_of(rook_version: &str) -> Option<Accepts> {
    let (major, minor, patch) = rook_version_key(rook_version)?;
    if major != 1 {
        return None;
    }
    accepts(minor, patch)
}

/// `Squid 19`, as the refusals name a release.
fn release_name(major: u32) -> String {
    format!("{} {major}", capitalised(v(major, 0, 0).release()))
}

/// `Nautilus 14, Octopus 15 and Pacific 16`: the releases a Rook supports.
fn release_list(majors: &[u32]) -> String {
    let names: Vec<String> = majors.iter().map(|m| release_name(*m)).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Why the running Rook (`rook_version` as its labels carry it, `v1.20.6`) will not run
/// Ceph `to`: below its minimum (whatever `allow_unsupported` says), or outside its
/// supported releases without `allow_unsupported`. None when it will, or when the Rook
/// version is unknown to the table.
pub fn refusal(rook_version: Option<&str>, to: CephVersion, allow_unsupported: bool) -> Option<String> {
    let rv = rook_version?;
    let acc = accepts_of(rv)?;
    if to < acc.minimum {
        return Some(format!(
            "Rook {rv} runs Ceph {} or newer: it refuses Ceph {to} ({}) whatever spec.cephVersion.allowUnsupported says",
            acc.minimum,
            capitalised(to.release())
        ));
    }
    if !acc.majors.contains(&to.major) && !allow_unsupported {
        return Some(format!(
            "Rook {rv} supports {} only: Ceph {to} ({}) needs spec.cephVersion.allowUnsupported: true",
            release_list(acc.majors),
            capitalised(to.release())
        ));
    }
    None
}

/// Why the running Rook will not run `image`: by its version `to` where known
/// (`refusal`), else by the release its tag names (`named_major`: `v20`, `latest-squid`),
/// judged by major alone: a major below the minimum's, or one outside the supported
/// releases without `allow_unsupported`.
pub fn image_refusal(
    image: &str,
    to: Option<CephVersion>,
    rook_version: Option<&str>,
    allow_unsupported: bool,
) -> Option<String> {
    if let Some(to) = to {
        return refusal(rook_version, to, allow_unsupported);
    }
    let major = named_major(image)?;
    let rv = rook_version?;
    let acc = accepts_of(rv)?;
    let name = release_name(major);
    if major < acc.minimum.major {
        return Some(format!(
            "Rook {rv} runs Ceph {} or newer: it refuses {image} ({name}) whatever              spec.cephVersion.allowUnsupported says",
            acc.minimum
        ));
    }
    if !acc.majors.contains(&major) && !allow_unsupported {
        return Some(format!(
            "Rook {rv} supports {} only: {image} names {name}, which needs spec.cephVersion.allowUnsupported: true",
            release_list(acc.majors)
        ));
    }
    None
}

/// Ceph's release names by major, as its tags and docs spell them.
const RELEASES: [(&str, u32); 10] = [
    ("luminous", 12),
    ("mimic", 13),
    ("nautilus", 14),
    ("octopus", 15),
    ("pacific", 16),
    ("quincy", 17),
    ("reef", 18),
    ("squid", 19),
    ("tentacle", 20),
    ("umbrella", 21),
];

/// The Ceph major a Ceph repository image's tag names without a full version: `v20`,
/// `v19.2`, `20` (major or major.minor), or a release name (`squid`, `latest-squid`,
/// `latest-tentacle-devel`: quay.io/ceph/ceph and quay.ceph.io/ceph-ci tags). None for a
/// tag naming a full version (that is `ceph_version`'s), `latest`, `main`, other images.
pub fn named_major(image: &str) -> Option<u32> {
    if !is_ceph_repository(image) || ceph_version(image).is_some() {
        return None;
    }
    let r = crate::model::image::parse(image).ok()?;
    let tag = r.tag.as_deref()?.to_ascii_lowercase();
    let t = tag.strip_prefix('v').unwrap_or(&tag);
    let mut nums = t.split('.');
    if let Some(m) = nums.next().and_then(|m| m.parse::<u32>().ok())
        && nums.all(|n| n.parse::<u32>().is_ok())
    {
        return Some(m);
    }
    t.split('-').find_map(|word| RELEASES.iter().find(|(n, _)| *n == word).map(|(_, m)| *m))
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
    if rook_version.and_then(rook_version_key).is_some_and(|(major, minor, _)| major == 1 && minor < 3) {
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
    let why = image_refusal(image, to, rook_version, allow)?;
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
        // Every Rook minor since v1.0 (version.go at each tag): v1.1 runs Mimic and
        // Nautilus from 13.2.4.
        let e = refusal(Some("v1.1.0"), v(16, 2, 15), false).unwrap();
        assert!(e.contains("Mimic 13 and Nautilus 14 only"), "{e}");
        assert!(refusal(Some("v1.1.0"), v(12, 2, 13), true).unwrap().contains("13.2.4 or newer"));
        assert_eq!(refusal(Some("v1.1.0"), v(14, 2, 22), false), None);
        assert_eq!(refusal(Some("v1.0.6"), v(12, 2, 13), false), None);
        assert!(refusal(Some("v1.4.9"), v(16, 2, 0), false).unwrap().contains("Nautilus 14 and Octopus 15"));
        let e = refusal(Some("v1.6.10"), v(17, 2, 8), false).unwrap();
        assert!(e.contains("supports Nautilus 14, Octopus 15 and Pacific 16 only") && !e.contains("nknown"), "{e}");
        // A tag naming a release without a full version is judged by that release.
        let e = image_refusal("quay.io/ceph/ceph:v20", None, Some("v1.16.9"), false).unwrap();
        assert!(e.contains("Reef 18 and Squid 19 only") && e.contains("Tentacle 20"), "{e}");
        assert!(image_refusal("quay.io/ceph/ceph:latest-tentacle", None, Some("v1.16.9"), false).is_some());
        assert_eq!(image_refusal("quay.io/ceph/ceph:latest-squid", None, Some("v1.16.9"), false), None);
        assert_eq!(image_refusal("quay.io/ceph/ceph:v20", None, Some("v1.16.9"), true), None);
        assert!(image_refusal("quay.io/ceph/ceph:v17", None, Some("v1.16.9"), true).unwrap().contains("whatever"));
        assert_eq!(image_refusal("quay.io/ceph/ceph:main", None, Some("v1.16.9"), false), None);
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
    fn tags_that_name_a_release_without_a_version() {
        for (image, major) in [
            ("quay.io/ceph/ceph:v20", Some(20)),
            ("quay.io/ceph/ceph:v19.2", Some(19)),
            ("quay.io/ceph/ceph:latest-squid", Some(19)),
            ("quay.io/ceph/ceph:latest-tentacle", Some(20)),
            ("quay.ceph.io/ceph-ci/ceph:latest-squid-devel", Some(19)),
            ("quay.io/ceph/ceph:v19.2.3", None),
            ("quay.io/ceph/ceph:latest", None),
            ("quay.io/ceph/ceph:main", None),
            ("quay.io/ceph/nvmeof:1", None),
        ] {
            assert_eq!(named_major(image), major, "{image}");
        }
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
