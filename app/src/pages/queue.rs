//! The admins' view of the work queue: each queue and its workers on this server (or why it has
//! none), jobs by queue, kind and state (waiting, running, done, failed), the
//! latest failures with their reasons (a job failed for good can be tried again), and the admins' own
//! log — what an operator looks at first when something is stuck.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};
use crate::time::format_utc;

/// A failed job as the page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureView {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub state: String,
    pub attempts: String,
    pub reason: String,
    pub at: i64,
}

/// One of the admins' actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub at: i64,
}

/// A queue and what this server gives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueWorkersView {
    pub name: String,
    pub runs: String,
    /// "2 workers", or why there are none.
    pub workers: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub queues: Vec<QueueWorkersView>,
    /// (queue, kind, state, count)
    pub counts: Vec<(String, String, String, i64)>,
    pub failures: Vec<FailureView>,
    pub log: Vec<ActionView>,
}

#[server(prefix = "/fn", endpoint = "admin-queue")]
pub async fn load_queue() -> Result<QueueView, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let health = domain::queue::health(&platform.db, &user, &platform.queue_workers)
        .await
        .map_err(web_session::refused)?;
    let log = domain::admin_log::recent(&platform.db, &user, 100)
        .await
        .map_err(web_session::refused)?;
    Ok(QueueView {
        queues: health
            .queues
            .into_iter()
            .map(|q| QueueWorkersView {
                workers: match (q.workers, q.absent) {
                    (_, Some(why)) => format!("not started here: {why}"),
                    (1, None) => "1 worker".to_string(),
                    (n, None) => format!("{n} workers"),
                },
                name: q.name,
                runs: q.runs,
            })
            .collect(),
        counts: health.counts,
        failures: health
            .failures
            .into_iter()
            .map(|f| FailureView {
                attempts: format!("{} of {}", f.attempts, f.max_attempts),
                id: f.id,
                kind: f.kind,
                subject: f.subject,
                state: f.state,
                reason: f.reason,
                at: f.at,
            })
            .collect(),
        log: log
            .into_iter()
            .map(|a| ActionView {
                actor: a.actor,
                action: a.action,
                subject: a.subject,
                detail: a.detail,
                at: a.at,
            })
            .collect(),
    })
}

#[component]
pub fn QueuePage() -> impl IntoView {
    let queue = Resource::new_blocking(|| (), |_| load_queue());
    signed_in_page(move |_, _| {
        let body = match queue.get() {
            Some(Ok(q)) => view! { <QueueTables queue=q/> }.into_any(),
            Some(Err(err)) => {
                view! { <p data-test="queue-refused">{err.to_string()}</p> }.into_any()
            }
            None => view! { <p>"Loading…"</p> }.into_any(),
        };
        view! {
            <section class="card">
                <h1>"Work queue"</h1>
                <FlashMessage/>
                {body}
            </section>
        }
        .into_any()
    })
}

#[component]
fn QueueTables(queue: QueueView) -> impl IntoView {
    let queues = queue
        .queues
        .into_iter()
        .map(|q| view! { <tr data-test="queue-workers"><td>{q.name}</td><td>{q.runs}</td><td>{q.workers}</td></tr> })
        .collect_view();
    let counts = queue
        .counts
        .into_iter()
        .map(|(queue, kind, state, count)| view! { <tr data-test="queue-count"><td>{queue}</td><td>{kind}</td><td>{state}</td><td>{count}</td></tr> })
        .collect_view();
    let failures = queue
        .failures
        .into_iter()
        .map(|f| {
            let retry = (f.state == "failed").then(|| view! {
                <form method="post" action=format!("/admin/jobs/{}/retry", f.id) class="inline">
                    <CsrfField/>
                    <button type="submit" class="link" data-test="retry-job">"Try again"</button>
                </form>
            });
            view! {
                <tr data-test="queue-failure">
                    <td>{format_utc(f.at)}</td><td>{f.kind}</td><td><code>{f.subject}</code></td>
                    <td>{format!("{}, attempt {}", f.state, f.attempts)}</td><td>{f.reason}</td>
                    <td>{retry}</td>
                </tr>
            }
        })
        .collect_view();
    let log = queue
        .log
        .into_iter()
        .map(|a| {
            view! {
                <tr data-test="admin-action">
                    <td>{format_utc(a.at)}</td><td>{a.actor}</td><td>{a.action}</td>
                    <td><code>{a.subject}</code></td><td>{a.detail}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <caption>"Queues and their workers on this server"</caption>
            <thead><tr><th scope="col">"Queue"</th><th scope="col">"Runs"</th><th scope="col">"Workers"</th></tr></thead>
            <tbody>{queues}</tbody>
        </table>
        <table class="table">
            <caption>"Jobs by queue, kind and state"</caption>
            <thead><tr><th scope="col">"Queue"</th><th scope="col">"Kind"</th><th scope="col">"State"</th><th scope="col">"Jobs"</th></tr></thead>
            <tbody>{counts}</tbody>
        </table>
        <table class="table">
            <caption>"Latest failures (queued ones will be retried by themselves)"</caption>
            <thead><tr><th scope="col">"When"</th><th scope="col">"Kind"</th><th scope="col">"Subject"</th><th scope="col">"State"</th><th scope="col">"Why"</th><th scope="col"><span class="sr-only">"Action"</span></th></tr></thead>
            <tbody>{failures}</tbody>
        </table>
        <h2>"Admins' log"</h2>
        <table class="table">
            <caption class="sr-only">"Every admin action, newest first"</caption>
            <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"On"</th><th scope="col">"Detail"</th></tr></thead>
            <tbody>{log}</tbody>
        </table>
    }
}
