//! The admins' view of every customer's tasks, newest first: state, type, model; for a task that has
//! not ended a form to cancel it, and for one that ended in success or failure a form to evaluate its
//! submissions again, each with a reason (the customer reads it in the task's events).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminTaskRow {
    pub id: String,
    pub task_type: String,
    pub model_id: String,
    pub state: String,
    pub terminal: bool,
    pub reevaluable: bool,
    pub created_at: i64,
}

#[server(prefix = "/fn", endpoint = "admin-tasks")]
pub async fn load_admin_tasks() -> Result<Vec<AdminTaskRow>, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let tasks = domain::tasks::recent(&platform.db, &user, 200)
        .await
        .map_err(web_session::refused)?;
    Ok(tasks
        .into_iter()
        .map(|t| AdminTaskRow {
            terminal: t.state.is_terminal(),
            reevaluable: t.state.can_be_reevaluated(),
            id: t.id,
            task_type: t.task_type.as_str().to_string(),
            model_id: t.model_id,
            state: t.state.as_str().to_string(),
            created_at: t.created_at,
        })
        .collect())
}

#[component]
pub fn AdminTasksPage() -> impl IntoView {
    let tasks = Resource::new_blocking(|| (), |_| load_admin_tasks());
    signed_in_page(move |_, _| {
        let body = match tasks.get() {
            Some(Ok(tasks)) => {
                let rows = tasks
                    .into_iter()
                    .map(|t| {
                        let cancel = (!t.terminal).then(|| {
                            let field = format!("cancel-reason-{}", t.id);
                            view! {
                                <form method="post" action=format!("/admin/tasks/{}/cancel", t.id) class="form inline-form">
                                    <CsrfField/>
                                    <label for=field.clone() class="sr-only">"Why cancel it"</label>
                                    <input id=field name="reason" required placeholder="why (the customer reads it)"/>
                                    <button type="submit" class="link danger" data-test="admin-cancel-task">"Cancel"</button>
                                </form>
                            }
                        });
                        let reevaluate = t.reevaluable.then(|| {
                            let field = format!("reevaluate-reason-{}", t.id);
                            view! {
                                <form method="post" action=format!("/admin/tasks/{}/reevaluate", t.id) class="form inline-form">
                                    <CsrfField/>
                                    <label for=field.clone() class="sr-only">"Why evaluate it again"</label>
                                    <input id=field name="reason" required placeholder="why (the customer reads it)"/>
                                    <button type="submit" class="link" data-test="admin-reevaluate-task">"Evaluate again"</button>
                                </form>
                            }
                        });
                        view! {
                            <tr data-test="admin-task">
                                <td>{format_utc(t.created_at)}</td>
                                <td><code>{t.id}</code></td>
                                <td>{format!("{} · {}", t.model_id, t.task_type)}</td>
                                <td data-test="admin-task-state">{t.state}</td>
                                <td>{cancel}{reevaluate}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <table class="table">
                        <caption class="sr-only">"Every customer's tasks, newest first"</caption>
                        <thead><tr><th scope="col">"Created"</th><th scope="col">"Task"</th><th scope="col">"Model"</th><th scope="col">"State"</th><th scope="col"><span class="sr-only">"Action"</span></th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
                .into_any()
            }
            Some(Err(err)) => {
                view! { <p data-test="admin-tasks-refused">{err.to_string()}</p> }.into_any()
            }
            None => view! { <p>"Loading…"</p> }.into_any(),
        };
        view! {
            <section class="card">
                <h1>"Tasks"</h1>
                <FlashMessage/>
                {body}
            </section>
        }
        .into_any()
    })
}
