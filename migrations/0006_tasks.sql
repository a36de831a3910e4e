-- Fine-tuning tasks and their event log: every change of state is a row with a reason.
CREATE TABLE tasks (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    dataset_id        TEXT NOT NULL REFERENCES datasets (id),
    task_type         TEXT NOT NULL,
    model_id          TEXT NOT NULL REFERENCES models (id),
    hours_to_complete BIGINT NOT NULL,
    -- the states of DESIGN.md (Gradients' names) plus cancelled
    state             TEXT NOT NULL,
    pool_min          BIGINT NOT NULL,
    pool_max          BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX tasks_by_owner ON tasks (owner_id, created_at);
CREATE INDEX tasks_by_state ON tasks (state, updated_at);

CREATE TABLE task_events (
    id         TEXT PRIMARY KEY,
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX task_events_by_task ON task_events (task_id, at);
