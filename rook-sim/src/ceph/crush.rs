//! The CRUSH tree of the simulated cluster, placement groups mapped over it, their states,
//! and Ceph's `ok-to-stop` arithmetic on them (src/mgr/DaemonServer.cc
//! `_check_offlines_pgs`, `_maximize_ok_to_stop_set`).
//!
//! The mapping is CRUSH-like, not CRUSH: each PG takes `size` distinct failure-domain buckets,
//! each chosen pseudo-randomly with a probability proportional to its number of `in` OSDs
//! (straw2 with equal OSD weights), then one `in` OSD inside each, all from a hash of (pool,
//! PG, replica, try): deterministic, different per PG, never two replicas in one failure
//! domain. A down OSD stays in the mapping (its PGs run without it, undersized) until it is
//! marked out; an out OSD is left out of the mapping (its PGs recovered elsewhere at once).
//! Mappings are cached by what they depend on, so a 2000-OSD cluster maps its ~66000 PGs once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use super::model::{CRUSH_TYPES, Cluster, Pool, type_id};

/// A CRUSH bucket: its id (negative), type and name, its children (bucket ids or OSD ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub children: Vec<i64>,
    pub parent: Option<i64>,
}

/// The tree: buckets by id, each OSD's parent bucket.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub buckets: BTreeMap<i64, Bucket>,
    pub osd_parent: BTreeMap<u32, i64>,
}

impl Tree {
    /// Build the tree from the OSDs' locations: a bucket per (type, name) seen, ids -1, -2...
    /// in (type outermost first, name) order, so the default root is -1 as in Ceph.
    pub fn new(c: &Cluster) -> Tree {
        let mut keys: BTreeSet<(std::cmp::Reverse<usize>, String, String)> = BTreeSet::new();
        for o in c.osds.values() {
            for (t, n) in &o.location {
                keys.insert((std::cmp::Reverse(type_id(t).unwrap_or(0)), t.clone(), n.clone()));
            }
        }
        let mut ids: HashMap<(String, String), i64> = HashMap::new();
        let mut t = Tree::default();
        for (i, (_, kind, name)) in keys.into_iter().enumerate() {
            let id = -(i as i64) - 1;
            ids.insert((kind.clone(), name.clone()), id);
            t.buckets.insert(id, Bucket { id, kind, name, children: vec![], parent: None });
        }
        for o in c.osds.values() {
            // innermost first: osd -> host -> rack -> ... -> root
            let chain: Vec<i64> = o.location.iter().map(|(k, n)| ids[&(k.clone(), n.clone())]).collect();
            if let Some(first) = chain.first() {
                t.osd_parent.insert(o.id, *first);
                t.buckets.get_mut(first).expect("bucket").children.push(o.id as i64);
            }
            for w in chain.windows(2) {
                let (child, parent) = (w[0], w[1]);
                let b = t.buckets.get_mut(&parent).expect("bucket");
                if !b.children.contains(&child) {
                    b.children.push(child);
                }
                t.buckets.get_mut(&child).expect("bucket").parent.get_or_insert(parent);
            }
        }
        t
    }

    /// CrushWrapper::get_immediate_parent_id: an OSD's bucket, a bucket's parent.
    pub fn parent(&self, item: i64) -> Option<i64> {
        if item >= 0 { self.osd_parent.get(&(item as u32)).copied() } else { self.buckets.get(&item)?.parent }
    }

    /// CrushWrapper::get_all_children: every item below a bucket, as a sorted set.
    pub fn all_children(&self, id: i64) -> BTreeSet<i64> {
        let mut out = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(b) = stack.pop() {
            for c in self.buckets.get(&b).map(|b| b.children.as_slice()).unwrap_or_default() {
                out.insert(*c);
                if *c < 0 {
                    stack.push(*c);
                }
            }
        }
        out
    }

    /// The bucket of type `kind` above an OSD, if any.
    pub fn ancestor(&self, osd: u32, kind: &str) -> Option<i64> {
        let mut cur = self.parent(osd as i64);
        while let Some(b) = cur {
            if self.buckets[&b].kind == kind {
                return Some(b);
            }
            cur = self.buckets[&b].parent;
        }
        None
    }

    pub fn bucket_by_name(&self, name: &str) -> Option<&Bucket> {
        self.buckets.values().find(|b| b.name == name)
    }
}

