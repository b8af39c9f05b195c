//! Discovery documents: aggregated (`apidiscovery.k8s.io/v2`, what kubectl 1.32 asks for
//! first), the legacy `/api`, `/apis` and group-version documents, and `/version`.

use serde_json::{Value, json};

use crate::resources::{self, Kind};

pub const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"v=v2")
    })
}

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.4-rook-sim", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-11-01T00:00:00Z", "goVersion": "go1.23.6", "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn aggregated_resource(k: &Kind) -> Value {
    let mut r = json!({
        "resource": k.plural,
        "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": k.singular,
        "verbs": k.verbs(),
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    if k.status_subresource {
        r["subresources"] = json!([{"subresource": "status",
            "responseKind": {"group": k.group, "version": k.version, "kind": k.kind}, "verbs": ["get", "patch", "update"]}]);
    }
    r
}

/// `/api` (core) or `/apis` (named groups) as an APIGroupDiscoveryList.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = resources::groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, kinds)| {
            json!({
                "metadata": {"name": g, "creationTimestamp": null},
                "versions": [{"version": kinds[0].version, "resources": kinds.iter().map(|k| aggregated_resource(k)).collect::<Vec<_>>(), "freshness": "Current"}],
            })
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

pub fn legacy_api(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn group_doc(g: &str, version: &str) -> Value {
    let gv = format!("{g}/{version}");
    json!({"name": g, "versions": [{"groupVersion": gv, "version": version}], "preferredVersion": {"groupVersion": gv, "version": version}})
}

pub fn legacy_apis() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, ks)| group_doc(g, ks[0].version))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn legacy_group(group: &str) -> Option<Value> {
    let (g, ks) = resources::groups().into_iter().find(|(g, _)| *g == group)?;
    let mut d = group_doc(g, ks[0].version);
    d["kind"] = "APIGroup".into();
    d["apiVersion"] = "v1".into();
    Some(d)
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let (_, ks) = resources::groups().into_iter().find(|(g, ks)| *g == group && ks[0].version == version)?;
    let mut list = Vec::new();
    for k in ks {
        let mut r = json!({"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind, "verbs": k.verbs()});
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        list.push(r);
        if k.status_subresource {
            list.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}))
}
