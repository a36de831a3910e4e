//! The public leaderboards: miners by points over the last 1, 3 or 7 days, for every task type or one.
//! The choice is a plain GET form, so the page works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandingView {
    pub hotkey: String,
    pub points: i64,
    pub tasks: u64,
    pub wins: u64,
}

#[server(prefix = "/fn", endpoint = "leaderboard")]
pub async fn load_leaderboard(
    window: String,
    task_type: Option<String>,
) -> Result<Vec<StandingView>, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let task_type = task_type
        .as_deref()
        .and_then(domain::datasets::TaskType::parse);
    let standings =
        domain::scoring::leaderboard(&platform.db, &window, task_type, domain::clock::now_ms())
            .await
            .map_err(web_session::failed)?;
    Ok(standings
        .into_iter()
        .map(|s| StandingView {
            hotkey: s.hotkey,
            points: s.points,
            tasks: s.tasks,
            wins: s.wins,
        })
        .collect())
}

const WINDOWS: [(&str, &str); 3] = [("1d", "1 day"), ("3d", "3 days"), ("7d", "7 days")];
const TASK_TYPES: [&str; 5] = ["instruct", "chat", "dpo", "grpo", "image"];

#[component]
pub fn Leaderboards() -> impl IntoView {
    let query = use_query_map();
    let choice = move || {
        query.with(|q| {
            let window = q
                .get("window")
                .filter(|w| WINDOWS.iter().any(|(name, _)| name == w))
                .unwrap_or_else(|| "7d".into());
            (window, q.get("task_type").filter(|t| !t.is_empty()))
        })
    };
    let standings = Resource::new_blocking(choice, |(window, task_type)| {
        load_leaderboard(window, task_type)
    });
    let (window, task_type) = choice();
    let window_options = WINDOWS
        .iter()
        .map(|(name, label)| view! { <option value=*name selected=*name == window>{*label}</option> })
        .collect_view();
    let type_options = TASK_TYPES
        .iter()
        .map(|t| view! { <option value=*t selected=task_type.as_deref() == Some(*t)>{*t}</option> })
        .collect_view();
    view! {
        <section class="card">
            <h1>"Leaderboards"</h1>
            <p>"Miners ranked by their points: +3 for a task won, −1 for a failed or duplicate submission."</p>
            <form method="get" action="/leaderboards" class="form inline-form">
                <label for="board-window">"Window"</label>
                <select id="board-window" name="window">{window_options}</select>
                <label for="board-type">"Task type"</label>
                <select id="board-type" name="task_type"><option value="">"all"</option>{type_options}</select>
                <button type="submit" class="button secondary">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || standings.get().map(|result| {
                    let standings = result.unwrap_or_default();
                    let rows = if standings.is_empty() {
                        view! { <tr><td colspan="5" class="empty" data-test="leaderboard-empty">"No miner has been scored in this window."</td></tr> }.into_any()
                    } else {
                        standings
                            .into_iter()
                            .enumerate()
                            .map(|(i, s)| view! {
                                <tr data-test="standing">
                                    <td>{i + 1}</td>
                                    <td><a href=format!("/miners/{}", s.hotkey)><code>{s.hotkey.clone()}</code></a></td>
                                    <td>{s.points}</td>
                                    <td>{s.tasks}</td>
                                    <td>{s.wins}</td>
                                </tr>
                            })
                            .collect_view()
                            .into_any()
                    };
                    view! {
                        <table class="table">
                            <caption class="sr-only">"Miners by points"</caption>
                            <thead><tr>
                                <th scope="col">"Rank"</th><th scope="col">"Miner"</th><th scope="col">"Points"</th>
                                <th scope="col">"Tasks"</th><th scope="col">"Wins"</th>
                            </tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    }
                })}
            </Suspense>
        </section>
    }
}
