//! The public base URL of a request: `[server] base_url`, or, with `trust_proxy`, the scheme
//! and host a reverse proxy says the client used (`X-Forwarded-Proto`, `X-Forwarded-Host`, or
//! the standard `Forwarded` header of RFC 7239).
//!
//! Self links, paging links and page links are built from it, so a feed read through the proxy
//! names the proxy's URL and the validator's "self link does not match" warning goes away.
//! Without `trust_proxy` the headers are ignored: any client can send them, and a feed must
//! not link to wherever a client says.
//!
//! The header values end up in feeds and HTML pages, so they are checked strictly, not
//! escaped after the fact: the scheme must be `http` or `https` and the host a DNS name, an
//! IPv4 address or a bracketed IPv6 address, with an optional port. Anything else (markup,
//! spaces, user info, paths) is ignored and `base_url`'s part is used.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;

/// The request's public base URL without a trailing slash, e.g. `https://feeds.example.org`
/// or `https://example.org/feeds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase(pub String);

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let server = &state.catalog.config().server;
        Ok(PublicBase(public_base(
            &server.base_url,
            &parts.headers,
            server.trust_proxy,
        )))
    }
}

/// The longest host (with port) taken from a header: a DNS name is at most 253 characters.
const MAX_HOST_LEN: usize = 260;

/// The public base URL for a request with `headers` (see the module doc).
pub fn public_base(base_url: &url::Url, headers: &HeaderMap, trust_proxy: bool) -> String {
    let configured = || base_url.as_str().trim_end_matches('/').to_owned();
    if !trust_proxy {
        return configured();
    }
    let forwarded = last_forwarded_element(headers);
    let param = |name: &str| forwarded.as_deref().and_then(|f| forwarded_param(f, name));
    let proto = last_value(headers, "x-forwarded-proto")
        .and_then(valid_proto)
        .or_else(|| param("proto").and_then(valid_proto));
    let host = last_value(headers, "x-forwarded-host")
        .and_then(valid_host)
        .or_else(|| param("host").and_then(valid_host));
    if proto.is_none() && host.is_none() {
        return configured();
    }
    let mut url = base_url.clone();
    if let Some(proto) = proto
        && url.set_scheme(&proto).is_err()
    {
        return configured();
    }
    if let Some(host) = host {
        let (name, port) = split_port(&host);
        if url.set_host(Some(name)).is_err() || url.set_port(port).is_err() {
            return configured();
        }
    }
    url.as_str().trim_end_matches('/').to_owned()
}

/// The last comma-separated value of a header: the one the nearest proxy (the one trusted)
/// added, whatever a client sent before it.
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    (!last.is_empty()).then(|| last.to_owned())
}

/// The last element of the `Forwarded` header (RFC 7239): `for=…;proto=https;host=…`.
fn last_forwarded_element(headers: &HeaderMap) -> Option<String> {
    last_value(headers, "forwarded")
}

/// A parameter of one `Forwarded` element, unquoted.
fn forwarded_param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn valid_proto(proto: String) -> Option<String> {
    let proto = proto.to_ascii_lowercase();
    matches!(proto.as_str(), "http" | "https").then_some(proto)
}

/// `host[:port]` when it is a DNS name, an IPv4 address or a bracketed IPv6 address with an
/// optional port, lower-cased; `None` for anything else.
fn valid_host(host: String) -> Option<String> {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']')?;
            addr.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (None, port)
        }
        None => match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host.as_str()), None),
        },
    };
    if let Some(name) = name
        && !is_dns_name(name)
    {
        return None;
    }
    if let Some(port) = port
        && (port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return None;
    }
    Some(host)
}

/// Letters, digits and inner dashes in labels of 1 to 63 characters (IPv4 addresses too).
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `host[:port]` (already validated) → the host and the port, if any.
fn split_port(host: &str) -> (&str, Option<u16>) {
    let (name, port) = match host.rfind(']') {
        Some(end) => (&host[..=end], host[end + 1..].strip_prefix(':')),
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    (name, port.and_then(|p| p.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn base(url: &str) -> url::Url {
        url::Url::parse(url).expect("url")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                *name,
                HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
            );
        }
        h
    }

    fn public(pairs: &[(&'static str, &str)]) -> String {
        public_base(&base("http://localhost:8080/feeds/"), &headers(pairs), true)
    }

    #[test]
    fn public_base_ignores_forwarded_headers_when_proxy_is_not_trusted() {
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ]);
        assert_eq!(
            public_base(&base("http://localhost:8080/"), &h, false),
            "http://localhost:8080"
        );
    }

    #[test]
    fn public_base_uses_proxy_scheme_and_host_when_trusted() {
        assert_eq!(
            public(&[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "Feeds.Example.org")
            ]),
            "https://feeds.example.org/feeds"
        );
        // The default port of the scheme disappears; another one stays.
        assert_eq!(
            public(&[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "example.org:443")
            ]),
            "https://example.org/feeds"
        );
        assert_eq!(
            public(&[("x-forwarded-host", "example.org:8443")]),
            "http://example.org:8443/feeds"
        );
        assert_eq!(
            public(&[("x-forwarded-proto", "https")]),
            "https://localhost:8080/feeds"
        );
        assert_eq!(
            public(&[("x-forwarded-host", "[2001:db8::1]:8080")]),
            "http://[2001:db8::1]:8080/feeds"
        );
        assert_eq!(public(&[]), "http://localhost:8080/feeds");
    }

    #[test]
    fn public_base_takes_last_value_when_proxies_append() {
        // A client's own header comes first; the trusted proxy appends the real one.
        assert_eq!(
            public(&[
                ("x-forwarded-host", "client-said.example, real.example"),
                ("x-forwarded-proto", "http, https")
            ]),
            "https://real.example/feeds"
        );
    }

    #[test]
    fn public_base_reads_rfc7239_forwarded_when_no_x_forwarded_headers() {
        assert_eq!(
            public(&[(
                "forwarded",
                "for=192.0.2.60;proto=http;host=old.example, for=\"[2001:db8::1]\";proto=https;host=\"feeds.example\""
            )]),
            "https://feeds.example/feeds"
        );
        // X-Forwarded-* wins over Forwarded, field by field.
        assert_eq!(
            public(&[
                ("forwarded", "proto=https;host=a.example"),
                ("x-forwarded-host", "b.example")
            ]),
            "https://b.example/feeds"
        );
    }

    #[test]
    fn public_base_ignores_hostile_values_when_they_are_not_a_host() {
        for host in [
            "evil.example\"><script>alert(1)</script>",
            "a b.example",
            "user@evil.example",
            "evil.example/path",
            "evil.example:99999",
            "evil.example:0",
            "evil.example:80:80",
            "-evil.example",
            "évil.example",
            "[::1",
            "[not-v6]",
            "",
            &"a".repeat(300),
        ] {
            assert_eq!(
                public(&[("x-forwarded-proto", "https"), ("x-forwarded-host", host)]),
                "https://localhost:8080/feeds",
                "{host}"
            );
        }
        for proto in ["javascript", "ftp", "https://x", ""] {
            assert_eq!(
                public(&[("x-forwarded-proto", proto)]),
                "http://localhost:8080/feeds",
                "{proto}"
            );
        }
    }
}
