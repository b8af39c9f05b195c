//! The command line (DESIGN §2). Every flag goes after the plugin name; kubectl passes
//! none of its own.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Per-daemon Ceph images and do-not-reconcile holds on Rook CephClusters, \
with the restart plan shown before anything is sent.";

const EXAMPLES: &str = "\
Examples:
  kubectl ceph-image status
  kubectl ceph-image set mgr quay.io/ceph/ceph:v19.2.3 --dry-run
  kubectl ceph-image set mgr quay.io/ceph/ceph:v19.2.3 --yes
  kubectl ceph-image unset mgr
  kubectl ceph-image pause osd.12 osd.13
  kubectl ceph-image pause osd --node worker-7
  kubectl ceph-image resume osd.12
  kubectl ceph-image upgrade quay.io/ceph/ceph:v20.2.6 --dry-run
  kubectl ceph-image demo

Exit codes: 0 done or nothing to do; 1 the cluster or the API refused or failed;
2 bad usage or input (nothing was sent); 3 declined at the prompt; 4 with --exit-code,
the plan restarts pods; 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "kubectl ceph-image", bin_name = "kubectl ceph-image", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: long lists summarised by type and node
    Text,
    /// Text with every row: each restarting pod, held and fenced daemon
    Wide,
    /// A stable document for scripts
    Json,
    /// The JSON document as YAML
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Print the plan and the exact patch; send nothing.
    Client,
    /// Also send the patch with dryRun=All: the API server validates it, persists nothing.
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// A merge patch of spec.cephVersion.imageOverrides (the proposed Rook)
    Overrides,
    /// Label the type's Deployments do-not-reconcile and rewrite their images (Rook today)
    Fence,
}

impl DryRun {
    /// As it appears in the JSON output (`"dryRun": "client"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DryRun::Client => "client",
            DryRun::Server => "server",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// CephCluster namespace [default: the context's namespace, else rook-ceph]
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Which CephCluster; needed only when the namespace has more than one
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Path to the kubeconfig file [default: $KUBECONFIG (several files merge), else ~/.kube/config]
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// How long to wait for each API request (e.g. 30s, 1m; 0 for no limit)
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true)]
    pub request_timeout: String,
    /// Output format: text for people (wide: every row); json and yaml are stable shapes for scripts
    #[arg(short = 'o', long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// When to colour: auto (a terminal, NO_COLOR unset, TERM not dumb), always, never
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,
    /// Log each API request (method, path, status, time) and retry to stderr, never a
    /// credential; as kubectl: -v, -v=N or --v=N (N >= 1; N >= 8 adds each answer's size)
    #[arg(
        short = 'v',
        long = "v",
        visible_alias = "verbose",
        global = true,
        value_name = "N",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        value_parser = clap::value_parser!(u8)
    )]
    pub verbosity: Option<u8>,
}

