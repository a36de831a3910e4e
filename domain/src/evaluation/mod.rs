//! Evaluating a task's submissions once its deadline has passed: each submission's artifact goes
//! through the configured evaluator (the contract in `docs/evaluator.md`) on a runner; then the task
//! is scored and ends in `success`, or in `failure` when no submission could be evaluated.
//!
//! Whose fault a failure is decides what it costs. The submission's own faults (an artifact that is
//! not a tar or holds links, a model the evaluator refuses) fail its evaluation at once and cost its
//! miner a point. The platform's (the store, the runner, the engine, an evaluator that crashes) are
//! retried, up to four attempts in all; if they persist the task is stopped with the reason and no
//! points, for an admin to evaluate again once mended. Attempts are recorded as they end, so a job cut
//! short carries on where it stood.

pub mod baseline;

pub use crate::sandbox::{
    Evaluator, Fault, Inputs, REFUSED_EXIT, Score, Scoring, Subject, score_model,
};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::db::{self, Database, evaluations::EvaluationRow, submissions::SubmissionRow};
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};
use crate::sandbox::artifact;
use crate::scoring::{self, Entry, Evaluation, Leaderboards};
use crate::states::EvaluationState;
use crate::storage::ObjectStore;
use crate::tasks::state::TaskState;
use crate::tasks::task::{self as tasks, RunBy, Task};
use crate::tasks::window;

/// Attempts at one submission when the platform fails to evaluate it (Gradients: 4).
pub const MAX_ATTEMPTS: i64 = 4;

/// What evaluating submissions needs: the database, the store that holds the test splits and the
/// artifacts, an evaluator (a server without one runs no evaluation jobs), and the leaderboards its
/// scores change.
#[derive(Clone, Debug)]
pub struct Referee {
    pub db: Database,
    pub store: Arc<dyn ObjectStore>,
    pub evaluator: Evaluator,
    pub leaderboards: Leaderboards,
}

impl Referee {
    pub fn tally(&self) -> Tally {
        Tally {
            db: self.db.clone(),
            leaderboards: self.leaderboards.clone(),
        }
    }
}

/// What scoring an evaluated task needs: the database and the leaderboards it changes.
#[derive(Clone, Debug)]
pub struct Tally {
    pub db: Database,
    pub leaderboards: Leaderboards,
}

/// The job that starts scoring a task once its window closed: it moves the task to `evaluating` and
/// queues one [`EvaluateSubmission`] per submission not evaluated yet, or [`ScoreTask`] when none is
/// left. Each step holds a worker for one submission at most.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EvaluateTask {
    pub task_id: String,
}

impl Job for EvaluateTask {
    const NAME: &'static str = "evaluate_task";
    const QUEUE: Queue = Queue::Evaluation;
    type Context = Referee;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, referee: Referee) -> Result<()> {
        evaluate_task(&referee, &self.task_id).await
    }

    async fn gave_up(self, referee: Referee, attempts: i64) -> Result<()> {
        job_gave_up(&referee.db, &self.task_id, attempts).await
    }
}

/// The job that evaluates one submission of an evaluating task, trying up to [`MAX_ATTEMPTS`] times
/// when the platform is at fault.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EvaluateSubmission {
    pub task_id: String,
    pub submission_id: String,
}

impl Job for EvaluateSubmission {
    const NAME: &'static str = "evaluate_submission";
    const QUEUE: Queue = Queue::Evaluation;
    type Context = Referee;

    /// The task, so that it finds its place in the queue.
    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, referee: Referee) -> Result<()> {
        evaluate_submission(&referee, &self.task_id, &self.submission_id).await
    }

    async fn gave_up(self, referee: Referee, attempts: i64) -> Result<()> {
        job_gave_up(&referee.db, &self.task_id, attempts).await
    }
}

/// The job that scores an evaluating task once each of its submissions is evaluated or failed.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ScoreTask {
    pub task_id: String,
}

