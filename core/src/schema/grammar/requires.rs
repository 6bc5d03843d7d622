//! `#[requires_table(Book, select, insert)]`: which table a handler needs, and how.

use super::Errors;
use super::Spanned;
use super::attrs::expected_one_of;
use syn::{Ident, LitStr, Token};

/// A table operation a handler needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// `SELECT`
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
}

impl Operation {
    /// Spellings accepted in `#[requires_table(..)]`.
    pub const ALL: &'static [(&'static str, Operation)] = &[
        ("select", Operation::Select),
        ("insert", Operation::Insert),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
    ];

    /// SQL privilege keyword.
    pub fn privilege(self) -> &'static str {
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// `#[requires_table(Type, ops.., role = "..")]`.
#[derive(Debug, Clone)]
pub struct RequiresTable {
    /// The entity type (a path to a struct deriving `Table`).
    pub table: syn::Path,
    /// Operations the handler performs, deduplicated, in declaration order.
    pub operations: Vec<Operation>,
    /// `role = ".."`, when given.
    pub role: Option<Spanned<String>>,
}

impl syn::parse::Parse for RequiresTable {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let table: syn::Path = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "`#[requires_table(..)]` starts with the table's type: `#[requires_table(Book, select)]`")
        })?;
        let mut operations = Vec::new();
        let mut role = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let ident: Ident = input.parse()?;
            if ident == "role" {
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                if role.is_some() {
                    errors.push(&ident, "duplicate `role`");
                }
                role = Some(Spanned {
                    value: lit.value(),
                    span: lit.span(),
                });
                continue;
            }
            match Operation::ALL.iter().find(|(s, _)| ident == s) {
                Some((_, op)) if operations.contains(op) => {
                    errors.push(&ident, format!("operation `{ident}` is listed twice"))
                }
                Some((_, op)) => operations.push(*op),
                None => {
                    let options: Vec<&str> = Operation::ALL.iter().map(|(s, _)| *s).collect();
                    errors.push(
                        &ident,
                        format!(
                            "unknown operation `{ident}`, expected one of {}, or `role = \"..\"`",
                            expected_one_of(&options)
                        ),
                    );
                }
            }
        }
        if operations.is_empty() {
            errors.push(&table, "`#[requires_table(..)]` needs at least one operation: `select`, `insert`, `update` or `delete`");
        }
        errors.finish()?;
        Ok(RequiresTable {
            table,
            operations,
            role,
        })
    }
}
