//! The admins' miners form: suspend a miner with a reason, or reinstate it. The domain refuses anyone
//! but an admin.

use app::session::FlashKind;
use axum::extract::State;
use axum::response::Response;
use domain::miners;
use serde::Deserialize;

use super::answer::{message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

const PAGE: &str = "/admin/miners";

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::post("/admin/miners/suspension", suspension)]
}

#[derive(Deserialize)]
struct SuspensionForm {
    hotkey: String,
    /// `suspend` or `reinstate`.
    action: String,
    #[serde(default)]
    reason: String,
}

async fn suspension(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<SuspensionForm>,
) -> Response {
    let admin = match signed_in_user(&state, &session, "Sign in as an admin.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let suspend = form.action == "suspend";
    let reason = suspend.then_some(form.reason.trim());
    let (kind, message) =
        match miners::suspend_as(&state.platform.db, &admin, &form.hotkey, reason).await {
            Ok(()) if suspend => (
                FlashKind::Success,
                format!("{} is suspended and gets no offers.", form.hotkey),
            ),
            Ok(()) => (
                FlashKind::Success,
                format!("{} is reinstated and gets offers again.", form.hotkey),
            ),
            Err(err) => (FlashKind::Error, message_for(err)),
        };
    redirect_with(&session, PAGE, kind, message, None).await
}
