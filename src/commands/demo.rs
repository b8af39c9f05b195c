//! `kubectl ceph-image demo`: the simulated Rook cluster, for trying the plugin and for
//! benchmarks. `--serve` runs it until killed and prints `export KUBECONFIG=<file>`, then
//! the exports for its fault endpoint (`ROOK_SIM_URL`, `ROOK_SIM_CACERT`, and
//! `ROOK_SIM_ADMIN_TOKEN` read from its file by the shell: the token itself is never printed).

use std::io::Write;

use rook_sim::{Crd, Sim, SimOptions, Topology};

use crate::cli::{CrdArg, DemoArgs};

impl DemoArgs {
    pub fn options(&self) -> SimOptions {
        let mut o = SimOptions {
            topology: Topology {
                osds: self.osds,
                nodes: self.nodes.unwrap_or(0),
                rgw_instances: self.rgw_instances,
                ..Default::default()
            },
            crd: match self.crd {
                CrdArg::Released => Crd::Released,
                CrdArg::Proposed => Crd::Proposed,
            },
            from: self.from.clone(),
            kubeconfig_out: self.kubeconfig_out.clone(),
            port: self.port,
            on: self.on.clone(),
            ..Default::default()
        };
        o.operator.daemon_delay = std::time::Duration::from_millis(self.restart_delay_ms);
        o.operator.ready_delay = std::time::Duration::from_millis(self.ready_delay_ms.unwrap_or(self.restart_delay_ms));
        o.operator.health_settle = std::time::Duration::from_millis(self.health_settle_ms);
        o
    }

    /// What the simulated cluster is, for messages.
    fn describe(&self, sim: &Sim) -> String {
        let crd = if matches!(self.crd, CrdArg::Proposed) { "proposed" } else { "released" };
        if self.from.is_empty() {
            format!("{} OSDs, {crd} CRD", self.osds)
        } else {
            let files: Vec<String> = self.from.iter().map(|p| p.display().to_string()).collect();
            format!("loaded from {}; CephClusters in {}; {crd} CRD", files.join(", "), sim.namespaces.join(", "))
        }
    }

    /// The same cluster again, as `demo` arguments.
    fn source_args(&self) -> String {
        if self.from.is_empty() {
            let rgw =
                if self.rgw_instances > 1 { format!(" --rgw-instances {}", self.rgw_instances) } else { String::new() };
            format!("--osds {}{rgw}", self.osds)
        } else {
            self.from.iter().map(|p| format!("--from {}", p.display())).collect::<Vec<_>>().join(" ")
        }
    }
}

/// Start the simulation; `namespace` (the global `-n`) is where a generated cluster lives
/// (default `rook-ceph`); dumps name their own namespaces.
fn start(args: &DemoArgs, namespace: Option<&str>) -> Result<Sim, String> {
    let mut opts = args.options();
    if let Some(ns) = namespace {
        if !args.from.is_empty() {
            return Err(format!(
                "-n {ns} with --from: the dumped objects name their own namespaces; leave out -n (the plugin's \
                 -n picks one of them afterwards)"
            ));
        }
        opts.topology.namespace = ns.to_string();
    }
    if let Some(file) = &args.rbac {
        opts.rbac = Some(rook_sim::server::rbac::Policy::from_file(file, &args.roles)?);
    }
    let sim = Sim::start(opts)?;
    for s in &sim.skipped {
        crate::output::note(&format!("rook-sim: {s}"));
    }
    for f in &args.faults {
        let id = sim.apply_fault(f)["id"].as_u64().map(|id| format!(" {id}")).unwrap_or_default();
        crate::output::note(&format!("rook-sim: fault{id}: {}", rook_sim::server::admin::describe(f)));
    }
    if let Some(file) = &args.rbac {
        crate::output::note(&format!(
            "rook-sim: RBAC: the user is bound to {} of {}",
            args.roles.join(", "),
            file.display()
        ));
    }
    Ok(sim)
}

