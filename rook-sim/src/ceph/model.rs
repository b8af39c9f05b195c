//! The cluster as Ceph sees it (issue 23 item 7), derived from what the simulation runs: its
//! daemons (one per Rook Deployment, up when its pod is Running and Ready on a node that is
//! not down), the CRUSH tree their location labels make, the pools Rook creates for what the
//! cluster serves, and placement groups mapped over the OSDs CRUSH-like (crush.rs).
//!
//! Pure data: built from [`Daemon`]s the caller read (ceph/mod.rs), so it can be tested and
//! benchmarked without a running simulation.

use std::collections::BTreeMap;

/// One Ceph daemon as the simulation runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Ceph's daemon type: `mon`, `mgr`, `osd`, `mds`, `rgw`, `rbd-mirror`, `cephfs-mirror`.
    pub kind: String,
    /// Its id: `a`, `3`, `myfs-a`, `my-store-a`.
    pub id: String,
    /// Up: a pod of it is Running and Ready and its node is not down.
    pub up: bool,
    /// The version its Running pod runs (`19.2.3`), None when no pod of it runs.
    pub version: Option<String>,
    /// For an OSD: its CRUSH location, `(type, name)` from Rook's `topology-location-<type>`
    /// labels (host from the node when there is none; root `default`).
    pub location: Vec<(String, String)>,
    /// For an MDS, its filesystem (`rook_file_system`); for an RGW, its object store.
    pub group: Option<String>,
}

/// CRUSH bucket types and their ids as Ceph's default map has them (src/crush/CrushWrapper.cc
/// `set_default_types`: osd 0, host 1, chassis 2, rack 3, row 4, pdu 5, pod 6, room 7,
/// datacenter 8, zone 9, region 10, root 11).
pub const CRUSH_TYPES: [&str; 12] =
    ["osd", "host", "chassis", "rack", "row", "pdu", "pod", "room", "datacenter", "zone", "region", "root"];

pub fn type_id(t: &str) -> Option<usize> {
    CRUSH_TYPES.iter().position(|x| *x == t)
}

/// A replicated pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pool {
    pub id: u32,
    pub name: String,
    pub size: usize,
    pub min_size: usize,
    pub pg_num: u32,
    /// The CRUSH type its rule separates replicas by (`host`).
    pub failure_domain: String,
    /// `application` Rook enables on it (`rbd`, `cephfs`, `rgw`, `mgr`).
    pub application: String,
}

/// The OSDs of a cluster with their state, by id.
#[derive(Debug, Clone)]
pub struct Osd {
    pub id: u32,
    pub up: bool,
    pub is_in: bool,
    pub location: Vec<(String, String)>,
}

/// `mon_target_pg_per_osd` (100): the autoscaler aims at this many PG replicas per OSD.
const TARGET_PG_PER_OSD: usize = 100;

/// The pools Rook makes for what the cluster runs, numbered in creation order: `.mgr` (one
/// PG, Ceph's own), the example `replicapool` (rook deploy/examples/pool.yaml), per
/// filesystem `<fs>-metadata` and `<fs>-replicated` (filesystem.yaml), per object store the
/// RGW pools (object.yaml; `.rgw.root` once). All replicated size 3, min_size 2, failure
/// domain host, as Rook's examples set them. PG counts as the autoscaler would settle them:
/// the data pools share ~100 PGs per OSD, powers of two; metadata pools 16, RGW's small
/// pools 8.
pub fn default_pools(filesystems: &[String], object_stores: &[String], osds: usize) -> Vec<Pool> {
    let mut names: Vec<(String, &str, bool)> = vec![(".mgr".into(), "mgr", false), ("replicapool".into(), "rbd", true)];
    for fs in filesystems {
        names.push((format!("{fs}-metadata"), "cephfs", false));
        names.push((format!("{fs}-replicated"), "cephfs", true));
    }
    if !object_stores.is_empty() {
        names.push((".rgw.root".into(), "rgw", false));
    }
    for s in object_stores {
        for p in ["control", "meta", "log", "buckets.index", "buckets.non-ec", "otp"] {
            names.push((format!("{s}.rgw.{p}"), "rgw", false));
        }
        names.push((format!("{s}.rgw.buckets.data"), "rgw", true));
    }
    let bulk = names.iter().filter(|n| n.2).count().max(1);
    let per_bulk = (TARGET_PG_PER_OSD * osds / 3 / bulk).max(32);
    let bulk_pgs = 1u32 << (usize::BITS - 1 - per_bulk.leading_zeros()).min(20);
    names
        .into_iter()
        .enumerate()
        .map(|(i, (name, app, is_bulk))| Pool {
            id: i as u32 + 1,
            pg_num: if name == ".mgr" {
                1
            } else if is_bulk {
                bulk_pgs
            } else if name.ends_with("-metadata") {
                16
            } else {
                8
            },
            name,
            size: 3,
            min_size: 2,
            failure_domain: "host".into(),
            application: app.into(),
        })
        .collect()
}

/// The cluster: its daemons by type, its OSDs and pools.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub daemons: Vec<Daemon>,
    pub osds: BTreeMap<u32, Osd>,
    pub pools: Vec<Pool>,
}

