//! One dataset: while uploaded, choose the task type and map its columns with a preview of the
//! mapped rows; while validating, a live progress bar; afterwards, the report with rejected examples.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use super::datasets::human_bytes;
use super::sign_in_first::SignInFirst;
use crate::session::{CsrfField, FlashMessage, session_now};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetDetail {
    pub id: String,
    pub name: String,
    pub state: String,
    pub format: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub validated_bytes: i64,
    pub task_type: Option<String>,
    pub error: Option<String>,
    pub report: Option<ReportView>,
    pub form: Option<MappingForm>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    pub total_rows: u64,
    pub usable_rows: u64,
    pub train_rows: u64,
    pub test_rows: u64,
    pub empty_rows: u64,
    pub reasons: Vec<ReasonView>,
    /// The owner's own test file's name, when the test rows came from it.
    pub own_test: Option<String>,
    /// How validation read the rows (an implicit prompt, say).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReasonView {
    pub description: String,
    pub count: u64,
    /// (line, detail, excerpt)
    pub examples: Vec<(u64, String, String)>,
}

/// The mapping form for one task type: each role with the column chosen for it, and the first rows
/// as that mapping reads them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingForm {
    pub task_type: String,
    pub task_types: Vec<String>,
    pub columns: Vec<String>,
    /// (role, required, chosen column)
    pub roles: Vec<(String, bool, Option<String>)>,
    /// (row as uploaded, the normalised row or why it would be dropped)
    pub preview: Vec<(String, Result<String, String>)>,
    /// The owner's other text datasets that can serve as this one's test file: (id, name).
    pub test_files: Vec<(String, String)>,
}

#[server(prefix = "/fn", endpoint = "dataset")]
pub async fn load_dataset(
    id: String,
    task_type: Option<String>,
    // JSON `[[role, column], …]`: form-encoded arguments cannot carry an empty list.
    mapping: String,
) -> Result<DatasetDetail, ServerFnError> {
    use crate::web_session;
    use domain::datasets::{DatasetState, Format, Mapping, TaskType, normalise::normalise};
    let (user, platform) = web_session::signed_in().await?;
    let dataset = domain::datasets::get(&platform.db, &user, &id)
        .await
        .map_err(|err| match err {
            domain::Error::NotFound(_) => ServerFnError::new("no such dataset"),
            other => web_session::failed(other),
        })?;
    let is_archive = dataset.format == Format::Zip;
    let test_files = if dataset.state == DatasetState::Uploaded && !is_archive {
        domain::datasets::list(&platform.db, &user)
            .await
            .map_err(web_session::failed)?
            .into_iter()
            .filter(|other| {
                other.id != dataset.id
                    && other.format != Format::Zip
                    && matches!(other.state, DatasetState::Uploaded | DatasetState::HeldOut)
            })
            .map(|other| (other.id, other.name))
            .collect()
    } else {
        Vec::new()
    };
    let form = (dataset.state == DatasetState::Uploaded).then(|| {
        let task_type = if is_archive {
            TaskType::Image
        } else {
            task_type
                .as_deref()
                .and_then(TaskType::parse)
                .filter(|t| *t != TaskType::Image)
                .unwrap_or(TaskType::Instruct)
        };
        let pairs: Vec<(String, String)> = serde_json::from_str(&mapping).unwrap_or_default();
        let chosen: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(_, column)| !column.is_empty())
            .collect();
        let mapping = if chosen.is_empty() {
            Mapping::suggest(task_type, &dataset.columns)
        } else {
            Mapping::new(chosen)
        };
        let (required, optional) = task_type.roles();
        let roles = required
            .iter()
            .map(|r| (*r, true))
            .chain(optional.iter().map(|r| (*r, false)))
            .map(|(role, needed)| {
                (
                    role.to_string(),
                    needed,
                    mapping.column(role).map(str::to_string),
                )
            })
            .collect();
        let preview = dataset
            .preview
            .iter()
            .map(|row| {
                let outcome = match mapping.check(task_type, &dataset.columns) {
                    Err(err) => Err(err.to_string()),
                    // An image pair is checked whole when the archive is validated.
                    Ok(()) if is_archive => Ok(serde_json::Value::Object(row.clone()).to_string()),
                    Ok(()) => normalise(task_type, &mapping, row).map_err(|r| r.detail),
                };
                (serde_json::Value::Object(row.clone()).to_string(), outcome)
            })
            .collect();
        MappingForm {
            task_type: task_type.as_str().to_string(),
            task_types: if is_archive {
                vec!["image".to_string()]
            } else {
                ["instruct", "chat", "dpo", "grpo"]
                    .map(String::from)
                    .to_vec()
            },
            columns: dataset.columns.clone(),
            roles,
            preview,
            test_files,
        }
    });
    let report = dataset.report.map(|r| ReportView {
        total_rows: r.total_rows,
        usable_rows: r.usable_rows,
        train_rows: r.train_rows,
        test_rows: r.test_rows,
        empty_rows: r.empty_rows,
        own_test: r.own_test.map(|own| own.name),
        notes: r.notes,
        reasons: r
            .rejected
            .into_values()
            .map(|rejected| ReasonView {
                description: rejected.description,
                count: rejected.count,
                examples: rejected
                    .examples
                    .into_iter()
                    .map(|e| (e.line, e.detail, e.excerpt))
                    .collect(),
            })
            .collect(),
    });
    Ok(DatasetDetail {
        id: dataset.id,
        name: dataset.name,
        state: dataset.state.as_str().to_string(),
        format: dataset.format.name().to_string(),
        size_bytes: dataset.size_bytes,
        sha256: dataset.sha256,
        validated_bytes: dataset.validated_bytes,
        task_type: dataset.task_type.map(|t| t.as_str().to_string()),
        error: dataset.error,
        report,
        form,
    })
}

