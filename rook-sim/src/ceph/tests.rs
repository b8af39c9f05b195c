//! The simulated Ceph's model and commands, on clusters built by hand (no simulation).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::commands::parse;
use super::ctx::Out;
use super::model::{Cluster, Daemon};
use super::state::CephState;
use super::{crush, run};

fn daemon(kind: &str, id: &str, version: &str) -> Daemon {
    Daemon { kind: kind.into(), id: id.into(), up: true, version: Some(version.into()), location: vec![], group: None }
}

/// `hosts` hosts (`node-0N`, under `racks` racks when > 0), OSD i on host i % hosts, mons
/// a b c, mgr a, MDS myfs-a and myfs-b, everything up on `version`.
fn daemons(osds: usize, hosts: usize, racks: usize, version: &str) -> Vec<Daemon> {
    let mut d = vec![
        daemon("mon", "a", version),
        daemon("mon", "b", version),
        daemon("mon", "c", version),
        daemon("mgr", "a", version),
    ];
    for m in ["myfs-a", "myfs-b"] {
        d.push(Daemon { group: Some("myfs".into()), ..daemon("mds", m, version) });
    }
    for i in 0..osds {
        let host = format!("node-{:02}", i % hosts);
        let mut loc = vec![("host".to_string(), host)];
        if racks > 0 {
            loc.push(("rack".into(), format!("rack-{}", (i % hosts) % racks)));
        }
        loc.push(("root".into(), "default".into()));
        d.push(Daemon { location: loc, ..daemon("osd", &i.to_string(), version) });
    }
    d
}

fn set_down(d: &mut [Daemon], kind: &str, pred: impl Fn(&Daemon) -> bool) {
    for x in d.iter_mut().filter(|x| x.kind == kind && pred(x)) {
        x.up = false;
        x.version = None;
    }
}

fn on_host(d: &Daemon, host: &str) -> bool {
    d.location.iter().any(|(t, n)| t == "host" && n == host)
}

fn ceph(c: &CephState, d: &[Daemon], args: &str) -> Out {
    let out = c.with("rook-ceph", |s| s.out.clone());
    let cluster = Cluster::new(d.to_vec(), &out);
    run(c, "rook-ceph", &cluster, &parse(&args.split(' ').map(String::from).collect::<Vec<_>>()))
}

fn json(o: &Out) -> Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", o.stdout))
}

