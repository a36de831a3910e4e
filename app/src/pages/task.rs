//! One task: its state, window and deadline, its submissions and every event with its reason. Once
//! hydrated the page follows the task's server-sent events (`/api/v1/tasks/{id}/stream`) and updates in
//! place until the task ends; before that (or without JavaScript) a reload shows the same.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::sign_in_first::SignInFirst;
use crate::chart::LossChart;
use crate::session::{CsrfField, FlashMessage, session_now};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDetail {
    pub id: String,
    pub task_type: String,
    pub model_id: String,
    pub hours_to_complete: u64,
    pub state: String,
    pub terminal: bool,
    pub pool_min: u64,
    pub pool_max: u64,
    /// In champion mode, the champion's recipe that trains the task.
    pub champion_recipe_id: Option<String>,
    pub window_starts_at: Option<i64>,
    pub deadline_at: Option<i64>,
    /// Where the task waits in the work queue (1 is next), while it waits for a worker.
    pub queue_position: Option<u64>,
    /// (from, to, reason, at)
    pub events: Vec<(Option<String>, String, String, i64)>,
    pub submissions: Vec<SubmissionRow>,
    /// The base model's own held-out loss, once measured.
    pub base_loss: Option<f64>,
    /// The server's clock when this was read, for the countdown.
    pub now: i64,
}

/// A submission as the task's page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRow {
    pub miner: String,
    pub rank: Option<u32>,
    pub loss: Option<f64>,
    pub points: Option<i64>,
    /// `base_loss − loss`: above 0 is better than the base model.
    pub improvement: Option<f64>,
    /// The score's reason, or how far evaluation has got.
    pub status: String,
}

#[server(prefix = "/fn", endpoint = "task")]
pub async fn load_task(id: String) -> Result<TaskDetail, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let task = domain::tasks::get(&platform.db, &user, &id)
        .await
        .map_err(web_session::failed)?;
    let events = domain::tasks::events(&platform.db, &user, &id)
        .await
        .map_err(web_session::failed)?;
    let listed = domain::tasks::result::submissions(&platform.db, &user, &id)
        .await
        .map_err(web_session::failed)?;
    let base_loss = listed.base_loss;
    let submissions = listed
        .submissions
        .into_iter()
        .map(|s| SubmissionRow {
            status: s
                .reason
                .clone()
                .unwrap_or_else(|| match s.evaluation.as_deref() {
                    None => "received".to_string(),
                    Some(state) => format!("evaluation {state}"),
                }),
            miner: s.miner,
            rank: s.rank,
            loss: s.loss,
            points: s.points,
            improvement: s.improvement,
        })
        .collect();
    let queue_position = domain::workers::queue_position(&platform.db, &task)
        .await
        .map_err(web_session::failed)?;
    Ok(TaskDetail {
        queue_position,
        id: task.id,
        task_type: task.task_type.as_str().to_string(),
        model_id: task.model_id,
        hours_to_complete: task.hours_to_complete,
        state: task.state.as_str().to_string(),
        terminal: task.state.is_terminal(),
        pool_min: task.pool_min,
        pool_max: task.pool_max,
        champion_recipe_id: task.champion_recipe_id,
        window_starts_at: task.window_starts_at,
        deadline_at: task.deadline_at,
        events: events
            .into_iter()
            .map(|e| {
                (
                    e.from_state.map(|s| s.as_str().to_string()),
                    e.to_state.as_str().to_string(),
                    e.reason,
                    e.at,
                )
            })
            .collect(),
        submissions,
        base_loss,
        now: domain::clock::now_ms(),
    })
}

#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new_blocking(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        load_task,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let signed_in = session_now().map(|s| s.user.is_some());
                match (signed_in, detail.get()) {
                    (Some(false), _) => view! { <SignInFirst/> }.into_any(),
                    (_, Some(Ok(task))) => view! { <LiveTask task/> }.into_any(),
                    (_, Some(Err(_))) => view! { <section class="card"><h1>"Task not found"</h1><p><a href="/tasks">"Your tasks"</a></p></section> }.into_any(),
                    _ => view! { <p>"Loading…"</p> }.into_any(),
                }
            }}
        </Suspense>
    }
}

