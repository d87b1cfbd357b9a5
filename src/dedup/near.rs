//! Near-duplicate fingerprints of an article and the decision rule (DESIGN §9 layer 3), pure.
//!
//! # Fingerprints
//! Copies of one story differ in three ways, so an article gets three kinds of fingerprint:
//!
//! - `text`: the 64-bit SimHash of the word 3-shingles of headline + body, words folded as
//!   topic matching folds them ([`crate::topics::for_each_word`]), boilerplate lines dropped
//!   (`boilerplate.rs`), every outlet suffix stripped from the title. It survives a title
//!   suffix, a footer added or removed, and a few words changed in a long text.
//! - `lead`: the SimHash of the first [`LEAD_WORDS`] body words. A truncated summary
//!   ("the first lines […] Read more") is 20+ bits from the full article's `text`, but has
//!   the same lead.
//! - `titles`: exact hashes of the title's forms, whole and with each trailing " - Outlet"
//!   stripped. A news aggregator's item ("Headline - Outlet", a redirect link, a body that is
//!   the headline again) has nothing else in common with the outlet's own item.
//!
//! # The rule ([`is_near_duplicate`])
//! Two articles of different sources are one story when
//!
//! 1. their `text`s (20+ words each) are at most 3 bits apart, whatever their titles; or they
//!    share a title form of 2+ words and
//! 2. their `text`s are at most 16 bits apart, or their `lead`s (8+ body words each) are; or
//! 3. their `text`s are identical (short items); or
//! 4. one is headline-only (body at most 12 words beyond its title) and the shared form is its
//!    title without the outlet suffix, 3+ words long (or both are headline-only).
//!
//! # Why these numbers
//! Measured by `tests/dedup_eval.rs` (1,994 real feed items of the corpus, 2,480 perturbed
//! copies, 152 synthetic hard negatives, 10.7 M pairs decided; it prints all of this):
//!
//! - Unrelated texts are ~32 bits apart (a fair coin per bit). The closest *different*
//!   stories without a shared title were 6 bits apart ("D.C. wellness calendar, Aug. 9-16" vs
//!   "Aug. 16-23"), so rule 1 must stay under 6; 3 is what the index guarantees with 10 keys
//!   (`index.rs`). Recall at 2/3/4/5 bits: 0.9572/0.9579/0.9599/0.9599, precision 1 at each.
//! - A few words changed move a 3-shingle SimHash by ~29·√f bits (f = share of shingles
//!   touched): 2–12 bits on the corpus' short items, past 3. A shared title is independent
//!   evidence, so under a shared title rule 2 accepts up to 16 bits. The closest different
//!   stories sharing a title were 18 bits apart (two "Wild Flavors All Year Round" posts of
//!   one feed). At 12/14/16/18/20 bits recall is 0.9484/0.9548/0.9579/0.9619/0.9629 and
//!   precision 1/1/1/0.9986/0.9986.
//! - Leads shared by different stories are common (series posts: "What's Hot On GitHub: …",
//!   "RubyConf Speaker Interview: …" open with the same paragraph), so the lead never pairs
//!   articles without a shared title.
//! - Headlines of 2 words pair different posts ("RailsConf 2007" in two blogs): recall 0.9713,
//!   precision 0.9993. 3 words: no false pair at the default seed, 2–9 per seed (of ~2,850
//!   merges) at seeds 1–5, all by rule 4 (a recurring "Regator Top 10 Posts of the Week", two
//!   "merb 1.0" posts). 4 words: precision 1, but aggregator recall falls from 0.867 to
//!   0.757 on the corpus' short blog titles.
//! - Titles repeated under one source's items ("Letters to the editor") and lines repeated
//!   under them ([`super::repeated_titles`], [`super::repeated_lines`]) are dropped before
//!   hashing, as the union over all sources: with per-source filters only, copies carrying the
//!   original publisher's footer were 1–15 bits off.
//! - Without rules 2–4 (URL layer and rule 1 only) recall is 0.5762.
//!
//! Result at the defaults: pairwise precision 1.0000, recall 0.9579 when tuned (seeds 1–5:
//! precision 0.9969–0.9993, recall 0.9579–0.9707); on the current corpus snapshot 0.9987 /
//! 0.9588; per perturbation in the evaluation's documentation.

