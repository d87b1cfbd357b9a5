//! Changing `feeds.toml` from a command (`feedmill add`, `feedmill opml import`) the way a
//! careful person would by hand: new `[[source]]` tables go after the last one, and every
//! comment, blank line and key order elsewhere stays as it was (`toml_edit` edits the
//! document, not a re-serialized copy).
//!
//! A change is checked with [`Config::parse`] — what `feedmill check` runs — before it is
//! written, and written atomically (a temporary file in the same directory, renamed over the
//! original): the running daemon, which watches the file, never reads half of it, and a
//! change that would not load is never written at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::{Config, ConfigError};

/// A source to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    pub name: String,
    pub url: String,
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedsFileError {
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to edit {}: {source}", path.display())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml_edit::TomlError,
    },
    #[error("`source` in {} is not an array of [[source]] tables", path.display())]
    NotSourceTables { path: PathBuf },
    /// The edited file would not load; it was not written.
    #[error("the change would make {} invalid, so it was not written:\n{source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("failed to write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `feeds.toml` as an editable document.
#[derive(Debug)]
pub struct FeedsFile {
    path: PathBuf,
    doc: DocumentMut,
}

impl FeedsFile {
    /// Read and parse the file at `path`.
    pub fn read(path: &Path) -> Result<FeedsFile, FeedsFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FeedsFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        FeedsFile::parse(path, &text)
    }

    /// Parse `text` as the file at `path` (no I/O).
    pub fn parse(path: &Path, text: &str) -> Result<FeedsFile, FeedsFileError> {
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|source| FeedsFileError::Toml {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(FeedsFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Append a `[[source]]` after the last one (before the topics, where a person puts it),
    /// or at the end when there is none.
    pub fn append(&mut self, source: &NewSource) -> Result<(), FeedsFileError> {
        let mut table = Table::new();
        table["name"] = value(source.name.as_str());
        table["url"] = value(source.url.as_str());
        if !source.tags.is_empty() {
            let tags: Array = source.tags.iter().map(String::as_str).collect();
            table["tags"] = value(tags);
        }
        // A blank line before the header, as between the tables already there, after any
        // comment lines that close the last source (a commented-out key): toml_edit keeps
        // those in the prefix of what follows, so they would otherwise end up below the new
        // table.
        let closing = self.take_closing_comments();
        table.decor_mut().set_prefix(format!("{closing}\n"));
        // A table without a position is written after the table visited before it: pushed
        // onto the existing array, that is the last [[source]].
        let root = self.doc.as_table_mut();
        if !root.contains_key("source") {
            // The first source: before the topics, as in the shipped file. Tables are written
            // by position, ties in document order, and this one comes last in that order.
            let first_topic = root
                .get("topic")
                .and_then(Item::as_array_of_tables)
                .and_then(|a| a.iter().next())
                .and_then(Table::position);
            if let Some(p) = first_topic {
                table.set_position(Some(p - 1));
            }
            root.insert("source", Item::ArrayOfTables(ArrayOfTables::new()));
        }
        match root
            .get_mut("source")
            .and_then(Item::as_array_of_tables_mut)
        {
            Some(sources) => {
                sources.push(table);
                Ok(())
            }
            None => Err(FeedsFileError::NotSourceTables {
                path: self.path.clone(),
            }),
        }
    }

    /// Remove and return the comment lines right after the last `[[source]]`'s keys, up to
    /// the first blank line: the head of the next table's prefix (or of the document's
    /// trailing text when no table follows). A comment block with no blank line between it
    /// and the next table is that table's heading and stays.
    fn take_closing_comments(&mut self) -> String {
        let root = self.doc.as_table();
        let Some(last) = root
            .get("source")
            .and_then(Item::as_array_of_tables)
            .and_then(|a| a.iter().last())
            .and_then(Table::position)
        else {
            return String::new();
        };
        let next = root
            .iter()
            .flat_map(|(key, item)| match item {
                Item::Table(t) => vec![(key.to_owned(), None, t.position())],
                Item::ArrayOfTables(a) => a
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (key.to_owned(), Some(i), t.position()))
                    .collect(),
                _ => Vec::new(),
            })
            .filter_map(|(key, index, pos)| pos.filter(|p| *p > last).map(|p| (p, key, index)))
            .min_by_key(|(p, _, _)| *p);
        match next {
            Some((_, key, index)) => {
                let root = self.doc.as_table_mut();
                let table = match (root.get_mut(&key), index) {
                    (Some(Item::Table(t)), None) => Some(t),
                    (Some(Item::ArrayOfTables(a)), Some(i)) => a.get_mut(i),
                    _ => None,
                };
                let Some(table) = table else {
                    return String::new();
                };
                let prefix = table
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_owned();
                let (head, rest) = split_closing(&prefix, false);
                let head = head.to_owned();
                if !head.is_empty() {
                    table.decor_mut().set_prefix(rest.to_owned());
                }
                head
            }
            None => {
                let trailing = self.doc.trailing().as_str().unwrap_or("").to_owned();
                let (head, rest) = split_closing(&trailing, true);
                let head = head.to_owned();
                if !head.is_empty() {
                    self.doc.set_trailing(rest.to_owned());
                }
                head
            }
        }
    }

    /// The document as it would be written.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Check the edited text as `feedmill check` would; the validated config if it loads.
    pub fn check(&self) -> Result<Config, FeedsFileError> {
        Config::parse(&self.path, &self.text()).map_err(|source| FeedsFileError::Invalid {
            path: self.path.clone(),
            source,
        })
    }

    /// [`check`](Self::check), then replace the file atomically.
    pub fn write(&self) -> Result<Config, FeedsFileError> {
        let config = self.check()?;
        write_atomically(&self.path, self.text().as_bytes()).map_err(|source| {
            FeedsFileError::Write {
                path: self.path.clone(),
                source,
            }
        })?;
        Ok(config)
    }
}

/// Split `text` (comment and blank lines) after its leading non-blank lines, if a blank
/// line follows them or `at_end` (nothing follows the text at all).
fn split_closing(text: &str, at_end: bool) -> (&str, &str) {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            return text.split_at(end);
        }
        end += line.len();
    }
    if at_end { (text, "") } else { ("", text) }
}

