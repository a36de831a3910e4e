//! The admins' miners page: every registered miner with what it takes, and a suspend (with a reason)
//! or reinstate button. A suspended miner gets no offers.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerRowView {
    pub hotkey: String,
    pub task_types: Vec<String>,
    pub max_parameters: u64,
    pub suspended_reason: Option<String>,
}

#[server(prefix = "/fn", endpoint = "admin-miners")]
pub async fn load_admin_miners() -> Result<Vec<MinerRowView>, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let miners = domain::miners::all(&platform.db, &user)
        .await
        .map_err(web_session::refused)?;
    Ok(miners
        .into_iter()
        .map(|m| MinerRowView {
            hotkey: m.hotkey,
            task_types: m
                .task_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            max_parameters: m.max_parameters,
            suspended_reason: m.suspended_reason,
        })
        .collect())
}

#[component]
pub fn AdminMinersPage() -> impl IntoView {
    let miners = Resource::new_blocking(|| (), |_| load_admin_miners());
    signed_in_page(move |_, _| {
        let body = match miners.get() {
            Some(Ok(miners)) if miners.is_empty() => {
                view! { <p data-test="no-miners">"No miner has registered yet."</p> }.into_any()
            }
            Some(Ok(miners)) => view! { <MinerTable miners/> }.into_any(),
            Some(Err(err)) => {
                view! { <p data-test="miners-refused">{err.to_string()}</p> }.into_any()
            }
            None => view! { <p>"Loading…"</p> }.into_any(),
        };
        view! {
            <section class="card">
                <h1>"Miners"</h1>
                <FlashMessage/>
                {body}
            </section>
        }
        .into_any()
    })
}

#[component]
fn MinerTable(miners: Vec<MinerRowView>) -> impl IntoView {
    let rows = miners
        .into_iter()
        .map(|m| {
            let action = match &m.suspended_reason {
                Some(_) => view! {
                    <form method="post" action="/admin/miners/suspension" class="inline">
                        <CsrfField/>
                        <input type="hidden" name="hotkey" value=m.hotkey.clone()/>
                        <input type="hidden" name="action" value="reinstate"/>
                        <button type="submit" class="link">"Reinstate"</button>
                    </form>
                }
                .into_any(),
                None => {
                    let id = format!("reason-{}", m.hotkey);
                    view! {
                        <form method="post" action="/admin/miners/suspension" class="form inline-form">
                            <CsrfField/>
                            <input type="hidden" name="hotkey" value=m.hotkey.clone()/>
                            <input type="hidden" name="action" value="suspend"/>
                            <label for=id.clone() class="sr-only">"Reason"</label>
                            <input id=id name="reason" required placeholder="why"/>
                            <button type="submit" class="link danger">"Suspend"</button>
                        </form>
                    }
                    .into_any()
                }
            };
            view! {
                <tr data-test="admin-miner">
                    <td><code>{m.hotkey.clone()}</code></td>
                    <td>{m.task_types.join(", ")}</td>
                    <td>{format!("{:.1} B", m.max_parameters as f64 / 1e9)}</td>
                    <td>{m.suspended_reason.clone().map_or_else(|| "active".to_string(), |why| format!("suspended: {why}"))}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Hotkey"</th><th scope="col">"Takes"</th><th scope="col">"Largest model"</th>
                <th scope="col">"Status"</th><th scope="col"></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
