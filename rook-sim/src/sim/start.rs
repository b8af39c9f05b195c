//! Starting a simulation on the embedded server: the store made from the generated
//! topology or loaded from dumps, the operator told which Deployments it manages, the
//! controllers registered, the server and the operator running.

use serde_json::{Value, json};

use crate::kube::control::ControlPlane;
use crate::operator::{self, Operator};
use crate::resources::{CEPHCLUSTERS, CRDS, DEPLOYMENTS, NAMESPACES, PODS};
use crate::server::store::Store;
use crate::sim::{Sim, crd_object, kubeconfig_yaml, runtime, serve_on, strip_nulls};
use crate::state::{Backend, Crd, SimOptions, SimState};
use crate::{kube, load, remote, server, topology};

fn ensure_namespace(store: &mut Store, ns: &str) {
    if store.get(&NAMESPACES, "", ns).is_none() {
        let _ = store.create(&NAMESPACES, "", json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}), false);
    }
}

fn store_with_crd(crd: Crd, namespaces: &[&str]) -> (Store, Value) {
    let mut store = Store::new();
    for ns in ["default", "kube-system"].iter().chain(namespaces) {
        ensure_namespace(&mut store, ns);
    }
    let crd = crd_object(crd);
    let schema = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().expect("schema");
    store.create(&CRDS, "", crd, false).expect("crd");
    (store, schema)
}

