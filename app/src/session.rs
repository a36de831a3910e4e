//! Who is signed in, the page's CSRF token and the one-time message left by the last form post.
//! Fetched once per page load by a blocking resource, so the server renders it into the page and the
//! browser reuses it when hydrating.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub email: String,
    pub role: String,
}

/// A message for the next page shown, set by a form handler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
    /// An API key shown once, right after it was created (sealed while it waits in the session: see
    /// `web_session::seal`).
    pub secret: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlashKind {
    Success,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub user: Option<SessionUser>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

pub type SessionResource = Resource<Result<SessionView, ServerFnError>>;

#[server(prefix = "/fn", endpoint = "session")]
pub async fn get_session() -> Result<SessionView, ServerFnError> {
    use crate::web_session;
    let session = web_session::from_request().await?;
    let user = web_session::current_user(&session).await?;
    // A visitor who is not signed in gets a token (and so a stored session) only on a page with forms.
    let csrf = if user.is_some() || !web_session::reads_only(&web_session::request_path().await?) {
        web_session::csrf_token(&session).await
    } else {
        web_session::existing_csrf_token(&session)
            .await
            .map(Option::unwrap_or_default)
    };
    Ok(SessionView {
        user: user.map(|u| SessionUser {
            email: u.email,
            role: u.role.as_str().to_string(),
        }),
        csrf: csrf.map_err(web_session::failed)?,
        flash: web_session::take_flash(&session).await?,
    })
}

/// The session's CSRF token, made now if it has none: for a form reached from a page that made none.
#[server(prefix = "/fn", endpoint = "csrf")]
pub async fn get_csrf_token() -> Result<String, ServerFnError> {
    use crate::web_session;
    let session = web_session::from_request().await?;
    web_session::csrf_token(&session)
        .await
        .map_err(web_session::failed)
}

pub fn provide_session() {
    let session: SessionResource = Resource::new_blocking(|| (), |_| get_session());
    provide_context(session);
}

/// The session as loaded for this page, once it has loaded.
pub fn session_now() -> Option<SessionView> {
    expect_context::<SessionResource>()
        .get()
        .and_then(Result::ok)
}

/// The hidden field every state-changing form carries.
#[component]
pub fn CsrfField() -> impl IntoView {
    // The page was rendered without a token (one every visitor reads alike) and the browser came here
    // without reloading: fetch one. Rendered on the server, a page with forms always has its token.
    let fetched = LocalResource::new(move || async move {
        match session_now() {
            Some(s) if s.csrf.is_empty() => get_csrf_token().await.ok(),
            _ => None,
        }
    });
    view! {
        <Suspense fallback=|| ()>
            {move || session_now().map(|s| {
                let csrf = if s.csrf.is_empty() { fetched.get().flatten().unwrap_or_default() } else { s.csrf };
                view! { <input type="hidden" name="csrf" value=csrf/> }
            })}
        </Suspense>
    }
}

/// The message left by the last form post, if any.
#[component]
pub fn FlashMessage() -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || {
                session_now()
                    .and_then(|s| s.flash)
                    .map(|flash| {
                        let class = match flash.kind {
                            FlashKind::Success => "flash flash-success",
                            FlashKind::Error => "flash flash-error",
                        };
                        view! {
                            <div class=class role="alert" data-test="flash">
                                <p>{flash.message}</p>
                                {flash.secret.map(|s| view! { <code class="secret" data-test="new-key">{s}</code> })}
                            </div>
                        }
                    })
            }}
        </Suspense>
    }
}

#[component]
pub fn Nav() -> impl IntoView {
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"Crucible"</A>
            <nav aria-label="Main">
                <A href="/leaderboards">"Leaderboards"</A>
                <A href="/tournaments">"Tournaments"</A>
                <Suspense fallback=|| ()>
                    {move || {
                        session_now()
                            .map(|s| match s.user {
                                Some(user) => {
                                    view! {
                                        <A href="/dashboard">"Dashboard"</A>
                                        <A href="/datasets">"Datasets"</A>
                                        <A href="/tasks">"Tasks"</A>
                                        {(user.role == "miner").then(|| view! { <A href="/miner/hotkeys">"Hotkeys"</A> })}
                                        {(user.role == "admin").then(|| view! { <A href="/admin/models">"Models"</A> <A href="/admin/miners">"Miners"</A> <A href="/admin/tasks">"All tasks"</A> <A href="/admin/queue">"Queue"</A> })}
                                        <A href="/account/api-keys">"API keys"</A>
                                        <span class="who" data-test="signed-in-as">{user.email}</span>
                                        <form method="post" action="/auth/sign-out" class="inline">
                                            <input type="hidden" name="csrf" value=s.csrf/>
                                            <button type="submit" class="link">"Sign out"</button>
                                        </form>
                                    }
                                        .into_any()
                                }
                                None => {
                                    view! {
                                        <A href="/signin">"Sign in"</A>
                                        <A href="/signup" attr:class="button">"Sign up"</A>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Suspense>
            </nav>
        </header>
    }
}
