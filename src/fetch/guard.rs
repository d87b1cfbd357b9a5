//! The SSRF guard: a feed URL comes from a config file, an OPML import or `feedmill add`, and
//! a feed may redirect anywhere, so without a guard feedmill could be pointed at the host's own
//! services (admin ports, cloud metadata at 169.254.169.254) and republish what they answer.
//!
//! The guard refuses targets that are, or resolve to, addresses outside the public internet.
//! It works at three points, because each sees something the others do not:
//! - [`check_url`] before connecting: a literal IP host never reaches a DNS resolver.
//! - [`GuardedResolver`] at connect time: a DNS name pointing at 10.0.0.1 is refused, and the
//!   addresses checked are the ones actually connected to (no check-then-resolve-again race).
//! - [`redirect_step`] on every redirect hop: a literal IP target of a redirect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why an address is not on the public internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16
    Private,
    /// fc00::/7, IPv6's private space
    UniqueLocal,
    /// 169.254/16 (where cloud metadata services answer), fe80::/10
    LinkLocal,
    /// 0.0.0.0/8, :: (connecting to 0.0.0.0 reaches the local host on Linux)
    Unspecified,
    /// 255.255.255.255
    Broadcast,
    /// 100.64/10, carrier-grade NAT: the provider's network, not the internet
    SharedCgnat,
}

impl AddressKind {
    fn name(self) -> &'static str {
        match self {
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::UniqueLocal => "unique local (private)",
            AddressKind::LinkLocal => "link-local",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Broadcast => "broadcast",
            AddressKind::SharedCgnat => "carrier-grade NAT (shared)",
        }
    }
}

impl fmt::Display for AddressKind {
    /// With its article, ready for "is {kind} address": "a loopback", "an unspecified".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        write!(f, "{article} {name}")
    }
}

/// The kind of a non-public address, or `None` for an address the guard lets through.
/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged by the IPv4 address they carry,
/// since connecting to one reaches that IPv4 host.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(AddressKind::Loopback)
    } else if ip.is_private() {
        Some(AddressKind::Private)
    } else if ip.is_link_local() {
        Some(AddressKind::LinkLocal)
    } else if a == 0 {
        Some(AddressKind::Unspecified)
    } else if ip.is_broadcast() {
        Some(AddressKind::Broadcast)
    } else if a == 100 && (64..128).contains(&b) {
        Some(AddressKind::SharedCgnat)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    if ip.is_loopback() {
        Some(AddressKind::Loopback)
    } else if ip.is_unspecified() {
        Some(AddressKind::Unspecified)
    } else if ip.is_unique_local() {
        Some(AddressKind::UniqueLocal)
    } else if ip.is_unicast_link_local() {
        Some(AddressKind::LinkLocal)
    } else {
        None
    }
}

/// A target the guard refused: the host as named, the address it is or resolves to, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refusal {
    pub host: String,
    pub addr: IpAddr,
    pub kind: AddressKind,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = self.addr;
        let kind = self.kind;
        let metadata = if addr == IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)) {
            " (the cloud metadata service)"
        } else {
            ""
        };
        if self.host.trim_matches(['[', ']']) == addr.to_string() {
            write!(f, "{addr} is {kind} address{metadata}")
        } else {
            write!(
                f,
                "{} resolves to {addr}, {kind} address{metadata}",
                self.host
            )
        }
    }
}

/// Refuse a URL whose host is a literal non-public IP address. A DNS name passes here: it is
/// checked when it is resolved ([`GuardedResolver`]).
pub fn check_url(url: &Url) -> Result<(), Refusal> {
    let addr = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) | None => return Ok(()),
    };
    match classify(addr) {
        Some(kind) => Err(Refusal {
            host: url.host_str().unwrap_or_default().to_owned(),
            addr,
            kind,
        }),
        None => Ok(()),
    }
}

/// Keep the public addresses a name resolved to. A name with some public and some private
/// addresses is reached through the public ones only; a name with nothing but non-public
/// addresses is refused, naming the first.
pub fn filter_resolved(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, Refusal> {
    let mut kept = Vec::new();
    let mut first_refused = None;
    for addr in addrs {
        match classify(addr.ip()) {
            None => kept.push(addr),
            Some(kind) => {
                first_refused.get_or_insert(Refusal {
                    host: host.to_owned(),
                    addr: addr.ip(),
                    kind,
                });
            }
        }
    }
    match first_refused {
        Some(refusal) if kept.is_empty() => Err(refusal),
        _ => Ok(kept),
    }
}

/// The system resolver (tokio's `lookup_host`, i.e. getaddrinfo) with [`filter_resolved`]
/// applied, for the guarded client.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in its place.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = filter_resolved(&host, resolved)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("more than {limit} redirects (last to {target})")]
    TooMany { limit: usize, target: String },
    #[error("redirect to {target}: {refusal}")]
    Refused { target: String, refusal: Refusal },
}