use super::boilerplate::{LineFilter, content_words, for_each_line};
use super::simhash::{hamming, shingled_simhash, stable_hash};
use crate::model::Article;
use crate::topics::for_each_word;

/// Words per shingle of the text fingerprint.
pub const SHINGLE_WORDS: usize = 3;

/// Words of the body that make up the lead fingerprint.
pub const LEAD_WORDS: usize = 24;

/// Title forms kept per article: the whole title, then each outlet suffix stripped in turn.
pub const TITLE_FORMS: usize = 4;

/// Fewest words of a title form for it to be kept and compared at all: one word ("Update",
/// "Security") is too often shared by different stories even with similar texts.
pub const MIN_TITLE_WORDS: usize = 2;

/// An article's near-duplicate fingerprints. Everything the decision needs, so the store
/// persists these fields and never re-reads the text to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprints {
    /// SimHash of the word shingles of title (all outlet suffixes stripped) + body
    /// (boilerplate dropped).
    pub text: u64,
    /// SimHash of the word shingles of the first [`LEAD_WORDS`] words of the body.
    pub lead: u64,
    /// [`title_key`]s of the title's forms: `titles[0]` the whole title, `titles[i]` with `i`
    /// outlet suffixes stripped; 0 marks a missing form or one under [`MIN_TITLE_WORDS`] words.
    pub titles: [u64; TITLE_FORMS],
    /// Word counts of the forms in `titles` (capped at 255).
    pub title_lens: [u8; TITLE_FORMS],
    /// Words hashed into `text` (title + body).
    pub text_words: u32,
    /// Words of the body after boilerplate removal.
    pub body_words: u32,
}

/// The tunable part of the decision. See the module documentation for the measurements
/// behind the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearDupRules {
    /// Largest Hamming distance of `text` fingerprints that means "same story" whatever the
    /// titles say. At most [`super::MAX_INDEXED_DISTANCE`]: the index finds no farther pair.
    pub max_text_distance: u32,
    /// Fewest words hashed into `text` on both sides for a text comparison: shorter texts have
    /// too few shingles for their SimHash to separate stories.
    pub min_text_words: u32,
    /// Largest Hamming distance of `text` or `lead` fingerprints when the titles also match.
    pub max_titled_distance: u32,
    /// Fewest body words on both sides for comparing `lead` fingerprints under one title.
    pub min_body_words: u32,
    /// A body with at most this many words beyond its title is "thin" (a headline-only item
    /// of a news aggregator), which only a title match can pair.
    pub thin_body_words: u32,
    /// Fewest words of the headline that pairs thin items on their title alone.
    pub min_headline_words: u8,
}

/// Rules the index cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NearDupRulesError {
    #[error(
        "max_text_distance {0} is above {max}, the largest distance the near-duplicate index finds",
        max = super::index::MAX_INDEXED_DISTANCE
    )]
    TextDistance(u32),
}

impl NearDupRules {
    /// The rules, if the index can find every pair they accept.
    pub fn validate(self) -> Result<NearDupRules, NearDupRulesError> {
        if self.max_text_distance > super::index::MAX_INDEXED_DISTANCE {
            return Err(NearDupRulesError::TextDistance(self.max_text_distance));
        }
        Ok(self)
    }
}

impl Default for NearDupRules {
    fn default() -> Self {
        NearDupRules {
            max_text_distance: 3,
            min_text_words: 20,
            max_titled_distance: 16,
            min_body_words: 8,
            thin_body_words: 12,
            min_headline_words: 3,
        }
    }
}

impl Fingerprints {
    /// The fingerprints of an article: title, and body = content, else summary.
    pub fn of_article(article: &Article, lines: &LineFilter) -> Fingerprints {
        let body = article
            .content_html
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .or(article.summary_html.as_deref())
            .unwrap_or("");
        Fingerprints::of(&article.title, body, lines)
    }

