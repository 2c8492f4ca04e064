//! The source files' imports form no cycle: a file may reach the files it
//! names (`use crate::…`, `use super::…`, inline `crate::a::b::` paths),
//! and none of them may reach it back. A module's own `mod.rs` may name
//! its children (it is their front door), so those edges are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn sources(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src");
            let text = std::fs::read_to_string(&path).expect("read a source file");
            out.insert(rel.to_string_lossy().into_owned(), text);
        }
    }
}

/// The module path a file is (`ui/app.rs` → `ui::app`), and the one its
/// `super` means.
fn module_of(file: &str) -> (Vec<String>, Vec<String>) {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    let front = matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    );
    if front {
        parts.pop();
    }
    let mut parent = parts.clone();
    if !front {
        parent.pop();
    }
    // `super` inside a front door is its parent; inside a file, its dir.
    if front {
        parent.pop();
    }
    (parts, parent)
}

/// The file holding the longest prefix of a module path.
fn file_of(parts: &[String], files: &BTreeMap<String, String>) -> Option<String> {
    (1..=parts.len()).rev().find_map(|n| {
        let base = parts[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| files.contains_key(f))
    })
}

/// Every `crate::…` / `super::…` path in the code (tests and comments
/// left out), and each name of a `use …::{a, b::c}` group.
fn paths(text: &str) -> Vec<(bool, Vec<String>)> {
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let is_super = code[at..].starts_with("super");
        // "crate::" and "super::" are both seven characters long.
        let rest = &code[at + 7..];
        let group = rest.split_once('{').filter(|(head, _)| {
            head.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        let Some((head, tail)) = group else {
            found.push((is_super, segments(rest)));
            continue;
        };
        // `a::{b, c::D}` names `a::b` and `a::c::D`, not `a` itself.
        let prefix = segments(head);
        let inner = tail.split('}').next().unwrap_or_default();
        for item in inner.split(',') {
            let mut p = prefix.clone();
            p.extend(segments(item.trim()));
            found.push((is_super, p));
        }
    }
    found
}

fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in text.split("::") {
        let name: String = seg
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || name == "self" {
            break;
        }
        out.push(name.clone());
        if name.len() != seg.len() {
            break;
        }
    }
    out
}

fn graph(files: &BTreeMap<String, String>) -> Graph {
    let mut g = Graph::new();
    for (file, text) in files {
        let (_, parent) = module_of(file);
        let front = file.ends_with("mod.rs") || file == "lib.rs" || file == "main.rs";
        let dir = Path::new(file)
            .parent()
            .map(|d| d.to_string_lossy().into_owned());
        let edges = g.entry(file.clone()).or_default();
        for (is_super, mut parts) in paths(text) {
            let mut base = if is_super { parent.clone() } else { Vec::new() };
            while parts.first().is_some_and(|p| p == "super") {
                parts.remove(0);
                base.pop();
            }
            base.extend(parts);
            let Some(target) = file_of(&base, files) else {
                continue;
            };
            let child = match &dir {
                Some(d) if front && !d.is_empty() => target.starts_with(&format!("{d}/")),
                _ => front,
            };
            if target != *file && !child {
                edges.insert(target);
            }
        }
    }
    g
}

/// A file that reaches itself through others, if any: the cycle's path.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    for start in g.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in g.get(&at).into_iter().flatten() {
                if next == start {
                    let mut p = path.clone();
                    p.push(next.clone());
                    return Some(p);
                }
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    None
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "found the sources: {}", files.len());
    let g = graph(&files);
    // The check sees the imports it must: the app names its panes.
    assert!(
        g["ui/app.rs"].contains("ui/panes.rs"),
        "{:?}",
        g["ui/app.rs"]
    );
    if let Some(path) = cycle(&g) {
        panic!("an import cycle: {}", path.join(" → "));
    }
}

/// The check finds a cycle where there is one.
#[test]
fn a_cycle_is_found() {
    let mut files = BTreeMap::new();
    files.insert("a/one.rs".to_string(), "use super::two::X;".to_string());
    files.insert(
        "a/two.rs".to_string(),
        "fn f() { crate::a::one::g() }".to_string(),
    );
    files.insert("a/mod.rs".to_string(), "pub use one::g;".to_string());
    files.insert(
        "b.rs".to_string(),
        "use crate::a::{one, two::Y};".to_string(),
    );
    let g = graph(&files);
    assert!(g["a/mod.rs"].is_empty(), "a front door may name its rooms");
    assert_eq!(g["b.rs"].len(), 2);
    let found = cycle(&g).expect("a cycle");
    assert!(found.contains(&"a/one.rs".to_string()), "{found:?}");
}
