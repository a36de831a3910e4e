//! One module per page.

mod api_keys;
mod auth;
mod catalogue;
mod dashboard;
mod dataset;
mod datasets;
mod home;
mod hotkeys;
mod leaderboards;
mod miners_admin;
mod not_found;
mod public;
mod queue;
mod task;
mod tasks;
mod tasks_admin;
mod tournaments;

pub use api_keys::ApiKeysPage;
pub use auth::{SignIn, SignUp};
pub use catalogue::CataloguePage;
pub use dashboard::Dashboard;
pub use dataset::DatasetPage;
pub use datasets::DatasetsPage;
pub use home::Home;
pub use hotkeys::HotkeysPage;
pub use leaderboards::Leaderboards;
pub use miners_admin::AdminMinersPage;
pub use not_found::NotFound;
pub use public::{MinerProfilePage, ResultPage};
pub use queue::QueuePage;
pub use task::TaskPage;
pub use tasks::{NewTaskPage, TasksPage};
pub use tasks_admin::AdminTasksPage;
pub use tournaments::{RecipePage, TournamentPage, TournamentsPage};

use leptos::prelude::*;

/// A page that needs an account: `page` with the session once it is loaded, or a sign-in prompt.
pub fn signed_in_page(
    page: impl Fn(crate::session::SessionView, crate::session::SessionUser) -> AnyView
    + Send
    + Sync
    + 'static,
) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                crate::session::session_now().map(|s| match s.user.clone() {
                    Some(user) => page(s, user),
                    None => view! { <SignInFirst/> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// Shown on pages that need an account when nobody is signed in.
#[component]
pub fn SignInFirst() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Sign in first"</h1>
            <p>"This page belongs to an account. " <a href="/signin">"Sign in"</a> " or " <a href="/signup">"create an account"</a> "."</p>
        </section>
    }
}
