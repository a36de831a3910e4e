//! The customer's tasks, and the new-task wizard: a ready dataset (its task type and mapping were set
//! when it was validated) → a base model → the hours → who trains it (miners, or the reigning
//! champion's recipe) → a summary of what will happen → confirm.
//! Each step is a plain GET form, so the wizard works before the page hydrates and without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::{CsrfField, FlashMessage};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: String,
    pub task_type: String,
    pub model_id: String,
    pub hours_to_complete: u64,
    pub state: String,
    pub created_at: i64,
}

#[server(prefix = "/fn", endpoint = "tasks")]
pub async fn list_tasks() -> Result<Vec<TaskSummary>, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let tasks = domain::tasks::list(&platform.db, &user)
        .await
        .map_err(web_session::failed)?;
    Ok(tasks
        .into_iter()
        .map(|t| TaskSummary {
            id: t.id,
            task_type: t.task_type.as_str().to_string(),
            model_id: t.model_id,
            hours_to_complete: t.hours_to_complete,
            state: t.state.as_str().to_string(),
            created_at: t.created_at,
        })
        .collect())
}

/// A ready dataset the wizard offers: (id, name, task type, training rows).
pub type ReadyDataset = (String, String, String, u64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelChoice {
    pub id: String,
    pub parameters: u64,
    pub task_types: Vec<String>,
    /// Why this deployment cannot score tasks on it, if it cannot.
    pub not_evaluable_because: Option<String>,
}

/// What the customer will get if they confirm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    pub task_type: String,
    pub model_id: String,
    pub train_rows: u64,
    pub test_rows: u64,
    pub hours_to_complete: u64,
    pub pool_min: u64,
    pub pool_max: u64,
    /// `miners` or `champion`.
    pub run_by: String,
    pub champion: Option<ChampionView>,
}

/// The reigning champion's recipe, which can train the task instead of a miner pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChampionView {
    pub recipe_id: String,
    pub recipe: String,
    pub hotkey: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wizard {
    pub datasets: Vec<ReadyDataset>,
    /// The models for the chosen dataset's task type (all, before one is chosen).
    pub models: Vec<ModelChoice>,
    /// (task type, min hours, max hours)
    pub bounds: Vec<(String, u64, u64)>,
    /// For the chosen dataset's task type: the champion who could train it, or why none can.
    pub champion: Option<Result<ChampionView, String>>,
    /// The plan for the choices made so far, or why they do not make a task; none until all are made.
    pub plan: Option<Result<PlanView, String>>,
}

#[server(prefix = "/fn", endpoint = "new-task")]
pub async fn load_wizard(
    dataset: Option<String>,
    model: Option<String>,
    hours: Option<u64>,
    run_by: Option<String>,
) -> Result<Wizard, ServerFnError> {
    use crate::web_session;
    use domain::datasets::DatasetState;
    use domain::tasks::{Champion, RunBy};
    let champion_view = |c: Champion| ChampionView {
        recipe_id: c.recipe_id,
        recipe: c.recipe,
        hotkey: c.hotkey,
    };
    let (user, platform) = web_session::signed_in().await?;
    let datasets = domain::datasets::list(&platform.db, &user)
        .await
        .map_err(web_session::failed)?
        .into_iter()
        .filter(|d| d.state == DatasetState::Ready)
        .filter_map(|d| {
            let task_type = d.task_type?.as_str().to_string();
            let train_rows = d.report.as_ref().map_or(0, |r| r.train_rows);
            Some((d.id, d.name, task_type, train_rows))
        })
        .collect::<Vec<ReadyDataset>>();
    // Only the models that serve the chosen dataset's task type.
    let task_type = dataset
        .as_ref()
        .and_then(|id| datasets.iter().find(|d| &d.0 == id))
        .map(|d| d.2.clone());
    let catalogue = domain::catalogue::judged(&platform.db, platform.evaluator.as_ref())
        .await
        .map_err(web_session::failed)?;
    let models = catalogue
        .models
        .into_iter()
        .filter(|m| {
            task_type
                .as_ref()
                .is_none_or(|t| m.task_types.iter().any(|own| own.as_str() == t))
        })
        .map(|m| ModelChoice {
            id: m.id,
            parameters: m.parameters,
            task_types: m
                .task_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            not_evaluable_because: m.not_evaluable_because,
        })
        .collect();
    let bounds = catalogue
        .bounds
        .into_iter()
        .map(|b| (b.task_type.as_str().to_string(), b.min_hours, b.max_hours))
        .collect();
    let champion = match task_type
        .as_deref()
        .and_then(domain::datasets::TaskType::parse)
    {
        Some(task_type) => Some(
            match domain::tournaments::champion::for_task_type(&platform, task_type).await {
                Ok(champion) => Ok(champion_view(champion)),
                Err(err) if !err.is_internal() => Err(err.to_string()),
                Err(err) => return Err(web_session::failed(err)),
            },
        ),
        None => None,
    };
    let run_by = match run_by.as_deref() {
        None | Some("") => RunBy::Miners,
        Some(chosen) => RunBy::parse(chosen)
            .ok_or_else(|| ServerFnError::new("choose who trains the task: miners or champion"))?,
    };
    let plan = match (dataset, model, hours) {
        (Some(dataset_id), Some(model_id), Some(hours_to_complete)) => {
            let request = domain::tasks::NewTask {
                dataset_id,
                model_id,
                hours_to_complete,
                run_by,
                reward_functions: None,
            };
            Some(
                match domain::tasks::plan(&platform, &user, &request).await {
                    Ok(plan) => Ok(PlanView {
                        task_type: plan.task_type.as_str().to_string(),
                        model_id: plan.model_id,
                        train_rows: plan.train_rows,
                        test_rows: plan.test_rows,
                        hours_to_complete: plan.hours_to_complete,
                        pool_min: plan.pool_min,
                        pool_max: plan.pool_max,
                        run_by: plan.run_by.as_str().to_string(),
                        champion: plan.champion.map(champion_view),
                    }),
                    Err(err) if !err.is_internal() => Err(err.to_string()),
                    Err(err) => return Err(web_session::failed(err)),
                },
            )
        }
        _ => None,
    };
    Ok(Wizard {
        datasets,
        models,
        bounds,
        champion,
        plan,
    })
}

