use leptos::prelude::*;

use super::signed_in_page;
use crate::session::FlashMessage;

#[component]
pub fn Dashboard() -> impl IntoView {
    view! {
        <FlashMessage/>
        {signed_in_page(|_, user| view! {
            <section class="card">
                <h1>"Dashboard"</h1>
                <p data-test="dashboard-account">"Signed in as " <strong>{user.email}</strong> " (" {user.role} ")."</p>
                <p>"You have no tasks yet."</p>
                <p><a href="/account/api-keys">"Manage your API keys"</a> " to use Crucible from scripts."</p>
            </section>
        }.into_any())}
    }
}
