//! The base model's own score: once per task, when its evaluation starts, the evaluator scores the
//! task's base model on the held-out split as if it were a submission, and the task keeps that loss
//! (`tasks.base_loss`). Each submission's improvement is counted from it. It decides nothing: it is
//! queued before the submissions' evaluations but none waits for it, and when the evaluator cannot
//! score the base the task shows no improvement.

use super::{Fault, Inputs, Referee, score_model};
use crate::db;
use crate::error::{Error, Result};
use crate::queue::{Job, Queue};
use crate::tasks::task as tasks;

/// The job that measures task `task_id`'s base model once (a second run finds it measured).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ScoreBaseModel {
    pub task_id: String,
}

impl Job for ScoreBaseModel {
    const NAME: &'static str = "score_base_model";
    const QUEUE: Queue = Queue::Evaluation;
    /// Before the task's submissions, so that it is measured by the time they are scored.
    const PRIORITY: i64 = 1;
    type Context = Referee;

    fn subject(&self) -> &str {
        &self.task_id
    }

    async fn run(self, referee: Referee) -> Result<()> {
        score_base_model(&referee, &self.task_id).await
    }
}

async fn score_base_model(referee: &Referee, task_id: &str) -> Result<()> {
    let Some(task) = tasks::get_any(&referee.db, task_id).await? else {
        return Ok(());
    };
    if task.base_loss.is_some() {
        return Ok(());
    }
    let evaluator = &referee.evaluator;
    let work =
        tempfile::tempdir().map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
    let subject = super::subject_of(&task);
    let inputs = Inputs::prepare(&*referee.store, evaluator, &subject, work.path()).await?;
    let output = work.path().join("base-output");
    std::fs::create_dir_all(&output)
        .map_err(|err| Error::Internal(format!("a work directory: {err}")))?;
    match score_model(
        evaluator,
        &inputs,
        inputs.base_model(),
        &output,
        format!("base-{task_id}"),
    )
    .await
    {
        Ok((score, _)) => {
            db::tasks::record_base_loss(referee.db.pool(), task_id, score.loss).await?;
        }
        // The evaluator's answer that it cannot score this base is final: the task shows no improvement.
        Err((Fault::Submission(why), _)) => {
            tracing::warn!(
                task = task_id,
                "the evaluator cannot score the base model: {why}"
            );
        }
        // The platform's failure is retried as the queue retries any job.
        Err((Fault::Platform(why), _)) => {
            return Err(Error::Internal(format!(
                "the base model of task {task_id} could not be scored: {why}"
            )));
        }
    }
    Ok(())
}
