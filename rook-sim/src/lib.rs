//! `rook-sim`: a simulated Rook-Ceph cluster behind the real Kubernetes HTTP API
//! (DESIGN §6). It serves HTTPS on 127.0.0.1 with a generated CA and a bearer token,
//! writes a kubeconfig, prunes CephClusters against Rook's real CRD schema, runs a
//! simulated Rook operator, injects faults on demand and logs every request.
//! Used by the integration tests, the benchmarks and `kubectl ceph-image demo`.
//!
//! Its layers, top to bottom (tests/layout.rs `ROOK_SIM_LAYERS`; no import circle):
//! - `sim::start`, `remote::on_server`, `sim`: the composition root - starting a simulation
//!   (registering the controllers), and the running `Sim` with the tests' calls;
//! - `server` (the embedded API server), `remote::kubelets` (the nodes on a real server);
//! - `ceph` (the CLI's one entry point), `kube` (controllers and kubelets acting), then
//!   `operator::reconcile` and `operator::checker` (Rook's operator acting): behaviour, each
//!   taking a `&SimState`;
//! - `state`: `SimState`, the data below composed, and the one way to read and write it;
//! - plain data: the store and the API's shapes (`server::store`, ...), the topology, the
//!   operator's, nodes', health's and Ceph's state, the HTTPS client of a real server.

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
