//! A tournament from registration to its champion. Admins open one on a dataset of theirs (its
//! training split is what recipes train on, its held-out split what they are scored on); miners enter
//! built recipes while registration is open; then the `advance_tournament` job draws each round, runs
//! every entrant of every match on the trainer host, decides the matches, and ends with the boss round
//! against the defending champion. Every step is recorded before the next, so the job can die and run
//! again anywhere: a recorded run is never run twice, a drawn round never drawn twice.

use std::collections::HashMap;

use serde::Serialize;

use super::{Arena, Organiser};
use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::datasets::{self, DatasetState, TaskType, dataset::Splits};
use crate::db::{
    self, Database,
    tournaments::{EntryRow, MatchRow, RunRow, TournamentRow},
};
use crate::error::{Error, Result};
use crate::miners::Miner;
use crate::queue::{self, Job, Queue};
use crate::sandbox::recipe_run::{self as runs, TaskInputs};
use crate::sandbox::{Inputs, Subject};
use crate::states::{MatchState, RecipeState, RunState, TournamentState};
use crate::tournaments::bracket::GROUP_ADVANCE;
use crate::tournaments::{boss, bracket, points};

/// What an admin opens a tournament on.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewTournament {
    pub dataset_id: String,
    pub model_id: String,
    /// The time each run has, in the platform's hours.
    pub hours: u64,
}

fn conflict(message: impl Into<String>) -> Error {
    Error::Conflict {
        field: None,
        message: message.into(),
    }
}

/// The task type the tournament's tasks are of.
fn task_type(tournament: &TournamentRow) -> Result<TaskType> {
    TaskType::parse(&tournament.task_type).ok_or_else(|| {
        Error::Internal(format!(
            "a tournament of task type {}",
            tournament.task_type
        ))
    })
}

/// The splits the tournament was opened with: its tasks' training rows and held-out split, whatever
/// happens to the dataset later.
fn splits_of(tournament: &TournamentRow) -> Splits {
    Splits::stored(tournament.splits_prefix.clone(), &tournament.dataset_id)
}

pub(crate) fn kind_of(task_type: TaskType) -> &'static str {
    if task_type == TaskType::Image {
        "image"
    } else {
        "text"
    }
}

/// Opens a tournament on the admin's ready dataset; registration closes after the schedule's time.
pub async fn open(
    platform: &crate::Platform,
    admin: &User,
    new: &NewTournament,
) -> Result<TournamentRow> {
    admin.require_admin("open a tournament")?;
    if platform.trainers.is_none() {
        return Err(conflict(
            "this platform has no trainer host to run recipes on (crucible serve --trainers)",
        ));
    }
    let dataset = datasets::get(&platform.db, admin, &new.dataset_id)
        .await
        .map_err(|err| match err {
            Error::NotFound(_) => Error::invalid("dataset_id", "no dataset of yours has this id"),
            other => other,
        })?;
    let (Some(task_type), DatasetState::Ready) = (dataset.task_type, dataset.state) else {
        return Err(Error::invalid(
            "dataset_id",
            "the dataset must be validated and ready: its splits are the tournament's tasks",
        ));
    };
    let catalogue = crate::catalogue::catalogue(&platform.db).await?;
    if !catalogue
        .models
        .iter()
        .any(|m| m.id == new.model_id && m.task_types.contains(&task_type))
    {
        return Err(Error::invalid(
            "model_id",
            "no base model in the catalogue with this id takes the dataset's task type",
        ));
    }
    if let Some(evaluator) = &platform.evaluator
        && let Err(why) = evaluator.can_score(&new.model_id)
    {
        return Err(Error::invalid("model_id", why));
    }
    if new.hours == 0 || new.hours > 48 {
        return Err(Error::invalid("hours", "give each run 1 to 48 hours"));
    }
    let row = insert(
        &platform.organiser(),
        &dataset.id,
        &dataset.splits,
        task_type,
        &new.model_id,
        new.hours as i64,
    )
    .await?;
    crate::admin_log::record(
        platform.db.pool(),
        &admin.email,
        "open_tournament",
        &row.id,
        &row.reason,
    )
    .await?;
    Ok(row)
}

