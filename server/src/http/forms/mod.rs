//! Handlers of the site's own forms: sign-up, sign-in, sign-out, API keys, datasets here; tasks, the
//! model catalogue and miners' hotkeys in the submodules. Each checks the CSRF token
//! (through `CsrfForm`), acts, leaves a one-time message in the session and redirects (303), so a
//! reload never repeats a post.

use app::session::FlashKind;
use app::web_session;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::accounts::{self, Email, Password, Role};
use domain::datasets::{self, Mapping, TaskType, ValidationRequest};
use serde::Deserialize;

use self::answer::{Empty, capitalise, message_for, redirect_with, signed_in_user};
use super::csrf::CsrfForm;
use super::endpoint::Endpoint;
use super::rate_limits::Peer;
use super::state::AppState;

mod answer;
mod catalogue;
mod hotkeys;
mod miners_admin;
mod queue;
mod tasks;
mod tasks_admin;

pub fn endpoints() -> Vec<Endpoint> {
    let mine = vec![
        Endpoint::post("/auth/sign-up", sign_up),
        Endpoint::post("/auth/sign-in", sign_in),
        Endpoint::post("/auth/sign-out", sign_out),
        Endpoint::post("/account/api-keys", create_api_key),
        Endpoint::post("/account/api-keys/{id}/revoke", revoke_api_key),
        Endpoint::post("/datasets/{id}/validation", validate_dataset),
    ];
    [
        mine,
        tasks::endpoints(),
        catalogue::endpoints(),
        hotkeys::endpoints(),
        miners_admin::endpoints(),
        queue::endpoints(),
        tasks_admin::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[derive(Deserialize)]
struct SignUpForm {
    email: String,
    password: String,
    role: Option<String>,
}

async fn sign_up(
    State(state): State<AppState>,
    peer: Peer,
    CsrfForm(session, form): CsrfForm<SignUpForm>,
) -> Response {
    if let Err(refused) = state.rate_limits.sign_up(&peer) {
        let message = capitalise(&refused.message);
        return redirect_with(&session, "/signup", FlashKind::Error, message, None).await;
    }
    let role = match form.role.as_deref().unwrap_or("customer") {
        "customer" => Role::Customer,
        "miner" => Role::Miner,
        _ => {
            let message = "Choose whether you are a customer or a miner.".to_string();
            return redirect_with(&session, "/signup", FlashKind::Error, message, None).await;
        }
    };
    let created = async {
        let email = Email::parse(&form.email)?;
        let password = Password::new(&form.password)?;
        accounts::sign_up(&state.platform.db, &email, &password, role).await
    }
    .await;
    match created {
        Ok(user) => {
            if let Err(err) = web_session::sign_in(&session, &user).await {
                tracing::error!(error = %err, "could not start a session after sign-up");
                let message = "Your account was created; sign in to continue.".to_string();
                return redirect_with(&session, "/signin", FlashKind::Success, message, None).await;
            }
            let message = format!("Welcome to Crucible, {}.", user.email);
            redirect_with(&session, "/dashboard", FlashKind::Success, message, None).await
        }
        Err(err) => {
            redirect_with(
                &session,
                "/signup",
                FlashKind::Error,
                message_for(err),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    peer: Peer,
    CsrfForm(session, form): CsrfForm<SignInForm>,
) -> Response {
    if let Err(refused) = state.rate_limits.sign_in(&peer) {
        let message = capitalise(&refused.message);
        return redirect_with(&session, "/signin", FlashKind::Error, message, None).await;
    }
    let signed_in = async {
        let email = Email::parse(&form.email)?;
        accounts::sign_in(&state.platform.db, &email, &form.password).await
    }
    .await;
    match signed_in {
        Ok(user) => match web_session::sign_in(&session, &user).await {
            Ok(()) => Redirect::to("/dashboard").into_response(),
            Err(err) => {
                let message = message_for(domain::Error::Internal(format!("session: {err}")));
                redirect_with(&session, "/signin", FlashKind::Error, message, None).await
            }
        },
        Err(err) => {
            redirect_with(
                &session,
                "/signin",
                FlashKind::Error,
                message_for(err),
                None,
            )
            .await
        }
    }
}

async fn sign_out(CsrfForm(session, _): CsrfForm<Empty>) -> Response {
    if let Err(err) = web_session::sign_out(&session).await {
        tracing::error!(error = %err, "could not end a session");
    }
    redirect_with(
        &session,
        "/",
        FlashKind::Success,
        "You are signed out.".into(),
        None,
    )
    .await
}

#[derive(Deserialize)]
struct NewKeyForm {
    name: String,
}

async fn create_api_key(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<NewKeyForm>,
) -> Response {
    let user = match signed_in_user(&state, &session, "Sign in to manage API keys.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    match accounts::create_api_key(&state.platform.db, &user, &form.name).await {
        Ok(new) => {
            let message = format!(
                "Key \"{}\" created. Copy it now: it will not be shown again.",
                new.key.name
            );
            let (sealed, pad_cookie) =
                web_session::seal(new.secret.expose(), state.settings.secure_cookies);
            let mut response = redirect_with(
                &session,
                "/account/api-keys",
                FlashKind::Success,
                message,
                Some(sealed),
            )
            .await;
            if let Ok(cookie) = pad_cookie.parse::<axum::http::HeaderValue>() {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => {
            redirect_with(
                &session,
                "/account/api-keys",
                FlashKind::Error,
                message_for(err),
                None,
            )
            .await
        }
    }
}

async fn revoke_api_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm<Empty>,
) -> Response {
    let user = match signed_in_user(&state, &session, "Sign in to manage API keys.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let (kind, message) = match accounts::revoke_api_key(&state.platform.db, &user, &id).await {
        Ok(()) => (
            FlashKind::Success,
            "Key revoked: requests with it are now refused.".to_string(),
        ),
        Err(err) => (FlashKind::Error, message_for(err)),
    };
    redirect_with(&session, "/account/api-keys", kind, message, None).await
}

/// The mapping form: `task_type`, `role.ROLE=COLUMN` for each mapped role, and `test_dataset_id` (empty
/// for the platform's own split).
async fn validate_dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, fields): CsrfForm<std::collections::BTreeMap<String, String>>,
) -> Response {
    let page = format!("/datasets/{id}");
    let user = match signed_in_user(&state, &session, "Sign in to validate datasets.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let Some(task_type) = fields.get("task_type").and_then(|t| TaskType::parse(t)) else {
        return redirect_with(
            &session,
            &page,
            FlashKind::Error,
            "Choose a task type.".into(),
            None,
        )
        .await;
    };
    let mapping = Mapping::new(fields.iter().filter_map(|(key, column)| {
        let role = key.strip_prefix("role.")?;
        (!column.is_empty()).then(|| (role.to_string(), column.clone()))
    }));
    let request = ValidationRequest {
        task_type,
        mapping: Some(mapping),
        seed: None,
        test_dataset_id: fields
            .get("test_dataset_id")
            .filter(|id| !id.is_empty())
            .cloned(),
    };
    match datasets::request_validation(&state.platform.ingest(), &user, &id, request).await {
        Ok(_) => Redirect::to(&page).into_response(),
        Err(err) => redirect_with(&session, &page, FlashKind::Error, message_for(err), None).await,
    }
}
