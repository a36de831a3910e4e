//! Public pages: a miner's profile (points per window, latest scores) and a finished task's results
//! (how the submissions scored). Neither shows any data, any owner or any model.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::chart::{LossChart, PointsChart, running_total};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileView {
    pub hotkey: String,
    pub totals: Vec<(String, i64)>,
    /// (task id, task type, points, reason, when)
    pub scores: Vec<(String, String, i64, String, i64)>,
}

#[server(prefix = "/fn", endpoint = "miner-profile")]
pub async fn load_profile(hotkey: String) -> Result<ProfileView, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let profile = domain::scoring::profile(&platform.db, &hotkey, domain::clock::now_ms())
        .await
        .map_err(web_session::failed)?;
    Ok(ProfileView {
        hotkey: profile.hotkey,
        totals: profile.totals,
        scores: profile
            .scores
            .into_iter()
            .map(|s| (s.task_id, s.task_type, s.points, s.reason, s.scored_at))
            .collect(),
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultView {
    pub task_type: String,
    pub model_id: String,
    pub state: String,
    pub rows: Vec<ResultRow>,
}

/// One submission's line on a results page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub rank: Option<u32>,
    pub miner: String,
    pub loss: Option<f64>,
    pub points: Option<i64>,
    pub reason: String,
}

#[server(prefix = "/fn", endpoint = "task-result")]
pub async fn load_result(id: String) -> Result<ResultView, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let result = domain::tasks::result::public(&platform.db, &id)
        .await
        .map_err(web_session::failed)?;
    Ok(ResultView {
        task_type: result.task_type,
        model_id: result.model_id,
        state: result.state,
        rows: result
            .submissions
            .into_iter()
            .map(|s| ResultRow {
                rank: s.rank,
                miner: s.miner,
                loss: s.loss,
                points: s.points,
                reason: s.reason.unwrap_or_default(),
            })
            .collect(),
    })
}

#[component]
pub fn MinerProfilePage() -> impl IntoView {
    let params = use_params_map();
    let profile = Resource::new_blocking(
        move || params.with(|p| p.get("hotkey").unwrap_or_default()),
        load_profile,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || profile.get().map(|result| match result {
                Ok(p) => {
                    let series = running_total(&p.scores.iter().map(|(_, _, points, _, at)| (*at, *points)).collect::<Vec<_>>());
                    let chart = (!series.is_empty()).then(|| view! {
                        <PointsChart series caption="Points over the latest scores, as they added up".to_string()/>
                    });
                    let totals = p.totals.into_iter().map(|(window, points)| view! { <li>{format!("{window}: {points:+} points")}</li> }).collect_view();
                    let scores = p.scores.into_iter().map(|(task, task_type, points, reason, at)| view! {
                        <tr data-test="profile-score">
                            <td>{format_utc(at)}</td>
                            <td><a href=format!("/results/{task}")>{task_type}</a></td>
                            <td>{format!("{points:+}")}</td>
                            <td>{reason}</td>
                        </tr>
                    }).collect_view();
                    view! {
                        <section class="card">
                            <p><a href="/leaderboards">"← Leaderboards"</a></p>
                            <h1>"Miner"</h1>
                            <p><code data-test="profile-hotkey">{p.hotkey}</code></p>
                            <ul>{totals}</ul>
                            {chart}
                            <table class="table">
                                <thead><tr><th scope="col">"When"</th><th scope="col">"Task"</th><th scope="col">"Points"</th><th scope="col">"Why"</th></tr></thead>
                                <tbody>{scores}</tbody>
                            </table>
                        </section>
                    }.into_any()
                }
                Err(_) => view! { <section class="card"><h1>"No such miner"</h1><p><a href="/leaderboards">"Leaderboards"</a></p></section> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn ResultPage() -> impl IntoView {
    let params = use_params_map();
    let result = Resource::new_blocking(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        load_result,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || result.get().map(|result| match result {
                Ok(r) => {
                    let losses: Vec<(String, Option<f64>)> = r.rows.iter().map(|row| (row.miner.clone(), row.loss)).collect();
                    let chart = losses.iter().any(|(_, loss)| loss.is_some()).then(|| view! {
                        <LossChart values=losses caption="Held-out loss of each submission (lower is better; the winner's bar is outlined)".to_string()/>
                    });
                    let rows = r.rows.into_iter().map(|ResultRow { rank, miner, loss, points, reason }| view! {
                        <tr data-test="result-row">
                            <td>{rank.map_or_else(|| "–".to_string(), |r| r.to_string())}</td>
                            <td><a href=format!("/miners/{miner}")><code>{miner.clone()}</code></a></td>
                            <td>{loss.map_or_else(|| "–".to_string(), |l| format!("{l:.4}"))}</td>
                            <td>{points.map_or_else(|| "–".to_string(), |p| format!("{p:+}"))}</td>
                            <td>{reason}</td>
                        </tr>
                    }).collect_view();
                    view! {
                        <section class="card">
                            <h1>{format!("{} · {}", r.model_id, r.task_type)}</h1>
                            <p data-test="result-state">{format!("Ended: {}", r.state)}</p>
                            <table class="table">
                                <thead><tr><th scope="col">"Rank"</th><th scope="col">"Miner"</th><th scope="col">"Held-out loss"</th><th scope="col">"Points"</th><th scope="col">"Why"</th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                            {chart}
                        </section>
                    }.into_any()
                }
                Err(_) => view! { <section class="card"><h1>"No results here"</h1><p>"Results are public once a task has been scored."</p></section> }.into_any(),
            })}
        </Suspense>
    }
}
