//! Conditional HTTP GET of a feed, with limits, politeness per host ([`hosts`]) and the SSRF
//! guard ([`guard`]). No parsing, no storing: the outcome goes back to `pipeline`, which
//! records it on the source.
//!
//! Redirects are followed here, not by reqwest, because the fetcher must know each hop's
//! status: a chain of 301/308 that settles moves the source for good (the pipeline stores the
//! new URL), a 302/307 does not. Bodies are decompressed here too ([`body`]), so the cap holds
//! on the compressed and the decompressed size alike.

pub mod body;
pub mod guard;
pub mod hosts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;

use body::{BodyError, BodySink, Encoding};
use guard::{GuardedResolver, RedirectError, Refusal};
use hosts::HostGate;

use crate::politeness::CacheHeaders;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Sent on every request: the encodings [`body`] decodes.
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// A body may grow this large without a big-body slot. Most feeds are far smaller.
const FREE_BODY: u64 = 1 << 20;

/// Bodies past [`FREE_BODY`] share this much memory: `max_body`-sized slots, at least one.
/// Without it, `concurrency` fetches of hostile endless bodies hold `concurrency × max_body`
/// at once (16 × 16 MiB by default); with it, a big body waits (and reads nothing, which
/// slows its sender) until a slot is free. A slot holder never waits for another, so big
/// bodies cannot deadlock each other; each one's own timeout still runs while it waits.
const BIG_BODY_BUDGET: u64 = 64 << 20;

/// Compressed bytes fed to a decoder at a time, so the big-body check runs between steps:
/// deflate expands by at most about 1032:1, so a step adds at most about 1 MiB.
const DECODE_STEP: usize = 1024;

/// What the fetcher needs of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    pub timeout: Duration,
    pub max_body: u64,
    pub user_agent: String,
    /// Requests in flight per host (≥ 1).
    pub per_host: usize,
    /// Minimum gap between the starts of two requests to one host.
    pub host_spacing: Duration,
    /// PEM file of extra trusted roots, added to the system's.
    pub ca_file: Option<PathBuf>,
}

/// Validators from the previous successful fetch, sent back for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Per-request options of one source.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub url: String,
    pub validators: Validators,
    pub user_agent: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Let this request reach loopback, private and link-local addresses (the SSRF guard is
    /// on when this is false, the default).
    pub allow_private: bool,
}

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the feed has not changed since the validators were issued.
    NotModified(NotModified),
    Fetched(FetchedFeed),
}

/// What a 304 still tells: where it came from and how long it stays fresh.
#[derive(Debug, Clone, PartialEq)]
pub struct NotModified {
    pub final_url: String,
    pub moved_to: Option<String>,
    pub cache: CacheHeaders,
}

#[derive(Debug)]
pub struct FetchedFeed {
    pub status: u16,
    /// Where the body came from after redirects.
    pub final_url: String,
    /// Where the feed moved for good: the target of the 301/308 hops the chain started with,
    /// when it settled on an answer. `None` without such hops.
    pub moved_to: Option<String>,
    pub content_type: Option<String>,
    pub validators: Validators,
    pub cache: CacheHeaders,
    /// Decoded (decompressed) bytes, at most `max_body`.
    pub body: Vec<u8>,
}

/// Which size went over `max_body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// The bytes on the wire (compressed, if the body was).
    Received,
    /// The bytes a compressed body decodes to.
    Decompressed,
}