#[component]
pub fn TasksPage() -> impl IntoView {
    let tasks = Resource::new_blocking(|| (), |_| list_tasks());
    signed_in_page(move |_, _| {
        let tasks = tasks.get().and_then(Result::ok).unwrap_or_default();
        let body = if tasks.is_empty() {
            view! { <p data-test="no-tasks">"You have no tasks yet."</p> }.into_any()
        } else {
            let rows = tasks
                .into_iter()
                .map(|t| {
                    view! {
                        <tr data-test="task-row">
                            <td><a href=format!("/tasks/{}", t.id)>{t.model_id}</a></td>
                            <td>{t.task_type}</td>
                            <td>{format!("{} h", t.hours_to_complete)}</td>
                            <td>{t.state}</td>
                            <td>{format_utc(t.created_at)}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <table class="table">
                    <thead><tr>
                        <th scope="col">"Base model"</th><th scope="col">"Type"</th><th scope="col">"Window"</th>
                        <th scope="col">"State"</th><th scope="col">"Created"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        };
        view! {
            <section class="card">
                <h1>"Tasks"</h1>
                <FlashMessage/>
                <p><a href="/tasks/new" class="button" data-test="new-task">"New task"</a></p>
                {body}
            </section>
        }
        .into_any()
    })
}

#[component]
pub fn NewTaskPage() -> impl IntoView {
    let query = use_query_map();
    let wizard = Resource::new_blocking(
        move || {
            query.with(|q| {
                (
                    q.get("dataset").filter(|v| !v.is_empty()),
                    q.get("model").filter(|v| !v.is_empty()),
                    q.get("hours").and_then(|h| h.trim().parse::<u64>().ok()),
                    q.get("run_by").filter(|v| !v.is_empty()),
                )
            })
        },
        |(dataset, model, hours, run_by)| load_wizard(dataset, model, hours, run_by),
    );
    signed_in_page(move |_, _| {
        let chosen = query.with_untracked(|q| {
            (
                q.get("dataset").unwrap_or_default(),
                q.get("model").unwrap_or_default(),
                q.get("hours").unwrap_or_default(),
                q.get("run_by").unwrap_or_default(),
            )
        });
        match wizard.get() {
            Some(Ok(wizard)) => view! { <WizardView wizard chosen/> }.into_any(),
            Some(Err(err)) => view! { <section class="card"><h1>"New task"</h1><p>{err.to_string()}</p></section> }.into_any(),
            None => view! { <p>"Loading…"</p> }.into_any(),
        }
    })
}

#[component]
fn WizardView(wizard: Wizard, chosen: (String, String, String, String)) -> impl IntoView {
    let (dataset, model, hours, run_by) = chosen;
    if wizard.datasets.is_empty() {
        return view! {
            <section class="card">
                <h1>"New task"</h1>
                <p data-test="no-ready-datasets">"A task starts from a validated dataset, and you have none ready yet. "
                    <a href="/datasets">"Upload and validate one"</a> " first."</p>
            </section>
        }
        .into_any();
    }
    let task_type = wizard
        .datasets
        .iter()
        .find(|d| d.0 == dataset)
        .map(|d| d.2.clone());
    let dataset_options = wizard
        .datasets
        .iter()
        .map(|(id, name, task_type, rows)| {
            view! { <option value=id.clone() selected=*id == dataset>{format!("{name} ({task_type}, {rows} training rows)")}</option> }
        })
        .collect_view();
    let model_options = wizard
        .models
        .iter()
        .map(|m| {
            let mut label = format!("{} ({:.1} B parameters)", m.id, m.parameters as f64 / 1e9);
            if let Some(why) = &m.not_evaluable_because {
                label.push_str(&format!(" — not scored here: {why}"));
            }
            view! { <option value=m.id.clone() selected=m.id == model>{label}</option> }
        })
        .collect_view();
    let bounds = task_type
        .as_ref()
        .and_then(|t| wizard.bounds.iter().find(|b| &b.0 == t))
        .map(|b| (b.1, b.2));
    let hours_hint = bounds.map_or_else(
        || "Hours the miners have to train.".to_string(),
        |(min, max)| format!("Hours the miners have to train: {min} to {max} for this task type."),
    );
    let summary = wizard.plan.clone().map(|plan| match plan {
        Ok(plan) => view! { <PlanSummary plan dataset=dataset.clone()/> }.into_any(),
        Err(why) => view! { <div class="flash flash-error" role="alert" data-test="plan-error"><p>{why}</p></div> }.into_any(),
    });
    view! {
        <section class="card">
            <p><a href="/tasks">"← Tasks"</a></p>
            <h1>"New task"</h1>
            <FlashMessage/>
            <form method="get" action="/tasks/new" class="form" data-test="task-wizard">
                <label for="task-dataset">"1. Dataset"</label>
                <select id="task-dataset" name="dataset" required>
                    <option value="">"Choose a ready dataset"</option>
                    {dataset_options}
                </select>
                <p class="hint">{task_type.clone().map_or_else(
                    || "Its task type and column mapping were set when it was validated.".to_string(),
                    |t| format!("Task type: {t} (set when the dataset was validated)."),
                )}</p>
                <label for="task-model">"2. Base model"</label>
                <select id="task-model" name="model" required>
                    <option value="">"Choose a base model"</option>
                    {model_options}
                </select>
                <label for="task-hours">"3. Hours to complete"</label>
                <input id="task-hours" name="hours" type="number" min=bounds.map_or(1, |b| b.0).to_string()
                    max=bounds.map_or(168, |b| b.1).to_string() value=hours required/>
                <p class="hint">{hours_hint}</p>
                <RunByChoice champion=wizard.champion.clone() run_by/>
                <button type="submit" class="button secondary" data-test="review-task">"Review"</button>
            </form>
            {summary}
        </section>
    }
    .into_any()
}

/// Step 4: a pool of competing miners, or the reigning champion's recipe on the platform's trainers
/// (offered only when there is a champion for the dataset's task type; otherwise the reason is shown).
#[component]
fn RunByChoice(champion: Option<Result<ChampionView, String>>, run_by: String) -> impl IntoView {
    let champion_chosen = run_by == "champion";
    let (available, label) = match &champion {
        Some(Ok(c)) => (
            true,
            format!(
                "The reigning champion's recipe {} (miner {}…) on our trainer hosts",
                c.recipe,
                &c.hotkey[..8.min(c.hotkey.len())]
            ),
        ),
        Some(Err(why)) => (false, format!("The reigning champion's recipe: {why}")),
        None => (
            false,
            "The reigning champion's recipe (choose a dataset first)".to_string(),
        ),
    };
    view! {
        <fieldset data-test="run-by">
            <legend>"4. Who trains it"</legend>
            <label>
                <input type="radio" name="run_by" value="miners" checked=!champion_chosen || !available/>
                " A pool of competing miners; the best model wins"
            </label>
            <label>
                <input type="radio" name="run_by" value="champion" data-test="run-by-champion"
                    checked=champion_chosen && available disabled=!available/>
                " " {label}
            </label>
        </fieldset>
    }
}

/// The last step: what will happen, and the button that makes it happen.
#[component]
fn PlanSummary(plan: PlanView, dataset: String) -> impl IntoView {
    let who = match &plan.champion {
        Some(c) => view! {
            <li data-test="plan-champion">{format!("The reigning champion's recipe {} (miner {}) trains the model on the platform's trainer hosts, in a sandbox with no network, within the {}-hour window.", c.recipe, c.hotkey, plan.hours_to_complete)}</li>
            <li>"Its model is scored on the held-out set and delivered to you."</li>
        }
        .into_any(),
        None => view! {
            <li>{format!("The task is offered to a pool of {} to {} miners; the {}-hour window starts when the pool is full or the offers close.", plan.pool_min, plan.pool_max, plan.hours_to_complete)}</li>
            <li>"The model with the lowest held-out loss wins and is delivered to you."</li>
        }
        .into_any(),
    };
    view! {
        <div data-test="task-plan">
            <h2>"5. Summary"</h2>
            <ul>
                <li>{format!("Fine-tune {} on {} rows of {} data.", plan.model_id, plan.train_rows, plan.task_type)}</li>
                <li>{format!("{} rows are held out as the secret test set the submissions are scored on; no miner sees them.", plan.test_rows)}</li>
                {who}
            </ul>
            <form method="post" action="/tasks" class="form">
                <CsrfField/>
                <input type="hidden" name="dataset_id" value=dataset/>
                <input type="hidden" name="model_id" value=plan.model_id.clone()/>
                <input type="hidden" name="hours_to_complete" value=plan.hours_to_complete.to_string()/>
                <input type="hidden" name="run_by" value=plan.run_by.clone()/>
                <button type="submit" class="button" data-test="confirm-task">"Create the task"</button>
            </form>
        </div>
    }
}
