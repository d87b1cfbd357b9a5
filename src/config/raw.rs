//! The serde mirror of feeds.toml, and reading it so that every problem is found.
//!
//! Stage one of two (the other is [`super::Config::parse`]): this module knows TOML — its
//! keys, its types, its byte spans — and nothing about what the values mean. Every struct
//! denies unknown keys, because a misspelt key that silently does nothing is the worst kind of
//! configuration bug. Every field is optional here, even the required ones, so that a table
//! with one bad key can still be read with that key removed (see [`read`]); the next stage
//! reports what is missing. Values whose errors need a position are [`Spanned`].

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub fetch: RawFetch,
    #[serde(default)]
    pub dedup: RawDedup,
    /// `[[source]]` tables; each span is its `[[source]]` header.
    #[serde(default)]
    pub source: Vec<Spanned<RawSource>>,
    /// `[[topic]]` tables; each span is its `[[topic]]` header.
    #[serde(default)]
    pub topic: Vec<Spanned<RawTopic>>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub trust_proxy: Option<bool>,
    pub admin_token: Option<Spanned<String>>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
}

/// `[fetch]`. Integers are `i64` (TOML's integer) so that a negative number gets our message
/// ("must be at least 1") rather than a type error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFetch {
    pub schedule: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub max_body: Option<Spanned<RawSize>>,
    pub concurrency: Option<Spanned<i64>>,
    pub per_host: Option<Spanned<i64>>,
    pub host_spacing: Option<Spanned<String>>,
    pub allow_private: Option<bool>,
    pub ca_file: Option<Spanned<String>>,
    pub user_agent: Option<Spanned<String>>,
}

/// `[dedup]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedup {
    pub window: Option<Spanned<String>>,
    pub near_duplicates: Option<bool>,
    pub tracking_params: Option<Vec<Spanned<String>>>,
}

/// One `[[source]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub tags: Option<Vec<Spanned<String>>>,
    pub schedule: Option<Spanned<String>>,
    pub user_agent: Option<Spanned<String>>,
    /// `headers = { "Accept-Language" = "en" }`. Keys come sorted (toml's map order); the
    /// order of request headers does not matter.
    pub headers: Option<RawHeaders>,
    pub allow_private: Option<bool>,
    pub content: Option<Spanned<String>>,
}

/// One `[[topic]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub slug: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    /// Stories with an article matching this are left out (DESIGN §6).
    pub exclude: Option<Spanned<String>>,
    pub limit: Option<Spanned<i64>>,
    pub max_age: Option<Spanned<String>>,
    pub content: Option<Spanned<String>>,
    /// Former slugs, redirected to this topic.
    pub aliases: Option<Vec<Spanned<String>>>,
}

/// The `headers` table of a source, as (name, value) pairs with their spans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHeaders(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for RawHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawHeaders;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of header names and string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawHeaders, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(RawHeaders(pairs))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// A size as written: `max_body = "16MiB"` or `max_body = 2048`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as \"16MiB\" or a number of bytes")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawSize, E> {
                i64::try_from(v)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::custom("size is too large"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A problem found while reading the TOML, located by a byte span of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub span: Range<usize>,
    pub message: String,
}

/// An unknown key for which a known key was suggested ("did you mean `name`?"). The next
/// stage uses it to skip the then redundant "missing required key `name`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The array of tables (`"source"`, `"topic"`) and the element's index, or `None` for
    /// a key that is not in an array of tables.
    pub element: Option<(String, usize)>,
    pub suggested: String,
}

/// What [`read`] found: the config as far as it could be read, and every problem.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// `None` after a TOML syntax error: the rest would only add noise.
    pub config: Option<RawConfig>,
    pub problems: Vec<Problem>,
    pub suggestions: Vec<Suggestion>,
}

/// More problems than anyone reads at once; stop there rather than loop for long.
const MAX_PROBLEMS: usize = 100;

