//! The driver's layers, checked from its own source: every `crate::` or
//! `super::` path in every module must point to its own layer or one below,
//! and modules must not import each other in a circle. The README's
//! "Architecture" section draws the same table.
//!
//! A path is resolved to the longest module prefix in `LAYERS`; `super::`
//! paths are resolved against the file's own module path first. Comments and
//! doc comments are skipped (intra-doc links are not imports), and so are the
//! unit-test modules at the end of files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module path prefix -> layer (0 = bottom). The crate root (`lib.rs`), which
/// only declares modules and re-exports, is not checked.
const LAYERS: &[(&str, u32)] = &[
    ("sys", 0),
    ("mac", 0),
    ("pci::address", 0),
    ("error", 0),
    ("pci", 1),
    ("vfio", 1),
    ("dma", 2),
    ("device", 3),
    ("net", 4),
    ("binding", 4),
    ("file_tx", 5),
    ("test_hooks", 6),
];

fn layer_of(module: &str) -> Option<(&'static str, u32)> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(p, l)| (p, l))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/device/e1000/tx.rs` -> ["device", "e1000", "tx"]; a `mod.rs` is its folder.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The module part of a path: its leading lowercase segments.
fn module_segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or(""))
        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .map(String::from)
        .collect()
}

/// Every module path this source imports through `crate::` or `super::`.
fn imports(source: &str, own: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue; // `zcnic_crate::`, or the second `super::` of a chain
            }
            let tail = &code[at..];
            let mut full = Vec::new();
            let rest = if let Some(r) = tail.strip_prefix("crate::") {
                r
            } else {
                full = own.to_vec();
                let mut t = tail;
                while let Some(r) = t.strip_prefix("super::") {
                    full.pop();
                    t = r;
                }
                t
            };
            full.extend(module_segments(rest));
            if !full.is_empty() {
                found.insert(full.join("::"));
            }
        }
    }
    found
}

#[test]
fn every_import_points_down_and_no_modules_import_in_a_circle() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} source files under {}", files.len(), src.display());
    let mut upward = Vec::new();
    let mut unknown = BTreeSet::new();
    let mut edges: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for file in &files {
        let own = module_path(&src, file);
        if own == ["lib"] {
            continue;
        }
        let own_name = own.join("::");
        let Some((from, from_layer)) = layer_of(&own_name) else {
            unknown.insert(own_name);
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        // Unit tests (an inline `mod tests` at the end, where `super` means
        // the file's own module) are not part of the layering.
        let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or("");
        for target in imports(code, &own) {
            let Some((to, to_layer)) = layer_of(&target) else {
                unknown.insert(format!("{target} (imported by {own_name})"));
                continue;
            };
            if to_layer > from_layer {
                upward.push(format!("{own_name} (layer {from_layer}) imports {target} (layer {to_layer})"));
            }
            if to != from {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    assert!(unknown.is_empty(), "modules with no layer in LAYERS: {unknown:?}");
    assert!(upward.is_empty(), "imports that point up:\n{}", upward.join("\n"));
    if let Some(cycle) = find_cycle(&edges) {
        panic!("modules import each other in a circle: {}", cycle.join(" -> "));
    }
}

/// A circle in the import graph, if there is one (depth-first search).
fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = stack.iter().position(|s| *s == n) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        let found = edges.get(n).into_iter().flatten().find_map(|m| visit(m, edges, done, stack));
        stack.pop();
        found
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut done, &mut Vec::new()))
}

#[test]
fn the_checker_can_fail() {
    // An upward import, a commented one (ignored) and a `super::` path.
    let own: Vec<String> = ["device", "e1000", "tx"].map(String::from).to_vec();
    let found = imports("use crate::file_tx::FileSend;\n// use crate::net::arp;\nlet a = super::regs::CTRL;", &own);
    assert_eq!(found, BTreeSet::from(["file_tx".to_string(), "device::e1000::regs".to_string()]));
    assert!(layer_of("file_tx").unwrap().1 > layer_of("device::e1000::tx").unwrap().1);
    let circle = BTreeMap::from([("pci", BTreeSet::from(["vfio"])), ("vfio", BTreeSet::from(["pci"]))]);
    assert_eq!(find_cycle(&circle), Some(vec!["pci", "vfio", "pci"]));
}