/// One placement group: its pool and seed (`1.a`), the OSDs CRUSH maps it to (primary first).
#[derive(Debug, Clone)]
pub struct Pg {
    pub pool: u32,
    pub seed: u32,
    pub osds: Vec<u32>,
}

impl Pg {
    /// `1.a`: pool id, seed in hex (pg_t's operator<<).
    pub fn name(&self) -> String {
        format!("{}.{:x}", self.pool, self.seed)
    }
}

/// Every PG and, per OSD, the PGs it holds (indexes into `pgs`).
#[derive(Debug, Default)]
pub struct Mapping {
    pub pgs: Vec<Pg>,
    pub by_osd: HashMap<u32, Vec<usize>>,
}

fn mix(mut h: u64) -> u64 {
    // splitmix64's finaliser: cheap, well spread
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d049bb133111eb);
    h ^ (h >> 31)
}

fn hash(a: u64, b: u64, c: u64, d: u64) -> u64 {
    mix(mix(mix(mix(a) ^ b) ^ c) ^ d)
}

/// Map every PG of `pools` over the `in` OSDs of the tree (module docs).
pub fn map(c: &Cluster, tree: &Tree) -> Mapping {
    let mut m = Mapping::default();
    for pool in &c.pools {
        // the failure-domain buckets with their in OSDs; OSDs without one are their own
        let mut domains: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for o in c.osds.values().filter(|o| o.is_in) {
            let d = tree.ancestor(o.id, &pool.failure_domain).unwrap_or(o.id as i64);
            domains.entry(d).or_default().push(o.id);
        }
        let domains: Vec<Vec<u32>> = domains.into_values().collect();
        let mut cumulative = Vec::with_capacity(domains.len());
        let mut total = 0u64;
        for d in &domains {
            total += d.len() as u64;
            cumulative.push(total);
        }
        for seed in 0..pool.pg_num {
            let mut chosen: Vec<usize> = Vec::with_capacity(pool.size);
            for r in 0..pool.size.min(domains.len()) {
                let mut pick = None;
                for attempt in 0..50u64 {
                    let x = hash(pool.id as u64, seed as u64, r as u64, attempt) % total.max(1);
                    let i = cumulative.partition_point(|&c| c <= x);
                    if !chosen.contains(&i) {
                        pick = Some(i);
                        break;
                    }
                }
                // CRUSH gives up after its tries too; here the first free domain keeps `size`
                let i = pick.unwrap_or_else(|| (0..domains.len()).find(|i| !chosen.contains(i)).expect("free domain"));
                chosen.push(i);
            }
            let osds: Vec<u32> = chosen
                .iter()
                .map(|&i| {
                    let d = &domains[i];
                    d[(hash(pool.id as u64, seed as u64, i as u64, 977) % d.len() as u64) as usize]
                })
                .collect();
            let idx = m.pgs.len();
            for o in &osds {
                m.by_osd.entry(*o).or_default().push(idx);
            }
            m.pgs.push(Pg { pool: pool.id, seed, osds });
        }
    }
    m
}

type CacheEntry = (u64, Arc<Mapping>);

/// The mapping of a cluster, from a small cache keyed by what it depends on (the pools, the
/// in OSDs and their failure domains).
pub fn mapping(c: &Cluster, tree: &Tree) -> Arc<Mapping> {
    static CACHE: OnceLock<Mutex<Vec<CacheEntry>>> = OnceLock::new();
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.pools.hash(&mut h);
    for o in c.osds.values().filter(|o| o.is_in) {
        o.id.hash(&mut h);
        o.location.hash(&mut h);
    }
    let key = h.finish();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, m)) = cache.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(k, _)| *k == key) {
        return m.clone();
    }
    let m = Arc::new(map(c, tree));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.push((key, m.clone()));
    if cache.len() > 8 {
        cache.remove(0);
    }
    m
}

/// A PG's acting set (its mapped OSDs that are up) and state, as the simulation settles them.
pub fn acting(pg: &Pg, c: &Cluster) -> Vec<u32> {
    pg.osds.iter().copied().filter(|o| c.osds.get(o).is_some_and(|o| o.up)).collect()
}

/// The state Ceph would show once peering settles: `active+clean` with every copy;
/// `active+undersized+degraded` with at least min_size; `undersized+degraded+peered` (not
/// active: I/O blocked) below; `stale+undersized+degraded+peered` with none (no primary
/// reports it). Pools hold data, so a PG short of copies is degraded.
pub fn state(pool: &Pool, acting: usize) -> &'static str {
    if acting >= pool.size {
        "active+clean"
    } else if acting >= pool.min_size {
        "active+undersized+degraded"
    } else if acting > 0 {
        "undersized+degraded+peered"
    } else {
        "stale+undersized+degraded+peered"
    }
}

