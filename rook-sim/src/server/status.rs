//! `kind: Status` failures, with the reasons and codes a kube-apiserver uses, so that
//! clients (kube-rs, kubectl) print and branch on them exactly as against a real cluster.

use serde_json::{Value, json};

use crate::resources::Kind;

/// The user the simulated RBAC names in Forbidden messages.
pub const SIM_USER: &str = "system:serviceaccount:rook-ceph:rook-sim-admin";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Answered as Go's `http.NotFound` is, `404 page not found` in plain text, not as a
    /// `Status`: a path no API group handles (`no_handler`).
    pub plain: bool,
}

/// `StatusDetails` as Go encodes it: `name`, `group` and `kind` are `omitempty`.
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    for (k, v) in [("name", name), ("group", group), ("kind", kind)] {
        if !v.is_empty() {
            d.insert(k.into(), v.into());
        }
    }
    Value::Object(d)
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None, plain: false }
    }

    fn with_details(mut self, kind: &Kind, name: &str) -> Self {
        self.details = Some(details(name, kind.group, kind.plural));
        self
    }

    pub fn not_found(kind: &Kind, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", kind.qualified())).with_details(kind, name)
    }

    pub fn already_exists(kind: &Kind, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", kind.qualified()))
            .with_details(kind, name)
    }

    pub fn conflict(kind: &Kind, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                kind.qualified()
            ),
        )
        .with_details(kind, name)
    }

    pub fn forbidden(kind: &Kind, name: Option<&str>, verb: &str, namespace: Option<&str>) -> Self {
        Self::forbidden_sub(kind, None, name, verb, namespace)
    }

    /// Forbidden as RBAC answers it; the resource named as `plural/subresource` for a
    /// subresource (`cannot patch resource "cephclusters/status"`).
    pub fn forbidden_sub(
        kind: &Kind,
        sub: Option<&str>,
        name: Option<&str>,
        verb: &str,
        namespace: Option<&str>,
    ) -> Self {
        let resource = match sub {
            Some(s) => format!("{}/{s}", kind.plural),
            None => kind.plural.to_string(),
        };
        let what = match name {
            Some(n) => format!("{} \"{n}\"", kind.qualified()),
            None => kind.qualified(),
        };
        let scope = match namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let mut e = Self::new(
            403,
            "Forbidden",
            format!(
                "{what} is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
                crate::SIM_USER,
                resource,
                kind.group
            ),
        );
        e = e.with_details(kind, name.unwrap_or(""));
        e
    }

    pub fn invalid(kind: &Kind, name: &str, causes: Vec<(String, String)>) -> Self {
        let joined: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", kind.kind_qualified(), joined.join(", ")),
        );
        let mut d = details(name, kind.group, kind.kind);
        d["causes"] = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect::<Vec<_>>()
            .into();
        e.details = Some(d);
        e
    }

    /// A `dryRun` value other than `All` in a write's options (`options`: `PatchOptions`,
    /// `CreateOptions`, `UpdateOptions`, `DeleteOptions`): 422 Invalid, as the apiserver's
    /// validation of the options answers it.
    pub fn invalid_dry_run(options: &str, values: &[String]) -> Self {
        let value = serde_json::to_string(values).unwrap_or_default();
        let cause = format!("Unsupported value: {value}: supported values: \"All\"");
        let mut e = Self::new(422, "Invalid", format!("{options}.meta.k8s.io \"\" is invalid: dryRun: {cause}"));
        e.details = Some(json!({"group": "meta.k8s.io", "kind": options,
            "causes": [{"reason": "FieldValueNotSupported", "message": cause, "field": "dryRun"}]}));
        e
    }

    /// A DELETE whose `preconditions` do not hold: 409 Conflict as `rest.BeforeDelete`
    /// words it, naming the kind (`Pod`, `Deployment.apps`), not the resource. `field`:
    /// `UID` or `ResourceVersion`.
    pub fn precondition_failed(kind: &Kind, name: &str, field: &str, want: &str, have: &str) -> Self {
        let why = if field == "UID" {
            "The object might have been deleted and then recreated"
        } else {
            "The object might have been modified"
        };
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the {field} in the precondition ({want}) does not \
                 match the {field} in record ({have}). {why}",
                kind.kind_qualified()
            ),
        );
        e.details = Some(details(name, kind.group, kind.kind));
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A watch from `rv`, older than the history, which starts after `oldest` (the watch
    /// cache's words: `too old resource version: 1 (229)`).
    pub fn gone_watch(rv: u64, oldest: u64) -> Self {
        Self::new(410, "Expired", format!("too old resource version: {rv} ({oldest})"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn service_unavailable() -> Self {
        Self::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    }

    /// A path under a built-in API group that names no resource: a `Status` with empty
    /// details.
    pub fn path_not_found() -> Self {
        let mut e = Self::new(404, "NotFound", "the server could not find the requested resource");
        e.details = Some(json!({}));
        e
    }

    /// A path no API group handles (not under /api or /apis, a group nobody serves, or a
    /// custom resource group's path naming no resource it has): Go's `http.NotFound`.
    pub fn no_handler() -> Self {
        ApiError { plain: true, ..Self::new(404, "NotFound", "404 page not found") }
    }

    /// A successful DELETE of a kind that does not answer with the object (Deployments,
    /// custom resources): a `Status` of `Success` naming it, with its uid.
    pub fn deleted(kind: &Kind, name: &str, uid: &str) -> Value {
        let mut d = details(name, kind.group, kind.plural);
        d["uid"] = uid.into();
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        // `reason` is omitempty
        if self.reason.is_empty()
            && let Some(m) = v.as_object_mut()
        {
            m.remove("reason");
        }
        v
    }
}
