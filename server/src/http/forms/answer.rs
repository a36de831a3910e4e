//! What a form post answers with: a redirect that leaves a message for the next page, the message a
//! person reads for a failure, the signed-in user (or the way to sign in), and the empty form.

use app::session::FlashKind;
use app::web_session;
use axum::response::{IntoResponse, Redirect, Response};
use domain::accounts;
use serde::Deserialize;
use tower_sessions::Session;

use crate::http::state::AppState;

/// Leaves `message` for the next page and sends the browser to `to`.
pub(crate) async fn redirect_with(
    session: &Session,
    to: &str,
    kind: FlashKind,
    message: String,
    secret: Option<String>,
) -> Response {
    if let Err(err) = web_session::set_flash(session, kind, message, secret).await {
        tracing::error!(error = %err, "could not store a message in the session");
    }
    Redirect::to(to).into_response()
}

/// The message a person sees for a failed form: the domain's words, or a generic one for our faults.
pub(crate) fn message_for(err: domain::Error) -> String {
    if err.is_internal() {
        tracing::error!(error = %err, "form failed");
        "something went wrong on our side; try again".into()
    } else {
        capitalise(&err.to_string())
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(crate) struct Empty {}

/// The signed-in user, or a redirect to the sign-in page that leaves `why` as its message.
pub(crate) async fn signed_in_user(
    state: &AppState,
    session: &Session,
    why: &str,
) -> Result<accounts::User, Response> {
    let id = web_session::user_id(session).await.ok().flatten();
    let user = match id {
        Some(id) => accounts::user_by_id(&state.platform.db, &id)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    match user {
        Some(user) => Ok(user),
        None => {
            Err(redirect_with(session, "/signin", FlashKind::Error, why.to_string(), None).await)
        }
    }
}
