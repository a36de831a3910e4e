//! Form posts from the site's own pages: the body is a URL-encoded form whose `csrf` field must match
//! the session's token. Every state-changing form handler takes its input through [`CsrfForm`].

use app::web_session;
use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_sessions::Session;

/// A form's fields are small; anything larger is not one of our forms.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The session and the form's fields, after the CSRF token was checked.
pub struct CsrfForm<T>(pub Session, pub T);

#[derive(Deserialize)]
struct Token {
    csrf: Option<String>,
}

fn refusal(status: StatusCode, title: &str, advice: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1><p>{advice}</p><p><a href=\"/\">Crucible home</a></p></main></body></html>"
    );
    (status, Html(page)).into_response()
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
            refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "This form sent more than 64 KiB; shorten what you typed.",
            )
        })?;
        let token: Token = serde_urlencoded::from_bytes(&bytes).unwrap_or(Token { csrf: None });
        let matches = web_session::csrf_matches(&session, token.csrf.as_deref())
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "session store");
                refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Try again",
                    "Your session could not be read; try again.",
                )
            })?;
        if !matches {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form's security token is missing or out of date, so it may not have come from Crucible's \
                 own page. Go back, reload the page and send the form again.",
            ));
        }
        let fields = serde_urlencoded::from_bytes(&bytes).map_err(|err| {
            refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Form incomplete",
                &format!("A field is missing or malformed: {err}."),
            )
        })?;
        Ok(CsrfForm(session, fields))
    }
}
