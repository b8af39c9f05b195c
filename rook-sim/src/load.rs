//! Objects dumped from a real cluster, to start the simulation from instead of a generated
//! topology: `kubectl get cephclusters.ceph.rook.io,deployments,pods -n NS -o yaml` (a
//! `List`), multi-document YAML (`---`, comments allowed), or JSON (a `List` or one object).
//!
//! Errors name the file, the document (1-based, with its first line) and, inside a `List`,
//! the item, and say what was wrong.

use std::path::Path;

use serde_json::Value;

use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS, Kind, NAMESPACES, PODS};

/// One object to seed the store with.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    pub kind: &'static Kind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub object: Value,
    /// `file, document 3 (line 40), item 2`: where it came from, for messages.
    pub origin: String,
}

/// What a set of dumps holds, after checking.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub objects: Vec<LoadedObject>,
    /// Objects of kinds the simulation does not serve (e.g. `CephNVMeOFGateway`), skipped.
    pub skipped: Vec<String>,
}

/// The kinds a dump may hold that the simulation serves.
fn kind_of(api_version: &str, kind: &str) -> Option<&'static Kind> {
    [&CEPHCLUSTERS, &DEPLOYMENTS, &PODS, &NAMESPACES]
        .into_iter()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// Split YAML text into documents at `---` lines; returns (first line number, text).
fn yaml_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_sep = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_sep || line == "..." {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            if is_sep && line.len() > 3 {
                // `--- {inline: doc}`: the document starts on the separator line
                cur.push_str(&line[4..]);
                cur.push('\n');
                start = i + 1;
            }
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs
}

fn is_blank_yaml(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// Plain scalars of digits with one `e` inside (`77773e1466`, a pod-template-hash) are
/// strings in Kubernetes objects, but YAML 1.2 reads them as floats, often infinite. kubectl
/// quotes them; a hand-written or reduced dump may not: quote them before parsing.
fn quote_exponent_scalars(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let bytes = doc.as_bytes();
    let mut i = 0;
    while i < doc.len() {
        let c = bytes[i];
        let prev = if i == 0 { b'\n' } else { bytes[i - 1] };
        let prev2 = if i < 2 { b'\n' } else { bytes[i - 2] };
        // a token starting after `: `, `, `, `- `, `[` or `{`
        let starts = c.is_ascii_digit()
            && (matches!(prev, b'[' | b'{') || (prev == b' ' && matches!(prev2, b':' | b',' | b'-' | b'[' | b'{')));
        if starts {
            let end = doc[i..].find([',', '}', ']', '\n', ' ', '#']).map_or(doc.len(), |e| i + e);
            let tok = &doc[i..end];
            let mut parts = tok.splitn(2, ['e', 'E']);
            let (a, b) = (parts.next().unwrap_or(""), parts.next());
            let rest = &doc[end..];
            let ends_scalar = rest.trim_start_matches(' ').is_empty()
                || matches!(rest.trim_start_matches(' ').as_bytes()[0], b',' | b'}' | b']' | b'\n' | b'#');
            if let Some(b) = b
                && ends_scalar
                && !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|x| x.is_ascii_digit())
                && b.bytes().all(|x| x.is_ascii_digit())
            {
                out.push('"');
                out.push_str(tok);
                out.push('"');
                i = end;
                continue;
            }
        }
        let ch = doc[i..].chars().next().expect("char");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn parse_yaml(doc: &str) -> Result<Value, serde_saphyr::Error> {
    let mut opts = serde_saphyr::Options::default();
    // `0123` stays a string, as the values in labels and hashes are
    opts.leading_zero_numbers_as_strings = true;
    serde_saphyr::from_str_with_options(&quote_exponent_scalars(doc), opts)
}

/// The fields of Kubernetes objects that are string maps or strings: a value YAML read as
/// a number or a boolean (`ceph-osd-id: 0` written without quotes) is the string it spells.
fn coerce_strings(v: &mut Value) {
    fn map(m: Option<&mut Value>) {
        if let Some(Value::Object(m)) = m {
            for x in m.values_mut() {
                if matches!(x, Value::Number(_) | Value::Bool(_)) {
                    *x = Value::String(x.to_string());
                }
            }
        }
    }
    for p in [
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/selector/matchLabels",
        "/spec/nodeSelector",
        "/spec/template/metadata/labels",
        "/spec/template/metadata/annotations",
        "/spec/template/spec/nodeSelector",
    ] {
        map(v.pointer_mut(p));
    }
    for spec in ["/spec", "/spec/template/spec"] {
        for key in ["initContainers", "containers"] {
            let Some(Value::Array(cs)) = v.pointer_mut(&format!("{spec}/{key}")) else { continue };
            for c in cs {
                if let Some(Value::Array(env)) = c.get_mut("env") {
                    for e in env {
                        map(Some(e));
                    }
                }
            }
        }
    }
}

/// Parse the text of one file into (document origin, value) pairs, empty documents dropped.
pub fn parse_text(file: &str, text: &str) -> Result<Vec<(String, Value)>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("{file}: not valid JSON: {e}"))?;
        return Ok(vec![(file.to_string(), v)]);
    }
    let mut out = Vec::new();
    let mut index = 0;
    for (line, doc) in yaml_documents(text) {
        if is_blank_yaml(&doc) {
            continue;
        }
        index += 1;
        let origin = format!("{file}, document {index} (line {line})");
        let v = parse_yaml(&doc).map_err(|e| format!("{origin}: not valid YAML: {e}"))?;
        if !v.is_null() {
            out.push((origin, v));
        }
    }
    Ok(out)
}

