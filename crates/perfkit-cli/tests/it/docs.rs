//! docs/ARCHITECTURE.md's code map stays true: every file of the tree is in it, under the
//! section of the directory it lives in (a crate's sources without their `src/`, a directory
//! ending in `/` for all it holds), and no entry is longer than three lines.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a file is one the map must name: sources, scripts, settings and documents, not
/// build output, recorded data or fuzz inputs.
fn mapped(relative: &str) -> bool {
    let skipped_dirs = [
        "target/",
        ".git/",
        "fuzz/corpus/",
        "fuzz/artifacts/",
        "fuzz/target/",
    ];
    if skipped_dirs.iter().any(|d| relative.starts_with(d))
        || relative.contains("/tests/data/")
        || relative.contains("/target/")
    {
        return false;
    }
    let name = relative.rsplit('/').next().unwrap_or(relative);
    if matches!(name, "Cargo.toml" | "Cargo.lock") {
        return false;
    }
    relative.starts_with(".ci/")
        || [".rs", ".sh", ".toml", ".md"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path
            .strip_prefix(base)
            .expect("below the root")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if mapped(&format!("{relative}/x.rs")) {
                files_under(&path, base, out);
            }
        } else if mapped(&relative) {
            out.push(relative);
        }
    }
}

/// The code map's sections: the directory each is about ("" for the root) and its text.
fn sections(map: &str) -> Vec<(String, String)> {
    let mut sections = vec![(String::new(), String::new())];
    for line in map.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let dir = heading
                .split('`')
                .nth(1)
                .filter(|_| heading.starts_with('`'))
                .unwrap_or("");
            sections.push((dir.to_owned(), String::new()));
        } else if let Some((_, text)) = sections.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections
}

fn code_map() -> String {
    let text = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("the map");
    let start = text.find("## Code map").expect("a code map section");
    let end = text[start..]
        .find("\n## ")
        .map_or(text.len(), |n| start + n + 1);
    text[start..end].to_owned()
}

#[test]
fn every_file_is_in_the_code_map() {
    let root = root().canonicalize().expect("the workspace root");
    let mut files = Vec::new();
    files_under(&root, &root, &mut files);
    assert!(files.len() > 100, "too few files found: {files:?}");
    let sections = sections(&code_map());
    let mut missing = Vec::new();
    for file in &files {
        let (dir, text) = sections
            .iter()
            .filter(|(dir, _)| dir.is_empty() || file.starts_with(&format!("{dir}/")))
            .max_by_key(|(dir, _)| dir.len())
            .expect("the root section");
        let relative = if dir.is_empty() {
            file.as_str()
        } else {
            &file[dir.len() + 1..]
        };
        // A crate's sources are named without their `src/`.
        let source = relative.strip_prefix("src/").unwrap_or(relative);
        let named = text.split('`').skip(1).step_by(2).any(|token| {
            token == relative
                || token == source
                || (token.ends_with('/') && relative.starts_with(token))
        });
        if !named {
            missing.push(file.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code map does not name {missing:?}: add each under its directory's section"
    );
}

#[test]
fn no_code_map_entry_is_longer_than_three_lines() {
    let mut entry: Vec<&str> = Vec::new();
    let mut long = Vec::new();
    let map = code_map();
    for line in map.lines().chain(std::iter::once("")) {
        if line.starts_with("  ") && !entry.is_empty() {
            entry.push(line);
            continue;
        }
        if entry.len() > 3 {
            long.push(entry.join("\n"));
        }
        entry.clear();
        if line.starts_with("- ") {
            entry.push(line);
        }
    }
    assert!(
        long.is_empty(),
        "code map entries over three lines: {long:#?}"
    );
}