/// Flags of the commands that change the cluster (set, unset, pause, resume): they apply
/// nowhere else, so `status --yes` is refused as a usage error.
#[derive(Debug, Clone, Default, Args)]
pub struct ChangeArgs {
    /// Print the plan and the exact patch without applying (=server: also send it with dryRun=All)
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client", value_name = "MODE")]
    pub dry_run: Option<DryRun>,
    /// Apply without asking; without a terminal, a change needs this
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// With --dry-run: exit 4 when the plan restarts pods, 0 when it restarts none
    #[arg(long)]
    pub exit_code: bool,
    /// After applying, follow the rollout until the restarted pods are Ready on the new image
    #[arg(long)]
    pub wait: bool,
    /// How long any wait for pods may take: --wait, a fence's steps, an upgrade's gates
    /// (e.g. 10m, 90s; 0 for no limit) [default: 15m]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Desired and running image per daemon type, held daemons, Ceph versions
    #[command(
        after_help = "Examples:\n  kubectl ceph-image status\n  kubectl ceph-image status -o json | jq '.types[] | select(.drifted > 0)'"
    )]
    Status,
    /// Set a daemon type's image override, or the base image with `base`
    #[command(
        after_help = "Examples:\n  kubectl ceph-image set mgr quay.io/ceph/ceph:v19.2.3 --dry-run\n  kubectl ceph-image set mgr registry.example.com/ceph@sha256:<digest> --yes\n  kubectl ceph-image set base quay.io/ceph/ceph:v19.2.3\n  kubectl ceph-image set mgr quay.io/ceph/ceph:v19.2.3 --strategy fence   # released Rook\n\nTYPE: base, or one of mon, mgr, osd, mds, rgw, nfs, rbdmirror (rbd-mirror), cephfsmirror (cephfs-mirror,\nfs-mirror), crashcollector (crash), exporter (ceph-exporter)."
    )]
    Set {
        /// `base` (spec.cephVersion.image) or a daemon type (spec.cephVersion.imageOverrides.TYPE)
        #[arg(value_name = "TYPE")]
        target: String,
        /// The image, e.g. quay.io/ceph/ceph:v19.2.3 or REPO@sha256:DIGEST
        image: String,
        /// `overrides`: spec.cephVersion.imageOverrides (needs a Rook whose CRD has it);
        /// `fence`: pin the type's Deployments directly (works on released Rook)
        #[arg(long, value_enum, default_value = "overrides")]
        strategy: Strategy,
        /// Change the CephCluster even though another controller owns it (e.g. ODF's
        /// StorageCluster), which will write its own spec back
        #[arg(long)]
        force: bool,
        /// With --strategy fence: the failure domain an OSD batch stays inside
        #[arg(long, value_enum, value_name = "DOMAIN")]
        batch_by: Option<crate::plan::FailureDomain>,
        /// With --strategy fence: at most this many OSDs a batch [default: osdMaxUpdatesInParallel]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        max_unavailable: Option<u32>,
        /// With --strategy fence: wait this long between steps once a step's pods are Ready (e.g. 2m)
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
        pause_between: Option<String>,
        /// With --strategy fence: restart OSDs, mons and MDS even where Ceph cannot be asked
        /// `ok-to-stop` for them (no exec right, no operator pod); a "no" from Ceph still stops
        #[arg(long)]
        allow_unchecked_restarts: bool,
        /// With --strategy fence: do not set noout on the OSDs of each step while they restart
        #[arg(long)]
        no_noout: bool,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Remove a daemon type's image override: it follows the base image again
    #[command(
        after_help = "Examples:\n  kubectl ceph-image unset mgr --dry-run\n  kubectl ceph-image unset mgr --yes\n  kubectl ceph-image unset mgr --strategy fence --reconcile-now"
    )]
    Unset {
        #[arg(value_name = "TYPE")]
        target: String,
        /// `overrides`: remove the imageOverrides entry; `fence`: remove this plugin's fence
        #[arg(long, value_enum, default_value = "overrides")]
        strategy: Strategy,
        /// With --strategy fence: start an operator reconcile now (adds and removes the
        /// CephCluster-level label), so the unfenced daemons return to the spec image
        #[arg(long)]
        reconcile_now: bool,
        /// Change the CephCluster even though another controller owns it
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Add ceph.rook.io/do-not-reconcile to daemons (or `cluster`): Rook leaves them as they are
    #[command(
        after_help = "Examples:\n  kubectl ceph-image pause osd.12 osd.13\n  kubectl ceph-image pause osd --node worker-7 --yes\n  kubectl ceph-image pause -l topology-location-host=worker-7\n  kubectl ceph-image pause cluster"
    )]
    Pause(Targets),
    /// Remove ceph.rook.io/do-not-reconcile from daemons (or `cluster`)
    #[command(
        after_help = "Examples:\n  kubectl ceph-image resume osd.12\n  kubectl ceph-image resume osd --node worker-7 --yes\n  kubectl ceph-image resume cluster"
    )]
    Resume(Targets),
    /// Upgrade the cluster's Ceph image in stages: mons, mgrs, OSD batches by failure
    /// domain, then the gateways; gates between stages; state kept on the CephCluster
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  kubectl ceph-image upgrade quay.io/ceph/ceph:v20.2.6 --dry-run\n  kubectl ceph-image upgrade quay.io/ceph/ceph:v20.2.6 --canary 1 --batch-by rack\n  kubectl ceph-image upgrade check quay.io/ceph/ceph:v20.2.6\n  kubectl ceph-image upgrade status\n  kubectl ceph-image upgrade pause\n  kubectl ceph-image upgrade resume\n  kubectl ceph-image upgrade abort\n\nStages: what Rook honours do-not-reconcile for (mgr, osd, rgw, nfs, rbd-mirror)\nis held, and released stage by stage; what it cannot hold is pinned with\nimageOverrides where the CRD has them, else it moves with the mons (the plan\nsays so). Each stage waits for its pods Running and Ready on the image and for\nstatus.ceph.health not HEALTH_ERR (--timeout)."
    )]
    Upgrade(UpgradeArgs),
    /// Print a shell completion script for the kubectl-ceph_image binary
    #[command(
        after_help = "Examples:\n  kubectl ceph-image completion bash > /etc/bash_completion.d/kubectl-ceph_image\n  kubectl ceph-image completion zsh > \"${fpath[1]}/_kubectl-ceph_image\"\n\n`kubectl ceph-image <TAB>` completes through kubectl itself once the executable\nkubectl_complete-ceph_image is on PATH (a link to this binary; see the README)."
    )]
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// The plugin's version and commit, the server's Kubernetes version and the cluster's Rook version
    #[command(
        after_help = "Examples:\n  kubectl ceph-image version\n  kubectl ceph-image version -o json\n  kubectl ceph-image version --client\n\nWithout a reachable cluster it prints the client part and exits 1, as kubectl version does."
    )]
    Version {
        /// Only the plugin's own version: no request is sent
        #[arg(long)]
        client: bool,
    },
    /// Run a simulated Rook cluster (rook-sim) and the plugin on it
    #[command(
        after_help = "Examples:\n  kubectl ceph-image demo\n  kubectl ceph-image demo --serve --osds 2000 --crd released"
    )]
    Demo(DemoArgs),
}

