//! kubectl ceph-image: per-daemon Ceph images and do-not-reconcile holds on Rook
//! CephClusters, with the restart plan shown before anything is sent.

pub mod demo;
pub mod sim;
