//! Deduplication (DESIGN §9), the pure part: no I/O, no clock.
//!
//! Layer 1 decides when two items of one source are the same article ([`entry_key`]); layer 2
//! decides when articles of different sources are the same story ([`canonical_url`]); layer 3
//! decides when their texts are near-duplicates ([`Fingerprints`], [`is_near_duplicate`]) and
//! finds candidates without scanning every stored story ([`band_keys`], [`NearDupIndex`]).
//! The store applies these keys; this module only computes them, so they can be tested
//! exhaustively.
//!
//! - `boilerplate.rs`: the lines of an article that say nothing about it (newsletter pitches,
//!   "The post … appeared first on …", a source's repeated footer or column title), dropped
//!   before hashing.
//! - `simhash.rs`: the stable 64-bit hashes and the SimHash of word shingles.
//! - `near.rs`: an article's fingerprints and the near-duplicate decision rule, with the
//!   measurements behind its thresholds.
//! - `index.rs`: the keys that find candidates in O(1) (block pairs of the SimHash, title
//!   forms) and an in-memory index with a time window.
//!
//! What the store does with layer 3, per new article of source S at time `at` (published,
//! else first seen): fingerprint it with the union of every source's repeated lines and
//! titles ([`repeated_lines`], [`repeated_titles`], [`LineFilter::extend`]); look up the
//! stored articles of other sources sharing one of its [`band_keys`] within the window;
//! confirm each with [`is_near_duplicate`] on their stored [`Fingerprints::to_bytes`]; join
//! the first confirmed one's story; store its fingerprints and keys.

mod boilerplate;
mod index;
mod near;
mod simhash;

pub use boilerplate::{
    LineFilter, MIN_ITEMS_TO_LEARN, REPEATED_ITEMS, is_boilerplate_line, learn_source_filter,
    line_hash, repeated_lines, repeated_titles,
};
pub use index::{BAND_COUNT, BandKey, MAX_INDEXED_DISTANCE, NearDupIndex, band_keys};
pub use near::{
    FINGERPRINT_BYTES, FINGERPRINT_VERSION, Fingerprints, LEAD_WORDS, MIN_TITLE_WORDS,
    NearDupRules, NearDupRulesError, SHINGLE_WORDS, TITLE_FORMS, is_near_duplicate,
    strip_outlet_suffix, title_key,
};
pub use simhash::{hamming, simhash, stable_hash};

use sha2::{Digest, Sha256};
use url::Url;

/// Query parameters that only track the reader and never select content.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "yclid",
    "igshid",
    "_ga",
    "_hsenc",
    "_hsmi",
    "ref",
    "ref_src",
    "cmpid",
    "ocid",
    "spm",
    "mkt_tok",
    "vero_id",
    "wt_mc",
    "at_medium",
    "at_campaign",
    // Added for issue 4, seen on news sites' feed and share links.
    "ito",
    "cmp",
    "smid",
    "emc",
    "partner",
    "icid",
    "ncid",
    "xtor",
    "wt.mc_id",
    "wt_zmc",
    "ns_source",
    "ns_mchannel",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "soc_src",
    "soc_trk",
    "guccounter",
    "guce_referrer",
    "guce_referrer_sig",
    "_gl",
    "gclsrc",
    "wbraid",
    "gbraid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "s_kwcid",
    "ef_id",
    "__hstc",
    "__hssc",
    "__hsfp",
    "__s",
    "fb_action_ids",
    "fb_action_types",
    "fb_source",
    "fb_ref",
    "rb_clickid",
    "sr_share",
];

/// Prefixes of tracking parameter names: analytics suites that namespace their parameters
/// (Google `utm_`, Matomo/Piwik `pk_`/`mtm_`, HubSpot ads `hsa_`, Omeda `oly_`).
const TRACKING_PREFIXES: &[&str] = &["utm_", "pk_", "mtm_", "hsa_", "oly_"];

/// How a user extends the built-in URL rules (`[dedup] tracking_params` in feeds.toml).
/// `Default` adds nothing to the built-in list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlRules {
    /// Lower-cased exact parameter names.
    names: Vec<String>,
    /// Lower-cased name prefixes (written `name*`).
    prefixes: Vec<String>,
}

/// A tracking parameter pattern that would remove too much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRuleError {
    #[error(
        "tracking parameter pattern {0:?} is empty or matches every parameter; name one parameter (`ref`) or a prefix (`at_*`)"
    )]
    TooBroad(String),
}

