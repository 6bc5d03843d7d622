//! The project on disk: the config, the migrations folder with its journal, snapshots and
//! hashes, all-or-nothing file writes, and the import of another tool's folder.

pub mod config;
pub mod folder;
pub mod fsio;
pub mod hash;
pub mod import;
pub mod journal;
pub mod snapshot;
