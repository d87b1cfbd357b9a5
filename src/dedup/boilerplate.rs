//! Boilerplate: the lines of an article that say nothing about it, pure.
//!
//! Two outlets running the same story wrap it differently: one appends "The post … appeared
//! first on …", another "Enjoying this article? Click here to subscribe", a third its own
//! footer under every item. Hashed with the story, those lines pull copies of one story apart
//! and pull different stories of one outlet together, so they are dropped before hashing:
//!
//! - built-in patterns ([`is_boilerplate_line`]): short lines containing a publisher phrase,
//!   and a trailing "Continue reading …" / "Read more" cut off a longer line;
//! - lines repeated across a source's items ([`repeated_lines`]): whatever a source puts under
//!   every item is boilerplate for that source, in any language.
//!
//! A "line" is a block of the HTML body (a paragraph, list item, heading, `<br>`-separated
//! run): the unit publishers add and remove. Lines are compared by their normalized words
//! ([`crate::topics::for_each_word`]), so markup, case and punctuation do not matter.

use std::collections::{HashMap, HashSet};

use super::simhash::stable_hash;
use crate::topics::for_each_word;

/// Phrases that mark a short line as a publisher's pitch or navigation, as normalized words.
/// Each is specific enough that a short line containing it is about the publication, not the
/// story: "subscribe" alone is not (a story may be about subscribers), "subscribe to" is.
const PHRASES: &[&[&str]] = &[
    &["appeared", "first", "on"],
    &["appeared", "first", "in"],
    &["originally", "appeared", "on"],
    &["originally", "appeared", "in"],
    &["originally", "published", "on"],
    &["originally", "published", "at"],
    &["originally", "published", "in"],
    &["enjoying", "this", "article"],
    &["enjoyed", "this", "article"],
    &["click", "here", "to"],
    &["subscribe", "to"],
    &["subscribe", "for"],
    &["subscribe", "now"],
    &["subscribe", "today"],
    &["subscribe", "here"],
    &["sign", "up", "for"],
    &["sign", "up", "to"],
    &["sign", "up", "now"],
    &["sign", "up", "here"],
    &["sign", "up", "today"],
    &["our", "newsletter"],
    &["the", "newsletter"],
    &["daily", "newsletter"],
    &["weekly", "newsletter"],
    &["free", "newsletter"],
    &["read", "more"],
    &["continue", "reading"],
    &["read", "the", "full"],
    &["read", "the", "rest"],
    &["follow", "us", "on"],
    &["like", "us", "on"],
    &["find", "us", "on"],
    &["share", "this"],
    &["related", "posts"],
    &["related", "articles"],
    &["related", "stories"],
    &["you", "may", "also", "like"],
    &["support", "our", "journalism"],
    &["become", "a", "member"],
    &["become", "a", "patron"],
    &["all", "rights", "reserved"],
    &["leave", "a", "comment"],
    &["view", "comments"],
    &["permalink"],
];

/// Phrases that start a trailing "read on" tail inside a longer line ("… the first lines […]
/// Continue reading Title →"), each with the words that must follow it somewhere in the tail
/// (so "the post office" in a sentence is not a tail); the tail is cut at the phrase.
const TAIL_PHRASES: &[(&[&str], &[&str])] = &[
    (&["continue", "reading"], &[]),
    (&["read", "more"], &[]),
    (&["read", "the", "full"], &[]),
    (&["read", "the", "rest"], &[]),
    (&["keep", "reading"], &[]),
    (&["the", "post"], &["appeared", "first"]),
];

/// Lines at most this long may be boilerplate by phrase. A pitch or footer is short; a real
/// paragraph that happens to contain "read more" is not dropped. "The post TITLE appeared
/// first on OUTLET" carries a whole headline, hence the room.
const MAX_PHRASE_LINE_WORDS: usize = 40;

/// A tail phrase must start within this many words of the end of a line to be cut: room
/// for "Continue reading" plus a headline, or "The post HEADLINE appeared first on OUTLET".
const MAX_TAIL_WORDS: usize = 30;

/// Lines whose normalized-word hash is in the set are dropped: the lines a source repeats
/// under its items (see [`repeated_lines`]). `Default` drops none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFilter {
    hashes: HashSet<u64>,
}

