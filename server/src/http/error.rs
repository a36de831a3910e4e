//! The API's one error type: a status and `{"error": {"code", "message", "field"?}}`. Internal causes
//! are logged with the request's span and replaced by a generic message.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
}

/// How every refusal of `/api/v1` reads.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of the platform itself: logged in full, reported without detail.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<domain::Error> for ApiError {
    fn from(err: domain::Error) -> Self {
        use domain::Error as E;
        let message = err.to_string();
        match err {
            E::Invalid { field, .. } => ApiError {
                field: Some(field),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            },
            E::Unauthenticated(_) => Self::unauthenticated(message),
            E::Forbidden(_) => Self::forbidden(message),
            E::NotFound(_) => Self::not_found(message),
            E::Conflict { field, .. } => ApiError {
                field,
                ..Self::new(StatusCode::CONFLICT, "conflict", message)
            },
            E::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message),
            E::RateLimited {
                retry_after_secs, ..
            } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            E::Database(_) | E::Storage(_) | E::Internal(_) => Self::internal(err),
        }
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(err: tower_sessions::session::Error) -> Self {
        Self::internal(format!("session: {err}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(
            rejection.status(),
            "bad_request",
            format!(
                "the request body is not the JSON this route takes: {}",
                rejection.body_text()
            ),
        )
    }
}