impl std::fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeLimit::Received => "received",
            SizeLimit::Decompressed => "decompressed",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot read ca_file {}: {source}", path.display())]
    CaFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid ca_file {}: {reason}", path.display())]
    CaFileInvalid { path: PathBuf, reason: String },
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error(
        "refusing to fetch {url}: {refusal}; set allow_private = true for this source to allow it"
    )]
    Private { url: String, refusal: Refusal },
    #[error(
        "refusing to fetch {url}: it redirects to {target}, and {refusal}; set allow_private = true for this source to allow it"
    )]
    PrivateRedirect {
        url: String,
        target: String,
        refusal: Refusal,
    },
    #[error("invalid header {name:?} for {url}")]
    Header { url: String, name: String },
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} did not answer within {}s (timeout)", after.as_secs_f32())]
    Timeout { url: String, after: Duration },
    #[error("reading the body of {url} took longer than {}s (timeout)", after.as_secs_f32())]
    BodyTimeout { url: String, after: Duration },
    #[error("the TLS certificate of {url} {reason}")]
    Certificate { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// The `Retry-After` header, as sent.
        retry_after: Option<String>,
        /// The `Date` header, to read an HTTP-date `Retry-After` on our clock.
        date: Option<String>,
    },
    #[error("{url} redirected more than {limit} times (last to {target}): a redirect loop?")]
    TooManyRedirects {
        url: String,
        limit: usize,
        target: String,
    },
    #[error("{url} answered HTTP {status} with {problem}")]
    BadRedirect {
        url: String,
        status: u16,
        problem: String,
    },
    #[error("{url} sent more than the {limit}-byte limit (max_body, {which} size)")]
    TooLarge {
        url: String,
        limit: u64,
        which: SizeLimit,
    },
    #[error("{url} sent its body with Content-Encoding {encoding:?}, which feedmill cannot decode")]
    Encoding { url: String, encoding: String },
    #[error("failed to decode the {encoding} body of {url}: {reason}")]
    Decode {
        url: String,
        encoding: &'static str,
        reason: String,
    },
    #[error("reading the body of {url} failed: {reason}")]
    Body { url: String, reason: String },
}

impl FetchError {
    /// The HTTP status of the failure, if the server answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The HTTP clients every source shares: connection pools are shared, and so are the per-host
/// limits. Two clients because `allow_private` can differ per source: the guarded one checks
/// every resolved address and redirect hop, the open one does not.
#[derive(Debug, Clone)]
pub struct Fetcher {
    guarded: reqwest::Client,
    open: reqwest::Client,
    hosts: Arc<HostGate>,
    /// Slots for bodies past [`FREE_BODY`] (see [`BIG_BODY_BUDGET`]).
    big_bodies: Arc<Semaphore>,
    settings: FetchSettings,
}

/// Install ring as rustls' process-wide crypto provider (reqwest is built without one). Safe
/// to call more than once: later calls find it installed.
pub fn install_crypto_provider() {
    // An Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    /// Reads `ca_file` (a startup error if it is missing or holds no valid certificate) and
    /// builds both clients.
    pub fn build(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        Fetcher::build_with_overrides(settings, &[])
    }

    /// `dns_overrides` pin names to addresses past the guard's resolver: for tests only, to
    /// play a public host on 127.0.0.1 (a redirect from it is then checked by the guard as a
    /// redirect from a public host would be).
    #[doc(hidden)]
    pub fn build_with_overrides(
        settings: FetchSettings,
        dns_overrides: &[(&str, std::net::SocketAddr)],
    ) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let roots = match &settings.ca_file {
            Some(path) => load_roots(path)?,
            None => Vec::new(),
        };
        let client = |guarded: bool| {
            let mut builder = reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
                // Redirects are followed by `fetch`, which needs to see every hop.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(settings.user_agent.clone())
                .tls_certs_merge(roots.iter().cloned());
            if guarded {
                builder = builder.dns_resolver(Arc::new(GuardedResolver));
            }
            for (name, addr) in dns_overrides {
                builder = builder.resolve(name, *addr);
            }
            builder.build().map_err(FetchError::Client)
        };
        Ok(Fetcher {
            guarded: client(true)?,
            open: client(false)?,
            hosts: Arc::new(HostGate::new(settings.per_host, settings.host_spacing)),
            big_bodies: Arc::new(Semaphore::new(
                usize::try_from(BIG_BODY_BUDGET / settings.max_body.max(1))
                    .unwrap_or(usize::MAX)
                    .clamp(1, Semaphore::MAX_PERMITS),
            )),
            settings,
        })
    }

