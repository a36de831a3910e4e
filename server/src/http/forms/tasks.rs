//! The new-task wizard's confirmation and the cancel button of a task's page.

use app::session::FlashKind;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::tasks::{self, NewTask, RunBy};
use serde::Deserialize;

use super::answer::{Empty, message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/tasks", create),
        Endpoint::post("/tasks/{id}/cancel", cancel),
    ]
}

#[derive(Deserialize)]
struct NewTaskForm {
    dataset_id: String,
    model_id: String,
    hours_to_complete: String,
    #[serde(default)]
    run_by: String,
}

async fn create(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<NewTaskForm>,
) -> Response {
    let user = match signed_in_user(&state, &session, "Sign in to create tasks.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let back = format!(
        "/tasks/new?dataset={}&model={}&hours={}&run_by={}",
        urlencoding(&form.dataset_id),
        urlencoding(&form.model_id),
        urlencoding(&form.hours_to_complete),
        urlencoding(&form.run_by)
    );
    let Ok(hours_to_complete) = form.hours_to_complete.trim().parse() else {
        let message = "Give the hours to complete as a whole number.".to_string();
        return redirect_with(&session, &back, FlashKind::Error, message, None).await;
    };
    let run_by = match form.run_by.as_str() {
        "" => RunBy::Miners,
        chosen => match RunBy::parse(chosen) {
            Some(run_by) => run_by,
            None => {
                let message = "Choose who trains the task: miners or the champion.".to_string();
                return redirect_with(&session, &back, FlashKind::Error, message, None).await;
            }
        },
    };
    let request = NewTask {
        dataset_id: form.dataset_id,
        model_id: form.model_id,
        hours_to_complete,
        run_by,
        reward_functions: None,
    };
    if let Err(refused) = state.rate_limits.task_creation(&user.id) {
        let message = super::answer::capitalise(&refused.message);
        return redirect_with(&session, &back, FlashKind::Error, message, None).await;
    }
    match tasks::create(&state.platform, &user, &request).await {
        Ok(task) => {
            let message = match run_by {
                RunBy::Miners => "Task created: it is being prepared and then offered to miners.",
                RunBy::Champion => {
                    "Task created: it is being prepared and then trained by the champion's recipe."
                }
            }
            .into();
            let page = format!("/tasks/{}", task.id);
            redirect_with(&session, &page, FlashKind::Success, message, None).await
        }
        Err(err) => redirect_with(&session, &back, FlashKind::Error, message_for(err), None).await,
    }
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm<Empty>,
) -> Response {
    let user = match signed_in_user(&state, &session, "Sign in to cancel tasks.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let page = format!("/tasks/{id}");
    match tasks::cancel(&state.platform.db, &user, &id).await {
        Ok(_) => Redirect::to(&page).into_response(),
        Err(err) => redirect_with(&session, &page, FlashKind::Error, message_for(err), None).await,
    }
}

/// `value` for a URL's query string.
fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
