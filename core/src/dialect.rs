//! The dialect rules, as data: one row per kind of schema change, saying how each dialect
//! carries it out, plus the column types DSQL accepts.
//!
//! Aurora DSQL's SQL surface changes month by month; when it does, edit these tables, not
//! the planner. The README's rules table is generated from [`CHANGE_RULES`] (a test keeps
//! them equal).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The database a migration targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Amazon Aurora DSQL.
    Dsql,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Dsql => "dsql",
            Dialect::Postgres => "postgres",
        })
    }
}

/// A kind of schema change, as the planner classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new table.
    CreateTable,
    /// A table removed (with an explicit allow).
    DropTable,
    /// `#[table(renamed_from)]`.
    RenameTable,
    /// A nullable column without a default on an existing table.
    AddColumn,
    /// A nullable column with a default on an existing table.
    AddColumnWithDefault,
    /// A `NOT NULL` (or identity) column on an existing table.
    AddColumnNotNull,
    /// A column removed (with an explicit allow).
    DropColumn,
    /// `#[column(renamed_from)]`.
    RenameColumn,
    /// A column's SQL type changed.
    AlterColumnType,
    /// A nullable column became `NOT NULL`.
    SetNotNull,
    /// A `NOT NULL` column became nullable.
    DropNotNull,
    /// A default added or changed.
    SetDefault,
    /// A default removed.
    DropDefault,
    /// An existing column became an identity column.
    AddIdentity,
    /// An identity column stopped being one.
    DropIdentity,
    /// An identity column's kind (`ALWAYS`, `BY DEFAULT`) or sequence options changed.
    AlterIdentity,
    /// A column's collation changed, its type did not.
    AlterCollation,
    /// The primary key's columns changed.
    ChangePrimaryKey,
    /// An index on a table created in the same migration.
    CreateIndexOnNewTable,
    /// An index on an existing table.
    CreateIndex,
    /// An index removed.
    DropIndex,
    /// A unique constraint on an existing table.
    AddUnique,
    /// A unique constraint removed.
    DropUnique,
    /// A check constraint on an existing table.
    AddCheck,
    /// A check constraint removed.
    DropCheck,
    /// A foreign key on an existing table.
    AddForeignKey,
    /// A foreign key removed.
    DropForeignKey,
    /// A constraint (key, unique, check, foreign key) whose definition is unchanged but
    /// whose name changed.
    RenameConstraint,
    /// An index whose definition is unchanged but whose name changed.
    RenameIndex,
    /// A new enum type.
    CreateEnum,
    /// An enum type no column uses any more.
    DropEnum,
    /// A value added to an enum type.
    AddEnumValue,
    /// A value of an enum type renamed (`#[value(renamed_from)]`).
    RenameEnumValue,
    /// An enum type whose values were removed (allowed explicitly) or reordered.
    RecreateEnum,
}

