//! Cluster access: connecting as kubectl does, reading a CephCluster and its daemons in a
//! handful of paginated requests (or once, then by watch: `view`), the write requests
//! (merge and strategic merge patches of what changes, pod create and delete) the executor
//! sends, and the `ceph` CLI over `pods/exec` (`ceph`). `wire` (the API's shapes) sits in a
//! lower layer than the rest: `classify` reads it.

pub mod api;
pub mod ceph;
pub mod connect;
pub mod credential;
pub mod exec;
pub mod kubeconfig;
pub mod proxy;
pub mod read;
pub mod view;
pub mod wire;
pub mod write;

pub use api::Kube;
