//! The public leaderboards: miners by points over the last 1, 3 or 7 days, for every task type or one.
//! The choice is a plain GET form, so the page works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandingView {
    pub rank: u64,
    pub hotkey: String,
    pub points: i64,
    pub tasks: u64,
    pub wins: u64,
}

/// One page of a board, as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardView {
    pub standings: Vec<StandingView>,
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub as_of: i64,
}

#[server(prefix = "/fn", endpoint = "leaderboard")]
pub async fn load_leaderboard(
    window: String,
    task_type: Option<String>,
    sort: String,
    page: u64,
) -> Result<BoardView, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let query = domain::scoring::BoardQuery::parse(
        Some(&window),
        task_type.as_deref(),
        Some(&sort),
        Some(&page.max(1).to_string()),
        None,
    )
    .map_err(web_session::refused)?;
    let board = platform
        .leaderboards
        .page(&platform.db, &query, domain::clock::now_ms())
        .await
        .map_err(web_session::refused)?;
    Ok(BoardView {
        pages: board.total.div_ceil(board.per_page).max(1),
        page: board.page,
        total: board.total,
        as_of: board.as_of,
        standings: board
            .standings
            .into_iter()
            .map(|s| StandingView {
                rank: s.rank,
                hotkey: s.hotkey,
                points: s.points,
                tasks: s.tasks,
                wins: s.wins,
            })
            .collect(),
    })
}

const WINDOWS: [(&str, &str); 3] = [("1d", "1 day"), ("3d", "3 days"), ("7d", "7 days")];
const TASK_TYPES: [&str; 5] = ["instruct", "chat", "dpo", "grpo", "image"];

const SORTS: [(&str, &str); 4] = [
    ("hotkey", "Miner"),
    ("points", "Points"),
    ("tasks", "Tasks"),
    ("wins", "Wins"),
];

/// What the address asks for: window, task type, sort and page.
#[derive(Clone, Debug, PartialEq)]
struct Choice {
    window: String,
    task_type: Option<String>,
    sort: String,
    page: u64,
}

impl Choice {
    /// The board's address with another sort or page.
    fn href(&self, sort: &str, page: u64) -> String {
        let mut href = format!(
            "/leaderboards?window={}&sort={sort}&page={page}",
            self.window
        );
        if let Some(task_type) = &self.task_type {
            href.push_str(&format!("&task_type={task_type}"));
        }
        href
    }
}

#[component]
pub fn Leaderboards() -> impl IntoView {
    let query = use_query_map();
    let choice = move || {
        query.with(|q| Choice {
            window: q
                .get("window")
                .filter(|w| WINDOWS.iter().any(|(name, _)| name == w))
                .unwrap_or_else(|| "7d".into()),
            task_type: q
                .get("task_type")
                .filter(|t| TASK_TYPES.contains(&t.as_str())),
            sort: q
                .get("sort")
                .filter(|s| SORTS.iter().any(|(name, _)| name == s))
                .unwrap_or_else(|| "points".into()),
            page: q
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1),
        })
    };
    let standings = Resource::new_blocking(choice, |c| {
        load_leaderboard(c.window, c.task_type, c.sort, c.page)
    });
    let current = choice();
    let window_options = WINDOWS
        .iter()
        .map(|(name, label)| view! { <option value=*name selected=*name == current.window>{*label}</option> })
        .collect_view();
    let type_options = TASK_TYPES
        .iter()
        .map(|t| view! { <option value=*t selected=current.task_type.as_deref() == Some(*t)>{*t}</option> })
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
                <input type="hidden" name="sort" value=current.sort.clone()/>
                <button type="submit" class="button secondary">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || standings.get().map(|result| {
                    let c = choice();
                    let board = match result {
                        Ok(board) => board,
                        Err(err) => return view! { <p class="flash flash-error">{err.to_string()}</p> }.into_any(),
                    };
                    let headers = SORTS.iter().map(|(name, label)| {
                        let sorted = *name == c.sort;
                        view! {
                            <th scope="col" aria-sort=if sorted { if *name == "hotkey" { "ascending" } else { "descending" } } else { "none" }>
                                <a href=c.href(name, 1) data-test=format!("sort-{name}")>{*label}{sorted.then_some(" ▾")}</a>
                            </th>
                        }
                    }).collect_view();
                    let rows = if board.standings.is_empty() {
                        view! { <tr><td colspan="5" class="empty" data-test="leaderboard-empty">"No miner has been scored in this window."</td></tr> }.into_any()
                    } else {
                        board.standings
                            .into_iter()
                            .map(|s| view! {
                                <tr data-test="standing">
                                    <td>{s.rank}</td>
                                    <td><a href=format!("/miners/{}", s.hotkey)><code>{s.hotkey.clone()}</code></a></td>
                                    <td>{s.points}</td>
                                    <td>{s.tasks}</td>
                                    <td>{s.wins}</td>
                                </tr>
                            })
                            .collect_view()
                            .into_any()
                    };
                    let previous = (board.page > 1).then(|| view! { <a href=c.href(&c.sort, board.page - 1) rel="prev" data-test="page-previous">"← Previous"</a> });
                    let next = (board.page < board.pages).then(|| view! { <a href=c.href(&c.sort, board.page + 1) rel="next" data-test="page-next">"Next →"</a> });
                    view! {
                        <table class="table">
                            <caption class="sr-only">"Miners by points"</caption>
                            <thead><tr><th scope="col">"Rank"</th>{headers}</tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                        <nav class="pager" aria-label="Pages">
                            {previous}
                            <span data-test="page-of">{format!("Page {} of {} · {} miners · as of {}", board.page, board.pages, board.total, crate::time::format_utc(board.as_of))}</span>
                            {next}
                        </nav>
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}