    /// GET `req.url` with the validators, following at most [`MAX_REDIRECTS`] redirects,
    /// and stream the body up to `max_body` bytes (received and decompressed). Waits for each
    /// host's turn first (`per_host`, `host_spacing`); refuses non-public targets unless
    /// `req.allow_private`.
    pub async fn fetch(&self, req: &Request) -> Result<FetchOutcome, FetchError> {
        let url = req.url.as_str();
        let parsed = url::Url::parse(url).map_err(|e| FetchError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !req.allow_private {
            guard::check_url(&parsed).map_err(|refusal| FetchError::Private {
                url: url.to_owned(),
                refusal,
            })?;
        }
        let client = if req.allow_private {
            &self.open
        } else {
            &self.guarded
        };
        let headers = self.headers(req)?;
        let mut current = parsed;
        // Held until the body is read: a request is in flight until then.
        let mut pass = self
            .hosts
            .enter(current.host_str().unwrap_or_default())
            .await;
        let mut hops = 0;
        let mut moved_to: Option<String> = None;
        let mut only_permanent = true;
        let response = loop {
            let response = client
                .get(current.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(|e| self.send_error(url, &e))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                break response;
            }
            let bad = |problem: &str| FetchError::BadRedirect {
                url: url.to_owned(),
                status,
                problem: problem.to_owned(),
            };
            let location = response
                .headers()
                .get(header::LOCATION)
                .ok_or_else(|| bad("no Location header"))?
                .to_str()
                .map_err(|_| bad("a Location header that is not text"))?;
            let next = current
                .join(location)
                .map_err(|e| bad(&format!("an invalid Location {location:?} ({e})")))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(bad(&format!("a Location that is not http(s): {next}")));
            }
            guard::redirect_step(&next, hops, MAX_REDIRECTS, !req.allow_private).map_err(|e| {
                match e {
                    RedirectError::TooMany { limit, target } => FetchError::TooManyRedirects {
                        url: url.to_owned(),
                        limit,
                        target,
                    },
                    RedirectError::Refused { target, refusal } => FetchError::PrivateRedirect {
                        url: url.to_owned(),
                        target,
                        refusal,
                    },
                }
            })?;
            hops += 1;
            only_permanent &= matches!(status, 301 | 308);
            if only_permanent {
                moved_to = Some(next.to_string());
            }
            drop(response);
            if next.host_str() != current.host_str() {
                drop(pass);
                pass = self.hosts.enter(next.host_str().unwrap_or_default()).await;
            }
            current = next;
        };
        let result = self.read(url, response, moved_to).await;
        drop(pass);
        result
    }

