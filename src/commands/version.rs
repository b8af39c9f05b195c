//! `version`: the plugin's version and commit, then (unless `--client`) the server's
//! Kubernetes version (`GET /version`) and the Rook version its Deployments carry. As
//! `kubectl version`: the client part is always printed; when the server cannot be read,
//! the error goes to stderr and the exit code is 1.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Ctx, print};
use crate::cluster::api::{Kube, What};
use crate::cluster::read::{deployments_path, list_fold};
use crate::error::{Error, Result};
use crate::model::version::{ClientVersion, RookVersion, ServerVersion, VersionView};

/// This binary's version and commit.
pub fn client() -> ClientVersion {
    ClientVersion {
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        commit: env!("KUBECTL_CEPH_IMAGE_COMMIT").to_string(),
    }
}

#[derive(Deserialize)]
struct Labelled {
    metadata: LabelsOnly,
}

#[derive(Deserialize)]
struct LabelsOnly {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

async fn server_version(kube: &Kube) -> Result<ServerVersion> {
    let req = http::Request::get("/version").body(Vec::new()).map_err(|e| Error::Failed(e.to_string()))?;
    kube.json(req, &What::new("get", "the server version (/version)", None)).await
}

async fn rook_version(kube: &Kube, ns: &str) -> Result<RookVersion> {
    let what = What::new("list", "deployments.apps", Some(ns));
    let selector = format!("{},rook-version", crate::cluster::read::daemon_selector(ns));
    let (deployments, _) = list_fold(kube, &deployments_path(ns), &selector, &what, BTreeMap::new, |m, d: Labelled| {
        if let Some(v) = d.metadata.labels.get("rook-version") {
            *m.entry(v.clone()).or_insert(0) += 1;
        }
    })
    .await?;
    let version = deployments.keys().max_by_key(|v| crate::classify::rook_version_key(v)).cloned();
    Ok(RookVersion { namespace: ns.to_string(), version, deployments })
}

/// Run `version`; `client_only` is `--client`.
pub async fn run(ctx: &mut Ctx<'_>, client_only: bool) -> Result<i32> {
    let s = ctx.settings;
    let mut view = VersionView { client_version: client(), server_version: None, rook_version: None };
    if client_only {
        print(s, &view, || crate::render::version::text(&view))?;
        return Ok(0);
    }
    let server = match ctx.connect().await {
        Ok(conn) => match server_version(&conn.kube).await {
            Ok(v) => Ok((conn, v)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (conn, server) = match server {
        Ok(x) => x,
        Err(e) => {
            // The client part, then the reason the server part is missing, as kubectl does.
            print(s, &view, || crate::render::version::text(&view))?;
            crate::output::note(&crate::render::report(&e, &s.err_styles));
            crate::output::note("the server's Kubernetes and Rook versions could not be read");
            return Ok(1);
        }
    };
    view.server_version = Some(server);
    let rook = rook_version(&conn.kube, &conn.namespace).await;
    let rook_error = match rook {
        Ok(r) => {
            view.rook_version = Some(r);
            None
        }
        Err(e) => Some(e),
    };
    print(s, &view, || crate::render::version::text(&view))?;
    if let Some(e) = rook_error {
        // The server answered: the Rook part is a note, not a failure of the command.
        crate::output::note(&format!(
            "Rook Version: unknown: {}",
            crate::output::clean(&crate::cluster::api::first_line(&e))
        ));
    }
    Ok(0)
}