/// The dataset's state and how many bytes validation has read: what the live progress bar polls.
#[server(prefix = "/fn", endpoint = "dataset-progress")]
pub async fn validation_progress(id: String) -> Result<(String, i64), ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let dataset = domain::datasets::get(&platform.db, &user, &id)
        .await
        .map_err(web_session::failed)?;
    Ok((dataset.state.as_str().to_string(), dataset.validated_bytes))
}

#[component]
pub fn DatasetPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let detail = Resource::new_blocking(
        move || {
            let id = params.with(|p| p.get("id").unwrap_or_default());
            let (task_type, mapping) = query.with(|q| {
                let roles = q
                    .into_iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("role.")
                            .map(|r| (r.to_string(), v.to_string()))
                    })
                    .collect::<Vec<_>>();
                (
                    q.get("type"),
                    serde_json::to_string(&roles).unwrap_or_default(),
                )
            });
            (id, task_type, mapping)
        },
        |(id, task_type, mapping)| load_dataset(id, task_type, mapping),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let signed_in = session_now().map(|s| s.user.is_some());
                match (signed_in, detail.get()) {
                    (Some(false), _) => view! { <SignInFirst/> }.into_any(),
                    (_, Some(Ok(d))) => view! { <DatasetView d/> }.into_any(),
                    (_, Some(Err(_))) => view! { <section class="card"><h1>"Dataset not found"</h1><p><a href="/datasets">"Your datasets"</a></p></section> }.into_any(),
                    _ => view! { <p>"Loading…"</p> }.into_any(),
                }
            }}
        </Suspense>
    }
}

#[component]
fn DatasetView(d: DatasetDetail) -> impl IntoView {
    let body = match d.state.as_str() {
        "uploaded" => d.form.clone().map(|form| view! { <MappingStep id=d.id.clone() form/> }.into_any()),
        "validating" => Some(view! { <ValidationProgress id=d.id.clone() size=d.size_bytes validated=d.validated_bytes/> }.into_any()),
        "held_out" => Some(view! { <p data-test="held-out">"This file is the test file of another of your datasets: its rows are secret from now on, and it cannot be a dataset of its own."</p> }.into_any()),
        _ => d.report.clone().map(|report| view! { <ReportTable report/> }.into_any()),
    };
    view! {
        <section class="card">
            <p><a href="/datasets">"← Datasets"</a></p>
            <h1>{d.name.clone()}</h1>
            <FlashMessage/>
            <p data-test="dataset-state">
                <strong>{d.state.clone()}</strong>
                {format!(" · {} · {} · SHA-256 {}…", d.format, human_bytes(d.size_bytes as f64), &d.sha256[..12.min(d.sha256.len())])}
                {d.task_type.clone().map(|t| format!(" · {t}"))}
            </p>
            {d.error.clone().map(|e| view! { <div class="flash flash-error" role="alert" data-test="dataset-error"><p>{format!("Refused: {e}")}</p></div> })}
            {body}
        </section>
    }
}

