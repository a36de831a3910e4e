//! Linking a miner's hotkey to the signed-in account by the hotkey's signature of the page's challenge.

use app::session::FlashKind;
use axum::extract::State;
use axum::response::Response;
use domain::datasets::TaskType;
use domain::miners::{Declaration, link};

use super::answer::{message_for, redirect_with, signed_in_user};
use crate::http::csrf::CsrfForm;
use crate::http::endpoint::Endpoint;
use crate::http::state::AppState;

const PAGE: &str = "/miner/hotkeys";

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::post("/miner/hotkeys", link_hotkey)]
}

/// `hotkey`, `challenge`, `signature`, `task_types` (repeated) and `max_billions`.
async fn link_hotkey(
    State(state): State<AppState>,
    CsrfForm(session, fields): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let user = match signed_in_user(&state, &session, "Sign in to link a hotkey.").await {
        Ok(user) => user,
        Err(to_sign_in) => return to_sign_in,
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    };
    let declaration = Declaration {
        task_types: fields
            .iter()
            .filter(|(key, _)| key == "task_types")
            .filter_map(|(_, value)| TaskType::parse(value))
            .collect(),
        max_parameters: field("max_billions")
            .parse::<f64>()
            .map_or(0, |billions| (billions * 1e9).max(0.0) as u64),
    };
    let linked = link::link(
        &state.platform,
        &user,
        field("hotkey"),
        field("challenge"),
        field("signature"),
        declaration,
    )
    .await;
    let (kind, message) = match linked {
        Ok(miner) => (
            FlashKind::Success,
            format!(
                "Hotkey {} is linked to this account and gets offers for what it takes.",
                miner.hotkey
            ),
        ),
        Err(err) => (FlashKind::Error, message_for(err)),
    };
    redirect_with(&session, PAGE, kind, message, None).await
}
