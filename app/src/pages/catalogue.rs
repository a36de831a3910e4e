//! The admins' page for the base-model catalogue: add a model, stop or resume offering one, and set
//! how long each task type's window may be.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogueModel {
    pub id: String,
    pub family: String,
    pub parameters: u64,
    pub task_types: Vec<String>,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminCatalogue {
    pub models: Vec<CatalogueModel>,
    /// (task type, min hours, max hours)
    pub bounds: Vec<(String, u64, u64)>,
}

#[server(prefix = "/fn", endpoint = "admin-catalogue")]
pub async fn load_admin_catalogue() -> Result<AdminCatalogue, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let models = domain::catalogue::all_models(&platform.db, &user)
        .await
        .map_err(web_session::refused)?
        .into_iter()
        .map(|(m, enabled)| CatalogueModel {
            id: m.id,
            family: m.family,
            parameters: m.parameters,
            task_types: m
                .task_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            enabled,
        })
        .collect();
    let bounds = domain::catalogue::catalogue(&platform.db)
        .await
        .map_err(web_session::refused)?
        .bounds
        .into_iter()
        .map(|b| (b.task_type.as_str().to_string(), b.min_hours, b.max_hours))
        .collect();
    Ok(AdminCatalogue { models, bounds })
}

const TASK_TYPES: [&str; 5] = ["instruct", "chat", "dpo", "grpo", "image"];

#[component]
pub fn CataloguePage() -> impl IntoView {
    let catalogue = Resource::new_blocking(|| (), |_| load_admin_catalogue());
    signed_in_page(move |_, _| {
        let body = match catalogue.get() {
            Some(Ok(catalogue)) => view! { <CatalogueView catalogue/> }.into_any(),
            Some(Err(err)) => {
                view! { <p data-test="catalogue-refused">{err.to_string()}</p> }.into_any()
            }
            None => view! { <p>"Loading…"</p> }.into_any(),
        };
        view! {
            <section class="card">
                <h1>"Model catalogue"</h1>
                <FlashMessage/>
                {body}
            </section>
        }
        .into_any()
    })
}

#[component]
fn CatalogueView(catalogue: AdminCatalogue) -> impl IntoView {
    let rows = catalogue
        .models
        .into_iter()
        .map(|m| {
            let (label, next) = if m.enabled {
                ("Stop offering", "false")
            } else {
                ("Offer again", "true")
            };
            view! {
                <tr data-test="catalogue-model">
                    <td><code>{m.id.clone()}</code></td>
                    <td>{m.family}</td>
                    <td>{format!("{:.2} B", m.parameters as f64 / 1e9)}</td>
                    <td>{m.task_types.join(", ")}</td>
                    <td>{if m.enabled { "offered" } else { "not offered" }}</td>
                    <td>
                        <form method="post" action="/admin/models/enabled" class="inline">
                            <CsrfField/>
                            <input type="hidden" name="id" value=m.id/>
                            <input type="hidden" name="enabled" value=next/>
                            <button type="submit" class="link">{label}</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let type_boxes = TASK_TYPES
        .iter()
        .map(|t| {
            view! {
                <label class="check"><input type="checkbox" name="task_types" value=*t/>{*t}</label>
            }
        })
        .collect_view();
    let bounds = catalogue
        .bounds
        .into_iter()
        .map(|(task_type, min, max)| {
            let min_id = format!("min-{task_type}");
            let max_id = format!("max-{task_type}");
            view! {
                <form method="post" action="/admin/bounds" class="form inline-form" data-test="bounds-form">
                    <CsrfField/>
                    <input type="hidden" name="task_type" value=task_type.clone()/>
                    <strong>{task_type.clone()}</strong>
                    <label for=min_id.clone()>"min hours"</label>
                    <input id=min_id name="min_hours" type="number" min="1" value=min.to_string()/>
                    <label for=max_id.clone()>"max hours"</label>
                    <input id=max_id name="max_hours" type="number" min="1" value=max.to_string()/>
                    <button type="submit" class="button secondary">"Save"</button>
                </form>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Hugging Face id"</th><th scope="col">"Family"</th><th scope="col">"Parameters"</th>
                <th scope="col">"Task types"</th><th scope="col">"Status"</th><th scope="col"></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <form method="post" action="/admin/models" class="form" data-test="add-model">
            <h2>"Add a model"</h2>
            <CsrfField/>
            <label for="model-id">"Hugging Face id"</label>
            <input id="model-id" name="id" required placeholder="Qwen/Qwen2.5-3B-Instruct"/>
            <label for="model-family">"Family"</label>
            <input id="model-family" name="family" required placeholder="qwen2"/>
            <label for="model-parameters">"Parameters (from the model card)"</label>
            <input id="model-parameters" name="parameters" type="number" min="1" required/>
            <fieldset><legend>"Task types"</legend>{type_boxes}</fieldset>
            <button type="submit" class="button">"Add"</button>
        </form>
        <h2>"Window bounds"</h2>
        {bounds}
    }
}
