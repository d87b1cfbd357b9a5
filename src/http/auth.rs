//! `[server] admin_token`: the operator endpoints (`/sources`, `/sources/errors.atom`,
//! `/metrics`) answer only requests that carry it, when it is set.
//!
//! Two ways to carry it: `Authorization: Bearer TOKEN` (Prometheus, curl), or `?token=TOKEN`
//! in the URL, because most feed readers can only be given a URL to subscribe to the errors
//! feed. The comparison runs in constant time over SHA-256 digests of both tokens, so
//! neither the position of the first wrong byte nor the token's length shows in the timing.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;

/// The query parameter a feed reader passes the token in.
pub const TOKEN_PARAM: &str = "token";

/// Let the request through when no token is configured or it carries the right one; else 401
/// with a `WWW-Authenticate: Bearer` challenge.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let config = state.catalog.config().clone();
    let Some(expected) = config.server.admin_token.as_deref() else {
        return next.run(request).await;
    };
    match presented(&request) {
        Some(given) if token_matches(&given, expected) => next.run(request).await,
        Some(_) => unauthorized(true),
        None => unauthorized(false),
    }
}

/// The token a request carries: the Bearer credentials, else the `token` query parameter.
fn presented(request: &Request) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, credentials) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim().to_owned())
        });
    bearer.or_else(|| {
        url::form_urlencoded::parse(request.uri().query()?.as_bytes())
            .find(|(name, _)| name == TOKEN_PARAM)
            .map(|(_, value)| value.into_owned())
    })
}

/// Constant-time equality of two tokens (see the module doc).
pub fn token_matches(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.ct_eq(&expected).into()
}

fn unauthorized(wrong_token: bool) -> Response {
    // RFC 6750 §3: a request without credentials gets the bare challenge; a wrong token gets
    // error="invalid_token".
    let challenge = if wrong_token {
        "Bearer realm=\"feedmill\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"feedmill\""
    };
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Body::from(
            "unauthorized: this endpoint needs the admin token \
             (Authorization: Bearer TOKEN, or ?token=TOKEN in the URL)\n",
        ),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, authorization: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn presented_reads_bearer_header_before_query_when_both_are_given() {
        assert_eq!(
            presented(&request("/metrics?token=q", Some("Bearer  h "))).as_deref(),
            Some("h")
        );
        assert_eq!(
            presented(&request("/metrics", Some("bearer abc"))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented(&request("/sources/errors.atom?x=1&token=a%2Bb", None)).as_deref(),
            Some("a+b")
        );
        assert_eq!(presented(&request("/metrics", Some("Basic dTpw"))), None);
        assert_eq!(presented(&request("/metrics", None)), None);
    }

    #[test]
    fn token_matches_only_when_tokens_are_equal() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cre", "s3cret"));
        assert!(!token_matches("", "s3cret"));
        assert!(!token_matches("S3cret", "s3cret"));
    }
}
