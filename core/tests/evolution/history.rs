//! Random schema histories: a model of what the structs say, changed step by step by
//! choices drawn from a list of numbers (so that proptest shrinks a history by shrinking
//! the list), rendered as Rust source in the schema language, with the rows to insert
//! between steps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Choices read off a list of numbers; past its end every choice is 0 (the simplest).
pub struct Choices<'a> {
    values: &'a [u32],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(values: &'a [u32]) -> Self {
        Choices { values, at: 0 }
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let v = self.values.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        if n == 0 { 0 } else { v as usize % n }
    }

    /// True with the given percentage.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> Option<&'t T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// A column type, and how the schema language writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Smallint,
    Integer,
    Bigint,
    Boolean,
    Text,
    Varchar(u16),
    Double,
    Numeric(u8, u8),
    Uuid,
    /// With a precision, written as `sql_type = "timestamptz(p)"`.
    Timestamptz(Option<u8>),
    Timestamp(Option<u8>),
    Date,
    Jsonb,
    /// The enum type `e<k>` of the model (rows hold `v0` or `v1`, which no step removes).
    Enum(u32),
}

impl Ty {
    /// The Rust type and the `sql_type` the field needs.
    fn rust(&self) -> (&'static str, Option<String>) {
        match self {
            Ty::Smallint => ("i16", None),
            Ty::Integer => ("i32", None),
            Ty::Bigint => ("i64", None),
            Ty::Boolean => ("bool", None),
            Ty::Text => ("String", None),
            Ty::Varchar(n) => ("String", Some(format!("varchar({n})"))),
            Ty::Double => ("f64", None),
            Ty::Numeric(p, s) => ("Decimal", Some(format!("numeric({p},{s})"))),
            Ty::Uuid => ("Uuid", None),
            Ty::Timestamptz(None) => ("DateTime<Utc>", None),
            Ty::Timestamptz(Some(p)) => ("DateTime<Utc>", Some(format!("timestamptz({p})"))),
            Ty::Timestamp(None) => ("NaiveDateTime", None),
            Ty::Timestamp(Some(p)) => ("NaiveDateTime", Some(format!("timestamp({p})"))),
            Ty::Date => ("NaiveDate", None),
            Ty::Jsonb => ("Value", None),
            Ty::Enum(_) => ("String", None),
        }
    }

    /// A SQL expression of row number `g` (an integer expression): distinct rows get
    /// distinct values where the type can tell them apart.
    pub fn value(&self, g: &str) -> String {
        match self {
            Ty::Smallint => format!("({g} % 30000)::smallint"),
            Ty::Integer => format!("({g})::integer"),
            Ty::Bigint => format!("({g})::bigint"),
            Ty::Boolean => format!("({g} % 2 = 0)"),
            Ty::Text => format!("'r' || ({g})"),
            Ty::Varchar(n) => format!("left('r' || ({g}), {n})"),
            Ty::Double => format!("({g}) * 1.5"),
            Ty::Numeric(p, s) => {
                format!("(({g}) % {})::numeric", 10i64.pow((*p - *s).min(9) as u32))
            }
            Ty::Uuid => format!("md5(({g})::text)::uuid"),
            Ty::Timestamptz(_) => {
                format!("timestamptz '2026-01-01 00:00:00+00' + ({g}) * interval '1 second'")
            }
            Ty::Timestamp(_) => {
                format!("timestamp '2026-01-01 00:00:00' + ({g}) * interval '1 second'")
            }
            Ty::Date => format!("date '2026-01-01' + (({g}) % 3000)::integer"),
            Ty::Jsonb => format!("jsonb_build_object('n', {g})"),
            // (Written through `enum_value`, which knows the dialect.)
            Ty::Enum(_) => format!("CASE WHEN ({g}) % 2 = 0 THEN 'v0' ELSE 'v1' END"),
        }
    }

    /// A default (or fill) literal for the type.
    pub fn literal(&self, k: u32) -> String {
        match self {
            Ty::Smallint | Ty::Integer | Ty::Bigint => format!("{k}"),
            Ty::Boolean => {
                if k.is_multiple_of(2) {
                    "false".into()
                } else {
                    "true".into()
                }
            }
            Ty::Text | Ty::Varchar(_) => format!("'d{k}'"),
            Ty::Double => format!("{k}.5"),
            Ty::Numeric(..) => format!("{}", k % 10),
            Ty::Uuid => "gen_random_uuid()".into(),
            Ty::Timestamptz(_) => "now()".into(),
            Ty::Timestamp(_) => "'2026-02-01 00:00:00'".into(),
            Ty::Date => "'2026-03-01'".into(),
            Ty::Jsonb => "'{}'".into(),
            Ty::Enum(_) => format!("'v{}'", k % 2),
        }
    }

    /// A wider type every value of this one casts to unchanged.
    fn widened(&self, c: &mut Choices) -> Option<Ty> {
        Some(match self {
            Ty::Smallint => {
                if c.chance(50) {
                    Ty::Integer
                } else {
                    Ty::Bigint
                }
            }
            Ty::Integer => Ty::Bigint,
            Ty::Varchar(n) => {
                if c.chance(50) {
                    Ty::Varchar(n + 16)
                } else {
                    Ty::Text
                }
            }
            Ty::Text => Ty::Varchar(64),
            Ty::Numeric(p, s) => Ty::Numeric(p + 4, *s),
            Ty::Timestamp(Some(p)) if *p < 6 => Ty::Timestamp(Some(6)),
            Ty::Timestamptz(Some(p)) if *p < 6 => Ty::Timestamptz(Some(6)),
            _ => return None,
        })
    }

    /// Values can be told apart, so a unique index or key over the column holds.
    fn distinct(&self) -> bool {
        !matches!(
            self,
            Ty::Boolean | Ty::Jsonb | Ty::Date | Ty::Double | Ty::Enum(_)
        )
    }

    fn is_integer(&self) -> bool {
        matches!(self, Ty::Smallint | Ty::Integer | Ty::Bigint)
    }

    fn random(c: &mut Choices) -> Ty {
        match c.below(13) {
            0 => Ty::Smallint,
            1 => Ty::Integer,
            2 => Ty::Bigint,
            3 => Ty::Boolean,
            4 => Ty::Text,
            5 => Ty::Varchar(16 + 8 * c.below(4) as u16),
            6 => Ty::Double,
            7 => Ty::Numeric(10 + c.below(6) as u8, c.below(3) as u8),
            8 => Ty::Uuid,
            9 => Ty::Timestamptz(if c.chance(40) {
                Some(c.below(7) as u8)
            } else {
                None
            }),
            10 => Ty::Timestamp(if c.chance(40) {
                Some(c.below(7) as u8)
            } else {
                None
            }),
            11 => Ty::Date,
            _ => Ty::Jsonb,
        }
    }
}

