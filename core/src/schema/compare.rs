//! Comparing two schemas the way a database would: check expressions are compared by name
//! (PostgreSQL rewrites their text), literal defaults lose their redundant casts, and
//! column order is not compared (`ADD COLUMN` appends; neither PostgreSQL nor DSQL can
//! place a column elsewhere, so a snapshot in declaration order is still "equal").
//! A unique constraint is not a unique index on the same columns: only a constraint serves
//! `ON CONFLICT ON CONSTRAINT`, so the two are compared apart.

use crate::schema::model::{Schema, Table};

/// `'pending'::character varying` → `'pending'`: PostgreSQL adds the cast when it stores a
/// literal default; the cast says nothing the column type does not.
pub fn normalize_default(default: &str) -> String {
    let d = default.trim();
    if d.starts_with('\'')
        && let Some(close) = literal_end(d)
        && d[close..].starts_with("::")
    {
        return d[..close].to_owned();
    }
    d.to_owned()
}

/// Byte index just past the closing quote of the literal starting at 0.
fn literal_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn normalized(table: &Table) -> Table {
    let mut t = table.clone();
    for c in &mut t.columns {
        c.default = c.default.as_deref().map(normalize_default);
    }
    for check in t.checks.values_mut() {
        check.expression.clear();
    }
    t
}

/// Human-readable differences between `expected` and `actual`; empty when they agree.
pub fn differences(expected: &Schema, actual: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for name in expected.tables.keys().filter(|n| !actual.tables.contains_key(*n)) {
        out.push(format!("table `{name}` is missing"));
    }
    for name in actual.tables.keys().filter(|n| !expected.tables.contains_key(*n)) {
        out.push(format!("table `{name}` is not in the snapshot"));
    }
    for (name, e) in &expected.tables {
        let Some(a) = actual.tables.get(name) else { continue };
        let (e, a) = (normalized(e), normalized(a));
        for ec in e.columns.iter().filter(|c| a.column(&c.name).is_none()) {
            out.push(format!("`{name}.{}` is missing", ec.name));
        }
        for ac in a.columns.iter().filter(|c| e.column(&c.name).is_none()) {
            out.push(format!("`{name}.{}` is not in the snapshot", ac.name));
        }
        for ec in &e.columns {
            if let Some(ac) = a.column(&ec.name)
                && ac != ec
            {
                out.push(format!("`{name}.{}`: expected {ec:?}, found {ac:?}", ec.name));
            }
        }
        if e.primary_key != a.primary_key {
            out.push(format!("`{name}` primary key: expected {:?}, found {:?}", e.primary_key, a.primary_key));
        }
        if e.uniques != a.uniques {
            out.push(format!("`{name}` unique constraints: expected {:?}, found {:?}", e.uniques, a.uniques));
        }
        if e.indexes != a.indexes {
            out.push(format!("`{name}` indexes: expected {:?}, found {:?}", e.indexes, a.indexes));
        }
        if e.foreign_keys != a.foreign_keys {
            out.push(format!("`{name}` foreign keys: expected {:?}, found {:?}", e.foreign_keys, a.foreign_keys));
        }
        if e.checks != a.checks {
            out.push(format!("`{name}` checks: expected {:?}, found {:?}", e.checks.keys(), a.checks.keys()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{differences, normalize_default};
    use crate::schema::model::{Column, Schema, Table};

    fn table(columns: &[&str]) -> Schema {
        let columns = columns.iter().map(|n| Column { name: (*n).into(), sql_type: "text".into(), not_null: false, default: None, identity: false }).collect();
        let t = Table { name: "t".into(), columns, primary_key: None, uniques: Default::default(), indexes: Default::default(), foreign_keys: Default::default(), checks: Default::default() };
        Schema { tables: [("t".to_owned(), t)].into() }
    }

    #[test]
    fn column_order_is_not_a_difference_but_a_missing_column_is() {
        assert!(differences(&table(&["a", "b", "c"]), &table(&["a", "c", "b"])).is_empty());
        assert_eq!(differences(&table(&["a", "b"]), &table(&["a"])), ["`t.b` is missing"]);
    }

    #[test]
    fn a_unique_index_is_not_a_unique_constraint() {
        use crate::schema::model::{Index, Unique};
        let mut constraint = table(&["a"]);
        let t = constraint.tables.get_mut("t").unwrap();
        t.uniques.insert("t_a_key".into(), Unique { name: "t_a_key".into(), columns: vec!["a".into()] });
        let mut index = table(&["a"]);
        let t = index.tables.get_mut("t").unwrap();
        t.indexes.insert("t_a_key".into(), Index { name: "t_a_key".into(), columns: vec!["a".into()], unique: true });
        let found = differences(&constraint, &index);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("`t` unique constraints:"), "{found:?}");
    }

    #[test]
    fn literal_casts_are_dropped_but_expressions_kept() {
        assert_eq!(normalize_default("'pending'::character varying"), "'pending'");
        assert_eq!(normalize_default("'it''s'::text"), "'it''s'");
        assert_eq!(normalize_default("'{}'::jsonb"), "'{}'");
        assert_eq!(normalize_default("now()"), "now()");
        assert_eq!(normalize_default("(0)::numeric"), "(0)::numeric");
    }
}
