//! tablewright-core: the compiler behind tablewright.
//!
//! It owns the schema [`model`], the attribute [`grammar`] shared by the derive and the
//! CLI [`scan`]ner, [`snapshot`]s and the [`journal`] of a migrations [`folder`], the
//! [`diff`] engine, the dialect [`rules`] and the [`plan`]ner that renders SQL, and
//! [`generate`], which ties them together; [`compare`] and [`emulate`] serve checks
//! against real databases. With the `runner` feature it also applies
//! migrations (`runner`) and [`introspect`]s a live database.
#![warn(missing_docs)]

pub mod compare;
pub mod config;
pub mod desired;
pub mod diff;
pub mod directive;
#[cfg(feature = "lint")]
pub mod dsql_check;
pub mod emulate;
pub mod folder;
pub mod fsio;
pub mod generate;
pub mod grammar;
pub mod hash;
pub mod journal;
pub mod model;
pub mod permissions;
pub mod plan;
pub mod recreate;
pub mod rules;
pub mod scan;
pub mod snapshot;
pub mod statement;
pub mod types;
pub mod warnings;

#[cfg(feature = "runner")]
pub mod introspect;
#[cfg(feature = "runner")]
pub mod runner;

/// Re-exported so derived identifiers and application queries use the same sea-query.
pub use sea_query;

pub use rules::Dialect;

/// Implemented by `#[derive(Table)]`: the table's model and its sea-query identifiers.
pub trait Table {
    /// Identifiers of the table (`Iden::Table`) and of each column, for sea-query.
    type Iden: sea_query::Iden + Copy + 'static;

    /// The table's SQL name.
    const TABLE_NAME: &'static str;

    /// The table's model, exactly as the CLI computes it from the same source.
    fn model() -> model::Table;

    /// The identifier of the table itself.
    fn table_iden() -> Self::Iden;
}

#[doc(hidden)]
pub mod __private {
    /// Reads the model the derive embedded. The derive writes it with this crate's own
    /// serialiser at compile time, so it always parses.
    pub fn model_from_json(json: &str) -> crate::model::Table {
        serde_json::from_str(json).expect("#[derive(Table)] embeds a valid model")
    }
}
