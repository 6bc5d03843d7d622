//! The schema as an entity-relationship diagram: [`Diagram::of`] reads the tables, their
//! keys and their foreign keys from the model; [`Diagram::mermaid`] writes a Mermaid
//! `erDiagram`, which GitHub, GitLab and most Markdown viewers draw.
//!
//! A relationship's cardinality comes from the schema, not from guesses: the parent side is
//! "exactly one" when every foreign-key column is `NOT NULL`, else "zero or one"; the child
//! side is "zero or one" when the foreign-key columns are unique (the primary key, a
//! unique constraint, or a unique index without a predicate on exactly those columns),
//! else "zero or more". It is *identifying* (a solid line) when the foreign-key columns
//! are part of the child's primary key, else a dashed line.
//!
//! Mermaid's lexer reads some words as keywords even inside a name (`tokens` starts with
//! the keyword `to`), so every entity name is quoted; a column name or type that is not a
//! plain word is written as one (`character varying(40)` as `character_varying(40)`), the
//! column's real name then kept in the attribute's comment.

use super::model::{ForeignKey, Schema, Table};
use serde::Serialize;
use std::collections::BTreeSet;

/// The diagram of some or all of a schema's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Diagram {
    /// The tables, by name: those asked for with their columns, then the tables they are
    /// related to, by name only (`columns` empty, `related_only` true).
    pub tables: Vec<DiagramTable>,
    /// One per foreign key with the child or the parent among the tables asked for.
    pub relationships: Vec<Relationship>,
}

/// A table in the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DiagramTable {
    /// Its name (`schema.name` outside `public`).
    pub name: String,
    /// Shown only because a table asked for is related to it: drawn without columns.
    pub related_only: bool,
    /// Its columns, in the table's order.
    pub columns: Vec<DiagramColumn>,
}

/// A column of a table in the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DiagramColumn {
    /// Its name.
    pub name: String,
    /// Its SQL type, as the snapshot writes it (`bigint`, `character varying(40)`).
    pub sql_type: String,
    /// Whether it may hold NULL.
    pub nullable: bool,
    /// `PK` (in the primary key), `FK` (in a foreign key), `UK` (unique on its own).
    pub keys: Vec<KeyMark>,
}

/// A key mark on a column, as Mermaid spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum KeyMark {
    /// Part of the primary key.
    PK,
    /// Part of a foreign key.
    FK,
    /// Unique on its own (a one-column unique constraint or unique index).
    UK,
}

/// How many rows on one side of a relationship go with one row on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Cardinality {
    /// Exactly one.
    ExactlyOne,
    /// Zero or one.
    ZeroOrOne,
    /// Zero or more.
    ZeroOrMore,
}

/// A foreign key, drawn as a relationship from the referenced (parent) table to the
/// table that holds it (the child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Relationship {
    /// The foreign key constraint's name.
    pub constraint: String,
    /// The referenced table.
    pub parent: String,
    /// Its referenced columns.
    pub parent_columns: Vec<String>,
    /// The table holding the foreign key.
    pub child: String,
    /// The foreign-key columns.
    pub child_columns: Vec<String>,
    /// Parent rows per child row: `exactly_one` when the foreign-key columns are all
    /// `NOT NULL`, else `zero_or_one`.
    pub parent_cardinality: Cardinality,
    /// Child rows per parent row: `zero_or_one` when the foreign-key columns are unique,
    /// else `zero_or_more`.
    pub child_cardinality: Cardinality,
    /// The foreign-key columns are part of the child's primary key.
    pub identifying: bool,
}

/// `--table` named a table the schema does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("diagram: no table `{table}` in the schema; its tables are {known}")]
pub struct UnknownTable {
    /// The name asked for.
    pub table: String,
    /// The schema's tables, comma-separated.
    pub known: String,
}

impl crate::error::Classified for UnknownTable {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        "unknown_table"
    }
}

