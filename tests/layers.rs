//! The layers point one way (app → api → server → domain), read from the sources: the server
//! never reaches up into the server functions, and the domain does no I/O and knows no layer
//! above it.
use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    assert!(!found.is_empty(), "no sources under {dir}");
    found
}

/// Lines of `path` that mention any of `words`, outside comments.
fn mentions(path: &Path, words: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("source");
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| words.iter().any(|w| line.contains(w)))
        .map(|(n, line)| format!("{}:{}: {}", path.display(), n + 1, line.trim()))
        .collect()
}

#[test]
fn the_server_never_imports_the_server_functions() {
    let found: Vec<String> = sources("src/server")
        .iter()
        .flat_map(|p| mentions(p, &["crate::api", "mcpops::api"]))
        .collect();
    assert!(
        found.is_empty(),
        "src/server reaches up into api:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_does_no_io_and_knows_no_layer_above_it() {
    let words = [
        "crate::server",
        "crate::api",
        "crate::app",
        "sqlx",
        "tokio",
        "axum",
        "reqwest",
        "leptos",
        "std::fs",
        "std::net::Tcp",
    ];
    let found: Vec<String> = sources("src/domain")
        .iter()
        .flat_map(|p| mentions(p, &words))
        .collect();
    assert!(
        found.is_empty(),
        "the domain reaches out:\n{}",
        found.join("\n")
    );
}

/// Lines of a source file before its test module (`#[cfg(test)] mod …`), which is kept last.
fn lines_without_tests(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("source");
    let lines: Vec<&str> = text.lines().collect();
    let test_module = lines
        .windows(2)
        .position(|pair| pair[0] == "#[cfg(test)]" && pair[1].starts_with("mod "));
    test_module.unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_over_700_lines_without_its_tests() {
    let long: Vec<String> = sources("src")
        .iter()
        .map(|p| (p, lines_without_tests(p)))
        .filter(|(_, lines)| *lines > 700)
        .map(|(p, lines)| format!("{}: {lines} lines", p.display()))
        .collect();
    assert!(
        long.is_empty(),
        "split these by what they do:\n{}",
        long.join("\n")
    );
}
