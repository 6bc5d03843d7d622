//! The crate's layout holds its pipeline order (DESIGN.md §1), checked two ways:
//!
//! * **stages**: each top-level module is a stage, written down in [`STAGES`] in pipeline
//!   order, and a stage may use only the stages before it: `sql` may not name `compile`
//!   even where no file cycle results. Inside a stage that is split in rooms ([`ROOMS`]),
//!   the rooms obey their own written order the same way;
//! * **files**: no module (file) uses one that uses it back, within a stage too.
//!
//! Edges come from the paths written in the source (`crate::..`, `super::..`, `use` lists);
//! a module and its own parent or children are one unit (a `mod.rs` declares and uses its
//! children). Test code is not the crate's: a file's `#[cfg(test)] mod tests`, which closes
//! it by convention, and modules declared under `#[cfg(test)]` (shared test fixtures) add
//! no edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `compile::plan` for `core/src/compile/plan.rs`, `runner` for `core/src/runner/mod.rs`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// A file without its unit tests: everything from `#[cfg(test)]` before `mod tests`.
fn shipped(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests"))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// The modules a file declares under `#[cfg(test)]`: `compile::fixtures` for
/// `#[cfg(test)] pub(crate) mod fixtures;` in `compile/mod.rs`.
fn test_only_modules(module: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]" && w[1].ends_with(';'))
        .filter_map(|w| {
            w[1].trim_end_matches(';')
                .rsplit_once("mod ")
                .map(|(_, name)| name.trim().to_owned())
        })
        .map(|name| {
            if module.is_empty() {
                name
            } else {
                format!("{module}::{name}")
            }
        })
        .collect()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every path a file's `use` items name, read with syn so that nested lists
/// (`crate::{a::{b, c::d}, e}`), `self` and chains of `super` resolve exactly:
/// `crate::..` from the crate root, `super::..` from the module above (once per `super`),
/// `self::..` from the module itself. Paths that start elsewhere (an external crate, a
/// child module) add no edge between stages. Together with [`referenced`], which also
/// sees paths written outside `use` (in expressions, types and macros), nothing a file
/// names escapes the scan.
fn used(module: &str, text: &str) -> Vec<String> {
    fn leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                leaves(&p.tree, prefix, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut path = prefix.clone();
                if n.ident != "self" {
                    path.push(n.ident.to_string());
                }
                out.push(path);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                out.push(path);
            }
            syn::UseTree::Glob(_) => out.push(prefix.clone()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    leaves(tree, prefix, out);
                }
            }
        }
    }
    struct Uses(Vec<Vec<String>>);
    impl<'ast> syn::visit::Visit<'ast> for Uses {
        fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
            leaves(&item.tree, &mut Vec::new(), &mut self.0);
        }
    }
    let Ok(file) = syn::parse_file(text) else {
        return Vec::new();
    };
    let mut uses = Uses(Vec::new());
    syn::visit::Visit::visit_file(&mut uses, &file);
    let own: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    uses.0
        .iter()
        .filter_map(|path| {
            let mut segments = path.iter().map(String::as_str).peekable();
            let mut base: Vec<&str> = match segments.peek() {
                Some(&"crate") => {
                    segments.next();
                    Vec::new()
                }
                Some(&"super") | Some(&"self") => own.clone(),
                _ => return None,
            };
            while let Some(&first) = segments.peek() {
                match first {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            base.extend(segments);
            Some(base.join("::"))
        })
        .collect()
}

/// Every module path a file names: `crate::a::b::item` → `a::b::item`, `super::x` resolved
/// against the file's module, and the names inside `{..}` lists.
fn referenced(module: &str, is_mod_file: bool, text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let own: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    // `super` from a mod.rs is the parent of the module; from a file, the module's parent too.
    let parent: Vec<&str> = if is_mod_file || own.is_empty() {
        own[..own.len().saturating_sub(1)].to_vec()
    } else {
        own[..own.len() - 1].to_vec()
    };
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut full = base.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            full.extend(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            // `use crate::a::{b, c::d}`: each name inside the braces (`a` itself is not
            // used, only the path to them).
            let tail = &after[path.len()..];
            if !(tail.starts_with('{') && path.ends_with("::")) {
                out.push(full.join("::"));
            } else {
                let inner: String = tail[1..].chars().take_while(|c| *c != '}').collect();
                for name in inner.split(',') {
                    let name = name.trim().split(" as ").next().unwrap_or("").trim();
                    if name == "self" {
                        out.push(full.join("::"));
                    } else if !name.is_empty() {
                        out.push(format!("{}::{name}", full.join("::")));
                    }
                }
            }
            rest = &after[path.len()..];
        }
    }
    out
}

