//! What the simulated Ceph keeps that no Kubernetes object shows (issue 23 item 7): per
//! cluster namespace the OSD map flags, the per-CRUSH-node flags, `require_osd_release`, the
//! OSDs marked out, the service keys rotated to AES256K and the clock of the
//! `DAEMON_OLD_VERSION` check; and the faults tests put on the `ceph` CLI.
//!
//! A leaf: it names nothing else of the crate, so `SimState` can hold it and the admin
//! endpoint can set its faults without either joining the code that reads the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Ceph's `mon_warn_older_version_delay` default: one week (src/common/options/mon.yaml.in).
pub const OLD_VERSION_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// One cluster's Ceph-side state. Starts as a new cluster has it: no flags set, nothing out,
/// every service key of the old type (`aes`), `require_osd_release` unset until first read
/// (then the release its OSDs run, as a cluster created on that release has it).
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// OSD map flags set with `osd set` (`noout`, `noautoscale`...).
    pub flags: BTreeSet<String>,
    /// `osd set-group`: flags per CRUSH node or `osd.N` (`crush_node_flags` in `osd dump`).
    pub group_flags: BTreeMap<String, BTreeSet<String>>,
    /// `require_osd_release`, as a major version (19 squid, 20 tentacle).
    pub require_osd_release: Option<u32>,
    /// OSDs marked out (`osd out`).
    pub out: BTreeSet<u32>,
    /// Entities whose key was rotated to AES256K (`auth rotate --key-type aes256k`).
    pub aes256k: BTreeSet<String>,
    /// Every service key rotated to AES256K (`Sim::rotate_service_keys`).
    pub all_aes256k: bool,
    /// HealthMonitor's `old_version_first_time` (src/mon/HealthMonitor.cc
    /// check_for_older_version): set at the first check, reset once versions agree.
    pub old_version_first: Option<Instant>,
    /// Bumped at each change, for `osd dump`'s epoch.
    pub epoch: u64,
    /// An OSD at the full ratio (`Sim::set_health` with HEALTH_ERR): OSD_FULL, the
    /// HEALTH_ERR that stops writes and upgrades alike.
    pub osd_full: bool,
}

/// What a fault makes `ceph` do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Never answer (the exec stream stays open until the client gives up).
    Hang,
    /// Exit with this code and stderr, stdout empty.
    Fail { exit_code: i32, stderr: String },
    /// Exit 0 with stdout that is not JSON.
    Garbage,
}

/// A fault on the `ceph` CLI: every command (or those whose words start with `command`,
/// e.g. `osd ok-to-stop`), `remaining` times (None: until cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub id: u64,
    pub kind: FaultKind,
    pub command: Option<String>,
    pub remaining: Option<u32>,
}

/// The simulated Ceph of every cluster of a simulation.
#[derive(Debug, Default)]
pub struct CephState {
    clusters: Mutex<BTreeMap<String, Cluster>>,
    faults: Mutex<Vec<Fault>>,
    next_id: Mutex<u64>,
    old_version_delay: Mutex<Option<Duration>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CephState {
    /// Read or change the state of the cluster in `ns`.
    pub fn with<R>(&self, ns: &str, f: impl FnOnce(&mut Cluster) -> R) -> R {
        f(lock(&self.clusters).entry(ns.to_string()).or_default())
    }

    /// Add a fault; returns its id.
    pub fn add_fault(&self, mut f: Fault) -> u64 {
        let mut n = lock(&self.next_id);
        *n += 1;
        f.id = *n;
        lock(&self.faults).push(f);
        *n
    }

    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.faults).clone()
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The fault that hits a command made of `words` (`["osd", "ok-to-stop", "3"]`), the
    /// first added first; counts it down.
    pub fn take_fault(&self, words: &[String]) -> Option<FaultKind> {
        let line = words.join(" ");
        let mut faults = lock(&self.faults);
        let i = faults
            .iter()
            .position(|f| f.command.as_deref().is_none_or(|c| line == c || line.starts_with(&format!("{c} "))))?;
        let kind = faults[i].kind.clone();
        if let Some(n) = &mut faults[i].remaining {
            *n -= 1;
            if *n == 0 {
                faults.remove(i);
            }
        }
        Some(kind)
    }

    /// `mon_warn_older_version_delay` in force (default one week).
    pub fn old_version_delay(&self) -> Duration {
        lock(&self.old_version_delay).unwrap_or(OLD_VERSION_DELAY)
    }

    pub fn set_old_version_delay(&self, d: Duration) {
        *lock(&self.old_version_delay) = Some(d);
    }
}