impl ChangeKind {
    /// Its snake_case name, as JSON writes it.
    pub fn id(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Aurora DSQL's limit on rows changed by one transaction.
pub const DSQL_MAX_ROWS_PER_TRANSACTION: i64 = 3_000;

/// Aurora DSQL's limit on the data one transaction changes.
pub const DSQL_MAX_TRANSACTION_BYTES: i64 = 10 * 1024 * 1024;

/// Aurora DSQL closes connections after 60 minutes.
pub const DSQL_MAX_CONNECTION_AGE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// How a dialect carries out a kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Plain DDL, one statement.
    Plain,
    /// `CREATE TABLE IF NOT EXISTS` with keys, uniques, checks, foreign keys and defaults inline.
    CreateTableInline,
    /// `CREATE [UNIQUE] INDEX IF NOT EXISTS` inside the migration (the table is new and empty).
    IndexInTransaction,
    /// `CREATE [UNIQUE] INDEX ASYNC IF NOT EXISTS`; the runner waits for the job.
    IndexAsync,
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS`, outside a transaction.
    IndexConcurrently,
    /// `ADD CONSTRAINT .. NOT VALID`, then `ALTER TABLE ASYNC .. VALIDATE CONSTRAINT`; the
    /// runner waits for the job.
    NotValidThenValidateAsync,
    /// `ADD CONSTRAINT .. NOT VALID`, then `VALIDATE CONSTRAINT` (no long lock on the table).
    NotValidThenValidate,
    /// Drop the index and create it again under the new name with `CREATE [UNIQUE] INDEX
    /// ASYNC`, since there is no `ALTER INDEX`.
    RecreateIndexAsync,
    /// `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS`, outside a transaction, then
    /// `ADD CONSTRAINT .. UNIQUE USING INDEX`: a constraint, built without a long lock.
    UniqueIndexThenConstraint,
    /// A bare `ADD COLUMN`, then `SET DEFAULT`, then a backfill directive: the runner
    /// gives the existing rows the default in batches, in primary-key order.
    AddThenBackfill,
    /// Rebuild the table: create it anew beside the old one, copy the rows in batches,
    /// check the counts, copy the grants, swap, recreate the indexes.
    Recreate,
    /// Plain DDL, committed on its own: what it makes cannot be used in the transaction
    /// that makes it.
    PlainOutsideTransaction,
    /// A new type beside the old one, the columns converted to it, the old one dropped.
    RecreateType,
    /// The dialect has no enum types: an enum's columns are `text` with a CHECK of its
    /// values, and changing the values replaces the CHECKs.
    TextWithCheck,
    /// Needs data movement that is not built yet.
    NotYetSupported,
    /// The dialect has no way to do it.
    Unsupported,
}

impl Strategy {
    /// One line for people (the README table, `--help`).
    pub fn describe(self) -> &'static str {
        match self {
            Strategy::Plain => "plain statement",
            Strategy::CreateTableInline => "`CREATE TABLE IF NOT EXISTS`, constraints inline",
            Strategy::IndexInTransaction => "`CREATE [UNIQUE] INDEX IF NOT EXISTS`",
            Strategy::IndexAsync => "`CREATE [UNIQUE] INDEX ASYNC IF NOT EXISTS`, job awaited",
            Strategy::IndexConcurrently => {
                "`CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS`, outside a transaction"
            }
            Strategy::NotValidThenValidateAsync => {
                "`ADD CONSTRAINT .. NOT VALID` + `ALTER TABLE ASYNC .. VALIDATE CONSTRAINT`, job awaited"
            }
            Strategy::NotValidThenValidate => {
                "`ADD CONSTRAINT .. NOT VALID` + `VALIDATE CONSTRAINT`"
            }
            Strategy::RecreateIndexAsync => {
                "drop, then `CREATE [UNIQUE] INDEX ASYNC` under the new name (no `ALTER INDEX` on DSQL)"
            }
            Strategy::UniqueIndexThenConstraint => {
                "`CREATE UNIQUE INDEX CONCURRENTLY`, then `ADD CONSTRAINT .. UNIQUE USING INDEX`"
            }
            Strategy::AddThenBackfill => {
                "bare `ADD COLUMN`, `SET DEFAULT`, then existing rows backfilled in batches"
            }
            Strategy::Recreate => {
                "table recreation: new table, batched copy, row counts checked, grants copied, swap, indexes `ASYNC`"
            }
            Strategy::PlainOutsideTransaction => {
                "plain statement, committed on its own (the new value cannot be used in the transaction that adds it)"
            }
            Strategy::RecreateType => {
                "new type beside the old, columns converted with `USING`, old type dropped"
            }
            Strategy::TextWithCheck => {
                "no enum types: the columns are `text` with a CHECK of the values, replaced (`NOT VALID` + `ALTER TABLE ASYNC .. VALIDATE`) when they change"
            }
            Strategy::NotYetSupported => "refused: needs data movement not built yet",
            Strategy::Unsupported => "refused",
        }
    }
}

/// One row of the rules table.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRule {
    /// The change it governs; [`CHANGE_RULES`] has exactly one row for each.
    pub change: ChangeKind,
    /// What it is, for people.
    pub description: &'static str,
    /// On Aurora DSQL.
    pub dsql: Strategy,
    /// On PostgreSQL.
    pub postgres: Strategy,
    /// The page of AWS's Aurora DSQL user guide (under [`DSQL_GUIDE`]) the DSQL strategy
    /// rests on, with the release note's date where one announced it; the sources are
    /// kept in `docs/dsql-rules-sources.md`.
    pub source: &'static str,
}

/// Where [`ChangeRule::source`] pages are.
pub const DSQL_GUIDE: &str = "https://docs.aws.amazon.com/aurora-dsql/latest/userguide/";

use ChangeKind as C;
use Strategy as S;