/// Decide one redirect hop to `next`, after `hops` redirects already followed. `guarded`
/// adds the literal-address check (a DNS name in `next` is checked when it is resolved).
pub fn redirect_step(
    next: &Url,
    hops: usize,
    limit: usize,
    guarded: bool,
) -> Result<(), RedirectError> {
    if hops >= limit {
        return Err(RedirectError::TooMany {
            limit,
            target: next.to_string(),
        });
    }
    if guarded {
        check_url(next).map_err(|refusal| RedirectError::Refused {
            target: next.to_string(),
            refusal,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names_kind_when_address_is_not_public() {
        use AddressKind::*;
        let table: &[(&str, Option<AddressKind>)] = &[
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.1", None),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.0.1", Some(LinkLocal)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", None),
            ("2001:4860:4860::8888", None),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:100.64.0.1", Some(SharedCgnat)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
        ];
        for (text, want) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *want, "{text}");
        }
    }

    #[test]
    fn refusal_reads_naturally_when_displayed() {
        let url = Url::parse("http://127.0.0.1:8080/feed").unwrap();
        assert_eq!(
            check_url(&url).unwrap_err().to_string(),
            "127.0.0.1 is a loopback address"
        );
        let url = Url::parse("http://[::]/feed").unwrap();
        assert_eq!(
            check_url(&url).unwrap_err().to_string(),
            ":: is an unspecified address"
        );
        let url = Url::parse("http://169.254.169.254/latest/meta-data/").unwrap();
        assert_eq!(
            check_url(&url).unwrap_err().to_string(),
            "169.254.169.254 is a link-local address (the cloud metadata service)"
        );
        let refused = filter_resolved("intranet.example", ["10.0.0.1:0".parse().unwrap()]);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "intranet.example resolves to 10.0.0.1, a private address"
        );
    }

    #[test]
    fn check_url_refuses_when_host_is_literal_private_address() {
        for url in [
            "http://127.0.0.1/",
            "https://[::1]:8443/feed",
            "http://[::ffff:7f00:1]/feed",
            "http://192.168.0.10/rss",
            // The url crate normalizes other IPv4 spellings, so they cannot slip through.
            "http://2130706433/feed",
            "http://0x7f.1/feed",
        ] {
            let url = Url::parse(url).unwrap();
            assert!(check_url(&url).is_err(), "{url}");
        }
    }

    #[test]
    fn check_url_passes_when_host_is_public_or_a_name() {
        for url in [
            "https://8.8.8.8/feed",
            "https://thediplomat.com/feed/",
            // A name is judged by what it resolves to, later.
            "http://localhost/feed",
        ] {
            let url = Url::parse(url).unwrap();
            assert_eq!(check_url(&url), Ok(()), "{url}");
        }
    }

    #[test]
    fn filter_resolved_keeps_public_addresses_when_name_resolves_to_a_mix() {
        let addrs: Vec<SocketAddr> = ["10.0.0.1:0", "93.184.216.34:0", "[fe80::1]:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            filter_resolved("mixed.example", addrs),
            Ok(vec!["93.184.216.34:0".parse().unwrap()])
        );
        assert_eq!(filter_resolved("nothing.example", []), Ok(vec![]));
    }

    #[test]
    fn filter_resolved_refuses_first_address_when_all_are_private() {
        let addrs: Vec<SocketAddr> = ["[::1]:0", "127.0.0.1:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            filter_resolved("localhost", addrs),
            Err(Refusal {
                host: "localhost".into(),
                addr: "::1".parse().unwrap(),
                kind: AddressKind::Loopback,
            })
        );
    }

    #[test]
    fn redirect_step_refuses_when_target_is_literal_private_address() {
        let next = Url::parse("http://10.0.0.1/internal").unwrap();
        assert_eq!(
            redirect_step(&next, 0, 5, true).unwrap_err().to_string(),
            "redirect to http://10.0.0.1/internal: 10.0.0.1 is a private address"
        );
        // The unguarded client (allow_private) follows it.
        assert_eq!(redirect_step(&next, 0, 5, false), Ok(()));
        let public = Url::parse("https://example.org/feed").unwrap();
        assert_eq!(redirect_step(&public, 4, 5, true), Ok(()));
    }

    #[test]
    fn redirect_step_stops_when_limit_is_reached() {
        let next = Url::parse("https://example.org/feed").unwrap();
        for guarded in [true, false] {
            assert_eq!(
                redirect_step(&next, 5, 5, guarded),
                Err(RedirectError::TooMany {
                    limit: 5,
                    target: "https://example.org/feed".into()
                })
            );
        }
    }
}