/// Write `bytes` to a temporary file beside `path` (following a symlink to the real file),
/// keep the original's permissions, flush it to disk, and rename it over the original.
///
/// One case cannot be atomic: a file that is itself a mount point (a single file
/// bind-mounted into a container) cannot be renamed over (`EBUSY`); it is then overwritten in
/// place, which a reader may see half-done but which is the only way to change it at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feeds.toml".to_owned());
    let temp = dir.join(format!(".{file_name}.feedmill-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            file.set_permissions(meta.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        match std::fs::rename(&temp, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                std::fs::write(&target, bytes)?;
                std::fs::remove_file(&temp)
            }
            Err(e) => Err(e),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_LIKE: &str = r#"# feeds.toml — a comment at the top.

[server]
listen = "127.0.0.1:8080"   # trailing comment

[fetch]
schedule = "15m"

# --- Sources ---

[[source]]
name = "The Diplomat"
url = "https://thediplomat.com/feed/"
tags = ["asia", "analysis"]
# schedule = "30m"          # a commented-out key inside a table

# --- Topics ---

[[topic]]
slug = "t"
title = "T"
query = '''
kyrgyz*
'''
"#;

    fn new(name: &str, url: &str, tags: &[&str]) -> NewSource {
        NewSource {
            name: name.to_owned(),
            url: url.to_owned(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn append_puts_source_after_the_last_source_when_file_has_comments_and_topics() {
        let mut file = FeedsFile::parse(Path::new("feeds.toml"), SHIPPED_LIKE).unwrap();
        file.append(&new("Kloop", "https://kloop.kg/feed/", &["kg", "news"]))
            .unwrap();
        let text = file.text();
        let expected = SHIPPED_LIKE.replace(
            "\n# --- Topics ---",
            "\n[[source]]\nname = \"Kloop\"\nurl = \"https://kloop.kg/feed/\"\ntags = [\"kg\", \"news\"]\n\n# --- Topics ---",
        );
        assert_eq!(text, expected);
        let config = file.check().unwrap();
        assert_eq!(config.sources.len(), 2);
        assert_eq!(config.sources[1].tags, vec!["kg", "news"]);
    }

    #[test]
    fn append_keeps_closing_comments_with_the_last_source_when_it_ends_the_file() {
        let text = "[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n# tags = [\"x\"]\n";
        let mut file = FeedsFile::parse(Path::new("feeds.toml"), text).unwrap();
        file.append(&new("B", "https://b.example/feed", &[]))
            .unwrap();
        assert_eq!(
            file.text(),
            format!("{text}\n[[source]]\nname = \"B\"\nurl = \"https://b.example/feed\"\n")
        );
    }

    #[test]
    fn split_closing_leaves_a_heading_comment_when_no_blank_line_separates_it() {
        assert_eq!(split_closing("# heading\n", false), ("", "# heading\n"));
        assert_eq!(split_closing("# a\n\n# b\n", false), ("# a\n", "\n# b\n"));
        assert_eq!(split_closing("\n# b\n", false), ("", "\n# b\n"));
        assert_eq!(split_closing("# a\n", true), ("# a\n", ""));
    }

    #[test]
    fn append_only_adds_the_table_when_file_is_the_shipped_feeds_toml() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds.toml");
        let original = std::fs::read_to_string(&path).unwrap();
        let mut file = FeedsFile::parse(&path, &original).unwrap();
        file.append(&new("Added", "https://added.example/feed", &["x"]))
            .unwrap();
        let block = "\n[[source]]\nname = \"Added\"\nurl = \"https://added.example/feed\"\ntags = [\"x\"]\n";
        let text = file.text();
        assert_eq!(text.matches(block).count(), 1, "{text}");
        assert_eq!(text.replacen(block, "", 1), original);
        let config = file.check().unwrap();
        assert_eq!(
            config.sources.last().map(|s| s.name.as_str()),
            Some("Added")
        );
        // Right after the last shipped source, before the topics' comment block.
        let at = text.find(block).unwrap();
        assert!(
            text[..at].trim_end().ends_with("schedule = \"30m\""),
            "{}",
            &text[..at]
        );
    }

    #[test]
    fn append_puts_the_first_source_before_the_topics_when_file_has_none() {
        let text = "[fetch]\nschedule = \"15m\"\n\n# Topics\n[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = \"x\"\n";
        let mut file = FeedsFile::parse(Path::new("feeds.toml"), text).unwrap();
        file.append(&new("A", "https://a.example/feed", &[]))
            .unwrap();
        file.append(&new("B", "https://b.example/feed", &[]))
            .unwrap();
        assert_eq!(
            file.text(),
            "[fetch]\nschedule = \"15m\"\n\n[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n\n[[source]]\nname = \"B\"\nurl = \"https://b.example/feed\"\n\n# Topics\n[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = \"x\"\n"
        );
    }

    #[test]
    fn append_creates_the_first_source_when_file_has_none() {
        let mut file = FeedsFile::parse(Path::new("feeds.toml"), "").unwrap();
        file.append(&new("A \"quoted\" name", "https://a.example/feed", &[]))
            .unwrap();
        file.append(&new("B", "https://b.example/feed", &["x"]))
            .unwrap();
        let config = file.check().unwrap();
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["A \"quoted\" name", "B"]);
    }

    #[test]
    fn check_refuses_the_change_when_it_would_not_load() {
        let mut file = FeedsFile::parse(Path::new("feeds.toml"), SHIPPED_LIKE).unwrap();
        file.append(&new("the diplomat", "https://other.example/feed", &[]))
            .unwrap();
        let err = file.check().unwrap_err().to_string();
        assert!(err.contains("duplicate source name"), "{err}");
        assert!(err.contains("feeds.toml:"), "{err}");
    }

    #[test]
    fn write_replaces_the_file_and_keeps_comments_when_the_change_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        std::fs::write(&path, SHIPPED_LIKE).unwrap();
        let mut file = FeedsFile::read(&path).unwrap();
        file.append(&new("Kloop", "https://kloop.kg/feed/", &[]))
            .unwrap();
        file.write().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with("# feeds.toml — a comment at the top."));
        assert!(written.contains("listen = \"127.0.0.1:8080\"   # trailing comment"));
        assert!(written.contains("name = \"Kloop\""));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    }
}