impl Job for ScoreTask {
    const NAME: &'static str = "score_task";
    const QUEUE: Queue = Queue::Fast;
    type Context = Tally;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, tally: Tally) -> Result<()> {
        score_task(&tally, &self.task_id).await
    }
}

/// Moves task `id` to `evaluating` (from `preevaluation`) and queues the evaluation of each submission
/// not evaluated yet, or its scoring when none is left. Does nothing unless the task is in one of those
/// states.
pub async fn evaluate_task(referee: &Referee, id: &str) -> Result<()> {
    let Some(task) = tasks::get_any(&referee.db, id).await? else {
        return Ok(());
    };
    if !matches!(task.state, TaskState::Preevaluation | TaskState::Evaluating) {
        return Ok(());
    }
    let submissions = db::submissions::for_task(referee.db.pool(), id).await?;
    if task.state == TaskState::Preevaluation {
        let reason = format!(
            "evaluating {} submissions on the held-out split",
            submissions.len()
        );
        tasks::transition(
            &referee.db,
            id,
            TaskState::Preevaluation,
            TaskState::Evaluating,
            &reason,
        )
        .await?;
    }
    let evaluations = evaluations_of(&referee.db, id).await?;
    let now = now_ms();
    let mut tx = referee.db.pool().begin().await?;
    if task.base_loss.is_none() {
        let job = baseline::ScoreBaseModel {
            task_id: id.to_string(),
        };
        queue::enqueue(&mut *tx, &job, now).await?;
    }
    let mut left = 0;
    for submission in submissions.iter().filter(|s| !evaluated(&evaluations, s)) {
        let job = EvaluateSubmission {
            task_id: id.to_string(),
            submission_id: submission.id.clone(),
        };
        queue::enqueue(&mut *tx, &job, now).await?;
        left += 1;
    }
    if left == 0 {
        let job = ScoreTask {
            task_id: id.to_string(),
        };
        queue::enqueue(&mut *tx, &job, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a task's models are scored on: its type, base model, splits and reward functions.
fn subject_of(task: &Task) -> Subject<'_> {
    Subject {
        id: &task.id,
        task_type: task.task_type,
        model_id: &task.model_id,
        splits: &task.splits,
        reward_functions: &task.reward_functions,
    }
}

async fn evaluations_of(db: &Database, task_id: &str) -> Result<HashMap<String, EvaluationRow>> {
    Ok(db::evaluations::for_task(db.pool(), task_id)
        .await?
        .into_iter()
        .map(|row| (row.submission_id.clone(), row))
        .collect())
}

/// Whether `submission` has its evaluation's last word: a loss, or a failure that is its own.
fn evaluated(evaluations: &HashMap<String, EvaluationRow>, submission: &SubmissionRow) -> bool {
    evaluations
        .get(&submission.id)
        .is_some_and(|e| e.state != EvaluationState::Pending)
}

/// Evaluates one submission of evaluating task `task_id`, unless it is evaluated already (a job run
/// twice), then queues the task's scoring once every submission is evaluated. A submission the
/// platform could not evaluate in [`MAX_ATTEMPTS`] tries stops the task.
async fn evaluate_submission(referee: &Referee, task_id: &str, submission_id: &str) -> Result<()> {
    let Some(task) = tasks::get_any(&referee.db, task_id).await? else {
        return Ok(());
    };
    if task.state != TaskState::Evaluating {
        return Ok(());
    }
    let evaluator = &referee.evaluator;
    let submissions = db::submissions::for_task(referee.db.pool(), task_id).await?;
    let Some(submission) = submissions.iter().find(|s| s.id == submission_id) else {
        return Ok(());
    };
    let mut evaluations = evaluations_of(&referee.db, task_id).await?;
    if !evaluated(&evaluations, submission) {
        let work = tempfile::tempdir()
            .map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
        let inputs =
            Inputs::prepare(&*referee.store, evaluator, &subject_of(&task), work.path()).await?;
        let mut attempts = evaluations.get(&submission.id).map_or(0, |e| e.attempts);
        let mut pending = true;
        while pending && attempts < MAX_ATTEMPTS {
            attempts += 1;
            let (result, log, scored) = attempt(
                referee,
                evaluator,
                &inputs,
                submission,
                attempts,
                work.path(),
            )
            .await;
            let (state, score, error) = match result {
                Ok(score) => (EvaluationState::Done, Some(score), None),
                Err(Fault::Submission(why)) => (EvaluationState::Failed, None, Some(why)),
                Err(Fault::Platform(why)) => (EvaluationState::Pending, None, Some(why)),
            };
            let (loss, examples) = match score {
                Some(Score { loss, examples }) => (Some(loss), examples),
                None => (None, None),
            };
            let row = EvaluationRow {
                submission_id: submission.id.clone(),
                task_id: task_id.to_string(),
                attempts,
                state,
                loss,
                error,
                log,
                updated_at: now_ms(),
                object_key: Some(scored.object_key),
                artifact_sha256: (!scored.sha256.is_empty()).then_some(scored.sha256),
                content_sha256: scored.content,
                examples,
            };
            db::evaluations::record(referee.db.pool(), &row).await?;
            pending = state == EvaluationState::Pending;
            evaluations.insert(submission.id.clone(), row);
        }
        if pending {
            let why = evaluations
                .get(&submission.id)
                .and_then(|e| e.error.clone())
                .unwrap_or_default();
            return stop(&referee.db, &task, &why).await;
        }
        // Read again: the task's other submissions may have been evaluated meanwhile.
        evaluations = evaluations_of(&referee.db, task_id).await?;
    }
    if submissions.iter().all(|s| evaluated(&evaluations, s)) {
        let job = ScoreTask {
            task_id: task_id.to_string(),
        };
        queue::enqueue(referee.db.pool(), &job, now_ms()).await?;
    }
    Ok(())
}

/// Scores evaluating task `id` once each of its submissions is evaluated; does nothing before, or once
/// it is scored (the move out of `evaluating` happens once).
async fn score_task(tally: &Tally, id: &str) -> Result<()> {
    let Some(task) = tasks::get_any(&tally.db, id).await? else {
        return Ok(());
    };
    if task.state != TaskState::Evaluating {
        return Ok(());
    }
    let submissions = db::submissions::for_task(tally.db.pool(), id).await?;
    let evaluations = evaluations_of(&tally.db, id).await?;
    if !submissions.iter().all(|s| evaluated(&evaluations, s)) {
        return Ok(());
    }
    score(tally, &task, &submissions, &evaluations).await
}

/// Ends an evaluating task whose submissions the platform could not evaluate, with no points for
/// anyone: its miners did nothing wrong. An admin can have it evaluated again once mended.
pub async fn stop(db: &Database, task: &Task, why: &str) -> Result<()> {
    let reason = format!(
        "the platform could not evaluate the submissions ({why}); no points were recorded, and an \
         admin can have the task evaluated again once this is mended"
    );
    tracing::error!(task = %task.id, %why, "evaluation stopped by a platform failure");
    tasks::transition(
        db,
        &task.id,
        TaskState::Evaluating,
        TaskState::Failure,
        &reason,
    )
    .await?;
    Ok(())
}

/// The evaluation job of task `id` failed its last attempt (the store, the database or the base model
/// were missing each time): the task is stopped as `stop` does, rather than left evaluating forever.
pub async fn job_gave_up(db: &Database, id: &str, attempts: i64) -> Result<()> {
    match tasks::get_any(db, id).await? {
        Some(task) if task.state == TaskState::Evaluating => {
            let why = format!(
                "the evaluation job failed {attempts} times; the job queue holds the error"
            );
            stop(db, &task, &why).await
        }
        _ => Ok(()),
    }
}

/// Has an ended task's submissions evaluated again, as an admin (once an evaluator is mended, say):
/// the task moves back to `evaluating` with the admin's reason among its events (the customer reads
/// it) and in the admins' log, its evaluations, scores and winner are withdrawn and the evaluation job
/// is queued, all in one transaction. The new scores replace the old on the leaderboards.
pub async fn reevaluate(tally: &Tally, admin: &User, id: &str, reason: &str) -> Result<Task> {
    admin.require_admin("evaluate a task again")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the task is evaluated again; the customer reads it",
        ));
    }
    let db = &tally.db;
    let task = tasks::get_any(db, id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    let conflict = |message: String| Error::Conflict {
        field: None,
        message,
    };
    if !task.state.can_be_reevaluated() {
        return Err(conflict(format!(
            "the task is {}: only a task that ended in success or failure can be evaluated again",
            task.state.as_str()
        )));
    }
    if db::submissions::for_task(db.pool(), id).await?.is_empty() {
        return Err(conflict(
            "the task has no submissions to evaluate".to_string(),
        ));
    }
    let why = format!("evaluated again at an admin's request: {reason}");
    let mut tx = db.pool().begin().await?;
    if !tasks::transition_in(
        &mut tx,
        id,
        task.state,
        TaskState::Evaluating,
        &why,
        now_ms(),
    )
    .await?
    {
        return Err(conflict(
            "the task changed meanwhile; look at it again".to_string(),
        ));
    }
    db::evaluations::delete_for_task(&mut *tx, id).await?;
    db::scores::delete_for_task(&mut *tx, id).await?;
    db::tasks::set_winner(&mut *tx, id, None).await?;
    let job = EvaluateTask {
        task_id: id.to_string(),
    };
    queue::enqueue(&mut *tx, &job, now_ms()).await?;
    crate::admin_log::record(&mut *tx, &admin.email, "reevaluate_task", id, reason).await?;
    tx.commit().await?;
    tally.leaderboards.invalidate();
    tasks::get_any(db, id).await?.ok_or(Error::NotFound("task"))
}