impl LineFilter {
    /// A filter dropping exactly the lines with these [`line_hash`]es (e.g. as persisted).
    pub fn from_hashes(hashes: impl IntoIterator<Item = u64>) -> LineFilter {
        LineFilter {
            hashes: hashes.into_iter().collect(),
        }
    }

    /// Adds another filter's lines: the store merges every source's repeated lines and
    /// titles into one filter, so a copy carrying another publisher's footer loses it too.
    pub fn extend(&mut self, other: &LineFilter) {
        self.hashes.extend(other.hashes.iter().copied());
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.contains(&hash)
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hashes, sorted (for persisting or printing deterministically).
    pub fn hashes(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self.hashes.iter().copied().collect();
        out.sort_unstable();
        out
    }
}

/// The stable hash of a line's normalized words: equal for lines that differ only in markup,
/// case, diacritics, punctuation or spacing.
pub fn line_hash(words: &[String]) -> u64 {
    stable_hash(words.join(" ").as_bytes())
}

/// The lines (as [`line_hash`]es) that occur in at least `min_items` of `bodies`, each body an
/// item's HTML (content, else summary) from one source's recent items. Counting items, not
/// occurrences, so a line repeated inside one item is not boilerplate. `min_items` below 2
/// is taken as 2: a line seen once says nothing.
pub fn repeated_lines<'a>(
    bodies: impl IntoIterator<Item = &'a str>,
    min_items: usize,
) -> LineFilter {
    let min_items = min_items.max(2);
    let mut counts: HashMap<u64, usize> = HashMap::new();
    let mut seen: HashSet<u64> = HashSet::new();
    for body in bodies {
        seen.clear();
        for_each_line(body, |words| {
            if !words.is_empty() {
                seen.insert(line_hash(words));
            }
        });
        for h in &seen {
            *counts.entry(*h).or_default() += 1;
        }
    }
    LineFilter::from_hashes(
        counts
            .into_iter()
            .filter(|(_, n)| *n >= min_items)
            .map(|(h, _)| h),
    )
}

/// The titles (as [`line_hash`]es of each title form: whole, and with outlet suffixes
/// stripped) that occur in at least `min_items` of `titles`, one source's recent item titles.
/// A headline a source repeats ("Letters to the editor", "Morning briefing") names a column,
/// not a story, so it must never pair two articles on its own. Meant to be merged into the
/// same [`LineFilter`] as the source's repeated lines ([`LineFilter::extend`]).
pub fn repeated_titles<'a>(
    titles: impl IntoIterator<Item = &'a str>,
    min_items: usize,
) -> LineFilter {
    let min_items = min_items.max(2);
    let mut counts: HashMap<u64, usize> = HashMap::new();
    let mut seen: HashSet<u64> = HashSet::new();
    for title in titles {
        seen.clear();
        for form in super::near::title_forms(title) {
            let key = super::near::title_key(form);
            if key != 0 {
                seen.insert(key);
            }
        }
        for h in &seen {
            *counts.entry(*h).or_default() += 1;
        }
    }
    LineFilter::from_hashes(
        counts
            .into_iter()
            .filter(|(_, n)| *n >= min_items)
            .map(|(h, _)| h),
    )
}

/// Fewest items of one source sharing a line (or a headline) for it to be that source's
/// boilerplate. Measured in `tests/dedup_eval.rs`: 2 would make any headline two stories share
/// generic everywhere (−1 point of recall); 3 keeps precision at 1.0.
pub const REPEATED_ITEMS: usize = 3;

/// Fewest items a feed document must list for its repeated lines to be learned from it: with
/// fewer, a line shared by three items is as likely a running story as a footer, and the
/// filter learned from an earlier, longer document is kept instead.
pub const MIN_ITEMS_TO_LEARN: usize = 5;

/// What one source repeats under its items — footer lines and column headlines — learned from
/// one fetched document (its items' titles and bodies), or `None` when the document lists too
/// few items ([`MIN_ITEMS_TO_LEARN`]) to tell. The store keeps the latest filter per source
/// and fingerprints every article with the union over all sources, since a copy may carry
/// the original publisher's footer.
pub fn learn_source_filter(articles: &[&crate::model::Article]) -> Option<LineFilter> {
    if articles.len() < MIN_ITEMS_TO_LEARN {
        return None;
    }
    let bodies = articles.iter().map(|a| {
        a.content_html
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .or(a.summary_html.as_deref())
            .unwrap_or("")
    });
    let mut filter = repeated_lines(bodies, REPEATED_ITEMS);
    filter.extend(&repeated_titles(
        articles.iter().map(|a| a.title.as_str()),
        REPEATED_ITEMS,
    ));
    Some(filter)
}

