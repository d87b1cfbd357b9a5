//! Errors of a request, as the client sees them: a status and a short reason.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use html_escape::encode_text as text;

use crate::catalog::{CatalogError, GONE_FOR};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not found")]
    NotFound,
    /// A request the server understood but cannot serve, with the reason for the client.
    #[error("{0}")]
    BadRequest(String),
    #[error("topic {slug:?} has no page {page}")]
    NoSuchPage { slug: String, page: u32 },
    /// A topic removed from the configuration less than [`GONE_FOR`] ago.
    #[error("topic {slug:?} was removed")]
    Gone {
        slug: String,
        removed_at: DateTime<Utc>,
    },
    #[error("internal error")]
    Internal(String),
}

impl From<CatalogError> for HttpError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::UnknownTopic(_) => HttpError::NotFound,
            CatalogError::NoSuchPage { slug, page } => HttpError::NoSuchPage { slug, page },
            other => HttpError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
            HttpError::BadRequest(reason) => {
                (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
            }
            HttpError::NoSuchPage { slug, page } => (
                StatusCode::NOT_FOUND,
                format!(
                    "topic \"{slug}\" has no page {page}: its oldest stories are on an earlier page\n"
                ),
            )
                .into_response(),
            HttpError::Gone { slug, removed_at } => gone(&slug, removed_at),
            HttpError::Internal(reason) => {
                tracing::error!(error = %reason, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }
}

/// 410 with a short page saying what happened, for the person who opens the URL after their
/// reader reported the error. The link is relative (`../` from `/topics/…`), so it works
/// under any public base URL.
fn gone(slug: &str, removed_at: DateTime<Utc>) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Topic removed</title></head>\
<body><h1>Topic removed</h1><p>The topic <code>{slug}</code> was removed from this feedmill on {date}. \
Its feeds will not come back: please unsubscribe. This address answers <em>410 Gone</em> until {until}.</p>\
<p><a href=\"../\">All topics</a></p></body></html>\n",
        slug = text(slug),
        date = removed_at.format("%Y-%m-%d"),
        until = (removed_at + GONE_FOR).format("%Y-%m-%d"),
    );
    let mut response = (StatusCode::GONE, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}
