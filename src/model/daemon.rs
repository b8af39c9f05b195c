//! Ceph daemon types as Rook labels them (FACTS §2, §3), and daemon ids as Ceph names
//! them (`osd.12`, `mon.a`, `rgw.my-store`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonType {
    // Declaration order is Rook's upgrade order (FACTS §5); `Ord` relies on it.
    Mon,
    Mgr,
    Osd,
    Mds,
    Rgw,
    Nfs,
    Rbdmirror,
    Cephfsmirror,
    /// NVMe-oF gateways (Rook v1.20, `CephNVMeOFGateway`): a base change restarts them.
    Nvmeof,
    Crashcollector,
    Exporter,
}

/// How Rook treats `ceph.rook.io/do-not-reconcile` on a type's Deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldScope {
    /// The labelled daemon alone is skipped.
    Daemon,
    /// One labelled RGW holds every RGW of its object store.
    ObjectStore,
    /// Any labelled rbd-mirror holds all rbd-mirrors.
    AllOfType,
    /// Meant to work, but Rook compares the bare letter with `<fs>-a`: never matches.
    Ineffective,
    /// Not honoured; Rook's rewrite strips the label.
    NotHonoured,
}

impl DaemonType {
    pub const ALL: [DaemonType; 11] = [
        DaemonType::Mon,
        DaemonType::Mgr,
        DaemonType::Osd,
        DaemonType::Mds,
        DaemonType::Rgw,
        DaemonType::Nfs,
        DaemonType::Rbdmirror,
        DaemonType::Cephfsmirror,
        DaemonType::Nvmeof,
        DaemonType::Crashcollector,
        DaemonType::Exporter,
    ];

    /// The key under `spec.cephVersion.imageOverrides`.
    pub fn key(self) -> &'static str {
        match self {
            DaemonType::Mon => "mon",
            DaemonType::Mgr => "mgr",
            DaemonType::Osd => "osd",
            DaemonType::Mds => "mds",
            DaemonType::Rgw => "rgw",
            DaemonType::Nfs => "nfs",
            DaemonType::Rbdmirror => "rbdmirror",
            DaemonType::Cephfsmirror => "cephfsmirror",
            DaemonType::Nvmeof => "nvmeof",
            DaemonType::Crashcollector => "crashcollector",
            DaemonType::Exporter => "exporter",
        }
    }

    /// The prefix of a daemon id as Ceph names it (`rbd-mirror.a`).
    pub fn ceph_name(self) -> &'static str {
        match self {
            DaemonType::Rbdmirror => "rbd-mirror",
            DaemonType::Cephfsmirror => "cephfs-mirror",
            DaemonType::Crashcollector => "crash",
            other => other.key(),
        }
    }

    pub fn app_label(self) -> &'static str {
        match self {
            DaemonType::Mon => "rook-ceph-mon",
            DaemonType::Mgr => "rook-ceph-mgr",
            DaemonType::Osd => "rook-ceph-osd",
            DaemonType::Mds => "rook-ceph-mds",
            DaemonType::Rgw => "rook-ceph-rgw",
            DaemonType::Nfs => "rook-ceph-nfs",
            DaemonType::Rbdmirror => "rook-ceph-rbd-mirror",
            DaemonType::Cephfsmirror => "rook-ceph-fs-mirror",
            DaemonType::Nvmeof => "rook-ceph-nvmeof",
            DaemonType::Crashcollector => "rook-ceph-crashcollector",
            DaemonType::Exporter => "rook-ceph-exporter",
        }
    }

    /// The Deployment label that carries the daemon's id (FACTS §3).
    pub fn id_label(self) -> &'static str {
        match self {
            DaemonType::Mon => "mon",
            DaemonType::Mgr => "mgr",
            DaemonType::Osd => "ceph-osd-id",
            DaemonType::Mds => "mds",
            DaemonType::Rgw => "rgw",
            DaemonType::Nfs => "nfs",
            DaemonType::Rbdmirror => "rbd-mirror",
            DaemonType::Cephfsmirror => "fs-mirror",
            DaemonType::Nvmeof => "nvmeof",
            DaemonType::Crashcollector | DaemonType::Exporter => "node_name",
        }
    }

    /// The key of `status.ceph.versions` (`ceph versions`) for the type, where Ceph has one.
    pub fn versions_key(self) -> Option<&'static str> {
        match self {
            DaemonType::Mon | DaemonType::Mgr | DaemonType::Osd | DaemonType::Mds | DaemonType::Rgw => Some(self.key()),
            DaemonType::Rbdmirror => Some("rbd-mirror"),
            DaemonType::Cephfsmirror => Some("cephfs-mirror"),
            _ => None,
        }
    }

    pub fn hold_scope(self) -> HoldScope {
        match self {
            DaemonType::Mon | DaemonType::Mgr | DaemonType::Osd | DaemonType::Nfs => HoldScope::Daemon,
            DaemonType::Rgw => HoldScope::ObjectStore,
            DaemonType::Rbdmirror => HoldScope::AllOfType,
            DaemonType::Mds => HoldScope::Ineffective,
            DaemonType::Cephfsmirror | DaemonType::Nvmeof | DaemonType::Crashcollector | DaemonType::Exporter => {
                HoldScope::NotHonoured
            }
        }
    }

    /// The CephCluster-level label holds these types (mon/mgr/osd reconcile).
    pub fn held_by_cluster_label(self) -> bool {
        matches!(self, DaemonType::Mon | DaemonType::Mgr | DaemonType::Osd)
    }

    pub fn from_app_label(app: &str) -> Option<DaemonType> {
        DaemonType::ALL.into_iter().find(|t| t.app_label() == app)
    }

    /// Types whose own controller (filesystem, object store, nfs, rbd-mirror, cephfs-mirror,
    /// nvmeof) rolls them as soon as every mon runs the new version, i.e. while the OSDs
    /// still roll (FACTS §5, rook/rook#18367).
    pub fn rolls_with_osds(self) -> bool {
        matches!(
            self,
            DaemonType::Mds
                | DaemonType::Rgw
                | DaemonType::Nfs
                | DaemonType::Rbdmirror
                | DaemonType::Cephfsmirror
                | DaemonType::Nvmeof
        )
    }

    /// Rook runs this type for an external cluster (`spec.external.enable`): not mon, mgr,
    /// osd, nor the node daemons that serve local Ceph daemons (FACTS §6).
    pub fn runs_on_external(self) -> bool {
        !matches!(
            self,
            DaemonType::Mon | DaemonType::Mgr | DaemonType::Osd | DaemonType::Crashcollector | DaemonType::Exporter
        )
    }

    pub fn accepted_names() -> &'static str {
        "mon, mgr, osd, mds, rgw, nfs, rbdmirror (rbd-mirror), cephfsmirror (cephfs-mirror, fs-mirror), \
         nvmeof, crashcollector (crash), exporter (ceph-exporter)"
    }
}

