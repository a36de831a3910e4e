//! The tournament tables: tournaments, their entries, matches, the entrants of each match, and runs.

use sqlx::{Any, Executor, FromRow};

use super::Nullables;
use crate::clock::Millis;
use crate::states::{MatchState, RunState, TournamentState};

#[derive(Clone, Debug, FromRow)]
pub struct TournamentRow {
    pub id: String,
    pub kind: String,
    pub state: TournamentState,
    pub dataset_id: String,
    pub task_type: String,
    pub model_id: String,
    pub hours: i64,
    pub min_entrants: i64,
    pub registration_closes_at: Millis,
    pub registration_retries: i64,
    pub round: i64,
    pub champion_recipe_id: Option<String>,
    pub champion_wins: i64,
    pub winner_recipe_id: Option<String>,
    pub reason: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The splits its tasks train and are scored on (`datasets::dataset::Splits`).
    pub splits_prefix: Option<String>,
}

const TOURNAMENT: &str = "id, kind, state, dataset_id, task_type, model_id, hours, min_entrants, \
    registration_closes_at, registration_retries, round, champion_recipe_id, champion_wins, \
    winner_recipe_id, reason, created_at, updated_at, splits_prefix";

/// Inserts a pending tournament.
pub async fn insert<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &TournamentRow,
) -> sqlx::Result<()> {
    let champion = Nullables::from(16).slot(row.champion_recipe_id.is_some());
    let sql = format!(
        "INSERT INTO tournaments (id, kind, state, dataset_id, task_type, model_id, hours, min_entrants, \
         registration_closes_at, registration_retries, round, champion_wins, reason, created_at, updated_at, \
         splits_prefix, champion_recipe_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, {champion})"
    );
    let mut query = sqlx::query(&sql)
        .bind(&row.id)
        .bind(&row.kind)
        .bind(row.state)
        .bind(&row.dataset_id)
        .bind(&row.task_type)
        .bind(&row.model_id)
        .bind(row.hours)
        .bind(row.min_entrants)
        .bind(row.registration_closes_at)
        .bind(row.registration_retries)
        .bind(row.round)
        .bind(row.champion_wins)
        .bind(&row.reason)
        .bind(row.created_at)
        .bind(&row.splits_prefix);
    if let Some(champion) = &row.champion_recipe_id {
        query = query.bind(champion);
    }
    query.execute(exec).await?;
    Ok(())
}

pub async fn by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
) -> sqlx::Result<Option<TournamentRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOURNAMENT} FROM tournaments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(exec)
    .await
}

/// The latest `limit` tournaments, newest first.
pub async fn recent<'e>(
    exec: impl Executor<'e, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<TournamentRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOURNAMENT} FROM tournaments ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(exec)
    .await
}

/// The `kind` tournament that completed last, whose winner holds the title.
pub async fn last_completed<'e>(
    exec: impl Executor<'e, Database = Any>,
    kind: &str,
) -> sqlx::Result<Option<TournamentRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOURNAMENT} FROM tournaments WHERE kind = $1 AND state = 'completed' \
         ORDER BY updated_at DESC, id DESC LIMIT 1"
    ))
    .bind(kind)
    .fetch_optional(exec)
    .await
}

/// Moves the tournament from `from` to `to` with `reason`; false when it was not in `from`, or when
/// the machine has no such move (an ended tournament never starts again).
pub async fn change_state<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    from: TournamentState,
    to: TournamentState,
    reason: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    if !from.can_move_to(to) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE tournaments SET state = $1, reason = $2, updated_at = $3 WHERE id = $4 AND state = $5",
    )
    .bind(to)
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(from)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps a pending tournament open for entries until `closes_at`.
pub async fn extend_registration<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    closes_at: Millis,
    reason: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tournaments SET registration_closes_at = $1, registration_retries = registration_retries + 1, \
         reason = $2, updated_at = $3 WHERE id = $4 AND state = 'pending'",
    )
    .bind(closes_at)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves an active tournament from round `from` to `to`.
pub async fn next_round<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    from: i64,
    to: i64,
    reason: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tournaments SET round = $1, reason = $2, updated_at = $3 WHERE id = $4 AND round = $5 AND state = 'active'",
    )
    .bind(to)
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(from)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Completes an active tournament with its winner, who holds the title for `wins` in a row.
pub async fn complete<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: &str,
    winner_recipe_id: &str,
    reason: &str,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tournaments SET state = 'completed', winner_recipe_id = $1, reason = $2, updated_at = $3 \
         WHERE id = $4 AND state = 'active'",
    )
    .bind(winner_recipe_id)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug, FromRow)]
pub struct EntryRow {
    pub tournament_id: String,
    pub recipe_id: String,
    pub miner_id: String,
    pub seed: i64,
    pub out_in_round: Option<i64>,
    pub points: f64,
}

