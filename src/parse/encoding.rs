//! Which character encoding a feed document is in, and its text as UTF-8. Pure.
//!
//! The order of evidence, strongest first:
//! 1. a byte order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE): it cannot be there by accident;
//! 2. the byte pattern of `<?` in a wide encoding without a BOM (XML 1.0 appendix F): a
//!    document whose bytes are `00 3C 00 3F` is UTF-16BE whatever its labels say;
//! 3. the HTTP `charset` — but only on an XML or feed media type: a server that calls a feed
//!    `text/html` or `text/plain` is describing some default, not this document, so there the
//!    XML declaration wins when it names an encoding;
//! 4. the XML declaration's `encoding`, read as ASCII;
//! 5. no label: UTF-8 when the bytes are valid UTF-8 (the XML default), else windows-1252.
//!
//! A label is overruled when the bytes prove it wrong: a wide label (UTF-16/32) on a document
//! whose `<?xml` we could read as ASCII (a common lie of .NET generators), or UTF-8 on bytes
//! that are not UTF-8 when a later label names something else. Why windows-1252 last: it is
//! what WHATWG maps ISO-8859-1 and US-ASCII to, every byte decodes, and undeclared non-UTF-8
//! feeds are overwhelmingly Western European; text that is mostly valid UTF-8 with a few broken
//! sequences stays UTF-8 (with replacement characters), since one bad byte must not turn every
//! accented letter into mojibake.

use encoding_rs::Encoding;

/// Where the encoding used came from (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingSource {
    Bom,
    /// The wide-encoding byte pattern of XML 1.0 appendix F.
    BytePattern,
    Http,
    Declaration,
    /// No usable label: UTF-8 because the bytes are UTF-8.
    Default,
    /// No usable label and not UTF-8: windows-1252.
    Fallback,
}

/// A document decoded to UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    /// The WHATWG name of the encoding used, e.g. `windows-1251`, `UTF-16BE`, or `UTF-32LE`.
    pub encoding: &'static str,
    pub source: EncodingSource,
    /// Some bytes were not valid in that encoding and became U+FFFD.
    pub had_errors: bool,
}

/// The encodings encoding_rs lacks (WHATWG has no UTF-32), decoded here by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wide32 {
    Le,
    Be,
}

#[derive(Debug, Clone, Copy)]
enum Charset {
    Std(&'static Encoding),
    Utf32(Wide32),
}

impl Charset {
    fn is_wide(self) -> bool {
        match self {
            Charset::Std(e) => e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE,
            Charset::Utf32(_) => true,
        }
    }
}

/// Decode `bytes` by the order of evidence above. `content_type` is the HTTP header, if any.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    if let Some((charset, bom_len)) = bom(bytes) {
        return finish(charset, &bytes[bom_len..], EncodingSource::Bom);
    }
    if let Some(charset) = wide_pattern(bytes) {
        return finish(charset, bytes, EncodingSource::BytePattern);
    }
    let declared = declared_label(bytes).and_then(|l| charset_for_label(&l));
    let http = content_type.and_then(|ct| {
        let charset = charset_param(ct).and_then(|l| charset_for_label(&l))?;
        // On a non-feed media type the header is a server default: the declaration wins.
        (is_feed_media_type(ct) || declared.is_none()).then_some(charset)
    });
    // Past the BOM and pattern checks the bytes are ASCII-compatible: a wide label is a lie.
    let candidates = [
        (http, EncodingSource::Http),
        (declared, EncodingSource::Declaration),
    ];
    let usable: Vec<(Charset, EncodingSource)> = candidates
        .iter()
        .filter_map(|(c, s)| c.filter(|c| !c.is_wide()).map(|c| (c, *s)))
        .collect();
    let utf8_valid = std::str::from_utf8(bytes).is_ok();
    for (i, (charset, source)) in usable.iter().enumerate() {
        let is_utf8 = matches!(charset, Charset::Std(e) if *e == encoding_rs::UTF_8);
        // A UTF-8 label on bytes that are not UTF-8 yields to a later label, if there is one.
        if is_utf8 && !utf8_valid && i + 1 < usable.len() {
            continue;
        }
        return finish(*charset, bytes, *source);
    }
    if utf8_valid || mostly_utf8(bytes) {
        let source = if utf8_valid {
            EncodingSource::Default
        } else {
            EncodingSource::Fallback
        };
        return finish(Charset::Std(encoding_rs::UTF_8), bytes, source);
    }
    finish(
        Charset::Std(encoding_rs::WINDOWS_1252),
        bytes,
        EncodingSource::Fallback,
    )
}

