//! The admins' catalogue forms: add a model, stop or resume offering one, set a task type's bounds.
//! The domain refuses anyone but an admin.

use app::session::FlashKind;
use axum::extract::State;
use axum::response::Response;
use domain::catalogue::{self, BaseModel, Bounds};
use domain::datasets::TaskType;

use super::answer::{message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

const PAGE: &str = "/admin/models";

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/admin/models", add_model),
        Endpoint::post("/admin/models/enabled", set_enabled),
        Endpoint::post("/admin/bounds", set_bounds),
    ]
}

/// The form's fields; `task_types` repeats, once per box ticked.
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
}

/// Acts as the signed-in admin and returns to the catalogue page with the outcome.
async fn as_admin(
    state: &AppState,
    session: tower_sessions::Session,
    act: impl AsyncFnOnce(&domain::accounts::User) -> domain::Result<String>,
) -> Response {
    let user = match signed_in_user(state, &session, "Sign in as an admin.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let (kind, message) = match act(&user).await {
        Ok(done) => (FlashKind::Success, done),
        Err(err) => (FlashKind::Error, message_for(err)),
    };
    redirect_with(&session, PAGE, kind, message, None).await
}

async fn add_model(
    State(state): State<AppState>,
    CsrfForm(session, fields): CsrfForm<Fields>,
) -> Response {
    let db = state.platform.db.clone();
    as_admin(&state, session, async |admin| {
        let parameters = field(&fields, "parameters").parse().map_err(|_| {
            domain::Error::invalid("parameters", "give the parameter count as a whole number")
        })?;
        let task_types = fields
            .iter()
            .filter(|(key, _)| key == "task_types")
            .filter_map(|(_, value)| TaskType::parse(value))
            .collect();
        let model = BaseModel {
            id: field(&fields, "id").to_string(),
            family: field(&fields, "family").to_string(),
            parameters,
            task_types,
            evaluable: None,
            not_evaluable_because: None,
        };
        let id = model.id.clone();
        catalogue::add_model(&db, admin, model).await?;
        Ok(format!("{id} added; customers can choose it now."))
    })
    .await
}

async fn set_enabled(
    State(state): State<AppState>,
    CsrfForm(session, fields): CsrfForm<Fields>,
) -> Response {
    let db = state.platform.db.clone();
    as_admin(&state, session, async |admin| {
        let id = field(&fields, "id");
        let enabled = field(&fields, "enabled") == "true";
        catalogue::set_enabled(&db, admin, id, enabled).await?;
        Ok(if enabled {
            format!("{id} is offered for new tasks again.")
        } else {
            format!("{id} is no longer offered for new tasks; tasks made with it go on.")
        })
    })
    .await
}

async fn set_bounds(
    State(state): State<AppState>,
    CsrfForm(session, fields): CsrfForm<Fields>,
) -> Response {
    let db = state.platform.db.clone();
    as_admin(&state, session, async |admin| {
        let task_type = TaskType::parse(field(&fields, "task_type"))
            .ok_or_else(|| domain::Error::invalid("task_type", "choose a task type"))?;
        let hours = |name: &'static str| {
            field(&fields, name)
                .parse::<u64>()
                .map_err(|_| domain::Error::invalid(name, "give the hours as a whole number"))
        };
        let bounds = Bounds {
            task_type,
            min_hours: hours("min_hours")?,
            max_hours: hours("max_hours")?,
        };
        let message = format!(
            "{} tasks now run {} to {} hours.",
            task_type.as_str(),
            bounds.min_hours,
            bounds.max_hours
        );
        catalogue::set_bounds(&db, admin, bounds).await?;
        Ok(message)
    })
    .await
}