/// Enters a recipe with the next seed; false when it had entered already.
pub async fn enter<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
    recipe_id: &str,
    miner_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO tournament_entries (tournament_id, recipe_id, miner_id, seed, points) \
         SELECT $1, $2, $3, COUNT(*), 0.0 FROM tournament_entries WHERE tournament_id = $1 \
         ON CONFLICT (tournament_id, recipe_id) DO NOTHING",
    )
    .bind(tournament_id)
    .bind(recipe_id)
    .bind(miner_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The tournament's entries, best seed first.
pub async fn entries<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as(
        "SELECT tournament_id, recipe_id, miner_id, seed, out_in_round, points FROM tournament_entries \
         WHERE tournament_id = $1 ORDER BY seed",
    )
    .bind(tournament_id)
    .fetch_all(exec)
    .await
}

/// Records how an entrant did in a decided match: its points, and the round it went out in if it did.
pub async fn score_entry<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
    recipe_id: &str,
    points: f64,
    out_in_round: Option<i64>,
) -> sqlx::Result<()> {
    let out = if out_in_round.is_some() {
        "$4"
    } else {
        "out_in_round"
    };
    let sql = format!(
        "UPDATE tournament_entries SET points = points + $1, out_in_round = {out} \
         WHERE tournament_id = $2 AND recipe_id = $3"
    );
    let mut query = sqlx::query(&sql)
        .bind(points)
        .bind(tournament_id)
        .bind(recipe_id);
    if let Some(round) = out_in_round {
        query = query.bind(round);
    }
    query.execute(exec).await?;
    Ok(())
}

#[derive(Clone, Debug, FromRow)]
pub struct MatchRow {
    pub id: String,
    pub tournament_id: String,
    pub round: i64,
    pub position: i64,
    pub kind: String,
    pub tasks: i64,
    pub state: MatchState,
    pub outcome: String,
}

/// Inserts a match and its entrants; nothing when the round's match at that position exists already.
pub async fn insert_match<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &MatchRow,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO tournament_matches (id, tournament_id, round, position, kind, tasks, state, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tournament_id, round, position) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.tournament_id)
    .bind(row.round)
    .bind(row.position)
    .bind(&row.kind)
    .bind(row.tasks)
    .bind(row.state)
    .bind(&row.outcome)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_match_entrant<'e>(
    exec: impl Executor<'e, Database = Any>,
    match_id: &str,
    recipe_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tournament_match_entrants (match_id, recipe_id, advanced) VALUES ($1, $2, 0) \
         ON CONFLICT (match_id, recipe_id) DO NOTHING",
    )
    .bind(match_id)
    .bind(recipe_id)
    .execute(exec)
    .await?;
    Ok(())
}

/// Every match of the tournament, by round and position.
pub async fn matches<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
) -> sqlx::Result<Vec<MatchRow>> {
    sqlx::query_as(
        "SELECT id, tournament_id, round, position, kind, tasks, state, outcome FROM tournament_matches \
         WHERE tournament_id = $1 ORDER BY round, position",
    )
    .bind(tournament_id)
    .fetch_all(exec)
    .await
}

/// Marks a match decided with its outcome; false when it was decided already.
pub async fn decide_match<'e>(
    exec: impl Executor<'e, Database = Any>,
    match_id: &str,
    outcome: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tournament_matches SET state = 'decided', outcome = $1 WHERE id = $2 AND state = 'playing'",
    )
    .bind(outcome)
    .bind(match_id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug, FromRow)]
pub struct MatchEntrantRow {
    pub match_id: String,
    pub recipe_id: String,
    pub rank: Option<i64>,
    pub advanced: i64,
}

/// The entrants of every match of the tournament.
pub async fn match_entrants<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
) -> sqlx::Result<Vec<MatchEntrantRow>> {
    sqlx::query_as(
        "SELECT e.match_id, e.recipe_id, e.rank, e.advanced FROM tournament_match_entrants e \
         JOIN tournament_matches m ON m.id = e.match_id WHERE m.tournament_id = $1 \
         ORDER BY m.round, m.position, e.rank, e.recipe_id",
    )
    .bind(tournament_id)
    .fetch_all(exec)
    .await
}

pub async fn rank_match_entrant<'e>(
    exec: impl Executor<'e, Database = Any>,
    match_id: &str,
    recipe_id: &str,
    rank: i64,
    advanced: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tournament_match_entrants SET rank = $1, advanced = $2 WHERE match_id = $3 AND recipe_id = $4",
    )
    .bind(rank)
    .bind(i64::from(advanced))
    .bind(match_id)
    .bind(recipe_id)
    .execute(exec)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, FromRow)]
pub struct RunRow {
    pub match_id: String,
    pub recipe_id: String,
    pub task_index: i64,
    pub state: RunState,
    pub attempts: i64,
    pub loss: Option<f64>,
    pub error: Option<String>,
    pub log: String,
    pub seconds: f64,
    pub updated_at: Millis,
}

