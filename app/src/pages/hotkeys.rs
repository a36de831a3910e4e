//! A miner's hotkeys and what each has on: its open offers, the tasks it trains with their deadlines,
//! and its past scores with their reasons. A hotkey is linked to this account by signing the challenge
//! shown here with it, saying what it takes. The signature is made where the key lives (the Bittensor key library or a wallet);
//! the key itself never comes near the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::sign_in_first::signed_in_page;
use crate::chart::{PointsChart, running_total};
use crate::session::{CsrfField, FlashMessage};
use crate::time::format_utc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedHotkey {
    pub hotkey: String,
    pub task_types: Vec<String>,
    pub max_parameters: u64,
    pub suspended_reason: Option<String>,
    /// (task id, model, task type, until)
    pub offers: Vec<(String, String, String, i64)>,
    /// (task id, model, task type, deadline)
    pub active: Vec<(String, String, String, i64)>,
    /// (task id, task type, points, reason, when)
    pub scores: Vec<(String, String, i64, String, i64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotkeysView {
    pub challenge: String,
    pub linked: Vec<LinkedHotkey>,
}

#[server(prefix = "/fn", endpoint = "hotkeys")]
pub async fn load_hotkeys() -> Result<HotkeysView, ServerFnError> {
    use crate::web_session;
    let (user, platform) = web_session::signed_in().await?;
    let linked = domain::miners::link::dashboards(&platform, &user)
        .await
        .map_err(web_session::failed)?
        .into_iter()
        .map(|d| LinkedHotkey {
            hotkey: d.miner.hotkey,
            task_types: d
                .miner
                .task_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            max_parameters: d.miner.max_parameters,
            suspended_reason: d.miner.suspended_reason,
            offers: d
                .offers
                .into_iter()
                .map(|o| {
                    (
                        o.task_id,
                        o.model_id,
                        o.task_type.as_str().to_string(),
                        o.expires_at,
                    )
                })
                .collect(),
            active: d.active,
            scores: d
                .scores
                .into_iter()
                .map(|s| (s.task_id, s.task_type, s.points, s.reason, s.scored_at))
                .collect(),
        })
        .collect();
    Ok(HotkeysView {
        challenge: domain::miners::link::challenge(&platform, &user, domain::clock::now_ms()),
        linked,
    })
}

const TASK_TYPES: [&str; 5] = ["instruct", "chat", "dpo", "grpo", "image"];

#[component]
pub fn HotkeysPage() -> impl IntoView {
    let view_data = Resource::new_blocking(|| (), |_| load_hotkeys());
    signed_in_page(move |_, _| match view_data.get() {
        Some(Ok(data)) => view! { <HotkeysBody data/> }.into_any(),
        Some(Err(err)) => {
            view! { <section class="card"><h1>"Hotkeys"</h1><p>{err.to_string()}</p></section> }
                .into_any()
        }
        None => view! { <p>"Loading…"</p> }.into_any(),
    })
}

#[component]
fn HotkeysBody(data: HotkeysView) -> impl IntoView {
    let linked = if data.linked.is_empty() {
        view! { <p data-test="no-hotkeys">"No hotkey is linked to this account yet."</p> }
            .into_any()
    } else {
        let rows = data
            .linked
            .clone()
            .into_iter()
            .map(|m| {
                view! {
                    <tr data-test="linked-hotkey">
                        <td><code>{m.hotkey}</code></td>
                        <td>{m.task_types.join(", ")}</td>
                        <td>{format!("{:.1} B", m.max_parameters as f64 / 1e9)}</td>
                        <td>{m.suspended_reason.map_or_else(|| "active".to_string(), |why| format!("suspended: {why}"))}</td>
                    </tr>
                }
            })
            .collect_view();
        let details = data
            .linked
            .clone()
            .into_iter()
            .map(|m| view! { <HotkeyActivity m/> })
            .collect_view();
        view! {
            <table class="table">
                <thead><tr><th scope="col">"Hotkey"</th><th scope="col">"Takes"</th><th scope="col">"Largest model"</th><th scope="col">"Status"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {details}
        }
        .into_any()
    };
    let python = format!(
        "python -c \"from substrateinterface import Keypair; k = Keypair.create_from_mnemonic('your hotkey mnemonic'); print(k.ss58_address); print('0x' + k.sign('{}').hex())\"",
        data.challenge
    );
    let reference = format!(
        "crucible-miner --hotkey-file hotkey.json --sign '{}'",
        data.challenge
    );
    let type_boxes = TASK_TYPES
        .iter()
        .map(|t| view! { <label class="check"><input type="checkbox" name="task_types" value=*t checked=*t != "image"/>{*t}</label> })
        .collect_view();
    view! {
        <section class="card">
            <h1>"Hotkeys"</h1>
            <FlashMessage/>
            {linked}
            <form method="post" action="/miner/hotkeys" class="form" data-test="link-hotkey">
                <h2>"Link a hotkey"</h2>
                <p class="hint">"Sign this challenge with the hotkey (valid for 30 minutes), then paste the hotkey's SS58 address and the signature."</p>
                <CsrfField/>
                <label for="challenge">"Challenge"</label>
                <input id="challenge" name="challenge" readonly value=data.challenge.clone()/>
                <p class="hint">"With the Bittensor key library:"</p>
                <pre><code>{python}</code></pre>
                <p class="hint">"Or with the reference miner's hotkey file:"</p>
                <pre><code>{reference}</code></pre>
                <label for="hotkey">"Hotkey (SS58)"</label>
                <input id="hotkey" name="hotkey" required/>
                <label for="signature">"Signature (0x and 128 hex digits)"</label>
                <input id="signature" name="signature" required/>
                <fieldset><legend>"Task types it takes"</legend>{type_boxes}</fieldset>
                <label for="max-parameters">"Largest model it trains, in billions of parameters"</label>
                <input id="max-parameters" name="max_billions" type="number" min="0.1" step="0.1" value="8" required/>
                <button type="submit" class="button">"Link"</button>
            </form>
        </section>
    }
}

/// One hotkey's offers, tasks in training and scores.
#[component]
fn HotkeyActivity(m: LinkedHotkey) -> impl IntoView {
    let short = format!("{}…", &m.hotkey[..10.min(m.hotkey.len())]);
    let offers = m
        .offers
        .into_iter()
        .map(|(task, model, task_type, until)| view! { <li data-test="miner-offer">{format!("{task_type} on {model} (task {task}), open until {}", format_utc(until))}</li> })
        .collect_view();
    let active = m
        .active
        .into_iter()
        .map(|(task, model, task_type, deadline)| view! { <li data-test="miner-active">{format!("{task_type} on {model} (task {task}), deadline {}", format_utc(deadline))}</li> })
        .collect_view();
    let series = running_total(
        &m.scores
            .iter()
            .map(|(_, _, points, _, at)| (*at, *points))
            .collect::<Vec<_>>(),
    );
    let chart = (!series.is_empty()).then(|| {
        view! { <PointsChart series caption="Your points over time, as they added up".to_string()/> }
    });
    let scores = m
        .scores
        .into_iter()
        .map(|(task, task_type, points, reason, at)| view! {
            <tr data-test="miner-score"><td>{format_utc(at)}</td><td>{format!("{task_type} · {task}")}</td><td>{format!("{points:+}")}</td><td>{reason}</td></tr>
        })
        .collect_view();
    view! {
        <h2>{format!("Hotkey {short}")}</h2>
        <h3>"Open offers"</h3>
        <ul>{offers}</ul>
        <h3>"Training now"</h3>
        <ul>{active}</ul>
        <h3>"Scores"</h3>
        <table class="table">
            <thead><tr><th scope="col">"When"</th><th scope="col">"Task"</th><th scope="col">"Points"</th><th scope="col">"Why"</th></tr></thead>
            <tbody>{scores}</tbody>
        </table>
        {chart}
    }
}