#[component]
fn MappingStep(id: String, form: MappingForm) -> impl IntoView {
    let select = |role: &str, chosen: &Option<String>, columns: &[String]| {
        let options = columns
            .iter()
            .map(|c| view! { <option value=c.clone() selected=chosen.as_deref() == Some(c.as_str())>{c.clone()}</option> })
            .collect_view();
        view! {
            <select id=format!("role-{role}") name=format!("role.{role}")>
                <option value="">"(none)"</option>
                {options}
            </select>
        }
    };
    let roles = form
        .roles
        .iter()
        .map(|(role, required, chosen)| {
            view! {
                <label for=format!("role-{role}")>{format!("{role}{}", if *required { " (required)" } else { "" })}</label>
                {select(role, chosen, &form.columns)}
            }
        })
        .collect_view();
    let hidden = form
        .roles
        .iter()
        .filter_map(|(role, _, chosen)| {
            chosen
                .clone()
                .map(|c| view! { <input type="hidden" name=format!("role.{role}") value=c/> })
        })
        .collect_view();
    let types = form
        .task_types
        .iter()
        .map(|t| view! { <option value=t.clone() selected=*t == form.task_type>{t.clone()}</option> })
        .collect_view();
    let test_files = form
        .test_files
        .iter()
        .map(|(id, name)| view! { <option value=id.clone()>{format!("my file “{name}”")}</option> })
        .collect_view();
    let own_test_choice = (!form.test_files.is_empty()).then(|| {
        view! {
            <label for="test-dataset">"Test rows"</label>
            <select id="test-dataset" name="test_dataset_id">
                <option value="">"held out by the platform: min(10 %, 400) rows, seeded"</option>
                {test_files}
            </select>
        }
    });
    let preview = form
        .preview
        .iter()
        .map(|(source, outcome)| {
            let (class, text) = match outcome {
                Ok(row) => ("ok", row.clone()),
                Err(why) => ("dropped", format!("dropped: {why}")),
            };
            view! { <tr data-test="preview-row"><td><code>{source.clone()}</code></td><td class=class><code>{text}</code></td></tr> }
        })
        .collect_view();
    view! {
        <h2>"Map the columns"</h2>
        <p class="hint">"Choose the task type and which column fills each role, preview, then validate. Validation reads every row before any compute is spent."</p>
        <form method="get" action=format!("/datasets/{id}") class="form" data-test="mapping-form">
            <label for="task-type">"Task type"</label>
            <select id="task-type" name="type">{types}</select>
            {roles}
            <button type="submit" class="button secondary">"Preview this mapping"</button>
        </form>
        <table class="table">
            <caption>"The first rows, as uploaded and as this mapping reads them"</caption>
            <thead><tr><th scope="col">"Uploaded"</th><th scope="col">"Mapped"</th></tr></thead>
            <tbody>{preview}</tbody>
        </table>
        <form method="post" action=format!("/datasets/{id}/validation") class="form">
            <CsrfField/>
            <input type="hidden" name="task_type" value=form.task_type.clone()/>
            {hidden}
            {own_test_choice}
            <button type="submit" class="button" data-test="validate">{format!("Validate and split as {}", form.task_type)}</button>
        </form>
    }
}

/// A progress bar that follows validation live: it asks every second how far it has read, and
/// reloads the page when the report is ready.
#[component]
fn ValidationProgress(id: String, size: i64, validated: i64) -> impl IntoView {
    let (read, set_read) = signal(validated);
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok((state, validated)) = validation_progress(id).await {
                        if state == "validating" {
                            set_read.set(validated);
                        } else {
                            let _ = window().location().reload();
                        }
                    }
                });
            },
            std::time::Duration::from_secs(1),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, set_read);
    let percent = move || {
        if size > 0 {
            read.get() as f64 / size as f64 * 100.0
        } else {
            0.0
        }
    };
    view! {
        <div data-test="validation-progress">
            <h2>"Validating…"</h2>
            <progress max="100" value=percent aria-label="Validation progress"></progress>
            <span>{move || format!(" {:.0} % of {} read", percent(), human_bytes(size as f64))}</span>
        </div>
    }
}

#[component]
fn ReportTable(report: ReportView) -> impl IntoView {
    let reasons = report
        .reasons
        .into_iter()
        .map(|reason| {
            let examples = reason
                .examples
                .into_iter()
                .map(|(line, detail, excerpt)| view! { <li data-test="rejected-example">{format!("line {line}: {detail}")}<br/><code>{excerpt}</code></li> })
                .collect_view();
            view! {
                <tr data-test="rejected-reason">
                    <td>{reason.description}</td>
                    <td>{reason.count}</td>
                    <td><ul class="examples">{examples}</ul></td>
                </tr>
            }
        })
        .collect_view();
    let held_out = match &report.own_test {
        Some(name) => format!(
            "{} from your test file “{name}” as the secret test split",
            report.test_rows
        ),
        None => format!("{} held out as the secret test split", report.test_rows),
    };
    view! {
        <h2>"Validation report"</h2>
        <p data-test="report-summary">
            {format!(
                "{} rows read: {} usable ({} for training; {held_out}), {} empty.",
                report.total_rows, report.usable_rows, report.train_rows, report.empty_rows
            )}
        </p>
        <ul class="report-notes">
            {report.notes.iter().map(|note| view! { <li data-test="report-note">{note.clone()}</li> }).collect_view()}
        </ul>
        <table class="table">
            <caption>"Rows dropped, by reason, with examples"</caption>
            <thead><tr><th scope="col">"Reason"</th><th scope="col">"Rows"</th><th scope="col">"Examples"</th></tr></thead>
            <tbody>{reasons}</tbody>
        </table>
    }
}