fn finish(charset: Charset, bytes: &[u8], source: EncodingSource) -> Decoded {
    let (text, encoding, had_errors) = match charset {
        Charset::Std(encoding) => {
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            (text.into_owned(), encoding.name(), had_errors)
        }
        Charset::Utf32(order) => {
            let (text, had_errors) = decode_utf32(bytes, order);
            let name = match order {
                Wide32::Le => "UTF-32LE",
                Wide32::Be => "UTF-32BE",
            };
            (text, name, had_errors)
        }
    };
    Decoded {
        text,
        encoding,
        source,
        had_errors,
    }
}

fn bom(bytes: &[u8]) -> Option<(Charset, usize)> {
    // UTF-32LE's BOM starts with UTF-16LE's: test it first.
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Some((Charset::Utf32(Wide32::Le), 4));
    }
    if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some((Charset::Utf32(Wide32::Be), 4));
    }
    Encoding::for_bom(bytes).map(|(e, len)| (Charset::Std(e), len))
}

/// XML 1.0 appendix F: the first four bytes of a document starting with `<` (or whitespace)
/// in a wide encoding. Any ASCII character works, not only `<?`, so a document that starts
/// with whitespace is recognised too.
fn wide_pattern(bytes: &[u8]) -> Option<Charset> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let ascii = |b: u8| b != 0 && b.is_ascii();
    match head {
        [0, 0, 0, a] if ascii(a) => Some(Charset::Utf32(Wide32::Be)),
        [a, 0, 0, 0] if ascii(a) => Some(Charset::Utf32(Wide32::Le)),
        [0, a, 0, b] if ascii(a) && ascii(b) => Some(Charset::Std(encoding_rs::UTF_16BE)),
        [a, 0, b, 0] if ascii(a) && ascii(b) => Some(Charset::Std(encoding_rs::UTF_16LE)),
        _ => None,
    }
}

/// A charset label as encoding_rs knows it, plus the spellings feeds use that WHATWG lacks.
fn charset_for_label(label: &str) -> Option<Charset> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if let Some(e) = Encoding::for_label(label.as_bytes()) {
        // WHATWG maps "utf-16" to UTF-16LE; it is wide either way, which is all we ask.
        return Some(Charset::Std(e));
    }
    match label.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf16" | "utf-16" | "ucs-2" => Some(Charset::Std(encoding_rs::UTF_16BE)),
        "utf-32" | "utf32" | "ucs-4" | "utf-32be" => Some(Charset::Utf32(Wide32::Be)),
        "utf-32le" => Some(Charset::Utf32(Wide32::Le)),
        "utf8" => Some(Charset::Std(encoding_rs::UTF_8)),
        _ => None,
    }
}

/// The `charset` parameter of a Content-Type, quotes and spaces around `=` tolerated.
pub fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (k.trim().eq_ignore_ascii_case("charset") && !v.is_empty()).then(|| v.to_owned())
    })
}

/// Media types whose charset describes a feed document (XML, RSS, Atom, JSON).
fn is_feed_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ["xml", "rss", "atom", "rdf", "json"]
        .iter()
        .any(|k| essence.contains(k))
}

