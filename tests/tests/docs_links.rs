//! Every relative link in README.md and docs/*.md resolves: the file exists, and a `#anchor`
//! matches a heading of the target (GitHub's slugs). Links with a scheme (`https://`, `mailto:`)
//! are not followed. Text inside fenced code blocks and inline code is not a link.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The pages checked: README.md and every docs/*.md.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    if let Ok(entries) = fs::read_dir(root.join("docs")) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// The lines of a page outside fenced code blocks, with their numbers (1-based).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = if trimmed.starts_with("```") {
            Some("```")
        } else if trimmed.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => lines.push((i + 1, line)),
            _ => {}
        }
    }
    lines
}

/// `line` without its inline code spans (`` `...` ``).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, markup and punctuation other than `-` and `_`
/// dropped, spaces turned into hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor of a page: its headings' slugs, repeats numbered `-1`, `-2`... as GitHub does.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let n = seen.entry(base.clone()).or_insert(0);
        anchors.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    anchors
}

/// The targets of the inline links `[text](target)` on a line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.to_string());
        rest = &after[end..];
    }
    targets
}

/// The broken relative links of every page, one line each: `page:line: target: why`.
fn broken_links(root: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    for page in pages(root) {
        let text = fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root).unwrap().display().to_string();
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = match target.split_once('#') {
                    Some((file, anchor)) => (file, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let path = if file.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(file)
                };
                if !path.exists() {
                    broken.push(format!("{name}:{number}: {target}: no such file"));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if path.is_dir() || path.extension().is_none_or(|e| e != "md") {
                    broken.push(format!(
                        "{name}:{number}: {target}: an anchor into a non-page"
                    ));
                    continue;
                }
                let target_text = fs::read_to_string(&path).unwrap();
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    broken.push(format!(
                        "{name}:{number}: {target}: no heading with that anchor"
                    ));
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_resolves() {
    let root = workspace();
    assert!(
        pages(&root).len() > 1,
        "no docs/*.md found beside README.md"
    );
    let broken = broken_links(&root);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_check_catches_broken_links() {
    let dir = std::env::temp_dir().join(format!("ricochet-docs-links-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("docs")).unwrap();
    fs::write(
        dir.join("README.md"),
        "# Top\n\n## The `stdio_redirect` example: one, two\n\n\
         [ok](docs/a.md#a-heading) [ok](#top) [ok](#the-stdio_redirect-example-one-two)\n\
         [missing file](docs/b.md) [missing anchor](docs/a.md#nope) `[code](docs/c.md)`\n\
         ```text\n[in a block](docs/d.md)\n```\n[web](https://example.com/x)\n",
    )
    .unwrap();
    fs::write(
        dir.join("docs/a.md"),
        "# A heading\n\n[back](../README.md#top) [twice](#twice-1)\n\n## Twice\n\n## Twice\n",
    )
    .unwrap();
    let broken = broken_links(&dir);
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(
        broken,
        [
            "README.md:6: docs/b.md: no such file",
            "README.md:6: docs/a.md#nope: no heading with that anchor",
        ]
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Stopping: SIGTERM and SIGINT"),
        "stopping-sigterm-and-sigint"
    );
    assert_eq!(
        slug("`server` and `balancer`: serving HTTPS"),
        "server-and-balancer-serving-https"
    );
    assert_eq!(
        slug("The core without a runtime: `stdio_redirect`"),
        "the-core-without-a-runtime-stdio_redirect"
    );
    assert_eq!(
        slug("Stress and faults: `just stress`"),
        "stress-and-faults-just-stress"
    );
}
