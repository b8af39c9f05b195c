//! `pods/exec` of the embedded server (issue 23 item 7) as kube-rs and the real kubectl
//! speak it, and the Rook operator pod it runs in: the command reaches `rook_sim::ceph::exec`
//! with its argv (the request log says so), the channels and the final status carry its
//! answer, the apiserver's refusals come in its words, faults apply.
//!
//! Written to stay right when the simulated Ceph answers: the exit-127 checks run a program
//! no Rook image has; `ceph status` is compared with what `ceph::exec` answers, whatever it is.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use rook_sim::resources::{DEPLOYMENTS, PODS};
use rook_sim::server::faults::{Fault, FaultKind};
use rook_sim::{Crd, Sim};
use tokio::io::AsyncReadExt;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn client(sim: &Sim) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(sim.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

fn operator_pod(sim: &Sim) -> String {
    let pods = sim.list(&PODS, &ns(sim));
    let op: Vec<&serde_json::Value> =
        pods.iter().filter(|p| p["metadata"]["labels"]["app"] == "rook-ceph-operator").collect();
    assert_eq!(op.len(), 1, "one operator pod");
    assert_eq!(op[0]["status"]["phase"], "Running");
    op[0]["metadata"]["name"].as_str().unwrap().to_string()
}

/// stdout, stderr, and the exit code the final status says (None: no status).
async fn exec(
    sim: &Sim,
    pod: &str,
    container: &str,
    argv: &[&str],
) -> Result<(String, String, Option<i32>), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client(sim).await, &ns(sim));
    let ap = AttachParams::default().stdin(false).stdout(true).stderr(true).container(container);
    let mut p = pods.exec(pod, argv.to_vec(), &ap).await?;
    let status = p.take_status().unwrap();
    let (mut o, mut e) = (p.stdout().unwrap(), p.stderr().unwrap());
    let (mut out, mut err) = (String::new(), String::new());
    let _ = tokio::join!(o.read_to_string(&mut out), e.read_to_string(&mut err));
    let code = status.await.map(|s| match s.status.as_deref() {
        Some("Success") => 0,
        _ => {
            assert_eq!(s.reason.as_deref(), Some("NonZeroExitCode"), "{s:?}");
            let causes = s.details.unwrap().causes.unwrap();
            assert_eq!(causes[0].reason.as_deref(), Some("ExitCode"));
            causes[0].message.as_deref().unwrap().parse().unwrap()
        }
    });
    Ok((out, err, code))
}

fn api_error(r: Result<(String, String, Option<i32>), kube::Error>) -> (u16, String, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn the_operator_runs_as_rooks_example_installs_it() {
    let sim = sim_with(Crd::Released, 3);
    let ns = ns(&sim);
    let pod = operator_pod(&sim);
    let p = sim.get(&PODS, &ns, &pod).unwrap();
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["name"], "rook-ceph-operator");
    assert_eq!(c["image"], "docker.io/rook/ceph:v1.20.6", "the simulated Rook's version");
    assert!(p["metadata"]["labels"].get("rook_cluster").is_none(), "not one of the cluster's daemons");
    let d = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-operator").unwrap();
    assert_eq!(d["status"]["readyReplicas"], 1);
    // the plugin's daemon reads (rook_cluster=NS) do not see it: status is as before
    let s = run(&sim, &["status", "-o", "json"]).ok().json();
    assert!(s["notHandled"].as_array().unwrap().is_empty(), "{s}");
}

#[test]
fn exec_runs_the_command_in_the_container_and_says_how_it_ended() {
    let sim = sim_with(Crd::Released, 3);
    let pod = operator_pod(&sim);
    sim.clear_log();
    rt().block_on(async {
        // a program no Rook image has: the shell's answer, now and once Ceph is simulated
        let (out, err, code) = exec(&sim, &pod, "rook-ceph-operator", &["no-such-program", "x"]).await.unwrap();
        assert_eq!((out.as_str(), err.as_str(), code), ("", "sh: no-such-program: not found\n", Some(127)));
        // `ceph status`: exactly what ceph::exec answers, through the channels
        let argv: Vec<String> = ["ceph", "status", "-f", "json"].map(String::from).to_vec();
        let want = rook_sim::ceph::exec(&sim.state, &ns(&sim), &pod, "rook-ceph-operator", &argv).await;
        let (out, err, code) = exec(&sim, &pod, "rook-ceph-operator", &["ceph", "status", "-f", "json"]).await.unwrap();
        assert_eq!(out.as_bytes(), want.stdout);
        assert_eq!(err.as_bytes(), want.stderr);
        assert_eq!(code, Some(want.exit_code));
    });
    let execs: Vec<_> = sim.log().into_iter().filter(|r| r.resource == "pods/exec").collect();
    assert_eq!(execs.len(), 2, "{execs:?}");
    assert_eq!(execs[1].command.as_deref().unwrap(), ["ceph", "status", "-f", "json"]);
    assert_eq!((execs[1].verb.as_str(), execs[1].name.as_deref(), execs[1].status), ("get", Some(pod.as_str()), 101));
    assert!(sim.mutating_requests().is_empty(), "an exec is no write");
}

