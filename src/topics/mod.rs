//! Topic queries (DESIGN §6): the query language, and one matcher for every topic.
//!
//! - `query.rs` parses the text of a topic's `query` into a [`Query`] tree, with the byte offset
//!   of any error so `check` can point at it.
//! - `matcher.rs` compiles all topics at once into a [`Matcher`] that decides every topic in one
//!   pass over an article.
//!
//! Both sides share one normalizer, [`words`] / [`for_each_word`]: a query term and a document
//! word are equal exactly when their normalized forms are equal, so folding rules (case,
//! diacritics, compatibility forms) live in this one place. Pure code: no I/O, no clock.

mod matcher;
mod query;

pub use matcher::Matcher;
pub use query::{Field, Query, QueryError, Term};

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Splits `text` into normalized words: lower-cased, compatibility-decomposed (NFKD) with every
/// combining mark dropped, so "Ürümqi" gives `urumqi`, "Ёлка" gives `елка` and "ﬁnance" gives
/// `finance`. A word is a maximal run of alphanumeric characters (any script), so punctuation,
/// apostrophes and hyphens separate words: "China’s co-operation" gives `china s co operation`.
///
/// Public because `search` and dedup want the same notion of a word as topic matching.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    for_each_word(text, &mut buf, |word| out.push(word.to_owned()));
    out
}

/// The allocation-light form of [`words`]: calls `each` with every normalized word of `text`,
/// in order, building each word in the caller's reusable `buf` (no allocation per word once
/// `buf` has grown to the longest word).
pub fn for_each_word(text: &str, buf: &mut String, mut each: impl FnMut(&str)) {
    buf.clear();
    for c in text.chars() {
        if c.is_ascii() {
            // Fast path: ASCII never decomposes and has no marks.
            if c.is_ascii_alphanumeric() {
                buf.push(c.to_ascii_lowercase());
            } else if !buf.is_empty() {
                each(buf);
                buf.clear();
            }
        } else if is_invisible_joiner(c) {
            // Soft hyphens and joiners sit inside words ("co\u{AD}operation"): not a break.
        } else {
            fold_non_ascii(c, &mut |folded| match folded {
                Some(ch) => buf.push(ch),
                None => {
                    if !buf.is_empty() {
                        each(buf);
                        buf.clear();
                    }
                }
            });
        }
    }
    if !buf.is_empty() {
        each(buf);
        buf.clear();
    }
}

/// Format characters that join or hyphenate inside a word rather than separate words.
fn is_invisible_joiner(c: char) -> bool {
    matches!(
        c,
        '\u{AD}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Folds one non-ASCII character: emits `Some(ch)` for each character it contributes to a word,
/// `None` where it separates words, and nothing for combining marks (diacritics).
///
/// Lower-casing runs after decomposition because compatibility forms may decompose to capitals
/// (ℌ → H), and lower-casing may itself produce a mark (İ → i + U+0307), which is dropped.
fn fold_non_ascii(c: char, emit: &mut impl FnMut(Option<char>)) {
    decompose_compatible(c, |d| {
        if is_combining_mark(d) {
            return;
        }
        for l in d.to_lowercase() {
            match l {
                // Case folding beyond lower-casing, so "Straße" meets "strasse" and a final
                // sigma meets the medial form.
                'ß' => {
                    emit(Some('s'));
                    emit(Some('s'));
                }
                'ς' => emit(Some('σ')),
                _ if is_combining_mark(l) => {}
                _ if l.is_alphanumeric() => emit(Some(l)),
                _ => emit(None),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_folds_case_and_diacritics_when_text_is_latin() {
        assert_eq!(words("Ürümqi"), ["urumqi"]);
        assert_eq!(words("Café CRÈME brûlée"), ["cafe", "creme", "brulee"]);
        assert_eq!(words("Straße"), ["strasse"]);
        assert_eq!(words("İstanbul"), ["istanbul"]);
    }

    #[test]
    fn words_keeps_cyrillic_words_whole_when_text_is_cyrillic() {
        assert_eq!(
            words("Қазақстан и Кыргызстан: «граница»!"),
            ["қазақстан", "и", "кыргызстан", "граница"]
        );
        assert_eq!(words("Ёлка ЁЖ"), ["елка", "еж"]);
    }

    #[test]
    fn words_splits_on_punctuation_when_text_has_apostrophes_and_hyphens() {
        assert_eq!(
            words("China’s co-operation, 850-kilometre border; ETIM."),
            [
                "china",
                "s",
                "co",
                "operation",
                "850",
                "kilometre",
                "border",
                "etim"
            ]
        );
        assert_eq!(
            words("https://thediplomat.com/2012/09/a"),
            ["https", "thediplomat", "com", "2012", "09", "a"]
        );
        assert!(words(" \n\t-- … ").is_empty());
    }

    #[test]
    fn words_folds_compatibility_forms_when_text_has_ligatures_or_soft_hyphens() {
        assert_eq!(words("ﬁnance"), ["finance"]);
        assert_eq!(words("co\u{AD}operation"), ["cooperation"]);
        assert_eq!(words("ＡＢＣ"), ["abc"]);
    }

    #[test]
    fn words_is_idempotent_when_applied_to_its_own_output() {
        let text = "Ürümqi Қазақстан ЁЛКА Straße ﬁx İzmir Ωmega ℌello ΣΊΣΥΦΟΣ 42";
        let once = words(text);
        let twice = words(&once.join(" "));
        assert_eq!(once, twice);
    }

    #[test]
    fn for_each_word_reuses_buffer_when_called_repeatedly() {
        let mut buf = String::new();
        let mut seen = Vec::new();
        for_each_word("Alpha beta", &mut buf, |w| seen.push(w.to_owned()));
        for_each_word("Gamma", &mut buf, |w| seen.push(w.to_owned()));
        assert_eq!(seen, ["alpha", "beta", "gamma"]);
        assert!(buf.is_empty());
    }
}
