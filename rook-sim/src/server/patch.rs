//! The three patch types of the apiserver: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902), and strategic merge patch for built-in kinds (lists of containers, env,
//! volumes and the like merge by their key instead of being replaced).

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

pub fn apply(target: &mut Value, patch_type: PatchType, body: &[u8]) -> Result<(), String> {
    match patch_type {
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(body).map_err(|e| format!("error decoding patch: {e}"))?;
            if !p.is_object() {
                return Err("the merge patch must be a JSON object".into());
            }
            json_patch::merge(target, &p);
            Ok(())
        }
        PatchType::Json => {
            let p: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| format!("error decoding patch: {e}"))?;
            json_patch::patch(target, &p)
                .map_err(|e| format!("the server rejected our request due to an error in our request: {e}"))
        }
        PatchType::Strategic => {
            let p: Value = serde_json::from_slice(body).map_err(|e| format!("error decoding patch: {e}"))?;
            if !p.is_object() {
                return Err("the strategic merge patch must be a JSON object".into());
            }
            strategic_merge(target, &p);
            Ok(())
        }
        PatchType::Apply => Err("server-side apply is not supported by rook-sim".into()),
    }
}

/// The merge key of a list field of the built-in types we serve (from the Kubernetes
/// `patchMergeKey` tags); lists without one are replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "readinessGates" => match field {
            "readinessGates" => "conditionType",
            _ => "name",
        },
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" => "containerPort",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(pmap) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    match pmap.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = pmap.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let tmap = target.as_object_mut().expect("object");
    if let Some(keep) = pmap.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        tmap.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in pmap {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(del)) = (tmap.get_mut(field).and_then(Value::as_array_mut), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue; // $setElementOrder and other directives only order lists
        }
        match v {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Array(items) => match merge_key(k) {
                Some(key) if tmap.get(k).is_some_and(Value::is_array) => {
                    let list = tmap.get_mut(k).and_then(Value::as_array_mut).expect("array");
                    merge_list(list, items, key);
                }
                _ => {
                    let cleaned: Vec<Value> = items
                        .iter()
                        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                        .cloned()
                        .collect();
                    tmap.insert(k.clone(), Value::Array(cleaned));
                }
            },
            Value::Object(_) => {
                let entry = tmap.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, v);
                if entry.is_null() {
                    tmap.remove(k);
                }
            }
            _ => {
                tmap.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(list: &mut Vec<Value>, patch_items: &[Value], key: &str) {
    for item in patch_items {
        let Some(id) = item.get(key) else {
            list.push(item.clone());
            continue;
        };
        let pos = list.iter().position(|x| x.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut list[i], item),
            (None, false) => list.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes() {
        let mut t = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1, 2]}});
        apply(&mut t, PatchType::Merge, br#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"x":[3]}}"#).unwrap();
        assert_eq!(t, json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": [3]}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"metadata": {"labels": {"a": "1"}}});
        apply(
            &mut t,
            PatchType::Json,
            br#"[{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/metadata/labels/a"}]"#,
        )
        .unwrap();
        assert_eq!(t, json!({"metadata": {"labels": {"b": "2"}}}));
        assert!(apply(&mut t, PatchType::Json, br#"[{"op":"test","path":"/metadata/labels/b","value":"9"}]"#).is_err());
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [
            {"name": "mgr", "image": "old", "env": [{"name": "CONTAINER_IMAGE", "value": "old"}, {"name": "X", "value": "1"}]},
            {"name": "watch-active", "image": "rook"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"containers": [
            {"name": "mgr", "image": "new", "env": [{"name": "CONTAINER_IMAGE", "value": "new"}]},
            {"name": "watch-active", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [
            {"name": "mgr", "image": "new", "env": [{"name": "CONTAINER_IMAGE", "value": "new"}, {"name": "X", "value": "1"}]}]}})
        );
    }

    #[test]
    fn strategic_merge_replaces_unkeyed_lists_and_honours_directives() {
        let mut t = json!({"spec": {"args": ["a", "b"], "finalizers": ["x", "y"], "sel": {"k": "v"}}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"args": ["c"], "$deleteFromPrimitiveList/finalizers": ["x"], "sel": {"$patch": "replace", "n": "m"}}}),
        );
        assert_eq!(t, json!({"spec": {"args": ["c"], "finalizers": ["y"], "sel": {"n": "m"}}}));
    }

    #[test]
    fn content_types() {
        assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }
}
