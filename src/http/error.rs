//! Errors of a request, as the client sees them: a status and a short plain-text reason.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::catalog::CatalogError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not found")]
    NotFound,
    #[error("internal error")]
    Internal(String),
}

impl From<CatalogError> for HttpError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::UnknownTopic(_) => HttpError::NotFound,
            other => HttpError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
            HttpError::Internal(reason) => {
                tracing::error!(error = %reason, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}
