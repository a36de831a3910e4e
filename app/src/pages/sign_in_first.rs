//! What a page that needs an account shows when nobody is signed in.

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
