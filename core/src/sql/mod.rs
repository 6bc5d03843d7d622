//! SQL text: identifiers, splitting migration files into statements, what a statement is
//! (for the runner), directives, the DSQL emulation, and check-dsql.

pub mod directive;
#[cfg(feature = "lint")]
pub mod dsql_check;
pub mod emulate;
pub mod ident;
pub mod split;
pub mod statement;
pub mod tokens;
