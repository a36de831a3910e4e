//! Crucible's web pages. Rendered on the server (feature `ssr`) and hydrated in the browser
//! (feature `hydrate`); server functions sit next to the pages that call them.
//!
//! State-changing forms post to plain HTTP handlers in the `server` crate (they check the CSRF token and
//! redirect), so every form works before the page hydrates and without JavaScript.

// Deeply nested views (the task page) make deep types; the default limit of 128 is too low for them.
#![recursion_limit = "256"]

mod chart;
pub mod pages;
pub mod session;
mod time;
#[cfg(feature = "ssr")]
pub mod web_session;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use pages::{
    AdminMinersPage, AdminTasksPage, ApiKeysPage, CataloguePage, Dashboard, DatasetPage,
    DatasetsPage, Home, HotkeysPage, Leaderboards, MinerProfilePage, NewTaskPage, NotFound,
    QueuePage, RecipePage, ResultPage, SignIn, SignUp, TaskPage, TasksPage, TournamentPage,
    TournamentsPage,
};
use session::{Nav, provide_session};

/// The HTML document around the app, rendered on the server only. Pages render in `SsrMode::Async`:
/// the server waits for a page's data and sends it whole, so every form carries its CSRF field in the
/// HTML itself (no streamed fragments that need a script to move them into place).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session();
    view! {
        <Stylesheet id="crucible" href="/pkg/crucible.css"/>
        <Title text="Crucible"/>
        <Router>
            <Nav/>
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Home ssr=SsrMode::Async/>
                    <Route path=path!("/signin") view=SignIn ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view=SignUp ssr=SsrMode::Async/>
                    <Route path=path!("/dashboard") view=Dashboard ssr=SsrMode::Async/>
                    <Route path=path!("/account/api-keys") view=ApiKeysPage ssr=SsrMode::Async/>
                    <Route path=path!("/leaderboards") view=Leaderboards ssr=SsrMode::Async/>
                    <Route path=path!("/datasets") view=DatasetsPage ssr=SsrMode::Async/>
                    <Route path=path!("/datasets/:id") view=DatasetPage ssr=SsrMode::Async/>
                    <Route path=path!("/tasks") view=TasksPage ssr=SsrMode::Async/>
                    <Route path=path!("/tasks/new") view=NewTaskPage ssr=SsrMode::Async/>
                    <Route path=path!("/tasks/:id") view=TaskPage ssr=SsrMode::Async/>
                    <Route path=path!("/miner/hotkeys") view=HotkeysPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/models") view=CataloguePage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/miners") view=AdminMinersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/queue") view=QueuePage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tasks") view=AdminTasksPage ssr=SsrMode::Async/>
                    <Route path=path!("/miners/:hotkey") view=MinerProfilePage ssr=SsrMode::Async/>
                    <Route path=path!("/results/:id") view=ResultPage ssr=SsrMode::Async/>
                    <Route path=path!("/tournaments") view=TournamentsPage ssr=SsrMode::Async/>
                    <Route path=path!("/tournaments/:id") view=TournamentPage ssr=SsrMode::Async/>
                    <Route path=path!("/recipes/:id") view=RecipePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The browser's entry point: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // A mark that the page is interactive now, for styles and for the browser tests.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