/// Aurora DSQL as of December 2026 (its user guide and release notes as read on
/// 2026-12-06: `docs/dsql-rules-sources.md`), and PostgreSQL.
pub const CHANGE_RULES: &[ChangeRule] = &[
    ChangeRule {
        change: C::CreateTable,
        description: "create table",
        dsql: S::CreateTableInline,
        postgres: S::CreateTableInline,
        source: "create-table-syntax-support.html",
    },
    ChangeRule {
        change: C::DropTable,
        description: "drop table (allowed explicitly)",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "working-with-postgresql-compatibility-supported-sql-features.html",
    },
    ChangeRule {
        change: C::RenameTable,
        description: "rename table (`renamed_from`)",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AddColumn,
        description: "add nullable column, no default",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AddColumnWithDefault,
        description: "add nullable column with DEFAULT",
        dsql: S::AddThenBackfill,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (ADD COLUMN takes no constraint or default)",
    },
    ChangeRule {
        change: C::AddColumnNotNull,
        description: "add NOT NULL column",
        dsql: S::Recreate,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (no SET NOT NULL)",
    },
    ChangeRule {
        change: C::DropColumn,
        description: "drop column (allowed explicitly; never a key column on DSQL)",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "release-notes.html, 2026-08-03",
    },
    ChangeRule {
        change: C::RenameColumn,
        description: "rename column (`renamed_from`)",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AlterColumnType,
        description: "change column type",
        dsql: S::Recreate,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (no SET DATA TYPE)",
    },
    ChangeRule {
        change: C::SetNotNull,
        description: "SET NOT NULL",
        dsql: S::Recreate,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (no SET NOT NULL)",
    },
    ChangeRule {
        change: C::DropNotNull,
        description: "DROP NOT NULL",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::SetDefault,
        description: "SET DEFAULT",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::DropDefault,
        description: "DROP DEFAULT",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AddIdentity,
        description: "make a column identity",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (ADD GENERATED .. AS IDENTITY, bigint, CACHE written)",
    },
    ChangeRule {
        change: C::DropIdentity,
        description: "drop identity",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AlterIdentity,
        description: "change an identity's kind or options",
        dsql: S::Unsupported,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html (SET GENERATED, which dsql-lint cannot read yet)",
    },
    ChangeRule {
        change: C::AlterCollation,
        description: "change a column's collation (PostgreSQL only)",
        dsql: S::Unsupported,
        postgres: S::Plain,
        source: "working-with-postgresql-compatibility-unsupported-features.html (C collation only)",
    },
    ChangeRule {
        change: C::ChangePrimaryKey,
        description: "change primary key",
        dsql: S::Recreate,
        postgres: S::Plain,
        source: "working-with-primary-keys.html",
    },
    ChangeRule {
        change: C::CreateIndexOnNewTable,
        description: "index on a new table",
        dsql: S::IndexAsync,
        postgres: S::IndexInTransaction,
        source: "create-index-syntax-support.html",
    },
    ChangeRule {
        change: C::CreateIndex,
        description: "index on an existing table",
        dsql: S::IndexAsync,
        postgres: S::IndexConcurrently,
        source: "working-with-create-index-async.html",
    },
    ChangeRule {
        change: C::DropIndex,
        description: "drop index",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "working-with-create-index-async.html",
    },
    ChangeRule {
        change: C::AddUnique,
        description: "UNIQUE constraint on an existing table",
        dsql: S::Recreate,
        postgres: S::UniqueIndexThenConstraint,
        source: "alter-table-syntax-support.html (ADD CONSTRAINT only NOT VALID; dsql-lint refuses UNIQUE USING INDEX)",
    },
    ChangeRule {
        change: C::DropUnique,
        description: "drop UNIQUE",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AddCheck,
        description: "CHECK on an existing table",
        dsql: S::NotValidThenValidateAsync,
        postgres: S::NotValidThenValidate,
        source: "release-notes.html, 2026-08-03",
    },
    ChangeRule {
        change: C::DropCheck,
        description: "drop CHECK",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::AddForeignKey,
        description: "FOREIGN KEY on an existing table",
        dsql: S::NotValidThenValidateAsync,
        postgres: S::NotValidThenValidate,
        source: "working-with-foreign-key-constraints.html; release-notes.html, 2026-08-26",
    },
    ChangeRule {
        change: C::DropForeignKey,
        description: "drop FOREIGN KEY",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "working-with-foreign-key-constraints.html",
    },
    ChangeRule {
        change: C::RenameConstraint,
        description: "rename constraint (follows a rename)",
        dsql: S::Plain,
        postgres: S::Plain,
        source: "alter-table-syntax-support.html",
    },
    ChangeRule {
        change: C::RenameIndex,
        description: "rename index (follows a rename)",
        dsql: S::RecreateIndexAsync,
        postgres: S::Plain,
        source: "no ALTER INDEX page; dsql-lint refuses ALTER INDEX",
    },
    ChangeRule {
        change: C::CreateEnum,
        description: "create enum type (`#[derive(Enum)]`)",
        dsql: S::TextWithCheck,
        postgres: S::Plain,
        source: "working-with-postgresql-compatibility-unsupported-features.html (no CREATE TYPE)",
    },
    ChangeRule {
        change: C::DropEnum,
        description: "drop enum type (no column uses it)",
        dsql: S::TextWithCheck,
        postgres: S::Plain,
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
    ChangeRule {
        change: C::AddEnumValue,
        description: "add enum value",
        dsql: S::TextWithCheck,
        postgres: S::PlainOutsideTransaction,
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
    ChangeRule {
        change: C::RenameEnumValue,
        description: "rename enum value (`#[value(renamed_from)]`)",
        dsql: S::Unsupported,
        postgres: S::Plain,
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
    ChangeRule {
        change: C::RecreateEnum,
        description: "remove (allowed explicitly) or reorder enum values",
        dsql: S::TextWithCheck,
        postgres: S::RecreateType,
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
];

/// Why `dialect` refuses `change` (its strategy is [`Strategy::Unsupported`]), with the
/// way around it.
pub(crate) fn unsupported_reason(change: ChangeKind, dialect: Dialect) -> String {
    match change {
        ChangeKind::AlterIdentity => "DSQL's `SET GENERATED` and `SET INCREMENT` cannot be checked by dsql-lint yet, and dropping and adding the identity would hand out the numbers of deleted rows again: keep the identity's kind and options".to_owned(),
        ChangeKind::AlterCollation => construct_rule(Construct::ColumnCollation).dsql.err().unwrap_or_default().to_owned(),
        ChangeKind::RenameEnumValue => "on DSQL an enum's column is text and its rows hold the old value: add the new value, move the rows in a custom migration (`generate --custom`), then remove the old value (`#[enum_type(allow_drop(..))]`)".to_owned(),
        _ => format!("{dialect} cannot do this"),
    }
}

/// How `dialect` carries out `change`.
pub fn strategy(change: ChangeKind, dialect: Dialect) -> Strategy {
    let rule = CHANGE_RULES
        .iter()
        .find(|r| r.change == change)
        .expect("CHANGE_RULES has a row for every ChangeKind (tested)");
    match dialect {
        Dialect::Dsql => rule.dsql,
        Dialect::Postgres => rule.postgres,
    }
}

/// Column types Aurora DSQL stores (base names, canonical spelling).
pub(crate) const DSQL_COLUMN_TYPES: &[&str] = &[
    "smallint",
    "integer",
    "bigint",
    "real",
    "double precision",
    "numeric",
    "character varying",
    "character",
    "text",
    "boolean",
    "bytea",
    "uuid",
    "date",
    "time without time zone",
    "time with time zone",
    "timestamp without time zone",
    "timestamp with time zone",
    "interval",
    "json",
    "jsonb",
];

/// DSQL-legal alternatives for types DSQL refuses, by base name. Types not listed here and
/// not in [`DSQL_COLUMN_TYPES`] are user-defined (enums, composites, domains from
/// extensions) and get [`USER_DEFINED_TYPE_ALTERNATIVE`].
pub(crate) const DSQL_TYPE_ALTERNATIVES: &[(&str, &str)] = &[
    (
        "serial",
        "SERIAL does not exist on DSQL: use `#[column(identity)]` on an `i64` (bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1)), or a uuid with `default = \"gen_random_uuid()\"`",
    ),
    (
        "bigserial",
        "SERIAL does not exist on DSQL: use `#[column(identity)]` on an `i64` (bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1)), or a uuid with `default = \"gen_random_uuid()\"`",
    ),
    (
        "smallserial",
        "SERIAL does not exist on DSQL: use `#[column(identity)]` on an `i64` (bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1))",
    ),
    (
        "citext",
        "extensions are not available on DSQL (no CREATE EXTENSION): use text and compare with lower()",
    ),
    (
        "vector",
        "extensions are not available on DSQL (no CREATE EXTENSION): store embeddings as bytea or jsonb",
    ),
    (
        "hstore",
        "extensions are not available on DSQL (no CREATE EXTENSION): use jsonb",
    ),
    (
        "ltree",
        "extensions are not available on DSQL (no CREATE EXTENSION): use text",
    ),
    (
        "geometry",
        "extensions are not available on DSQL (no CREATE EXTENSION): store coordinates as double precision columns or jsonb",
    ),
    (
        "geography",
        "extensions are not available on DSQL (no CREATE EXTENSION): store coordinates as double precision columns or jsonb",
    ),
    ("inet", "inet is not a column type on DSQL: use text"),
    ("cidr", "cidr is not a column type on DSQL: use text"),
    ("macaddr", "macaddr is not a column type on DSQL: use text"),
    (
        "money",
        "money is not a column type on DSQL: use numeric(p, 2)",
    ),
    ("xml", "xml is not a column type on DSQL: use text"),
];

/// Alternative for array types on DSQL.
pub(crate) const ARRAY_ALTERNATIVE: &str = "arrays are not a column type on DSQL: store a jsonb array (`serde_json::Value`) or use a child table";

/// Alternative for enums and other user-defined types on DSQL.
pub(crate) const USER_DEFINED_TYPE_ALTERNATIVE: &str = "DSQL has no CREATE TYPE (enums, composites): use text with a `#[check(name = \"..\", expr = \"col IN ('a', 'b')\")]`";

/// How `check-dsql` classifies a statement for Aurora DSQL, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DsqlClass {
    /// Runs as written.
    Ok,
    /// An index built synchronously: rewritten to `CREATE INDEX ASYNC` (job awaited).
    Index,
    /// Unsupported and skipped without loss of data: RLS, extensions, `DO` blocks,
    /// transaction control (the runner gives every statement its own transaction).
    Strip,
    /// A foreign key added to an existing table (plain, or in drizzle-kit's `DO ..
    /// EXCEPTION WHEN duplicate_object` guard): DSQL takes it as `ADD CONSTRAINT .. NOT
    /// VALID`, then `ALTER TABLE ASYNC .. VALIDATE CONSTRAINT` (a job awaited), the two
    /// statements check-dsql gives as the rewrite. Each needs a chunk of its own.
    ForeignKey,
    /// Needs a table recreation or a backfill: express the change in the structs and let
    /// `generate` plan it.
    Recreation,
    /// Unsupported with no automatic path.
    Error,
}

impl DsqlClass {
    /// As check-dsql prints it: `OK`, `INDEX`, `STRIP`, `FOREIGN KEY`, `RECREATION`, `ERROR`.
    pub fn label(self) -> &'static str {
        match self {
            DsqlClass::Ok => "OK",
            DsqlClass::Index => "INDEX",
            DsqlClass::Strip => "STRIP",
            DsqlClass::ForeignKey => "FOREIGN KEY",
            DsqlClass::Recreation => "RECREATION",
            DsqlClass::Error => "ERROR",
        }
    }
}

/// dsql-lint rule ids (their JSON names) and the class each puts a statement in. A rule
/// not listed here makes the statement an error: new lint rules are strict until sorted.
pub const LINT_RULE_CLASSES: &[(&str, DsqlClass)] = &[
    ("index_async", DsqlClass::Index),
    ("index_concurrently", DsqlClass::Index),
    // `USING btree` is dropped (btree is DSQL's only method); another method is an error,
    // which `dsql_check::classify` tells by dsql-lint's own verdict on its fix.
    ("index_using", DsqlClass::Index),
    ("foreign_key_not_valid", DsqlClass::ForeignKey),
    ("at_unsupported_row_level_security", DsqlClass::Strip),
    ("unsupported_create_policy", DsqlClass::Strip),
    ("unsupported_alter_policy", DsqlClass::Strip),
    ("unsupported_drop_policy", DsqlClass::Strip),
    ("unsupported_create_extension", DsqlClass::Strip),
    ("alter_column_set_compression_strip", DsqlClass::Strip),
    (
        "at_unsupported_alter_column_set_type",
        DsqlClass::Recreation,
    ),
    (
        "at_unsupported_alter_column_set_not_null",
        DsqlClass::Recreation,
    ),
    ("at_unsupported_add_primary_key", DsqlClass::Recreation),
    ("primary_key_removal", DsqlClass::Recreation),
    ("add_column_constraint", DsqlClass::Recreation),
];

/// The class of a dsql-lint rule id.
pub fn lint_rule_class(rule: &str) -> DsqlClass {
    LINT_RULE_CLASSES
        .iter()
        .find(|(id, _)| *id == rule)
        .map(|(_, c)| *c)
        .unwrap_or(DsqlClass::Error)
}

/// The README's rules table, generated from [`CHANGE_RULES`].
pub fn markdown_table() -> String {
    let mut out = String::from("| change | DSQL | PostgreSQL | DSQL source |\n|---|---|---|---|\n");
    for rule in CHANGE_RULES {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            rule.description,
            rule.dsql.describe(),
            rule.postgres.describe(),
            source_link(rule.source)
        ));
    }
    out
}

