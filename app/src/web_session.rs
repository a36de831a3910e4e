//! The layout of a browser session, on the server: which keys it holds and what they mean. The form
//! handlers in the `server` crate and the server functions here both go through these functions.

use domain::Platform;
use domain::accounts::{self, User};
use leptos::prelude::*;
use rand::RngCore;
use tower_sessions::Session;

use crate::session::{Flash, FlashKind};

const USER_ID: &str = "user_id";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
/// The cookie holding the one-time pad that unseals a secret left in the session (see [`seal`]).
const PAD_COOKIE: &str = "crucible_pad";

/// A domain error for the page: its own words when it is the caller's (not found, forbidden, invalid),
/// a generic message (and a log line) when it is ours.
pub fn refused(err: domain::Error) -> ServerFnError {
    if err.is_internal() {
        tracing::error!(error = %err, "a page's data could not be loaded");
        ServerFnError::new("something went wrong on our side; try again")
    } else {
        ServerFnError::new(err.to_string())
    }
}

pub fn failed(err: impl std::fmt::Display) -> ServerFnError {
    tracing::error!(error = %err, "session store");
    ServerFnError::new("the session could not be read; try again")
}

pub async fn from_request() -> Result<Session, ServerFnError> {
    leptos_axum::extract::<Session>().await.map_err(failed)
}

/// The platform, for server functions open to everyone.
pub fn platform() -> Result<Platform, ServerFnError> {
    use_context::<Platform>().ok_or_else(|| failed("no Platform in context"))
}

/// The signed-in user, if the session has one whose account still exists.
pub async fn current_user(session: &Session) -> Result<Option<User>, ServerFnError> {
    let Some(id) = session.get::<String>(USER_ID).await.map_err(failed)? else {
        return Ok(None);
    };
    accounts::user_by_id(&platform()?.db, &id)
        .await
        .map_err(failed)
}

/// The signed-in user, or an error telling the visitor to sign in.
pub async fn require_user(session: &Session) -> Result<User, ServerFnError> {
    current_user(session)
        .await?
        .ok_or_else(|| ServerFnError::new("sign in to see this page"))
}

/// The signed-in user and the platform, for server functions that need an account.
pub async fn signed_in() -> Result<(User, Platform), ServerFnError> {
    let session = from_request().await?;
    let user = require_user(&session).await?;
    Ok((user, platform()?))
}

/// Whether the page at `path` is one every visitor reads alike, with no form for a visitor who is not
/// signed in: the home page, the leaderboards, miners' profiles and tasks' results. Rendering one for
/// such a visitor makes no session, so crawlers and load balancers' checks store nothing.
pub fn reads_only(path: &str) -> bool {
    path == "/"
        || path == "/leaderboards"
        || path.starts_with("/miners/")
        || path.starts_with("/results/")
        || path == "/tournaments"
        || path.starts_with("/tournaments/")
        || path.starts_with("/recipes/")
}

/// The path of the page being rendered (for a server function called by the browser, its own path).
pub async fn request_path() -> Result<String, ServerFnError> {
    let uri = leptos_axum::extract::<http::Uri>().await.map_err(failed)?;
    Ok(uri.path().to_string())
}

/// The session's CSRF token if it has one already.
pub async fn existing_csrf_token(
    session: &Session,
) -> Result<Option<String>, tower_sessions::session::Error> {
    session.get::<String>(CSRF).await
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = existing_csrf_token(session).await? {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// Whether `presented` is this session's CSRF token (compared in constant time).
pub async fn csrf_matches(
    session: &Session,
    presented: Option<&str>,
) -> Result<bool, tower_sessions::session::Error> {
    let (Some(expected), Some(presented)) = (session.get::<String>(CSRF).await?, presented) else {
        return Ok(false);
    };
    let same_length = expected.len() == presented.len();
    let difference = expected
        .bytes()
        .zip(presented.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(same_length && difference == 0)
}

/// Starts a signed-in session for `user` under a new session id, so that an id planted before sign-in
/// is worth nothing after it.
pub async fn sign_in(session: &Session, user: &User) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(USER_ID, &user.id).await
}

pub async fn sign_out(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.flush().await
}

pub async fn set_flash(
    session: &Session,
    kind: FlashKind,
    message: impl Into<String>,
    secret: Option<String>,
) -> Result<(), tower_sessions::session::Error> {
    session
        .insert(
            FLASH,
            Flash {
                kind,
                message: message.into(),
                secret,
            },
        )
        .await
}

/// A secret to show once on the next page (a new API key), sealed: the session (a database row) keeps
/// the secret XOR a random pad of its length, and the browser alone gets the pad, in a short-lived
/// cookie (the `Set-Cookie` value returned). Neither a copy of the database nor the cookie alone
/// holds the secret; the next page joins them and expires the cookie.
pub fn seal(secret: &str, secure: bool) -> (String, String) {
    let mut pad = vec![0u8; secret.len()];
    rand::rng().fill_bytes(&mut pad);
    let sealed: Vec<u8> = secret.bytes().zip(&pad).map(|(s, p)| s ^ p).collect();
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{PAD_COOKIE}={}; Path=/; Max-Age=600; HttpOnly; SameSite=Strict{secure}",
        hex::encode(pad)
    );
    (hex::encode(sealed), cookie)
}

fn unseal(sealed: &str, pad: &str) -> Option<String> {
    let (sealed, pad) = (hex::decode(sealed).ok()?, hex::decode(pad).ok()?);
    if sealed.len() != pad.len() {
        return None;
    }
    String::from_utf8(sealed.iter().zip(&pad).map(|(s, p)| s ^ p).collect()).ok()
}

/// The message left for the next page, removed from the session (which is only written when it held
/// one); a sealed secret is unsealed with the browser's pad, which is then expired.
pub async fn take_flash(session: &Session) -> Result<Option<Flash>, ServerFnError> {
    if session.get::<Flash>(FLASH).await.map_err(failed)?.is_none() {
        return Ok(None);
    }
    let Some(mut flash) = session.remove::<Flash>(FLASH).await.map_err(failed)? else {
        return Ok(None);
    };
    if let Some(sealed) = flash.secret.take() {
        let headers = leptos_axum::extract::<http::HeaderMap>()
            .await
            .map_err(failed)?;
        let pad = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(PAD_COOKIE)?.strip_prefix('='));
        flash.secret = pad.and_then(|pad| unseal(&sealed, pad));
        let expired = http::HeaderValue::from_str(&format!("{PAD_COOKIE}=; Path=/; Max-Age=0"));
        if let (Some(response), Ok(expired)) =
            (use_context::<leptos_axum::ResponseOptions>(), expired)
        {
            response.append_header(http::header::SET_COOKIE, expired);
        }
    }
    Ok(Some(flash))
}

/// The user id stored in the session, without loading the account (for the API's cookie auth).
pub async fn user_id(session: &Session) -> Result<Option<String>, tower_sessions::session::Error> {
    session.get::<String>(USER_ID).await
}