/// A foreign key, written on its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub table: String,
    pub column: String,
    pub on_delete: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Col {
    pub name: String,
    pub ty: Ty,
    pub nullable: bool,
    pub default: Option<String>,
    pub identity: bool,
    /// `identity(always)`.
    pub always: bool,
    /// `identity(cache = ..)`: 65536 (DSQL's large cache) when set.
    pub big_cache: bool,
    /// `identity(increment = -1)` (PostgreSQL only: changing it is refused on DSQL).
    pub counts_down: bool,
    /// `collation = "C"` (PostgreSQL only).
    pub collate_c: bool,
    pub unique: bool,
    pub references: Option<Ref>,
    /// This step only.
    pub renamed_from: Option<String>,
    /// This step only.
    pub fill: Option<String>,
    /// Its name when the step began (`None`: added in this step).
    before: Option<String>,
    /// Every row holds a value of its own (or NULL), so a unique over it holds.
    distinct: bool,
}

impl Col {
    fn new(name: String, ty: Ty) -> Col {
        Col {
            name,
            ty,
            nullable: false,
            default: None,
            identity: false,
            always: false,
            big_cache: false,
            counts_down: false,
            collate_c: false,
            unique: false,
            references: None,
            renamed_from: None,
            fill: None,
            before: None,
            distinct: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ix {
    pub name: Option<String>,
    pub cols: Vec<String>,
    pub unique: bool,
    /// The key is `lower(<first column>)` (a text column).
    pub lower: bool,
    /// `where = "<first column> IS NOT NULL"`.
    pub partial: bool,
    /// `desc` on the first key (PostgreSQL only).
    pub desc: bool,
    /// `nulls_first` on the first key.
    pub nulls_first: bool,
    /// `method = ..` (PostgreSQL only): `hash`, or `gin` on a jsonb column.
    pub method: Option<&'static str>,
    /// `include(..)`.
    pub include: Vec<String>,
}

impl Ix {
    /// Every column it names.
    fn names(&self) -> impl Iterator<Item = &String> {
        self.cols.iter().chain(&self.include)
    }
}

/// A foreign key over two columns, declared on the struct, to a table whose primary key
/// is those two columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fk2 {
    pub cols: [String; 2],
    pub table: String,
    pub ref_cols: [String; 2],
    pub on_delete: Option<&'static str>,
    pub match_full: bool,
    pub deferrable: bool,
    pub initially_deferred: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Option<String>,
    pub cols: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chk {
    pub name: String,
    pub column: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tbl {
    pub name: String,
    pub cols: Vec<Col>,
    pub pk: Vec<String>,
    pub uniques: Vec<Key>,
    pub indexes: Vec<Ix>,
    pub checks: Vec<Chk>,
    pub fks: Vec<Fk2>,
    /// This step only.
    pub renamed_from: Option<String>,
    /// This step only.
    pub allow_drop: Vec<String>,
    /// Its name when the step began (`None`: added in this step).
    before: Option<String>,
}

impl Tbl {
    fn col(&self, name: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == name)
    }

    fn col_mut(&mut self, name: &str) -> Option<&mut Col> {
        self.cols.iter_mut().find(|c| c.name == name)
    }
}

/// An enum type: `e<k>`, its values `v<n>` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct En {
    pub k: u32,
    pub values: Vec<String>,
    /// Values this step removes (`allow_drop`).
    pub allow_drop: Vec<String>,
    /// This step only: `(new, old)` value renames.
    pub renames: Vec<(String, String)>,
    /// Its values when the step began (a rename names one of them).
    before: Vec<String>,
}

/// What the structs say at one step, and what the step asks of `generate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub tables: Vec<Tbl>,
    pub enums: Vec<En>,
    /// The history is for PostgreSQL: it may use what only PostgreSQL has.
    pub postgres: bool,
    counter: u32,
    /// Tables this step drops (`--allow-drop`).
    pub dropped: Vec<String>,
    /// What this step did, for people.
    pub changes: Vec<String>,
}

impl Model {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn table(&self, name: &str) -> Option<&Tbl> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Columns of other tables (or the same) that reference `table.column`, on their own
    /// or in a two-column key.
    fn referencing(&self, table: &str, column: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for t in &self.tables {
            for c in &t.cols {
                if c.references
                    .as_ref()
                    .is_some_and(|r| r.table == table && r.column == column)
                {
                    out.push((t.name.clone(), c.name.clone()));
                }
            }
            for fk in t.fks.iter().filter(|fk| fk.table == table) {
                for (own, referenced) in fk.cols.iter().zip(&fk.ref_cols) {
                    if referenced == column {
                        out.push((t.name.clone(), own.clone()));
                    }
                }
            }
        }
        out
    }

    /// Whether `table.column` is one of a two-column foreign key's own columns.
    fn in_composite_fk(&self, table: &str, column: &str) -> bool {
        self.table(table)
            .is_some_and(|t| t.fks.iter().any(|fk| fk.cols.iter().any(|c| c == column)))
    }

    /// Tables with a single-column key that a foreign key can reference: `(table, column, type)`.
    fn targets(&self) -> Vec<(String, String, Ty)> {
        self.tables
            .iter()
            .filter(|t| t.pk.len() == 1)
            .filter_map(|t| {
                t.col(&t.pk[0]).map(|c| {
                    (
                        t.name.clone(),
                        c.name.clone(),
                        if c.identity { Ty::Bigint } else { c.ty.clone() },
                    )
                })
            })
            .collect()
    }