impl Cluster {
    /// From the daemons the simulation runs; `out`: the OSDs marked out.
    pub fn new(daemons: Vec<Daemon>, out: &std::collections::BTreeSet<u32>) -> Cluster {
        let mut osds = BTreeMap::new();
        for d in daemons.iter().filter(|d| d.kind == "osd") {
            if let Ok(id) = d.id.parse::<u32>() {
                osds.insert(id, Osd { id, up: d.up, is_in: !out.contains(&id), location: d.location.clone() });
            }
        }
        let groups = |kind: &str| -> Vec<String> {
            let mut g: Vec<String> =
                daemons.iter().filter(|d| d.kind == kind).filter_map(|d| d.group.clone()).collect();
            g.sort();
            g.dedup();
            g
        };
        let pools = default_pools(&groups("mds"), &groups("rgw"), osds.len());
        Cluster { daemons, osds, pools }
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Daemon> + 'a {
        self.daemons.iter().filter(move |d| d.kind == kind)
    }

    pub fn num_up_osds(&self) -> usize {
        self.osds.values().filter(|o| o.up).count()
    }

    pub fn num_in_osds(&self) -> usize {
        self.osds.values().filter(|o| o.is_in).count()
    }

    /// The mons in quorum (up), by name: Ceph's `quorum_names`, in rank order (the monmap's
    /// ranks follow the names' order for mons without a priority).
    pub fn quorum(&self) -> Vec<String> {
        let mut q: Vec<String> = self.of_kind("mon").filter(|d| d.up).map(|d| d.id.clone()).collect();
        q.sort();
        q
    }

    pub fn mons(&self) -> Vec<String> {
        let mut m: Vec<String> = self.of_kind("mon").map(|d| d.id.clone()).collect();
        m.sort();
        m
    }

    /// The location of an OSD as Ceph prints it in health details: `root=default,host=node-01`
    /// (outermost first).
    pub fn location_string(loc: &[(String, String)]) -> String {
        let mut l: Vec<&(String, String)> = loc.iter().collect();
        l.sort_by_key(|(t, _)| std::cmp::Reverse(type_id(t).unwrap_or(0)));
        l.iter().map(|(t, n)| format!("{t}={n}")).collect::<Vec<_>>().join(",")
    }
}

/// An OSD's CRUSH location from its labels (`topology-location-<type>` = name), host from the
/// node when no label names one, root `default` (Rook: pkg/operator/ceph/cluster/osd/
/// topology.go; the labels are what `ROOK_CRUSHMAP_*` set at `ceph osd crush` time).
pub fn location_from_labels(labels: &BTreeMap<String, String>, node: &str) -> Vec<(String, String)> {
    let mut loc: Vec<(String, String)> = labels
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("topology-location-").map(|t| (t.to_string(), v.clone())))
        .filter(|(t, v)| type_id(t).is_some_and(|i| i > 0) && !v.is_empty())
        .collect();
    if !loc.iter().any(|(t, _)| t == "host") && !node.is_empty() {
        loc.push(("host".into(), node.to_string()));
    }
    if !loc.iter().any(|(t, _)| t == "root") {
        loc.push(("root".into(), "default".into()));
    }
    loc.sort_by_key(|(t, _)| type_id(t).unwrap_or(0));
    loc
}

/// `19.2.3` from the simulation's `19.2.3-0` (topology::ceph_version_of): Ceph's
/// `ceph_version_short`.
pub fn short_version(parsed: &str) -> String {
    parsed.strip_suffix("-0").unwrap_or(parsed).to_string()
}

/// The major release of a short version (`19` of `19.2.3`).
pub fn major(version: &str) -> u32 {
    version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

/// Does `version` carry the cephx AES256K fix (CVE-2025-30156): 19.2.6+, 20.2.4+, 21.2.0+
/// (FACTS §5, §7)?
pub fn has_aes256k(version: &str) -> bool {
    let n: Vec<u32> = short_version(version).split('.').map(|x| x.parse().unwrap_or(0)).collect();
    let v = (n.first().copied().unwrap_or(0), n.get(1).copied().unwrap_or(0), n.get(2).copied().unwrap_or(0));
    v >= (21, 2, 0) || (v.0 == 20 && v >= (20, 2, 4)) || (v.0 == 19 && v >= (19, 2, 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_versions() {
        let labels: BTreeMap<String, String> = [
            ("topology-location-rack", "r1"),
            ("topology-location-host", "node-00"),
            ("topology-location-root", "default"),
            ("topology-location-bogus", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let loc = location_from_labels(&labels, "ignored");
        assert_eq!(Cluster::location_string(&loc), "root=default,rack=r1,host=node-00");
        assert_eq!(location_from_labels(&BTreeMap::new(), "n1")[0], ("host".to_string(), "n1".to_string()));
        assert!(has_aes256k("19.2.6") && has_aes256k("20.2.4") && has_aes256k("21.2.0"));
        assert!(!has_aes256k("19.2.5") && !has_aes256k("20.2.3") && !has_aes256k("18.2.9"));
        assert!(has_aes256k("20.2.4-0") && !has_aes256k("20.2.2-0"));
        assert_eq!(short_version("20.2.4-0"), "20.2.4");
    }

    #[test]
    fn pools_as_rook_makes_them() {
        let p = default_pools(&["myfs".into()], &["my-store".into()], 12);
        assert_eq!(p[0].name, ".mgr");
        assert_eq!(p[0].pg_num, 1);
        assert!(p.iter().all(|p| p.size == 3 && p.min_size == 2 && p.failure_domain == "host"));
        let bulk: Vec<u32> = p.iter().filter(|p| p.pg_num > 16).map(|p| p.pg_num).collect();
        assert_eq!(bulk, [128, 128, 128], "12 OSDs: ~400 PGs shared by three data pools");
        assert_eq!(default_pools(&[], &[], 2000)[1].pg_num, 65536);
    }
}
