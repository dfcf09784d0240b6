//! The architecture rules, checked on the source: the top-level modules of the library form no
//! import cycle (each layer can be understood, tested and later replaced on its own), and each
//! external crate with a rule is imported by its one module only. Test code (`#[cfg(test)]`
//! sections) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file's code without its test section and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string (a URL) is rare in code lines; cutting there only
            // drops the rest of that line.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which top-level module a file belongs to (`src/acme/order.rs` -> `acme`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// Positions where `name::` starts a path (not `other_name::` or `x::name::`).
fn uses_crate(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    let bytes = code.as_bytes();
    code.match_indices(&needle).any(|(i, _)| {
        i == 0 || {
            let before = bytes[i - 1];
            !(before.is_ascii_alphanumeric() || before == b'_' || before == b':')
        }
    }) || code.contains(&format!("use {name};"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(&src());
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(from) = module_of(file) else {
            continue;
        };
        let code = code(file);
        for to in &modules {
            if *to == from {
                continue;
            }
            let direct = code.contains(&format!("crate::{to}::"))
                || code.contains(&format!("crate::{to};"))
                || code.contains(&format!("crate::{to} "));
            // `use crate::{a, b::c}` groups.
            let grouped = code.match_indices("use crate::{").any(|(i, _)| {
                let rest = &code[i + "use crate::{".len()..];
                let group = &rest[..rest.find("};").unwrap_or(rest.len())];
                group
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == to)
            });
            if direct || grouped {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    edges
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        edges: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(edges, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(edges, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let edges = graph();
    assert!(edges.len() > 15, "the scan found the modules: {edges:?}");
    // The scan sees real edges (so an empty graph cannot pass).
    assert!(edges["ops"].contains("lifecycle") && edges["cli"].contains("ops"));
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(&edges, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn each_crate_with_a_rule_is_imported_by_its_module_only() {
    let rules: [(&str, &[&str]); 14] = [
        ("sled", &["store/"]),
        // Records are encoded in one place, as the store's own frozen types; listings travel
        // through the control socket as a binary body.
        ("postcard", &["store/codec.rs", "ops/socket.rs"]),
        ("x509_parser", &["x509/"]),
        ("instant_acme", &["acme/"]),
        ("croner", &["schedule.rs"]),
        ("tls_parser", &["inventory/legacy.rs"]),
        ("ipnet", &["inventory/discover.rs"]),
        ("rustls_native_certs", &["roots.rs"]),
        ("lettre", &["alerts/email.rs"]),
        ("hickory_client", &["acme/challenge/wire/"]),
        ("quick_xml", &["acme/challenge/route53.rs"]),
        ("der_parser", &["inventory/starttls/"]),
        // Fleet mode's shared store: PostgreSQL through tokio-postgres and its rustls glue.
        ("tokio_postgres", &["fleet/"]),
        ("tokio_postgres_rustls", &["fleet/connect.rs"]),
    ];
    let mut wrong = Vec::new();
    for file in rust_files(&src()) {
        let rel = file
            .strip_prefix(src())
            .expect("under src")
            .display()
            .to_string();
        let code = code(&file);
        for (krate, owners) in rules {
            if uses_crate(&code, krate) && !owners.iter().any(|o| rel.starts_with(o)) {
                wrong.push(format!("{rel} imports {krate} (only {owners:?} may)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The rule is live: the owners really do import their crates.
    let store = code(&src().join("store/mod.rs"));
    assert!(uses_crate(&store, "sled"));
    assert!(uses_crate(
        &code(&src().join("fleet/connect.rs")),
        "tokio_postgres"
    ));
    assert!(!uses_crate("x509_parser::der_parser::ber", "der_parser"));
}
