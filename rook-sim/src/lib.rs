//! `rook-sim`: a simulated Rook-Ceph cluster behind the real Kubernetes HTTP API
//! (DESIGN §6). It serves HTTPS on 127.0.0.1 with a generated CA and a bearer token,
//! writes a kubeconfig, prunes CephClusters against Rook's real CRD schema, runs a
//! simulated Rook operator, injects faults on demand and logs every request.
//! Used by the integration tests, the benchmarks and `kubectl ceph-image demo`.

pub mod ceph;
pub mod kube;
pub mod load;
pub mod operator;
pub mod remote;
pub mod resources;
pub mod secrets;
pub mod server;
pub mod sim;
pub mod state;
pub mod topology;

pub use operator::OperatorConfig;
pub(crate) use secrets::{random_hex, write_private};
pub use server::faults::{Fault, FaultKind, Faults};
pub use server::log::{LoggedRequest, RequestLog};
pub use server::status::SIM_USER;
pub use sim::{Sim, crd_object, kubeconfig_yaml};
pub(crate) use sim::{runtime, serve_on, strip_nulls};
pub use state::{Crd, SimOptions, SimState};
pub use topology::Topology;