/// Reads feeds.toml text into a [`RawConfig`], collecting every problem instead of the first.
///
/// serde stops at the first error, so this deserializes from toml's spanned document tree,
/// and on each error removes the key the error points into (the innermost key whose name or
/// value span holds the error's position) and tries again. Each round reports one problem and
/// removes one key, so it ends; the surviving keys are still checked, and the result is the
/// config without its broken keys.
pub fn read(text: &str) -> ReadResult {
    let (mut doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let problems = syntax_errors
            .iter()
            .map(|e| Problem {
                span: e.span().unwrap_or(0..0),
                message: format!("invalid TOML: {}", e.message()),
            })
            .collect();
        return ReadResult {
            config: None,
            problems,
            suggestions: Vec::new(),
        };
    }
    let mut result = ReadResult::default();
    loop {
        let de = toml::de::Deserializer::from(doc.clone());
        let err = match RawConfig::deserialize(de) {
            Ok(config) => {
                result.config = Some(config);
                return result;
            }
            Err(err) => err,
        };
        let span = err.span().unwrap_or(0..0);
        let removed = remove_key_at(doc.get_mut(), span.start, &mut Vec::new());
        let Some(removed) = removed else {
            // Not attributable to one key: report it as it is and stop reading.
            result.problems.push(Problem {
                span,
                message: err.message().to_string(),
            });
            return result;
        };
        let (message, suggested) = describe(err.message(), &removed);
        if let (Some(suggested), Some(element)) = (suggested, removed.element()) {
            result.suggestions.push(Suggestion {
                element: Some(element),
                suggested,
            });
        }
        result.problems.push(Problem { span, message });
        if result.problems.len() >= MAX_PROBLEMS {
            result.problems.push(Problem {
                span: 0..0,
                message: format!("too many problems; stopped after {MAX_PROBLEMS}"),
            });
            return result;
        }
    }
}

/// One step from the document root towards a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The key [`remove_key_at`] removed, and where it was.
#[derive(Debug)]
struct Removed {
    /// Path from the root to the table that held the key.
    table: Vec<Step>,
    /// That table's `name` or `slug`, to name a `[[source]]`/`[[topic]]` in messages.
    table_label: Option<String>,
    key: String,
}

impl Removed {
    /// `("source", 2)` when the key was in the third `[[source]]`.
    fn element(&self) -> Option<(String, usize)> {
        match self.table.as_slice() {
            [Step::Key(array), Step::Index(i)] => Some((array.clone(), *i)),
            _ => None,
        }
    }

    /// How the table is written in the file: `[fetch]`, `[[source]] "Kloop"`.
    fn table_name(&self) -> Option<String> {
        if self.table.is_empty() {
            return None;
        }
        let keys: Vec<&str> = self
            .table
            .iter()
            .filter_map(|s| match s {
                Step::Key(k) => Some(k.as_str()),
                Step::Index(_) => None,
            })
            .collect();
        let mut name = match self.table.last() {
            Some(Step::Index(_)) => format!("[[{}]]", keys.join(".")),
            _ => format!("[{}]", keys.join(".")),
        };
        if let Some(label) = &self.table_label {
            name.push_str(&format!(" \"{label}\""));
        }
        Some(name)
    }
}

fn contains(span: &Range<usize>, pos: usize) -> bool {
    span.start <= pos && pos < span.end.max(span.start + 1)
}

/// Removes the innermost key whose name, or whose value, holds byte `pos`; recurses into
/// tables and arrays of tables first, because a `[[source]]` element's own span is only its
/// header and says nothing about where its keys are.
fn remove_key_at(table: &mut DeTable<'_>, pos: usize, path: &mut Vec<Step>) -> Option<Removed> {
    let mut hit: Option<String> = None;
    for (key, value) in table.iter_mut() {
        if contains(&key.span(), pos) {
            hit = Some(key.get_ref().to_string());
            break;
        }
        let value_span = value.span();
        path.push(Step::Key(key.get_ref().to_string()));
        let inner = match value.get_mut() {
            DeValue::Table(t) => remove_key_at(t, pos, path),
            DeValue::Array(items) => {
                let mut found = None;
                for (i, item) in items.iter_mut().enumerate() {
                    if let DeValue::Table(t) = item.get_mut() {
                        path.push(Step::Index(i));
                        found = remove_key_at(t, pos, path);
                        path.pop();
                        if found.is_some() {
                            break;
                        }
                    }
                }
                found
            }
            _ => None,
        };
        path.pop();
        if inner.is_some() {
            return inner;
        }
        if contains(&value_span, pos) {
            hit = Some(key.get_ref().to_string());
            break;
        }
    }
    let key = hit?;
    table.remove(key.as_str());
    let table_label = ["name", "slug"]
        .iter()
        .find_map(|k| table.get(*k).and_then(|v| v.get_ref().as_str()))
        .map(str::to_string);
    Some(Removed {
        table: path.clone(),
        table_label,
        key,
    })
}

