//! What to ask Ceph before a restart the plugin causes (issue 23 item 2): `ok-to-stop` for
//! the OSDs, mons and MDS about to restart. Pure: daemons in, the `ceph` arguments out.
//!
//! Rook asks the same before each of its own OSD batches: `ceph osd ok-to-stop ID
//! --max=N` (pkg/operator/ceph/cluster/osd/update.go, `cephclient.OSDOkToStop`), where
//! `--max` lets Ceph grow the set to N OSDs of one CRUSH bucket. The plugin's batch is fixed
//! already, so every id of it is named and `--max` is the batch's size: Ceph answers for
//! exactly the set that restarts. Mons and MDS have their own `ok-to-stop` (quorum kept:
//! MonmapMonitor.cc; a rank left served: MDSMonitor.cc). Other types have none: an MGR
//! fails over to a standby, gateways are stateless to Ceph.

use crate::model::daemon::{DaemonId, DaemonType};

/// One `ceph ... ok-to-stop` to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The daemons it answers for, as Ceph names them (`osd.3`, `mon.a`, `mds.myfs-a`).
    pub daemons: Vec<String>,
    /// The arguments after `ceph` (`-f json` is added by the caller).
    pub args: Vec<String>,
}

impl Ask {
    /// `ceph osd ok-to-stop 3 4 --max 2`, for messages.
    pub fn command(&self) -> String {
        format!("ceph {}", self.args.join(" "))
    }
}

/// Whether restarting this type is ever checked with Ceph first.
pub fn asked_of(t: DaemonType) -> bool {
    matches!(t, DaemonType::Osd | DaemonType::Mon | DaemonType::Mds)
}

/// The asks for daemons restarting together: one per type among OSD, mon and MDS, naming
/// them all (`together`), or one per mon and MDS where they restart one after another
/// (Rook's own rollout of a base image: a set of three mons is never ok to stop at once,
/// each one is). OSDs are always asked as one set. Empty when none of them is asked of.
pub fn asks<'a>(daemons: impl IntoIterator<Item = &'a DaemonId>, together: bool) -> Vec<Ask> {
    let mut by_type: Vec<(DaemonType, Vec<&str>)> = Vec::new();
    for d in daemons.into_iter().filter(|d| asked_of(d.dtype)) {
        match by_type.iter_mut().find(|(t, _)| *t == d.dtype) {
            Some((_, ids)) => ids.push(&d.id),
            None => by_type.push((d.dtype, vec![&d.id])),
        }
    }
    by_type.sort_by_key(|(t, _)| (*t != DaemonType::Osd, *t != DaemonType::Mon));
    let mut out = Vec::new();
    for (t, mut ids) in by_type {
        ids.sort_by(|a, b| natural(a).cmp(&natural(b)));
        ids.dedup();
        let name = |id: &str| format!("{}.{id}", t.ceph_name());
        let one = |ids: &[&str]| {
            let mut args: Vec<String> = vec![t.ceph_name().to_string(), "ok-to-stop".into()];
            args.extend(ids.iter().map(|i| i.to_string()));
            if t == DaemonType::Osd {
                args.extend(["--max".to_string(), ids.len().to_string()]);
            }
            Ask { daemons: ids.iter().map(|i| name(i)).collect(), args }
        };
        if together || t == DaemonType::Osd {
            out.push(one(&ids));
        } else {
            out.extend(ids.iter().map(|i| one(std::slice::from_ref(i))));
        }
    }
    out
}

/// Numeric ids in number order (`osd.2` before `osd.10`), others by name.
fn natural(id: &str) -> (u64, &str) {
    (id.parse().unwrap_or(u64::MAX), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[(DaemonType, &str)]) -> Vec<DaemonId> {
        v.iter().map(|(t, i)| DaemonId::new(*t, *i)).collect()
    }

    #[test]
    fn one_ask_per_type_naming_the_whole_set() {
        let d = ids(&[
            (DaemonType::Mgr, "a"),
            (DaemonType::Mon, "b"),
            (DaemonType::Osd, "10"),
            (DaemonType::Osd, "2"),
            (DaemonType::Mds, "myfs-a"),
        ]);
        let a = asks(&d, true);
        let cmds: Vec<String> = a.iter().map(Ask::command).collect();
        assert_eq!(
            cmds,
            ["ceph osd ok-to-stop 2 10 --max 2", "ceph mon ok-to-stop b", "ceph mds ok-to-stop myfs-a"],
            "the MGR is not asked of"
        );
        assert_eq!(a[0].daemons, ["osd.2", "osd.10"]);
        assert_eq!(a[2].daemons, ["mds.myfs-a"]);
    }

    #[test]
    fn mons_restarting_one_by_one_are_asked_one_by_one() {
        let d = ids(&[(DaemonType::Mon, "a"), (DaemonType::Mon, "b"), (DaemonType::Osd, "1"), (DaemonType::Osd, "0")]);
        let cmds: Vec<String> = asks(&d, false).iter().map(Ask::command).collect();
        assert_eq!(cmds, ["ceph osd ok-to-stop 0 1 --max 2", "ceph mon ok-to-stop a", "ceph mon ok-to-stop b"]);
        let cmds: Vec<String> = asks(&d, true).iter().map(Ask::command).collect();
        assert_eq!(cmds, ["ceph osd ok-to-stop 0 1 --max 2", "ceph mon ok-to-stop a b"]);
    }

    #[test]
    fn nothing_to_ask_for_gateways_and_managers() {
        assert!(asks(&ids(&[(DaemonType::Rgw, "s-a"), (DaemonType::Mgr, "a")]), true).is_empty());
    }
}
