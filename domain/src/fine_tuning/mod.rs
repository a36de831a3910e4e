//! Fine-tuning jobs: a customer's request in the shape of OpenAI's fine-tuning API — a base model, a
//! training file, an optional test file and a method — that becomes a competition.
//!
//! A job first waits for its training file to be validated for the task type its method and file
//! give (`validating_files`); background work then creates its task under the id the job chose when it
//! was made, so that doing it twice finds the task made. From then on the job's status is its task's
//! state, in OpenAI's words. Hyperparameters are recorded as sent and never applied: each miner trains
//! with its own recipe, and the job's events say so.

mod job;

pub use job::{
    Checkpoint, Job, JobError, JobEvent, Level, Method, Status, cancel, checkpoints, events, get,
    list,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::accounts::{self, User};
use crate::catalogue;
use crate::clock::now_ms;
use crate::datasets::{self, DatasetState, Format, Mapping, TaskType, ValidationRequest};
use crate::db::{self, fine_tuning_jobs::JobRow};
use crate::error::{Error, Result};
use crate::queue::{self, Queue};
use crate::tasks::{self, NewTask, RunBy};

/// What a customer asks for.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// A base model of the catalogue.
    pub model: String,
    /// The customer's dataset to train on (and, without `validation_file`, to hold the test rows out of).
    pub training_file: String,
    /// The customer's own test file: its rows are the whole secret test split.
    pub validation_file: Option<String>,
    pub method: Method,
    /// As sent; recorded, not applied.
    pub hyperparameters: serde_json::Value,
    pub suffix: Option<String>,
    /// Seeds the choice of test rows; a random one when none is given.
    pub seed: Option<u64>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// The training window; the shortest the task type allows when none is given.
    pub hours_to_complete: Option<u64>,
}

/// Most characters of a suffix (OpenAI's limit).
const MAX_SUFFIX: usize = 64;

