//! The simulated kubelets on the real control plane (issue 23 item 7): `kubectl exec`
//! through the real kube-apiserver reaches a simulated pod (kubelet-exec, Kubernetes' own
//! remotecommand server, hands the command to the rook-sim running the pod) and answers what
//! `rook_sim::ceph::exec` answers, in the Rook operator's pod (`deploy/rook-ceph-operator`,
//! as rook-sim installs it there) as in a daemon's, and so the plugin's `status` shows
//! Ceph's answer there as on the embedded server; a node set down stops reporting, and the
//! real node-lifecycle controller marks it NotReady; a pod that controller marked not Ready
//! on a node that is up is reported Ready again.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::control_plane::{ControlPlane, control_plane};
use common::*;
use rook_sim::{Crd, Sim};
use serde_json::Value;

/// The commands run through `pods/exec`, as rook-sim's request log has them.
fn execs(sim: &Sim) -> Vec<Vec<String>> {
    sim.log().into_iter().filter(|r| r.resource == "pods/exec").filter_map(|r| r.command).collect()
}

/// `kubectl exec -n NS POD -c CONTAINER -- ARGV` as admin, straight to the real
/// kube-apiserver; `websocket` false: over SPDY, as kubectl before 1.31 and client-go's
/// SPDY executor.
fn kubectl_exec(cp: &ControlPlane, ns: &str, pod: &str, container: &str, argv: &[&str], websocket: bool) -> Output {
    let mut args = vec!["-n", ns, "exec", pod, "-c", container, "--"];
    args.extend_from_slice(argv);
    let mut c = std::process::Command::new(control_plane::kubectl_bin());
    c.env("KUBECONFIG", cp.kubeconfig("admin"))
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", if websocket { "true" } else { "false" })
        .arg("--cache-dir")
        .arg(cp.dir().join(format!("kubectl-cache-exec-{}", std::process::id())))
        .args(&args);
    c.output().expect("kubectl runs")
}

/// What the pod's container answers, asked of the simulation directly.
fn direct(sim: &Sim, ns: &str, pod: &str, container: &str, argv: &[&str]) -> rook_sim::ceph::ExecOutcome {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    rt.block_on(rook_sim::ceph::exec(&sim.state, ns, pod, container, &argv))
}

fn pod_json(cp: &ControlPlane, ns: &str, pod: &str) -> Value {
    serde_json::from_str(&cp.kubectl_ok("admin", &["-n", ns, "get", "pod", pod, "-o", "json"])).expect("JSON")
}

/// kubectl's exit code, stdout and stderr are the container's, as on a real cluster: a
/// non-zero exit is reported by kubectl as `command terminated with exit code N` and is its
/// own exit code.
fn assert_answers_as(o: &Output, want: &rook_sim::ceph::ExecOutcome, how: &str) {
    let (out, err) = (stdout(o), stderr(o));
    assert_eq!(o.status.code(), Some(want.exit_code), "{how}: {out}{err}");
    assert_eq!(out.as_bytes(), want.stdout.as_slice(), "{how}: stdout");
    let want_err = String::from_utf8_lossy(&want.stderr).into_owned();
    if want.exit_code == 0 {
        assert_eq!(err, want_err, "{how}: stderr");
    } else {
        assert_eq!(err, format!("{want_err}command terminated with exit code {}\n", want.exit_code), "{how}: stderr");
    }
}

#[test]
fn kubectl_exec_answers_what_the_container_answers() {
    let cp = control_plane(Crd::Released);
    let sim = cp.sim("kexec", 3);
    let ns = ns(&sim);
    let pod = pod_names(&sim, "rook-ceph-osd").into_iter().next().expect("an OSD pod");
    let argv = ["ceph", "status", "--format", "json"];
    let want = direct(&sim, &ns, &pod, "osd", &argv);
    // kubectl's default (WebSocket; the API server speaks SPDY to the kubelet) and SPDY
    for websocket in [true, false] {
        let o = kubectl_exec(cp, &ns, &pod, "osd", &argv, websocket);
        assert_answers_as(&o, &want, if websocket { "websocket" } else { "spdy" });
    }
    // The Rook operator's pod, as kubectl-rook-ceph and the plugin ask Ceph: straight to
    // the real server, and through rook-sim's front (its kubeconfig; the front tunnels the
    // real server's WebSocket)
    let operator = pod_names(&sim, "rook-ceph-operator");
    assert_eq!(operator.len(), 1, "one operator pod, Running: {operator:?}");
    let argv = ["ceph", "status", "-f", "json"];
    let want = direct(&sim, &ns, &operator[0], "rook-ceph-operator", &argv);
    assert_eq!(want.exit_code, 0, "{want:?}");
    let o = kubectl_exec(cp, &ns, "deploy/rook-ceph-operator", "rook-ceph-operator", &argv, true);
    assert_answers_as(&o, &want, "deploy/rook-ceph-operator");
    let o = kubectl(&sim, &["exec", "-n", &ns, "deploy/rook-ceph-operator", "--", "ceph", "status", "-f", "json"]);
    assert_answers_as(&o, &want, "deploy/rook-ceph-operator through rook-sim's front");
    assert_eq!(execs(&sim), [argv.map(String::from).to_vec()], "the front's request log has it");
}