fn ids(v: &Value) -> Vec<u64> {
    v["osds"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

#[test]
fn placement_groups_span_distinct_hosts_and_are_deterministic() {
    let c = Cluster::new(daemons(12, 3, 0, "19.2.3-0"), &BTreeSet::new());
    let t = crush::Tree::new(&c);
    let m = crush::map(&c, &t);
    assert_eq!(m.pgs.len(), c.pools.iter().map(|p| p.pg_num as usize).sum::<usize>());
    for pg in &m.pgs {
        let hosts: BTreeSet<i64> = pg.osds.iter().map(|o| t.ancestor(*o, "host").unwrap()).collect();
        assert_eq!(hosts.len(), 3, "pg {} on {:?}", pg.name(), pg.osds);
    }
    // every OSD holds some PGs, and the mapping does not change between calls
    assert!(c.osds.keys().all(|o| m.by_osd.get(o).is_some_and(|v| v.len() > 20)));
    assert_eq!(m.pgs[7].osds, crush::map(&c, &t).pgs[7].osds);
}

#[test]
fn osd_ok_to_stop_one_host_of_three_is_ok_and_max_stays_in_its_host() {
    let c = CephState::default();
    let d = daemons(12, 3, 0, "19.2.3-0");
    let o = ceph(&c, &d, "osd ok-to-stop 0 -f json");
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    let v = json(&o);
    assert_eq!(v["ok_to_stop"], true);
    assert_eq!(ids(&v), [0]);
    assert_eq!(v["num_not_ok_pgs"], 0);
    assert!(v["num_ok_pgs"].as_u64().unwrap() > 20);
    assert_eq!(v["ok_become_degraded"].as_array().unwrap().len() as u64, v["num_ok_pgs"].as_u64().unwrap());
    assert!(v.get("bad_become_inactive").is_none(), "empty lists are left out as Ceph leaves them");
    // --max: the rest of osd.0's host (node-00: 0 3 6 9), none of another host
    let v = json(&ceph(&c, &d, "osd ok-to-stop osd.0 --max=20"));
    assert_eq!(ids(&v), [0, 3, 6, 9]);
    let v = json(&ceph(&c, &d, "osd ok-to-stop 4 --max 2"));
    assert_eq!(ids(&v), [1, 4], "the first OSDs by id of osd.4's host, up to max");
}

#[test]
fn osd_ok_to_stop_is_refused_while_another_host_is_down() {
    let c = CephState::default();
    let mut d = daemons(12, 3, 0, "19.2.3-0");
    set_down(&mut d, "osd", |x| on_host(x, "node-01"));
    let o = ceph(&c, &d, "osd ok-to-stop 0 --format json");
    assert_eq!(o.code, 16);
    let v = json(&o);
    assert_eq!(v["ok_to_stop"], false);
    assert_eq!(ids(&v), [0]);
    let bad = v["num_not_ok_pgs"].as_u64().unwrap();
    assert!(bad > 0 && v["bad_become_inactive"].as_array().unwrap().len() as u64 == bad);
    assert!(v["ok_become_more_degraded"].is_null() || v["num_ok_pgs"].as_u64().unwrap() > 0);
    assert_eq!(
        o.stderr,
        format!("Error EBUSY: unsafe to stop osd(s) at this time ({bad} PGs are or would become offline)\n")
    );
    // --max does not rescue a refused set
    assert_eq!(ids(&json(&ceph(&c, &d, "osd ok-to-stop 0 --max 20"))), [0]);
    // the down OSDs themselves: stopping them changes nothing
    let o = ceph(&c, &d, "osd ok-to-stop 1 -f json");
    assert_eq!(o.code, 0);
    assert_eq!(json(&o)["num_ok_pgs"], 0);
}

#[test]
fn osd_ok_to_stop_grows_within_a_host_then_a_rack() {
    let c = CephState::default();
    // 6 hosts in 2 racks; pools separate replicas by host
    let d = daemons(24, 6, 2, "19.2.3-0");
    let v = json(&ceph(&c, &d, "osd ok-to-stop 0 --max 20"));
    let got = ids(&v);
    assert_eq!(&got[..4], [0, 6, 12, 18], "its host first");
    assert!(got.len() == 4 || got.iter().all(|o| (o % 6) % 2 == 0), "then only its rack: {got:?}");
    assert_eq!(v["ok_to_stop"], true);
}

#[test]
fn osd_ok_to_stop_bad_ids() {
    let c = CephState::default();
    let d = daemons(6, 3, 0, "19.2.3-0");
    let o = ceph(&c, &d, "osd ok-to-stop 99");
    assert_eq!((o.code, o.stderr.as_str()), (2, "Error ENOENT: osd.99 does not exist\n"));
    assert_eq!(ceph(&c, &d, "osd ok-to-stop x").code, 22);
    assert_eq!(ceph(&c, &d, "osd ok-to-stop").code, 22);
}

#[test]
fn mon_and_mds_ok_to_stop() {
    let c = CephState::default();
    let mut d = daemons(6, 3, 0, "19.2.3-0");
    let o = ceph(&c, &d, "mon ok-to-stop a");
    assert_eq!((o.code, o.stderr.as_str()), (0, "quorum should be preserved (b,c) after stopping [a]\n"));
    assert_eq!(ceph(&c, &d, "mon ok-to-stop a b").code, 16);
    assert_eq!(ceph(&c, &d, "mon ok-to-stop z").stderr, "invalid mon(s) specified: [z]\n");
    // the mds: myfs-a active with myfs-b its standby-replay
    assert_eq!(ceph(&c, &d, "mds ok-to-stop myfs-a").code, 0);
    let o = ceph(&c, &d, "mds ok-to-stop myfs-a myfs-b");
    assert_eq!(o.code, 16);
    assert!(
        o.stderr.starts_with("Error EBUSY: insufficent standby MDS daemons to stop active gids 4000"),
        "{}",
        o.stderr
    );
    set_down(&mut d, "mon", |x| x.id == "c");
    let o = ceph(&c, &d, "mon ok-to-stop a");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (16, "Error EBUSY: not enough monitors would be available (b) after stopping mons [a]\n")
    );
    set_down(&mut d, "mds", |x| x.id == "myfs-a");
    assert!(ceph(&c, &d, "mds ok-to-stop myfs-b").stderr.contains("insufficent standby"));
    set_down(&mut d, "mds", |_| true);
    assert_eq!(
        ceph(&c, &d, "mds ok-to-stop myfs-b").stderr,
        "Error EBUSY: one or more filesystems is currently degraded\n"
    );
}

#[test]
fn versions_count_running_daemons_and_old_versions_warn_then_err() {
    let c = CephState::default();
    let mut d = daemons(6, 3, 0, "19.2.3-0");
    set_down(&mut d, "osd", |x| x.id == "5");
    let v = json(&ceph(&c, &d, "versions"));
    let line = crate::topology::ceph_version_line("19.2.3-0");
    assert_eq!(v["osd"][&line], 5, "the down OSD runs nothing");
    assert_eq!(v["overall"][&line], 5 + 3 + 1 + 2);
    assert_eq!(v["rgw"], Value::Null);
    // mixed: nothing until mon_warn_older_version_delay has passed
    d[0].version = Some("20.2.4-0".into());
    let health = |c: &CephState, d: &[Daemon]| json(&ceph(c, d, "health detail -f json"));
    assert!(health(&c, &d)["checks"].get("DAEMON_OLD_VERSION").is_none());
    c.set_old_version_delay(Duration::ZERO);
    let h = health(&c, &d);
    assert_eq!(h["checks"]["DAEMON_OLD_VERSION"]["severity"], "HEALTH_WARN");
    assert_eq!(
        h["checks"]["DAEMON_OLD_VERSION"]["summary"]["message"],
        "There are daemons running an older version of ceph"
    );
    d[1].version = Some("20.2.2-0".into());
    let h = health(&c, &d);
    assert_eq!(h["checks"]["DAEMON_OLD_VERSION"]["severity"], "HEALTH_ERR");
    assert_eq!(h["status"], "HEALTH_ERR");
    let detail = &h["checks"]["DAEMON_OLD_VERSION"]["detail"];
    assert_eq!(detail[1]["message"], "mon.b is running an older version of ceph: 20.2.2", "the newest left out");
    assert!(detail[0]["message"].as_str().unwrap().starts_with("mon.c mgr.a mds.myfs-a mds.myfs-b osd.0 "));
}

#[test]
fn health_of_a_host_down_and_of_two() {
    let c = CephState::default();
    let mut d = daemons(12, 3, 0, "19.2.3-0");
    let h = json(&ceph(&c, &d, "health -f json"));
    assert_eq!(h, serde_json::json!({"status": "HEALTH_OK", "checks": {}, "mutes": []}));
    set_down(&mut d, "osd", |x| on_host(x, "node-01"));
    let h = json(&ceph(&c, &d, "health detail -f json"));
    assert_eq!(h["status"], "HEALTH_WARN");
    assert_eq!(h["checks"]["OSD_DOWN"]["summary"]["message"], "4 osds down");
    assert_eq!(h["checks"]["OSD_DOWN"]["detail"][0]["message"], "osd.1 (root=default,host=node-01) is down");
    assert_eq!(h["checks"]["OSD_HOST_DOWN"]["summary"]["message"], "1 host (4 osds) down");
    assert!(
        h["checks"]["PG_DEGRADED"]["summary"]["message"].as_str().unwrap().starts_with("Degraded data redundancy: ")
    );
    assert!(h["checks"].get("PG_AVAILABILITY").is_none(), "two copies left: still active");
    let s = json(&ceph(&c, &d, "status -f json"));
    assert_eq!((s["osdmap"]["num_osds"].as_u64(), s["osdmap"]["num_up_osds"].as_u64()), (Some(12), Some(8)));
    let by_state = s["pgmap"]["pgs_by_state"].as_array().unwrap();
    assert_eq!(
        by_state.iter().map(|e| e["count"].as_u64().unwrap()).sum::<u64>(),
        s["pgmap"]["num_pgs"].as_u64().unwrap()
    );
    assert!(by_state.iter().all(|e| e["state_name"] == "active+undersized+degraded"), "{by_state:?}");
    set_down(&mut d, "osd", |x| on_host(x, "node-02"));
    let h = json(&ceph(&c, &d, "health detail -f json"));
    assert!(
        h["checks"]["PG_AVAILABILITY"]["summary"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Reduced data availability: ")
    );
    assert_eq!(ceph(&c, &d, "health").stdout.split(' ').next(), Some("HEALTH_WARN"));
}

#[test]
fn flags_persist_and_show_in_dump_and_health() {
    let c = CephState::default();
    let d = daemons(6, 3, 0, "19.2.3-0");
    let o = ceph(&c, &d, "osd set noout");
    assert_eq!((o.code, o.stderr.as_str()), (0, "noout is set\n"));
    let dump = json(&ceph(&c, &d, "osd dump -f json"));
    assert!(dump["flags"].as_str().unwrap().split(',').any(|f| f == "noout"));
    assert_eq!(dump["require_osd_release"], "squid");
    assert_eq!(
        json(&ceph(&c, &d, "health -f json"))["checks"]["OSDMAP_FLAGS"]["summary"]["message"],
        "noout flag(s) set"
    );
    assert_eq!(ceph(&c, &d, "osd unset noout").stderr, "noout is unset\n");
    assert_eq!(json(&ceph(&c, &d, "health -f json"))["status"], "HEALTH_OK");
    let o = ceph(&c, &d, "osd set nonsense");
    assert_eq!(o.code, 22);
    assert!(o.stderr.starts_with("Invalid command: nonsense not in full|pause|"));
    assert_eq!(ceph(&c, &d, "osd set-group noout node-01").code, 0);
    let dump = json(&ceph(&c, &d, "osd dump -f json"));
    assert_eq!(dump["crush_node_flags"]["node-01"], serde_json::json!(["noout"]));
    let h = json(&ceph(&c, &d, "health detail -f json"));
    assert_eq!(h["checks"]["OSD_FLAGS"]["detail"][0]["message"], "crush node node-01 has flags noout");
    assert_eq!(ceph(&c, &d, "osd unset-group noout node-01").code, 0);
    assert_eq!(ceph(&c, &d, "osd set-group noout nowhere").code, 22);
    assert_eq!(ceph(&c, &d, "osd pool set noautoscale").code, 0);
    assert_eq!(json(&ceph(&c, &d, "osd pool get noautoscale -f json"))["noautoscale"], true);
    let t = json(&ceph(&c, &d, "osd tree -f json"));
    assert_eq!(t["nodes"][0]["type"], "root");
    assert_eq!(t["nodes"].as_array().unwrap().len(), 1 + 3 + 6);
}

#[test]
fn require_osd_release_refuses_as_ceph_does() {
    let c = CephState::default();
    let mut d = daemons(6, 3, 0, "19.2.3-0");
    assert_eq!(ceph(&c, &d, "osd require-osd-release squid").code, 0);
    let o = ceph(&c, &d, "osd require-osd-release tentacle");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (22, "Error EINVAL: unrecognized release tentacle\n"),
        "a squid mon knows no tentacle"
    );
    for x in d.iter_mut().filter(|x| x.kind != "osd") {
        x.version = Some("20.2.4-0".into());
    }
    let o = ceph(&c, &d, "osd require-osd-release tentacle");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error EPERM: not all up OSDs have CEPH_FEATURE_SERVER_TENTACLE feature\n")
    );
    for x in d.iter_mut() {
        x.version = Some("20.2.4-0".into());
    }
    assert_eq!(ceph(&c, &d, "osd require-osd-release tentacle").code, 0);
    assert_eq!(json(&ceph(&c, &d, "osd dump -f json"))["require_osd_release"], "tentacle");
    let o = ceph(&c, &d, "osd require-osd-release squid");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error EPERM: require_osd_release cannot be lowered once it has been set\n")
    );
}

