//! From the desired schema to SQL: the diff engine (snapshot and structs → [`ops`]), the
//! planner (which decides from the [`crate::dialect`] rules), the DDL writer (decisions →
//! SQL text), table rebuilds, warnings, and the permissions file.

pub mod diff;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod lower;
pub mod ops;
pub mod permissions;
pub mod plan;
pub mod recreate;
pub(crate) mod renames;
pub mod warnings;
pub mod write;