    /// Starts a step: forgets the previous step's hints.
    fn begin(&mut self) {
        self.dropped.clear();
        self.changes.clear();
        for e in &mut self.enums {
            e.allow_drop.clear();
            e.renames.clear();
            e.before = e.values.clone();
        }
        for t in &mut self.tables {
            t.renamed_from = None;
            t.allow_drop.clear();
            t.before = Some(t.name.clone());
            for c in &mut t.cols {
                c.renamed_from = None;
                c.fill = None;
                c.before = Some(c.name.clone());
            }
        }
    }
}

/// The first step: some tables.
pub fn first(c: &mut Choices, postgres: bool) -> Model {
    let mut m = Model {
        postgres,
        ..Model::default()
    };
    m.begin();
    for _ in 0..1 + c.below(3) {
        add_table(&mut m, c);
    }
    m
}

/// The next step: one to four changes.
pub fn next(prev: &Model, c: &mut Choices) -> Model {
    let mut m = prev.clone();
    m.begin();
    for _ in 0..1 + c.below(4) {
        let applied = match c.below(27) {
            0 => add_table(&mut m, c),
            1 => drop_table(&mut m, c),
            2 => rename_table(&mut m, c),
            3 | 4 => add_column(&mut m, c),
            5 => drop_column(&mut m, c),
            6 => rename_column(&mut m, c),
            7 => change_type(&mut m, c),
            8 => change_nullability(&mut m, c),
            9 => change_default(&mut m, c),
            10 => add_index(&mut m, c),
            11 => drop_index(&mut m, c),
            12 => add_unique(&mut m, c),
            13 => drop_unique(&mut m, c),
            14 => change_check(&mut m, c),
            15 => drop_foreign_key(&mut m, c),
            16 => swap_index_names(&mut m, c),
            17 => make_identity(&mut m, c),
            18 => rename_named(&mut m, c),
            19 => add_composite_foreign_key(&mut m, c),
            20 => change_identity(&mut m, c),
            21 => change_collation(&mut m, c),
            22 => drop_composite_foreign_key(&mut m, c),
            23 => add_enum_column(&mut m, c),
            24 | 25 => change_enum(&mut m, c),
            _ => change_primary_key(&mut m, c),
        };
        if !applied {
            add_column(&mut m, c);
        }
    }
    m
}

/// A column of an enum type (a new one, or one the model has) on some table.
fn add_enum_column(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let k = match m.enums.len() {
        n if n > 0 && c.chance(60) => m.enums[c.below(n)].k,
        _ => {
            let k = m.counter;
            m.counter += 1;
            m.enums.push(En {
                k,
                values: vec!["v0".into(), "v1".into()],
                allow_drop: Vec::new(),
                renames: Vec::new(),
                before: Vec::new(),
            });
            m.changes.push(format!("create enum e{k}"));
            k
        }
    };
    let name = m.fresh("c");
    let mut col = Col::new(name.clone(), Ty::Enum(k));
    col.nullable = c.chance(50);
    if !col.nullable || c.chance(30) {
        col.default = Some(Ty::Enum(k).literal(c.below(2) as u32));
    }
    m.changes
        .push(format!("add enum column {}.{name}", m.tables[i].name));
    m.tables[i].cols.push(col);
    true
}

/// An enum's values change: one added (at the end or before `v1`), an added one removed
/// (allowed), two swapped (the type is rebuilt), or, on PostgreSQL, an added one renamed.
/// `v0` and `v1`, which rows hold, stay.
fn change_enum(m: &mut Model, c: &mut Choices) -> bool {
    if m.enums.is_empty() {
        return false;
    }
    let at = c.below(m.enums.len());
    let fresh = m.fresh("v");
    let postgres = m.postgres;
    // A partial index over a column of the enum would not survive its rebuild on
    // PostgreSQL (refused, as the README says): values are then only added.
    let k = m.enums[at].k;
    let rebuildable = !postgres
        || !m.tables.iter().any(|t| {
            t.indexes.iter().any(|ix| {
                (ix.partial || ix.lower)
                    && t.col(&ix.cols[0]).is_some_and(|col| col.ty == Ty::Enum(k))
            })
        });
    let e = &mut m.enums[at];
    let added: Vec<usize> = (0..e.values.len())
        .filter(|&i| e.values[i] != "v0" && e.values[i] != "v1")
        .collect();
    let what = match c.below(5) {
        0 if rebuildable
            && !added.is_empty()
            && e.allow_drop.is_empty()
            && e.renames.is_empty() =>
        {
            let gone = e.values.remove(added[c.below(added.len())]);
            e.allow_drop.push(gone.clone());
            format!("remove value {gone}")
        }
        1 if rebuildable && e.values.len() > 2 && e.allow_drop.is_empty() => {
            let (a, b) = (c.below(e.values.len()), c.below(e.values.len()));
            e.values.swap(a, b);
            format!("reorder values of e{}", e.k)
        }
        2 if postgres
            && added.iter().any(|&i| e.before.contains(&e.values[i]))
            && e.renames.is_empty() =>
        {
            let old_ones: Vec<usize> = added
                .iter()
                .copied()
                .filter(|&i| e.before.contains(&e.values[i]))
                .collect();
            let i = old_ones[c.below(old_ones.len())];
            let old = std::mem::replace(&mut e.values[i], fresh.clone());
            e.renames.push((fresh.clone(), old.clone()));
            format!("rename value {old} to {fresh}")
        }
        3 => {
            let before_v1 = e.values.iter().position(|v| v == "v1").unwrap_or(0);
            e.values.insert(before_v1, fresh.clone());
            format!("add value {fresh} before v1")
        }
        _ => {
            e.values.push(fresh.clone());
            format!("add value {fresh}")
        }
    };
    let k = e.k;
    m.changes.push(format!("e{k}: {what}"));
    true
}

/// How a row's value of an enum column is written: cast to the type on PostgreSQL, where
/// text does not go into an enum column by itself; text on DSQL.
fn enum_value(m: &Model, k: u32, g: &str) -> String {
    let text = Ty::Enum(k).value(g);
    if m.postgres {
        format!("({text})::\"e{k}\"")
    } else {
        text
    }
}

fn add_table(m: &mut Model, c: &mut Choices) -> bool {
    // Some tables live in one of two other schemas (DSQL holds ten).
    let name = if c.chance(15) {
        format!("s{}.{}", 1 + c.below(2), m.fresh("t"))
    } else {
        m.fresh("t")
    };
    let targets = m.targets();
    let mut t = Tbl {
        name: name.clone(),
        cols: Vec::new(),
        pk: Vec::new(),
        uniques: Vec::new(),
        indexes: Vec::new(),
        checks: Vec::new(),
        fks: Vec::new(),
        renamed_from: None,
        allow_drop: Vec::new(),
        before: None,
    };
    if c.chance(20) {
        t.cols.push(Col {
            distinct: true,
            ..Col::new("a".into(), Ty::Integer)
        });
        t.cols.push(Col::new("b".into(), Ty::Smallint));
        t.pk = vec!["a".into(), "b".into()];
    } else {
        let mut id = Col::new(
            "id".into(),
            match c.below(4) {
                0 => Ty::Integer,
                1 => Ty::Uuid,
                _ => Ty::Bigint,
            },
        );
        if id.ty == Ty::Bigint && c.chance(30) {
            id.identity = true;
            // An ALWAYS identity cannot be rebuilt on DSQL (refused, as the README says).
            id.always = c.chance(30) && m.postgres;
            id.big_cache = c.chance(20);
        }
        if id.ty == Ty::Uuid {
            id.default = Some("gen_random_uuid()".into());
        }
        id.distinct = true;
        t.cols.push(id);
        t.pk = vec!["id".into()];
    }
    for _ in 0..1 + c.below(3) {
        let col = m.fresh("c");
        let mut column = Col::new(col.clone(), Ty::random(c));
        column.distinct = column.ty.distinct();
        column.nullable = c.chance(50);
        if c.chance(25) {
            column.default = Some(column.ty.literal(c.below(50) as u32));
        }
        if column.ty.distinct() && c.chance(15) {
            column.unique = true;
        }
        if m.postgres && column.ty == Ty::Text && c.chance(15) {
            column.collate_c = true;
        }
        if column.ty.is_integer() && c.chance(25) {
            t.checks.push(Chk {
                name: format!("{name}_{col}_check"),
                column: col.clone(),
            });
        }
        if column.ty.distinct() && c.chance(25) {
            let unique = c.chance(30);
            let named = c.chance(30).then(|| m.fresh("ix"));
            let index = varied_index(
                Ix {
                    name: named,
                    cols: vec![col.clone()],
                    unique,
                    ..Ix::default()
                },
                &column,
                m.postgres,
                c,
            );
            t.indexes.push(index);
        }
        t.cols.push(column);
    }
    if let Some((target, column, ty)) = c.pick(&targets).cloned().filter(|_| c.chance(45)) {
        let mut fk = Col::new(m.fresh("r"), ty);
        fk.nullable = c.chance(60);
        let on_delete = match c.below(4) {
            0 => Some("cascade"),
            1 if fk.nullable => Some("set null"),
            _ => None,
        };
        fk.references = Some(Ref {
            table: target,
            column,
            on_delete,
        });
        t.cols.push(fk);
    }
    if t.pk.len() == 1 && c.chance(15) {
        // A key on the table itself.
        let ty = t
            .col(&t.pk[0])
            .map(|k| if k.identity { Ty::Bigint } else { k.ty.clone() })
            .unwrap_or(Ty::Bigint);
        let mut parent = Col::new(m.fresh("p"), ty);
        parent.nullable = true;
        parent.references = Some(Ref {
            table: name.clone(),
            column: t.pk[0].clone(),
            on_delete: None,
        });
        t.cols.push(parent);
    }
    m.changes.push(format!("add table {name}"));
    m.tables.push(t);
    // Two new tables that reference each other: a cycle among new tables.
    if c.chance(10) && m.tables.last().is_some_and(|t| t.pk.len() == 1) {
        let other = m.fresh("t");
        let first = m.tables.last().cloned().expect("just added");
        let first_key = first.col(&first.pk[0]).expect("key column").clone();
        let key_ty = if first_key.identity {
            Ty::Bigint
        } else {
            first_key.ty.clone()
        };
        let mut back = Col::new(m.fresh("r"), key_ty);
        back.nullable = true;
        back.references = Some(Ref {
            table: first.name.clone(),
            column: first.pk[0].clone(),
            on_delete: None,
        });
        let mut t2 = Tbl {
            name: other.clone(),
            cols: vec![Col::new("id".into(), Ty::Bigint), back],
            pk: vec!["id".into()],
            uniques: Vec::new(),
            indexes: Vec::new(),
            checks: Vec::new(),
            fks: Vec::new(),
            renamed_from: None,
            allow_drop: Vec::new(),
            before: None,
        };
        t2.cols[0].identity = c.chance(30);
        let mut forward = Col::new(m.fresh("r"), Ty::Bigint);
        forward.nullable = true;
        forward.references = Some(Ref {
            table: other.clone(),
            column: "id".into(),
            on_delete: None,
        });
        m.tables.last_mut().expect("just added").cols.push(forward);
        m.changes.push(format!(
            "add table {other}, referencing {} and referenced by it",
            first.name
        ));
        m.tables.push(t2);
    }
    true
}

fn pick_table(m: &Model, c: &mut Choices) -> Option<usize> {
    if m.tables.is_empty() {
        None
    } else {
        Some(c.below(m.tables.len()))
    }
}

fn drop_table(m: &mut Model, c: &mut Choices) -> bool {
    if m.tables.len() < 2 {
        return false;
    }
    let i = c.below(m.tables.len());
    let name = m.tables[i].name.clone();
    // Foreign keys pointing at it go in the same migration.
    for t in &mut m.tables {
        for col in &mut t.cols {
            if col.references.as_ref().is_some_and(|r| r.table == name) {
                col.references = None;
            }
        }
        t.fks.retain(|fk| fk.table != name);
    }
    // A table added in this step leaves nothing to drop; one renamed in it is dropped
    // under its old name.
    if let Some(before) = m.tables.remove(i).before {
        m.dropped.push(before);
    }
    m.changes.push(format!(
        "drop table {name} (and the foreign keys pointing at it)"
    ));
    true
}

fn rename_table(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let old = m.tables[i].name.clone();
    // A rename stays in the table's schema.
    let new = match old.split_once('.') {
        Some((schema, _)) => format!("{schema}.{}", m.fresh("t")),
        None => m.fresh("t"),
    };
    for t in &mut m.tables {
        for col in &mut t.cols {
            if let Some(r) = col.references.as_mut().filter(|r| r.table == old) {
                r.table = new.clone();
            }
        }
        for fk in t.fks.iter_mut().filter(|fk| fk.table == old) {
            fk.table = new.clone();
        }
    }
    let t = &mut m.tables[i];
    t.name = new.clone();
    // A hint names the table as the last snapshot has it; one added in this step has none.
    t.renamed_from = t.before.clone();
    m.changes.push(format!("rename table {old} to {new}"));
    true
}

fn add_column(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let name = m.fresh("c");
    let targets = m.targets();
    let mut col = Col::new(name.clone(), Ty::random(c));
    let how = match c.below(5) {
        0 => {
            col.nullable = true;
            "nullable"
        }
        1 => {
            col.nullable = true;
            col.default = Some(col.ty.literal(c.below(50) as u32));
            "nullable with a default"
        }
        2 => {
            col.default = Some(col.ty.literal(c.below(50) as u32));
            "NOT NULL with a default"
        }
        3 => {
            col.fill = Some(col.ty.literal(c.below(50) as u32))
                .filter(|f| f != "gen_random_uuid()" && f != "now()");
            if col.fill.is_none() {
                col.default = Some(col.ty.literal(1));
            }
            "NOT NULL with a fill"
        }
        _ => match c.pick(&targets).cloned() {
            Some((target, key, ty)) => {
                col.ty = ty;
                col.nullable = true;
                col.references = Some(Ref {
                    table: target,
                    column: key,
                    on_delete: None,
                });
                "referencing another table"
            }
            None => {
                col.nullable = true;
                "nullable"
            }
        },
    };
    let table = m.tables[i].name.clone();
    m.changes.push(format!("add column {table}.{name} ({how})"));
    m.tables[i].cols.push(col);
    true
}

fn drop_column(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| !t.pk.contains(&col.name))
        .map(|col| col.name.clone())
        .collect();
    let Some(name) = c.pick(&candidates).cloned() else {
        return false;
    };
    if !m.referencing(&t.name.clone(), &name).is_empty() {
        return false;
    }
    let t = &mut m.tables[i];
    if let Some(before) = t.col(&name).and_then(|col| col.before.clone()) {
        t.allow_drop.push(before);
    }
    t.cols.retain(|col| col.name != name);
    t.uniques.retain(|u| !u.cols.contains(&name));
    t.indexes.retain(|x| !x.names().any(|n| *n == name));
    t.fks.retain(|fk| !fk.cols.contains(&name));
    t.checks.retain(|k| k.column != name);
    m.changes.push(format!("drop column {}.{name}", t.name));
    true
}