/// The `encoding="…"` of an XML declaration at the start of the document, read as ASCII.
fn declared_label(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = head.windows(5).position(|w| w == b"<?xml")?;
    // Only whitespace (or garbage that is not markup) may come before a declaration.
    if head[..start].contains(&b'<') {
        return None;
    }
    let end = head[start..].windows(2).position(|w| w == b"?>")? + start;
    let decl = String::from_utf8_lossy(&head[start..end]);
    declaration_attribute(&decl, "encoding")
}

/// The value of a pseudo-attribute (`encoding`, `version`) of an XML declaration.
pub fn declaration_attribute(decl: &str, name: &str) -> Option<String> {
    let at = decl.find(name)?;
    let rest = decl[at + name.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    Some(value[..end].to_owned())
}

/// Invalid UTF-8, but with more valid multi-byte characters than broken sequences: a UTF-8
/// document with a few bad bytes, not a single-byte one (whose accented letters almost never
/// form valid UTF-8 sequences by chance).
fn mostly_utf8(bytes: &[u8]) -> bool {
    let mut valid_multibyte = 0usize;
    let mut invalid = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid_multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by construction.
                valid_multibyte += std::str::from_utf8(good)
                    .map(|s| s.chars().filter(|c| !c.is_ascii()).count())
                    .unwrap_or(0);
                invalid += 1;
                let skip = e.error_len().unwrap_or(bad.len()).max(1);
                rest = &bad[skip.min(bad.len())..];
            }
        }
    }
    valid_multibyte > invalid
}