/// Rewrites a serde/toml message about `removed` into ours, and returns the suggested key
/// for an unknown key that looks like a typo of a known one.
fn describe(message: &str, removed: &Removed) -> (String, Option<String>) {
    let place = match removed.table_name() {
        Some(table) => format!("in {table}"),
        None => "at the top level".to_string(),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // serde: "unknown field `x`, expected one of `a`, `b`" / "expected `a`" /
        // "there are no fields".
        let expected = rest.split_once(", ").map(|(_, tail)| tail).unwrap_or("");
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let key = &removed.key;
        return match closest(key, &known) {
            Some(suggested) => (
                format!("unknown key `{key}` {place} (did you mean `{suggested}`?)"),
                Some(suggested.to_string()),
            ),
            None if expected.is_empty() => (format!("unknown key `{key}` {place}"), None),
            None => (format!("unknown key `{key}` {place}; {expected}"), None),
        };
    }
    // serde speaks of maps and sequences; TOML of tables and arrays.
    let mut message = message
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map,", "invalid type: table,")
        .replace("invalid type: sequence,", "invalid type: array,");
    // "expected struct RawServer" names our type, not the file's: say "a table".
    if let Some(at) = message.find("expected struct Raw") {
        message.truncate(at);
        message.push_str("expected a table");
    }
    if removed.table.is_empty() && matches!(removed.key.as_str(), "source" | "topic") {
        message.push_str(&format!(
            " (write [[{0}]], with double brackets, for each {0})",
            removed.key
        ));
    }
    (format!("`{}` {place}: {message}", removed.key), None)
}

