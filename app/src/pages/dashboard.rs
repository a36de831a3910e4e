use leptos::prelude::*;

use super::sign_in_first::signed_in_page;
use crate::session::FlashMessage;

/// Where an account starts: the pages its role works with.
#[component]
pub fn Dashboard() -> impl IntoView {
    view! {
        <FlashMessage/>
        {signed_in_page(|_, user| {
            let next = match user.role.as_str() {
                "miner" => view! {
                    <li><a href="/miner/hotkeys">"Your hotkeys"</a>": link one, see its offers, tasks and scores"</li>
                    <li><a href="/leaderboards">"Leaderboards"</a></li>
                }.into_any(),
                "admin" => view! {
                    <li><a href="/admin/models">"Model catalogue"</a></li>
                    <li><a href="/admin/miners">"Miners"</a>": suspend or reinstate"</li>
                    <li><a href="/admin/tasks">"All tasks"</a>": every customer's tasks; cancel one with a reason"</li>
                    <li><a href="/admin/queue">"Work queue"</a>": waiting, running and failed jobs, and the admins' log"</li>
                }.into_any(),
                _ => view! {
                    <li><a href="/datasets">"Datasets"</a>": upload, map and validate"</li>
                    <li><a href="/tasks">"Tasks"</a>": create one from a ready dataset and follow it"</li>
                }.into_any(),
            };
            view! {
                <section class="card">
                    <h1>"Dashboard"</h1>
                    <p data-test="dashboard-account">"Signed in as " <strong>{user.email}</strong> " (" {user.role} ")."</p>
                    <ul>{next}</ul>
                    <p><a href="/account/api-keys">"Manage your API keys"</a> " to use Crucible from scripts."</p>
                </section>
            }.into_any()
        })}
    }
}