fn rename_column(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let Some(old) = c
        .pick(
            &m.tables[i]
                .cols
                .iter()
                .map(|col| col.name.clone())
                .collect::<Vec<_>>(),
        )
        .cloned()
    else {
        return false;
    };
    let new = m.fresh("c");
    let table = m.tables[i].name.clone();
    for t in &mut m.tables {
        for col in &mut t.cols {
            if let Some(r) = col
                .references
                .as_mut()
                .filter(|r| r.table == table && r.column == old)
            {
                r.column = new.clone();
            }
        }
        for fk in t.fks.iter_mut().filter(|fk| fk.table == table) {
            for x in fk.ref_cols.iter_mut().filter(|x| **x == old) {
                *x = new.clone();
            }
        }
    }
    let t = &mut m.tables[i];
    let rename = |cols: &mut Vec<String>| {
        for x in cols.iter_mut().filter(|x| **x == old) {
            *x = new.clone();
        }
    };
    rename(&mut t.pk);
    for u in &mut t.uniques {
        rename(&mut u.cols);
    }
    for x in &mut t.indexes {
        rename(&mut x.cols);
        rename(&mut x.include);
    }
    for fk in &mut t.fks {
        for x in fk.cols.iter_mut().filter(|x| **x == old) {
            *x = new.clone();
        }
    }
    for k in &mut t.checks.iter_mut().filter(|k| k.column == old) {
        k.column = new.clone();
    }
    let col = t.col_mut(&old).expect("picked");
    col.name = new.clone();
    col.renamed_from = col.before.clone();
    m.changes
        .push(format!("rename column {table}.{old} to {new}"));
    true
}

