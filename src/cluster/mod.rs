//! Cluster access: connecting as kubectl does, reading a CephCluster and its daemons in a
//! handful of paginated requests, and writing only merge patches of what changes.

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
