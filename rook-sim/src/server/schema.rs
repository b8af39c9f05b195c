//! Structural-schema pruning and type validation of custom resources, as the apiserver
//! applies a CRD's `openAPIV3Schema`: unknown fields are dropped (that is how released Rook
//! loses `imageOverrides`), wrong types and enum values are rejected as Invalid.

use serde_json::{Map, Value};

/// Remove every field the schema does not declare; returns the dropped paths
/// (`spec.cephVersion.imageOverrides`), which a `Strict` request turns into an error and a
/// `Warn` request into warnings.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut dropped = Vec::new();
    if let (Some(map), Some(props)) = (obj.as_object_mut(), schema.get("properties")) {
        for (k, v) in map.iter_mut() {
            // apiVersion, kind and metadata are the apiserver's, never pruned here.
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = props.get(k) {
                prune_at(v, s, k, &mut dropped);
            }
        }
        map.retain(|k, _| {
            let keep = matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || props.get(k).is_some();
            if !keep {
                dropped.push(k.clone());
            }
            keep
        });
    }
    dropped
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
}

fn prune_at(v: &mut Value, schema: &Value, path: &str, dropped: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let keep_unknown = preserves_unknown(schema);
                map.retain(|k, _| {
                    let keep = keep_unknown || props.contains_key(k);
                    if !keep {
                        dropped.push(format!("{path}.{k}"));
                    }
                    keep
                });
                for (k, child) in map.iter_mut() {
                    if let Some(s) = props.get(k) {
                        prune_at(child, s, &format!("{path}.{k}"), dropped);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in map.iter_mut() {
                    prune_at(child, ap, &format!("{path}.{k}"), dropped);
                }
            } else if !preserves_unknown(schema)
                && schema.get("additionalProperties").and_then(Value::as_bool) != Some(true)
                && schema.get("x-kubernetes-int-or-string").is_none()
                && schema.get("x-kubernetes-embedded-resource").is_none()
            {
                // An object schema with no properties keeps nothing, as a structural schema.
                for k in map.keys() {
                    dropped.push(format!("{path}.{k}"));
                }
                map.clear();
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(item, s, &format!("{path}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

/// Type and enum errors as (field path, message) pairs, in the apiserver's wording.
pub fn validate(obj: &Value, schema: &Value) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    if let (Some(map), Some(props)) = (obj.as_object(), schema.get("properties")) {
        for (k, v) in map {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = props.get(k) {
                validate_at(v, s, k, &mut errs);
            }
        }
    }
    errs
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_at(v: &Value, schema: &Value, path: &str, errs: &mut Vec<(String, String)>) {
    if v.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) {
            errs.push((
                path.into(),
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}",
                    schema.get("type").and_then(Value::as_str).unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (int_or_string && matches!(got, "integer" | "string"));
        if !ok {
            errs.push((
                path.into(),
                format!("Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        errs.push((path.into(), format!("Unsupported value: {v}: supported values: {}", list.join(", "))));
    }
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let ap = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in map {
                let child_schema = props.and_then(|p| p.get(k)).or(ap);
                if let Some(s) = child_schema {
                    validate_at(child, s, &format!("{path}.{k}"), errs);
                }
            }
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        errs.push((format!("{path}.{r}"), "Required value".into()));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item, s, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

/// The proposed Rook CRD: `spec.cephVersion.imageOverrides`, a map of daemon type to image.
pub fn add_image_overrides(crd: &mut Value) {
    let Some(versions) = crd.pointer_mut("/spec/versions").and_then(Value::as_array_mut) else { return };
    for v in versions {
        if let Some(props) = v
            .pointer_mut("/schema/openAPIV3Schema/properties/spec/properties/cephVersion/properties")
            .and_then(Value::as_object_mut)
        {
            let mut m = Map::new();
            m.insert("type".into(), "object".into());
            m.insert(
                "description".into(),
                "ImageOverrides sets the image of one Ceph daemon type (mon, mgr, osd, mds, rgw, nfs, \
                 rbdmirror, cephfsmirror, crashcollector, exporter); types without an override run `image`."
                    .into(),
            );
            m.insert("additionalProperties".into(), serde_json::json!({"type": "string"}));
            props.insert("imageOverrides".into(), Value::Object(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": {
                "cephVersion": {"type": "object", "nullable": true, "properties": {
                    "image": {"type": "string"},
                    "imagePullPolicy": {"type": "string", "enum": ["IfNotPresent", "Always", "Never", ""]}}},
                "mon": {"type": "object", "properties": {"count": {"type": "integer"}}},
                "labels": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "empty": {"type": "object"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
    }

    #[test]
    fn prunes_unknown_fields_and_keeps_declared_ones() {
        let mut o = json!({"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "metadata": {"name": "x", "anything": 1},
            "spec": {"cephVersion": {"image": "i", "imageOverrides": {"mgr": "m"}}, "mon": {"count": 3, "extra": true},
                     "labels": {"mgr": {"a": "b"}}, "free": {"x": {"y": 1}}, "empty": {"z": 1}, "bogus": 1},
            "top": 1});
        let dropped = prune(&mut o, &schema());
        assert_eq!(o["spec"]["cephVersion"], json!({"image": "i"}));
        assert_eq!(o["spec"]["mon"], json!({"count": 3}));
        assert_eq!(o["spec"]["labels"], json!({"mgr": {"a": "b"}}));
        assert_eq!(o["spec"]["free"], json!({"x": {"y": 1}}));
        assert_eq!(o["spec"]["empty"], json!({}));
        assert_eq!(o["metadata"]["anything"], 1);
        let mut d = dropped.clone();
        d.sort();
        assert_eq!(d, ["spec.bogus", "spec.cephVersion.imageOverrides", "spec.empty.z", "spec.mon.extra", "top"]);
    }

    #[test]
    fn proposed_crd_keeps_overrides() {
        let mut crd = json!({"spec": {"versions": [{"schema": {"openAPIV3Schema": schema()}}]}});
        add_image_overrides(&mut crd);
        let s = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").unwrap().clone();
        let mut o = json!({"spec": {"cephVersion": {"image": "i", "imageOverrides": {"mgr": "m"}}}});
        assert!(prune(&mut o, &s).is_empty());
        assert_eq!(o["spec"]["cephVersion"]["imageOverrides"]["mgr"], "m");
        assert_eq!(validate(&json!({"spec": {"cephVersion": {"imageOverrides": {"mgr": 5}}}}), &s).len(), 1);
    }

    #[test]
    fn validation_reports_types_and_enums() {
        let errs = validate(
            &json!({"spec": {"mon": {"count": "three"}, "cephVersion": {"imagePullPolicy": "Sometimes"}}}),
            &schema(),
        );
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["spec.cephVersion.imagePullPolicy", "spec.mon.count"]);
        assert!(errs[1].1.contains("must be of type integer"));
        assert!(validate(&json!({"spec": {"cephVersion": null, "mon": {"count": 5}}}), &schema()).is_empty());
    }
}
