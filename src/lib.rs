//! kubectl ceph-image: per-daemon Ceph images and do-not-reconcile holds on Rook
//! CephClusters, with the restart plan shown before anything is sent.
//!
//! Folders by layer, each using only those below it (README, "How the code is laid out"):
//! `commands/` and `editor/` on top; then `execute/` (the one executor and its gates);
//! `render/` (text and documents for people); `plan/` (pure: restart plan, warnings, order,
//! the writes, the staged upgrade); `classify/` (Kubernetes objects to daemons); `model/`
//! (daemons, images, the snapshot); `cluster/` (the API: connect, read, write requests).

pub mod app;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod editor;
pub mod error;
pub mod execute;
pub mod model;
pub mod output;
pub mod plan;
pub mod prompt;
pub mod render;
pub mod settings;