impl UrlRules {
    /// Rules removing the built-in tracking parameters plus `extra`: each an exact name (`cid`)
    /// or a prefix ending in `*` (`at_*`), compared case-insensitively. A pattern that matches
    /// every parameter (`""`, `*`) is refused: it would make `?p=7` and `?p=8` the same article.
    pub fn parse<S: AsRef<str>>(extra: &[S]) -> Result<UrlRules, UrlRuleError> {
        let mut rules = UrlRules::default();
        for pattern in extra {
            let raw = pattern.as_ref();
            let lower = raw.trim().to_ascii_lowercase();
            match lower.strip_suffix('*') {
                Some("") => return Err(UrlRuleError::TooBroad(raw.to_owned())),
                Some(prefix) => rules.prefixes.push(prefix.to_owned()),
                None if lower.is_empty() => return Err(UrlRuleError::TooBroad(raw.to_owned())),
                None => rules.names.push(lower),
            }
        }
        Ok(rules)
    }

    /// Whether a query parameter only tracks the reader (or asks for the AMP rendition) and so
    /// never selects different content.
    fn drops(&self, name: &str, value: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        is_tracking_param(&lower)
            || is_amp_param(&lower, value)
            || self.names.contains(&lower)
            || self.prefixes.iter().any(|p| lower.starts_with(p.as_str()))
    }
}

pub(crate) fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    TRACKING_PREFIXES.iter().any(|p| lower.starts_with(p))
        || TRACKING_PARAMS.contains(&lower.as_str())
}

/// Parameters that select the AMP rendition of an article (`?amp=1`, Washington Post's
/// `?outputType=amp`) or that Google's AMP viewer appends (`usqp`, `amp_js_v`, `ampshare`).
fn is_amp_param(lower: &str, value: &str) -> bool {
    matches!(lower, "amp" | "_amp" | "usqp" | "ampshare" | "aoh")
        || lower.starts_with("amp_")
        || (lower == "outputtype" && value.eq_ignore_ascii_case("amp"))
}

/// How many redirect or AMP-cache wrappers are unwrapped at most (a loop guard).
const MAX_UNWRAP: usize = 3;

/// The form of a URL used to tell whether two links point at the same article, with the
/// built-in rules ([`canonical_url_with`] with [`UrlRules::default`]).
pub fn canonical_url(link: &str) -> Option<String> {
    canonical_url_with(link, &UrlRules::default())
}

/// The form of a URL used to tell whether two links point at the same article: scheme ignored;
/// host lower-cased without a trailing dot and without a leading `www.`, `amp.` or `m.`
/// (desktop, AMP and mobile renditions of one page); default port, fragment and trailing slash
/// dropped; tracking and AMP parameters (built-in list plus `rules`) removed and the remaining
/// query parameters sorted; AMP paths mapped to the article (`/story/amp`, `/news/amp/story`,
/// `/story.amp.html`); the target of a known redirector (`google.com/url?url=…`,
/// `l.facebook.com/l.php?u=…`) or AMP cache (`google.com/amp/s/…`,
/// `*.cdn.ampproject.org/c/s/…`) used instead of the wrapper. Returned without scheme, e.g.
/// `thediplomat.com/2024/05/china-kyrgyzstan-ties-warm`. `None` for non-http(s) links.
///
/// Why these and not more: each rule maps renditions a publisher serves for the same article;
/// a wrong rule would merge two different articles of one site, which is worse than missing a
/// merge that the near-duplicate layer can still make.
pub fn canonical_url_with(link: &str, rules: &UrlRules) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    for _ in 0..MAX_UNWRAP {
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        match unwrap_target(&url) {
            Some(inner) => url = inner,
            None => break,
        }
    }
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = strip_host_prefixes(host.trim_end_matches('.'));
    let mut out = String::with_capacity(link.len());
    out.push_str(host);
    // `Url` already drops the scheme's default port.
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    push_article_path(&mut out, url.path());
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, v)| !rules.drops(k, v))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !params.is_empty() {
        params.sort();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        out.push('?');
        out.push_str(&query);
    }
    Some(out)
}

/// Drops the host labels that name a rendition rather than a site (`www.`, `amp.`, `m.`),
/// as long as a registrable-looking name (one with a dot) remains: `amp.dev` stays.
fn strip_host_prefixes(mut host: &str) -> &str {
    loop {
        let rest = ["www.", "amp.", "m."]
            .iter()
            .find_map(|p| host.strip_prefix(p))
            .filter(|rest| rest.contains('.'));
        match rest {
            Some(rest) => host = rest,
            None => return host,
        }
    }
}