#[test]
fn exec_is_refused_as_the_apiserver_refuses_it() {
    let sim = sim_with(Crd::Released, 3);
    let pod = operator_pod(&sim);
    rt().block_on(async {
        let (code, reason, msg) = api_error(exec(&sim, "nope", "rook-ceph-operator", &["ceph"]).await);
        assert_eq!((code, reason.as_str(), msg.as_str()), (404, "NotFound", "pods \"nope\" not found"));
        let (code, reason, msg) = api_error(exec(&sim, &pod, "zz", &["ceph"]).await);
        assert_eq!((code, reason.as_str()), (400, "BadRequest"));
        assert_eq!(msg, format!("container zz is not valid for pod {pod}"));
        // a 500 from a fault, then a dropped connection, then a hang: the client gets an
        // error, an error, and nothing until it gives up
        sim.faults().add(Fault::new(FaultKind::Status(500)).resource("pods/exec").times(1));
        assert_eq!(api_error(exec(&sim, &pod, "rook-ceph-operator", &["ceph"]).await).0, 500);
        sim.faults().add(Fault::new(FaultKind::Drop).resource("pods/exec").times(1));
        assert!(exec(&sim, &pod, "rook-ceph-operator", &["ceph"]).await.is_err());
        sim.faults().add(Fault::new(FaultKind::Hang).resource("pods/exec").times(1));
        let hung = tokio::time::timeout(Duration::from_millis(500), exec(&sim, &pod, "rook-ceph-operator", &["ceph"]));
        assert!(hung.await.is_err(), "a hang never answers");
        // a fault on pods/exec leaves the pod's other requests alone
        sim.faults().add(Fault::new(FaultKind::Status(500)).resource("pods/exec"));
        let pods: Api<Pod> = Api::namespaced(client(&sim).await, &ns(&sim));
        pods.get(&pod).await.unwrap();
        sim.faults().clear();
        // not a WebSocket: the apiserver's 400
        let req = http::Request::get(format!(
            "/api/v1/namespaces/{}/pods/{pod}/exec?command=ceph&container=rook-ceph-operator&stdout=true",
            ns(&sim)
        ))
        .body(vec![])
        .unwrap();
        match client(&sim).await.request_text(req).await {
            Err(kube::Error::Api(s)) => assert_eq!((s.code, s.message.as_str()), (400, "Upgrade request required")),
            other => panic!("{other:?}"),
        }
    });
}

/// RBAC as kube-apiserver 1.37 checks an exec over a WebSocket (a GET): `get` on pods/exec
/// by the request's verb, then `create` (`AuthorizePodWebsocketUpgradeCreatePermission`,
/// on since 1.35), whose refusal carries no reason — both seen on scripts/control-plane.
#[test]
fn exec_needs_get_and_create_on_pods_exec() {
    let roles = |verbs: &str| {
        let yaml = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: r}}\nrules:\n\
             - {{apiGroups: [''], resources: [pods], verbs: [get, list]}}\n\
             - {{apiGroups: [''], resources: [pods/exec], verbs: [{verbs}]}}\n"
        );
        let roles = rook_sim::server::rbac::roles_from_text("t", &yaml).unwrap();
        rook_sim::server::rbac::Policy::bind(&roles, &["r".to_string()]).unwrap()
    };
    let sim = sim_with(Crd::Released, 3);
    let pod = operator_pod(&sim);
    let ns = ns(&sim);
    rt().block_on(async {
        sim.set_rbac(Some(roles("create")));
        let (code, _, msg) = api_error(exec(&sim, &pod, "rook-ceph-operator", &["ceph"]).await);
        assert_eq!(code, 403);
        assert!(
            msg.ends_with(&format!("cannot get resource \"pods/exec\" in API group \"\" in the namespace \"{ns}\"")),
            "{msg}"
        );
        sim.set_rbac(Some(roles("get")));
        let (code, reason, msg) = api_error(exec(&sim, &pod, "rook-ceph-operator", &["ceph"]).await);
        assert_eq!((code, reason.as_str(), msg), (403, "Forbidden", format!("pods \"{pod}\" is forbidden: ")));
        sim.set_rbac(Some(roles("get, create")));
        assert_eq!(exec(&sim, &pod, "rook-ceph-operator", &["no-such-program"]).await.unwrap().2, Some(127));
    });
}

/// The real kubectl (1.37, WebSocket first) against the embedded server: `kubectl exec
/// deploy/rook-ceph-operator -- ceph status` gets what `ceph::exec` answers, its exit code
/// included (kubectl exits with it and says `command terminated with exit code N`).
#[test]
fn kubectl_exec_gets_what_ceph_exec_answers() {
    let sim = sim_with(Crd::Released, 3);
    let pod = operator_pod(&sim);
    let argv: Vec<String> = ["ceph", "status"].map(String::from).to_vec();
    let want = rt().block_on(rook_sim::ceph::exec(&sim.state, &ns(&sim), &pod, "rook-ceph-operator", &argv));
    let o = kubectl(&sim, &["exec", "-n", &ns(&sim), "deploy/rook-ceph-operator", "--", "ceph", "status"]);
    assert_eq!(o.stdout, want.stdout);
    assert_eq!(
        o.status.code(),
        Some(want.exit_code),
        "{}{:?}",
        stderr(&o),
        sim.log().iter().map(|r| (&r.method, &r.path, r.status)).collect::<Vec<_>>()
    );
    let err = stderr(&o);
    assert!(err.starts_with(&String::from_utf8_lossy(&want.stderr).into_owned()), "{err}");
    if want.exit_code != 0 {
        assert!(err.contains(&format!("command terminated with exit code {}", want.exit_code)), "{err}");
    }
    let execs: Vec<_> = sim.log().into_iter().filter(|r| r.resource == "pods/exec").collect();
    assert_eq!(execs.len(), 1, "one exec, over the WebSocket: {execs:?}");
    assert_eq!(execs[0].command.as_deref().unwrap(), ["ceph", "status"]);
}