/// Whether a line (as normalized words) is publisher boilerplate by the built-in patterns.
pub fn is_boilerplate_line(words: &[String]) -> bool {
    words.len() <= MAX_PHRASE_LINE_WORDS && PHRASES.iter().any(|p| contains_phrase(words, p))
}

fn contains_phrase(words: &[String], phrase: &[&str]) -> bool {
    phrase_at(words, phrase).is_some()
}

fn phrase_at(words: &[String], phrase: &[&str]) -> Option<usize> {
    if phrase.len() > words.len() {
        return None;
    }
    words
        .windows(phrase.len())
        .position(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

/// The words of a line that are about the article: the line without a trailing "read on"
/// tail, or `None` when nothing is left or the line is boilerplate (by pattern or `filter`).
pub(crate) fn content_words<'w>(words: &'w [String], filter: &LineFilter) -> Option<&'w [String]> {
    if words.is_empty() || filter.contains(line_hash(words)) {
        return None;
    }
    let from = words.len().saturating_sub(MAX_TAIL_WORDS);
    let tail = &words[from..];
    let cut = TAIL_PHRASES
        .iter()
        .filter_map(|(start, then)| {
            let at = phrase_at(tail, start)?;
            let rest = &tail[at + start.len()..];
            (then.is_empty() || contains_phrase(rest, then)).then_some(from + at)
        })
        .min();
    let kept = &words[..cut.unwrap_or(words.len())];
    if kept.is_empty() || is_boilerplate_line(kept) {
        None
    } else {
        Some(kept)
    }
}

/// HTML elements that start or end a line.
fn is_block_tag(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "table"
            | "tr"
            | "td"
            | "th"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "aside"
            | "nav"
            | "figure"
            | "figcaption"
            | "hr"
            | "dl"
            | "dt"
            | "dd"
            | "main"
            | "form"
            | "details"
            | "summary"
            | "address"
    )
}