#[test]
fn exec_into_a_container_that_is_not_running_answers_as_the_kubelet() {
    let cp = control_plane(Crd::Released);
    let sim = cp.sim("kexec", 3);
    let ns = ns(&sim);
    let pod = pod_names(&sim, "rook-ceph-osd").into_iter().next().expect("an OSD pod");
    // An init container is a container of the pod (the API server and kubectl let it
    // through), but no longer running: the kubelet finds no such container.
    let init =
        pod_json(cp, &ns, &pod)["spec"]["initContainers"][0]["name"].as_str().expect("an init container").to_string();
    let o = kubectl_exec(cp, &ns, &pod, &init, &["ceph", "status"], true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("unable to upgrade connection: container not found (\"{init}\")")),
        "{}",
        stderr(&o)
    );
    // a name the pod does not have: refused before the kubelet (kubectl checks it first)
    let o = kubectl_exec(cp, &ns, &pod, "nope", &["ceph", "status"], true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("container nope is not valid for pod"), "{}", stderr(&o));
}

on_both! {
    /// `status` asks Ceph in the Rook operator pod (issue 23 item 1) and shows what it
    /// answers: on the real control plane the operator pod is the real server's, the exec
    /// goes through rook-sim's front and the real kube-apiserver to the simulated kubelet,
    /// and the answer is what `rook_sim::ceph::exec` answers, as on the embedded server.
    fn status_shows_cephs_health_and_versions_asked_in_the_operator_pod() {
        let sim = sim_with(Crd::Released, 3);
        let ns = ns(&sim);
        sim.clear_log();
        let s = run(&sim, &["status", "-o", "json"]).ok().json();
        let conf = format!("--conf=/var/lib/rook/{ns}/{ns}.config");
        let mut ran = execs(&sim);
        ran.sort();
        assert_eq!(
            ran,
            [
                vec!["ceph", "health", "detail", "-f", "json", "--connect-timeout=5", &conf],
                vec!["ceph", "versions", "-f", "json", "--connect-timeout=5", &conf],
            ]
        );
        let exec = sim.log().into_iter().find(|r| r.resource == "pods/exec").unwrap();
        assert!(exec.query.contains("container=rook-ceph-operator"), "{}", exec.query);
        let pod = exec.name.unwrap();
        assert!(pod.starts_with("rook-ceph-operator-"), "{pod}");
        let c = &s["ceph"];
        assert_eq!(c["pod"], format!("{ns}/{pod}"), "{c}");
        assert_eq!((c["asked"].as_bool(), &c["error"]), (Some(true), &serde_json::Value::Null), "{c}");
        // what the operator pod's `ceph` answers, asked of the simulation directly
        let answer = |args: &[&str]| -> Value {
            serde_json::from_slice(&direct(&sim, &ns, &pod, "rook-ceph-operator", args).stdout).unwrap()
        };
        let health = answer(&["ceph", "health", "detail", "-f", "json", &conf]);
        assert_eq!(c["health"], health["status"], "{c}");
        let versions = answer(&["ceph", "versions", "-f", "json", &conf]);
        assert_eq!(c["versions"], versions, "{c}");
        assert_eq!(c["versions"]["osd"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 3, "{c}");
        // created on 20.2.4 (the AES256K fix): its service keys are AES256K from the start
        let checks: Vec<&str> = c["checks"].as_array().unwrap().iter().map(|k| k["code"].as_str().unwrap()).collect();
        assert!(!checks.contains(&"AUTH_INSECURE_SERVICE_KEY_TYPE"), "{c}");
        assert!(sim.mutating_requests().is_empty());
    }
}

/// The Node's `Ready` condition (status, reason).
fn ready(cp: &ControlPlane, node: &str) -> (String, String) {
    let n: Value = serde_json::from_str(&cp.kubectl_ok("admin", &["get", "node", node, "-o", "json"])).expect("JSON");
    let c = n["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")).cloned();
    let c = c.unwrap_or_default();
    (c["status"].as_str().unwrap_or_default().into(), c["reason"].as_str().unwrap_or_default().into())
}

