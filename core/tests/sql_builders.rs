//! Where SQL text is built, as a rule a test holds (issue 21): a `format!` (or `write!`)
//! whose template holds SQL is allowed only in the modules listed in [`BUILDERS`], each
//! for its reason, and every one of them takes names through `sql::ident::quote`,
//! literals through `sql::ident::literal` and expressions and types as the model's
//! `SqlExpr`/`SqlType`, which can only be made by parsing. Quoting by hand (doubling a
//! quote with `replace`) is allowed nowhere but `sql::ident`. A new module that builds SQL
//! fails here until it is listed, with its reason, and reviewed for those three rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The modules that build SQL, and why each may.
const BUILDERS: &[(&str, &str)] = &[
    (
        "core/src/compile/write.rs",
        "the DDL writer: the statements of a migration",
    ),
    (
        "core/src/compile/permissions.rs",
        "the permissions file's CREATE ROLE, AWS IAM GRANT and GRANT lines",
    ),
    (
        "core/src/sql/directive.rs",
        "the runner's directives: a rebuild's copy, a backfill",
    ),
    (
        "core/src/runner/engine/history.rs",
        "the history and lease tables and their rows",
    ),
    (
        "core/src/runner/engine/record.rs",
        "a history row written with its values as literals, in the statement's own transaction",
    ),
    ("core/src/runner/engine/lock.rs", "the migration lock"),
    (
        "core/src/runner/engine/walk/mod.rs",
        "a directive's batches and their cursor",
    ),
    (
        "core/src/runner/engine/walk/sql.rs",
        "a walk's batch bounds, rows, copy or fill, and range checksums",
    ),
    (
        "core/src/runner/engine/walk/ranges.rs",
        "a copy's range records, stored with the history",
    ),
    (
        "core/src/runner/engine/walk/rebuild.rs",
        "a table rebuild's swap, identities, discarded copy and grants",
    ),
    (
        "core/src/runner/engine/jobs.rs",
        "waiting for DSQL's asynchronous jobs",
    ),
    (
        "core/src/runner/engine/mod.rs",
        "the runner's own transactions and settings",
    ),
    (
        "core/src/runner/engine/permissions.rs",
        "REVOKE of what no handler declares",
    ),
    (
        "core/src/runner/tools/clone.rs",
        "clone: a schema, its rows and sequences into another database",
    ),
    (
        "core/src/runner/tools/sample.rs",
        "verify --rows: sample rows for each table",
    ),
    (
        "core/src/runner/tools/scratch.rs",
        "scratch databases (verify, import drizzle, drift): a generated name, quoted",
    ),
    (
        "core/src/runner/engine/drizzle.rs",
        "reading drizzle-kit's history table",
    ),
];

/// Words that make a template SQL (upper case, as this codebase writes SQL).
const SQL_WORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "GRANT", "REVOKE",
    "TRUNCATE", "COMMENT", "CALL", "SET", "VALUES", "RESET", "DO",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `template` reads as SQL: two of [`SQL_WORDS`] as whole words, or a statement
/// that starts with one (`DROP TABLE {}`, `SELECT setval(..)`). What a message quotes in
/// backticks (`` `SET LOCAL` ``) is a message's, not SQL being built.
fn is_sql(template: &str) -> bool {
    let unquoted: String = template.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    let template = unquoted.as_str();
    let words: Vec<&str> = template
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let hits = words.iter().filter(|w| SQL_WORDS.contains(w)).count();
    hits >= 2
        || (words.len() > 1
            && SQL_WORDS.contains(&words[0])
            && template.trim_start().starts_with(words[0]))
}

/// The templates of `format!`, `write!`, `writeln!` and `format_args!` in a file's shipped
/// code (its `#[cfg(test)]` items are not the crate's), and whether any reads as SQL.
struct Templates {
    sql: Vec<String>,
}

impl<'ast> Visit<'ast> for Templates {
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if matches!(
            name.as_str(),
            "format" | "write" | "writeln" | "format_args"
        ) {
            for token in mac.tokens.clone() {
                if let proc_macro2::TokenTree::Literal(lit) = token
                    && let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&lit.to_string())
                    && is_sql(&s.value())
                {
                    self.sql.push(s.value());
                }
            }
        }
        syn::visit::visit_macro(self, mac);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string() == "test")
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["core/src", "cli/src", "derive/src"] {
        rust_files(&repo().join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            (
                f.strip_prefix(repo())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(&f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn sql_is_built_only_where_it_is_listed() {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, text) in shipped_files() {
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut templates = Templates { sql: Vec::new() };
        templates.visit_file(&file);
        if !templates.sql.is_empty() {
            found.insert(path, templates.sql);
        }
    }
    let listed: BTreeSet<&str> = BUILDERS.iter().map(|(f, _)| *f).collect();
    let unlisted: Vec<String> = found
        .iter()
        .filter(|(f, _)| !listed.contains(f.as_str()))
        .map(|(f, t)| format!("{f}: {:?}", t.first().unwrap()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "SQL built outside the listed builders (list the module in BUILDERS with its reason, once its names go through quote, its literals through literal and its expressions are SqlExpr):\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|f| !found.contains_key(*f))
        .collect();
    assert!(
        stale.is_empty(),
        "listed as building SQL, but no longer do: {stale:?}"
    );
}

#[test]
fn quoting_by_hand_is_nowhere_but_the_ident_module() {
    let patterns = [
        r#"replace('\'', "''")"#,
        r#"replace("'", "''")"#,
        r#"replace('"', "\"\"")"#,
        r#"replace("\"", "\"\"")"#,
    ];
    let mut by_hand = Vec::new();
    for (path, text) in shipped_files() {
        if path == "core/src/sql/ident.rs" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p)) {
                by_hand.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        by_hand.is_empty(),
        "quote names with sql::ident::quote and text with sql::ident::literal:\n{}",
        by_hand.join("\n")
    );
}

/// The rule's own check: it sees SQL where it is, and nothing where it is not.
#[test]
fn the_rule_reads_sql_templates() {
    for sql in [
        "DROP TABLE {}",
        "SELECT setval({sequence}, max({col})) FROM {name}",
        "REVOKE {} ON {table} FROM {role} CASCADE;",
        "ALTER TABLE {} ADD COLUMN {}",
    ] {
        assert!(is_sql(sql), "{sql}");
    }
    for text in [
        "{} applied, {} pending",
        "set default of `{t}.{column}` to {default}",
        "Drop it by hand",
        "SET",
        "UPDATE",
        ", {} AWS IAM GRANT(s) skipped",
        "use `SET LOCAL` or a table `ON COMMIT DROP`",
    ] {
        assert!(!is_sql(text), "{text}");
    }
}
