//! Who is calling the JSON API: an API key (`Authorization: Bearer …`) or a signed-in browser
//! session. A session caller must also send the page's CSRF token for anything but reads.

use app::web_session;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::accounts::{self, User};
use tower_sessions::Session;

use super::error::ApiError;
use super::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug)]
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let db = &state.platform.db;
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let key = header
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthenticated("send the key as `Authorization: Bearer <api key>`")
                })?;
            return match accounts::authenticate_api_key(db, key.trim()).await? {
                Some(user) => {
                    state.rate_limits.api_key(&user.id)?;
                    Ok(Caller(user))
                }
                None => Err(ApiError::unauthenticated(
                    "this API key is not valid: it was revoked or mistyped; create a new one at /account/api-keys",
                )),
            };
        }
        let no_credentials =
            || ApiError::unauthenticated("sign in, or send `Authorization: Bearer <api key>`");
        let Ok(session) = Session::from_request_parts(parts, state).await else {
            return Err(no_credentials());
        };
        let Some(user_id) = web_session::user_id(&session).await? else {
            return Err(no_credentials());
        };
        if !parts.method.is_safe() {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !web_session::csrf_matches(&session, presented).await? {
                return Err(ApiError::forbidden(
                    "a signed-in browser must send the page's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        match accounts::user_by_id(db, &user_id).await? {
            Some(user) => Ok(Caller(user)),
            None => Err(no_credentials()),
        }
    }
}