/// The entries of a task's pool that submitted nothing: each accepted miner without a submission took
/// a place in the pool, and scores as a failure.
pub async fn no_shows<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    task: &Task,
    submissions: &[SubmissionRow],
    at: Millis,
) -> Result<Vec<Entry>> {
    let accepted = db::offers::accepted_miners(exec, &task.id, task.round as i64).await?;
    Ok(accepted
        .into_iter()
        .filter(|miner| submissions.iter().all(|s| &s.miner_id != miner))
        .map(|miner| Entry {
            miner,
            content_digest: None,
            received_at: at,
            evaluation: Evaluation::Failed(
                "accepted the offer but submitted no model by the deadline".into(),
            ),
        })
        .collect())
}

/// Scores the task from its evaluations and ends it, in one transaction that records nothing if the
/// task has moved meanwhile (cancelled during evaluation, say). Champion-mode tasks award no points:
/// the champion's model is the winner if it could be evaluated.
async fn score(
    tally: &Tally,
    task: &Task,
    submissions: &[SubmissionRow],
    evaluations: &HashMap<String, EvaluationRow>,
) -> Result<()> {
    let mut entries: Vec<Entry> = submissions
        .iter()
        .map(|s| {
            let e = evaluations.get(&s.id);
            let evaluation =
                match e.and_then(|e| e.loss.filter(|_| e.state == EvaluationState::Done)) {
                    Some(loss) => Evaluation::Loss(loss),
                    None => Evaluation::Failed(
                        e.and_then(|e| e.error.clone())
                            .unwrap_or_else(|| "not evaluated".into()),
                    ),
                };
            Entry {
                miner: s.miner_id.clone(),
                content_digest: e.and_then(|e| e.content_sha256.clone()),
                received_at: s.received_at,
                evaluation,
            }
        })
        .collect();
    let awards_points = task.run_by == RunBy::Miners;
    if awards_points {
        let at = task.deadline_at.unwrap_or_else(now_ms);
        entries.extend(no_shows(tally.db.pool(), task, submissions, at).await?);
    }
    let scores = scoring::score_task(&entries);
    let best = entries
        .iter()
        .zip(&scores)
        .filter(|(entry, _)| matches!(entry.evaluation, Evaluation::Loss(_)))
        .find(|(_, score)| score.rank == Some(1));
    let winner = best.and_then(|(entry, _)| submissions.iter().find(|s| s.miner_id == entry.miner));
    let (to, reason) = match best {
        Some((entry, _)) => {
            let loss = match entry.evaluation {
                Evaluation::Loss(loss) => loss,
                Evaluation::Failed(_) => f64::NAN,
            };
            let points = if awards_points {
                ""
            } else {
                "; champion mode awards no points"
            };
            (
                TaskState::Success,
                format!(
                    "{} submissions scored; the best held-out loss is {loss:.4}{points}",
                    submissions.len()
                ),
            )
        }
        None => (
            TaskState::Failure,
            "no submission could be evaluated; see each submission's reason".to_string(),
        ),
    };
    let now = now_ms();
    let mut tx = tally.db.pool().begin().await?;
    if !tasks::transition_in(&mut tx, &task.id, TaskState::Evaluating, to, &reason, now).await? {
        return Ok(());
    }
    if awards_points {
        scoring::record_in(&mut tx, &task.id, &scores, now).await?;
    }
    db::tasks::set_winner(&mut *tx, &task.id, winner.map(|s| s.id.as_str())).await?;
    tx.commit().await?;
    tally.leaderboards.invalidate();
    Ok(())
}