/// Check one object and say which kind it is; `Ok(None)` for kinds not served.
fn classify(origin: &str, v: Value, loaded: &mut Loaded) -> Result<(), String> {
    let Some(map) = v.as_object() else {
        return Err(format!("{origin}: expected a Kubernetes object (a mapping), found {}", type_name(&v)));
    };
    let kind = map.get("kind").and_then(Value::as_str).ok_or_else(|| format!("{origin}: has no `kind`"))?;
    let api_version =
        map.get("apiVersion").and_then(Value::as_str).ok_or_else(|| format!("{origin}: {kind} has no `apiVersion`"))?;
    if kind == "List" || kind.ends_with("List") {
        let items = map
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{origin}: a {kind} without an `items` array"))?;
        for (i, item) in items.iter().enumerate() {
            classify(&format!("{origin}, item {}", i + 1), item.clone(), loaded)?;
        }
        return Ok(());
    }
    let Some(k) = kind_of(api_version, kind) else {
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
        loaded.skipped.push(format!("{origin}: {kind} {name} ({api_version}) is not simulated; skipped"));
        return Ok(());
    };
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{origin}: {kind} has no metadata.name"))?
        .to_string();
    let namespace = if k.namespaced {
        v.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                format!(
                    "{origin}: {kind} {name} has no metadata.namespace (dump with `kubectl get ... -n NAMESPACE -o yaml`)"
                )
            })?
            .to_string()
    } else {
        String::new()
    };
    if k == &DEPLOYMENTS {
        for p in ["/spec/template/spec/containers", "/spec/selector/matchLabels"] {
            if v.pointer(p).is_none() {
                return Err(format!("{origin}: Deployment {namespace}/{name} has no {}", &p[1..].replace('/', ".")));
            }
        }
    }
    if k == &PODS && v.pointer("/spec/containers").and_then(Value::as_array).is_none() {
        return Err(format!("{origin}: Pod {namespace}/{name} has no spec.containers"));
    }
    if let Some(prev) = loaded
        .objects
        .iter()
        .find(|o| std::ptr::eq(o.kind, k) && o.namespace == namespace && o.object["metadata"]["name"] == name.as_str())
    {
        return Err(format!("{origin}: {kind} {namespace}/{name} is also at {}", prev.origin).replace(" /", " "));
    }
    let mut v = v;
    coerce_strings(&mut v);
    loaded.objects.push(LoadedObject { kind: k, namespace, object: v, origin: origin.to_string() });
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Check already parsed values (`origin` names each one in messages).
pub fn from_values(values: Vec<(String, Value)>) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    for (origin, v) in values {
        // a bare JSON/YAML sequence of objects is read as a List
        match v {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    classify(&format!("{origin}, item {}", i + 1), item, &mut loaded)?;
                }
            }
            v => classify(&origin, v, &mut loaded)?,
        }
    }
    if !loaded.objects.iter().any(|o| std::ptr::eq(o.kind, &CEPHCLUSTERS)) {
        return Err(
            "no CephCluster in the objects given: dump with `kubectl get cephclusters.ceph.rook.io,deployments,pods -n NAMESPACE -o yaml`"
                .into(),
        );
    }
    Ok(loaded)
}

