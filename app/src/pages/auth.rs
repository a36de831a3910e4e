//! Sign-in and sign-up forms. They post to `/auth/…` handlers that check the CSRF token, and work
//! with or without JavaScript; once hydrated, the password field gets a show/hide control.

use leptos::prelude::*;

use crate::session::{CsrfField, FlashMessage};

#[component]
pub fn SignIn() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <FlashMessage/>
            <form method="post" action="/auth/sign-in" class="form">
                <CsrfField/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required/>
                <PasswordField id="password" autocomplete="current-password"/>
                <button type="submit" class="button">"Sign in"</button>
            </form>
            <p>"New here? " <a href="/signup">"Create an account"</a> "."</p>
        </section>
    }
}

#[component]
pub fn SignUp() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <FlashMessage/>
            <form method="post" action="/auth/sign-up" class="form">
                <CsrfField/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required/>
                <PasswordField id="password" autocomplete="new-password"/>
                <p class="hint">"At least 10 characters."</p>
                <fieldset>
                    <legend>"I am"</legend>
                    <label><input type="radio" name="role" value="customer" checked/>" a customer: I want models fine-tuned"</label>
                    <label><input type="radio" name="role" value="miner"/>" a miner: I train models for tasks"</label>
                </fieldset>
                <button type="submit" class="button">"Create account"</button>
            </form>
            <p>"Already have an account? " <a href="/signin">"Sign in"</a> "."</p>
        </section>
    }
}

/// A password input with a button that shows or hides what was typed. The button does nothing until
/// the page has hydrated, which is what the browser tests use to prove hydration works.
#[component]
fn PasswordField(id: &'static str, autocomplete: &'static str) -> impl IntoView {
    let (visible, set_visible) = signal(false);
    view! {
        <label for=id>"Password"</label>
        <div class="password">
            <input
                id=id
                name="password"
                type=move || if visible.get() { "text" } else { "password" }
                autocomplete=autocomplete
                required
            />
            <button
                type="button"
                class="link"
                data-test="toggle-password"
                aria-controls=id
                aria-pressed=move || visible.get().to_string()
                on:click=move |_| set_visible.update(|v| *v = !*v)
            >
                {move || if visible.get() { "Hide" } else { "Show" }}
            </button>
        </div>
    }
}
