//! The folders of `core/src` and `native/src` are layers: a folder names (`crate::FOLDER`) only
//! folders below it, so the tree reads like the architecture (docs/architecture.md). The check
//! reads the sources as text, every line but plain `//` comments, so doc links count too.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The folders of `src` a source file names as `crate::FOLDER`, with the line of each.
fn named_folders(text: &str, folders: &[&str]) -> Vec<(usize, String)> {
    let mut named = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") && !trimmed.starts_with("///") && !trimmed.starts_with("//!") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `ricochet_core::` and `super::crate` do not end in `crate::`; `crate::` must start
            // a path.
            let starts_path = at == 0
                || !rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if starts_path && folders.contains(&name.as_str()) {
                named.push((i + 1, name));
            }
            rest = after;
        }
    }
    named
}

/// Which folders of `src` each layer may name: `layers[i]` may name itself and `layers[..i]`
/// (folders on one layer are siblings and may not name each other).
fn check(src: &Path, layers: &[&[&str]]) -> Vec<String> {
    let all: Vec<&str> = layers.iter().flat_map(|l| l.iter().copied()).collect();
    let mut wrong = Vec::new();
    for (level, layer) in layers.iter().enumerate() {
        let below: Vec<&str> = layers[..level]
            .iter()
            .flat_map(|l| l.iter().copied())
            .collect();
        for folder in layer.iter() {
            let mut files = Vec::new();
            sources(&src.join(folder), &mut files);
            assert!(
                !files.is_empty(),
                "{}: no sources",
                src.join(folder).display()
            );
            for file in files {
                let text = fs::read_to_string(&file).unwrap();
                for (line, name) in named_folders(&text, &all) {
                    if name != *folder && !below.contains(&name.as_str()) {
                        wrong.push(format!(
                            "{}:{line}: {folder}/ names crate::{name}, a folder not below it",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    wrong
}

#[test]
fn core_folders_never_name_a_higher_folder() {
    let layers: &[&[&str]] = &[&["http"], &["files", "download"], &["balance"]];
    let wrong = check(&workspace().join("core/src"), layers);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn native_folders_never_name_a_higher_folder() {
    let layers: &[&[&str]] = &[
        &["cli"],
        &["runtime"],
        &["server", "client", "balancer"],
        &["cluster"],
    ];
    let wrong = check(&workspace().join("native/src"), layers);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_climbing_import_is_found() {
    let text = "use crate::http::request::Request;\n// crate::balance in a comment\n\
                /// see [`crate::balance::pool`]\nuse ricochet_core::balance::pool;\n";
    let named = named_folders(text, &["http", "balance"]);
    assert_eq!(
        named,
        vec![(1, "http".to_string()), (3, "balance".to_string())]
    );
}
