//! The crate's modules form no cycle: each module (file) may use those of earlier pipeline
//! stages and its own, never one that uses it back. Edges come from the paths written in
//! the source (`crate::..`, `super::..`, `use` lists); a module and its own parent or
//! children are one unit (a `mod.rs` declares and uses its children). Test code is not
//! the crate's: a file's `#[cfg(test)] mod tests`, which closes it by convention, and
//! modules declared under `#[cfg(test)]` (shared test fixtures) add no edge.

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
            out.push(full.join("::"));
            // `use crate::a::{b, c::d}`: each name inside the braces.
            let tail = &after[path.len()..];
            if tail.starts_with('{') && path.ends_with("::") {
                let inner: String = tail[1..].chars().take_while(|c| *c != '}').collect();
                for name in inner.split(',') {
                    let name = name.trim().split(" as ").next().unwrap_or("").trim();
                    if !name.is_empty() && name != "self" {
                        out.push(format!("{}::{name}", full.join("::")));
                    }
                }
            }
            rest = &after[path.len()..];
        }
    }
    out
}

#[test]
fn the_core_crate_has_no_module_cycle() {
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
    all.retain(|f| !test_only.contains(&module_of(&root, f)));
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(&root, f)).collect();
    let related = |a: &str, b: &str| {
        a == b
            || a.is_empty()
            || b.is_empty()
            || a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let module = module_of(&root, file);
        let is_mod = file.file_stem().is_some_and(|s| s == "mod" || s == "lib");
        for path in referenced(
            &module,
            is_mod,
            &shipped(&std::fs::read_to_string(file).unwrap()),
        ) {
            // The longest module the path starts with.
            let mut parts: Vec<&str> = path.split("::").collect();
            while !parts.is_empty() && !modules.contains(&parts.join("::")) {
                parts.pop();
            }
            let target = parts.join("::");
            if !target.is_empty() && !related(&module, &target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a back edge; report the cycle.
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
    for m in &modules {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(
        edges
            .get("compile::plan")
            .is_some_and(|e| e.contains("sql::ident")),
        "the scan finds edges: {:?}",
        edges.get("compile::plan")
    );
}