/// The stages, in pipeline order: each may use those before it, never one after it.
const STAGES: &[&str] = &[
    "error", "dialect", "sql", "schema", "compile", "project", "generate", "review", "runner",
];

/// Stages split in rooms, each with its rooms in order (a room uses only those before it).
/// A file directly in the stage's folder (its `mod.rs`, the façade) may use every room.
const ROOMS: &[(&str, &[&str])] = &[("runner", &["base", "source", "engine", "tools"])];

/// One source file: its module path, whether it is a `mod.rs`/`lib.rs`, and its text.
struct SourceFile {
    module: String,
    is_mod: bool,
    text: String,
}

/// The crate's shipped files (test-only modules left out).
fn crate_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &mut all);
    let test_only: BTreeSet<String> = all
        .iter()
        .flat_map(|f| test_only_modules(&module_of(&root, f), &std::fs::read_to_string(f).unwrap()))
        .collect();
    assert!(
        test_only.contains("compile::fixtures"),
        "the scan finds test-only modules: {test_only:?}"
    );
    all.iter()
        .filter(|f| !test_only.contains(&module_of(&root, f)))
        .map(|f| SourceFile {
            module: module_of(&root, f),
            is_mod: f.file_stem().is_some_and(|s| s == "mod" || s == "lib"),
            text: shipped(&std::fs::read_to_string(f).unwrap()),
        })
        .collect()
}