    /// The fingerprints of a title (plain text) and a body (HTML, or plain text with newlines),
    /// ignoring boilerplate lines: built-in patterns and those in `lines`.
    pub fn of(title: &str, body_html: &str, lines: &LineFilter) -> Fingerprints {
        let mut buf = String::new();
        let forms = title_forms(title);
        let mut titles = [0u64; TITLE_FORMS];
        let mut title_lens = [0u8; TITLE_FORMS];
        for (i, form) in forms.iter().enumerate() {
            let (key, words) = title_key_words(form);
            if words >= MIN_TITLE_WORDS && !lines.contains(key) {
                titles[i] = key;
                title_lens[i] = u8::try_from(words).unwrap_or(u8::MAX);
            }
        }
        // The most stripped form: the same on both sides whatever suffixes each carried.
        let headline = forms.last().copied().unwrap_or("");
        let mut text: Vec<u64> = Vec::new();
        for_each_word(headline, &mut buf, |w| text.push(stable_hash(w.as_bytes())));
        let head_len = text.len();
        for_each_line(body_html, |line| {
            if let Some(kept) = content_words(line, lines) {
                text.extend(kept.iter().map(|w| stable_hash(w.as_bytes())));
            }
        });
        let body = &text[head_len..];
        let lead = &body[..body.len().min(LEAD_WORDS)];
        Fingerprints {
            text: shingled_simhash(&text, SHINGLE_WORDS),
            lead: shingled_simhash(lead, SHINGLE_WORDS),
            titles,
            title_lens,
            text_words: saturate(text.len()),
            body_words: saturate(body.len()),
        }
    }

    /// Whether the body says nothing beyond the headline (a news aggregator's item).
    fn is_thin(&self, rules: &NearDupRules) -> bool {
        let title_words = u32::from(self.title_lens.iter().copied().max().unwrap_or(0));
        self.body_words <= title_words + rules.thin_body_words
    }
}

/// Bumped whenever hashing, shingling, boilerplate rules or the byte layout change: stored
/// fingerprints of another version must be recomputed from the article's text (their
/// `from_bytes` is `None`), never compared with new ones.
pub const FINGERPRINT_VERSION: u8 = 1;

/// Length of [`Fingerprints::to_bytes`].
pub const FINGERPRINT_BYTES: usize = 1 + 8 + 8 + 8 * TITLE_FORMS + TITLE_FORMS + 4 + 4;

impl Fingerprints {
    /// A fixed little-endian layout, led by [`FINGERPRINT_VERSION`], for a BLOB column.
    pub fn to_bytes(&self) -> [u8; FINGERPRINT_BYTES] {
        let mut out = [0u8; FINGERPRINT_BYTES];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&[FINGERPRINT_VERSION]);
        put(&self.text.to_le_bytes());
        put(&self.lead.to_le_bytes());
        for t in self.titles {
            put(&t.to_le_bytes());
        }
        put(&self.title_lens);
        put(&self.text_words.to_le_bytes());
        put(&self.body_words.to_le_bytes());
        out
    }

    /// The fingerprints [`to_bytes`](Self::to_bytes) wrote; `None` for another length or
    /// version (recompute those from the text).
    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprints> {
        if bytes.len() != FINGERPRINT_BYTES || bytes[0] != FINGERPRINT_VERSION {
            return None;
        }
        let mut rest = &bytes[1..];
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        };
        let u64_of = |b: &[u8]| b.try_into().map(u64::from_le_bytes).ok();
        let u32_of = |b: &[u8]| b.try_into().map(u32::from_le_bytes).ok();
        let text = u64_of(take(8))?;
        let lead = u64_of(take(8))?;
        let mut titles = [0u64; TITLE_FORMS];
        for t in &mut titles {
            *t = u64_of(take(8))?;
        }
        let title_lens: [u8; TITLE_FORMS] = take(TITLE_FORMS).try_into().ok()?;
        let text_words = u32_of(take(4))?;
        let body_words = u32_of(take(4))?;
        Some(Fingerprints {
            text,
            lead,
            titles,
            title_lens,
            text_words,
            body_words,
        })
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The stable hash of a title's normalized words; 0 when it has none.
pub fn title_key(title: &str) -> u64 {
    title_key_words(title).0
}

fn title_key_words(title: &str) -> (u64, usize) {
    let mut buf = String::new();
    let mut joined = String::new();
    let mut count = 0;
    for_each_word(title, &mut buf, |w| {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(w);
        count += 1;
    });
    if joined.is_empty() {
        (0, 0)
    } else {
        (stable_hash(joined.as_bytes()), count)
    }
}

/// The title, then the title with one, two… trailing outlet names stripped, until none is
/// left: "A - B - Outlet" gives ["A - B - Outlet", "A - B", "A"]. At most [`TITLE_FORMS`].
pub(crate) fn title_forms(title: &str) -> Vec<&str> {
    let mut forms = vec![title.trim()];
    while forms.len() < TITLE_FORMS {
        let last = forms[forms.len() - 1];
        let stripped = strip_outlet_suffix(last);
        if stripped.len() == last.len() {
            break;
        }
        forms.push(stripped);
    }
    forms
}