/// The generated cluster (`opts.topology`).
fn bootstrap(opts: &SimOptions, operator: &Operator) -> (Store, Value) {
    let t = &opts.topology;
    let operator_ns = t.operator_namespace.clone().unwrap_or_else(|| t.namespace.clone());
    let (mut store, schema) = store_with_crd(opts.crd, &[t.namespace.as_str(), operator_ns.as_str()]);
    let mut cluster = topology::ceph_cluster(&t.namespace, &t.ceph_image);
    strip_nulls(&mut cluster);
    server::schema::prune(&mut cluster, &schema);
    let cluster = store.create(&CEPHCLUSTERS, &t.namespace, cluster, false).expect("cluster");
    let uid = cluster["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let nodes: Vec<String> = (0..t.node_count()).map(|i| t.node_name(i)).collect();
    for d in t.daemons() {
        let dep = d.deployment(&t.namespace, &t.ceph_image, &t.rook_image, &uid);
        let dep = store.create(&DEPLOYMENTS, &t.namespace, dep, false).expect("deployment");
        for node in d.pod_nodes(&nodes) {
            let seq = operator.next_seq();
            let pod = topology::pod(&dep, &node, seq, true, &Operator::pod_ip(seq));
            store.create(&PODS, &t.namespace, pod, false).expect("pod");
        }
        operator.register(&t.namespace, operator::rook::Managed::Generated(d));
    }
    // the operator itself, Running (`ceph` is asked in it through pods/exec: ceph::exec)
    let dep = topology::operator_deployment(&operator_ns, &t.rook_image);
    let dep = store.create(&DEPLOYMENTS, &operator_ns, dep, false).expect("operator deployment");
    let seq = operator.next_seq();
    let pod = topology::pod(&dep, &nodes[0], seq, true, &Operator::pod_ip(seq));
    store.create(&PODS, &operator_ns, pod, false).expect("operator pod");
    kube::rollout::initial_status(&mut store, &operator_ns, "rook-ceph-operator");
    (store, schema)
}

/// A cluster loaded from dumped objects: exactly those objects. Rook manages the daemon
/// Deployments of every namespace with a CephCluster; the operator's Rook version there is
/// the `rook-version` most of them carry. Returns the store, the schema and the namespaces
/// with a CephCluster (first one first).
fn bootstrap_loaded(
    opts: &SimOptions,
    operator: &Operator,
    loaded: load::Loaded,
) -> Result<(Store, Value, Vec<String>, Vec<String>), String> {
    let mut namespaces: Vec<&str> = Vec::new();
    for o in &loaded.objects {
        let ns = if o.kind == &NAMESPACES {
            o.object["metadata"]["name"].as_str().unwrap_or_default()
        } else {
            &o.namespace
        };
        if !ns.is_empty() && !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    let (mut store, schema) = store_with_crd(opts.crd, &[]);
    let mut cluster_namespaces: Vec<String> = Vec::new();
    let mut cluster_images: std::collections::BTreeMap<String, String> = Default::default();
    // Namespaces first (a dumped Namespace replaces the one made for it), then clusters.
    for kind in [&NAMESPACES, &CEPHCLUSTERS, &DEPLOYMENTS, &PODS] {
        for o in loaded.objects.iter().filter(|o| o.kind == kind) {
            let mut v = load::clean(o.object.clone());
            strip_nulls(&mut v);
            if kind == &NAMESPACES {
                let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let _ = store.delete(&NAMESPACES, "", &name, false);
            }
            if kind == &CEPHCLUSTERS {
                server::schema::prune(&mut v, &schema);
                if !cluster_namespaces.contains(&o.namespace) {
                    cluster_namespaces.push(o.namespace.clone());
                }
                let image = v.pointer("/spec/cephVersion/image").and_then(Value::as_str).unwrap_or_default();
                cluster_images.entry(o.namespace.clone()).or_insert_with(|| image.to_string());
            }
            store.load(kind, &o.namespace, v).map_err(|e| format!("{}: {}", o.origin, e.message))?;
        }
        if kind == &NAMESPACES {
            for ns in &namespaces {
                ensure_namespace(&mut store, ns);
            }
        }
    }
    for ns in &cluster_namespaces {
        let deployments: Vec<Value> = store
            .iter(&DEPLOYMENTS, Some(ns), None)
            .map(|(_, s)| serde_json::from_slice(&s.bytes).expect("json"))
            .collect();
        let mut versions: std::collections::BTreeMap<String, usize> = Default::default();
        for dep in &deployments {
            let name = dep["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if dep.get("status").is_none() {
                kube::rollout::initial_status(&mut store, ns, &name);
            }
            if let Some(d) = operator::rook::LoadedDaemon::from_deployment(dep, &cluster_images[ns]) {
                if let Some(v) = dep.pointer("/metadata/labels/rook-version").and_then(Value::as_str) {
                    *versions.entry(v.to_string()).or_default() += 1;
                }
                operator.register(ns, operator::rook::Managed::Loaded(d));
            }
        }
        if let Some((v, _)) = versions.into_iter().max_by_key(|(v, n)| (*n, operator::rook::rook_minor(v))) {
            operator.set_rook_version(ns, &v);
        }
    }
    Ok((store, schema, cluster_namespaces, loaded.skipped))
}

impl Sim {
    pub fn start(opts: SimOptions) -> Result<Sim, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if opts.on.is_some() {
            return remote::on_server::start(opts);
        }
        let tls = server::tls::generate()?;
        let operator = Operator::new(opts.operator.clone(), opts.topology.rook_image.clone());
        let loaded = if opts.from.is_empty() && opts.objects.is_empty() {
            None
        } else {
            Some(load::from_sources(&opts.from, &opts.objects)?)
        };
        let (store, schema, namespaces, skipped) = match loaded {
            None => {
                let (store, schema) = bootstrap(&opts, &operator);
                (store, schema, vec![opts.topology.namespace.clone()], Vec::new())
            }
            Some(l) => bootstrap_loaded(&opts, &operator, l)?,
        };
        let generated = opts.from.is_empty() && opts.objects.is_empty();
        let state = SimState::new(store, Backend::Embedded, None, schema, &opts, operator);
        state.set_controllers(Box::new(ControlPlane));
        if generated {
            for i in 0..opts.topology.node_count() {
                state.kubelet.add_node(&opts.topology.node_name(i));
            }
        }
        state.kubelet.seed(&state.store());
        let rt = runtime()?;
        {
            let _guard = rt.enter();
            if generated {
                state.operator.update_status(&state, &opts.topology.namespace, &opts.topology.ceph_image);
            } else {
                for ns in &namespaces {
                    state.operator.fill_versions(&state, ns);
                }
            }
            for ns in &namespaces {
                crate::ceph::keys_at_creation(&state, ns);
            }
        }
        let (url, addr) = serve_on(rt.handle(), &state, opts.port, &tls)?;
        let op_state = state.clone();
        rt.spawn(async move { op_state.operator.run(&op_state).await });

        let (kubeconfig, owned_dir) = match &opts.kubeconfig_out {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!("rook-sim-{}-{}", std::process::id(), addr.port()));
                std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        crate::secrets::write_private(&kubeconfig, &kubeconfig_yaml(&url, &tls.ca_pem, &state.token, &namespaces[0]))?;
        let admin_files = Some(server::admin::Files::write(&kubeconfig, &state.admin_token, &tls.ca_pem)?);
        Ok(Sim {
            state,
            rt: Some(rt),
            kubeconfig,
            admin_files,
            owned_dir,
            url,
            ca_pem: tls.ca_pem,
            namespaces,
            skipped,
            created_namespaces: Vec::new(),
        })
    }
}
