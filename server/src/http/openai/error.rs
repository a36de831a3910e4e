//! The API's errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, with 400 for
//! a request that is wrong (where `/api/v1` answers 422), as the `openai` SDK expects.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::error::ApiError;

#[derive(Debug)]
pub struct OpenAiError(ApiError);

/// How every refusal of `/v1` reads (OpenAI's shape).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody<'a> {
    error: OpenAiErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let ApiError {
            status,
            code,
            message,
            field,
            retry_after_secs,
        } = self.0;
        let status = match status {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let body = OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: &message,
                kind,
                param: field,
                code,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<ApiError> for OpenAiError {
    fn from(err: ApiError) -> Self {
        OpenAiError(err)
    }
}

impl From<domain::Error> for OpenAiError {
    fn from(err: domain::Error) -> Self {
        OpenAiError(err.into())
    }
}

impl From<JsonRejection> for OpenAiError {
    fn from(err: JsonRejection) -> Self {
        OpenAiError(err.into())
    }
}

impl OpenAiError {
    /// A request that is wrong in its field `param`.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        OpenAiError(ApiError {
            field: Some(param),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
        })
    }
}
