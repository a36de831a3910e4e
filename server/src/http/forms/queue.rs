//! The admins' work-queue form: try a job that failed for good again. The domain refuses anyone but an
//! admin and logs the action.

use app::session::FlashKind;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::answer::{message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

const PAGE: &str = "/admin/queue";

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::post("/admin/jobs/{id}/retry", retry)]
}

/// The form carries nothing but its CSRF token.
#[derive(Deserialize)]
struct RetryForm {}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm<RetryForm>,
) -> Response {
    let admin = match signed_in_user(&state, &session, "Sign in as an admin.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let (kind, message) = match domain::queue::retry(&state.platform.db, &admin, &id).await {
        Ok(job) => (
            FlashKind::Success,
            format!(
                "The {} job on {} is queued again from its first attempt.",
                job.kind, job.subject
            ),
        ),
        Err(err) => (FlashKind::Error, message_for(err)),
    };
    redirect_with(&session, PAGE, kind, message, None).await
}