    /// The request headers of one source (the same on every redirect hop).
    fn headers(&self, req: &Request) -> Result<HeaderMap, FetchError> {
        let url = req.url.as_str();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
            ),
        );
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(ACCEPT_ENCODING),
        );
        if let Some(etag) = req
            .validators
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = req
            .validators
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::IF_MODIFIED_SINCE, lm);
        }
        if let Some(ua) = &req.user_agent {
            let value = HeaderValue::from_str(ua).map_err(|_| FetchError::Header {
                url: url.to_owned(),
                name: "user-agent".into(),
            })?;
            headers.insert(header::USER_AGENT, value);
        }
        for (name, value) in &req.headers {
            let bad = || FetchError::Header {
                url: url.to_owned(),
                name: name.clone(),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value).map_err(|_| bad())?;
            headers.insert(name, value);
        }
        Ok(headers)
    }

    /// The final answer of a fetch: 304, an error status, or a body read under the caps.
    async fn read(
        &self,
        url: &str,
        response: reqwest::Response,
        moved_to: Option<String>,
    ) -> Result<FetchOutcome, FetchError> {
        let status = response.status();
        let final_url = response.url().to_string();
        let h = response.headers();
        let cache = CacheHeaders {
            cache_control: header_str(h, header::CACHE_CONTROL),
            expires: header_str(h, header::EXPIRES),
            date: header_str(h, header::DATE),
            age: header_str(h, header::AGE),
        };
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified(NotModified {
                final_url,
                moved_to,
                cache,
            }));
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                retry_after: header_str(h, header::RETRY_AFTER),
                date: cache.date,
            });
        }
        let limit = self.settings.max_body;
        let too_large = |which| FetchError::TooLarge {
            url: url.to_owned(),
            limit,
            which,
        };
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(too_large(SizeLimit::Received));
        }
        let content_encoding = header_str(h, header::CONTENT_ENCODING);
        let encoding = Encoding::from_header(content_encoding.as_deref()).ok_or_else(|| {
            FetchError::Encoding {
                url: url.to_owned(),
                encoding: content_encoding.clone().unwrap_or_default(),
            }
        })?;
        let content_type = header_str(h, header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(h, header::ETAG),
            last_modified: header_str(h, header::LAST_MODIFIED),
        };
        let body_error = |e: BodyError| match e {
            BodyError::WireLimit(_) => too_large(SizeLimit::Received),
            BodyError::DecodedLimit(_) => too_large(SizeLimit::Decompressed),
            BodyError::Decode(reason) => FetchError::Decode {
                url: url.to_owned(),
                encoding: encoding.name(),
                reason,
            },
        };
        let mut sink = BodySink::new(encoding, limit);
        let step = if encoding == Encoding::Identity {
            usize::MAX
        } else {
            DECODE_STEP
        };
        let mut big_body = None;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                if e.is_timeout() {
                    FetchError::BodyTimeout {
                        url: url.to_owned(),
                        after: self.settings.timeout,
                    }
                } else {
                    FetchError::Body {
                        url: url.to_owned(),
                        reason: error_chain(&e),
                    }
                }
            })?;
            for piece in chunk.chunks(step) {
                let grows_big = sink.held().saturating_add(piece.len() as u64) > FREE_BODY;
                if big_body.is_none() && grows_big && limit > FREE_BODY {
                    // Never closed, so this cannot fail; if it did, going on without the
                    // budget is still a correct fetch.
                    big_body = self.big_bodies.clone().acquire_owned().await.ok();
                }
                sink.push(piece).map_err(body_error)?;
            }
        }
        let body = sink.finish().map_err(body_error)?;
        Ok(FetchOutcome::Fetched(FetchedFeed {
            status: status.as_u16(),
            final_url,
            moved_to,
            content_type,
            validators,
            cache,
            body,
        }))
    }

    /// Name what a failed send was refused for, when the guard refused it (its resolver can
    /// only fail the request, so its errors come back inside reqwest's), a timeout, or a
    /// certificate the TLS layer rejected.
    fn send_error(&self, url: &str, err: &reqwest::Error) -> FetchError {
        if let Some(refusal) = find_cause::<Refusal>(err) {
            // From the resolver, for the URL's host or a redirect hop's (the refusal names
            // the host, which tells them apart).
            return FetchError::Private {
                url: url.to_owned(),
                refusal: refusal.clone(),
            };
        }
        if let Some(reason) = certificate_problem(err) {
            return FetchError::Certificate {
                url: url.to_owned(),
                reason,
            };
        }
        if err.is_timeout() {
            return FetchError::Timeout {
                url: url.to_owned(),
                after: self.settings.timeout,
            };
        }
        FetchError::Request {
            url: url.to_owned(),
            reason: error_chain(err),
        }
    }
}

