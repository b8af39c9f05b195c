//! `version` for people, as `kubectl version` says it: `Client Version: v0.1.0 (commit
//! ...)`, then, when the server was read, its Kubernetes version and the Rook version its
//! Deployments carry. The cluster's strings are cleaned here.

use crate::model::version::VersionView;

/// `Client Version: v0.1.0 (commit HASH)`, then `Server Version: v1.33.1` and
/// `Rook Version: v1.20.6 (the rook-version label of the Deployments in NS: v1.20.6 on 12)`
/// when read; the server's strings cleaned.
pub fn text(v: &VersionView) -> String {
    let c = &v.client_version;
    let mut t = format!("Client Version: {} (commit {})\n", c.version, c.commit);
    if let Some(s) = &v.server_version {
        t.push_str(&format!("Server Version: {}\n", crate::output::clean(&s.git_version)));
    }
    if let Some(r) = &v.rook_version {
        let ns = crate::output::clean(&r.namespace);
        match &r.version {
            Some(ver) => {
                let all: Vec<String> =
                    r.deployments.iter().map(|(v, n)| format!("{} on {n}", crate::output::clean(v))).collect();
                t.push_str(&format!(
                    "Rook Version: {} (the rook-version label of the Deployments in {ns}: {})\n",
                    crate::output::clean(ver),
                    all.join(", ")
                ));
            }
            None => {
                t.push_str(&format!("Rook Version: unknown (no Deployment in {ns} carries a rook-version label)\n"))
            }
        }
    }
    t
}