impl Diagram {
    /// The diagram of `only`'s tables (every table when `only` is empty) and the tables
    /// they are related to.
    pub fn of(schema: &Schema, only: &[String]) -> Result<Diagram, UnknownTable> {
        for name in only {
            if !schema.tables.contains_key(name) {
                return Err(UnknownTable {
                    table: name.clone(),
                    known: schema.tables.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        let asked = |name: &str| only.is_empty() || only.iter().any(|t| t == name);
        let mut relationships = Vec::new();
        let mut related = BTreeSet::new();
        for child in schema.tables.values() {
            for fk in child.foreign_keys.values() {
                if !asked(&child.name) && !asked(&fk.references_table) {
                    continue;
                }
                for end in [&child.name, &fk.references_table] {
                    if !asked(end) {
                        related.insert(end.clone());
                    }
                }
                relationships.push(relationship(child, fk));
            }
        }
        let tables = schema
            .tables
            .values()
            .filter(|t| asked(&t.name))
            .map(|t| DiagramTable {
                name: t.name.clone(),
                related_only: false,
                columns: columns(t),
            })
            .chain(related.into_iter().map(|name| DiagramTable {
                name,
                related_only: true,
                columns: Vec::new(),
            }))
            .collect();
        Ok(Diagram {
            tables,
            relationships,
        })
    }

    /// The diagram as a Mermaid `erDiagram`.
    pub fn mermaid(&self) -> String {
        // Two names Mermaid would spell the same (`50%off`, `50_off`) stay two entities.
        let mut names: std::collections::BTreeMap<&str, String> = Default::default();
        let mut taken = BTreeSet::new();
        for table in &self.tables {
            let mut name = entity(&table.name);
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = entity(&format!("{}_{n}", table.name));
                n += 1;
            }
            names.insert(&table.name, name);
        }
        let entity = |name: &str| names.get(name).cloned().unwrap_or_else(|| entity(name));
        let mut out = String::from("erDiagram\n");
        for table in &self.tables {
            if table.columns.is_empty() {
                out.push_str(&format!("    {}\n", entity(&table.name)));
                continue;
            }
            out.push_str(&format!("    {} {{\n", entity(&table.name)));
            for c in &table.columns {
                let name = word(&c.name);
                let keys = c
                    .keys
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // An enum's quoted name (`"auth"."mood"`) without its quotes.
                let sql_type = word(&c.sql_type.replace('"', ""));
                let mut line = format!("        {sql_type} {name}");
                if !keys.is_empty() {
                    line.push(' ');
                    line.push_str(&keys);
                }
                if name != c.name {
                    line.push_str(&format!(" \"{}\"", label(&c.name)));
                }
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str("    }\n");
        }
        for r in &self.relationships {
            let parent = match r.parent_cardinality {
                Cardinality::ExactlyOne => "||",
                _ => "|o",
            };
            let child = match r.child_cardinality {
                Cardinality::ZeroOrOne => "o|",
                Cardinality::ExactlyOne => "||",
                Cardinality::ZeroOrMore => "o{",
            };
            let line = if r.identifying { "--" } else { ".." };
            out.push_str(&format!(
                "    {} {parent}{line}{child} {} : \"{}\"\n",
                entity(&r.parent),
                entity(&r.child),
                label(&r.child_columns.join(", "))
            ));
        }
        out
    }
}

fn columns(t: &Table) -> Vec<DiagramColumn> {
    let in_pk = |c: &str| {
        t.primary_key
            .as_ref()
            .is_some_and(|pk| pk.columns.iter().any(|k| k == c))
    };
    let in_fk = |c: &str| {
        t.foreign_keys
            .values()
            .any(|fk| fk.columns.iter().any(|k| k == c))
    };
    t.columns
        .iter()
        .map(|c| {
            let mut keys = Vec::new();
            if in_pk(&c.name) {
                keys.push(KeyMark::PK);
            }
            if in_fk(&c.name) {
                keys.push(KeyMark::FK);
            }
            if !in_pk(&c.name) && unique_on(t, std::slice::from_ref(&c.name)) {
                keys.push(KeyMark::UK);
            }
            DiagramColumn {
                name: c.name.clone(),
                sql_type: c.sql_type.as_str().to_owned(),
                nullable: !c.not_null,
                keys,
            }
        })
        .collect()
}

/// Whether `columns` (in any order) are unique in `t` on every row.
fn unique_on(t: &Table, columns: &[String]) -> bool {
    let same = |keys: &[&str]| {
        keys.len() == columns.len() && columns.iter().all(|c| keys.contains(&c.as_str()))
    };
    let pk = t
        .primary_key
        .as_ref()
        .is_some_and(|pk| same(&pk.columns.iter().map(String::as_str).collect::<Vec<_>>()));
    pk || t
        .uniques
        .values()
        .any(|u| same(&u.columns.iter().map(String::as_str).collect::<Vec<_>>()))
        || t.indexes.values().any(|i| {
            i.unique
                && i.predicate.is_none()
                && i.columns
                    .iter()
                    .map(|k| k.plain_column())
                    .collect::<Option<Vec<_>>>()
                    .is_some_and(|keys| same(&keys))
        })
}

fn relationship(child: &Table, fk: &ForeignKey) -> Relationship {
    let all_not_null = fk
        .columns
        .iter()
        .all(|c| child.column(c).is_some_and(|c| c.not_null));
    let identifying = child
        .primary_key
        .as_ref()
        .is_some_and(|pk| fk.columns.iter().all(|c| pk.columns.contains(c)));
    Relationship {
        constraint: fk.name.clone(),
        parent: fk.references_table.clone(),
        parent_columns: fk.references_columns.clone(),
        child: child.name.clone(),
        child_columns: fk.columns.clone(),
        parent_cardinality: if all_not_null {
            Cardinality::ExactlyOne
        } else {
            Cardinality::ZeroOrOne
        },
        child_cardinality: if unique_on(child, &fk.columns) {
            Cardinality::ZeroOrOne
        } else {
            Cardinality::ZeroOrMore
        },
        identifying,
    }
}

/// Text for a comment or a relationship's label: Mermaid reads `"` as its end, `%%` as a
/// comment or directive and `~..~` as a generic type, so those become `'`, `_` and `-`.
fn label(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '%' => '_',
            '~' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// An entity name, quoted (Mermaid's quoted names may not hold `"`, `%` or `\`).
fn entity(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if matches!(c, '"' | '%' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("\"{safe}\"")
}

/// Text as one attribute word of Mermaid's lexer: a letter, `_` or `*` first, then
/// letters, digits and `-_[]().,*`; anything else becomes `_`, and a word its lexer takes
/// for a key mark (`pk`, `fk`, `uk`) gets a `_` in front.
fn word(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_[]().,*".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The key-mark rule (`\b(PK|FK|UK)\b`, any case) comes first: `pk`, `pk-id`, `fk.x`.
    let lower = out.to_ascii_lowercase();
    let key_mark = ["pk", "fk", "uk"].iter().any(|k| {
        lower
            .strip_prefix(k)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    });
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '*') || key_mark {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema `source` declares.
    #[cfg(feature = "compiler")]
    fn schema(source: &str) -> Schema {
        let mut scan = crate::schema::scan::Scan::default();
        let mut errors = Vec::new();
        crate::schema::scan::scan_source(
            std::path::Path::new("s.rs"),
            source,
            &mut scan,
            &mut errors,
            &crate::schema::grammar::LexicalChecks,
        );
        assert!(errors.is_empty(), "{errors:?}");
        scan.desired.schema
    }

    #[cfg(feature = "compiler")]
    const SHOP: &str = r#"
        #[derive(Table)]
        #[table(name = "people")]
        struct Person {
            #[column(primary_key)]
            id: i64,
            #[column(unique)]
            email: String,
            #[column(references = "people.id")]
            mentor_id: Option<i64>,
        }
        #[derive(Table)]
        #[table(name = "passports")]
        struct Passport {
            #[column(primary_key, references = "people.id")]
            person_id: i64,
        }
        #[derive(Table)]
        #[table(name = "orders")]
        struct Order {
            #[column(primary_key)]
            id: i64,
            #[column(references = "people.id")]
            buyer_id: i64,
            #[column(unique, references = "people.id")]
            gift_for: Option<i64>,
        }
        #[derive(Table)]
        #[table(name = "notes")]
        struct Note {
            #[column(primary_key)]
            id: i64,
        }
    "#;

    #[cfg(feature = "compiler")]
    #[test]
    fn cardinality_comes_from_nullability_uniqueness_and_the_primary_key() {
        let d = Diagram::of(&schema(SHOP), &[]).unwrap();
        let rel = |child: &str, column: &str| {
            d.relationships
                .iter()
                .find(|r| r.child == child && r.child_columns == [column])
                .unwrap_or_else(|| panic!("{child}.{column}"))
                .clone()
        };
        let buyer = rel("orders", "buyer_id");
        assert_eq!(
            (
                buyer.parent_cardinality,
                buyer.child_cardinality,
                buyer.identifying
            ),
            (Cardinality::ExactlyOne, Cardinality::ZeroOrMore, false)
        );
        let gift = rel("orders", "gift_for");
        assert_eq!(
            (gift.parent_cardinality, gift.child_cardinality),
            (Cardinality::ZeroOrOne, Cardinality::ZeroOrOne)
        );
        let passport = rel("passports", "person_id");
        assert_eq!(
            (
                passport.parent_cardinality,
                passport.child_cardinality,
                passport.identifying
            ),
            (Cardinality::ExactlyOne, Cardinality::ZeroOrOne, true)
        );
        let mentor = rel("people", "mentor_id");
        assert_eq!(mentor.parent, "people");
        assert_eq!(mentor.parent_cardinality, Cardinality::ZeroOrOne);

        let text = d.mermaid();
        assert!(
            text.contains("    \"people\" ||..o{ \"orders\" : \"buyer_id\"\n"),
            "{text}"
        );
        assert!(
            text.contains("    \"people\" |o..o| \"orders\" : \"gift_for\"\n"),
            "{text}"
        );
        assert!(
            text.contains("    \"people\" ||--o| \"passports\" : \"person_id\"\n"),
            "{text}"
        );
        assert!(text.contains("        bigint person_id PK, FK\n"), "{text}");
        assert!(text.contains("        text email UK\n"), "{text}");
        assert!(text.contains("        bigint gift_for FK, UK\n"), "{text}");
    }

    #[cfg(feature = "compiler")]
    #[test]
    fn a_table_asked_for_brings_its_neighbours_by_name_only() {
        let s = schema(SHOP);
        let d = Diagram::of(&s, &["passports".to_owned()]).unwrap();
        let names: Vec<(&str, bool)> = d
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.related_only))
            .collect();
        assert_eq!(names, [("passports", false), ("people", true)]);
        assert!(d.tables[1].columns.is_empty());
        assert_eq!(d.relationships.len(), 1);
        assert!(d.mermaid().contains("\n    \"people\"\n"));
        // A table with no relationship comes alone.
        let d = Diagram::of(&s, &["notes".to_owned()]).unwrap();
        assert_eq!((d.tables.len(), d.relationships.len()), (1, 0));

        let err = Diagram::of(&s, &["nope".to_owned()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "diagram: no table `nope` in the schema; its tables are notes, orders, passports, people"
        );
    }

    #[test]
    fn words_are_what_mermaids_lexer_reads_as_one() {
        assert_eq!(word("character varying(40)"), "character_varying(40)");
        assert_eq!(word("numeric(10,2)"), "numeric(10,2)");
        assert_eq!(word("text[]"), "text[]");
        assert_eq!(word("\"mood\""), "_mood_");
        assert_eq!(word("2fa"), "_2fa");
        assert_eq!(word("pk"), "_pk");
        assert_eq!(word("Pk"), "_Pk");
        assert_eq!(word("pkey"), "pkey");
        assert_eq!(word("pk-id"), "_pk-id");
        assert_eq!(word("fk.ref"), "_fk.ref");
        assert_eq!(word("uk(x)"), "_uk(x)");
        assert_eq!(label("50%% \"a~b~\""), "50__ 'a-b-'");
        assert_eq!(entity("auth.users"), "\"auth.users\"");
        assert_eq!(entity("50%\"off"), "\"50__off\"");
    }
}