/// `ms` as `H:MM:SS`.
fn countdown(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[component]
fn LiveTask(task: TaskDetail) -> impl IntoView {
    let id = task.id.clone();
    let (task, set_task) = signal(task);
    // The browser's clock, corrected by how far it is from the server's.
    let (now, set_now) = signal(task.get_untracked().now);
    #[cfg(feature = "hydrate")]
    live::follow(id.clone(), task, set_task, set_now);
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, set_task, set_now);
    let events = move || {
        task.get()
            .events
            .into_iter()
            .rev()
            .map(|(from, to, reason, at)| {
                view! {
                    <tr data-test="task-event">
                        <td>{format_utc(at)}</td>
                        <td>{from.map(|f| format!("{f} → {to}")).unwrap_or(to)}</td>
                        <td>{reason}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let window = move || {
        let t = task.get();
        match (t.window_starts_at, t.deadline_at) {
            (Some(start), Some(deadline)) => {
                let left = deadline - now.get();
                let remaining = if left > 0 && !t.terminal {
                    format!(" · {} left", countdown(left))
                } else {
                    String::new()
                };
                format!(
                    "Window: {} to {}{remaining}",
                    format_utc(start),
                    format_utc(deadline)
                )
            }
            _ if t.terminal => format!("Window: {} hours; it never opened", t.hours_to_complete),
            _ if t.champion_recipe_id.is_some() => format!(
                "Window: {} hours, from when its data is ready",
                t.hours_to_complete
            ),
            _ => format!(
                "Window: {} hours, from when {} to {} miners have accepted",
                t.hours_to_complete, t.pool_min, t.pool_max
            ),
        }
    };
    let initial = task.get_untracked();
    view! {
        <section class="card">
            <p><a href="/tasks">"← Tasks"</a></p>
            <h1>{format!("{} · {}", initial.model_id, initial.task_type)}</h1>
            <FlashMessage/>
            <p>"State: " <strong data-test="task-state">{move || task.get().state}</strong></p>
            <p data-test="task-window">{window}</p>
            {initial.champion_recipe_id.clone().map(|recipe| view! {
                <p data-test="task-champion">"Trained by the reigning tournament champion's "
                    <a href=format!("/recipes/{recipe}")>"recipe"</a>
                    " on the platform's trainer hosts, instead of a pool of miners."</p>
            })}
            {move || {
                let t = task.get();
                t.queue_position.map(|position| {
                    let step = if t.state == "pending" || t.state == "preparing_data" { "preparing its data" } else { "evaluating its submissions" };
                    let ahead = match position - 1 {
                        0 => "it is next".to_string(),
                        1 => "1 job is ahead of it".to_string(),
                        n => format!("{n} jobs are ahead of it"),
                    };
                    view! { <p data-test="queue-position">{format!("Queue position {position}: waiting for a worker to start {step}; {ahead}.")}</p> }
                })
            }}
            {move || (!task.get().terminal).then(|| view! {
                <form method="post" action=format!("/tasks/{}/cancel", task.get().id) class="inline">
                    <CsrfField/>
                    <button type="submit" class="button danger" data-test="cancel-task">"Cancel the task"</button>
                </form>
            })}
            {move || {
                let t = task.get();
                (!t.submissions.is_empty()).then(|| {
                    let download = (t.state == "success").then(|| view! {
                        <p><a class="button" href=format!("/api/v1/tasks/{}/result", t.id) data-test="download-winner">"Download the winning model"</a></p>
                    });
                    let losses: Vec<(String, Option<f64>)> = t.submissions.iter().map(|s| (s.miner.clone(), s.loss)).collect();
                    let chart = losses.iter().any(|(_, loss)| loss.is_some()).then(|| view! {
                        <LossChart values=losses caption="Held-out loss of each submission (lower is better; the winner's bar is outlined)".to_string()/>
                    });
                    let rows = t.submissions.into_iter().map(|s| view! {
                        <tr data-test="submission">
                            <td>{s.rank.map_or_else(|| "–".to_string(), |r| r.to_string())}</td>
                            <td><code>{s.miner}</code></td>
                            <td>{s.loss.map_or_else(|| "–".to_string(), |l| format!("{l:.4}"))}</td>
                            <td data-test="improvement">{s.improvement.map_or_else(|| "–".to_string(), |i| format!("{i:+.4}"))}</td>
                            <td>{s.points.map_or_else(|| "–".to_string(), |p| format!("{p:+}"))}</td>
                            <td>{s.status}</td>
                        </tr>
                    }).collect_view();
                    let base = t.base_loss.map(|loss| view! {
                        <p data-test="base-loss">{format!("The base model's own held-out loss is {loss:.4}; each submission's improvement is counted from it.")}</p>
                    });
                    view! {
                        <h2>"Submissions"</h2>
                        {download}
                        {base}
                        <table class="table">
                            <thead><tr><th scope="col">"Rank"</th><th scope="col">"Miner"</th><th scope="col">"Held-out loss"</th><th scope="col">"Below the base model's"</th><th scope="col">"Points"</th><th scope="col">"Why"</th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                        {chart}
                    }
                })
            }}
            <h2>"Events"</h2>
            <table class="table">
                <thead><tr><th scope="col">"When"</th><th scope="col">"State"</th><th scope="col">"Why"</th></tr></thead>
                <tbody>{events}</tbody>
            </table>
        </section>
    }
}

/// The browser half: the task's event stream says when to reload the task; a clock ticks the countdown.
#[cfg(feature = "hydrate")]
mod live {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    use super::{TaskDetail, load_task};

    pub fn follow(
        id: String,
        task: ReadSignal<TaskDetail>,
        set_task: WriteSignal<TaskDetail>,
        set_now: WriteSignal<i64>,
    ) {
        let skew = task.get_untracked().now - js_sys::Date::now() as i64;
        let clock = set_interval_with_handle(
            move || set_now.set(js_sys::Date::now() as i64 + skew),
            std::time::Duration::from_secs(1),
        );
        let source = StoredValue::new_local(None::<EventSource>);
        if !task.get_untracked().terminal
            && let Ok(events) = EventSource::new(&format!("/api/v1/tasks/{id}/stream"))
        {
            let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(fresh) = load_task(id).await {
                        // An ended task's stream ends: stop the browser from reconnecting to it.
                        if fresh.terminal {
                            source.with_value(|s| s.as_ref().map(EventSource::close));
                        }
                        set_task.set(fresh);
                    }
                });
            });
            let _ =
                events.add_event_listener_with_callback("task", on_change.as_ref().unchecked_ref());
            on_change.forget();
            source.set_value(Some(events));
        }
        on_cleanup(move || {
            if let Ok(clock) = clock {
                clock.clear();
            }
            source.with_value(|s| s.as_ref().map(EventSource::close));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::countdown;

    #[test]
    fn countdown_reads_hours_minutes_seconds() {
        assert_eq!(countdown(3_723_000), "1:02:03");
        assert_eq!(countdown(-5), "0:00:00");
    }
}