/// Records how a run ended; a run recorded before keeps its first result (a retried job).
pub async fn record_run<'e>(
    exec: impl Executor<'e, Database = Any>,
    row: &RunRow,
) -> sqlx::Result<()> {
    let mut nullables = Nullables::from(9);
    let loss = nullables.slot(row.loss.is_some());
    let error = nullables.slot(row.error.is_some());
    let sql = format!(
        "INSERT INTO tournament_runs (match_id, recipe_id, task_index, state, attempts, log, seconds, updated_at, \
         loss, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {loss}, {error}) \
         ON CONFLICT (match_id, recipe_id, task_index) DO NOTHING"
    );
    let mut query = sqlx::query(&sql)
        .bind(&row.match_id)
        .bind(&row.recipe_id)
        .bind(row.task_index)
        .bind(row.state)
        .bind(row.attempts)
        .bind(&row.log)
        .bind(row.seconds)
        .bind(row.updated_at);
    if let Some(loss) = row.loss {
        query = query.bind(loss);
    }
    if let Some(error) = &row.error {
        query = query.bind(error);
    }
    query.execute(exec).await?;
    Ok(())
}

/// Every run of the tournament's matches.
pub async fn runs<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as(
        "SELECT r.match_id, r.recipe_id, r.task_index, r.state, r.attempts, r.loss, r.error, r.log, r.seconds, \
         r.updated_at FROM tournament_runs r JOIN tournament_matches m ON m.id = r.match_id \
         WHERE m.tournament_id = $1 ORDER BY m.round, m.position, r.recipe_id, r.task_index",
    )
    .bind(tournament_id)
    .fetch_all(exec)
    .await
}

/// Whether the recipe won a completed tournament (and so is published).
pub async fn has_won<'e>(
    exec: impl Executor<'e, Database = Any>,
    recipe_id: &str,
) -> sqlx::Result<bool> {
    let won: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM tournaments WHERE winner_recipe_id = $1 AND state = 'completed' LIMIT 1",
    )
    .bind(recipe_id)
    .fetch_optional(exec)
    .await?;
    Ok(won.is_some())
}

/// How many `kind` tournaments are pending or active.
pub async fn open_of_kind<'e>(
    exec: impl Executor<'e, Database = Any>,
    kind: &str,
) -> sqlx::Result<i64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tournaments WHERE kind = $1 AND state IN ('pending', 'active')",
    )
    .bind(kind)
    .fetch_one(exec)
    .await?;
    Ok(count)
}

#[derive(Clone, Debug, FromRow)]
pub struct RecipeName {
    pub recipe_id: String,
    pub name: String,
    pub hotkey: String,
}

const RECIPE_NAME: &str = "SELECT r.id AS recipe_id, r.name, m.hotkey FROM recipes r \
    JOIN miners m ON m.id = r.miner_id";

/// The name and miner of every recipe in the tournament: its entries and the champion it defends against.
pub async fn recipe_names<'e>(
    exec: impl Executor<'e, Database = Any>,
    tournament_id: &str,
) -> sqlx::Result<Vec<RecipeName>> {
    sqlx::query_as(&format!(
        "{RECIPE_NAME} WHERE r.id IN (SELECT recipe_id FROM tournament_entries WHERE tournament_id = $1) \
         OR r.id IN (SELECT champion_recipe_id FROM tournaments WHERE id = $1)"
    ))
    .bind(tournament_id)
    .fetch_all(exec)
    .await
}

/// A recipe's name and its miner.
pub async fn recipe_name<'e>(
    exec: impl Executor<'e, Database = Any>,
    recipe_id: &str,
) -> sqlx::Result<Option<RecipeName>> {
    sqlx::query_as(&format!("{RECIPE_NAME} WHERE r.id = $1"))
        .bind(recipe_id)
        .fetch_optional(exec)
        .await
}

#[derive(Clone, Debug, FromRow)]
pub struct MinerPoints {
    pub hotkey: String,
    pub points: f64,
    pub tournaments: i64,
    pub titles: i64,
}

/// Every miner who entered a `kind` tournament: points over all of them, entries and titles won.
pub async fn points_by_miner<'e>(
    exec: impl Executor<'e, Database = Any>,
    kind: &str,
) -> sqlx::Result<Vec<MinerPoints>> {
    sqlx::query_as(
        "SELECT m.hotkey, SUM(e.points) AS points, COUNT(*) AS tournaments, \
         SUM(CASE WHEN t.winner_recipe_id = e.recipe_id THEN 1 ELSE 0 END) AS titles \
         FROM tournament_entries e JOIN tournaments t ON t.id = e.tournament_id \
         JOIN miners m ON m.id = e.miner_id WHERE t.kind = $1 \
         GROUP BY m.hotkey ORDER BY points DESC, titles DESC, m.hotkey",
    )
    .bind(kind)
    .fetch_all(exec)
    .await
}