pub fn is_active(state: &str) -> bool {
    state.split('+').any(|s| s == "active")
}

/// `offline_pg_report` (src/mgr/DaemonServer.h): which PGs stopping `osds` would leave
/// without enough copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfflineReport {
    pub osds: BTreeSet<u32>,
    pub ok: BTreeSet<(u32, u32)>,
    pub not_ok: BTreeSet<(u32, u32)>,
    pub ok_become_degraded: BTreeSet<(u32, u32)>,
    pub ok_become_more_degraded: BTreeSet<(u32, u32)>,
    pub bad_already_inactive: BTreeSet<(u32, u32)>,
    pub bad_become_inactive: BTreeSet<(u32, u32)>,
}

impl OfflineReport {
    /// `ok_to_stop()`: `not_ok.empty() && unknown.empty()` (no PG is unknown here).
    pub fn ok_to_stop(&self) -> bool {
        self.not_ok.is_empty()
    }
}

/// `_check_offlines_pgs`: for each PG whose acting set holds one of `osds`: not ok when it is
/// not active already (`bad_already_inactive`) or fewer than min_size copies would be left
/// (`bad_become_inactive`); else ok, becoming degraded (or more degraded if it already is).
/// Only the PGs on `osds` are looked at (the others cannot be "found").
pub fn check_offlines(osds: &BTreeSet<u32>, c: &Cluster, m: &Mapping) -> OfflineReport {
    let mut r = OfflineReport { osds: osds.clone(), ..Default::default() };
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let pools: HashMap<u32, &Pool> = c.pools.iter().map(|p| (p.id, p)).collect();
    for o in osds {
        for &i in m.by_osd.get(o).map(Vec::as_slice).unwrap_or_default() {
            if !seen.insert(i) {
                continue;
            }
            let pg = &m.pgs[i];
            let acting = acting(pg, c);
            if !acting.iter().any(|a| osds.contains(a)) {
                continue;
            }
            let pool = pools[&pg.pool];
            let left = acting.iter().filter(|a| !osds.contains(a)).count();
            let st = state(pool, acting.len());
            let key = (pg.pool, pg.seed);
            let mut dangerous = false;
            if !is_active(st) {
                r.bad_already_inactive.insert(key);
                dangerous = true;
            }
            if left < pool.min_size {
                r.bad_become_inactive.insert(key);
                dangerous = true;
            }
            if dangerous {
                r.not_ok.insert(key);
            } else {
                r.ok.insert(key);
                if st.contains("degraded") {
                    r.ok_become_more_degraded.insert(key);
                } else {
                    r.ok_become_degraded.insert(key);
                }
            }
        }
    }
    r
}

/// `_maximize_ok_to_stop_set`: when `orig` is ok and `max` allows more, walk up the CRUSH
/// tree from the first OSD (its host, then the host's parent...) and add each up OSD below
/// that point, in id order, that keeps the set ok; stop at `max`, or after a level where any
/// OSD could not be added. So the set grows within one failure domain first.
pub fn maximize(orig: &BTreeSet<u32>, max: usize, c: &Cluster, tree: &Tree, m: &Mapping) -> OfflineReport {
    let mut out = check_offlines(orig, c, m);
    if !out.ok_to_stop() || orig.len() >= max {
        return out;
    }
    let mut osds = orig.clone();
    let mut parent = *osds.iter().next().expect("non-empty") as i64;
    loop {
        let Some(p) = tree.parent(parent) else { return out };
        parent = p;
        let mut failed = 0;
        for o in tree.all_children(parent) {
            if o < 0 {
                continue;
            }
            let o = o as u32;
            if !c.osds.get(&o).is_some_and(|x| x.up) || osds.contains(&o) {
                continue;
            }
            osds.insert(o);
            let report = check_offlines(&osds, c, m);
            if !report.ok_to_stop() {
                osds.remove(&o);
                failed += 1;
                continue;
            }
            out = report;
            if osds.len() == max {
                return out;
            }
        }
        if failed > 0 {
            return out;
        }
    }
}

/// The CRUSH type names in order, for `osd tree`'s `type_id`.
pub fn type_names() -> &'static [&'static str] {
    &CRUSH_TYPES
}
