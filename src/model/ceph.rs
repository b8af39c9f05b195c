//! What Ceph itself answered (issue 23 item 1), as `status` shows it: `ceph health detail
//! -f json` and `ceph versions -f json`, asked in the Rook operator pod (`cluster::ceph`).
//! Pure: the JSON in, the shapes out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::HealthCheck;

/// `status`'s `ceph` object: Ceph's own answer, or why there is none.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CephAnswer {
    /// Ceph answered both commands.
    pub asked: bool,
    /// `namespace/pod` the commands ran in (the operator pod, else the toolbox); null when
    /// none was found.
    pub pod: Option<String>,
    /// `ceph health detail`'s `status`: `HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`.
    pub health: Option<String>,
    /// Its checks: code (`OSD_DOWN`), severity, the summary message; by code.
    pub checks: Vec<HealthCheck>,
    /// `ceph versions`: daemon type (`mon`, `osd`, ..., `overall`) -> version line -> count.
    pub versions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Why Ceph could not be asked (one line, sanitised); null when asked.
    pub error: Option<String>,
    /// The kind of that failure, for scripts: `forbidden`, `noPod`, `timeout`, `exit`,
    /// `notJson`, `api`; null when asked.
    pub reason: Option<String>,
}

/// `ceph health detail -f json`: `{"status": "HEALTH_WARN", "checks": {"OSD_DOWN":
/// {"severity": "HEALTH_WARN", "summary": {"message": "1 osds down", "count": 1},
/// "detail": [...], "muted": false}}}` (Ceph's `health_check_map_t` dump). None when it
/// has no `status` string.
pub fn health_of(v: &Value) -> Option<(String, Vec<HealthCheck>)> {
    let status = v.get("status")?.as_str()?.to_string();
    let checks = v
        .get("checks")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(code, c)| HealthCheck {
                    code: code.clone(),
                    severity: c.get("severity").and_then(Value::as_str).unwrap_or_default().to_string(),
                    message: c.pointer("/summary/message").and_then(Value::as_str).unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some((status, checks))
}

/// `ceph versions -f json`: `{"mon": {"ceph version 20.2.4 (...) tentacle (stable)": 3},
/// ..., "overall": {...}}`. None when it is not an object of such counts.
pub fn versions_of(v: &Value) -> Option<BTreeMap<String, BTreeMap<String, u64>>> {
    v.as_object()?
        .iter()
        .map(|(t, m)| {
            let counts: Option<BTreeMap<String, u64>> =
                m.as_object()?.iter().map(|(line, n)| Some((line.clone(), n.as_u64()?))).collect();
            Some((t.clone(), counts?))
        })
        .collect()
}

/// What clears AUTH_INSECURE_SERVICE_KEY_TYPE (CVE-2025-30156; Ceph 19.2.6, 20.2.4, 21.2.0):
/// Rook's daemon key rotation, not `skipUpgradeChecks` (Rook's CephCluster spec,
/// `security.cephx.daemon`).
pub const ROTATE_KEYS_FIX: &str = "rotate the daemon keys to AES256K: spec.security.cephx.daemon {keyRotationPolicy: \
     KeyGeneration, keyGeneration: current+1, keyType: aes256k} (Rook v1.19.9 / v1.20.5+), not skipUpgradeChecks";

/// Why Ceph's own health (`ceph health detail`) stops the next restart: HEALTH_ERR, with
/// the codes at that severity and their summaries (`Ceph reports HEALTH_ERR:
/// AUTH_INSECURE_SERVICE_KEY_TYPE (3 daemons use insecure keys)`). None below HEALTH_ERR.
/// Rook refuses to upgrade on HEALTH_ERR too (`cluster/version.go`); its child controllers
/// let some codes by (`support::CHILD_RECONCILE_ALLOWS`), the plugin's gate does not.
pub fn health_blocks(status: &str, checks: &[HealthCheck]) -> Option<String> {
    if status != "HEALTH_ERR" {
        return None;
    }
    let errs: Vec<String> = checks
        .iter()
        .filter(|c| c.severity == "HEALTH_ERR")
        .map(|c| {
            if c.message.is_empty() {
                crate::output::clean(&c.code).into_owned()
            } else {
                format!("{} ({})", crate::output::clean(&c.code), crate::output::clean(&c.message))
            }
        })
        .collect();
    let keys = checks.iter().any(|c| c.severity == "HEALTH_ERR" && c.code.starts_with("AUTH_INSECURE"));
    let fix = if keys { format!(" - to clear it, {ROTATE_KEYS_FIX}") } else { String::new() };
    Some(if errs.is_empty() {
        "Ceph reports HEALTH_ERR".to_string()
    } else {
        format!("Ceph reports HEALTH_ERR: {}{fix}", errs.join("; "))
    })
}

/// Rook's `pgHealthyRegex` default (pkg/daemon/ceph/client/status.go
/// `defaultPgHealthyRegex`): the PG states its OSD updates count as clean.
pub const DEFAULT_PG_HEALTHY_REGEX: &str = r"^active(\+(clean|deep|scrubbing|snaptrim|snaptrim_wait))+$";

/// Why the placement groups are not all clean, as Rook's `isClusterClean` judges `ceph
/// status -f json` (`pgmap.num_pgs`, `pgmap.pgs_by_state: [{state_name, count}]`): every PG
/// in a state `healthy` matches, or no PG at all. None when clean; Some("12
/// active+undersized+degraded, 4 peering") listing the states that do not match.
pub fn pgs_unclean(status: &Value, healthy: &regex::Regex) -> Option<String> {
    let pgmap = status.get("pgmap")?;
    let num = pgmap.get("num_pgs").and_then(Value::as_u64).unwrap_or(0);
    if num == 0 {
        return None;
    }
    let states: Vec<(String, u64)> = pgmap
        .get("pgs_by_state")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    let name = s.get("state_name").and_then(Value::as_str).unwrap_or_default();
                    (crate::output::clean(name).into_owned(), s.get("count").and_then(Value::as_u64).unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default();
    let clean: u64 = states.iter().filter(|(n, _)| healthy.is_match(n)).map(|(_, c)| c).sum();
    if clean == num {
        return None;
    }
    let unclean: Vec<String> =
        states.iter().filter(|(n, _)| !healthy.is_match(n)).map(|(n, c)| format!("{c} {n}")).collect();
    Some(if unclean.is_empty() {
        format!("{clean} of {num} PGs in a healthy state")
    } else {
        format!("{} (of {num} PGs)", unclean.join(", "))
    })
}

/// How many daemons of `ceph_type` (`mon`, `osd`, ... as `ceph versions` keys them) run
/// release `v`, by the version in each line (`ceph version 20.2.6 (hash) tentacle
/// (stable)`; `20.2.6-0` alike): builds of one release count together, since a hotfix
/// tag's daemons report the release they patch.
pub fn count_on(
    versions: &BTreeMap<String, BTreeMap<String, u64>>,
    ceph_type: &str,
    v: crate::model::image::CephVersion,
) -> u64 {
    versions
        .get(ceph_type)
        .map(|lines| {
            lines
                .iter()
                .filter(|(line, _)| {
                    line.strip_prefix("ceph version ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(crate::model::image::parse_version)
                        == Some(v)
                })
                .map(|(_, n)| n)
                .sum()
        })
        .unwrap_or(0)
}

/// `EBUSY`: the exit code of an `ok-to-stop` that says no (Ceph's `-EBUSY`, as the `ceph`
/// CLI returns it; DaemonServer.cc, MonmapMonitor.cc, MDSMonitor.cc).
pub const EBUSY: i32 = 16;

/// Ceph's answer to `ceph {osd,mon,mds} ok-to-stop IDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OkToStop {
    /// Exit 0: stopping them keeps data available (OSDs), quorum (mons), a rank served (MDS).
    Yes,
    /// Exit `EBUSY`: Ceph's reason, one sanitised line (`unsafe to stop osd(s) at this time
    /// (12 PGs are or would become offline)`, `not enough monitors would be available (c)
    /// after stopping mons [a,b]`).
    No { reason: String },
}

/// Read an `ok-to-stop` answer: its exit code, stdout and stderr (Ceph's sentence). The
/// OSD form (`osd`) always prints JSON `{"ok_to_stop": bool, "osds": [..], "num_ok_pgs",
/// "num_not_ok_pgs", ...}` (DaemonServer.cc); the mon and MDS forms print nothing on stdout
/// (or JSON). Err: what makes it no answer, in words for an error: another exit code,
/// stdout that is not that (a `ceph` that printed garbage and exited 0 has not said yes),
/// or `invalid mon(s) specified` (exit 0, but Ceph does not know the mon asked of:
/// MonmapMonitor.cc).
pub fn ok_to_stop_of(osd: bool, code: i32, stdout: &[u8], stderr: &[u8]) -> Result<OkToStop, String> {
    let said = String::from_utf8_lossy(stderr);
    let line = said.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let reason = crate::output::clean(line).into_owned();
    let blank = stdout.iter().all(u8::is_ascii_whitespace);
    let json: Option<Value> = serde_json::from_slice(stdout).ok();
    let osd_says = json.as_ref().and_then(|v| v.get("ok_to_stop")).and_then(Value::as_bool);
    let start = || {
        let s = String::from_utf8_lossy(stdout);
        crate::output::clean(&s.chars().take(60).collect::<String>()).into_owned()
    };
    match code {
        // a yes must be Ceph's own; a no is taken as it comes (it restarts nothing)
        0 if osd && osd_says.is_none() => {
            Err(format!("answered something that is not Ceph's ok-to-stop JSON (it starts: {})", start()))
        }
        0 if !osd && !blank && json.is_none() => {
            Err(format!("answered something that is not Ceph's (it starts: {})", start()))
        }
        0 if line.starts_with("invalid") => Err(format!("Ceph does not know what was asked of: {reason}")),
        0 if osd_says == Some(false) => Ok(OkToStop::No { reason }),
        0 => Ok(OkToStop::Yes),
        EBUSY if reason.is_empty() => Ok(OkToStop::No { reason: "Ceph answered EBUSY".into() }),
        EBUSY => Ok(OkToStop::No { reason }),
        c => Err(format!("exit code {c}: {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_detail_and_versions_as_ceph_dumps_them() {
        let h = json!({"status": "HEALTH_WARN", "checks": {"OSD_DOWN": {"severity": "HEALTH_WARN",
            "summary": {"message": "1 osds down", "count": 1}, "detail": [{"message": "osd.3 is down"}], "muted": false}},
            "mutes": []});
        let (status, checks) = health_of(&h).unwrap();
        assert_eq!(status, "HEALTH_WARN");
        assert_eq!(checks.len(), 1);
        assert_eq!((checks[0].code.as_str(), checks[0].message.as_str()), ("OSD_DOWN", "1 osds down"));
        assert!(health_of(&json!({"checks": {}})).is_none());
        let v =
            versions_of(&json!({"mon": {"ceph version 20.2.4": 3}, "overall": {"ceph version 20.2.4": 3}})).unwrap();
        assert_eq!(v["mon"]["ceph version 20.2.4"], 3);
        assert!(versions_of(&json!({"mon": 3})).is_none());
        assert!(versions_of(&json!([1])).is_none());
    }

    #[test]
    fn pgs_are_clean_as_rook_judges_them() {
        let re = regex::Regex::new(DEFAULT_PG_HEALTHY_REGEX).unwrap();
        let status = |states: Value, num: u64| json!({"pgmap": {"num_pgs": num, "pgs_by_state": states}});
        let clean = status(
            json!([{"state_name": "active+clean", "count": 60}, {"state_name": "active+clean+scrubbing+deep", "count": 4}]),
            64,
        );
        assert_eq!(pgs_unclean(&clean, &re), None);
        assert_eq!(pgs_unclean(&status(json!([]), 0), &re), None, "no PGs yet counts as clean (Rook)");
        let degraded = status(
            json!([{"state_name": "active+clean", "count": 52}, {"state_name": "active+undersized+degraded", "count": 12}]),
            64,
        );
        assert_eq!(pgs_unclean(&degraded, &re).unwrap(), "12 active+undersized+degraded (of 64 PGs)");
        // a regex of the operator's own that lets degraded PGs by
        let loose = regex::Regex::new("^active").unwrap();
        assert_eq!(pgs_unclean(&degraded, &loose), None);
    }

    #[test]
    fn daemons_on_a_release_by_their_version_lines() {
        let v = versions_of(&json!({"osd": {"ceph version 20.2.6 (abc) tentacle (stable)": 4,
            "ceph version 20.2.6-0 (abc) tentacle (stable)": 1, "ceph version 20.2.4 (def) tentacle (stable)": 7}}))
        .unwrap();
        let on = |s: &str| count_on(&v, "osd", crate::model::image::parse_version(s).unwrap());
        assert_eq!(on("20.2.6"), 5);
        assert_eq!(on("20.2.4"), 7);
        assert_eq!(on("19.2.3"), 0);
        assert_eq!(count_on(&v, "mon", crate::model::image::parse_version("20.2.6").unwrap()), 0);
    }

    #[test]
    fn health_err_names_its_codes() {
        let checks = vec![
            HealthCheck { code: "OSD_DOWN".into(), severity: "HEALTH_WARN".into(), message: "1 osds down".into() },
            HealthCheck {
                code: "AUTH_INSECURE_SERVICE_KEY_TYPE".into(),
                severity: "HEALTH_ERR".into(),
                message: "3 daemons use insecure keys".into(),
            },
        ];
        assert_eq!(health_blocks("HEALTH_WARN", &checks), None);
        assert_eq!(
            health_blocks("HEALTH_ERR", &checks).unwrap(),
            format!(
                "Ceph reports HEALTH_ERR: AUTH_INSECURE_SERVICE_KEY_TYPE (3 daemons use insecure keys) - to clear it, \
                 {ROTATE_KEYS_FIX}"
            )
        );
        assert_eq!(health_blocks("HEALTH_ERR", &[]).unwrap(), "Ceph reports HEALTH_ERR");
    }

    #[test]
    fn ok_to_stop_answers_as_ceph_gives_them() {
        let osd_no = br#"{"ok_to_stop":false,"osds":[3],"num_ok_pgs":4,"num_not_ok_pgs":12}"#;
        let busy = b"unsafe to stop osd(s) at this time (12 PGs are or would become offline)\n";
        assert_eq!(
            ok_to_stop_of(true, EBUSY, osd_no, busy),
            Ok(OkToStop::No {
                reason: "unsafe to stop osd(s) at this time (12 PGs are or would become offline)".into()
            })
        );
        let osd_yes = br#"{"ok_to_stop":true,"osds":[3,4],"num_ok_pgs":16,"num_not_ok_pgs":0}"#;
        assert_eq!(ok_to_stop_of(true, 0, osd_yes, b""), Ok(OkToStop::Yes));
        // garbage and exit 0 is no yes (a fresh user's trial: the fence restarted every OSD)
        let garbage = ok_to_stop_of(true, 0, b"\x1b[31m2026 handle_auth_bad_method {\"ok_to_stop\": tr", b"");
        assert!(garbage.as_ref().unwrap_err().contains("not Ceph's ok-to-stop JSON"), "{garbage:?}");
        assert!(!garbage.unwrap_err().contains('\x1b'));
        assert!(ok_to_stop_of(false, 0, b"garbage", b"").is_err());
        // mon: the sentence on stderr, nothing on stdout
        assert_eq!(
            ok_to_stop_of(false, 0, b"", b"quorum should be preserved (b,c) after stopping [a]"),
            Ok(OkToStop::Yes)
        );
        assert_eq!(
            ok_to_stop_of(false, EBUSY, b"", b"not enough monitors would be available (c) after stopping mons [a,b]"),
            Ok(OkToStop::No { reason: "not enough monitors would be available (c) after stopping mons [a,b]".into() })
        );
        let unknown = ok_to_stop_of(false, 0, b"", b"invalid mon(s) specified: [x]").unwrap_err();
        assert!(unknown.contains("does not know") && unknown.contains("[x]"), "{unknown}");
        assert!(ok_to_stop_of(true, 2, b"", b"osd.99 does not exist").unwrap_err().contains("exit code 2"));
        // a reason from the cluster reaches a terminal only sanitised
        let OkToStop::No { reason } = ok_to_stop_of(false, EBUSY, b"", b"bad\x1b[2J").unwrap() else { panic!() };
        assert!(!reason.contains('\x1b'), "{reason}");
    }
}