/// Read and check dump files, then the objects given as values (`SimOptions::from` and
/// `SimOptions::objects`, on either server).
pub fn from_sources(paths: &[impl AsRef<Path>], objects: &[(String, Value)]) -> Result<Loaded, String> {
    let mut values = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        values.extend(parse_text(&p.display().to_string(), &text)?);
    }
    values.extend(objects.iter().cloned());
    from_values(values)
}

/// Server-set metadata of a dumped object, made fit for this store: `resourceVersion`
/// (the store assigns its own, so preconditions work), `managedFields` and `selfLink` go;
/// `uid`, `creationTimestamp` and `generation` are kept (owner references point at uids).
pub fn clean(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "selfLink"] {
            m.remove(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_split_at_separators_with_comments() {
        let text = "# header\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        let docs = parse_text("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, "f.yaml, document 1 (line 3)");
        assert_eq!(docs[1].1["metadata"]["name"], "b");
    }

    #[test]
    fn errors_name_file_document_and_item() {
        let e = parse_text("f.yaml", "---\na: [\n").unwrap_err();
        assert!(e.starts_with("f.yaml, document 1 (line 2): not valid YAML"), "{e}");
        let list = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"ceph.rook.io/v1","kind":"CephCluster","metadata":{"name":"c","namespace":"n"}},
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}]}"#;
        let e = from_values(parse_text("d.json", list).unwrap()).unwrap_err();
        assert!(e.starts_with("d.json, item 2: Deployment d has no metadata.namespace"), "{e}");
        let e = from_values(vec![("x".into(), serde_json::json!("text"))]).unwrap_err();
        assert!(e.contains("x: expected a Kubernetes object (a mapping), found a string"), "{e}");
        let dup = r#"[{"apiVersion":"ceph.rook.io/v1","kind":"CephCluster","metadata":{"name":"c","namespace":"n"}},
                      {"apiVersion":"ceph.rook.io/v1","kind":"CephCluster","metadata":{"name":"c","namespace":"n"}}]"#;
        let e = from_values(parse_text("dup.json", dup).unwrap()).unwrap_err();
        assert!(e.contains("dup.json, item 2: CephCluster n/c is also at dup.json, item 1"), "{e}");
        let e = from_values(vec![(
            "y".into(),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        )])
        .unwrap_err();
        assert!(e.contains("no CephCluster"), "{e}");
    }

    #[test]
    fn hashes_that_look_like_numbers_stay_strings() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns1\n  labels: {pod-template-hash: 77773e1466, ceph-osd-id: 0, id: 0123}\n  annotations:\n    h: 12e4\nspec: {containers: [{name: c, image: i, env: [{name: X, value: 1}]}]}\n";
        let docs = parse_text("h.yaml", text).unwrap();
        let mut l = Loaded::default();
        classify(&docs[0].0, docs[0].1.clone(), &mut l).unwrap();
        let v = &l.objects[0].object;
        assert_eq!(v["metadata"]["labels"]["pod-template-hash"], "77773e1466");
        assert_eq!(v["metadata"]["labels"]["ceph-osd-id"], "0");
        assert_eq!(v["metadata"]["labels"]["id"], "0123");
        assert_eq!(v["metadata"]["annotations"]["h"], "12e4");
        assert_eq!(v["spec"]["containers"][0]["env"][0]["value"], "1");
    }

    #[test]
    fn unknown_kinds_are_skipped_and_said() {
        let text = "apiVersion: ceph.rook.io/v1\nkind: CephCluster\nmetadata: {name: c, namespace: ns1}\n---\napiVersion: ceph.rook.io/v1\nkind: CephNVMeOFGateway\nmetadata: {name: g, namespace: ns1}\n";
        let l = from_values(parse_text("g.yaml", text).unwrap()).unwrap();
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.skipped.len(), 1);
        assert!(l.skipped[0].contains("CephNVMeOFGateway g"), "{:?}", l.skipped);
    }
}
