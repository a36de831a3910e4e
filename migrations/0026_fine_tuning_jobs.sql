-- Fine-tuning jobs as OpenAI's API has them (`/v1/fine_tuning/jobs`): a customer's request that waits
-- for its training file to be validated, then becomes the task `task_id` names (chosen when the job is
-- created, so that starting the task twice finds it made). Until then the job's own state says where it
-- is: `validating_files`, `started` (the task exists and its state is the job's), `failed` or `cancelled`.
CREATE TABLE fine_tuning_jobs (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model_id          TEXT NOT NULL,
    training_file     TEXT NOT NULL REFERENCES datasets (id),
    validation_file   TEXT REFERENCES datasets (id),
    task_type         TEXT NOT NULL,
    method            TEXT NOT NULL,
    -- what the customer asked for, recorded as sent: miners choose their own
    hyperparameters   TEXT NOT NULL,
    suffix            TEXT,
    seed              BIGINT NOT NULL,
    metadata          TEXT,
    hours_to_complete BIGINT NOT NULL,
    task_id           TEXT NOT NULL,
    state             TEXT NOT NULL,
    error_code        TEXT,
    error_message     TEXT,
    error_param       TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX fine_tuning_jobs_by_owner ON fine_tuning_jobs (owner_id, created_at);

-- The job's own events before its task exists (the task's events follow them).
CREATE TABLE fine_tuning_job_events (
    id       TEXT PRIMARY KEY,
    job_id   TEXT NOT NULL REFERENCES fine_tuning_jobs (id) ON DELETE CASCADE,
    level    TEXT NOT NULL,
    message  TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX fine_tuning_job_events_by_job ON fine_tuning_job_events (job_id, at);

-- A file (dataset) its owner deleted: gone from their lists and lookups, its uploaded bytes removed;
-- the row stays for the tasks that name it.
ALTER TABLE datasets ADD COLUMN deleted_at BIGINT;