/// Calls `each` with the normalized words of every line of an HTML fragment, in order
/// (possibly with no words, for empty blocks). Text without markup is split at newlines.
/// `script` and `style` content is skipped; entities are decoded.
pub(crate) fn for_each_line(html: &str, mut each: impl FnMut(&[String])) {
    let mut words: Vec<String> = Vec::new();
    let mut buf = String::new();
    let mut emit_text = |text: &str, words: &mut Vec<String>| {
        if text.is_empty() {
            return;
        }
        let decoded = html_escape::decode_html_entities(text);
        for_each_word(&decoded, &mut buf, |w| words.push(w.to_owned()));
    };
    let has_markup = html.contains('<');
    let mut rest = html;
    let mut skipping: Option<&'static str> = None;
    loop {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                if has_markup {
                    emit_text(rest, &mut words);
                } else {
                    for line in rest.split('\n') {
                        emit_text(line, &mut words);
                        each(&words);
                        words.clear();
                    }
                }
            }
            break;
        };
        let after = &rest[lt + 1..];
        let starts_tag = after
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        if !starts_tag {
            // A literal `<` ("a < b"): text, up to and including it.
            if skipping.is_none() {
                emit_text(&rest[..=lt], &mut words);
            }
            rest = after;
            continue;
        }
        if skipping.is_none() {
            emit_text(&rest[..lt], &mut words);
        }
        let end = if after.starts_with("!--") {
            after.find("-->").map(|e| e + 3)
        } else {
            after.find('>').map(|e| e + 1)
        };
        let Some(end) = end else {
            // An unterminated tag: the rest is not text.
            break;
        };
        let tag = &after[..end];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match skipping {
            Some(until) => {
                if closing && name == until {
                    skipping = None;
                }
            }
            None => {
                if !closing && (name == "script" || name == "style") && !tag.ends_with("/>") {
                    skipping = Some(if name == "script" { "script" } else { "style" });
                } else if is_block_tag(&name) {
                    each(&words);
                    words.clear();
                }
                // Any other tag separates words, as in `normalize::html_to_text`.
            }
        }
        rest = &after[end..];
    }
    if has_markup {
        each(&words);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::words;

    fn lines(html: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_line(html, |w| {
            if !w.is_empty() {
                out.push(w.join(" "));
            }
        });
        out
    }

    #[test]
    fn for_each_line_splits_at_blocks_when_html_has_paragraphs_and_breaks() {
        assert_eq!(
            lines("<p>One <b>two</b></p><p>Three&amp;four<br/>five</p><ul><li>six</li></ul>"),
            ["one two", "three four", "five", "six"]
        );
    }

    #[test]
    fn for_each_line_skips_scripts_and_comments_when_present() {
        assert_eq!(
            lines("<p>a</p><script>var x = '<p>';</script><!-- <p>hidden</p> --><p>b</p>"),
            ["a", "b"]
        );
    }

    #[test]
    fn for_each_line_splits_at_newlines_when_text_has_no_markup() {
        assert_eq!(
            lines("first line\nsecond line"),
            ["first line", "second line"]
        );
    }

    #[test]
    fn is_boilerplate_line_matches_publisher_pitches_when_short() {
        for line in [
            "Enjoying this article? Click here to subscribe for full access. Just $5 a month.",
            "The post China, Kyrgyzstan Ties Warm appeared first on The Diplomat.",
            "Sign up for our daily newsletter",
            "Read more »",
            "Follow us on Twitter and Facebook",
            "This article originally appeared on Grist.",
        ] {
            assert!(is_boilerplate_line(&words(line)), "{line}");
        }
    }

    #[test]
    fn is_boilerplate_line_keeps_story_text_when_it_merely_mentions_a_word() {
        for line in [
            "Netflix added 5 million subscribers in the quarter, the company said.",
            "The council will read the bill a second time on Monday.",
        ] {
            assert!(!is_boilerplate_line(&words(line)), "{line}");
        }
        // A long paragraph that contains a phrase is content.
        let long = format!("{} read more about it", "word ".repeat(60));
        assert!(!is_boilerplate_line(&words(&long)));
    }

    #[test]
    fn content_words_cuts_read_on_tail_when_line_ends_with_one() {
        let w = words(
            "The ministry said on Tuesday that talks would resume next week in Bishkek. […] Continue reading China, Kyrgyzstan Ties Warm →",
        );
        let kept = content_words(&w, &LineFilter::default()).unwrap();
        assert_eq!(kept.last().map(String::as_str), Some("bishkek"));
    }

    fn item(title: &str, body: &str) -> crate::model::Article {
        crate::testkit::article(title, None, title, body)
    }

    #[test]
    fn learn_source_filter_learns_footer_and_column_when_document_lists_enough_items() {
        let footer = "<p>Read more of our coverage at the Steppe Courier</p>";
        let items: Vec<_> = (0..6)
            .map(|i| {
                let title = if i < 3 { "Morning briefing" } else { "Story" };
                item(
                    &format!("{title} {}", if i < 3 { "" } else { "number" }),
                    &format!("<p>Body text {i} about item {i}</p>{footer}"),
                )
            })
            .collect();
        let items: Vec<&crate::model::Article> = items.iter().collect();
        let filter = learn_source_filter(&items).expect("six items are enough");
        let footer_hash = line_hash(&words("Read more of our coverage at the Steppe Courier"));
        assert!(filter.contains(footer_hash));
        assert!(filter.contains(super::super::near::title_key("Morning briefing")));
        assert!(!filter.contains(line_hash(&words("Body text 1 about item 1"))));
        assert_eq!(learn_source_filter(&items[..4]), None);
    }

    #[test]
    fn repeated_lines_finds_a_sources_footer_when_it_is_under_enough_items() {
        let bodies = [
            "<p>Story one text.</p><p>Acme Times is an independent newsroom.</p>",
            "<p>Story two text.</p><p>ACME TIMES is an independent newsroom!</p>",
            "<p>Story three.</p><p>Acme Times is an independent newsroom.</p>",
            "<p>Story four.</p>",
        ];
        let filter = repeated_lines(bodies, 3);
        assert_eq!(filter.len(), 1);
        assert!(filter.contains(line_hash(&words("Acme Times is an independent newsroom"))));
        assert!(repeated_lines(bodies, 4).is_empty());
        // A line repeated inside one item is not boilerplate.
        assert!(repeated_lines(["<p>x y</p><p>x y</p><p>x y</p>"], 2).is_empty());
    }
}
