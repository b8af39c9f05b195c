//! RBAC for the simulation's user: the kubeconfig's token bound to Roles and ClusterRoles
//! read from a manifest (`rbac.authorization.k8s.io/v1`), authorised as the apiserver's RBAC
//! authoriser does (`RuleAllows` in kubernetes/pkg/apis/rbac/helpers.go): a request is
//! allowed when one rule of one bound role matches its verb, API group, resource (with
//! `resource/subresource` and `*/subresource`) and, when the rule names any, its
//! `resourceNames`. A Role, or a ClusterRole bound in a namespace, grants only in that
//! namespace; a ClusterRole bound cluster-wide grants everywhere, cluster-scoped resources
//! included. Discovery and `/version` stay open to every authenticated user, as the default
//! `system:discovery` and `system:public-info-viewer` bindings keep them.
//!
//! Without a policy the user is a cluster admin (the simulation's default).

use serde_json::Value;

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
}

/// A Role (with its namespace) or a ClusterRole from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `Role` or `ClusterRole`.
    pub kind: String,
    pub name: String,
    /// A Role's namespace; None for a ClusterRole.
    pub namespace: Option<String>,
    pub rules: Vec<Rule>,
}

/// A role bound to the user: everywhere (a ClusterRoleBinding) or in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub role: Role,
    /// None: cluster-wide (only a ClusterRole can be bound so).
    pub namespace: Option<String>,
}

/// What the simulation's user may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub bindings: Vec<Binding>,
}

/// One request, as the authoriser sees it.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    /// The plural, without the subresource.
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    /// None: a cluster-scoped resource, or a request across all namespaces.
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Is `authorization` (a request's header) the simulation's user? `Bearer <token>`, or
/// `Bearer <token>~<unix ms>`: a token that expires, the user's until that time and
/// answered 401 after it, as kube-apiserver answers a credential that ran out (an exec
/// plugin's test renews it; a cloud's token does the same every 15 minutes or hour).
pub fn authenticated(token: &str, authorization: Option<&str>) -> bool {
    let Some(presented) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else { return false };
    match presented.split_once('~') {
        None => presented == token,
        Some((t, until)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            t == token && until.parse::<u128>().is_ok_and(|until| now < until)
        }
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The Roles and ClusterRoles of a manifest (multi-document YAML, JSON or a `List`);
/// other kinds (bindings, service accounts) are skipped.
pub fn roles_from_text(origin: &str, text: &str) -> Result<Vec<Role>, String> {
    let mut out = Vec::new();
    let mut docs: Vec<Value> = crate::load::parse_text(origin, text)?.into_iter().map(|(_, v)| v).collect();
    while let Some(v) = docs.pop() {
        if let Some(items) = v.get("items").and_then(Value::as_array) {
            docs.extend(items.iter().cloned());
            continue;
        }
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(format!("{origin}: a {kind} has no metadata.name"));
        }
        let namespace = if kind == "Role" {
            Some(
                v.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{origin}: Role {name} has no metadata.namespace"))?
                    .to_string(),
            )
        } else {
            None
        };
        let rules = v
            .get("rules")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| Rule {
                        api_groups: strings(r, "apiGroups"),
                        resources: strings(r, "resources"),
                        verbs: strings(r, "verbs"),
                        resource_names: strings(r, "resourceNames"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Role { kind: kind.to_string(), name, namespace, rules });
    }
    out.reverse();
    Ok(out)
}

impl Policy {
    /// Bind roles of a manifest by `NAME` or `NAME:NAMESPACE` (as `demo --role` takes them):
    /// a Role binds in its own namespace; a ClusterRole binds cluster-wide, or with
    /// `:NAMESPACE` in that namespace only (a RoleBinding to a ClusterRole).
    pub fn bind(roles: &[Role], specs: &[String]) -> Result<Policy, String> {
        let mut bindings = Vec::new();
        for spec in specs {
            let (name, ns) = match spec.split_once(':') {
                Some((n, ns)) if !ns.is_empty() => (n, Some(ns.to_string())),
                _ => (spec.as_str(), None),
            };
            let found: Vec<&Role> = roles.iter().filter(|r| r.name == name).collect();
            if found.is_empty() {
                let names: Vec<String> = roles.iter().map(|r| format!("{} {}", r.kind, r.name)).collect();
                return Err(format!("no Role or ClusterRole named {name:?} (the file has: {})", names.join(", ")));
            }
            let role = found
                .iter()
                .find(|r| r.kind == "ClusterRole")
                .or_else(|| found.iter().find(|r| ns.is_none() || r.namespace == ns))
                .map(|r| (*r).clone())
                .ok_or_else(|| format!("Role {name} is not in namespace {}", ns.clone().unwrap_or_default()))?;
            let namespace = if role.kind == "Role" { role.namespace.clone() } else { ns };
            bindings.push(Binding { role, namespace });
        }
        Ok(Policy { bindings })
    }

    /// Read a manifest and bind roles of it (see [`Policy::bind`]).
    pub fn from_file(path: &std::path::Path, specs: &[String]) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let roles = roles_from_text(&path.display().to_string(), &text)?;
        Policy::bind(&roles, specs)
    }

    /// Does some bound rule allow this request?
    pub fn allows(&self, a: &Attributes) -> bool {
        self.bindings.iter().any(|b| {
            let in_scope = match (&b.namespace, a.namespace) {
                (None, _) => true,
                (Some(bound), Some(ns)) => bound == ns,
                (Some(_), None) => false,
            };
            in_scope && b.role.rules.iter().any(|r| r.allows(a))
        })
    }
}

impl Rule {
    /// kubernetes/pkg/apis/rbac/helpers.go: VerbMatches, APIGroupMatches, ResourceMatches,
    /// ResourceNameMatches.
    pub fn allows(&self, a: &Attributes) -> bool {
        let any = |v: &[String], want: &str| v.iter().any(|x| x == "*" || x == want);
        let combined = match a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.to_string(),
        };
        let resource = self
            .resources
            .iter()
            .any(|r| r == "*" || *r == combined || a.subresource.is_some_and(|s| *r == format!("*/{s}")));
        let name = self.resource_names.is_empty() || a.name.is_some_and(|n| self.resource_names.iter().any(|x| x == n));
        any(&self.verbs, a.verb) && any(&self.api_groups, a.group) && resource && name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, get]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [cephclusters.ceph.rook.io]
  verbs: [get]
- apiGroups: [ceph.rook.io]
  resources: ['*/status']
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pods, namespace: rook-ceph}
rules:
- apiGroups: ['']
  resources: [pods]
  verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ignored, namespace: rook-ceph}
