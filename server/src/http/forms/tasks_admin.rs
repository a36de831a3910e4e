//! The admins' tasks forms: cancel any customer's task that has not ended, or have an ended task's
//! submissions evaluated again, with a reason. The domain refuses anyone but an admin and logs the action.

use app::session::FlashKind;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::answer::{message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

const PAGE: &str = "/admin/tasks";

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/admin/tasks/{id}/cancel", cancel),
        Endpoint::post("/admin/tasks/{id}/reevaluate", reevaluate),
    ]
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<ReasonForm>,
) -> Response {
    let admin = match signed_in_user(&state, &session, "Sign in as an admin.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let (kind, message) =
        match domain::tasks::cancel_as_admin(&state.platform.db, &admin, &id, &form.reason).await {
            Ok(task) => (
                FlashKind::Success,
                format!("Task {} is cancelled; its customer sees why.", task.id),
            ),
            Err(err) => (FlashKind::Error, message_for(err)),
        };
    redirect_with(&session, PAGE, kind, message, None).await
}

async fn reevaluate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<ReasonForm>,
) -> Response {
    let admin = match signed_in_user(&state, &session, "Sign in as an admin.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let (kind, message) =
        match domain::evaluation::reevaluate(&state.platform.tally(), &admin, &id, &form.reason)
            .await
        {
            Ok(task) => (
                FlashKind::Success,
                format!(
                    "Task {} is queued to be evaluated again; its scores are withdrawn until then.",
                    task.id
                ),
            ),
            Err(err) => (FlashKind::Error, message_for(err)),
        };
    redirect_with(&session, PAGE, kind, message, None).await
}
