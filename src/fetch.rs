//! Conditional HTTP GET of a feed, with limits. No parsing, no storing: the outcome goes back
//! to `pipeline`, which records it.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What the fetcher needs of the configuration.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub timeout: Duration,
    pub max_body: u64,
    pub user_agent: String,
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
}

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the feed has not changed since the validators were issued.
    NotModified,
    Fetched(FetchedFeed),
}

#[derive(Debug)]
pub struct FetchedFeed {
    pub status: u16,
    /// Where the body came from after redirects.
    pub final_url: String,
    pub content_type: Option<String>,
    pub validators: Validators,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("invalid header {name:?} for {url}")]
    Header { url: String, name: String },
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        retry_after: Option<String>,
    },
    #[error("{url} sent more than the {limit}-byte limit (max_body)")]
    TooLarge { url: String, limit: u64 },
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

/// One HTTP client for every source: connection pools are shared, limits are global.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
}

/// Install ring as rustls' process-wide crypto provider (reqwest is built without one). Safe
/// to call more than once: later calls find it installed.
pub fn install_crypto_provider() {
    // An Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    pub fn build(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(FetchError::Client)?;
        Ok(Fetcher { client, settings })
    }

    /// GET `req.url` with the validators; stream the body up to `max_body` bytes.
    pub async fn fetch(&self, req: &Request) -> Result<FetchOutcome, FetchError> {
        let url = req.url.as_str();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
            ),
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
        let response = self
            .client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| FetchError::Request {
                url: url.to_owned(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            let retry_after = header_str(response.headers(), header::RETRY_AFTER);
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let limit = self.settings.max_body;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let final_url = response.url().to_string();
        let content_type = header_str(response.headers(), header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(response.headers(), header::ETAG),
            last_modified: header_str(response.headers(), header::LAST_MODIFIED),
        };
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Body {
                url: url.to_owned(),
                reason: error_chain(&e),
            })?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(FetchedFeed {
            status: status.as_u16(),
            final_url,
            content_type,
            validators,
            body,
        }))
    }
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