/// Module → the modules it uses (outside its own parent/child line).
fn edges_of(files: &[SourceFile]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
    let related = |a: &str, b: &str| {
        a == b
            || a.is_empty()
            || b.is_empty()
            || a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let mut paths = referenced(&file.module, file.is_mod, &file.text);
        paths.extend(used(&file.module, &file.text));
        for path in paths {
            // The longest module the path starts with.
            let mut parts: Vec<&str> = path.split("::").collect();
            while !parts.is_empty() && !modules.contains(parts.join("::").as_str()) {
                parts.pop();
            }
            let target = parts.join("::");
            // A room naming the façade of its own stage is an edge: the façade uses the
            // rooms, never the other way.
            let facade = ROOMS.iter().any(|(stage, _)| *stage == target)
                && file.module.starts_with(&format!("{target}::"));
            if !target.is_empty() && (facade || !related(&file.module, &target)) {
                edges.entry(file.module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// The first cycle among modules, if any.
fn module_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

/// Where a module stands in the written order: its stage's rank, then (in a stage split
/// in rooms) its room's rank, `None` for the stage's own top files (the façade).
fn rank(module: &str) -> Result<(usize, Option<usize>), String> {
    let mut parts = module.split("::");
    let stage = parts.next().unwrap_or("");
    let at = STAGES.iter().position(|s| *s == stage).ok_or_else(|| {
        format!("`{module}` is in no stage of STAGES: place `{stage}` in the order")
    })?;
    let Some((_, rooms)) = ROOMS.iter().find(|(s, _)| *s == stage) else {
        return Ok((at, None));
    };
    match parts.next() {
        None => Ok((at, None)),
        Some(room) => rooms
            .iter()
            .position(|r| *r == room)
            .map(|r| (at, Some(r)))
            .ok_or_else(|| {
                format!("`{module}` is in no room of `{stage}`: place `{room}` in ROOMS")
            }),
    }
}

/// Every edge that goes against the written order, as `from -> to`, and every module the
/// order does not place.
fn order_violations(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, targets) in edges {
        if from.is_empty() {
            continue;
        }
        let from_rank = match rank(from) {
            Ok(r) => r,
            Err(why) => {
                out.push(why);
                continue;
            }
        };
        for to in targets {
            let to_rank = match rank(to) {
                Ok(r) => r,
                Err(why) => {
                    out.push(why);
                    continue;
                }
            };
            let back = match (from_rank, to_rank) {
                ((a, _), (b, _)) if a != b => b > a,
                // Within a stage: a room may not use a later room or the façade above it.
                ((_, Some(a)), (_, Some(b))) => b > a,
                ((_, Some(_)), (_, None)) => true,
                _ => false,
            };
            if back {
                out.push(format!("{from} -> {to}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_core_crate_keeps_its_stage_order() {
    let edges = edges_of(&crate_files());
    let violations = order_violations(&edges);
    assert!(
        violations.is_empty(),
        "edges against the pipeline order (STAGES, ROOMS):\n{}",
        violations.join("\n")
    );
    assert!(
        edges
            .get("compile::plan")
            .is_some_and(|e| e.contains("dialect")),
        "the scan finds edges between stages: {:?}",
        edges.get("compile::plan")
    );
}

/// A deliberate back edge, in a made-up tree: `sql::split` naming the planner. No file
/// cycle results (the planner uses `sql::ident`, not `sql::split`), so only the stage
/// order can catch it.
#[test]
fn a_back_edge_between_stages_fails_the_layout_test() {
    let tree = |split_text: &str| {
        vec![
            SourceFile {
                module: "sql::split".into(),
                is_mod: false,
                text: split_text.into(),
            },
            SourceFile {
                module: "sql::ident".into(),
                is_mod: false,
                text: "pub fn quote() {}".into(),
            },
            SourceFile {
                module: "compile::plan".into(),
                is_mod: false,
                text: "use crate::sql::ident::quote;\nuse crate::dialect::Dialect;".into(),
            },
            SourceFile {
                module: "dialect".into(),
                is_mod: false,
                text: "pub enum Dialect {}".into(),
            },
        ]
    };
    let clean = edges_of(&tree("pub fn cut() {}"));
    assert_eq!(order_violations(&clean), Vec::<String>::new());
    let crossed = edges_of(&tree(
        "use crate::compile::plan::PlannedStatement;\npub fn cut() {}",
    ));
    assert_eq!(module_cycle(&crossed), None, "no file cycle in the fixture");
    assert_eq!(
        order_violations(&crossed),
        vec!["sql::split -> compile::plan".to_owned()]
    );
    // A stage missing from the written order is named too.
    let unplaced = edges_of(&[
        SourceFile {
            module: "render::svg".into(),
            is_mod: false,
            text: "use crate::sql::ident::quote;".into(),
        },
        SourceFile {
            module: "sql::ident".into(),
            is_mod: false,
            text: String::new(),
        },
    ]);
    assert!(order_violations(&unplaced)[0].contains("place `render`"));
    // Nested lists and chains of `super` are read exactly: each hides a back edge.
    for text in [
        "use crate::{dialect::Dialect, compile::{plan::Plan, ops}};",
        "use super::super::compile::plan;",
        "use crate::sql::{ident, self as s};\nuse self::super::super::compile::plan as p;",
    ] {
        let edges = edges_of(&[
            SourceFile {
                module: "sql::split".into(),
                is_mod: false,
                text: text.into(),
            },
            SourceFile {
                module: "compile::plan".into(),
                is_mod: false,
                text: String::new(),
            },
            SourceFile {
                module: "sql::ident".into(),
                is_mod: false,
                text: String::new(),
            },
            SourceFile {
                module: "dialect".into(),
                is_mod: false,
                text: String::new(),
            },
        ]);
        assert!(
            order_violations(&edges).contains(&"sql::split -> compile::plan".to_owned()),
            "{text}: {:?}",
            order_violations(&edges)
        );
    }
    // Inside the runner, a room before the engine may not use it, nor the façade above.
    let room = |text: &str| {
        edges_of(&[
            SourceFile {
                module: "runner::base::retry".into(),
                is_mod: false,
                text: text.into(),
            },
            SourceFile {
                module: "runner::engine".into(),
                is_mod: true,
                text: "use crate::runner::base::retry::retrying;".into(),
            },
            SourceFile {
                module: "runner".into(),
                is_mod: true,
                text: "pub use engine::Migrator;".into(),
            },
        ])
    };
    assert_eq!(
        order_violations(&room("use crate::runner::engine::Migrator;")),
        vec!["runner::base::retry -> runner::engine".to_owned()]
    );
    assert_eq!(
        order_violations(&room("use crate::runner::Migrator;")),
        vec!["runner::base::retry -> runner".to_owned()]
    );
}

#[test]
fn the_core_crate_has_no_module_cycle() {
    let edges = edges_of(&crate_files());
    if let Some(cycle) = module_cycle(&edges) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
    assert!(
        edges
            .get("compile::plan")
            .is_some_and(|e| e.contains("sql::ident")),
        "the scan finds edges: {:?}",
        edges.get("compile::plan")
    );
}