/// Every spelling `DaemonType::from_str` accepts.
pub const TYPE_NAMES: [&str; 16] = [
    "mon",
    "mgr",
    "osd",
    "mds",
    "rgw",
    "nfs",
    "rbdmirror",
    "rbd-mirror",
    "cephfsmirror",
    "cephfs-mirror",
    "fs-mirror",
    "nvmeof",
    "crashcollector",
    "crash",
    "exporter",
    "ceph-exporter",
];

/// Edit distance counting a swap of two neighbours as one edit (`mrg` is one from `mgr`).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The candidate `input` most likely mistypes (one edit for short words, two for longer),
/// for a "did you mean" hint; None when nothing is that close.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input = input.to_ascii_lowercase();
    let limit = if input.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (distance(&input, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `osd12` or `mgra` for a daemon id: the type name it starts with and the rest, as the id
/// it likely means (`osd.12`).
pub fn id_missing_its_dot(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    TYPE_NAMES
        .iter()
        .filter(|t| lower.len() > t.len() && lower.starts_with(**t))
        .max_by_key(|t| t.len())
        .map(|t| format!("{t}.{}", lower[t.len()..].trim_start_matches(['-', '_'])))
        .and_then(|id| id.parse::<DaemonId>().ok().map(|d| d.to_string()))
}

impl fmt::Display for DaemonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for DaemonType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "mon" => DaemonType::Mon,
            "mgr" => DaemonType::Mgr,
            "osd" => DaemonType::Osd,
            "mds" => DaemonType::Mds,
            "rgw" => DaemonType::Rgw,
            "nfs" => DaemonType::Nfs,
            "rbdmirror" | "rbd-mirror" => DaemonType::Rbdmirror,
            "cephfsmirror" | "cephfs-mirror" | "fs-mirror" => DaemonType::Cephfsmirror,
            "nvmeof" => DaemonType::Nvmeof,
            "crashcollector" | "crash" => DaemonType::Crashcollector,
            "exporter" | "ceph-exporter" => DaemonType::Exporter,
            _ => {
                let hint = closest(s, TYPE_NAMES).map(|t| format!("did you mean {t}? ")).unwrap_or_default();
                return Err(format!(
                    "unknown daemon type {s:?}: {hint}expected one of {}",
                    DaemonType::accepted_names()
                ));
            }
        })
    }
}

