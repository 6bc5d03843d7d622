//! tablewright-core: the compiler and the runner behind tablewright, grouped by pipeline
//! stage so that the tree shows the data flow. Each stage uses only those before it (the
//! layout test, `tests/layout.rs`, holds the order):
//!
//! 1. [`error`]: the error classes every stage reports in;
//! 2. [`dialect`]: the dialects and, as data, what each accepts and how it carries out each
//!    kind of change (DSQL's limits, the rules table, check-dsql's classes);
//! 3. [`sql`]: the one SQL tokenizer, identifiers, splitting files into statements, what a
//!    statement is (for the runner), directives, the DSQL emulation, and check-dsql;
//! 4. [`schema`]: the attribute [`schema::grammar`] shared by the derive and the CLI
//!    [`schema::scan`]ner, SQL [`schema::types`], the [`schema::model`], the desired schema
//!    of a source tree, and [`schema::compare`]ing schemas;
//! 5. [`compile`]: the [`compile::diff`] engine (snapshot → [`compile::ops`]), the
//!    [`compile::plan`]ner that decides how each runs on the dialect, the DDL
//!    [`compile::write`]r that turns the decisions into SQL, table rebuilds
//!    ([`compile::recreate`]), warnings, and the permissions file;
//! 6. [`project`]: the config, the migrations folder with its journal, snapshots and hashes,
//!    and all-or-nothing file writes;
//! 7. [`generate`] ties the stages before it together; [`review`] reads what new
//!    migrations do (for a pull request); with the `runner` feature, [`runner`] applies
//!    migrations and introspects live databases.
//!
//! Without features only [`error`], [`sql`] and [`schema`] are built: what `#[derive(Table)]`
//! needs. The `compiler` feature adds the rest of the pipeline and the SQL parser it reads
//! SQL with.
#![warn(missing_docs)]

#[cfg(feature = "compiler")]
pub mod compile;
#[cfg(feature = "compiler")]
pub mod dialect;
pub mod error;
#[cfg(feature = "compiler")]
pub mod generate;
#[cfg(feature = "compiler")]
pub mod project;
#[cfg(feature = "compiler")]
pub mod review;
pub mod schema;
pub mod sql;

#[cfg(feature = "runner")]
pub mod runner;

/// Re-exported so derived identifiers and application queries use the same sea-query.
pub use sea_query;

#[cfg(feature = "compiler")]
pub use dialect::Dialect;

/// Implemented by `#[derive(Table)]`: the table's model and its sea-query identifiers.
pub trait Table {
    /// Identifiers of the table (`Iden::Table`) and of each column, for sea-query.
    type Iden: sea_query::Iden + Copy + 'static;

    /// The table's name in the model: `users`, or `auth.users` for a table outside `public`.
    const TABLE_NAME: &'static str;

    /// The table's schema when it is not `public`.
    const SCHEMA_NAME: Option<&'static str> = None;

    /// The table's model, exactly as the CLI computes it from the same source.
    fn model() -> schema::model::Table;

    /// The identifier of the table itself (its name in its schema).
    fn table_iden() -> Self::Iden;

    /// The table for sea-query's `from`, `into_table`, `table`: qualified by its schema
    /// outside `public`.
    fn table_ref() -> sea_query::TableRef {
        match Self::SCHEMA_NAME {
            Some(schema) => (sea_query::Alias::new(schema), Self::table_iden()).into(),
            None => Self::table_iden().into(),
        }
    }
}

/// A Rust enum that is a database enum type, implemented by `#[derive(Enum)]`. On
/// PostgreSQL the type is `CREATE TYPE .. AS ENUM`; on Aurora DSQL, which has none, its
/// columns are `text` with a CHECK of [`Enum::VALUES`].
pub trait Enum: Sized {
    /// The type's name in the model: `mood`, or `auth.mood` outside `public`.
    const TYPE_NAME: &'static str;
    /// The values, in the type's order.
    const VALUES: &'static [&'static str];
    /// This variant's value.
    fn value(&self) -> &'static str;
    /// The variant holding `value`.
    fn from_value(value: &str) -> Option<Self>;
}

#[doc(hidden)]
pub mod __private {
    /// Reads the model the derive embedded. The derive writes it with this crate's own
    /// serialiser at compile time, so it always parses.
    pub fn model_from_json(json: &str) -> crate::schema::model::Table {
        serde_json::from_str(json).expect("#[derive(Table)] embeds a valid model")
    }
}
