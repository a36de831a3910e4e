use leptos::prelude::*;

/// The public leaderboards. Scores arrive with the evaluation work; until a miner has been scored the
/// board says so rather than showing invented rows.
#[component]
pub fn Leaderboards() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Leaderboards"</h1>
            <p>"Miners ranked by their scores over the last 1, 3 and 7 days, per task type."</p>
            <table class="table">
                <caption class="sr-only">"Miners by score"</caption>
                <thead><tr><th scope="col">"Rank"</th><th scope="col">"Miner"</th><th scope="col">"Score"</th></tr></thead>
                <tbody>
                    <tr><td colspan="3" class="empty" data-test="leaderboard-empty">"No miner has been scored yet."</td></tr>
                </tbody>
            </table>
        </section>
    }
}
