//! Data flows one way through every crate of the workspace: no cycle of
//! `crate::` paths among the modules of `eval/src/`, nor of any other
//! member's `src/`. A crate that had to keep one for a while would be
//! listed with it ([`KNOWN_CYCLES`], empty today), so a new cycle
//! anywhere, or a changed one, fails.
//!
//! Each top-level module (`foo.rs` and `foo/`, or `foo/mod.rs`, with its
//! submodules) is a node; a `crate::bar` path anywhere in its code (a `use`, a
//! qualified path, a `use crate::{bar, baz}` group; not comments) is an
//! edge to `bar`. The test fails on the first cycle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::repo;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level module names of the crate rooted at `src`.
fn modules(src: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && name != "lib") {
            names.insert(name);
        }
    }
    names
}

/// The `crate::` targets named in `code` (comment lines skipped).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for (i, _) in line.match_indices("crate::") {
            // `w2s_crate::x` or `foo_crate::x` are not this crate.
            let before = line[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &line[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.insert(name.to_owned());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

/// The shipped code of every `.rs` file under `path` (a file, or a module
/// directory). Unit tests are not part of the graph: a `tests.rs` file is
/// skipped, and a file is read up to its first `#[cfg(test)]` line (unit
/// tests sit at the bottom of each file). A test may reach across modules
/// to check them together without that being a dependency of the code
/// that ships.
fn sources(path: &Path) -> Vec<String> {
    if path.is_dir() {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(path).unwrap() {
            all.extend(sources(&entry.unwrap().path()));
        }
        all
    } else if path.file_name().is_some_and(|n| n == "tests.rs") {
        Vec::new()
    } else {
        let code = std::fs::read_to_string(path).unwrap();
        let shipped = code
            .lines()
            .take_while(|line| line.trim() != "#[cfg(test)]")
            .collect::<Vec<_>>()
            .join("\n");
        vec![shipped]
    }
}

/// Module -> the modules of the same crate it names.
fn graph(src: &Path) -> Graph {
    let names = modules(src);
    let mut g = Graph::new();
    for name in &names {
        // `foo.rs` and its submodules in `foo/` (either may be absent).
        let paths = [src.join(format!("{name}.rs")), src.join(name)];
        let deps: BTreeSet<String> = paths
            .iter()
            .filter(|p| p.exists())
            .flat_map(|p| sources(p))
            .collect::<Vec<_>>()
            .iter()
            .flat_map(|code| crate_paths(code))
            .filter(|d| d != name && names.contains(d))
            .collect();
        g.insert(name.clone(), deps);
    }
    g
}

/// A cycle of `g`, as the list of its modules (first repeated at the end).
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for dep in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, dep, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

#[test]
fn the_parser_and_the_cycle_finder_see_what_they_must() {
    let code = "use crate::a::X;\nuse crate::{b, c::Y};\n// crate::commented\nlet x = crate::d::f();\nuse w2s_crate::e;\n";
    let paths: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(paths, ["a", "b", "c", "d"]);
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), BTreeSet::from([v.to_owned()])))
        .collect();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let mut dag = g.clone();
    dag.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&dag), None);
}

#[test]
fn the_evaluation_library_has_no_cycle_among_its_modules() {
    let g = graph(&repo().join("eval/src"));
    // The stages are all there, and the pipeline's edges were seen.
    for (from, to) in [
        ("evaluation", "sandboxed"),
        ("evaluation", "scoring"),
        ("sandboxed", "submission"),
        ("report", "scores"),
    ] {
        assert!(
            g.get(from).is_some_and(|d| d.contains(to)),
            "{from} -> {to} missing from {g:?}"
        );
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!("a cycle of imports: {}", cycle.join(" -> "));
    }
}

/// The crates whose modules still import each other in a circle, with the
/// first cycle the finder reports. Breaking one means removing its line
/// here. (host's, the largest, was broken by moving the call gate out of
/// the audit log into `imports/gate.rs` and the scratch directory's WASI
/// shadows into `imports/scratch_fs.rs`: the log, the state and the quota
/// no longer depend on the imports. taskbuild's and scorer's went with it:
/// a build's provenance became a submodule of the build, and the PGR
/// formula moved to `w2s_verdict`; cli's, when the arguments `eval` and
/// `suite` share moved to `eval_args`; train's, when the LoRA pieces
/// (backbone, tokens, recipe) became submodules of `lora` (the old paths
/// `lora_tokens` and `lora_recipe` are re-exports) and the `[lm]`
/// section's bundle reading moved next to the bundle reader.) None is
/// left; the list stays so that a cycle could be recorded while it is
/// broken. A module is `foo.rs` together with its submodules in `foo/`.
const KNOWN_CYCLES: [(&str, &str); 0] = [];

/// The workspace's member directories.
fn members() -> Vec<String> {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let list = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the workspace lists its members");
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn no_crate_has_a_new_cycle_among_its_modules() {
    let members = members();
    assert!(members.len() >= 13, "{members:?}");
    for member in &members {
        let g = graph(&repo().join(member).join("src"));
        let found = find_cycle(&g).map(|c| c.join(" -> "));
        let known = KNOWN_CYCLES
            .iter()
            .find(|(k, _)| k == member)
            .map(|(_, c)| (*c).to_owned());
        assert_eq!(
            found, known,
            "{member}: the cycle found differs from the one known"
        );
    }
}
