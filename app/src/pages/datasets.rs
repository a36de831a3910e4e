//! The customer's datasets and the upload form. The upload streams the file to the API with a
//! progress bar (bytes sent of total, speed) and a cancel button; it needs the page to be hydrated.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::session::FlashMessage;
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub id: String,
    pub name: String,
    pub state: String,
    pub format: String,
    pub size_bytes: i64,
    pub usable_rows: Option<u64>,
    pub created_at: i64,
}

#[server(prefix = "/fn", endpoint = "datasets")]
pub async fn list_datasets() -> Result<Vec<DatasetSummary>, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let datasets = domain::datasets::list(&platform.db, &user)
        .await
        .map_err(web_session::failed)?;
    Ok(datasets
        .into_iter()
        .map(|d| DatasetSummary {
            usable_rows: d.report.as_ref().map(|r| r.usable_rows),
            id: d.id,
            name: d.name,
            state: d.state.as_str().to_string(),
            format: d.format.name().to_string(),
            size_bytes: d.size_bytes,
            created_at: d.created_at,
        })
        .collect())
}

/// `bytes` for people: "12.3 MB".
pub fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

#[component]
pub fn DatasetsPage() -> impl IntoView {
    let datasets = Resource::new_blocking(|| (), |_| list_datasets());
    signed_in_page(move |s, _| {
        view! {
            <section class="card">
                <h1>"Datasets"</h1>
                <FlashMessage/>
                <UploadForm csrf=s.csrf.clone()/>
                <DatasetTable datasets=datasets.get().and_then(Result::ok).unwrap_or_default()/>
            </section>
        }
        .into_any()
    })
}

#[component]
fn DatasetTable(datasets: Vec<DatasetSummary>) -> impl IntoView {
    if datasets.is_empty() {
        return view! { <p data-test="no-datasets">"You have no datasets yet."</p> }.into_any();
    }
    let rows = datasets
        .into_iter()
        .map(|d| {
            view! {
                <tr data-test="dataset-row">
                    <td><a href=format!("/datasets/{}", d.id)>{d.name}</a></td>
                    <td>{d.format}</td>
                    <td>{human_bytes(d.size_bytes as f64)}</td>
                    <td>{d.state}</td>
                    <td>{d.usable_rows.map(|n| n.to_string()).unwrap_or_else(|| "–".into())}</td>
                    <td>{format_utc(d.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"Format"</th><th scope="col">"Size"</th>
                <th scope="col">"State"</th><th scope="col">"Usable rows"</th><th scope="col">"Uploaded"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// Where an upload stands.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Progress {
    sent: f64,
    total: f64,
    bytes_per_second: f64,
}

#[component]
fn UploadForm(csrf: String) -> impl IntoView {
    let (progress, set_progress) = signal(None::<Progress>);
    let (error, set_error) = signal(None::<String>);
    let uploading = move || progress.get().is_some();
    #[cfg(feature = "hydrate")]
    let request = StoredValue::new_local(None::<web_sys::XmlHttpRequest>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        upload::start(&csrf, request, set_progress, set_error);
        #[cfg(not(feature = "hydrate"))]
        let _ = (&csrf, set_progress, set_error);
    };
    let on_cancel = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(xhr) = request.get_value() {
            let _ = xhr.abort();
        }
        set_progress.set(None);
        set_error.set(Some("Upload cancelled; nothing was stored.".into()));
    };
    view! {
        <form class="form" on:submit=on_submit data-test="upload-form">
            <h2>"Upload a dataset"</h2>
            <p class="hint">"JSONL, a JSON array or CSV with a header row. The file is checked before any compute is spent."</p>
            <label for="dataset-name">"Name"</label>
            <input id="dataset-name" name="name" required maxlength="200" placeholder="support-faq"/>
            <label for="dataset-file">"File"</label>
            <input id="dataset-file" name="file" type="file" required accept=".jsonl,.json,.csv,.txt"/>
            <button type="submit" class="button" disabled=uploading>"Upload"</button>
            {move || progress.get().map(|p| {
                let percent = if p.total > 0.0 { p.sent / p.total * 100.0 } else { 0.0 };
                view! {
                    <div class="upload-progress" data-test="upload-progress">
                        <progress max="100" value=percent aria-label="Upload progress"></progress>
                        <span>{format!("{} of {} ({:.0} %), {}/s", human_bytes(p.sent), human_bytes(p.total), percent, human_bytes(p.bytes_per_second))}</span>
                        <button type="button" class="link danger" on:click=on_cancel>"Cancel"</button>
                    </div>
                }
            })}
            {move || error.get().map(|e| view! { <div class="flash flash-error" role="alert" data-test="upload-error"><p>{e}</p></div> })}
        </form>
    }
}

/// The browser half: an XMLHttpRequest, because fetch reports no upload progress.
#[cfg(feature = "hydrate")]
mod upload {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{HtmlInputElement, ProgressEvent, XmlHttpRequest};

    use super::Progress;

    fn input(id: &str) -> Option<HtmlInputElement> {
        document().get_element_by_id(id)?.dyn_into().ok()
    }

    pub fn start(
        csrf: &str,
        slot: StoredValue<Option<XmlHttpRequest>, LocalStorage>,
        set_progress: WriteSignal<Option<Progress>>,
        set_error: WriteSignal<Option<String>>,
    ) {
        let (Some(name), Some(file)) = (
            input("dataset-name"),
            input("dataset-file")
                .and_then(|f| f.files())
                .and_then(|f| f.get(0)),
        ) else {
            set_error.set(Some("Choose a file and give it a name.".into()));
            return;
        };
        let Ok(xhr) = XmlHttpRequest::new() else {
            return;
        };
        let url = format!(
            "/api/v1/datasets?name={}",
            js_sys::encode_uri_component(&name.value())
        );
        if xhr.open("POST", &url).is_err() || xhr.set_request_header("X-CSRF-Token", csrf).is_err()
        {
            set_error.set(Some("The upload could not start.".into()));
            return;
        }
        let total = file.size();
        let started = js_sys::Date::now();
        set_error.set(None);
        set_progress.set(Some(Progress {
            sent: 0.0,
            total,
            bytes_per_second: 0.0,
        }));
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |ev: ProgressEvent| {
            let seconds = ((js_sys::Date::now() - started) / 1000.0).max(0.001);
            let sent = ev.loaded();
            set_progress.set(Some(Progress {
                sent,
                total,
                bytes_per_second: sent / seconds,
            }));
        });
        if let Ok(upload) = xhr.upload() {
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        }
        on_progress.forget();
        let done = xhr.clone();
        let on_load = Closure::<dyn FnMut()>::new(move || {
            let body = done.response_text().ok().flatten().unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if done.status().unwrap_or(0) == 201 {
                let id = json["id"].as_str().unwrap_or_default().to_string();
                let _ = window().location().set_href(&format!("/datasets/{id}"));
            } else {
                set_progress.set(None);
                let message = json["error"]["message"]
                    .as_str()
                    .unwrap_or("the upload failed")
                    .to_string();
                set_error.set(Some(format!("Upload refused: {message}")));
            }
        });
        xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
        on_load.forget();
        if xhr.send_with_opt_blob(Some(&file)).is_err() {
            set_progress.set(None);
            set_error.set(Some("The upload could not start.".into()));
            return;
        }
        slot.set_value(Some(xhr));
    }
}