/// A fault from the admin endpoint's JSON: `{"kind": "hang"}`, `{"kind": "fail",
/// "exit_code": 110, "stderr": "..."}` (defaults: 1 and `Error EIO: simulated failure`),
/// `{"kind": "garbage"}`; each with optional `command` (`"osd ok-to-stop"`) and `count`.
pub fn fault_from_json(v: &Value) -> Result<Fault, String> {
    let o = v.as_object().ok_or("a fault is a JSON object, e.g. {\"kind\": \"hang\"}")?;
    for k in o.keys() {
        if !["kind", "exit_code", "stderr", "command", "count"].contains(&k.as_str()) {
            return Err(format!("unknown field {k:?}: kind, exit_code, stderr, command, count"));
        }
    }
    let kind = match o.get("kind").and_then(Value::as_str) {
        Some("hang") => FaultKind::Hang,
        Some("garbage") => FaultKind::Garbage,
        Some("fail") => FaultKind::Fail {
            exit_code: match o.get("exit_code") {
                None => 1,
                Some(c) => {
                    c.as_i64().filter(|c| (1..=255).contains(c)).ok_or("exit_code is a number from 1 to 255")? as i32
                }
            },
            stderr: match o.get("stderr") {
                None => "Error EIO: simulated failure".into(),
                Some(s) => s.as_str().ok_or("stderr is a string")?.to_string(),
            },
        },
        _ => return Err("kind is one of hang, fail, garbage".into()),
    };
    if !matches!(kind, FaultKind::Fail { .. }) && (o.contains_key("exit_code") || o.contains_key("stderr")) {
        return Err("exit_code and stderr are for kind fail".into());
    }
    let command = match o.get("command") {
        None => None,
        Some(c) => {
            let c = c.as_str().ok_or("command is a string, e.g. \"osd ok-to-stop\"")?.trim();
            (!c.is_empty()).then(|| c.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    };
    let remaining = match o.get("count") {
        None => None,
        Some(n) => Some(n.as_u64().filter(|n| (1..=u32::MAX as u64).contains(n)).ok_or("count is at least 1")? as u32),
    };
    Ok(Fault { id: 0, kind, command, remaining })
}

/// A fault as the admin endpoint lists it.
pub fn fault_json(f: &Fault) -> Value {
    let mut v = json!({"id": f.id, "command": f.command, "remaining": f.remaining});
    match &f.kind {
        FaultKind::Hang => v["kind"] = "hang".into(),
        FaultKind::Garbage => v["kind"] = "garbage".into(),
        FaultKind::Fail { exit_code, stderr } => {
            v["kind"] = "fail".into();
            v["exit_code"] = (*exit_code).into();
            v["stderr"] = stderr.clone().into();
        }
    }
    v
}

/// The admin endpoint's `/rook-sim/ceph/faults`: GET lists (`{"faults": [...]}`), POST adds
/// one (201 and the fault), DELETE clears them all. Returns the status and body.
pub fn admin(ceph: &CephState, method: &str, body: &[u8]) -> (u16, Value) {
    let listing = |c: &CephState| json!({"faults": c.faults().iter().map(fault_json).collect::<Vec<_>>()});
    match method {
        "GET" => (200, listing(ceph)),
        "DELETE" => {
            ceph.clear_faults();
            (200, listing(ceph))
        }
        "POST" => {
            let parsed = serde_json::from_slice::<Value>(body)
                .map_err(|e| format!("the body is not JSON ({e})"))
                .and_then(|v| fault_from_json(&v));
            match parsed {
                Ok(f) => {
                    let id = ceph.add_fault(f.clone());
                    (201, fault_json(&Fault { id, ..f }))
                }
                Err(e) => (
                    400,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": format!("invalid ceph fault: {e}"), "reason": "BadRequest", "code": 400}),
                ),
            }
        }
        _ => (
            405,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "the server does not allow this method on the requested resource",
            "reason": "MethodNotAllowed", "code": 405}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_match_and_count_down() {
        let c = CephState::default();
        let f = fault_from_json(&json!({"kind": "fail", "exit_code": 110, "command": "osd  ok-to-stop", "count": 1}))
            .unwrap();
        c.add_fault(f);
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(c.take_fault(&words("versions")), None);
        assert!(matches!(c.take_fault(&words("osd ok-to-stop 3")), Some(FaultKind::Fail { exit_code: 110, .. })));
        assert_eq!(c.take_fault(&words("osd ok-to-stop 3")), None, "count 1: gone after one hit");
        assert!(fault_from_json(&json!({"kind": "hang", "stderr": "x"})).is_err());
        assert!(fault_from_json(&json!({"kind": "boom"})).is_err());
        assert!(fault_from_json(&json!({"kind": "fail", "exit_code": 0})).is_err());
        assert_eq!(admin(&c, "POST", b"{\"kind\": \"hang\"}").0, 201);
        assert_eq!(admin(&c, "POST", b"{").0, 400);
        assert_eq!(admin(&c, "GET", b"").1["faults"][0]["kind"], "hang");
        assert_eq!(admin(&c, "DELETE", b"").1["faults"], json!([]));
    }
}
