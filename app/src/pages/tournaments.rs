//! Public tournament pages: the list with each tournament's state and champion, a tournament's bracket
//! (every round's groups, pairs and boss round, each entrant's held-out loss per task, who advanced and
//! why, the points), and a published winner's recipe as a file tree with its download.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntrantView {
    pub recipe_id: String,
    pub recipe: String,
    pub hotkey: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchEntrantView {
    pub name: EntrantView,
    pub rank: Option<i64>,
    pub advanced: bool,
    /// Per task: the loss, or why the run failed.
    pub runs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchView {
    pub round: i64,
    pub kind: String,
    pub tasks: i64,
    pub decided: bool,
    pub outcome: String,
    pub entrants: Vec<MatchEntrantView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BracketView {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub task_type: String,
    pub model_id: String,
    pub hours: i64,
    pub reason: String,
    pub champion: Option<EntrantView>,
    pub champion_wins: i64,
    pub winner: Option<EntrantView>,
    pub matches: Vec<MatchView>,
    /// (entrant, points, the round it went out in)
    pub standings: Vec<(EntrantView, f64, Option<i64>)>,
}

#[cfg(feature = "ssr")]
impl From<domain::tournaments::play::Bracket> for BracketView {
    fn from(b: domain::tournaments::play::Bracket) -> Self {
        let name = |n: domain::tournaments::play::EntrantName| EntrantView {
            recipe_id: n.recipe_id,
            recipe: n.recipe,
            hotkey: n.hotkey,
        };
        BracketView {
            id: b.id,
            kind: b.kind,
            state: b.state.to_string(),
            task_type: b.task_type,
            model_id: b.model_id,
            hours: b.hours,
            reason: b.reason,
            champion: b.champion.map(name),
            champion_wins: b.champion_wins,
            winner: b.winner.map(name),
            matches: b
                .matches
                .into_iter()
                .map(|m| MatchView {
                    round: m.round,
                    kind: m.kind,
                    tasks: m.tasks,
                    decided: m.state == domain::states::MatchState::Decided,
                    outcome: m.outcome,
                    entrants: m
                        .entrants
                        .into_iter()
                        .map(|e| MatchEntrantView {
                            name: name(e.name),
                            rank: e.rank,
                            advanced: e.advanced,
                            runs: e
                                .runs
                                .into_iter()
                                .map(|r| match (r.loss, r.error) {
                                    (Some(loss), _) => format!("{loss:.4}"),
                                    (None, why) => format!("failed: {}", why.unwrap_or_default()),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            standings: b
                .standings
                .into_iter()
                .map(|s| (name(s.name), s.points, s.out_in_round))
                .collect(),
        }
    }
}

/// A miner's standing over every tournament of a kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandingView {
    pub kind: String,
    pub hotkey: String,
    pub points: f64,
    pub tournaments: i64,
    pub titles: i64,
}

#[server(prefix = "/fn", endpoint = "tournaments")]
pub async fn load_tournaments() -> Result<(Vec<BracketView>, Vec<StandingView>), ServerFnError> {
    use crate::web_session;
    use domain::tournaments::play;
    let platform = web_session::platform()?;
    let recent = play::recent(&platform.db, 20)
        .await
        .map_err(web_session::failed)?;
    let mut standings = Vec::new();
    for kind in ["text", "image"] {
        let board = play::leaderboard(&platform.db, kind)
            .await
            .map_err(web_session::failed)?;
        standings.extend(board.into_iter().map(|m| StandingView {
            kind: kind.to_string(),
            hotkey: m.hotkey,
            points: m.points,
            tournaments: m.tournaments,
            titles: m.titles,
        }));
    }
    Ok((
        recent.into_iter().map(BracketView::from).collect(),
        standings,
    ))
}

#[server(prefix = "/fn", endpoint = "tournament")]
pub async fn load_bracket(id: String) -> Result<BracketView, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let bracket = domain::tournaments::play::bracket(&platform.db, &id)
        .await
        .map_err(web_session::failed)?;
    Ok(bracket.into())
}

fn short(hotkey: &str) -> String {
    hotkey.chars().take(10).collect::<String>() + "…"
}

fn entrant_label(e: &EntrantView) -> String {
    format!("{} ({})", e.recipe, short(&e.hotkey))
}

#[component]
pub fn TournamentsPage() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| load_tournaments());
    view! {
        <section class="card">
            <h1>"Tournaments"</h1>
            <p>"Miners' training recipes run on the platform's own trainers, on the same task and data, in knockout pairs or groups, then a boss round against the champion."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || list.get().map(|list| match list {
                    Ok((list, _)) if list.is_empty() => view! { <p>"No tournament yet."</p> }.into_any(),
                    Ok((list, standings)) => {
                        let board = standings.into_iter().map(|s| view! {
                            <tr data-test="tournament-standing">
                                <td>{s.kind}</td>
                                <td><a href=format!("/miners/{}", s.hotkey)><code>{short(&s.hotkey)}</code></a></td>
                                <td>{format!("{:.3}", s.points)}</td>
                                <td>{s.tournaments}</td>
                                <td>{s.titles}</td>
                            </tr>
                        }).collect_view();
                        let rows = list.into_iter().map(|t| view! {
                            <tr data-test="tournament-row">
                                <td><a href=format!("/tournaments/{}", t.id)>{format!("{} · {}", t.kind, t.model_id)}</a></td>
                                <td>{t.state.clone()}</td>
                                <td>{t.winner.as_ref().map_or_else(|| "–".to_string(), entrant_label)}</td>
                                <td>{t.reason.clone()}</td>
                            </tr>
                        }).collect_view();
                        view! {
                            <table class="table">
                                <thead><tr><th scope="col">"Tournament"</th><th scope="col">"State"</th><th scope="col">"Champion"</th><th scope="col">"Latest"</th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                            <h2>"Tournament leaderboard"</h2>
                            <table class="table">
                                <caption class="sr-only">"Points per miner over every tournament of a kind"</caption>
                                <thead><tr><th scope="col">"Kind"</th><th scope="col">"Miner"</th><th scope="col">"Points"</th><th scope="col">"Tournaments"</th><th scope="col">"Titles"</th></tr></thead>
                                <tbody>{board}</tbody>
                            </table>
                        }.into_any()
                    }
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

fn match_title(m: &MatchView) -> String {
    match m.kind.as_str() {
        "group" => format!("Group · {} task", m.tasks),
        "pair" => "Pair".to_string(),
        "bye" => "Bye".to_string(),
        _ => format!("Boss round · {} tasks", m.tasks),
    }
}

#[component]
fn MatchCard(m: MatchView) -> impl IntoView {
    let title = match_title(&m);
    let rows = m
        .entrants
        .into_iter()
        .map(|e| {
            let class = if e.advanced { "advanced" } else { "" };
            view! {
                <tr class=class data-test="bracket-entrant">
                    <td>{e.rank.map_or_else(|| "–".to_string(), |r| r.to_string())}</td>
                    <td>{entrant_label(&e.name)}</td>
                    <td>{if e.runs.is_empty() { "–".to_string() } else { e.runs.join(" · ") }}</td>
                    <td>{if e.advanced { "advanced" } else { "" }}</td>
                </tr>
            }
        })
        .collect_view();
    let outcome = if m.decided {
        m.outcome
    } else {
        "playing…".to_string()
    };
    view! {
        <article class="match" data-test="match">
            <h3>{title}</h3>
            <table class="table">
                <thead><tr><th scope="col">"Rank"</th><th scope="col">"Recipe (miner)"</th><th scope="col">"Held-out loss per task"</th><th scope="col"><span class="sr-only">"Advanced"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <p class="muted">{outcome}</p>
        </article>
    }
}

#[component]
pub fn TournamentPage() -> impl IntoView {
    let params = use_params_map();
    let bracket = Resource::new_blocking(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        load_bracket,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || bracket.get().map(|bracket| match bracket {
                Ok(b) => {
                    let last = b.matches.iter().map(|m| m.round).max().unwrap_or(0);
                    let rounds = (1..=last).map(|round| {
                        let cards = b.matches.iter().filter(|m| m.round == round).cloned().map(|m| view! { <MatchCard m/> }).collect_view();
                        view! { <section class="round"><h2>{format!("Round {round}")}</h2>{cards}</section> }
                    }).collect_view();
                    let standings = b.standings.iter().map(|(e, points, out)| view! {
                        <tr data-test="standing">
                            <td>{entrant_label(e)}</td>
                            <td>{format!("{points:.3}")}</td>
                            <td>{out.map_or_else(|| "still in".to_string(), |r| format!("round {r}"))}</td>
                        </tr>
                    }).collect_view();
                    let champion = b.champion.as_ref().map(|c| view! {
                        <p>{format!("Defending champion: {} ({} titles in a row)", entrant_label(c), b.champion_wins)}</p>
                    });
                    let winner = b.winner.clone().map(|w| view! {
                        <p data-test="tournament-winner">"Champion: " <strong>{entrant_label(&w)}</strong>" · "
                            <a href=format!("/recipes/{}", w.recipe_id)>"its recipe"</a></p>
                    });
                    view! {
                        <section class="card" data-test="bracket">
                            <h1>{format!("{} tournament · {} · {}", b.kind, b.task_type, b.model_id)}</h1>
                            <p data-test="tournament-state"><strong>{b.state.clone()}</strong>{format!(" · {}", b.reason)}</p>
                            <p>{format!("Each run has {} hour(s) on the platform's trainers.", b.hours)}</p>
                            {champion}
                            {winner}
                            {rounds}
                            <h2>"Points"</h2>
                            <table class="table">
                                <thead><tr><th scope="col">"Recipe (miner)"</th><th scope="col">"Points"</th><th scope="col">"Out in"</th></tr></thead>
                                <tbody>{standings}</tbody>
                            </table>
                        </section>
                    }.into_any()
                }
                Err(_) => view! { <section class="card"><h1>"No such tournament"</h1><p><a href="/tournaments">"Tournaments"</a></p></section> }.into_any(),
            })}
        </Suspense>
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecipeFileView {
    pub path: String,
    pub size: u64,
    pub text: Option<String>,
}

#[server(prefix = "/fn", endpoint = "recipe-files")]
pub async fn load_recipe_files(id: String) -> Result<Vec<RecipeFileView>, ServerFnError> {
    use crate::web_session;
    let platform = web_session::platform()?;
    let files = domain::tournaments::recipes::published_files(&platform, &id)
        .await
        .map_err(web_session::failed)?;
    Ok(files
        .into_iter()
        .map(|f| RecipeFileView {
            path: f.path,
            size: f.size,
            text: f.text,
        })
        .collect())
}

#[component]
pub fn RecipePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let files = Resource::new_blocking(id, load_recipe_files);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || files.get().map(|files| match files {
                Ok(files) => {
                    let list = files.into_iter().map(|f| view! {
                        <li data-test="recipe-file">
                            <details>
                                <summary><code>{f.path.clone()}</code>{format!(" · {} bytes", f.size)}</summary>
                                {f.text.map(|text| view! { <pre>{text}</pre> })}
                            </details>
                        </li>
                    }).collect_view();
                    view! {
                        <section class="card">
                            <h1>"A champion's recipe"</h1>
                            <p><a href=format!("/api/v1/recipes/{}/download", id())>"Download the build context (tar)"</a></p>
                            <ul class="file-tree">{list}</ul>
                        </section>
                    }.into_any()
                }
                Err(_) => view! { <section class="card"><h1>"Not published"</h1><p>"A recipe is published once it wins a tournament."</p></section> }.into_any(),
            })}
        </Suspense>
    }
}
