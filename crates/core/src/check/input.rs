//! Reading manifests for `check`: files, directories (recursively), or `-` for stdin; every
//! YAML or JSON document in them, `kind: List` expanded, each with the line it starts on.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where a document came from, for people and for CI annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as given (or found under a given directory); `None` for stdin.
    pub file: Option<String>,
    /// 1-based line the document (or the List holding it) starts on.
    pub line: usize,
    /// Index in a `kind: List`'s `items`.
    pub item: Option<usize>,
}

impl Source {
    /// `file:line` (`<stdin>:line` for standard input), `#item` for a List's items.
    pub fn location(&self) -> String {
        let file = self.file.as_deref().unwrap_or(STDIN_NAME);
        match self.item {
            Some(item) => format!("{file}:{} (items[{item}])", self.line),
            None => format!("{file}:{}", self.line),
        }
    }
}

const STDIN_NAME: &str = "<stdin>";

/// One parsed document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub source: Source,
    pub value: Value,
}

/// Input that could not be read or parsed (exit 2: the check did not see everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl InputError {
    pub fn location(&self) -> String {
        let file = self.file.as_deref().unwrap_or(STDIN_NAME);
        match self.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_owned(),
        }
    }
}

/// Everything read from the paths, in order: files as named, directories walked in name
/// order (hidden entries skipped; only `.yaml`, `.yml` and `.json` files).
pub fn read_paths(paths: &[PathBuf], stdin: &mut dyn Read) -> (Vec<Document>, Vec<InputError>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match stdin.read_to_string(&mut text) {
                Ok(_) => parse_stream(None, &text, &mut documents, &mut errors),
                Err(e) => errors.push(InputError {
                    file: None,
                    line: None,
                    message: format!("cannot read standard input: {e}"),
                }),
            }
            continue;
        }
        for file in files_under(path, &mut errors) {
            let shown = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => parse_stream(Some(shown), &text, &mut documents, &mut errors),
                Err(e) => errors.push(InputError {
                    file: Some(shown),
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    (documents, errors)
}

fn files_under(path: &Path, errors: &mut Vec<InputError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        // The root itself is always read, even when it is hidden.
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_file() => {
                let manifest = entry.depth() == 0
                    || entry
                        .path()
                        .extension()
                        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json");
                if manifest {
                    files.push(entry.into_path());
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(InputError {
                file: Some(e.path().unwrap_or(path).display().to_string()),
                line: None,
                message: format!(
                    "cannot read: {}",
                    e.io_error()
                        .map_or_else(|| e.to_string(), ToString::to_string)
                ),
            }),
        }
    }
    files
}

/// Pure: the documents of one YAML (or JSON) stream, with their start lines.
pub fn parse_stream(
    file: Option<String>,
    text: &str,
    documents: &mut Vec<Document>,
    errors: &mut Vec<InputError>,
) {
    for (first_line, chunk) in split_documents(text) {
        let start = chunk_start(&chunk).map_or(first_line, |offset| first_line + offset);
        let source = Source {
            file: file.clone(),
            line: start,
            item: None,
        };
        match serde_yaml_ng::from_str::<Value>(&chunk) {
            Ok(Value::Null) => {}
            Ok(value) => expand(source, value, documents),
            Err(e) => errors.push(InputError {
                file: file.clone(),
                // The parser may point past the document's end (an unclosed bracket): keep
                // the line within the document.
                line: Some(
                    e.location()
                        .map_or(start, |l| first_line + l.line().saturating_sub(1))
                        .min(first_line + chunk.lines().count().saturating_sub(1))
                        .max(start),
                ),
                message: format!("not valid YAML: {}", without_location(&e)),
            }),
        }
    }
}

/// serde_yaml's message repeats the position we report ourselves, relative to the chunk.
fn without_location(error: &serde_yaml_ng::Error) -> String {
    let text = error.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A `kind: List` (or `…List` with `items`) stands for its items.
fn expand(source: Source, value: Value, documents: &mut Vec<Document>) {
    let is_list =
        value["kind"].as_str().is_some_and(|k| k.ends_with("List")) && value["items"].is_array();
    if !is_list {
        documents.push(Document { source, value });
        return;
    }
    if let Value::Array(items) = value["items"].clone() {
        for (index, item) in items.into_iter().enumerate() {
            documents.push(Document {
                source: Source {
                    item: Some(index),
                    ..source.clone()
                },
                value: item,
            });
        }
    }
}

/// The documents of a stream as (1-based line of the chunk's first line, chunk text). A line
/// that starts with `---` separates documents; `...` ends one.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut first = 1;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let separator = line == "---"
            || line.starts_with("--- ")
            || line.starts_with("---\t")
            || line.starts_with("---#");
        if separator || line == "..." {
            chunks.push((first, std::mem::take(&mut current)));
            first = number + 1;
            if separator {
                // Content after the marker (`--- {a: 1}`) belongs to the new document, on
                // this line.
                let rest = line[3..].trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    first = number;
                    current.push_str(rest);
                    current.push('\n');
                }
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    chunks.push((first, current));
    chunks
}

/// Lines from a chunk's start to its first line of content (comments and blanks skipped).
fn chunk_start(chunk: &str) -> Option<usize> {
    chunk.lines().position(|line| {
        let trimmed = line.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Document>, Vec<InputError>) {
        let (mut documents, mut errors) = (Vec::new(), Vec::new());
        parse_stream(Some("f.yaml".into()), text, &mut documents, &mut errors);
        (documents, errors)
    }

    #[test]
    fn documents_carry_the_line_they_start_on() {
        let text = "# header\n\nkind: A\n---\n# c\nkind: B\n---\n---\n\nkind: C\n";
        let (documents, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        let found: Vec<(usize, &str)> = documents
            .iter()
            .map(|d| (d.source.line, d.value["kind"].as_str().unwrap()))
            .collect();
        assert_eq!(found, [(3, "A"), (6, "B"), (10, "C")]);
    }

    #[test]
    fn lists_are_expanded_with_item_indexes() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n- kind: B\n";
        let (documents, _) = parse(text);
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].source.item, Some(1));
        assert_eq!(documents[1].source.line, 1);
        assert_eq!(documents[1].source.location(), "f.yaml:1 (items[1])");
    }

    #[test]
    fn a_broken_document_is_reported_at_its_file_line_and_the_rest_is_read() {
        let text = "kind: A\n---\nkind: B\nspec:\n  x: [1, 2\n---\nkind: C\n";
        let (documents, errors) = parse(text);
        assert_eq!(documents.len(), 2);
        assert_eq!(errors.len(), 1);
        let line = errors[0].line.unwrap();
        assert!((3..=6).contains(&line), "{errors:?}");
        assert!(
            errors[0].message.starts_with("not valid YAML"),
            "{errors:?}"
        );
    }

    #[test]
    fn json_and_inline_separators_parse() {
        let (documents, errors) = parse("{\"kind\": \"A\"}\n--- {\"kind\": \"B\"}\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(documents[1].source.line, 2);
        assert_eq!(documents[1].value["kind"], "B");
    }

    #[test]
    fn directories_are_walked_in_order_and_hidden_entries_skipped() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("b/nested")).unwrap();
        std::fs::create_dir_all(root.path().join(".git")).unwrap();
        std::fs::write(root.path().join("b/nested/z.yml"), "kind: Z\n").unwrap();
        std::fs::write(root.path().join("a.json"), "{\"kind\": \"A\"}").unwrap();
        std::fs::write(root.path().join("notes.txt"), "kind: [").unwrap();
        std::fs::write(root.path().join(".git/x.yaml"), "kind: Hidden\n").unwrap();
        let (documents, errors) = read_paths(&[root.path().to_path_buf()], &mut std::io::empty());
        assert!(errors.is_empty(), "{errors:?}");
        let kinds: Vec<&str> = documents
            .iter()
            .map(|d| d.value["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["A", "Z"]);
    }

    #[test]
    fn stdin_and_missing_files() {
        let mut stdin = "kind: S\n".as_bytes();
        let (documents, errors) = read_paths(
            &[PathBuf::from("-"), PathBuf::from("/nonexistent/x.yaml")],
            &mut stdin,
        );
        assert_eq!(documents[0].source.location(), "<stdin>:1");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("cannot read"), "{errors:?}");
    }
}
