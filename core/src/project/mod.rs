//! The project on disk: the config, the migrations folder with its journal, snapshots and
//! hashes, and all-or-nothing file writes.

pub mod config;
pub mod folder;
pub mod fsio;
pub mod hash;
pub mod journal;
pub mod snapshot;