#[test]
fn insecure_service_keys_on_fixed_releases_until_rotated() {
    let c = CephState::default();
    let d = daemons(3, 3, 0, "20.2.4-0");
    let h = json(&ceph(&c, &d, "health detail -f json"));
    assert_eq!(h["status"], "HEALTH_ERR");
    let check = &h["checks"]["AUTH_INSECURE_SERVICE_KEY_TYPE"];
    assert_eq!(check["severity"], "HEALTH_ERR");
    assert!(
        check["detail"].as_array().unwrap().iter().any(|m| m["message"] == "entity osd.0 using insecure key type: aes")
    );
    let o = ceph(&c, &d, "auth rotate osd.0 --key-type aes256k");
    assert_eq!(o.code, 0);
    let h = json(&ceph(&c, &d, "health detail -f json"));
    assert!(
        !h["checks"]["AUTH_INSECURE_SERVICE_KEY_TYPE"]["detail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message"].as_str().unwrap().contains("osd.0 "))
    );
    c.with("rook-ceph", |s| s.all_aes256k = true);
    assert_eq!(json(&ceph(&c, &d, "health -f json"))["status"], "HEALTH_OK");
    // below the fix: no such check
    let c = CephState::default();
    assert_eq!(json(&ceph(&c, &daemons(3, 3, 0, "20.2.2-0"), "health -f json"))["status"], "HEALTH_OK");
}

