//! The documentation's internal links resolve: every relative link in README.md and docs/*.md
//! names a file or folder that exists, and every `#anchor` into a Markdown page names one of
//! its headings (as GitHub and mdBook spell them). External links are not followed (no network).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(REPO).join("README.md")];
    for entry in std::fs::read_dir(Path::new(REPO).join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// The Markdown outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A heading's anchor as GitHub and mdBook make it: lower case, punctuation dropped, spaces
/// to hyphens.
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

fn anchors(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page).expect("page");
    prose(&text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

fn links(text: &str) -> Vec<String> {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    link.captures_iter(&prose(text))
        .map(|c| c[1].to_owned())
        .collect()
}

#[test]
fn internal_links_resolve_to_files_and_headings() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().expect("dir").join(path)
            };
            checked += 1;
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", page.display()));
            } else if !anchor.is_empty()
                && file.extension().is_some_and(|e| e == "md")
                && !anchors(&file).contains(anchor)
            {
                broken.push(format!("{}: {target}: no such heading", page.display()));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the link pattern right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_sees_broken_links_and_anchors() {
    let found = links(
        "see [a](missing.md) and [b](design.md#no-such-heading), `[c](x)`\n```\n[d](e)\n```\n",
    );
    assert_eq!(found, ["missing.md", "design.md#no-such-heading", "x"]);
    assert_eq!(slug(" Metrics (the series)"), "metrics-the-series");
    assert_eq!(slug("GitOps checks (`check`)"), "gitops-checks-check");
    let design = Path::new(REPO).join("docs/design.md");
    assert!(anchors(&design).contains("reasons-and-the-retry-table"));
    assert!(!anchors(&design).contains("no-such-heading"));
}

#[test]
fn every_page_is_in_the_book() {
    let summary =
        std::fs::read_to_string(Path::new(REPO).join("docs/SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    for page in pages() {
        let name = page
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if page.parent() == Some(&Path::new(REPO).join("docs")) && name != "SUMMARY.md" {
            assert!(
                listed.contains(&name),
                "docs/{name} is not in docs/SUMMARY.md"
            );
        }
    }
}
