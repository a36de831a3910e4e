use leptos::prelude::*;

use crate::session::session_now;

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Fine-tuning, decided by competition"</h1>
            <p class="lede">
                "Upload a dataset and pick a base model: Crucible keeps part of your data as a secret test set and "
                "hands the job to a pool of competing miners, who each train within a fixed window. "
                "Every submitted model is scored on the data nobody saw, and the best one is yours."
            </p>
            <Suspense fallback=|| ()>
                {move || {
                    session_now()
                        .map(|s| match s.user {
                            Some(_) => view! {
                                <p class="actions">
                                    <a class="button" href="/dashboard">"Go to your dashboard"</a>
                                    <a href="/leaderboards">"See the leaderboards"</a>
                                </p>
                            }.into_any(),
                            None => view! {
                                <p class="actions">
                                    <a class="button" href="/signup">"Sign up"</a>
                                    <a href="/signin">"Sign in"</a>
                                    <a href="/leaderboards">"See the leaderboards"</a>
                                </p>
                            }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}