#[test]
fn unknown_commands_and_global_options() {
    let c = CephState::default();
    let d = daemons(3, 3, 0, "19.2.3-0");
    let o = ceph(&c, &d, "osd frobnicate");
    assert_eq!(o.code, 22);
    assert!(o.stderr.starts_with("no valid command found; ") && o.stderr.ends_with("Error EINVAL: invalid command\n"));
    let o = ceph(
        &c,
        &d,
        "--connect-timeout=10 --conf=/var/lib/rook/rook-ceph/rook-ceph.config osd --keyring /k ok-to-stop 0 --format=json",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json(&o)["ok_to_stop"], true);
    assert_eq!(super::commands::conf_namespace("/var/lib/rook/other/other.config"), Some("other"));
}

#[test]
fn two_thousand_osds_are_cheap() {
    let d = daemons(2000, 167, 0, "19.2.3-0");
    let start = std::time::Instant::now();
    let c = CephState::default();
    let v = json(&ceph(&c, &d, "osd ok-to-stop 5 --max 20"));
    assert_eq!(v["ok_to_stop"], true);
    // osd.5's host first (node-05: 5, 172, 339...); then, as Ceph's walk up to the root does,
    // any up OSD sharing no PG with the set so far, up to max
    let got = ids(&v);
    let host: Vec<u64> = (0..2000).filter(|o| o % 167 == 5).collect();
    assert!(host.iter().all(|o| got.contains(o)) && got.len() == 20, "{got:?}");
    let first = start.elapsed();
    let again = std::time::Instant::now();
    json(&ceph(&c, &d, "status -f json"));
    // measured: ~130 ms for the first call (maps ~66000 PGs), ~80 ms after; loose bounds
    // for a loaded machine
    assert!(first < Duration::from_secs(10) && again.elapsed() < Duration::from_secs(5), "{first:?}");
}