/// Separators news aggregators put between a headline and the outlet's name.
const OUTLET_SEPARATORS: &[&str] = &[" - ", " | ", " — ", " – "];

/// Longest outlet name (in words) that [`strip_outlet_suffix`] removes.
const MAX_OUTLET_WORDS: usize = 6;

/// The title without a trailing outlet name: "Headline - Outlet", "Headline | Outlet" and
/// "Headline — Outlet" (the form Google News and many sites use) give "Headline". Only the last
/// separator is considered, the suffix must be 1–6 words and a headline must remain, so
/// "Rust 1.0 - a retrospective look at five years" is kept whole.
pub fn strip_outlet_suffix(title: &str) -> &str {
    let title = title.trim();
    let cut = OUTLET_SEPARATORS
        .iter()
        .filter_map(|sep| title.rfind(sep).map(|i| (i, sep.len())))
        .max_by_key(|(i, _)| *i);
    let Some((at, len)) = cut else {
        return title;
    };
    let (head, suffix) = (title[..at].trim_end(), &title[at + len..]);
    let suffix_words = suffix.split_whitespace().count();
    let head_has_word = head.chars().any(char::is_alphanumeric);
    if head_has_word && (1..=MAX_OUTLET_WORDS).contains(&suffix_words) {
        head
    } else {
        title
    }
}

/// Where two titles meet: every pair of forms (indexes into `titles`) with the same words,
/// and how many words that is.
fn title_matches<'f>(
    a: &'f Fingerprints,
    b: &'f Fingerprints,
) -> impl Iterator<Item = (usize, usize, u8)> + 'f {
    a.titles.iter().enumerate().flat_map(move |(i, ta)| {
        b.titles
            .iter()
            .enumerate()
            .filter(move |(_, tb)| *ta != 0 && ta == *tb)
            .map(move |(j, _)| (i, j, a.title_lens[i]))
    })
}