/// Checks the request, starts validating its training file and creates the job (`validating_files`)
/// with the background work that starts its task once the file is ready.
pub async fn create(platform: &Platform, owner: &User, request: NewJob) -> Result<Job> {
    if let Some(suffix) = &request.suffix
        && suffix.chars().count() > MAX_SUFFIX
    {
        return Err(Error::invalid(
            "suffix",
            format!("a suffix has at most {MAX_SUFFIX} characters"),
        ));
    }
    let training = datasets::get(&platform.db, owner, &request.training_file)
        .await
        .map_err(|err| match err {
            Error::NotFound(_) => Error::invalid("training_file", "no file of yours has this id"),
            other => other,
        })?;
    if training.format == Format::Zip || training.state == DatasetState::HeldOut {
        let why = if training.format == Format::Zip {
            "this file is an image archive; fine-tuning jobs train on JSONL, JSON, CSV or Parquet files"
        } else {
            "this file is another job's test file: its rows are secret and it cannot train"
        };
        return Err(Error::invalid("training_file", why));
    }
    let task_type = task_type(request.method, &training.columns)?;
    let catalogue = catalogue::catalogue(&platform.db).await?;
    tasks::offered(platform, &catalogue, &request.model, task_type)
        .map_err(|err| as_field(err, "model"))?;
    let bounds = tasks::bounds(&catalogue, task_type)?;
    let hours = request.hours_to_complete.unwrap_or(bounds.min_hours);
    if !(bounds.min_hours..=bounds.max_hours).contains(&hours) {
        return Err(Error::invalid(
            "hours_to_complete",
            format!(
                "a {} job trains for {} to {} hours",
                task_type.as_str(),
                bounds.min_hours,
                bounds.max_hours
            ),
        ));
    }
    if let Some(test) = &request.validation_file {
        datasets::get(&platform.db, owner, test)
            .await
            .map_err(|err| match err {
                Error::NotFound(_) => {
                    Error::invalid("validation_file", "no file of yours has this id")
                }
                other => other,
            })?;
    }
    let seed = request.seed.unwrap_or_else(|| {
        use rand::RngCore;
        rand::rng().next_u64() >> 1
    });
    // A file validated (or being validated) as this job needs it is used as it is; otherwise it is
    // validated now, which refuses with the reason when something that has not ended uses it.
    let fits = training.task_type == Some(task_type)
        && training.test_dataset_id == request.validation_file
        && matches!(
            training.state,
            DatasetState::Ready | DatasetState::Validating
        );
    if !fits {
        let validation = ValidationRequest {
            task_type,
            mapping: None,
            seed: Some(seed),
            test_dataset_id: request.validation_file.clone(),
        };
        datasets::request_validation(&platform.ingest(), owner, &training.id, validation)
            .await
            .map_err(|err| match err {
                Error::Invalid {
                    field: "test_dataset_id",
                    message,
                } => Error::Invalid {
                    field: "validation_file",
                    message,
                },
                Error::Invalid {
                    field: "mapping",
                    message,
                } => Error::Invalid {
                    field: "training_file",
                    message,
                },
                Error::Conflict { message, .. } => Error::Conflict {
                    field: Some("training_file"),
                    message,
                },
                other => other,
            })?;
    }

    let now = now_ms();
    let row = JobRow {
        id: format!("ftjob-{}", uuid::Uuid::now_v7().simple()),
        owner_id: owner.id.clone(),
        model_id: request.model,
        training_file: training.id.clone(),
        validation_file: request.validation_file,
        task_type: task_type.as_str().to_string(),
        method: request.method.as_str().to_string(),
        hyperparameters: request.hyperparameters.to_string(),
        suffix: request.suffix,
        seed: i64::try_from(seed).unwrap_or(i64::MAX),
        metadata: request
            .metadata
            .map(|m| serde_json::to_string(&m).expect("metadata serialises")),
        hours_to_complete: i64::try_from(hours).unwrap_or(i64::MAX),
        task_id: uuid::Uuid::now_v7().to_string(),
        state: job::WAITING.to_string(),
        error_code: None,
        error_message: None,
        error_param: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = platform.db.pool().begin().await?;
    db::fine_tuning_jobs::insert(&mut *tx, &row).await?;
    let mut said = vec![(
        Level::Info,
        format!("Created fine-tuning job {} on {}", row.id, row.model_id),
    )];
    if row.hyperparameters != "{}" && row.hyperparameters != "null" {
        said.push((
            Level::Info,
            format!(
                "Hyperparameters {} are recorded as sent; each miner trains with its own recipe and chooses its own",
                row.hyperparameters
            ),
        ));
    }
    said.push((
        Level::Info,
        format!(
            "Validating training file {} as a {} dataset",
            training.id,
            task_type.as_str()
        ),
    ));
    for (level, message) in said {
        job::record(&mut *tx, &row.id, level, &message, now).await?;
    }
    queue::enqueue(
        &mut *tx,
        &StartJob {
            job_id: row.id.clone(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    job::get(&platform.db, owner, &row.id).await
}

/// The task type a method and a training file's columns give: `dpo` for DPO; for supervised jobs, chat
/// when the file has OpenAI's chat format (`messages`), instruct when it has instruction and output columns.
fn task_type(method: Method, columns: &[String]) -> Result<TaskType> {
    let complete = |task_type: TaskType| {
        Mapping::suggest(task_type, columns)
            .check(task_type, columns)
            .is_ok()
    };
    let found = match method {
        Method::Dpo => [TaskType::Dpo].into_iter().find(|t| complete(*t)),
        Method::Supervised => [TaskType::Chat, TaskType::Instruct]
            .into_iter()
            .find(|t| complete(*t)),
    };
    found.ok_or_else(|| {
        let wanted = match method {
            Method::Dpo => {
                "OpenAI's preference format (input, preferred_output, non_preferred_output) or prompt, chosen and rejected columns"
            }
            Method::Supervised => {
                "OpenAI's chat format (a \"messages\" list on each line) or instruction and output columns"
            }
        };
        Error::invalid(
            "training_file",
            format!(
                "a {} job needs {wanted}; this file's columns are {}",
                method.as_str(),
                columns.join(", ")
            ),
        )
    })
}

/// `err`, blaming the request's field `field` when it is about the input.
fn as_field(err: Error, field: &'static str) -> Error {
    match err {
        Error::Invalid { message, .. } => Error::Invalid { field, message },
        other => other,
    }
}

/// The job that starts a fine-tuning job's task once its training file is validated.
#[derive(Debug, Serialize, Deserialize)]
pub struct StartJob {
    pub job_id: String,
}

/// How long a job waiting for validation waits before it looks again.
const LOOK_AGAIN_MS: i64 = 1_000;

impl queue::Job for StartJob {
    const NAME: &'static str = "start_fine_tuning_job";
    // A look at the file and a task made: quick, and not held up behind the validation it waits for.
    const QUEUE: Queue = Queue::Fast;
    type Context = Platform;

    fn subject(&self) -> &str {
        &self.job_id
    }

    async fn run(self, platform: Platform) -> Result<()> {
        start(&platform, &self.job_id).await
    }
}

/// Starts job `id`'s task if its training file is ready, fails the job if the file was refused, and
/// looks again later while it is being validated. Does nothing unless the job is waiting for its files.
pub async fn start(platform: &Platform, id: &str) -> Result<()> {
    let db = &platform.db;
    let Some(row) = db::fine_tuning_jobs::by_id(db.pool(), id).await? else {
        return Ok(());
    };
    if row.state != job::WAITING {
        return Ok(());
    }
    let Some(owner) = accounts::user_by_id(db, &row.owner_id).await? else {
        return Ok(());
    };
    let dataset = match datasets::get(db, &owner, &row.training_file).await {
        Ok(dataset) => dataset,
        Err(Error::NotFound(_)) => {
            let why = "the training file was deleted before it was validated";
            return job::fail(db, id, "invalid_training_file", why, Some("training_file")).await;
        }
        Err(other) => return Err(other),
    };
    let task_type = TaskType::parse(&row.task_type).ok_or_else(|| {
        Error::Internal(format!("fine-tuning job {id} has a malformed task type"))
    })?;
    let validated_for_this_job =
        dataset.task_type == Some(task_type) && dataset.test_dataset_id == row.validation_file;
    match dataset.state {
        DatasetState::Validating if validated_for_this_job => {
            let now = now_ms();
            let again = StartJob {
                job_id: id.to_string(),
            };
            queue::enqueue_at(db.pool(), &again, now + LOOK_AGAIN_MS, now).await?;
            Ok(())
        }
        DatasetState::Refused if validated_for_this_job => {
            let why = dataset
                .error
                .unwrap_or_else(|| "the training file was refused".into());
            job::fail(db, id, "invalid_training_file", &why, Some("training_file")).await
        }
        DatasetState::Ready if validated_for_this_job => {
            let request = NewTask {
                dataset_id: dataset.id.clone(),
                model_id: row.model_id.clone(),
                hours_to_complete: u64::try_from(row.hours_to_complete).unwrap_or(0),
                run_by: RunBy::Miners,
                reward_functions: None,
            };
            let why = format!("created by fine-tuning job {id}");
            let task = match tasks::create_as(platform, &owner, &request, &row.task_id, &why).await
            {
                Ok(task) => task,
                Err(err @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
                    return job::fail(db, id, "invalid_request", &err.to_string(), None).await;
                }
                Err(other) => return Err(other),
            };
            let report = dataset.report.as_ref();
            let message = format!(
                "Files validated: {} training rows, {} held out as the secret test set; task {} offers the job to {} to {} miners",
                report.map_or(0, |r| r.train_rows),
                report.map_or(0, |r| r.test_rows),
                task.id,
                task.pool_min,
                task.pool_max
            );
            if !job::started(db, id, &message).await? {
                // The job was cancelled while its task was being made: the task goes with it.
                match tasks::cancel(db, &owner, &task.id).await {
                    Ok(_) | Err(Error::Conflict { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(())
        }
        _ => {
            let why = "the training file was validated again for something else before this job started; create the job again";
            job::fail(db, id, "invalid_training_file", why, Some("training_file")).await
        }
    }
}