fn change_type(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| {
            !col.identity && col.references.is_none() && !m.in_composite_fk(&t.name, &col.name)
        })
        .map(|col| col.name.clone())
        .collect();
    let Some(name) = c.pick(&candidates).cloned() else {
        return false;
    };
    let table = t.name.clone();
    let from = t.col(&name).expect("picked").ty.clone();
    let Some(to) = from.widened(c) else {
        return false;
    };
    // Columns referencing it change with it.
    for (rt, rc) in m.referencing(&table, &name) {
        if let Some(col) = m
            .tables
            .iter_mut()
            .find(|x| x.name == rt)
            .and_then(|x| x.col_mut(&rc))
        {
            col.ty = to.clone();
        }
    }
    let t = &mut m.tables[i];
    // A check stays an integer comparison only on integers.
    if !to.is_integer() {
        t.checks.retain(|k| k.column != name);
    }
    // A hash or gin index, or a C collation, is kept only on the types it was made for.
    t.indexes
        .retain(|x| x.method.is_none() || !x.cols.contains(&name));
    if to != Ty::Text && !matches!(to, Ty::Varchar(_)) {
        t.indexes.retain(|x| !(x.lower && x.cols.contains(&name)));
    }
    t.col_mut(&name).expect("picked").ty = to.clone();
    m.changes.push(format!(
        "change type of {table}.{name} from {from:?} to {to:?}"
    ));
    true
}

fn change_nullability(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    // Its NULLs would all get one value: not under a UNIQUE.
    let in_unique = |col: &Col| {
        col.unique
            || t.uniques.iter().any(|u| u.cols.contains(&col.name))
            || t.indexes
                .iter()
                .any(|x| x.unique && x.cols.contains(&col.name))
    };
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| {
            !(t.pk.contains(&col.name)
                || col.references.is_some()
                || col.identity
                || col.nullable && in_unique(col)
                || m.in_composite_fk(&t.name, &col.name))
        })
        .map(|col| col.name.clone())
        .collect();
    let Some(name) = c.pick(&candidates).cloned() else {
        return false;
    };
    let table = t.name.clone();
    let col = m.tables[i].col_mut(&name).expect("picked");
    if col.nullable {
        col.nullable = false;
        // Its NULLs become one value.
        col.distinct = false;
        if col.default.is_none() || c.chance(50) {
            col.fill = Some(col.ty.literal(7)).filter(|f| f != "gen_random_uuid()" && f != "now()");
            if col.fill.is_none() && col.default.is_none() {
                col.default = Some(col.ty.literal(7));
            }
        }
        m.changes.push(format!("make {table}.{name} NOT NULL"));
    } else {
        col.nullable = true;
        // A nullable column needs no fill (the compiler refuses one).
        col.fill = None;
        m.changes.push(format!("make {table}.{name} nullable"));
    }
    true
}

fn change_default(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| {
            !col.identity && col.references.is_none() && !m.in_composite_fk(&t.name, &col.name)
        })
        .map(|col| col.name.clone())
        .collect();
    let Some(name) = c.pick(&candidates).cloned() else {
        return false;
    };
    let table = t.name.clone();
    // A NOT NULL column added to an existing table in this step needs its default (or a
    // fill) for the rows already there.
    let needs_default = t.before.is_some()
        && t.col(&name)
            .is_some_and(|col| col.before.is_none() && !col.nullable && col.fill.is_none());
    let col = m.tables[i].col_mut(&name).expect("picked");
    if col.default.is_some() && !needs_default && c.chance(40) {
        col.default = None;
        m.changes.push(format!("drop default of {table}.{name}"));
    } else {
        col.default = Some(col.ty.literal(50 + c.below(50) as u32));
        m.changes.push(format!("set default of {table}.{name}"));
    }
    true
}

fn add_index(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| col.ty.distinct() || m.postgres && col.ty == Ty::Jsonb)
        .map(|col| col.name.clone())
        .collect();
    let Some(col) = c.pick(&candidates).cloned() else {
        return false;
    };
    if t.indexes.iter().any(|x| x.cols == [col.clone()]) {
        return false;
    }
    let column = t.col(&col).expect("picked").clone();
    let other = t
        .cols
        .iter()
        .find(|x| x.name != col && x.ty.distinct())
        .map(|x| x.name.clone());
    let unique = c.chance(30) && column.distinct;
    let name = c.chance(40).then(|| m.fresh("ix"));
    let mut index = varied_index(
        Ix {
            name,
            cols: vec![col.clone()],
            unique,
            ..Ix::default()
        },
        &column,
        m.postgres,
        c,
    );
    // A second column stored in it.
    if let Some(other) = other.filter(|_| index.method.is_none() && c.chance(15)) {
        index.include.push(other);
    }
    let table = m.tables[i].name.clone();
    m.changes.push(format!("add index {index:?} on {table}"));
    m.tables[i].indexes.push(index);
    true
}

fn drop_index(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    if m.tables[i].indexes.is_empty() {
        return false;
    }
    let k = c.below(m.tables[i].indexes.len());
    let gone = m.tables[i].indexes.remove(k);
    m.changes.push(format!(
        "drop index on {}.{}",
        m.tables[i].name,
        gone.cols.join(",")
    ));
    true
}

