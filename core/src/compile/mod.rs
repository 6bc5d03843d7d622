//! From the desired schema to SQL: the diff engine, the planner (which reads the
//! [`crate::dialect`] rules), table recreation, warnings, and the permissions file.

pub mod diff;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod lower;
pub mod ops;
pub mod permissions;
pub mod plan;
pub mod recreate;
pub mod warnings;
pub mod write;