/// Whether two articles of different sources are the same story by their text.
pub fn is_near_duplicate(a: &Fingerprints, b: &Fingerprints, rules: &NearDupRules) -> bool {
    let long_enough = a.text_words.min(b.text_words) >= rules.min_text_words;
    let d_text = hamming(a.text, b.text);
    if long_enough && d_text <= rules.max_text_distance {
        return true;
    }
    if title_matches(a, b).next().is_none() {
        return false;
    }
    // Under one title, bodies far more alike than chance (unrelated texts differ in ~32 bits).
    if long_enough && d_text <= rules.max_titled_distance {
        return true;
    }
    let bodies = a.body_words.min(b.body_words) >= rules.min_body_words;
    if bodies && hamming(a.lead, b.lead) <= rules.max_titled_distance {
        return true;
    }
    if d_text == 0 && a.body_words > 0 && b.body_words > 0 {
        // Short texts under one title: only the very same words.
        return true;
    }
    // Headline-only items (a news aggregator's "Headline - Outlet", a link feed): the
    // headline alone decides, when it is long enough to name one story.
    let (a_thin, b_thin) = (a.is_thin(rules), b.is_thin(rules));
    title_matches(a, b).any(|(i, j, words)| {
        words >= rules.min_headline_words
            && ((a_thin && i > 0) || (b_thin && j > 0) || (a_thin && b_thin))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::{DIPLOMAT as ARTICLE, diplomat_body as body, diplomat_title as title};

    fn fp(title: &str, body: &str) -> Fingerprints {
        Fingerprints::of(title, body, &LineFilter::default())
    }

    fn near(a: &Fingerprints, b: &Fingerprints) -> bool {
        is_near_duplicate(a, b, &NearDupRules::default())
    }

    #[test]
    fn strip_outlet_suffix_removes_the_outlet_when_title_has_one() {
        for (title, stripped) in [
            (
                "China, Kyrgyzstan Ties Warm - The Diplomat",
                "China, Kyrgyzstan Ties Warm",
            ),
            (
                "China, Kyrgyzstan Ties Warm | The Diplomat",
                "China, Kyrgyzstan Ties Warm",
            ),
            (
                "China, Kyrgyzstan Ties Warm — The Diplomat",
                "China, Kyrgyzstan Ties Warm",
            ),
            (
                "China, Kyrgyzstan Ties Warm – The Diplomat",
                "China, Kyrgyzstan Ties Warm",
            ),
            ("A - B - Outlet", "A - B"),
            ("China, Kyrgyzstan Ties Warm", "China, Kyrgyzstan Ties Warm"),
            // The suffix is too long to be an outlet: part of the headline.
            (
                "Rust 1.0 - a retrospective look back at five long years",
                "Rust 1.0 - a retrospective look back at five long years",
            ),
            // Nothing would be left.
            (" - The Diplomat", "- The Diplomat"),
            ("Self-driving cars", "Self-driving cars"),
        ] {
            assert_eq!(strip_outlet_suffix(title), stripped, "{title}");
        }
    }

    #[test]
    fn title_forms_strips_each_suffix_in_turn_when_outlet_names_have_separators() {
        assert_eq!(
            title_forms("Headline here - Blog - Home"),
            [
                "Headline here - Blog - Home",
                "Headline here - Blog",
                "Headline here"
            ]
        );
    }

    #[test]
    fn fingerprints_ignore_boilerplate_when_one_copy_has_it() {
        let with = fp(title(), &body());
        let without = fp(
            title(),
            &body().replace(
                "<p>Enjoying this article? Click here to subscribe for full access. Just $5 a month.</p>",
                "",
            ),
        );
        assert!(body().contains("Enjoying this article?"));
        assert_eq!(with, without);
        let appended = fp(
            title(),
            &format!(
                "{}<p>The post {} appeared first on The Diplomat.</p><p>Sign up for our newsletter</p>",
                body(),
                title()
            ),
        );
        assert_eq!(with, appended);
    }

    #[test]
    fn fingerprints_drop_repeated_lines_when_filter_names_them() {
        let footer = "<p>Harbor Post is an independent newsroom funded by its members.</p>";
        let bodies = [
            format!("<p>one</p>{footer}"),
            format!("<p>two</p>{footer}"),
            format!("<p>three</p>{footer}"),
        ];
        let filter = super::super::repeated_lines(bodies.iter().map(String::as_str), 3);
        let with = Fingerprints::of(title(), &format!("{}{footer}", body()), &filter);
        assert_eq!(with, fp(title(), &body()));
    }

    #[test]
    fn is_near_duplicate_pairs_copies_when_title_has_an_outlet_suffix() {
        let a = fp(title(), &body());
        let b = fp(&format!("{} - Central Asia Wire", title()), &body());
        assert_eq!(hamming(a.text, b.text), 0);
        assert!(near(&a, &b));
    }

    #[test]
    fn is_near_duplicate_pairs_copies_when_a_few_words_change() {
        let a = fp(title(), &body());
        let edited = body()
            .replace("Earlier this week", "This week")
            .replace("senior leaders", "top leaders")
            .replace("violent summer", "bloody summer");
        let b = fp(title(), &edited);
        assert!(hamming(a.text, b.text) > 0);
        assert!(near(&a, &b));
    }

    #[test]
    fn is_near_duplicate_pairs_truncated_summary_when_titles_match() {
        let a = fp(title(), &body());
        let words: Vec<&str> = ARTICLE
            .split("\n\n")
            .skip(1)
            .flat_map(str::split_whitespace)
            .take(35)
            .collect();
        let b = fp(
            title(),
            &format!(
                "<p>{} […] Continue reading China, Kyrgyzstan Ties Warm →</p>",
                words.join(" ")
            ),
        );
        assert!(hamming(a.text, b.text) > 10, "the texts are far apart");
        assert_eq!(hamming(a.lead, b.lead), 0);
        assert!(near(&a, &b));
    }

    #[test]
    fn is_near_duplicate_pairs_aggregator_item_when_its_headline_is_the_title() {
        let a = fp(title(), &body());
        let aggregator = fp(
            &format!("{} - The Diplomat", title()),
            "<a href=\"https://news.google.com/rss/articles/CBMi\">China, Kyrgyzstan Ties Warm</a>&nbsp;&nbsp;<font color=\"#6f6f6f\">The Diplomat</font>",
        );
        assert!(near(&a, &aggregator));
        // A two-word headline names no story.
        let short = fp("Ties Warm", &body());
        let short_aggregator = fp("Ties Warm - The Diplomat", "<a>Ties Warm</a> The Diplomat");
        assert!(!near(&short, &short_aggregator));
    }

    #[test]
    fn is_near_duplicate_is_symmetric_when_arguments_swap() {
        let variants = [
            fp(title(), &body()),
            fp(
                &format!("{} - The Diplomat", title()),
                "<a>China, Kyrgyzstan Ties Warm</a>",
            ),
            fp(
                &format!("{} | Wire", title()),
                &body().replace("senior", "top"),
            ),
            fp("This week in review", &body()),
            fp("China, Kyrgyzstan Ties Warm - Day 1 - Blog", "<p>short</p>"),
            fp("China, Kyrgyzstan Ties Warm - Day 2", "<p>other</p>"),
        ];
        for a in &variants {
            for b in &variants {
                assert_eq!(near(a, b), near(b, a));
            }
        }
    }

    #[test]
    fn is_near_duplicate_keeps_apart_different_stories_when_they_share_a_title() {
        let a = fp("This week in review", &body());
        let b = fp(
            "This week in review",
            "<p>Japan's rice prices rose for a third month as a poor harvest and tourist demand drained stocks, the farm ministry said, and the government will release reserves from its stockpile to ease the shortage before the autumn crop arrives in shops.</p>",
        );
        assert!(!near(&a, &b));
    }

    #[test]
    fn is_near_duplicate_keeps_apart_series_posts_when_only_their_lead_is_shared() {
        let lead = "<p>Welcome to another episode of the show, where we talk to the people who build the tools we use every day and ask them how they work and why.</p>";
        let a = fp(
            "Episode 12: Jane Doe on compilers",
            &format!(
                "{lead}<p>This week Jane explains register allocation, instruction selection and why compilers are mostly about data structures.</p>"
            ),
        );
        let b = fp(
            "Episode 13: John Roe on databases",
            &format!(
                "{lead}<p>This week John walks through write-ahead logs, B-trees and the trade-offs of storing rows versus columns on disk.</p>"
            ),
        );
        assert_eq!(hamming(a.lead, b.lead), 0);
        assert!(!near(&a, &b));
    }

    #[test]
    fn fingerprints_skip_title_forms_when_filter_marks_them_generic() {
        let filter = super::super::repeated_titles(
            [
                "Letters to the editor",
                "Letters to the editor",
                "Letters to the editor",
            ],
            3,
        );
        let a = Fingerprints::of("Letters to the editor", "<p>x</p>", &filter);
        assert_eq!(a.titles, [0; TITLE_FORMS]);
        let b = Fingerprints::of("Letters to the editor", "<p>x</p>", &LineFilter::default());
        assert_ne!(b.titles[0], 0);
    }

    #[test]
    fn near_dup_rules_validate_refuses_text_distance_when_index_cannot_find_it() {
        assert!(NearDupRules::default().validate().is_ok());
        let wide = NearDupRules {
            max_text_distance: 4,
            ..NearDupRules::default()
        };
        assert_eq!(
            wide.validate().unwrap_err().to_string(),
            "max_text_distance 4 is above 3, the largest distance the near-duplicate index finds"
        );
    }

    #[test]
    fn fingerprints_round_trip_through_bytes_when_version_matches() {
        let a = fp(&format!("{} - The Diplomat", title()), &body());
        let bytes = a.to_bytes();
        assert_eq!(Fingerprints::from_bytes(&bytes), Some(a));
        let mut other_version = bytes;
        other_version[0] = FINGERPRINT_VERSION + 1;
        assert_eq!(Fingerprints::from_bytes(&other_version), None);
        assert_eq!(Fingerprints::from_bytes(&bytes[1..]), None);
    }

    #[test]
    fn fingerprints_are_pinned_when_computed_in_any_process() {
        // Stored fingerprints must stay comparable: a change here needs FINGERPRINT_VERSION + 1.
        let a = fp(
            "China, Kyrgyzstan Ties Warm - The Diplomat",
            "<p>The two countries signed a border agreement on Tuesday in Bishkek, officials said.</p><p>Enjoying this article? Click here to subscribe for full access.</p>",
        );
        assert_eq!(a.text, 0x292c_8486_a6dc_d177);
        assert_eq!(a.text_words, 17);
        assert_eq!(a.body_words, 13);
        assert_eq!(a.title_lens, [6, 4, 0, 0]);
    }
}