/// What was wrong with the server's certificate, in words, when the TLS handshake failed on
/// it. rustls' error travels inside an `io::Error`, whose `source()` skips it, so each
/// `io::Error` in the chain is opened too.
fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{CertificateError, Error as Tls};
    // The inner error of an `io::Error`, and of the `io::Error` inside that, and so on.
    fn unwrap_io<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        loop {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
            e = inner;
        }
    }
    let mut current = Some(err);
    let mut found = None;
    while let Some(e) = current {
        if let Some(tls) = unwrap_io(e) {
            found = Some(tls);
            break;
        }
        current = e.source();
    }
    let Tls::InvalidCertificate(problem) = found? else {
        return None;
    };
    Some(match problem {
        CertificateError::UnknownIssuer => "is not trusted: it is not signed by a known certificate authority (add the CA to [fetch] ca_file if it is yours)".to_owned(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "has expired".to_owned(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "is not valid yet".to_owned(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => "is not valid for this host name".to_owned(),
        CertificateError::Revoked => "has been revoked".to_owned(),
        CertificateError::BadSignature => "has a bad signature".to_owned(),
        other => format!("was rejected ({other:?})"),
    })
}

/// Whether `path` is a usable `ca_file` (readable, every certificate valid): `feedmill check`
/// and a live reload refuse a bad one as the daemon's start would.
pub fn check_ca_file(path: &Path) -> Result<(), FetchError> {
    load_roots(path).map(|_| ())
}

/// Read a PEM bundle of root certificates. Every certificate is parsed here, so a bad file is
/// reported by name at startup rather than as a vague client-build failure.
fn load_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, FetchError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let invalid = |reason: String| FetchError::CaFileInvalid {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|source| FetchError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM certificate bundle ({e})")))?;
    if ders.is_empty() {
        return Err(invalid(
            "no certificate in it (expected -----BEGIN CERTIFICATE----- blocks)".into(),
        ));
    }
    // Parse each one as a trust anchor, as the verifier will.
    let mut store = rustls::RootCertStore::empty();
    ders.iter()
        .enumerate()
        .map(|(i, der)| {
            store.add(der.clone()).map_err(|e| {
                invalid(format!(
                    "certificate {} is not a valid X.509 certificate ({e})",
                    i + 1
                ))
            })?;
            reqwest::Certificate::from_der(der)
                .map_err(|e| invalid(format!("certificate {}: {e}", i + 1)))
        })
        .collect()
}

fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// reqwest's top-level message is vague ("error sending request"); the causes say what failed.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use axum::http::{StatusCode, header::LOCATION};
    use axum::response::IntoResponse;
    use axum::routing::get;

    const FEED: &str = "<rss version=\"2.0\"><channel><title>t</title></channel></rss>";

    fn settings() -> FetchSettings {
        FetchSettings {
            timeout: Duration::from_secs(5),
            max_body: 1 << 20,
            user_agent: "feedmill-test".into(),
            per_host: 2,
            host_spacing: Duration::ZERO,
            ca_file: None,
        }
    }

    /// A server on 127.0.0.1:0 with a feed at `/feed`, redirects to `/feed` on the host named
    /// by `/to/{host}`, and the instants at which requests arrived.
    async fn origin() -> (SocketAddr, Arc<Mutex<Vec<std::time::Instant>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrivals: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
        let log = arrivals.clone();
        let app = axum::Router::new()
            .route("/feed", get(|| async { FEED }))
            .route(
                "/to/{host}",
                get(
                    move |axum::extract::Path(host): axum::extract::Path<String>| async move {
                        let target = format!("http://{host}:{}/feed", addr.port());
                        (StatusCode::FOUND, [(LOCATION, target)]).into_response()
                    },
                ),
            )
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let log = log.clone();
                    async move {
                        log.lock().unwrap().push(std::time::Instant::now());
                        next.run(req).await
                    }
                },
            ));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, arrivals)
    }

    fn request(url: String, allow_private: bool) -> Request {
        Request {
            url,
            allow_private,
            ..Request::default()
        }
    }

    #[tokio::test]
    async fn fetch_refuses_with_clear_message_when_host_is_loopback_literal() {
        let (addr, arrivals) = origin().await;
        let fetcher = Fetcher::build(settings()).unwrap();
        let url = format!("http://{addr}/feed");
        let err = fetcher
            .fetch(&request(url.clone(), false))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to fetch {url}: 127.0.0.1 is a loopback address; set allow_private = true for this source to allow it"
            )
        );
        assert!(arrivals.lock().unwrap().is_empty(), "it connected anyway");
        // The same fetcher lets a source with allow_private through.
        let ok = fetcher.fetch(&request(url, true)).await.unwrap();
        assert!(matches!(ok, FetchOutcome::Fetched(f) if f.body == FEED.as_bytes()));
    }

    #[tokio::test]
    async fn fetch_refuses_when_dns_name_resolves_to_loopback() {
        let (addr, arrivals) = origin().await;
        let fetcher = Fetcher::build(settings()).unwrap();
        let url = format!("http://localhost:{}/feed", addr.port());
        let err = fetcher
            .fetch(&request(url.clone(), false))
            .await
            .unwrap_err();
        let FetchError::Private {
            url: named,
            refusal,
        } = &err
        else {
            panic!("not refused by the guard: {err}");
        };
        assert_eq!(named, &url);
        assert_eq!(refusal.kind, guard::AddressKind::Loopback);
        assert!(
            err.to_string()
                .starts_with(&format!("refusing to fetch {url}: localhost resolves to ")),
            "{err}"
        );
        assert!(arrivals.lock().unwrap().is_empty(), "it connected anyway");
    }

    /// "feeds.example" plays a public host: pinned to 127.0.0.1 past the guard's resolver, the
    /// way a real name would reach a public address. What it redirects to is checked.
    #[tokio::test]
    async fn fetch_refuses_when_public_host_redirects_to_private_address() {
        let (addr, _) = origin().await;
        let public = ("feeds.example", SocketAddr::from(([127, 0, 0, 1], 0)));
        let fetcher = Fetcher::build_with_overrides(settings(), &[public]).unwrap();
        let port = addr.port();

        let direct = format!("http://feeds.example:{port}/feed");
        let fetched = fetcher.fetch(&request(direct, false)).await;
        assert!(
            matches!(fetched, Ok(FetchOutcome::Fetched(_))),
            "{fetched:?}"
        );

        // To a literal address: stopped by the redirect policy.
        let url = format!("http://feeds.example:{port}/to/127.0.0.1");
        let err = fetcher
            .fetch(&request(url.clone(), false))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to fetch {url}: it redirects to http://127.0.0.1:{port}/feed, and 127.0.0.1 is a loopback address; set allow_private = true for this source to allow it"
            )
        );
        // To a name resolving to one: stopped by the resolver, which names the host.
        let url = format!("http://feeds.example:{port}/to/localhost");
        let err = fetcher
            .fetch(&request(url.clone(), false))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("refusing to fetch {url}: localhost resolves to ")),
            "{err}"
        );
        // With allow_private both redirects are followed.
        for to in ["127.0.0.1", "localhost"] {
            let url = format!("http://feeds.example:{port}/to/{to}");
            let fetched = fetcher.fetch(&request(url, true)).await;
            assert!(
                matches!(fetched, Ok(FetchOutcome::Fetched(_))),
                "{to}: {fetched:?}"
            );
        }
    }

    #[tokio::test]
    async fn fetch_spaces_requests_when_host_is_the_same() {
        let (addr, arrivals) = origin().await;
        let spacing = Duration::from_millis(150);
        let fetcher = Fetcher::build(FetchSettings {
            host_spacing: spacing,
            ..settings()
        })
        .unwrap();
        let url = format!("http://{addr}/feed");
        let req = request(url, true);
        let results = futures_util::future::join_all((0..3).map(|_| fetcher.fetch(&req))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let mut at = arrivals.lock().unwrap().clone();
        at.sort();
        assert_eq!(at.len(), 3);
        for pair in at.windows(2) {
            // The gate spaces request *starts*; arrivals at the server also carry connection
            // set-up jitter, so allow a margin (the exact spacing is proven with paused time
            // in `hosts.rs`). Without any spacing the gap would be ~0.
            assert!(
                pair[1] - pair[0] >= spacing * 2 / 3,
                "{:?}",
                pair[1] - pair[0]
            );
        }
    }

    #[test]
    fn build_fails_naming_file_when_ca_file_is_bad_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extra-roots.pem");
        let body = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        std::fs::write(&path, body).unwrap();
        let err = Fetcher::build(FetchSettings {
            ca_file: Some(path.clone()),
            ..settings()
        })
        .unwrap_err();
        assert!(matches!(&err, FetchError::CaFileInvalid { path: p, .. } if *p == path));
        assert!(
            err.to_string()
                .starts_with(&format!("invalid ca_file {}: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn build_fails_naming_file_when_ca_file_has_no_valid_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("empty.pem", String::new(), "no certificate in it"),
            (
                "key-only.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                "no certificate in it",
            ),
            (
                // Well-formed PEM around bytes that are not a certificate.
                "garbage.pem",
                "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcI\n-----END CERTIFICATE-----\n".into(),
                "certificate 1 is not a valid X.509 certificate",
            ),
        ];
        for (name, body, why) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            let err = Fetcher::build(FetchSettings {
                ca_file: Some(path.clone()),
                ..settings()
            })
            .unwrap_err()
            .to_string();
            let want = format!("invalid ca_file {}: {why}", path.display());
            assert!(err.starts_with(&want), "{name}: {err}");
        }
    }

    #[test]
    fn build_fails_naming_file_when_ca_file_is_missing() {
        let path = PathBuf::from("/nonexistent/feedmill/extra-roots.pem");
        let err = Fetcher::build(FetchSettings {
            ca_file: Some(path),
            ..settings()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("cannot read ca_file /nonexistent/feedmill/extra-roots.pem: "),
            "{err}"
        );
    }

    #[test]
    fn build_trusts_ca_file_when_it_holds_a_root_certificate() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-ca.pem");
        let roots = load_roots(&path).unwrap();
        assert_eq!(roots.len(), 1);
        Fetcher::build(FetchSettings {
            ca_file: Some(path),
            ..settings()
        })
        .unwrap();
    }
}