fn wait_ready(cp: &ControlPlane, node: &str, status: &str, within: Duration) -> (String, String) {
    let deadline = Instant::now() + within;
    loop {
        let r = ready(cp, node);
        if r.0 == status || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_set_down_stops_reporting_and_the_controller_marks_it_not_ready() {
    let cp = control_plane(Crd::Released);
    // a node of its own (the other tests of this file use node-00 to node-02, and a node
    // another simulation renews stays Ready): node-03 runs its crash collector and exporter
    let topology = rook_sim::Topology {
        osds: 3,
        nodes: 4,
        mons: 1,
        mgrs: 1,
        filesystem: None,
        object_store: None,
        nfs: None,
        rbd_mirrors: 0,
        cephfs_mirror: false,
        ..Default::default()
    };
    let operator = rook_sim::OperatorConfig {
        daemon_delay: Duration::ZERO,
        ready_delay: Duration::from_millis(20),
        ..Default::default()
    };
    let sim = cp.sim_of("kdown", topology, operator, None);
    let ns = ns(&sim);
    let node = "node-03";
    let pod = sim
        .list(&rook_sim::resources::PODS, &ns)
        .into_iter()
        .find(|p| p["spec"]["nodeName"] == node)
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .expect("a pod on node-03");
    assert_eq!(ready(cp, node).0, "True");

    let started = Instant::now();
    sim.set_node_down(node, true);
    // The controller's own words (rook-sim never writes them): the kubelet went quiet.
    let r = wait_ready(cp, node, "Unknown", Duration::from_secs(30));
    assert_eq!(r, ("Unknown".to_string(), "NodeStatusUnknown".to_string()), "after {:?}", started.elapsed());
    let n: Value = serde_json::from_str(&cp.kubectl_ok("admin", &["get", "node", node, "-o", "json"])).unwrap();
    assert!(
        n["spec"]["taints"].as_array().into_iter().flatten().any(|t| t["key"] == "node.kubernetes.io/unreachable"),
        "{}",
        n["spec"]
    );
    // exec into its pod: its kubelet does not answer
    let container = pod_json(cp, &ns, &pod)["spec"]["containers"][0]["name"].as_str().unwrap().to_string();
    let o = kubectl_exec(cp, &ns, &pod, &container, &["ceph", "status"], true);
    // (a stopped kubelet refuses the connection; this one, shared by every simulated node,
    // hangs up: "error sending request: Post .../exec/...: unexpected EOF")
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).is_empty() && stderr(&o).contains("error sending request"), "{}", stderr(&o));
    sim.set_node_down(node, false);
    let r = wait_ready(cp, node, "True", Duration::from_secs(30));
    assert_eq!(r.0, "True", "{r:?}");
    let o = kubectl_exec(cp, &ns, &pod, &container, &["ceph", "status"], true);
    assert_eq!(
        o.status.code(),
        Some(direct(&sim, &ns, &pod, &container, &["ceph", "status"]).exit_code),
        "{}",
        stderr(&o)
    );

    // A heartbeat that came late: the node controller marks a pod of a node that is up not
    // Ready (its `Ready` False, `ContainersReady` left True, as MarkPodsNotReady does); the
    // node's kubelet reports it as it runs, Ready again.
    let other = sim
        .list(&rook_sim::resources::PODS, &ns)
        .into_iter()
        .find(|p| p["spec"]["nodeName"] == "node-00" && p["status"]["phase"] == "Running")
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .expect("a Running pod on node-00");
    let condition = |p: &Value, t: &str| {
        p["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == t).unwrap()["status"].clone()
    };
    cp.kubectl_ok(
        "admin",
        &[
            "-n",
            &ns,
            "patch",
            "pod",
            &other,
            "--subresource=status",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let p = loop {
        let p = pod_json(cp, &ns, &other);
        if condition(&p, "Ready") == "True" || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(condition(&p, "Ready"), "True", "{}", p["status"]);
    assert_eq!(condition(&p, "ContainersReady"), "True", "{}", p["status"]);
    assert_eq!(p["status"]["phase"], "Running");
}
