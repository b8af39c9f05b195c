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
}