/// Run the simulated cluster until SIGINT/SIGTERM.
pub async fn serve(args: &DemoArgs, namespace: Option<&str>) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    let sim = start(args, namespace).map_err(Error::Failed)?;
    // --nodes-down: named as the simulation names its nodes; a name it lacks is bad input
    let nodes = sim.nodes();
    if let Some(bad) = args.nodes_down.iter().find(|n| !nodes.contains(*n)) {
        let known: Vec<&str> = nodes.iter().map(String::as_str).collect();
        return Err(Error::Usage(format!("--nodes-down {bad}: no such node; the nodes are {}", known.join(", "))));
    }
    for n in &args.nodes_down {
        sim.set_node_down(n, true);
        crate::output::note(&format!("rook-sim: node {n} is down (its pods not Ready, its OSDs down in Ceph)"));
    }
    let mut out = std::io::stdout();
    // one write: a reader may stop after the first line
    let _ = write!(
        out,
        "export KUBECONFIG={}\nexport ROOK_SIM_URL={}\nexport ROOK_SIM_CACERT={}\n\
         export ROOK_SIM_ADMIN_TOKEN=\"$(cat '{}')\"\n",
        sim.kubeconfig().display(),
        sim.url,
        sim.ca_file().display(),
        sim.admin_token_file().display().to_string().replace('\'', "'\\''"),
    );
    let _ = out.flush();
    match &args.on {
        Some(on) => crate::output::note(&format!(
            "rook-sim: {}, on the API server of {}, its front at {} (Ctrl-C to stop)",
            args.describe(&sim),
            on.display(),
            sim.url
        )),
        None => {
            crate::output::note(&format!("rook-sim: {}, serving {} (Ctrl-C to stop)", args.describe(&sim), sim.url))
        }
    }
    crate::output::note(&format!(
        "rook-sim: faults: curl --cacert \"$ROOK_SIM_CACERT\" -H \"Authorization: Bearer $ROOK_SIM_ADMIN_TOKEN\" \
         \"$ROOK_SIM_URL{}\" (GET lists, POST adds, DELETE clears)",
        rook_sim::server::admin::FAULTS_PATH
    ));
    crate::output::note(&format!(
        "rook-sim: nodes: curl ... -X PUT -d '{{\"down\": true}}' \"$ROOK_SIM_URL{}/NODE\" (false: back up); \
         ceph faults: \"$ROOK_SIM_URL{}\"",
        rook_sim::server::admin::NODES_PATH,
        rook_sim::server::admin::CEPH_FAULTS_PATH
    ));
    wait_for_signal().await.map_err(Error::Failed)?;
    drop(sim);
    Ok(())
}

/// Until SIGINT or SIGTERM.
async fn wait_for_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

/// `demo` without `--serve`: the plugin on an in-process simulated cluster: the
/// interactive editor on a terminal, else its `status` and how to try the other commands.
pub async fn show(args: &DemoArgs, ctx: &mut crate::commands::Ctx<'_>) -> crate::error::Result<i32> {
    let sim = start(args, ctx.settings.connect.namespace.as_deref()).map_err(crate::error::Error::Failed)?;
    let mut settings = ctx.settings.clone();
    settings.connect.kubeconfig = Some(sim.kubeconfig().to_path_buf());
    settings.connect.context = None;
    settings.connect.namespace = None;
    settings.cluster = None;
    let mut demo_ctx = crate::commands::Ctx { settings: &settings, confirm: &mut *ctx.confirm };
    if settings.interactive {
        // The editor on the in-process cluster; it ends when the user quits.
        let code = crate::editor::run(&mut demo_ctx).await;
        drop(sim);
        return code;
    }
    let code = crate::commands::status::run(&mut demo_ctx).await?;
    crate::output::note(&format!(
        "\nThis is rook-sim, a simulated Rook cluster ({}); run on a terminal, demo opens the \
         interactive editor. To try every command (and kubectl) on it:\n  \
         kubectl-ceph-image demo --serve {} > /tmp/rook-sim.env &   # or in another terminal\n  \
         sleep 2; . /tmp/rook-sim.env                                     # export KUBECONFIG=...\n  \
         kubectl-ceph-image set mgr quay.io/ceph/ceph:v20.2.5 --dry-run\n  \
         kubectl-ceph-image pause osd.3",
        args.describe(&sim),
        args.source_args()
    ));
    drop(sim);
    Ok(code)
}
