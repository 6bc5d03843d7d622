//! The SQL of a walk: one batch's bounds, its rows within the byte budget, the copy or
//! fill itself and a range's checksum, all over the key; and where a copy's source key
//! lands in the new table.

use super::BATCH_BYTES;
use super::catalog::KeyColumn;
use crate::sql::directive::{CopyDirective, Directive};
use crate::sql::ident::{quote, quote_table};

/// A key range `(lower, upper]` of the walked table; `None` is the open end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Range {
    pub(super) lower: Option<Vec<String>>,
    pub(super) upper: Option<Vec<String>>,
}

/// One batch as found: its last key, its rows, its size.
pub(super) struct Bound {
    pub(super) upper: Vec<String>,
    pub(super) rows: i64,
    pub(super) bytes: i64,
}

/// The SQL of the walk, given the key.
pub(super) struct WalkSql {
    pub(super) cols: String,
    pub(super) key: Vec<KeyColumn>,
    pub(super) statement: String,
    pub(super) joiner: &'static str,
    pub(super) table: String,
    /// The bytes of row `s` (see [`super::catalog::row_size`]).
    pub(super) size: String,
    pub(super) batch_rows: usize,
}

impl WalkSql {
    pub(super) fn new(
        d: &Directive,
        key: Vec<KeyColumn>,
        size: String,
        batch_rows: usize,
    ) -> WalkSql {
        let (statement, joiner) = match d {
            Directive::Copy(c) => (c.insert.clone(), " WHERE "),
            Directive::Backfill(b) => (b.update.clone(), " AND "),
        };
        WalkSql {
            cols: key
                .iter()
                .map(|k| quote(&k.name))
                .collect::<Vec<_>>()
                .join(", "),
            key,
            statement,
            joiner,
            table: quote_table(d.table()),
            size,
            batch_rows,
        }
    }