fn decode_utf32(bytes: &[u8], order: Wide32) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len() / 4);
    let mut had_errors = !bytes.len().is_multiple_of(4);
    for chunk in bytes.chunks_exact(4) {
        let quad = [chunk[0], chunk[1], chunk[2], chunk[3]];
        let code = match order {
            Wide32::Le => u32::from_le_bytes(quad),
            Wide32::Be => u32::from_be_bytes(quad),
        };
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None => {
                had_errors = true;
                out.push('\u{FFFD}');
            }
        }
    }
    if had_errors && !bytes.len().is_multiple_of(4) {
        out.push('\u{FFFD}');
    }
    (out, had_errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CYRILLIC: &str = "\u{41d}\u{43e}\u{432}\u{43e}\u{441}\u{442}\u{438}"; // "Новости"

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if big_endian {
                [0xFE, 0xFF]
            } else {
                [0xFF, 0xFE]
            });
        }
        for unit in text.encode_utf16() {
            out.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn decode_honours_bom_when_labels_disagree() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend(
            format!("<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>{CYRILLIC}</t>")
                .as_bytes(),
        );
        let d = decode(&bytes, Some("text/xml; charset=iso-8859-1"));
        assert_eq!(d.source, EncodingSource::Bom);
        assert!(d.text.contains(CYRILLIC), "{}", d.text);
        assert!(d.text.starts_with("<?xml"));
    }

    #[test]
    fn decode_reads_utf16_when_bom_or_byte_pattern_says_so() {
        let xml = format!("<?xml version=\"1.0\" encoding=\"utf-16\"?><t>{CYRILLIC}</t>");
        for (be, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            let d = decode(&utf16(&xml, be, bom), None);
            assert_eq!(d.text, xml, "be={be} bom={bom}");
            assert!(!d.had_errors);
            assert_eq!(d.encoding, if be { "UTF-16BE" } else { "UTF-16LE" });
        }
    }

    #[test]
    fn decode_reads_utf32_when_byte_pattern_says_so() {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-32\"?><t>\u{1F600}</t>";
        let be: Vec<u8> = xml.chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
        let le: Vec<u8> = xml.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        assert_eq!(decode(&be, None).text, xml);
        assert_eq!(decode(&le, None).text, xml);
        let mut with_bom = vec![0xFF, 0xFE, 0, 0];
        with_bom.extend(&le);
        assert_eq!(decode(&with_bom, None).source, EncodingSource::Bom);
        assert_eq!(decode(&with_bom, None).text, xml);
    }

    #[test]
    fn decode_ignores_wide_label_when_bytes_are_ascii_compatible() {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-16\"?><t>caf\u{e9}</t>";
        let d = decode(xml.as_bytes(), Some("application/xml; charset=utf-16"));
        assert_eq!(d.text, xml);
        assert_eq!(d.encoding, "UTF-8");
    }

    #[test]
    fn decode_prefers_http_charset_over_declaration_when_media_type_is_xml() {
        let xml = format!("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>{CYRILLIC}</t>");
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&xml);
        let d = decode(&bytes, Some("application/rss+xml; charset='windows-1251'"));
        assert_eq!(d.source, EncodingSource::Http);
        assert!(d.text.contains(CYRILLIC));
    }

    #[test]
    fn decode_prefers_declaration_when_content_type_is_not_a_feed_type() {
        let xml = format!("<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>{CYRILLIC}</t>");
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&xml);
        let d = decode(&bytes, Some("text/html; charset=ISO-8859-1"));
        assert_eq!(d.source, EncodingSource::Declaration);
        assert!(d.text.contains(CYRILLIC));
    }

    #[test]
    fn decode_reads_koi8r_gb2312_and_latin2_when_declared() {
        for (label, encoding, text) in [
            ("KOI8-R", encoding_rs::KOI8_R, CYRILLIC),
            (
                "gb2312",
                encoding_rs::GBK,
                "\u{6295}\u{8d44}\u{8d44}\u{8baf}",
            ),
            (
                "ISO-8859-2",
                encoding_rs::ISO_8859_2,
                "\u{141}\u{f3}d\u{17a}",
            ),
            ("windows-1251", encoding_rs::WINDOWS_1251, CYRILLIC),
        ] {
            let xml = format!("<?xml version=\"1.0\" encoding=\"{label}\"?><t>{text}</t>");
            let (bytes, _, unmappable) = encoding.encode(&xml);
            assert!(!unmappable, "{label}");
            let d = decode(&bytes, None);
            assert!(d.text.contains(text), "{label}: {}", d.text);
            assert!(!d.had_errors, "{label}");
        }
    }

    #[test]
    fn decode_falls_back_to_windows_1252_when_undeclared_bytes_are_not_utf8() {
        let d = decode(b"<t>Caf\xe9 \x80</t>", None);
        assert_eq!(d.text, "<t>Caf\u{e9} \u{20ac}</t>");
        assert_eq!(d.source, EncodingSource::Fallback);
    }

    #[test]
    fn decode_keeps_utf8_with_replacement_when_few_bytes_are_broken() {
        let d2 = decode(b"<t>\xc3\xa9t\xc3\xa9 \xc3\xbcber \xff</t>", None);
        assert_eq!(d2.text, "<t>\u{e9}t\u{e9} \u{fc}ber \u{FFFD}</t>");
        assert!(d2.had_errors);
    }

    #[test]
    fn decode_yields_to_declaration_when_http_utf8_is_wrong() {
        let d = decode(
            b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>Caf\xe9</t>",
            Some("application/xml; charset=utf-8"),
        );
        assert_eq!(d.source, EncodingSource::Declaration);
        assert!(d.text.contains("Caf\u{e9}"));
    }

    #[test]
    fn decode_replaces_invalid_bytes_when_label_is_trusted() {
        let d = decode(
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><t>a\xffb</t>",
            None,
        );
        assert!(d.text.contains("a\u{FFFD}b"));
        assert!(d.had_errors);
    }

    #[test]
    fn charset_param_tolerates_quotes_spaces_and_bogus_params() {
        assert_eq!(
            charset_param("text/xml;charset= \"us-ascii\"").as_deref(),
            Some("us-ascii")
        );
        assert_eq!(
            charset_param("text/xml; charset = 'gb2312'").as_deref(),
            Some("gb2312")
        );
        assert_eq!(charset_param("text/xml; charset:iso-8859-1"), None);
        assert_eq!(charset_param("text/xml;"), None);
    }
}
