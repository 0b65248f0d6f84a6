//! The README and `docs/` hold no figure copied by hand and no dead link: every benchmark table is lines of
//! the file its benchmark wrote, in that file's order and headed by its date and machine; the README is a
//! front page that starts with the two commands `.ci/run` and a newcomer run.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page of docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 9, "docs/ has a page per topic: {docs:?}");
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The fenced code blocks of `text`: (line of the opening fence, lines inside).
fn code_blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            match open.take() {
                Some(block) => blocks.push(block),
                None => open = Some((i + 1, Vec::new())),
            }
        } else if let Some((_, lines)) = open.as_mut() {
            lines.push(line);
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    blocks
}

/// Whether `quoted` are lines of `file`, in its order.
fn in_order(quoted: &[&str], file: &[&str]) -> Result<(), String> {
    let mut at = 0;
    for line in quoted {
        match file[at..].iter().position(|l| l == line) {
            Some(i) => at += i + 1,
            None => {
                return Err(format!(
                    "not a line of the file (after its line {at}): `{line}`"
                ))
            }
        }
    }
    Ok(())
}

#[test]
fn every_benchmark_table_is_lines_of_its_bench_results_file() {
    let results: Vec<(PathBuf, String)> = std::fs::read_dir(root().join("bench-results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    let mut quoted = 0;
    for (page, text) in pages() {
        for (line, block) in code_blocks(&text) {
            let Some(first) = block.first().filter(|l| l.starts_with("# cargo bench")) else {
                continue;
            };
            let (file, content) = results
                .iter()
                .find(|(_, c)| c.lines().next() == Some(first))
                .unwrap_or_else(|| {
                    panic!(
                        "{}:{line}: `{first}` heads no file of bench-results/ (a table copied by hand, or an old run)",
                        page.display()
                    )
                });
            let lines: Vec<&str> = content.lines().collect();
            assert!(
                block.len() >= 2 && block[1] == lines[1],
                "{}:{line}: a table quotes its file's date and machine: {}",
                page.display(),
                file.display()
            );
            if let Err(e) = in_order(&block, &lines) {
                panic!("{}:{line}: {}: {e}", page.display(), file.display());
            }
            quoted += 1;
        }
    }
    assert!(quoted >= 9, "the benchmark tables are quoted: {quoted}");
}

#[test]
fn the_readme_is_a_front_page_that_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 200,
        "README.md is a front page of at most ~200 lines; the manual is docs/"
    );
    let (_, first) = code_blocks(&readme).into_iter().next().unwrap();
    assert_eq!(
        first,
        [
            "cargo run --release -p loadgen -- run",
            "cargo test --release --workspace"
        ]
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert_eq!(
        ci.lines().rfind(|l| !l.trim().is_empty()),
        Some(first[1]),
        ".ci/run ends with the README's test command"
    );
}

#[test]
fn every_relative_link_and_image_of_the_docs_exists() {
    let mut checked = 0;
    for (page, text) in pages() {
        let dir = page.parent().unwrap();
        for (i, line) in text.lines().enumerate() {
            for part in line.split("](").skip(1) {
                let target = part.split(')').next().unwrap();
                let target = target.split('#').next().unwrap();
                if target.is_empty() || target.contains("://") {
                    continue;
                }
                assert!(
                    dir.join(target).exists(),
                    "{}:{}: `{target}` does not exist",
                    page.display(),
                    i + 1
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "the README links its docs pages: {checked}");
}
