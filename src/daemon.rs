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
            _ => return Err(format!("unknown daemon type {s:?}: expected one of {}", DaemonType::accepted_names())),
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
