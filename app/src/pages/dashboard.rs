use leptos::prelude::*;

use super::SignInFirst;
use crate::session::{FlashMessage, session_now};

#[component]
pub fn Dashboard() -> impl IntoView {
    view! {
        <FlashMessage/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                session_now()
                    .map(|s| match s.user {
                        Some(user) => view! {
                            <section class="card">
                                <h1>"Dashboard"</h1>
                                <p data-test="dashboard-account">"Signed in as " <strong>{user.email}</strong> " (" {user.role} ")."</p>
                                <p>"You have no tasks yet."</p>
                                <p><a href="/account/api-keys">"Manage your API keys"</a> " to use Crucible from scripts."</p>
                            </section>
                        }.into_any(),
                        None => view! { <SignInFirst/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