async fn insert(
    organiser: &Organiser,
    dataset_id: &str,
    splits: &Splits,
    task_type: TaskType,
    model_id: &str,
    hours: i64,
) -> Result<TournamentRow> {
    let kind = kind_of(task_type);
    let schedule = organiser.schedule;
    let db = organiser.db.pool();
    let (champion, wins) = match db::tournaments::last_completed(db, kind).await? {
        Some(last) => {
            let defended =
                last.winner_recipe_id.is_some() && last.winner_recipe_id == last.champion_recipe_id;
            (
                last.winner_recipe_id,
                if defended { last.champion_wins + 1 } else { 1 },
            )
        }
        None => (None, 0),
    };
    let now = now_ms();
    let closes = now + schedule.registration_ms;
    let row = TournamentRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: kind.into(),
        state: TournamentState::Pending,
        dataset_id: dataset_id.into(),
        task_type: task_type.as_str().into(),
        model_id: model_id.into(),
        hours,
        min_entrants: schedule.min_entrants as i64,
        registration_closes_at: closes,
        registration_retries: 0,
        round: 0,
        champion_wins: wins,
        reason: match &champion {
            Some(_) => {
                format!("registration open; the champion defends its title ({wins} in a row)")
            }
            None => "registration open; no champion yet".into(),
        },
        champion_recipe_id: champion,
        winner_recipe_id: None,
        created_at: now,
        updated_at: now,
        splits_prefix: Some(splits.prefix().to_string()),
    };
    let mut tx = db.begin().await?;
    db::tournaments::insert(&mut *tx, &row).await?;
    let job = AdvanceTournament {
        tournament_id: row.id.clone(),
    };
    queue::enqueue_at(&mut *tx, &job, closes, now).await?;
    tx.commit().await?;
    Ok(row)
}

/// The job queued when a tournament ends, to open the next of its kind.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct OpenTournament {
    /// The tournament that ended.
    pub tournament_id: String,
}

impl Job for OpenTournament {
    const NAME: &'static str = "open_tournament";
    const QUEUE: Queue = Queue::Fast;
    type Context = Organiser;

    fn subject(&self) -> &str {
        &self.tournament_id
    }

    async fn run(self, organiser: Organiser) -> Result<()> {
        open_next(&organiser, &self.tournament_id).await
    }
}

/// Opens the next tournament of the kind of tournament `last_id` on the same dataset and model, unless
/// one is open already.
pub async fn open_next(organiser: &Organiser, last_id: &str) -> Result<()> {
    let db = organiser.db.pool();
    let Some(last) = db::tournaments::by_id(db, last_id).await? else {
        return Ok(());
    };
    if db::tournaments::open_of_kind(db, &last.kind).await? > 0 {
        return Ok(());
    }
    insert(
        organiser,
        &last.dataset_id,
        &splits_of(&last),
        task_type(&last)?,
        &last.model_id,
        last.hours,
    )
    .await?;
    Ok(())
}

/// Enters the miner's built recipe while registration is open.
pub async fn enter(db: &Database, miner: &Miner, id: &str, recipe_id: &str) -> Result<EntryRow> {
    let db = db.pool();
    let tournament = db::tournaments::by_id(db, id)
        .await?
        .ok_or(Error::NotFound("tournament"))?;
    if tournament.state != TournamentState::Pending || now_ms() >= tournament.registration_closes_at
    {
        return Err(conflict(format!(
            "registration is closed: the tournament is {}",
            tournament.state
        )));
    }
    let recipe = db::recipes::by_id(db, recipe_id)
        .await?
        .filter(|r| r.miner_id == miner.id)
        .ok_or_else(|| Error::invalid("recipe_id", "no recipe of yours has this id"))?;
    if recipe.state != RecipeState::Built {
        return Err(Error::invalid(
            "recipe_id",
            format!(
                "the recipe is {}: only a built recipe can enter ({})",
                recipe.state, recipe.build_log
            ),
        ));
    }
    if !db::tournaments::enter(db, id, recipe_id, &miner.id).await? {
        return Err(conflict("this recipe has entered the tournament already"));
    }
    let entries = db::tournaments::entries(db, id).await?;
    entries
        .into_iter()
        .find(|e| e.recipe_id == recipe_id)
        .ok_or(Error::NotFound("entry"))
}