/// `upgrade IMAGE [flags]` or `upgrade status|pause|resume|abort`.
#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    #[command(subcommand)]
    pub action: Option<UpgradeAction>,
    /// The target image, e.g. quay.io/ceph/ceph:v20.2.6 or REPO@sha256:DIGEST
    pub image: Option<String>,
    /// Stage order of the daemon types, comma-separated (the rest follow in Ceph's order);
    /// must start with mon
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub order: Vec<String>,
    /// Upgrade only these daemon types, comma-separated, each through its own
    /// imageOverrides.<type> (the base image stays; needs the imageOverrides CRD)
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub types: Vec<String>,
    /// Move this many OSDs of the first batch alone first, then stop for confirmation
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub canary: Option<u32>,
    /// The failure domain an OSD batch stays inside
    #[arg(long, value_enum, value_name = "DOMAIN")]
    pub batch_by: Option<crate::plan::FailureDomain>,
    /// At most this many OSDs a batch [default: osdMaxUpdatesInParallel]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_unavailable: Option<u32>,
    /// Wait this long after each OSD batch passed its gates (e.g. 2m)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub pause_between: Option<String>,
    /// Before anything restarts, pull IMAGE on every node that will restart a daemon
    /// (a pod per node, deleted when done)
    #[arg(long)]
    pub prepull: bool,
    /// Do not set noout on each OSD batch's failure domain while it restarts
    #[arg(long)]
    pub no_noout: bool,
    /// Do not set noautoscale (the PG autoscaler's pause) during the OSD stages
    #[arg(long)]
    pub no_noautoscale: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UpgradeAction {
    /// Every blocker and risk of an upgrade to IMAGE, each with its fix; writes nothing
    /// (exit 4 when something blocks, 0 when nothing does)
    #[command(
        after_help = "Examples:\n  kubectl ceph-image upgrade check quay.io/ceph/ceph:v20.2.6\n  kubectl ceph-image upgrade check quay.io/ceph/ceph:v20.2.6 -o json | jq '.blockers[].code'"
    )]
    Check {
        /// The target image, e.g. quay.io/ceph/ceph:v20.2.6 or REPO@sha256:DIGEST
        image: String,
    },
    /// The upgrade under way: stage, daemons on the target, what it waits for
    Status,
    /// Stop before the next stage (a stage under way finishes)
    Pause(ChangeArgs),
    /// Go on with a paused, stopped or killed upgrade
    Resume(ChangeArgs),
    /// Stop for good: the cluster stays as it is, with the holds that keep it so
    Abort(ChangeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct Targets {
    /// Daemon ids as Ceph names them (osd.12, mon.a, mgr.b, rgw.my-store, rbd-mirror.a), a
    /// type with --node/--selector, or `cluster` for the CephCluster-level label
    #[arg(value_name = "DAEMON")]
    pub daemons: Vec<String>,
    /// Every daemon of the given type on this node
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Daemon Deployments matching this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

impl Cli {
    /// The change flags of the subcommand, for the commands that have them.
    pub fn change_args(&self) -> Option<&ChangeArgs> {
        match &self.command {
            Some(Command::Set { change, .. } | Command::Unset { change, .. }) => Some(change),
            Some(Command::Pause(t) | Command::Resume(t)) => Some(&t.change),
            Some(Command::Upgrade(u)) => match &u.action {
                None => Some(&u.change),
                Some(UpgradeAction::Pause(c) | UpgradeAction::Resume(c) | UpgradeAction::Abort(c)) => Some(c),
                Some(UpgradeAction::Status | UpgradeAction::Check { .. }) => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-ceph-image").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn change_flags_only_where_a_change_is_made() {
        for bad in [&["status", "--yes"][..], &["status", "--dry-run"], &["status", "--wait"], &["--yes", "status"]] {
            assert!(parse(bad).is_err(), "{bad:?} is accepted");
        }
        let c = parse(&["pause", "osd.1", "--yes", "--dry-run=server"]).unwrap();
        assert!(c.change_args().unwrap().yes);
        assert_eq!(c.change_args().unwrap().dry_run, Some(DryRun::Server));
        assert!(parse(&["set", "mgr", "x:1", "--wait", "--timeout", "1m"]).unwrap().change_args().unwrap().wait);
        // global flags stay usable before the subcommand, as with kubectl
        let c = parse(&["-n", "ns", "--context", "prod", "-o", "wide", "status"]).unwrap();
        assert_eq!(c.global.namespace.as_deref(), Some("ns"));
        assert_eq!(c.global.output, OutputFormat::Wide);
        assert!(c.change_args().is_none());
    }

    #[test]
    fn verbosity_as_kubectl_spells_it() {
        for (args, want) in [
            (&["status"][..], None),
            (&["-v", "status"], Some(1)),
            (&["-v=6", "status"], Some(6)),
            (&["--v=8", "status"], Some(8)),
            (&["status", "--v=0"], Some(0)),
            (&["--verbose", "status"], Some(1)),
        ] {
            assert_eq!(parse(args).unwrap().global.verbosity, want, "{args:?}");
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Serve the simulated cluster until killed instead of opening the plugin on it.
    #[arg(long)]
    pub serve: bool,
    /// Number of OSDs (at most 100000).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(0..=100_000).map(|n| n as usize))]
    pub osds: usize,
    /// Number of nodes (default: one per 12 OSDs, at least 3; 1 to 10000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000).map(|n| n as usize))]
    pub nodes: Option<usize>,
    /// Gateways of the object store (its `spec.gateway.instances`): Rook runs them as one
    /// Deployment with that many replicas, rolled one pod at a time (1 to 16).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16).map(|n| n as usize))]
    pub rgw_instances: usize,
    /// `proposed`: the CRD has spec.cephVersion.imageOverrides; `released`: Rook as released.
    #[arg(long, value_enum, default_value = "proposed")]
    pub crd: CrdArg,
    /// Run the simulated Rook operator and kubelets on the real kube-apiserver this
    /// kubeconfig points at (for instance `scripts/control-plane up DIR`'s
    /// DIR/rook-sim.kubeconfig) instead of the embedded server: the CephCluster CRD, the
    /// namespace, the CephCluster, its Deployments and the simulated nodes are created there,
    /// and the real controllers make the pods. The kubeconfig printed points at rook-sim's
    /// front (its request log and faults), which forwards every request to that server as
    /// that user. Needs --serve; the real server's RBAC applies, not --rbac.
    #[arg(long, value_name = "KUBECONFIG", requires = "serve", conflicts_with = "rbac")]
    pub on: Option<PathBuf>,
    /// Write the kubeconfig here (default: a temporary file).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Start from objects dumped from a real cluster instead of a generated one:
    /// `kubectl get cephclusters.ceph.rook.io,deployments,pods -n NS -o yaml > FILE`
    /// (multi-document YAML and JSON work too). Repeatable.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// Milliseconds the simulated operator waits between daemons it restarts, and how long a
    /// replaced pod stays Pending unless --ready-delay-ms says (at most 60000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub restart_delay_ms: u64,
    /// Milliseconds a replaced pod stays Pending before it runs and turns Ready (default:
    /// --restart-delay-ms; at most 60000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub ready_delay_ms: Option<u64>,
    /// Milliseconds `status.ceph.health` stays HEALTH_WARN after the last restarted pod
    /// turned Ready (at most 600000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub health_settle_ms: u64,
    /// Start with this fault set (repeatable): KIND[,verb=V][,resource=R][,name=N][,count=N],
    /// KIND a status code (500, 503, 429...), conflict, forbidden, drop or drop-after-apply;
    /// or latency,ms=N. E.g. `500,verb=patch,resource=deployments,count=2`,
    /// `drop,verb=watch`, `429,verb=list,resource=pods`. With --serve, more can be set and
    /// cleared while it runs (see the README, "Faults from outside").
    #[arg(long = "fault", value_name = "KIND[,KEY=VALUE...]", value_parser = rook_sim::server::admin::parse_flag)]
    pub faults: Vec<rook_sim::server::admin::Setting>,
    /// Start with these nodes down (NotReady: their pods not Ready, their OSDs and mons down
    /// in the simulated Ceph), comma-separated or repeated. Needs --serve; while it runs,
    /// `PUT /rook-sim/nodes/NODE` with `{"down": false}` brings one back (README, "Faults
    /// from outside").
    #[arg(long, value_name = "NODE[,NODE...]", value_delimiter = ',', requires = "serve")]
    pub nodes_down: Vec<String>,
    /// Bind the kubeconfig's user to roles of this RBAC manifest (e.g. deploy/rbac.yaml):
    /// every request no bound rule allows is answered 403 Forbidden. Needs --role.
    #[arg(long, value_name = "FILE", requires = "roles")]
    pub rbac: Option<PathBuf>,
    /// A Role or ClusterRole of --rbac to bind (repeatable): NAME binds a Role in its own
    /// namespace or a ClusterRole cluster-wide; NAME:NAMESPACE binds it in that namespace only.
    #[arg(long = "role", value_name = "NAME[:NAMESPACE]", requires = "rbac")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CrdArg {
    Released,
    Proposed,
}