/// `osd.12`, `mon.a`, `rgw.my-store`: a daemon as Ceph names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaemonId {
    pub dtype: DaemonType,
    pub id: String,
}

impl DaemonId {
    pub fn new(dtype: DaemonType, id: impl Into<String>) -> DaemonId {
        DaemonId { dtype, id: id.into() }
    }
}

impl fmt::Display for DaemonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.dtype.ceph_name(), self.id)
    }
}

/// A Kubernetes label value: what a daemon id must be to match its Deployment's label.
fn valid_label_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl FromStr for DaemonId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((t, id)) = s.split_once('.') else {
            return Err(format!(
                "malformed daemon id {s:?}: expected TYPE.ID as Ceph names daemons, e.g. osd.12, mon.a, mgr.b, rgw.my-store"
            ));
        };
        let dtype: DaemonType = t.parse().map_err(|e| format!("malformed daemon id {s:?}: {e}"))?;
        if !valid_label_value(id) {
            return Err(format!(
                "malformed daemon id {s:?}: the id {id:?} is not a valid label value (letters, digits, '-', '_', '.', at most 63)"
            ));
        }
        if dtype == DaemonType::Osd && !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("malformed daemon id {s:?}: an OSD id is a number, e.g. osd.12"));
        }
        Ok(DaemonId { dtype, id: id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        for (typed, meant) in
            [("mrg", "mgr"), ("mgrs", "mgr"), ("osds", "osd"), ("rbdmiror", "rbdmirror"), ("crsah", "crash")]
        {
            let e = typed.parse::<DaemonType>().unwrap_err();
            assert!(e.contains(&format!("did you mean {meant}?")), "{typed}: {e}");
        }
        assert!(!"zzz".parse::<DaemonType>().unwrap_err().contains("did you mean"));
        assert_eq!(id_missing_its_dot("osd12").as_deref(), Some("osd.12"));
        assert_eq!(id_missing_its_dot("mona").as_deref(), Some("mon.a"));
        assert_eq!(id_missing_its_dot("rgw-my-store").as_deref(), Some("rgw.my-store"));
        assert_eq!(id_missing_its_dot("osd"), None);
        assert_eq!(id_missing_its_dot("osdx"), None, "an OSD id is a number");
    }

    #[test]
    fn types_and_aliases() {
        for (s, t) in [
            ("mgr", DaemonType::Mgr),
            ("rbd-mirror", DaemonType::Rbdmirror),
            ("fs-mirror", DaemonType::Cephfsmirror),
            ("cephfs-mirror", DaemonType::Cephfsmirror),
            ("crash", DaemonType::Crashcollector),
            ("ceph-exporter", DaemonType::Exporter),
            ("OSD", DaemonType::Osd),
        ] {
            assert_eq!(s.parse::<DaemonType>().unwrap(), t, "{s}");
        }
        let e = "mgrs".parse::<DaemonType>().unwrap_err();
        assert!(e.contains("unknown daemon type \"mgrs\"") && e.contains("rbdmirror (rbd-mirror)"), "{e}");
        let mut sorted = DaemonType::ALL;
        sorted.sort();
        assert_eq!(sorted, DaemonType::ALL, "Ord is Rook's order");
    }

    #[test]
    fn daemon_ids() {
        assert_eq!("osd.12".parse::<DaemonId>().unwrap(), DaemonId::new(DaemonType::Osd, "12"));
        assert_eq!("rgw.my-store".parse::<DaemonId>().unwrap().to_string(), "rgw.my-store");
        assert_eq!("rbd-mirror.a".parse::<DaemonId>().unwrap(), DaemonId::new(DaemonType::Rbdmirror, "a"));
        assert_eq!("mds.myfs-a".parse::<DaemonId>().unwrap().id, "myfs-a");
        for bad in ["osd12", "osd.", "osd.x", "foo.1", "mon.a b", "mon.-a", ".a"] {
            assert!(bad.parse::<DaemonId>().is_err(), "{bad}");
        }
        assert!("osd12".parse::<DaemonId>().unwrap_err().contains("expected TYPE.ID"));
    }
}