/// `page.html (note)` as a Markdown link to the page, the note after it.
fn source_link(source: &str) -> String {
    match source.split_once(".html") {
        Some((page, rest)) if !page.contains(' ') => {
            format!("[{page}]({DSQL_GUIDE}{page}.html){rest}")
        }
        _ => source.to_owned(),
    }
}

/// A construct of the schema language that a dialect may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Construct {
    /// A table in a schema other than `public`.
    TableInSchema,
    /// An enum type and the columns typed by it.
    EnumType,
    /// A foreign key over several columns.
    CompositeForeignKey,
    /// `MATCH FULL`.
    ForeignKeyMatchFull,
    /// `DEFERRABLE [INITIALLY DEFERRED]`.
    DeferrableForeignKey,
    /// An index key that is an expression.
    ExpressionIndexKey,
    /// `WHERE ..` on an index.
    PartialIndex,
    /// A `DESC` index key.
    DescendingIndexKey,
    /// `NULLS FIRST`/`NULLS LAST` on an index key.
    NullsOrderIndexKey,
    /// An index method other than btree.
    IndexMethod,
    /// An operator class on an index key.
    OperatorClass,
    /// A collation on an index key.
    IndexKeyCollation,
    /// `INCLUDE (..)` columns.
    IncludeColumns,
    /// `GENERATED ALWAYS AS IDENTITY`.
    IdentityAlways,
    /// An identity's START, INCREMENT and CACHE.
    IdentityOptions,
    /// A column's collation.
    ColumnCollation,
}

