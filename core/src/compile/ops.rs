//! The operation vocabulary: one dialect-neutral schema change each, what the diff
//! ([`crate::compile::diff`]) finds, the planner ([`crate::compile::plan`]) decides how to
//! carry out on a dialect, and the writer ([`crate::compile::write`]) spells in SQL.

use crate::dialect::ChangeKind;
use crate::schema::model::{
    Check, Column, EnumType, ForeignKey, Identity, Index, PrimaryKey, SqlExpr, SqlType, Table,
    Unique,
};
use std::fmt;

/// One dialect-neutral schema change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum Op {
    /// Create a table (with its inline constraints; foreign keys listed in `deferred_fks`
    /// are added afterwards because of a reference cycle).
    CreateTable {
        table: Table,
        deferred_fks: Vec<String>,
    },
    /// Drop a table.
    DropTable { table: String },
    /// Rename a table.
    RenameTable { from: String, to: String },
    /// Add a column to an existing table.
    AddColumn { table: String, column: Column },
    /// Drop a column.
    DropColumn { table: String, column: String },
    /// Rename a column.
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// Change a column's type.
    /// (`collation`: the column's collation after the change, `None` the type's default.)
    AlterColumnType {
        table: String,
        column: String,
        from: SqlType,
        to: SqlType,
        collation: Option<String>,
    },
    /// `SET NOT NULL`.
    SetNotNull { table: String, column: String },
    /// `DROP NOT NULL`.
    DropNotNull { table: String, column: String },
    /// `SET DEFAULT`.
    SetDefault {
        table: String,
        column: String,
        default: SqlExpr,
    },
    /// `DROP DEFAULT`.
    DropDefault { table: String, column: String },
    /// Make an existing column an identity column.
    AddIdentity {
        table: String,
        column: String,
        identity: Identity,
    },
    /// Drop identity.
    DropIdentity { table: String, column: String },
    /// Change an identity's kind or sequence options.
    AlterIdentity {
        table: String,
        column: String,
        from: Identity,
        to: Identity,
    },
    /// Change a column's collation (its type unchanged).
    AlterCollation {
        table: String,
        column: String,
        sql_type: SqlType,
        collation: Option<String>,
    },
    /// Replace the primary key.
    ChangePrimaryKey {
        table: String,
        from: Option<PrimaryKey>,
        to: Option<PrimaryKey>,
    },
    /// Create an index (`new_table`: the table is created in the same migration).
    CreateIndex {
        table: String,
        index: Index,
        new_table: bool,
    },
    /// Drop an index.
    DropIndex { table: String, name: String },
    /// Add a unique constraint to an existing table.
    AddUnique { table: String, unique: Unique },
    /// Drop a unique constraint.
    DropUnique { table: String, name: String },
    /// Add a check constraint to an existing table.
    AddCheck { table: String, check: Check },
    /// Drop a check constraint.
    DropCheck { table: String, name: String },
    /// Add a foreign key to an existing table.
    AddForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    /// Drop a foreign key.
    DropForeignKey { table: String, name: String },
    /// Rename a constraint whose definition did not change.
    /// (`index_backed`: a key or unique, whose name is also its index's.)
    RenameConstraint {
        table: String,
        from: String,
        to: String,
        index_backed: bool,
    },
    /// Rename an index whose definition did not change; `index` is the definition under
    /// its new name.
    RenameIndex {
        table: String,
        from: String,
        index: Index,
    },
    /// Create an enum type.
    CreateEnum { enum_type: EnumType },
    /// Drop an enum type no column uses any more.
    DropEnum { name: String },
    /// Add a value to an enum type, before another (at the end when `before` is `None`).
    AddEnumValue {
        name: String,
        value: String,
        before: Option<String>,
    },
    /// Rename a value of an enum type.
    RenameEnumValue {
        name: String,
        from: String,
        to: String,
    },
    /// Replace an enum type whose values were removed or reordered: `columns` keep the
    /// type (`(table, column, default)` as the structs have it), `leaving` are dropped
    /// later or change type and go to `text` first.
    RecreateEnum {
        from: EnumType,
        to: EnumType,
        columns: Vec<(String, String, Option<SqlExpr>)>,
        leaving: Vec<(String, String)>,
    },
}