/// Appends `path` without its AMP markers: every segment that is exactly `amp` (the `/amp`
/// suffix of WordPress' AMP plugin, the `/news/amp/…` form of BBC-like sites), a `.amp.html`
/// ending (`story.amp.html` → `story.html`), empty segments and the trailing slash.
fn push_article_path(out: &mut String, path: &str) {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("amp"))
        .collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        out.push('/');
        match segment.strip_suffix(".amp.html") {
            Some(stem) if i == last && !stem.is_empty() => {
                out.push_str(stem);
                out.push_str(".html");
            }
            _ => out.push_str(segment),
        }
    }
}

/// The article behind a wrapper URL, when `url` is one: a redirector whose query names the
/// target (Google's `/url`, old Google News' `/news/url`, Facebook's `l.php`), Google's AMP
/// viewer (`google.com/amp/s/HOST/PATH`) or the AMP cache
/// (`HOST-ID.cdn.ampproject.org/c/s/HOST/PATH`).
fn unwrap_target(url: &Url) -> Option<Url> {
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let site = host.strip_prefix("www.").unwrap_or(host);
    let path = url.path();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| Url::parse(&v).ok())
    };
    let is_google = site.starts_with("google.") || site == "news.google.com";
    if is_google && (path == "/url" || path == "/news/url") {
        return param("url").or_else(|| param("q"));
    }
    if matches!(site, "l.facebook.com" | "lm.facebook.com") && path == "/l.php" {
        return param("u");
    }
    let amp_path = if is_google {
        path.strip_prefix("/amp/")
    } else if site.ends_with(".cdn.ampproject.org") {
        ["/c/", "/v/", "/i/"]
            .iter()
            .find_map(|p| path.strip_prefix(p))
    } else {
        None
    };
    let rest = amp_path?;
    let (scheme, rest) = match rest.strip_prefix("s/") {
        Some(rest) => ("https", rest),
        None => ("http", rest),
    };
    let mut inner = Url::parse(&format!("{scheme}://{rest}")).ok()?;
    inner.set_query(url.query());
    Some(inner)
}

/// The layer-1 key of an item within its source: its guid (a URL guid compared without scheme
/// and host, so WordPress' http→https or host flips keep the key), else its link's canonical
/// form, else a hash of title and content. The prefix says which rule applied, so a guid can
/// never collide with a link. Deterministic: never random.
pub fn entry_key(guid: Option<&str>, link: Option<&str>, title: &str, content: &str) -> String {
    if let Some(guid) = guid.map(str::trim).filter(|g| !g.is_empty()) {
        return match Url::parse(guid) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {
                let mut key = String::from("guid:");
                key.push_str(url.path());
                if let Some(q) = url.query() {
                    key.push('?');
                    key.push_str(q);
                }
                // A guid is an identifier, not a link: its fragment can be all that tells two
                // items apart (a day's page with one anchor per post, as Scripting News does).
                if let Some(f) = url.fragment() {
                    key.push('#');
                    key.push_str(f);
                }
                key
            }
            _ => format!("guid:{guid}"),
        };
    }
    if let Some(canonical) = link.and_then(canonical_url) {
        return format!("link:{canonical}");
    }
    format!("hash:{}", content_hash(&[title, content]))
}