fn swap_index_names(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let named: Vec<usize> = m.tables[i]
        .indexes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.name.is_some())
        .map(|(k, _)| k)
        .collect();
    if named.len() < 2 {
        // Name one so a later step can swap.
        if let Some(x) = m.tables[i].indexes.iter_mut().find(|x| x.name.is_none()) {
            x.name = Some(format!("ix_named_{}", m.counter + 1));
            m.counter += 1;
            m.changes
                .push(format!("name an index of {}", m.tables[i].name));
            return true;
        }
        return false;
    }
    let (a, b) = (named[0], named[1 + c.below(named.len() - 1)]);
    let (na, nb) = (
        m.tables[i].indexes[a].name.clone(),
        m.tables[i].indexes[b].name.clone(),
    );
    m.tables[i].indexes[a].name = nb;
    m.tables[i].indexes[b].name = na;
    m.changes.push(format!(
        "swap the names of two indexes of {}",
        m.tables[i].name
    ));
    true
}

fn add_unique(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    let candidates: Vec<String> = t
        .cols
        .iter()
        .filter(|col| {
            col.distinct
                && !col.unique
                && !col.nullable
                && t.pk != [col.name.clone()]
                && !t.uniques.iter().any(|u| u.cols == [col.name.clone()])
        })
        .map(|col| col.name.clone())
        .collect();
    let Some(col) = c.pick(&candidates).cloned() else {
        return false;
    };
    let table = t.name.clone();
    if c.chance(50) {
        m.tables[i].col_mut(&col).expect("picked").unique = true;
    } else {
        let name = c.chance(40).then(|| m.fresh("uq"));
        m.tables[i].uniques.push(Key {
            name,
            cols: vec![col.clone()],
        });
    }
    m.changes.push(format!("add unique on {table}.{col}"));
    true
}

fn drop_unique(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &mut m.tables[i];
    if let Some(col) = t.cols.iter_mut().find(|col| col.unique) {
        col.unique = false;
        let (table, column) = (t.name.clone(), col.name.clone());
        m.changes.push(format!("drop unique on {table}.{column}"));
        return true;
    }
    if t.uniques.is_empty() {
        return false;
    }
    let k = c.below(t.uniques.len());
    let gone = t.uniques.remove(k);
    m.changes
        .push(format!("drop unique on {}.{}", t.name, gone.cols.join(",")));
    true
}

fn change_check(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &mut m.tables[i];
    if !t.checks.is_empty() && c.chance(40) {
        let gone = t.checks.remove(c.below(t.checks.len()));
        m.changes.push(format!("drop check {}", gone.name));
        return true;
    }
    let Some(col) = t
        .cols
        .iter()
        .find(|col| {
            col.ty.is_integer() && !col.identity && !t.checks.iter().any(|k| k.column == col.name)
        })
        .map(|col| col.name.clone())
    else {
        return false;
    };
    let name = format!("{}_{col}_check", t.name);
    t.checks.push(Chk {
        name: name.clone(),
        column: col,
    });
    m.changes.push(format!("add check {name}"));
    true
}

fn drop_foreign_key(m: &mut Model, c: &mut Choices) -> bool {
    let with_fk: Vec<(usize, String)> = m
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.cols
                .iter()
                .filter(|col| col.references.is_some())
                .map(move |col| (i, col.name.clone()))
        })
        .collect();
    let Some((i, col)) = c.pick(&with_fk).cloned() else {
        return false;
    };
    m.tables[i].col_mut(&col).expect("picked").references = None;
    m.changes
        .push(format!("drop foreign key of {}.{col}", m.tables[i].name));
    true
}

/// An index on `column` with some of what indexes can say: an expression key, a
/// predicate, key order, a method (PostgreSQL only where DSQL lacks it).
fn varied_index(mut index: Ix, column: &Col, postgres: bool, c: &mut Choices) -> Ix {
    if column.ty == Ty::Jsonb {
        index.unique = false;
        index.method = Some("gin");
        return index;
    }
    match c.below(8) {
        0 if matches!(column.ty, Ty::Text | Ty::Varchar(_)) => index.lower = true,
        1 if column.nullable => index.partial = true,
        2 => index.nulls_first = true,
        3 if postgres => index.desc = true,
        4 if postgres && !index.unique => index.method = Some("hash"),
        _ => {}
    }
    index
}

/// A table gets two nullable columns and a foreign key over them to a table whose key is
/// two columns, with the options foreign keys can have.
fn add_composite_foreign_key(m: &mut Model, c: &mut Choices) -> bool {
    let targets: Vec<(String, [String; 2])> = m
        .tables
        .iter()
        .filter(|t| t.pk.len() == 2)
        .map(|t| (t.name.clone(), [t.pk[0].clone(), t.pk[1].clone()]))
        .collect();
    let Some((target, ref_cols)) = c.pick(&targets).cloned() else {
        return false;
    };
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let types: Vec<Ty> = {
        let t = m.table(&target).expect("picked");
        ref_cols
            .iter()
            .map(|k| t.col(k).expect("key column").ty.clone())
            .collect()
    };
    let cols = [m.fresh("f"), m.fresh("f")];
    let deferrable = c.chance(40);
    let fk = Fk2 {
        cols: cols.clone(),
        table: target.clone(),
        ref_cols,
        on_delete: if c.chance(40) { Some("cascade") } else { None },
        match_full: c.chance(40),
        deferrable,
        initially_deferred: deferrable && c.chance(50),
    };
    let t = &mut m.tables[i];
    for (name, ty) in cols.iter().zip(types) {
        let mut col = Col::new(name.clone(), ty);
        col.nullable = true;
        t.cols.push(col);
    }
    m.changes
        .push(format!("add foreign key {fk:?} on {}", t.name));
    t.fks.push(fk);
    true
}

fn drop_composite_foreign_key(m: &mut Model, c: &mut Choices) -> bool {
    let with: Vec<usize> = (0..m.tables.len())
        .filter(|&i| !m.tables[i].fks.is_empty())
        .collect();
    let Some(&i) = c.pick(&with) else {
        return false;
    };
    let t = &mut m.tables[i];
    let gone = t.fks.remove(c.below(t.fks.len()));
    m.changes.push(format!(
        "drop foreign key over {:?} of {}",
        gone.cols, t.name
    ));
    true
}

/// An identity column turns ALWAYS or BY DEFAULT, takes another cache, or counts the
/// other way (PostgreSQL only: DSQL refuses changing an identity).
fn change_identity(m: &mut Model, c: &mut Choices) -> bool {
    if !m.postgres {
        return false;
    }
    let with: Vec<(usize, String)> = m
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.cols
                .iter()
                .filter(|x| x.identity)
                .map(move |x| (i, x.name.clone()))
        })
        .collect();
    let Some((i, name)) = c.pick(&with).cloned() else {
        return false;
    };
    let table = m.tables[i].name.clone();
    let col = m.tables[i].col_mut(&name).expect("picked");
    match c.below(3) {
        0 => col.always = !col.always,
        1 => col.big_cache = !col.big_cache,
        _ => col.counts_down = !col.counts_down,
    }
    m.changes.push(format!(
        "change the identity of {table}.{name} (always {}, big cache {}, counts down {})",
        col.always, col.big_cache, col.counts_down
    ));
    true
}

