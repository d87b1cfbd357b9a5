//! Credentials in source URLs, hidden before a URL is shown anywhere but `feeds.toml`.
//!
//! Some feeds are private: `https://user:pass@host/feed`, `…/feed?token=…`, `…?api_key=…`.
//! feedmill needs those URLs to fetch, but `/sources`, the errors feed, the logs, the topic
//! feeds' attribution and the metrics are read by people (and machines) who must not learn
//! the secret. Everything that shows a source URL, or a message that may quote one (a fetch
//! error names its URL), goes through [`url`] or [`text`] first. Pure: no I/O.
//!
//! The redaction is textual, not a parse-and-reserialize: the rest of the URL stays exactly
//! as written, so an operator still recognises it.

use std::borrow::Cow;

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// `url` with its userinfo and the values of secret-looking query (or fragment) parameters
/// replaced by [`REDACTED`]. Text that is not an absolute URL comes back unchanged.
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..rest_start]);
    let mut changed = false;
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
            changed = true;
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_len..];
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => (&tail[..i], Some(&tail[i + 1..])),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        changed |= push_params(&mut out, query);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        // OAuth-style fragments (`#access_token=…`) carry secrets the same way queries do.
        changed |= push_params(&mut out, fragment);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(url)
    }
}

/// Appends `params` (`a=1&b=2`) with secret values replaced; returns whether any was.
fn push_params(out: &mut String, params: &str) -> bool {
    let mut changed = false;
    for (i, pair) in params.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_param(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
                changed = true;
            }
            _ => out.push_str(pair),
        }
    }
    changed
}

/// Whether a query parameter name looks like it carries a credential: `token`, `key`,
/// `api_key`, `apikey`, `access_token`, `secret`, `password`, `sig`… Erring on the side of
/// hiding: a harmless parameter shown as `REDACTED` costs little, a leaked key a lot.
pub fn is_secret_param(name: &str) -> bool {
    // Names are compared decoded (`api%5Fkey`), lower-cased, with `-` as `_`.
    let decoded: String = url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(n, _)| n.into_owned())
        .unwrap_or_else(|| name.to_owned());
    let n = decoded.to_ascii_lowercase().replace('-', "_");
    const EXACT: &[&str] = &[
        "pass",
        "pwd",
        "auth",
        "authorization",
        "sig",
        "signature",
        "session",
        "sessionid",
        "sid",
        "code",
        "credential",
        "credentials",
    ];
    EXACT.contains(&n.as_str())
        || n.ends_with("key")
        || n.ends_with("token")
        || n.contains("secret")
        || n.contains("passw")
        || n.starts_with("auth_")
}

/// `text` (an error message, a log line) with every `http://` and `https://` URL in it
/// passed through [`url`]. A URL ends at whitespace or a quote; trailing punctuation
/// (`.`, `,`, `:`, `)`…) is taken as the sentence's, not the URL's.
pub fn text(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    let mut changed = false;
    while let Some(found) = next_url_start(&lower, search) {
        let len = text[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(text.len() - found);
        let token = &text[found..found + len];
        let trimmed = token.trim_end_matches(['.', ',', ':', ';', '!', '?', ')', ']', '}']);
        let redacted = url(trimmed);
        if let Cow::Owned(r) = redacted {
            out.push_str(&text[copied..found]);
            out.push_str(&r);
            copied = found + trimmed.len();
            changed = true;
        }
        search = found + len.max(1);
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The byte offset of the next `http://` or `https://` at or after `from` (in the
/// lower-cased text, whose byte offsets are the original's: ASCII lower-casing keeps them).
fn next_url_start(lower: &str, from: usize) -> Option<usize> {
    let rest = lower.get(from..)?;
    let http = rest.find("http://");
    let https = rest.find("https://");
    match (http, https) {
        (Some(a), Some(b)) => Some(from + a.min(b)),
        (Some(a), None) | (None, Some(a)) => Some(from + a),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hides_userinfo_when_present() {
        assert_eq!(
            url("https://alice:s3cret@example.org/feed.xml"),
            "https://REDACTED@example.org/feed.xml"
        );
        assert_eq!(
            url("http://token@example.org"),
            "http://REDACTED@example.org"
        );
    }

    #[test]
    fn url_hides_secret_query_values_when_named_like_credentials() {
        assert_eq!(
            url("https://example.org/feed?token=abc&page=2&api_key=k&apiKey=z#top"),
            "https://example.org/feed?token=REDACTED&page=2&api_key=REDACTED&apiKey=REDACTED#top"
        );
        assert_eq!(
            url("https://example.org/rss?key=1&X-Access-Token=2&client_secret=3&password=4"),
            "https://example.org/rss?key=REDACTED&X-Access-Token=REDACTED&client_secret=REDACTED&password=REDACTED"
        );
        assert_eq!(
            url("https://example.org/cb#access_token=abc&state=1"),
            "https://example.org/cb#access_token=REDACTED&state=1"
        );
    }

    #[test]
    fn url_keeps_text_unchanged_when_nothing_is_secret() {
        for plain in [
            "https://thediplomat.com/feed/",
            "https://example.org/search?q=token&page=2",
            "https://example.org/a@b/feed",
            "not a url",
            "https://example.org/feed?token=",
        ] {
            assert!(matches!(url(plain), Cow::Borrowed(_)), "{plain}");
        }
    }

    #[test]
    fn text_redacts_every_url_when_a_message_quotes_them() {
        let message = "refusing to fetch https://u:p@a.example/feed?key=1: it redirects to (http://b.example/x?token=2), and so on.";
        assert_eq!(
            text(message),
            "refusing to fetch https://REDACTED@a.example/feed?key=REDACTED: it redirects to (http://b.example/x?token=REDACTED), and so on."
        );
        assert_eq!(
            text("HTTPS://x.example/?token=a answered HTTP 500"),
            "HTTPS://x.example/?token=REDACTED answered HTTP 500"
        );
        let plain = "https://example.org/feed answered HTTP 404";
        assert!(matches!(text(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn is_secret_param_matches_credential_names_when_spelled_variously() {
        for name in [
            "token",
            "Token",
            "api_key",
            "api-key",
            "apikey",
            "access_token",
            "auth",
            "sig",
            "api%5Fkey",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["page", "q", "format", "lang", "keyword", "category"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }
}