/// One attempt at one submission: its loss, or whose fault it is that there is none; the evaluator's
/// log; and the artifact as read.
async fn attempt(
    referee: &Referee,
    evaluator: &Evaluator,
    inputs: &Inputs,
    submission: &SubmissionRow,
    number: i64,
    dir: &Path,
) -> (std::result::Result<Score, Fault>, String, artifact::Scored) {
    let mut scored = artifact::Scored {
        object_key: submission.object_key.clone(),
        ..Default::default()
    };
    let result = match read(referee, submission, number, dir, &mut scored).await {
        Ok(unpacked) => {
            let output = dir.join(format!("{}-{number}-output", submission.id));
            match std::fs::create_dir_all(&output) {
                Ok(()) => match score_model(
                    evaluator,
                    inputs,
                    &unpacked,
                    &output,
                    format!("evaluate-{}", submission.id),
                )
                .await
                {
                    Ok((score, log)) => return (Ok(score), log, scored),
                    Err((fault, log)) => return (Err(fault), log, scored),
                },
                Err(err) => Err(Fault::Platform(format!("a work directory: {err}"))),
            }
        }
        Err(fault) => Err(fault),
    };
    (result, String::new(), scored)
}

/// Reads the submission's artifact from the object its row names, checks its bytes against the
/// SHA-256 recorded at receipt and unpacks it; returns the directory.
async fn read(
    referee: &Referee,
    submission: &SubmissionRow,
    number: i64,
    dir: &Path,
    scored: &mut artifact::Scored,
) -> std::result::Result<std::path::PathBuf, Fault> {
    let store_fault =
        |err: String| Fault::Platform(format!("the artifact could not be read: {err}"));
    let tar = dir.join(format!("{}-{number}.tar", submission.id));
    let stream = window::artifact(&*referee.store, submission)
        .await
        .map_err(|err| store_fault(err.to_string()))?;
    scored.sha256 = artifact::save(stream, &tar)
        .await
        .map_err(|err| store_fault(err.to_string()))?;
    if scored.sha256 != submission.sha256 {
        return Err(Fault::Platform(format!(
            "the stored artifact's SHA-256 is {}, not the {} received",
            scored.sha256, submission.sha256
        )));
    }
    let unpacked = dir.join(format!("{}-{number}", submission.id));
    std::fs::create_dir_all(&unpacked)
        .map_err(|err| Fault::Platform(format!("a work directory: {err}")))?;
    let into = unpacked.clone();
    let content = tokio::task::spawn_blocking(move || {
        artifact::unpack(&tar, &into)?;
        artifact::content_digest(&into)
            .map_err(|err| Fault::Platform(format!("reading the unpacked artifact: {err}")))
    })
    .await
    .map_err(|err| Fault::Platform(err.to_string()))??;
    scored.content = Some(content);
    Ok(unpacked)
}