/// The known key closest to `key` if it is plausibly a typo of it (optimal string alignment
/// distance at most 2 and less than half the key's length, case ignored).
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    let limit = 2.min(key.chars().count().saturating_sub(1) / 2).max(1);
    known
        .iter()
        .map(|k| (typo_distance(&key, &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance counting an adjacent transposition as one edit (`nmae` → `name` is 1).
fn typo_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Where in `text` the character at byte `offset` of a string value lies, given the span of
/// the string token (quotes included) and its decoded `value`.
///
/// Exact for literal strings (`'…'`, `'''…'''`: no escapes, so value bytes are text bytes
/// once the opening delimiter and the newline TOML trims after `'''` are skipped). For basic
/// strings (`"…"`, `"""…"""`) the escapes are decoded here with a map from value offsets back
/// to text offsets; if that decoding disagrees with toml's value (newline normalisation, or
/// an escape this does not know), the start of the string is returned.
pub fn string_value_position(text: &str, span: Range<usize>, value: &str, offset: usize) -> usize {
    let Some(token) = text.get(span.clone()) else {
        return span.start;
    };
    let (delimiter, multiline) = if token.starts_with("'''") {
        ("'''", true)
    } else if token.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if token.starts_with('\'') {
        ("'", false)
    } else if token.starts_with('"') {
        ("\"", false)
    } else {
        return span.start;
    };
    let mut start = delimiter.len();
    if multiline {
        if token[start..].starts_with("\r\n") {
            start += 2;
        } else if token[start..].starts_with('\n') {
            start += 1;
        }
    }
    let end = token.len().saturating_sub(delimiter.len()).max(start);
    let body = &token[start..end];
    let offsets = if delimiter.starts_with('\'') {
        (body == value).then(|| (0..=body.len()).collect::<Vec<usize>>())
    } else {
        decode_basic(body, multiline).and_then(|(decoded, map)| (decoded == value).then_some(map))
    };
    match offsets {
        Some(map) => span.start + start + map.get(offset).copied().unwrap_or(body.len()),
        None => span.start,
    }
}

/// Decodes the body of a basic string; returns the value and, for every value byte offset
/// (plus one past the end), the body offset it came from.
fn decode_basic(body: &str, multiline: bool) -> Option<(String, Vec<usize>)> {
    let mut out = String::new();
    let mut map = Vec::new();
    let mut chars = body.char_indices().peekable();
    let push = |out: &mut String, map: &mut Vec<usize>, c: char, at: usize| {
        out.push(c);
        map.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            push(&mut out, &mut map, c, at);
            continue;
        }
        let (_, e) = chars.next()?;
        let simple = match e {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(decoded) = simple {
            push(&mut out, &mut map, decoded, at);
            continue;
        }
        match e {
            'x' | 'u' | 'U' => {
                let digits = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut hex = String::new();
                for _ in 0..digits {
                    hex.push(chars.next()?.1);
                }
                let decoded = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                push(&mut out, &mut map, decoded, at);
            }
            // Line-ending backslash: drop all whitespace and newlines up to the next
            // character.
            ' ' | '\t' | '\r' | '\n' if multiline => {
                while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            }
            _ => return None,
        }
    }
    map.push(body.len());
    Some((out, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_collects_every_problem_when_several_keys_are_bad() {
        let text = "[fetch]\nconcurrency = \"16\"\ntimeuot = \"30s\"\n\n[[source]]\nname = \"A\"\nnmae = \"B\"\ntags = [\"x\", 1]\n";
        let result = read(text);
        let messages: Vec<&str> = result.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages.contains(
            &"`concurrency` in [fetch]: invalid type: string \"16\", expected an integer"
        ));
        assert!(messages.contains(&"unknown key `timeuot` in [fetch] (did you mean `timeout`?)"));
        assert!(
            messages.contains(&"unknown key `nmae` in [[source]] \"A\" (did you mean `name`?)")
        );
        assert!(
            messages.contains(
                &"`tags` in [[source]] \"A\": invalid type: integer `1`, expected a string"
            )
        );
        let config = result.config.unwrap();
        assert_eq!(config.source.len(), 1);
        assert!(config.fetch.concurrency.is_none());
        assert_eq!(
            result.suggestions,
            vec![Suggestion {
                element: Some(("source".to_string(), 0)),
                suggested: "name".to_string()
            }]
        );
    }

    #[test]
    fn read_lists_known_keys_when_unknown_key_is_not_a_typo() {
        let result = read("[server]\nfrobnicate = true\n");
        assert_eq!(
            result.problems[0].message,
            "unknown key `frobnicate` in [server]; expected one of `listen`, `base_url`, `trust_proxy`, `admin_token`"
        );
        let result = read("sever = 1\n");
        assert_eq!(
            result.problems[0].message,
            "unknown key `sever` at the top level (did you mean `server`?)"
        );
    }

    #[test]
    fn read_explains_double_brackets_when_source_is_a_single_table() {
        let result = read("[source]\nname = \"A\"\n");
        assert_eq!(
            result.problems,
            [Problem {
                span: 0..8,
                message: "`source` at the top level: invalid type: table, expected an array (write [[source]], with double brackets, for each source)".to_string()
            }]
        );
    }

    #[test]
    fn read_stops_at_syntax_when_toml_is_malformed() {
        let result = read("a = \nb = [1,\n");
        assert!(result.config.is_none());
        assert_eq!(result.problems.len(), 2);
        assert!(result.problems[0].message.starts_with("invalid TOML: "));
    }

    #[test]
    fn closest_suggests_key_when_typo_is_small() {
        let known = ["name", "url", "tags", "schedule"];
        assert_eq!(closest("nmae", &known), Some("name"));
        assert_eq!(closest("Name", &known), Some("name"));
        assert_eq!(closest("urls", &known), Some("url"));
        assert_eq!(closest("shcedule", &known), Some("schedule"));
        assert_eq!(closest("colour", &known), None);
        assert_eq!(closest("x", &known), None);
    }

    #[test]
    fn string_value_position_is_exact_when_string_is_literal_multiline() {
        let text = "q = '''\nab\ncd'''\n";
        let value = "ab\ncd";
        let span = 4..text.len() - 1;
        // 'c' is byte 3 of the value, on line 3 column 1 of the text.
        assert_eq!(string_value_position(text, span.clone(), value, 3), 11);
        assert_eq!(&text[11..12], "c");
        assert_eq!(string_value_position(text, span, value, 5), 13);
    }

    #[test]
    fn string_value_position_maps_escapes_when_string_is_basic() {
        let text = r#"q = "a\"é\u00e9 (x""#;
        let value = "a\"éé (x";
        let span = 4..text.len();
        let paren = value.find('(').unwrap();
        let pos = string_value_position(text, span.clone(), value, paren);
        assert_eq!(&text[pos..pos + 1], "(");
        // A value toml decoded differently than we do falls back to the string start.
        assert_eq!(string_value_position(text, span, "other", 1), 4);
    }

    #[test]
    fn string_value_position_skips_line_ending_backslash_when_multiline_basic() {
        let text = "q = \"\"\"\nab \\\n   cd\"\"\"";
        let value = "ab cd";
        let pos = string_value_position(text, 4..text.len(), value, 3);
        assert_eq!(&text[pos..pos + 1], "c");
    }
}