    /// `(cols) > (lower) AND (cols) <= (upper)` over `cols` (the key, or its image in the
    /// new table), with parameters from `$from`.
    pub(super) fn range_predicate(&self, cols: &str, range: &Range, from: usize) -> Option<String> {
        let params = |from: usize| {
            self.key
                .iter()
                .enumerate()
                .map(|(j, k)| format!("${}::{}", j + from, k.sql_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut next = from;
        if range.lower.is_some() {
            parts.push(format!("({cols}) > ({})", params(next)));
            next += self.key.len();
        }
        if range.upper.is_some() {
            parts.push(format!("({cols}) <= ({})", params(next)));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    pub(super) fn bind<'q>(
        range: &Range,
        mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for v in range.lower.iter().chain(range.upper.iter()).flatten() {
            q = q.bind(v.clone());
        }
        q
    }

    /// The first `rows` rows within `range`: their last key, count and size, from one
    /// aggregate that reads no row's text. Every aggregate orders by the key: from
    /// PostgreSQL 16 (DSQL's base) the planner then sorts once for all of them, or not at
    /// all, since the rows come in key order.
    pub(super) fn bound(&self, range: &Range, rows: usize) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let cols = &self.cols;
        let last = self
            .key
            .iter()
            .map(|k| {
                format!(
                    "(array_agg({}::text ORDER BY {cols}))[count(*)::int]",
                    quote(&k.name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {last}, count(*) AS rows, coalesce(sum({size}), 0)::bigint AS bytes FROM (SELECT * FROM {src}{filter} ORDER BY {cols} LIMIT {rows}) s",
            size = self.size,
            src = self.table,
        )
    }

    /// How many of the first `batch_rows` rows within `range` fit the size budget (at
    /// least one): asked only when they all together do not.
    pub(super) fn rows_within_budget(&self, range: &Range) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        format!(
            "SELECT count(*) FROM (SELECT row_number() OVER o AS n, sum({size}) OVER o AS bytes FROM (SELECT * FROM {src}{filter} ORDER BY {cols} LIMIT {rows}) s \
             WINDOW o AS (ORDER BY {cols} ROWS UNBOUNDED PRECEDING)) w WHERE n = 1 OR bytes <= {BATCH_BYTES}",
            size = self.size,
            src = self.table,
            cols = self.cols,
            rows = self.batch_rows
        )
    }

    /// Carries the directive out on `range`.
    pub(super) fn run(&self, range: &Range) -> String {
        match self.range_predicate(&self.cols, range, 1) {
            Some(p) => format!("{}{}{p}", self.statement, self.joiner),
            None => self.statement.clone(),
        }
    }

    /// The checksum of the source rows in `range`: taken when a batch is copied, and again
    /// by the verification pass. `ROW(s.*)` is the whole row even when a column is named
    /// `s` (which a bare `s` would mean).
    pub(super) fn checksum(&self, range: &Range) -> String {
        let filter = self
            .range_predicate(&self.cols, range, 1)
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        format!(
            "SELECT md5(string_agg(ROW(s.*)::text, E'\\n' ORDER BY {cols})) FROM (SELECT * FROM {src}{filter}) s",
            cols = self.cols,
            src = self.table
        )
    }
}

/// How the source key appears in the copy's new table: for each key column, the target
/// column the copy fills from it (plainly or through a cast). `None` when a key column is
/// computed, so rows of a source range cannot be found in the new table.
pub(super) fn key_in_target(copy: &CopyDirective, key: &[KeyColumn]) -> Option<String> {
    use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
    let statements = crate::sql::within_parse_budget(&copy.insert, |sql| {
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql).ok()
    })??;
    let [Statement::Insert(insert)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = insert.source.as_ref()?.body.as_ref() else {
        return None;
    };
    let fold = |i: &sqlparser::ast::Ident| {
        if i.quote_style.is_some() {
            i.value.clone()
        } else {
            i.value.to_lowercase()
        }
    };
    let mut mapped = Vec::new();
    for k in key {
        let position = select.projection.iter().position(|item| {
            let SelectItem::UnnamedExpr(e) = item else {
                return false;
            };
            let e = match e {
                Expr::Cast { expr, .. } => expr.as_ref(),
                other => other,
            };
            matches!(e, Expr::Identifier(i) if fold(i) == k.name)
        })?;
        let column = insert.columns.get(position)?.0.last()?.as_ident()?;
        mapped.push(format!("{}::{}", quote(&fold(column)), k.sql_type));
    }
    Some(mapped.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(names: &[&str]) -> Vec<KeyColumn> {
        names
            .iter()
            .map(|n| KeyColumn {
                name: (*n).into(),
                sql_type: "integer".into(),
            })
            .collect()
    }

    #[test]
    fn the_source_key_is_found_in_the_new_table_through_casts() {
        let copy = CopyDirective {
            source: "t".into(),
            target: "t__tw_new".into(),
            insert: "INSERT INTO \"t__tw_new\" (\"id\", \"pages\") SELECT \"id\"::bigint, \"pages\" FROM \"t\"".into(),
        };
        assert_eq!(
            key_in_target(&copy, &key(&["id"])).as_deref(),
            Some("\"id\"::integer")
        );
        let computed = CopyDirective {
            insert: "INSERT INTO \"t__tw_new\" (\"id\") SELECT \"id\" + 1 FROM \"t\"".into(),
            ..copy
        };
        assert_eq!(key_in_target(&computed, &key(&["id"])), None);
    }

    #[test]
    fn ranges_become_key_predicates() {
        let d = Directive::Copy(CopyDirective {
            source: "t".into(),
            target: "n".into(),
            insert: "INSERT INTO \"n\" (\"a\") SELECT \"a\" FROM \"t\"".into(),
        });
        let sql = WalkSql::new(&d, key(&["a", "b"]), "0".into(), 10);
        let both = Range {
            lower: Some(vec!["1".into(), "2".into()]),
            upper: Some(vec!["3".into(), "4".into()]),
        };
        assert_eq!(
            sql.range_predicate("\"a\", \"b\"", &both, 1).unwrap(),
            "(\"a\", \"b\") > ($1::integer, $2::integer) AND (\"a\", \"b\") <= ($3::integer, $4::integer)"
        );
        assert_eq!(
            sql.run(&Range {
                lower: None,
                upper: None
            }),
            "INSERT INTO \"n\" (\"a\") SELECT \"a\" FROM \"t\""
        );
        assert!(
            sql.run(&Range {
                lower: None,
                upper: Some(vec!["3".into(), "4".into()])
            })
            .ends_with(" WHERE (\"a\", \"b\") <= ($1::integer, $2::integer)")
        );
    }
}