/// One row of the language table: how a construct is declared and what each dialect does.
#[derive(Debug, Clone, Copy)]
pub struct ConstructRule {
    /// The construct it governs; [`CONSTRUCT_RULES`] has exactly one row for each.
    pub construct: Construct,
    /// What it is, for people.
    pub description: &'static str,
    /// How the structs declare it.
    pub declared: &'static str,
    /// `Ok(how it is planned)` or `Err(the legal alternative)` on DSQL.
    pub dsql: Result<&'static str, &'static str>,
    /// How it is planned on PostgreSQL.
    pub postgres: &'static str,
    /// The DSQL user guide page (under [`DSQL_GUIDE`]) it rests on.
    pub source: &'static str,
}

use Construct as K;

/// The constructs DSQL and PostgreSQL may treat apart, as of December 2026.
pub const CONSTRUCT_RULES: &[ConstructRule] = &[
    ConstructRule {
        construct: K::EnumType,
        description: "enum type",
        declared: "`#[derive(Enum)]` on a Rust enum; `#[column(enum_type = \"mood\")]`",
        dsql: Ok(
            "`text` with a CHECK of the values (`<table>_<column>_check`), replaced when they change; a value cannot be renamed (rows hold its text)",
        ),
        postgres: "`CREATE TYPE .. AS ENUM`; `ADD VALUE` in its own transaction; `RENAME VALUE`; a value removed (allowed) or the order changed rebuilds the type",
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
    ConstructRule {
        construct: K::TableInSchema,
        description: "table in another schema",
        declared: "`#[table(schema = \"auth\")]`; `references = \"auth.users.id\"`",
        dsql: Ok(
            "`CREATE SCHEMA IF NOT EXISTS` before its first table (DSQL holds at most 10 schemas besides `public`)",
        ),
        postgres: "`CREATE SCHEMA IF NOT EXISTS` before its first table",
        source: "CHAP_quotas.html",
    },
    ConstructRule {
        construct: K::CompositeForeignKey,
        description: "composite foreign key",
        declared: "`#[foreign_key(columns(a, b), references = \"t(x, y)\")]`",
        dsql: Ok("inline, or `NOT VALID` + `ALTER TABLE ASYNC .. VALIDATE`"),
        postgres: "inline, or `NOT VALID` + `VALIDATE`",
        source: "working-with-foreign-key-constraints.html",
    },
    ConstructRule {
        construct: K::ForeignKeyMatchFull,
        description: "foreign key `MATCH FULL`",
        declared: "`match_full` in `#[foreign_key(..)]`",
        dsql: Ok("as written"),
        postgres: "as written",
        source: "working-with-foreign-key-constraints.html",
    },
    ConstructRule {
        construct: K::DeferrableForeignKey,
        description: "deferrable foreign key",
        declared: "`deferrable`, `initially_deferred` in `#[foreign_key(..)]`",
        dsql: Ok("as written"),
        postgres: "as written",
        source: "working-with-foreign-key-constraints.html",
    },
    ConstructRule {
        construct: K::ExpressionIndexKey,
        description: "expression index key",
        declared: "`#[index(columns(\"lower(email)\"))]`",
        dsql: Ok("`CREATE INDEX ASYNC`"),
        postgres: "`CREATE INDEX [CONCURRENTLY]`",
        source: "release-notes.html, 2026-08-13",
    },
    ConstructRule {
        construct: K::PartialIndex,
        description: "partial index",
        declared: "`#[index(.., where = \"deleted_at IS NULL\")]`",
        dsql: Ok("`CREATE INDEX ASYNC .. WHERE`"),
        postgres: "`CREATE INDEX [CONCURRENTLY] .. WHERE`",
        source: "release-notes.html, 2026-09-15",
    },
    ConstructRule {
        construct: K::NullsOrderIndexKey,
        description: "`NULLS FIRST`/`LAST` key",
        declared: "`columns(a nulls_first)`",
        dsql: Ok("as written"),
        postgres: "as written",
        source: "create-index-syntax-support.html",
    },
    ConstructRule {
        construct: K::IncludeColumns,
        description: "`INCLUDE` columns",
        declared: "`#[index(.., include(c))]`",
        dsql: Ok("as written"),
        postgres: "as written",
        source: "create-index-syntax-support.html",
    },
    ConstructRule {
        construct: K::DescendingIndexKey,
        description: "`DESC` key",
        declared: "`columns(a desc)`",
        dsql: Err(
            "DSQL refuses a sort order on index keys; an ascending index serves `ORDER BY .. DESC` by a backward scan: drop `desc`",
        ),
        postgres: "as written",
        source: "create-index-syntax-support.html",
    },
    ConstructRule {
        construct: K::IndexMethod,
        description: "index method (hash, gin, gist, brin, spgist)",
        declared: "`#[index(.., method = \"gin\")]`",
        dsql: Err(
            "DSQL builds btree indexes only (`USING` is refused): index the values you search by, or an expression over them",
        ),
        postgres: "`USING ..`",
        source: "create-index-syntax-support.html",
    },
    ConstructRule {
        construct: K::OperatorClass,
        description: "operator class",
        declared: "`columns(data ops = \"jsonb_path_ops\")`",
        dsql: Err("DSQL takes no operator class on index keys: drop `ops`"),
        postgres: "as written",
        source: "create-index-syntax-support.html",
    },
    ConstructRule {
        construct: K::IndexKeyCollation,
        description: "index key collation",
        declared: "`columns(name collation = \"C\")`",
        dsql: Err("DSQL uses the C collation only and refuses `COLLATE`: drop `collation`"),
        postgres: "as written",
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
    ConstructRule {
        construct: K::IdentityAlways,
        description: "`GENERATED ALWAYS AS IDENTITY`",
        declared: "`#[column(identity(always))]`",
        dsql: Ok(
            "as written, bigint; such a table cannot be rebuilt (a type change, SET NOT NULL, ..), so prefer BY DEFAULT",
        ),
        postgres: "as written",
        source: "create-table-syntax-support.html",
    },
    ConstructRule {
        construct: K::IdentityOptions,
        description: "identity `START`/`INCREMENT`/`CACHE`",
        declared: "`#[column(identity(start = 1000, increment = 1, cache = 65536))]`",
        dsql: Ok("as written; `CACHE` 1 (the default written out) or at least 65536"),
        postgres: "as written",
        source: "create-sequence-syntax-support.html",
    },
    ConstructRule {
        construct: K::ColumnCollation,
        description: "column collation",
        declared: "`#[column(collation = \"C\")]`",
        dsql: Err(
            "DSQL uses the C collation only and refuses `COLLATE`: drop `collation` (comparisons are already bytewise)",
        ),
        postgres: "`COLLATE \"..\"`",
        source: "working-with-postgresql-compatibility-unsupported-features.html",
    },
];

/// The rule of `construct`.
pub(crate) fn construct_rule(construct: Construct) -> &'static ConstructRule {
    CONSTRUCT_RULES
        .iter()
        .find(|r| r.construct == construct)
        .expect("CONSTRUCT_RULES has a row for every Construct (tested)")
}

/// The README's table of the language's constructs, generated from [`CONSTRUCT_RULES`].
pub fn constructs_markdown_table() -> String {
    let mut out = String::from(
        "| construct | declared | PostgreSQL | DSQL | DSQL source |\n|---|---|---|---|---|\n",
    );
    for rule in CONSTRUCT_RULES {
        let dsql = match rule.dsql {
            Ok(how) => how.to_owned(),
            Err(alternative) => format!("refused: {alternative}"),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {dsql} | {} |\n",
            rule.description,
            rule.declared,
            rule.postgres,
            source_link(rule.source)
        ));
    }
    out
}