/// A text column takes the C collation, or gives it up (PostgreSQL only).
fn change_collation(m: &mut Model, c: &mut Choices) -> bool {
    if !m.postgres {
        return false;
    }
    let with: Vec<(usize, String)> = m
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.cols
                .iter()
                .filter(|x| x.ty == Ty::Text)
                .map(move |x| (i, x.name.clone()))
        })
        .collect();
    let Some((i, name)) = c.pick(&with).cloned() else {
        return false;
    };
    let table = m.tables[i].name.clone();
    let col = m.tables[i].col_mut(&name).expect("picked");
    col.collate_c = !col.collate_c;
    m.changes
        .push(format!("collate {table}.{name} C: {}", col.collate_c));
    true
}

/// A bigint key becomes an identity column (its rows keep their values).
fn make_identity(m: &mut Model, c: &mut Choices) -> bool {
    let candidates: Vec<usize> = (0..m.tables.len())
        .filter(|&i| {
            let t = &m.tables[i];
            t.pk.len() == 1
                && t.col(&t.pk[0]).is_some_and(|k| {
                    k.ty == Ty::Bigint
                        && !k.identity
                        && k.default.is_none()
                        && k.references.is_none()
                })
        })
        .collect();
    let Some(&i) = c.pick(&candidates) else {
        return false;
    };
    let t = &mut m.tables[i];
    let key = t.pk[0].clone();
    let column = t.col_mut(&key).expect("key column");
    column.identity = true;
    column.always = c.chance(30) && m.postgres;
    let table = t.name.clone();
    m.changes.push(format!("make {table}.{key} identity"));
    true
}

/// A unique or index gets a name of its own (or another one).
fn rename_named(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let (uniques, indexes) = (m.tables[i].uniques.len(), m.tables[i].indexes.len());
    if uniques + indexes == 0 {
        return false;
    }
    let k = c.below(uniques + indexes);
    let name = m.fresh(if k < uniques { "uq" } else { "ix" });
    let t = &mut m.tables[i];
    let table = t.name.clone();
    if k < uniques {
        t.uniques[k].name = Some(name.clone());
    } else {
        t.indexes[k - uniques].name = Some(name.clone());
    }
    m.changes
        .push(format!("rename a unique or index of {table} to {name}"));
    true
}

fn change_primary_key(m: &mut Model, c: &mut Choices) -> bool {
    let Some(i) = pick_table(m, c) else {
        return false;
    };
    let t = &m.tables[i];
    if t.pk.len() != 1 || !m.referencing(&t.name, &t.pk[0]).is_empty() {
        return false;
    }
    let Some(extra) = t
        .cols
        .iter()
        .find(|col| {
            !col.nullable && !t.pk.contains(&col.name) && col.distinct && col.references.is_none()
        })
        .map(|col| col.name.clone())
    else {
        return false;
    };
    let table = t.name.clone();
    m.tables[i].pk.push(extra.clone());
    m.changes
        .push(format!("widen the primary key of {table} with {extra}"));
    true
}

