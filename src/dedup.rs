//! Deduplication keys (DESIGN §9), the pure part: no I/O, no clock.
//!
//! Layer 1 decides when two items of one source are the same article ([`entry_key`]); layer 2
//! decides when articles of different sources are the same story ([`canonical_url`]). The store
//! applies these keys; this module only computes them, so they can be tested exhaustively.

use sha2::{Digest, Sha256};
use url::Url;

/// Query parameters that only track the reader and never select content. Shared with
/// `normalize`, which strips them from links inside republished HTML.
pub(crate) const TRACKING_PARAMS: &[&str] = &[
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
];

/// Whether a query parameter name is one of [`TRACKING_PARAMS`] or `utm_*`.
pub(crate) fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_") || TRACKING_PARAMS.contains(&lower.as_str())
}

/// The form of a URL used to tell whether two links point at the same article: scheme and a
/// leading `www.` ignored, host lower-cased, default port, fragment, trailing slash and
/// tracking parameters dropped, remaining query parameters sorted. Returned without scheme,
/// e.g. `thediplomat.com/2024/05/china-kyrgyzstan-ties-warm`. `None` for non-http(s) links.
pub fn canonical_url(link: &str) -> Option<String> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let host = host.trim_end_matches('.');
    let mut out = String::with_capacity(link.len());
    out.push_str(host);
    // `Url` already drops the scheme's default port.
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = url.path().trim_end_matches('/');
    out.push_str(path);
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
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

/// The layer-1 key of an item within its source: its guid (a URL guid compared without scheme
/// and host, so WordPress' http→https or host flips keep the key, but with its fragment), else its link's canonical
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
    fn entry_key_keeps_opaque_guids_verbatim() {
        assert_eq!(
            entry_key(Some("tag:example.org,2024:1"), None, "", ""),
            "guid:tag:example.org,2024:1"
        );
    }
}
