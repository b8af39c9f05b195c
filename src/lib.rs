//! kubectl ceph-image: per-daemon Ceph images and do-not-reconcile holds on Rook
//! CephClusters, with the restart plan shown before anything is sent.

pub mod app;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod complete;
pub mod daemon;
pub mod demo;
pub mod editor;
pub mod error;
pub mod execute;
pub mod image;
pub mod model;
pub mod output;
pub mod plan;
pub mod prepull;
pub mod prompt;
pub mod render;
pub mod selector;
pub mod settings;
pub mod status;
pub mod upgrade;
pub mod wait;
pub mod writes;