/// The job that takes a tournament as far as it can go without running anything: closes registration
/// and draws round 1, decides the matches whose runs are in, draws the next round or ends it. The runs
/// themselves are [`RunEntrant`] jobs on the trainer queue.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct AdvanceTournament {
    pub tournament_id: String,
}

impl Job for AdvanceTournament {
    const NAME: &'static str = "advance_tournament";
    const QUEUE: Queue = Queue::Fast;
    type Context = Organiser;

    fn subject(&self) -> &str {
        &self.tournament_id
    }

    async fn run(self, organiser: Organiser) -> Result<()> {
        advance(&organiser, &self.tournament_id).await
    }
}

/// Takes tournament `id` as far as it can go now.
pub async fn advance(organiser: &Organiser, id: &str) -> Result<()> {
    loop {
        let db = organiser.db.pool();
        let Some(tournament) = db::tournaments::by_id(db, id).await? else {
            return Ok(());
        };
        match tournament.state {
            TournamentState::Pending => {
                if !close_registration(organiser, &tournament).await? {
                    return Ok(());
                }
            }
            TournamentState::Active => {
                decide_played(organiser, &tournament).await?;
                if !next_round(organiser, &tournament).await? {
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
    }
}

/// At the end of registration: starts the tournament with round 1 drawn, or keeps registration open
/// longer for want of entrants, or cancels it. True when it started.
async fn close_registration(organiser: &Organiser, tournament: &TournamentRow) -> Result<bool> {
    let db = organiser.db.pool();
    // The database's clock, the one this step's job fell due by.
    let now = organiser.db.now().await?;
    let job = AdvanceTournament {
        tournament_id: tournament.id.clone(),
    };
    if now < tournament.registration_closes_at {
        queue::enqueue_at(db, &job, tournament.registration_closes_at, now).await?;
        return Ok(false);
    }
    let entries = db::tournaments::entries(db, &tournament.id).await?;
    let schedule = organiser.schedule;
    if (entries.len() as i64) < tournament.min_entrants {
        let mut tx = db.begin().await?;
        if tournament.registration_retries < schedule.registration_retries {
            let closes = now + schedule.registration_ms;
            let reason = format!(
                "{} of the {} entrants needed; registration stays open (extension {} of {})",
                entries.len(),
                tournament.min_entrants,
                tournament.registration_retries + 1,
                schedule.registration_retries
            );
            if db::tournaments::extend_registration(&mut *tx, &tournament.id, closes, &reason, now)
                .await?
            {
                queue::enqueue_at(&mut *tx, &job, closes, now).await?;
            }
        } else {
            let reason = format!(
                "{} of the {} entrants needed after {} extensions of registration",
                entries.len(),
                tournament.min_entrants,
                schedule.registration_retries
            );
            if db::tournaments::change_state(
                &mut *tx,
                &tournament.id,
                TournamentState::Pending,
                TournamentState::Cancelled,
                &reason,
                now,
            )
            .await?
            {
                schedule_next(&mut tx, organiser, tournament, now).await?;
            }
        }
        tx.commit().await?;
        return Ok(false);
    }
    let recipes: Vec<String> = entries.iter().map(|e| e.recipe_id.clone()).collect();
    let reason = format!("{} entrants; round 1 is drawn", recipes.len());
    let mut tx = db.begin().await?;
    if db::tournaments::change_state(
        &mut *tx,
        &tournament.id,
        TournamentState::Pending,
        TournamentState::Active,
        &reason,
        now,
    )
    .await?
    {
        draw(&mut tx, tournament, 0, &recipes).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Draws round `from + 1` among `recipes` (best seed first) and moves the tournament to it, once.
async fn draw(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tournament: &TournamentRow,
    from: i64,
    recipes: &[String],
) -> Result<()> {
    let round = from + 1;
    let reason = format!("round {round}: {} entrants", recipes.len());
    if !db::tournaments::next_round(&mut **tx, &tournament.id, from, round, &reason, now_ms())
        .await?
    {
        return Ok(());
    }
    let matches: Vec<(&str, Vec<&String>)> = match bracket::draw(recipes.len()) {
        bracket::Round::Groups(groups) => groups
            .into_iter()
            .map(|g| ("group", g.into_iter().map(|i| &recipes[i]).collect()))
            .collect(),
        bracket::Round::Knockout { pairs, bye } => bye
            .map(|i| ("bye", vec![&recipes[i]]))
            .into_iter()
            .chain(
                pairs
                    .into_iter()
                    .map(|(a, b)| ("pair", vec![&recipes[a], &recipes[b]])),
            )
            .collect(),
    };
    for (position, (kind, entrants)) in matches.into_iter().enumerate() {
        insert_match(tx, tournament, round, position as i64, kind, 1, &entrants).await?;
    }
    Ok(())
}

async fn insert_match(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tournament: &TournamentRow,
    round: i64,
    position: i64,
    kind: &str,
    tasks: i64,
    entrants: &[&String],
) -> Result<()> {
    let row = MatchRow {
        id: uuid::Uuid::now_v7().to_string(),
        tournament_id: tournament.id.clone(),
        round,
        position,
        kind: kind.into(),
        tasks: if kind == "bye" { 0 } else { tasks },
        state: MatchState::Playing,
        outcome: String::new(),
    };
    if db::tournaments::insert_match(&mut **tx, &row).await? {
        let now = now_ms();
        for recipe in entrants {
            db::tournaments::insert_match_entrant(&mut **tx, &row.id, recipe).await?;
            for task_index in 0..row.tasks {
                let run = RunEntrant {
                    tournament_id: tournament.id.clone(),
                    match_id: row.id.clone(),
                    recipe_id: recipe.to_string(),
                    task_index,
                };
                queue::enqueue(&mut **tx, &run, now).await?;
            }
        }
    }
    Ok(())
}

/// The job that runs one entrant of a match on one of its tasks on a trainer host, and scores its model;
/// queued for every entrant and task when the match is drawn.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct RunEntrant {
    pub tournament_id: String,
    pub match_id: String,
    pub recipe_id: String,
    pub task_index: i64,
}

impl Job for RunEntrant {
    const NAME: &'static str = "run_entrant";
    const QUEUE: Queue = Queue::Trainer;
    type Context = Arena;

    fn subject(&self) -> &str {
        &self.match_id
    }

    async fn run(self, arena: Arena) -> Result<()> {
        run_entrant(&arena, &self).await
    }
}

/// Runs `job`'s recipe on its task and records the run, unless it is recorded already (a job run
/// twice), then has the tournament advance: deciding the match once its last run is in.
async fn run_entrant(arena: &Arena, job: &RunEntrant) -> Result<()> {
    let db = arena.db.pool();
    let Some(tournament) = db::tournaments::by_id(db, &job.tournament_id).await? else {
        return Ok(());
    };
    let played = db::tournaments::matches(db, &tournament.id)
        .await?
        .into_iter()
        .find(|m| m.id == job.match_id);
    let Some(played) = played
        .filter(|m| m.state == MatchState::Playing && tournament.state == TournamentState::Active)
    else {
        return Ok(());
    };
    let recorded = db::tournaments::runs(db, &tournament.id)
        .await?
        .iter()
        .any(|r| {
            r.match_id == job.match_id
                && r.recipe_id == job.recipe_id
                && r.task_index == job.task_index
        });
    if !recorded {
        let row = run_once(arena, &tournament, &played, job).await?;
        db::tournaments::record_run(db, &row).await?;
    }
    let next = AdvanceTournament {
        tournament_id: tournament.id.clone(),
    };
    queue::enqueue(db, &next, now_ms()).await?;
    Ok(())
}

/// One run of `job`'s recipe in its sandbox, scored on the tournament's held-out split.
async fn run_once(
    arena: &Arena,
    tournament: &TournamentRow,
    played: &MatchRow,
    job: &RunEntrant,
) -> Result<RunRow> {
    let db = arena.db.pool();
    let (trainers, evaluator) = (&arena.trainers, &arena.evaluator);
    let recipe = db::recipes::by_id(db, &job.recipe_id)
        .await?
        .ok_or(Error::NotFound("recipe"))?;
    let work =
        tempfile::tempdir().map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
    let splits = splits_of(tournament);
    let subject = Subject {
        id: &tournament.id,
        task_type: task_type(tournament)?,
        model_id: &tournament.model_id,
        splits: &splits,
        reward_functions: &[],
    };
    let inputs = Inputs::prepare(&*arena.store, evaluator, &subject, work.path()).await?;
    let train = crate::storage::collect(arena.store.get(&splits.train()).await?)
        .await
        .map_err(|err| Error::Internal(format!("reading the training split: {err}")))?;
    let train = String::from_utf8_lossy(&train);
    let index = job.task_index;
    let data_dir = work.path().join(format!("{}-{index}", played.id));
    runs::write_task_rows(&train, index as usize, played.tasks as usize, &data_dir)
        .map_err(|err| Error::Internal(format!("writing a task's rows: {err}")))?;
    let task = TaskInputs {
        task_id: format!(
            "{}-r{}-m{}-t{index}",
            tournament.id, played.round, played.position
        ),
        data_dir,
        task_type: &tournament.task_type,
        base_model: inputs.base_model(),
        time: std::time::Duration::from_millis((tournament.hours * arena.hour_ms) as u64),
    };
    tracing::info!(tournament = %tournament.id, recipe = %recipe.id, task = index, "running a recipe");
    let run = runs::run(trainers, evaluator, &inputs, &task, &recipe, work.path()).await;
    let (state, loss, error) = match run.loss {
        Ok(loss) => (RunState::Done, Some(loss), None),
        Err(why) => (RunState::Failed, None, Some(why)),
    };
    Ok(RunRow {
        match_id: played.id.clone(),
        recipe_id: recipe.id.clone(),
        task_index: index,
        state,
        attempts: run.attempts,
        loss,
        error,
        log: run.log,
        seconds: run.seconds,
        updated_at: now_ms(),
    })
}

/// Decides each of the current round's matches whose every run is in (a bye has none).
async fn decide_played(organiser: &Organiser, tournament: &TournamentRow) -> Result<()> {
    let db = organiser.db.pool();
    let entrants = db::tournaments::match_entrants(db, &tournament.id).await?;
    let runs = db::tournaments::runs(db, &tournament.id).await?;
    let matches = db::tournaments::matches(db, &tournament.id).await?;
    for played in matches
        .iter()
        .filter(|m| m.round == tournament.round && m.state == MatchState::Playing)
    {
        let expected =
            entrants.iter().filter(|e| e.match_id == played.id).count() as i64 * played.tasks;
        let recorded = runs.iter().filter(|r| r.match_id == played.id).count() as i64;
        if recorded >= expected {
            decide(organiser, tournament, played).await?;
        }
    }
    Ok(())
}

/// One entrant's results in a match: its held-out loss per task (none where the run failed).
struct Standing {
    recipe_id: String,
    seed: i64,
    losses: Vec<Option<f64>>,
    why: Option<String>,
}

impl Standing {
    /// The mean loss over the match's tasks; none unless every run produced a model.
    fn mean(&self) -> Option<f64> {
        let losses: Option<Vec<f64>> = self.losses.iter().copied().collect();
        losses
            .filter(|l| !l.is_empty())
            .map(|l| l.iter().sum::<f64>() / l.len() as f64)
    }
}

/// Each entrant's seed, by recipe.
async fn seeds(organiser: &Organiser, tournament_id: &str) -> Result<HashMap<String, i64>> {
    let entries = db::tournaments::entries(organiser.db.pool(), tournament_id).await?;
    Ok(entries.into_iter().map(|e| (e.recipe_id, e.seed)).collect())
}

/// Ranks a played match's entrants, records who advances and why, and gives the round's points.
async fn decide(
    organiser: &Organiser,
    tournament: &TournamentRow,
    played: &MatchRow,
) -> Result<()> {
    let db = organiser.db.pool();
    let seeds = seeds(organiser, &tournament.id).await?;
    let runs = db::tournaments::runs(db, &tournament.id).await?;
    let mut standings: Vec<Standing> = db::tournaments::match_entrants(db, &tournament.id)
        .await?
        .into_iter()
        .filter(|e| e.match_id == played.id)
        .map(|e| {
            let mine: Vec<_> = runs
                .iter()
                .filter(|r| r.match_id == played.id && r.recipe_id == e.recipe_id)
                .collect();
            Standing {
                seed: seeds.get(&e.recipe_id).copied().unwrap_or(i64::MAX),
                losses: (0..played.tasks)
                    .map(|i| mine.iter().find(|r| r.task_index == i).and_then(|r| r.loss))
                    .collect(),
                why: mine.iter().find_map(|r| r.error.clone()),
                recipe_id: e.recipe_id,
            }
        })
        .collect();
    // The champion is the boss round's second entrant, by seed or not.
    let champion = tournament.champion_recipe_id.clone().unwrap_or_default();
    let (ranked, advancing, outcome) = match played.kind.as_str() {
        "bye" => {
            let ranked: Vec<&Standing> = standings.iter().collect();
            (
                ranked,
                1,
                "a bye: with an odd number of entrants, the best seed goes through unplayed"
                    .to_string(),
            )
        }
        "boss" => {
            let (champ, challenger): (Vec<&Standing>, Vec<&Standing>) =
                standings.iter().partition(|s| s.recipe_id == champion);
            let (Some(champ), Some(challenger)) = (champ.first(), challenger.first()) else {
                return Err(Error::Internal(
                    "a boss round without its two entrants".into(),
                ));
            };
            let pairs: Vec<(Option<f64>, Option<f64>)> = challenger
                .losses
                .iter()
                .copied()
                .zip(champ.losses.iter().copied())
                .collect();
            let verdict = boss::judge(tournament.champion_wins.max(1) as u32, &pairs);
            let margin = verdict.margin * 100.0;
            if verdict.title_changes {
                let outcome = format!(
                    "the challenger beat the champion by at least {margin:.1} % on {} of {} tasks ({} needed): it takes the title",
                    verdict.challenger_wins,
                    boss::TASKS,
                    boss::WINS_NEEDED
                );
                (vec![*challenger, *champ], 1, outcome)
            } else {
                let outcome = format!(
                    "the champion defends its title: the challenger was at least {margin:.1} % better on {} of {} tasks, {} needed",
                    verdict.challenger_wins,
                    boss::TASKS,
                    boss::WINS_NEEDED
                );
                (vec![*champ, *challenger], 1, outcome)
            }
        }
        kind => {
            standings.sort_by(|a, b| match (a.mean(), b.mean()) {
                (Some(x), Some(y)) => x.total_cmp(&y).then(a.seed.cmp(&b.seed)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.seed.cmp(&b.seed),
            });
            let scored = standings.iter().filter(|s| s.mean().is_some()).count();
            let advancing = if kind == "group" {
                GROUP_ADVANCE.min(scored)
            } else {
                scored.min(1)
            };
            let outcome = match (kind, advancing) {
                (_, 0) => "no entrant's run produced a model that could be scored: nobody advances"
                    .to_string(),
                ("group", n) => format!("the {n} lowest mean held-out losses of the group advance"),
                _ => match standings.get(1).and_then(Standing::mean) {
                    Some(other) => format!(
                        "advances with a held-out loss of {:.4} against {other:.4}",
                        standings[0].mean().unwrap_or(f64::NAN)
                    ),
                    None => format!(
                        "advances: its opponent's run failed ({})",
                        standings
                            .get(1)
                            .and_then(|s| s.why.clone())
                            .unwrap_or_else(|| "no opponent".into())
                    ),
                },
            };
            (standings.iter().collect(), advancing, outcome)
        }
    };
    let mut tx = db.begin().await?;
    if !db::tournaments::decide_match(&mut *tx, &played.id, &outcome).await? {
        return Ok(());
    }
    for (place, standing) in ranked.iter().enumerate() {
        let rank = place as i64 + 1;
        let advanced = place < advancing;
        db::tournaments::rank_match_entrant(
            &mut *tx,
            &played.id,
            &standing.recipe_id,
            rank,
            advanced,
        )
        .await?;
        let earned = if played.kind == "bye" || standing.losses.iter().all(Option::is_none) {
            0.0
        } else {
            points::for_rank(&tournament.kind, played.round as u32, rank as u32)
        };
        let out = (!advanced).then_some(played.round);
        db::tournaments::score_entry(&mut *tx, &tournament.id, &standing.recipe_id, earned, out)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// After a round is decided: draws the next, or the boss round, or ends the tournament. True when
/// there is more to play.
async fn next_round(organiser: &Organiser, tournament: &TournamentRow) -> Result<bool> {
    let db = organiser.db.pool();
    let matches = db::tournaments::matches(db, &tournament.id).await?;
    let this_round: Vec<&MatchRow> = matches
        .iter()
        .filter(|m| m.round == tournament.round)
        .collect();
    if this_round.iter().any(|m| m.state == MatchState::Playing) {
        return Ok(false);
    }
    let seeds = seeds(organiser, &tournament.id).await?;
    let mut survivors: Vec<String> = db::tournaments::match_entrants(db, &tournament.id)
        .await?
        .into_iter()
        .filter(|e| e.advanced == 1 && this_round.iter().any(|m| m.id == e.match_id))
        .map(|e| e.recipe_id)
        .collect();
    survivors.sort_by_key(|r| seeds.get(r).copied().unwrap_or(i64::MAX));
    let now = now_ms();
    let mut tx = db.begin().await?;
    let boss_played = this_round.iter().any(|m| m.kind == "boss");
    let more = match survivors.as_slice() {
        [] => {
            let reason = "no entrant produced a model that could be scored";
            db::tournaments::change_state(
                &mut *tx,
                &tournament.id,
                TournamentState::Active,
                TournamentState::Cancelled,
                reason,
                now,
            )
            .await?;
            schedule_next(&mut tx, organiser, tournament, now).await?;
            false
        }
        [only] => match &tournament.champion_recipe_id {
            Some(champion) if champion != only && !boss_played => {
                let round = tournament.round + 1;
                let reason = format!("round {round}: the boss round against the champion");
                if db::tournaments::next_round(
                    &mut *tx,
                    &tournament.id,
                    tournament.round,
                    round,
                    &reason,
                    now,
                )
                .await?
                {
                    let entrants = [only, champion];
                    insert_match(
                        &mut tx,
                        tournament,
                        round,
                        0,
                        "boss",
                        boss::TASKS as i64,
                        &entrants,
                    )
                    .await?;
                }
                true
            }
            _ => {
                let reason = if boss_played {
                    "the boss round decided the title".to_string()
                } else {
                    "the last entrant standing takes the title".to_string()
                };
                db::tournaments::complete(&mut *tx, &tournament.id, only, &reason, now).await?;
                schedule_next(&mut tx, organiser, tournament, now).await?;
                false
            }
        },
        many => {
            draw(&mut tx, tournament, tournament.round, many).await?;
            true
        }
    };
    tx.commit().await?;
    Ok(more)
}

async fn schedule_next(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    organiser: &Organiser,
    tournament: &TournamentRow,
    now: Millis,
) -> Result<()> {
    let job = OpenTournament {
        tournament_id: tournament.id.clone(),
    };
    let at = now + organiser.schedule.gap_ms;
    queue::enqueue_at(&mut **tx, &job, at, now).await?;
    Ok(())
}

/// A tournament as its page shows it: every round's matches with each entrant's results.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Bracket {
    pub id: String,
    pub kind: String,
    pub state: TournamentState,
    pub task_type: String,
    pub model_id: String,
    pub hours: i64,
    pub reason: String,
    pub round: i64,
    pub registration_closes_at: Millis,
    pub champion: Option<EntrantName>,
    pub champion_wins: i64,
    pub winner: Option<EntrantName>,
    pub matches: Vec<Match>,
    /// Every entrant by points, most first.
    pub standings: Vec<Placing>,
}

/// A recipe and the miner whose it is.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EntrantName {
    pub recipe_id: String,
    pub recipe: String,
    pub hotkey: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Match {
    pub round: i64,
    pub position: i64,
    /// `group`, `pair`, `bye` or `boss`.
    pub kind: String,
    pub tasks: i64,
    pub state: MatchState,
    pub outcome: String,
    pub entrants: Vec<MatchEntrant>,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MatchEntrant {
    pub name: EntrantName,
    pub rank: Option<i64>,
    pub advanced: bool,
    /// Per task: the held-out loss, or why the run failed.
    pub runs: Vec<RunResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunResult {
    pub task_index: i64,
    pub loss: Option<f64>,
    pub error: Option<String>,
    pub seconds: f64,
    pub attempts: i64,
}

/// An entrant's standing over the whole tournament.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Placing {
    pub name: EntrantName,
    pub seed: i64,
    pub points: f64,
    pub out_in_round: Option<i64>,
}

/// The tournament's bracket, for its public page and `GET /api/v1/tournaments/{id}`.
pub async fn bracket(db: &Database, id: &str) -> Result<Bracket> {
    let db = db.pool();
    let t = db::tournaments::by_id(db, id)
        .await?
        .ok_or(Error::NotFound("tournament"))?;
    let names: HashMap<String, EntrantName> = db::tournaments::recipe_names(db, id)
        .await?
        .into_iter()
        .map(|n| {
            (
                n.recipe_id.clone(),
                EntrantName {
                    recipe_id: n.recipe_id,
                    recipe: n.name,
                    hotkey: n.hotkey,
                },
            )
        })
        .collect();
    let name = |recipe: &str| {
        names.get(recipe).cloned().unwrap_or_else(|| EntrantName {
            recipe_id: recipe.to_string(),
            recipe: "?".into(),
            hotkey: "?".into(),
        })
    };
    let runs = db::tournaments::runs(db, id).await?;
    let entrants = db::tournaments::match_entrants(db, id).await?;
    let matches = db::tournaments::matches(db, id)
        .await?
        .into_iter()
        .map(|m| Match {
            entrants: entrants
                .iter()
                .filter(|e| e.match_id == m.id)
                .map(|e| MatchEntrant {
                    name: name(&e.recipe_id),
                    rank: e.rank,
                    advanced: e.advanced == 1,
                    runs: runs
                        .iter()
                        .filter(|r| r.match_id == m.id && r.recipe_id == e.recipe_id)
                        .map(|r| RunResult {
                            task_index: r.task_index,
                            loss: r.loss,
                            error: r.error.clone(),
                            seconds: r.seconds,
                            attempts: r.attempts,
                        })
                        .collect(),
                })
                .collect(),
            round: m.round,
            position: m.position,
            kind: m.kind,
            tasks: m.tasks,
            state: m.state,
            outcome: m.outcome,
        })
        .collect();
    let mut standings: Vec<Placing> = db::tournaments::entries(db, id)
        .await?
        .into_iter()
        .map(|e| Placing {
            name: name(&e.recipe_id),
            seed: e.seed,
            points: e.points,
            out_in_round: e.out_in_round,
        })
        .collect();
    standings.sort_by(|a, b| b.points.total_cmp(&a.points).then(a.seed.cmp(&b.seed)));
    Ok(Bracket {
        champion: t.champion_recipe_id.as_deref().map(name),
        winner: t.winner_recipe_id.as_deref().map(name),
        id: t.id,
        kind: t.kind,
        state: t.state,
        task_type: t.task_type,
        model_id: t.model_id,
        hours: t.hours,
        reason: t.reason,
        round: t.round,
        registration_closes_at: t.registration_closes_at,
        champion_wins: t.champion_wins,
        matches,
        standings,
    })
}

/// The latest `limit` tournaments' brackets, newest first.
pub async fn recent(db: &Database, limit: i64) -> Result<Vec<Bracket>> {
    let mut brackets = Vec::new();
    for row in db::tournaments::recent(db.pool(), limit).await? {
        brackets.push(bracket(db, &row.id).await?);
    }
    Ok(brackets)
}

/// A miner's standing over every tournament of a kind.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MinerStanding {
    pub hotkey: String,
    pub points: f64,
    pub tournaments: i64,
    pub titles: i64,
}

/// The tournament leaderboard of `kind` (`text` or `image`): points summed over its tournaments.
pub async fn leaderboard(db: &Database, kind: &str) -> Result<Vec<MinerStanding>> {
    let rows = db::tournaments::points_by_miner(db.pool(), kind).await?;
    Ok(rows
        .into_iter()
        .map(|r| MinerStanding {
            hotkey: r.hotkey,
            points: r.points,
            tournaments: r.tournaments,
            titles: r.titles,
        })
        .collect())
}