impl Op {
    /// The rules-table row this operation falls under.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Op::CreateTable { .. } => ChangeKind::CreateTable,
            Op::DropTable { .. } => ChangeKind::DropTable,
            Op::RenameTable { .. } => ChangeKind::RenameTable,
            Op::AddColumn { column, .. } => {
                if column.not_null || column.is_identity() {
                    ChangeKind::AddColumnNotNull
                } else if column.default.is_some() {
                    ChangeKind::AddColumnWithDefault
                } else {
                    ChangeKind::AddColumn
                }
            }
            Op::DropColumn { .. } => ChangeKind::DropColumn,
            Op::RenameColumn { .. } => ChangeKind::RenameColumn,
            Op::AlterColumnType { .. } => ChangeKind::AlterColumnType,
            Op::SetNotNull { .. } => ChangeKind::SetNotNull,
            Op::DropNotNull { .. } => ChangeKind::DropNotNull,
            Op::SetDefault { .. } => ChangeKind::SetDefault,
            Op::DropDefault { .. } => ChangeKind::DropDefault,
            Op::AddIdentity { .. } => ChangeKind::AddIdentity,
            Op::DropIdentity { .. } => ChangeKind::DropIdentity,
            Op::AlterIdentity { .. } => ChangeKind::AlterIdentity,
            Op::AlterCollation { .. } => ChangeKind::AlterCollation,
            Op::ChangePrimaryKey { .. } => ChangeKind::ChangePrimaryKey,
            Op::CreateIndex {
                new_table: true, ..
            } => ChangeKind::CreateIndexOnNewTable,
            Op::CreateIndex {
                new_table: false, ..
            } => ChangeKind::CreateIndex,
            Op::DropIndex { .. } => ChangeKind::DropIndex,
            Op::AddUnique { .. } => ChangeKind::AddUnique,
            Op::DropUnique { .. } => ChangeKind::DropUnique,
            Op::AddCheck { .. } => ChangeKind::AddCheck,
            Op::DropCheck { .. } => ChangeKind::DropCheck,
            Op::AddForeignKey { .. } => ChangeKind::AddForeignKey,
            Op::DropForeignKey { .. } => ChangeKind::DropForeignKey,
            Op::RenameConstraint { .. } => ChangeKind::RenameConstraint,
            Op::RenameIndex { .. } => ChangeKind::RenameIndex,
            Op::CreateEnum { .. } => ChangeKind::CreateEnum,
            Op::DropEnum { .. } => ChangeKind::DropEnum,
            Op::AddEnumValue { .. } => ChangeKind::AddEnumValue,
            Op::RenameEnumValue { .. } => ChangeKind::RenameEnumValue,
            Op::RecreateEnum { .. } => ChangeKind::RecreateEnum,
        }
    }

    /// The column the operation is about (its new name), when it is about one.
    pub fn column(&self) -> Option<&str> {
        match self {
            Op::AddColumn { column, .. } => Some(&column.name),
            Op::RenameColumn { to, .. } => Some(to),
            Op::DropColumn { column, .. }
            | Op::AlterColumnType { column, .. }
            | Op::SetNotNull { column, .. }
            | Op::DropNotNull { column, .. }
            | Op::SetDefault { column, .. }
            | Op::DropDefault { column, .. }
            | Op::AddIdentity { column, .. }
            | Op::DropIdentity { column, .. }
            | Op::AlterIdentity { column, .. }
            | Op::AlterCollation { column, .. } => Some(column),
            _ => None,
        }
    }

    /// The table the operation is about (its new name); for an enum type's, the type.
    pub fn table(&self) -> &str {
        match self {
            Op::CreateEnum { enum_type } => &enum_type.name,
            Op::RecreateEnum { to, .. } => &to.name,
            Op::DropEnum { name }
            | Op::AddEnumValue { name, .. }
            | Op::RenameEnumValue { name, .. } => name,
            Op::CreateTable { table, .. } => &table.name,
            Op::DropTable { table } => table,
            Op::RenameTable { to, .. } => to,
            Op::AddColumn { table, .. }
            | Op::DropColumn { table, .. }
            | Op::RenameColumn { table, .. }
            | Op::AlterColumnType { table, .. }
            | Op::SetNotNull { table, .. }
            | Op::DropNotNull { table, .. }
            | Op::SetDefault { table, .. }
            | Op::DropDefault { table, .. }
            | Op::AddIdentity { table, .. }
            | Op::DropIdentity { table, .. }
            | Op::AlterIdentity { table, .. }
            | Op::AlterCollation { table, .. }
            | Op::ChangePrimaryKey { table, .. }
            | Op::CreateIndex { table, .. }
            | Op::DropIndex { table, .. }
            | Op::AddUnique { table, .. }
            | Op::DropUnique { table, .. }
            | Op::AddCheck { table, .. }
            | Op::DropCheck { table, .. }
            | Op::AddForeignKey { table, .. }
            | Op::DropForeignKey { table, .. }
            | Op::RenameConstraint { table, .. }
            | Op::RenameIndex { table, .. } => table,
        }
    }

    /// A short snake_case phrase, used to name the migration file.
    pub fn slug(&self) -> String {
        let t = self.table();
        match self {
            Op::CreateTable { .. } => format!("create_{t}"),
            Op::DropTable { .. } => format!("drop_{t}"),
            Op::RenameTable { from, to } => format!("rename_{from}_to_{to}"),
            Op::AddColumn { column, .. } => format!("add_{t}_{}", column.name),
            Op::DropColumn { column, .. } => format!("drop_{t}_{column}"),
            Op::RenameColumn { to, .. } => format!("rename_{t}_{to}"),
            Op::AlterColumnType { column, .. }
            | Op::SetNotNull { column, .. }
            | Op::DropNotNull { column, .. }
            | Op::SetDefault { column, .. }
            | Op::DropDefault { column, .. }
            | Op::AddIdentity { column, .. }
            | Op::DropIdentity { column, .. }
            | Op::AlterIdentity { column, .. }
            | Op::AlterCollation { column, .. } => format!("alter_{t}_{column}"),
            Op::ChangePrimaryKey { .. } => format!("change_{t}_pkey"),
            Op::CreateIndex { index, .. } => format!("add_{}", index.name),
            Op::AddUnique { unique, .. } => format!("add_{}", unique.name),
            Op::AddCheck { check, .. } => format!("add_{}", check.name),
            Op::AddForeignKey { foreign_key, .. } => format!("add_{}", foreign_key.name),
            Op::DropIndex { name, .. }
            | Op::DropUnique { name, .. }
            | Op::DropCheck { name, .. }
            | Op::DropForeignKey { name, .. } => {
                format!("drop_{name}")
            }
            Op::RenameConstraint { to, .. } => format!("rename_{to}"),
            Op::RenameIndex { index, .. } => format!("rename_{}", index.name),
            Op::CreateEnum { .. } => format!("create_{t}"),
            Op::DropEnum { .. } => format!("drop_{t}"),
            Op::AddEnumValue { value, .. } => format!("add_{t}_{value}"),
            Op::RenameEnumValue { to, .. } => format!("rename_{t}_{to}"),
            Op::RecreateEnum { .. } => format!("change_{t}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.table();
        match self {
            Op::CreateTable { .. } => write!(f, "create table `{t}`"),
            Op::DropTable { .. } => write!(f, "drop table `{t}`"),
            Op::RenameTable { from, to } => write!(f, "rename table `{from}` to `{to}`"),
            Op::AddColumn { column, .. } => {
                write!(f, "add column `{t}.{}` ({})", column.name, column.sql_type)
            }
            Op::DropColumn { column, .. } => write!(f, "drop column `{t}.{column}`"),
            Op::RenameColumn { from, to, .. } => write!(f, "rename column `{t}.{from}` to `{to}`"),
            Op::AlterColumnType {
                column, from, to, ..
            } => write!(f, "change type of `{t}.{column}` from {from} to {to}"),
            Op::SetNotNull { column, .. } => write!(f, "make `{t}.{column}` NOT NULL"),
            Op::DropNotNull { column, .. } => write!(f, "make `{t}.{column}` nullable"),
            Op::SetDefault {
                column, default, ..
            } => write!(f, "set default of `{t}.{column}` to {default}"),
            Op::DropDefault { column, .. } => write!(f, "drop default of `{t}.{column}`"),
            Op::AddIdentity { column, .. } => write!(f, "make `{t}.{column}` an identity column"),
            Op::DropIdentity { column, .. } => write!(f, "drop identity of `{t}.{column}`"),
            Op::AlterIdentity { column, .. } => write!(f, "change the identity of `{t}.{column}`"),
            Op::AlterCollation {
                column, collation, ..
            } => match collation {
                Some(c) => write!(f, "collate `{t}.{column}` by \"{c}\""),
                None => write!(f, "give `{t}.{column}` its type's default collation"),
            },
            Op::ChangePrimaryKey { to, .. } => match to {
                Some(pk) => write!(
                    f,
                    "change primary key of `{t}` to ({})",
                    pk.columns.join(", ")
                ),
                None => write!(f, "drop primary key of `{t}`"),
            },
            Op::CreateIndex { index, .. } => write!(f, "create index `{}` on `{t}`", index.name),
            Op::DropIndex { name, .. } => write!(f, "drop index `{name}`"),
            Op::AddUnique { unique, .. } => write!(f, "add unique `{}` on `{t}`", unique.name),
            Op::DropUnique { name, .. } => write!(f, "drop unique `{name}` on `{t}`"),
            Op::AddCheck { check, .. } => write!(f, "add check `{}` on `{t}`", check.name),
            Op::DropCheck { name, .. } => write!(f, "drop check `{name}` on `{t}`"),
            Op::AddForeignKey { foreign_key, .. } => {
                write!(f, "add foreign key `{}` on `{t}`", foreign_key.name)
            }
            Op::DropForeignKey { name, .. } => write!(f, "drop foreign key `{name}` on `{t}`"),
            Op::RenameConstraint { from, to, .. } => {
                write!(f, "rename constraint `{from}` to `{to}` on `{t}`")
            }
            Op::RenameIndex { from, index, .. } => {
                write!(f, "rename index `{from}` to `{}`", index.name)
            }
            Op::CreateEnum { enum_type } => write!(
                f,
                "create enum type `{t}` ({})",
                enum_type.values.join(", ")
            ),
            Op::DropEnum { .. } => write!(f, "drop enum type `{t}`"),
            Op::AddEnumValue { value, .. } => write!(f, "add value `{value}` to enum type `{t}`"),
            Op::RenameEnumValue { from, to, .. } => {
                write!(f, "rename value `{from}` of enum type `{t}` to `{to}`")
            }
            Op::RecreateEnum { to, .. } => write!(
                f,
                "rebuild enum type `{t}` with values ({})",
                to.values.join(", ")
            ),
        }
    }
}