";

    fn at<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        ns: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes { verb, group, resource, subresource: None, namespace: ns, name }
    }

    #[test]
    fn a_token_that_expires_is_the_users_until_then() {
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        assert!(authenticated("t", Some("Bearer t")));
        assert!(authenticated("t", Some(&format!("Bearer t~{}", ms + 60_000))));
        assert!(!authenticated("t", Some(&format!("Bearer t~{}", ms - 1))), "expired");
        assert!(!authenticated("t", Some(&format!("Bearer u~{}", ms + 60_000))), "another token");
        assert!(!authenticated("t", Some("Bearer t~soon")));
        assert!(!authenticated("t", None));
    }

    #[test]
    fn rules_match_as_the_rbac_authoriser_matches_them() {
        let roles = roles_from_text("t", ROLES).unwrap();
        assert_eq!(roles.len(), 2, "bindings are skipped");
        let p = Policy::bind(&roles, &["reader:rook-ceph".into(), "pods".into()]).unwrap();
        assert!(p.allows(&at("list", "apps", "deployments", Some("rook-ceph"), None)));
        assert!(!p.allows(&at("list", "apps", "deployments", Some("other"), None)), "bound in rook-ceph only");
        assert!(!p.allows(&at("patch", "apps", "deployments", Some("rook-ceph"), Some("x"))));
        assert!(!p.allows(&at("list", "", "deployments", Some("rook-ceph"), None)), "the group counts");
        assert!(p.allows(&at("watch", "", "pods", Some("rook-ceph"), None)), "* is every verb");
        // a ClusterRole bound in a namespace grants nothing cluster-scoped
        assert!(!p.allows(&at(
            "get",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            Some("cephclusters.ceph.rook.io")
        )));
        let wide = Policy::bind(&roles, &["reader".into()]).unwrap();
        let crd = |name| at("get", "apiextensions.k8s.io", "customresourcedefinitions", None, name);
        assert!(wide.allows(&crd(Some("cephclusters.ceph.rook.io"))));
        assert!(!wide.allows(&crd(Some("cephfilesystems.ceph.rook.io"))), "resourceNames limit");
        assert!(!wide.allows(&crd(None)), "a rule with resourceNames never matches a request without a name");
        let status = Attributes {
            subresource: Some("status"),
            ..at("patch", "ceph.rook.io", "cephclusters", Some("x"), Some("c"))
        };
        assert!(wide.allows(&status), "*/status");
        assert!(!wide.allows(&at("patch", "ceph.rook.io", "cephclusters", Some("x"), Some("c"))));
        assert!(Policy::bind(&roles, &["nope".into()]).unwrap_err().contains("ClusterRole reader"));
    }
}
