//! The customer's API keys: create one (shown once), see them by prefix and name, revoke.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[server(prefix = "/fn", endpoint = "api-keys")]
pub async fn list_keys() -> Result<Vec<KeyRow>, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let keys = domain::accounts::list_api_keys(&platform.db, &user)
        .await
        .map_err(web_session::failed)?;
    Ok(keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let keys = Resource::new_blocking(|| (), |_| list_keys());
    signed_in_page(move |s, _| {
        view! {
        <section class="card">
            <h1>"API keys"</h1>
            <p>"Send a key as " <code>"Authorization: Bearer <key>"</code> " to use the API from scripts."</p>
            <FlashMessage/>
            <form method="post" action="/account/api-keys" class="form inline-form">
                <CsrfField/>
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" maxlength="64" required placeholder="ci-pipeline"/>
                <button type="submit" class="button">"Create key"</button>
            </form>
            <KeyTable keys=keys.get().and_then(Result::ok).unwrap_or_default() csrf=s.csrf/>
        </section>
    }.into_any()
    })
}

#[component]
fn KeyTable(keys: Vec<KeyRow>, csrf: String) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p data-test="no-keys">"You have no API keys yet."</p> }.into_any();
    }
    let rows = keys
        .into_iter()
        .map(|key| {
            let status = match key.revoked_at {
                Some(at) => format!("revoked {}", format_utc(at)),
                None => "active".to_string(),
            };
            let last_used = key.last_used_at.map(format_utc).unwrap_or_else(|| "never".into());
            let revoke = key.revoked_at.is_none().then(|| {
                view! {
                    <form method="post" action=format!("/account/api-keys/{}/revoke", key.id) class="inline">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class="link danger" aria-label=format!("Revoke key {}", key.name)>"Revoke"</button>
                    </form>
                }
            });
            view! {
                <tr data-test="key-row">
                    <td>{key.name}</td>
                    <td><code>{key.prefix}"…"</code></td>
                    <td>{format_utc(key.created_at)}</td>
                    <td>{last_used}</td>
                    <td>{status}</td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Key"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