/// The Rust source of the model, in the schema language.
pub fn render(m: &Model) -> String {
    let mut out = String::from("// generated by the evolution tests\n");
    for e in &m.enums {
        let mut attrs = vec![format!("name = \"e{}\"", e.k)];
        if !e.allow_drop.is_empty() {
            attrs.push(format!(
                "allow_drop({})",
                e.allow_drop
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        writeln!(
            out,
            "\n#[derive(Enum)]\n#[enum_type({})]\npub enum E{} {{",
            attrs.join(", "),
            e.k
        )
        .unwrap();
        for v in &e.values {
            let renamed = e
                .renames
                .iter()
                .find(|(new, _)| new == v)
                .map(|(_, old)| format!(", renamed_from = \"{old}\""))
                .unwrap_or_default();
            writeln!(
                out,
                "    #[value(name = \"{v}\"{renamed})]\n    {},",
                v.to_uppercase()
            )
            .unwrap();
        }
        out.push_str("}\n");
    }
    for t in &m.tables {
        out.push_str("\n#[derive(Table)]\n");
        let mut table_attr = match t.name.split_once('.') {
            Some((schema, bare)) => format!("name = \"{bare}\", schema = \"{schema}\""),
            None => format!("name = \"{}\"", t.name),
        };
        if let Some(from) = &t.renamed_from {
            write!(
                table_attr,
                ", renamed_from = \"{}\"",
                from.rsplit('.').next().unwrap_or(from)
            )
            .unwrap();
        }
        if !t.allow_drop.is_empty() {
            write!(table_attr, ", allow_drop({})", t.allow_drop.join(", ")).unwrap();
        }
        writeln!(out, "#[table({table_attr})]").unwrap();
        if t.pk.len() > 1 {
            writeln!(out, "#[primary_key(columns({}))]", t.pk.join(", ")).unwrap();
        }
        for u in &t.uniques {
            let name = u
                .name
                .as_ref()
                .map(|n| format!(", name = \"{n}\""))
                .unwrap_or_default();
            writeln!(out, "#[unique(columns({}){name})]", u.cols.join(", ")).unwrap();
        }
        for x in &t.indexes {
            let unique = if x.unique { ", unique" } else { "" };
            let name = x
                .name
                .as_ref()
                .map(|n| format!(", name = \"{n}\""))
                .unwrap_or_default();
            let mut keys: Vec<String> = x.cols.clone();
            if x.lower {
                keys[0] = format!("\"lower({})\"", keys[0]);
            }
            if x.desc {
                keys[0].push_str(" desc");
            }
            if x.nulls_first {
                keys[0].push_str(" nulls_first");
            }
            let mut extra = String::new();
            if let Some(method) = x.method {
                write!(extra, ", method = \"{method}\"").unwrap();
            }
            if !x.include.is_empty() {
                write!(extra, ", include({})", x.include.join(", ")).unwrap();
            }
            if x.partial {
                write!(extra, ", where = \"{} IS NOT NULL\"", x.cols[0]).unwrap();
            }
            writeln!(
                out,
                "#[index(columns({}){unique}{extra}{name})]",
                keys.join(", ")
            )
            .unwrap();
        }
        for fk in &t.fks {
            let mut options = String::new();
            if let Some(action) = fk.on_delete {
                write!(options, ", on_delete = \"{action}\"").unwrap();
            }
            for (flag, on) in [
                ("match_full", fk.match_full),
                ("deferrable", fk.deferrable),
                ("initially_deferred", fk.initially_deferred),
            ] {
                if on {
                    write!(options, ", {flag}").unwrap();
                }
            }
            writeln!(
                out,
                "#[foreign_key(columns({}), references = \"{}({})\"{options})]",
                fk.cols.join(", "),
                fk.table,
                fk.ref_cols.join(", ")
            )
            .unwrap();
        }
        for k in &t.checks {
            writeln!(
                out,
                "#[check(name = \"{}\", expr = \"{} >= 0\")]",
                k.name, k.column
            )
            .unwrap();
        }
        writeln!(out, "pub struct {} {{", rust_name(&t.name)).unwrap();
        for col in &t.cols {
            let (rust, sql_type) = col.ty.rust();
            let mut attrs: Vec<String> = Vec::new();
            if t.pk.len() == 1 && t.pk[0] == col.name {
                attrs.push("primary_key".into());
            }
            if col.identity {
                let mut options = Vec::new();
                if col.always {
                    options.push("always".to_owned());
                }
                if col.big_cache {
                    options.push("cache = 65536".to_owned());
                }
                if col.counts_down {
                    options.push("increment = -1".to_owned());
                }
                attrs.push(if options.is_empty() {
                    "identity".into()
                } else {
                    format!("identity({})", options.join(", "))
                });
            }
            if col.collate_c {
                attrs.push("collation = \"C\"".into());
            }
            if col.unique {
                attrs.push("unique".into());
            }
            if let Some(s) = sql_type.filter(|_| !col.identity) {
                attrs.push(format!("sql_type = \"{s}\""));
            }
            if let Ty::Enum(k) = col.ty {
                attrs.push(format!("enum_type = \"e{k}\""));
            }
            if let Some(d) = &col.default {
                attrs.push(format!("default = \"{}\"", d.replace('"', "\\\"")));
            }
            if let Some(f) = &col.fill {
                attrs.push(format!("fill = \"{}\"", f.replace('"', "\\\"")));
            }
            if let Some(from) = &col.renamed_from {
                attrs.push(format!("renamed_from = \"{from}\""));
            }
            if let Some(r) = &col.references {
                attrs.push(format!("references = \"{}.{}\"", r.table, r.column));
                if let Some(action) = r.on_delete {
                    attrs.push(format!("on_delete = \"{action}\""));
                }
            }
            if !attrs.is_empty() {
                writeln!(out, "    #[column({})]", attrs.join(", ")).unwrap();
            }
            let rust = match col.ty {
                Ty::Enum(k) => format!("E{k}"),
                _ if col.identity => "i64".to_owned(),
                _ => rust.to_owned(),
            };
            let ty = if col.nullable {
                format!("Option<{rust}>")
            } else {
                rust
            };
            writeln!(out, "    pub {}: {ty},", col.name).unwrap();
        }
        out.push_str("}\n");
    }
    out
}

fn rust_name(table: &str) -> String {
    let table = table.replace('.', "_");
    let mut chars = table.chars();
    chars
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Rows to insert after a step: `INSERT .. SELECT .. FROM generate_series` statements of at
/// most 1,000 rows, targets before the tables that reference them. `counts` holds the rows
/// each table has (its keys are 1..=count for generated keys); it is updated.
pub fn inserts(
    m: &Model,
    counts: &mut BTreeMap<String, i64>,
    rows: &BTreeMap<String, i64>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<&Tbl> = m.tables.iter().collect();
    while !pending.is_empty() {
        let ready: Vec<&Tbl> = pending
            .iter()
            .copied()
            .filter(|t| {
                t.cols.iter().all(|c| {
                    c.references
                        .as_ref()
                        .is_none_or(|r| r.table == t.name || done.contains(&r.table) || c.nullable)
                }) && t
                    .fks
                    .iter()
                    .all(|fk| fk.table == t.name || done.contains(&fk.table))
            })
            .collect();
        let batch = if ready.is_empty() {
            vec![pending[0]]
        } else {
            ready
        };
        for t in batch {
            pending.retain(|p| p.name != t.name);
            done.insert(t.name.clone());
            let n = rows.get(&t.name).copied().unwrap_or(0);
            let have = counts.get(&t.name).copied().unwrap_or(0);
            let mut start = have + 1;
            while start <= have + n {
                let end = (start + 999).min(have + n);
                // A required reference to an empty table: no rows for this one yet.
                let Some(sql) = insert(t, m, counts, start, end) else {
                    break;
                };
                out.push(sql);
                counts.insert(t.name.clone(), end);
                start = end + 1;
            }
        }
    }
    out
}

fn insert(
    t: &Tbl,
    m: &Model,
    counts: &BTreeMap<String, i64>,
    from: i64,
    to: i64,
) -> Option<String> {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for col in &t.cols {
        if col.identity {
            continue;
        }
        let g = "g";
        let composite = t
            .fks
            .iter()
            .find_map(|fk| fk.cols.iter().position(|x| *x == col.name).map(|k| (fk, k)));
        let value = if let Some((fk, k)) = composite {
            // Both columns from one parent row (ordered by its key), or both NULL.
            let target_rows = counts.get(&fk.table).copied().unwrap_or(0);
            if fk.table == t.name || target_rows == 0 || m.table(&fk.table).is_none() {
                "NULL".to_owned()
            } else {
                let order = format!("\"{}\", \"{}\"", fk.ref_cols[0], fk.ref_cols[1]);
                format!(
                    "CASE WHEN {g} % 5 = 0 THEN NULL ELSE (SELECT \"{}\" FROM {} ORDER BY {order} OFFSET ({g} % {target_rows}) LIMIT 1) END",
                    fk.ref_cols[k],
                    sql_table(&fk.table)
                )
            }
        } else if let Some(r) = &col.references {
            let target_rows = counts.get(&r.table).copied().unwrap_or(0);
            let usable = r.table != t.name && target_rows > 0 && m.table(&r.table).is_some();
            if !usable {
                if !col.nullable {
                    return None;
                }
                "NULL".to_owned()
            } else {
                let pick = format!(
                    "(SELECT \"{}\" FROM {} ORDER BY 1 OFFSET ({g} % {target_rows}) LIMIT 1)",
                    r.column,
                    sql_table(&r.table)
                );
                if col.nullable {
                    format!("CASE WHEN {g} % 5 = 0 THEN NULL ELSE {pick} END")
                } else {
                    pick
                }
            }
        } else if t.pk.contains(&col.name) && col.ty == Ty::Smallint && !col.distinct {
            format!("({g} % 7)::smallint")
        } else if let Ty::Enum(k) = col.ty {
            let value = enum_value(m, k, g);
            if col.nullable {
                format!("CASE WHEN {g} % 4 = 0 THEN NULL ELSE {value} END")
            } else {
                value
            }
        } else if col.nullable && !col.unique {
            format!(
                "CASE WHEN {g} % 4 = 0 THEN NULL ELSE {} END",
                col.ty.value(g)
            )
        } else {
            col.ty.value(g)
        };
        columns.push(format!("\"{}\"", col.name));
        values.push(value);
    }
    if columns.is_empty() {
        return Some(format!(
            "INSERT INTO {} SELECT FROM generate_series({from}, {to})",
            sql_table(&t.name)
        ));
    }
    Some(format!(
        "INSERT INTO {} ({}) SELECT {} FROM generate_series({from}, {to}) g",
        sql_table(&t.name),
        columns.join(", "),
        values.join(", ")
    ))
}

/// A table's name as SQL: `"t"`, or `"s"."t"` outside `public`.
pub fn sql_table(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(".")
}