/// DSQL holds at most this many schemas besides `public` (its quotas page).
pub(crate) const DSQL_MAX_SCHEMAS: usize = 10;

/// DSQL's identity CACHE is 1 or at least this.
pub(crate) const DSQL_MIN_LARGE_CACHE: i64 = 65_536;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_kind_has_exactly_one_rule() {
        let kinds = [
            C::CreateTable,
            C::DropTable,
            C::RenameTable,
            C::AddColumn,
            C::AddColumnWithDefault,
            C::AddColumnNotNull,
            C::DropColumn,
            C::RenameColumn,
            C::AlterColumnType,
            C::SetNotNull,
            C::DropNotNull,
            C::SetDefault,
            C::DropDefault,
            C::AddIdentity,
            C::DropIdentity,
            C::AlterIdentity,
            C::AlterCollation,
            C::ChangePrimaryKey,
            C::CreateIndexOnNewTable,
            C::CreateIndex,
            C::DropIndex,
            C::AddUnique,
            C::DropUnique,
            C::AddCheck,
            C::DropCheck,
            C::AddForeignKey,
            C::DropForeignKey,
            C::RenameConstraint,
            C::RenameIndex,
            C::CreateEnum,
            C::DropEnum,
            C::AddEnumValue,
            C::RenameEnumValue,
            C::RecreateEnum,
        ];
        for kind in kinds {
            assert_eq!(
                CHANGE_RULES.iter().filter(|r| r.change == kind).count(),
                1,
                "{kind:?}"
            );
        }
        assert_eq!(CHANGE_RULES.len(), kinds.len());
    }

    #[test]
    fn every_construct_has_exactly_one_rule() {
        let all = [
            K::TableInSchema,
            K::EnumType,
            K::CompositeForeignKey,
            K::ForeignKeyMatchFull,
            K::DeferrableForeignKey,
            K::ExpressionIndexKey,
            K::PartialIndex,
            K::DescendingIndexKey,
            K::NullsOrderIndexKey,
            K::IndexMethod,
            K::OperatorClass,
            K::IndexKeyCollation,
            K::IncludeColumns,
            K::IdentityAlways,
            K::IdentityOptions,
            K::ColumnCollation,
        ];
        for construct in all {
            assert_eq!(
                CONSTRUCT_RULES
                    .iter()
                    .filter(|r| r.construct == construct)
                    .count(),
                1,
                "{construct:?}"
            );
        }
        assert_eq!(CONSTRUCT_RULES.len(), all.len());
    }

    const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

    /// Where the README's text between `<!-- marker:start -->` and `<!-- marker:end -->` is.
    fn readme_section(readme: &str, marker: &str) -> std::ops::Range<usize> {
        let open = format!("<!-- {marker}:start -->\n");
        let start = readme
            .find(&open)
            .unwrap_or_else(|| panic!("README has the {marker} markers"))
            + open.len();
        let end = readme
            .find(&format!("<!-- {marker}:end -->"))
            .unwrap_or_else(|| panic!("README has the {marker} markers"));
        start..end
    }

    /// The README shows these tables; regenerate them from the data when a rule changes
    /// (`TABLEWRIGHT_UPDATE_README=1` writes them).
    #[test]
    fn readme_tables_match_the_data() {
        let mut readme = std::fs::read_to_string(README).unwrap();
        for (marker, table) in [
            ("rules-table", markdown_table()),
            ("language-table", constructs_markdown_table()),
        ] {
            let at = readme_section(&readme, marker);
            if std::env::var_os("TABLEWRIGHT_UPDATE_README").is_some() {
                readme.replace_range(at, &table);
                std::fs::write(README, &readme).unwrap();
            } else {
                assert_eq!(
                    readme[at].to_owned(),
                    table,
                    "README {marker} is stale: run this test with TABLEWRIGHT_UPDATE_README=1"
                );
            }
        }
    }
}