/// A short stable hash of some text fields (hex of the first 16 bytes of SHA-256), used for
/// keys of link-less items and to notice edited content.
pub fn content_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-world shapes of one article's link, each with the canonical form it must reduce to.
    /// Rows are (variant, canonical); variants of one article share the canonical.
    const URL_VARIANTS: &[(&str, &str)] = &[
        // Tracking parameters of mail, social and analytics tools.
        (
            "https://www.theguardian.com/world/2024/may/05/story?CMP=share_btn_tw",
            "theguardian.com/world/2024/may/05/story",
        ),
        (
            "https://www.theguardian.com/world/2024/may/05/story?utm_source=dlvr.it&utm_medium=twitter",
            "theguardian.com/world/2024/may/05/story",
        ),
        (
            "https://www.nytimes.com/2024/05/05/world/asia/story.html?smid=tw-share&partner=rss&emc=rss",
            "nytimes.com/2024/05/05/world/asia/story.html",
        ),
        (
            "https://www.bbc.co.uk/news/world-asia-123?at_medium=RSS&at_campaign=KARANGA",
            "bbc.co.uk/news/world-asia-123",
        ),
        (
            "https://www.bbc.com/news/world-asia-123?ns_source=twitter&ns_mchannel=social&ns_campaign=bbc",
            "bbc.com/news/world-asia-123",
        ),
        (
            "https://www.lemonde.fr/international/article/2024/05/05/story_1_2.html?xtor=RSS-3208",
            "lemonde.fr/international/article/2024/05/05/story_1_2.html",
        ),
        (
            "https://example.com/post?mc_cid=8a7b6c&mc_eid=0f1e2d",
            "example.com/post",
        ),
        (
            "https://example.com/post?fbclid=IwAR2x9k3Lq&igshid=abc",
            "example.com/post",
        ),
        (
            "https://example.com/post/?ref=hackernews",
            "example.com/post",
        ),
        (
            "https://example.com/post?cmpid=rss&ocid=msn",
            "example.com/post",
        ),
        (
            "https://news.yahoo.com/story-123.html?guccounter=1&guce_referrer=aHR0&guce_referrer_sig=AQAA",
            "news.yahoo.com/story-123.html",
        ),
        (
            "https://example.com/post?_hsenc=p2AN&_hsmi=123&__hstc=1&__hssc=2&__hsfp=3",
            "example.com/post",
        ),
        (
            "https://example.com/post?pk_campaign=feed&mtm_source=rss",
            "example.com/post",
        ),
        (
            "https://docs.microsoft.com/en-us/story?WT.mc_id=rss",
            "docs.microsoft.com/en-us/story",
        ),
        // Scheme, `www.`, case, port, fragment, trailing slash.
        (
            "http://WWW.Example.COM:80/post/#comments",
            "example.com/post",
        ),
        ("https://example.com:443/post", "example.com/post"),
        ("https://example.com./post", "example.com/post"),
        // AMP renditions.
        (
            "https://example.com/2024/05/story/amp/",
            "example.com/2024/05/story",
        ),
        (
            "https://example.com/2024/05/story/amp",
            "example.com/2024/05/story",
        ),
        (
            "https://amp.theguardian.com/world/2024/may/05/story",
            "theguardian.com/world/2024/may/05/story",
        ),
        (
            "https://www.washingtonpost.com/world/2024/05/05/story/?outputType=amp",
            "washingtonpost.com/world/2024/05/05/story",
        ),
        (
            "https://example.com/2024/05/story?amp=1",
            "example.com/2024/05/story",
        ),
        (
            "https://example.com/2024/05/story?amp",
            "example.com/2024/05/story",
        ),
        (
            "https://www.bbc.co.uk/news/amp/world-asia-123",
            "bbc.co.uk/news/world-asia-123",
        ),
        (
            "https://www.nytimes.com/2024/05/05/world/asia/story.amp.html",
            "nytimes.com/2024/05/05/world/asia/story.html",
        ),
        (
            "https://www.google.com/amp/s/www.example.com/2024/05/story/amp/",
            "example.com/2024/05/story",
        ),
        (
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/2024/05/story/amp/?usqp=mq331AQA",
            "example.com/2024/05/story",
        ),
        (
            "https://m.example.com/2024/05/story",
            "example.com/2024/05/story",
        ),
        // Redirectors that name their target.
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://www.example.com/2024/05/story%3Futm_source%3Dalert&ct=ga&cd=CAE&usg=AOv",
            "example.com/2024/05/story",
        ),
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2F2024%2F05%2Fstory%3Ffbclid%3Dx&h=AT0",
            "example.com/2024/05/story",
        ),
        // Parameters that select content stay, sorted.
        (
            "https://example.org/index.php?p=7&a=1&utm_campaign=x",
            "example.org/index.php?a=1&p=7",
        ),
        (
            "https://www.youtube.com/watch?v=e-yldqNkGfo&feature=share&si=abc",
            "youtube.com/watch?feature=share&si=abc&v=e-yldqNkGfo",
        ),
        // Not renditions: a site named amp, a one-label host after `m.`.
        (
            "https://amp.dev/documentation/guides",
            "amp.dev/documentation/guides",
        ),
        ("https://m.tech/post", "m.tech/post"),
    ];

    #[test]
    fn entry_key_keeps_guid_fragment_when_items_share_a_page() {
        let a = entry_key(
            Some("http://scripting.com/2017/06/26.html#a080605"),
            None,
            "",
            "",
        );
        let b = entry_key(
            Some("http://scripting.com/2017/06/26.html#a030658"),
            None,
            "",
            "",
        );
        assert_ne!(a, b);
        assert_eq!(a, "guid:/2017/06/26.html#a080605");
    }

    #[test]
    fn canonical_url_maps_real_world_variants_when_they_name_one_article() {
        for (variant, canonical) in URL_VARIANTS {
            assert_eq!(
                canonical_url(variant).as_deref(),
                Some(*canonical),
                "{variant}"
            );
        }
    }

    #[test]
    fn canonical_url_with_drops_extra_params_when_configured() {
        let rules = UrlRules::parse(&["sr", "at_*"]).unwrap();
        assert_eq!(
            canonical_url_with("https://example.com/a?sr=feed&AT_custom1=x&id=3", &rules)
                .as_deref(),
            Some("example.com/a?id=3")
        );
        // The defaults keep them.
        assert_eq!(
            canonical_url("https://example.com/a?sr=feed&id=3").as_deref(),
            Some("example.com/a?id=3&sr=feed")
        );
    }

    #[test]
    fn url_rules_parse_refuses_patterns_when_they_match_everything() {
        for bad in ["", "*", "  "] {
            assert!(UrlRules::parse(&[bad]).is_err(), "{bad:?}");
        }
        assert!(
            UrlRules::parse(&["*"])
                .unwrap_err()
                .to_string()
                .contains("\"*\"")
        );
    }

    #[test]
    fn canonical_url_keeps_distinct_articles_apart_when_only_content_params_differ() {
        assert_ne!(
            canonical_url("https://example.org/?p=7&utm_source=x"),
            canonical_url("https://example.org/?p=8&utm_source=x")
        );
        // `outputType` other than amp selects content.
        assert_eq!(
            canonical_url("https://example.org/a?outputType=print").as_deref(),
            Some("example.org/a?outputType=print")
        );
    }

    #[test]
    fn canonical_url_ignores_scheme_www_tracking_and_fragment() {
        let a =
            canonical_url("https://thediplomat.com/2024/05/china-kyrgyzstan-ties-warm/").unwrap();
        for variant in [
            "http://thediplomat.com/2024/05/china-kyrgyzstan-ties-warm/?utm_source=rss&utm_medium=feed",
            "https://www.TheDiplomat.com/2024/05/china-kyrgyzstan-ties-warm#comments",
            "https://thediplomat.com:443/2024/05/china-kyrgyzstan-ties-warm/?fbclid=x&gclid=y",
        ] {
            assert_eq!(canonical_url(variant).unwrap(), a, "{variant}");
        }
        assert_eq!(a, "thediplomat.com/2024/05/china-kyrgyzstan-ties-warm");
    }

    #[test]
    fn canonical_url_keeps_and_sorts_content_params_when_present() {
        assert_eq!(
            canonical_url("https://example.org/index.php?p=7&a=1&utm_campaign=x").unwrap(),
            "example.org/index.php?a=1&p=7"
        );
        assert_ne!(
            canonical_url("https://example.org/?p=7"),
            canonical_url("https://example.org/?p=8")
        );
    }

    #[test]
    fn canonical_url_keeps_non_default_port_and_rejects_other_schemes() {
        assert_eq!(
            canonical_url("http://127.0.0.1:8080/a").unwrap(),
            "127.0.0.1:8080/a"
        );
        assert_eq!(canonical_url("mailto:x@example.org"), None);
        assert_eq!(canonical_url("not a url"), None);
    }

    #[test]
    fn entry_key_survives_guid_scheme_and_host_flip() {
        let a = entry_key(Some("http://thediplomat.com/?p=123"), None, "", "");
        let b = entry_key(Some("https://www.thediplomat.com/?p=123"), None, "", "");
        assert_eq!(a, b);
        assert_eq!(a, "guid:/?p=123");
    }

    #[test]
    fn entry_key_falls_back_to_link_then_hash_when_guid_missing() {
        assert_eq!(
            entry_key(None, Some("https://example.org/a?utm_source=x"), "t", "c"),
            "link:example.org/a"
        );
        let h = entry_key(Some("  "), None, "title", "content");
        assert!(h.starts_with("hash:"));
        assert_eq!(h, entry_key(None, None, "title", "content"));
        assert_ne!(h, entry_key(None, None, "title", "other"));
        // Field boundaries matter: ("ab","c") is not ("a","bc").
        assert_ne!(content_hash(&["ab", "c"]), content_hash(&["a", "bc"]));
    }

    #[test]
    fn entry_key_keeps_opaque_guids_verbatim() {
        assert_eq!(
            entry_key(Some("tag:example.org,2024:1"), None, "", ""),
            "guid:tag:example.org,2024:1"
        );
    }
}
