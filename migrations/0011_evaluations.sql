-- Each submission's evaluation: how many attempts it has had, and how it ended (`done` with the
-- held-out loss, or `failed` with the reason after the last attempt).
CREATE TABLE evaluations (
    submission_id TEXT PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempts      BIGINT NOT NULL,
    state         TEXT NOT NULL,
    loss          DOUBLE PRECISION,
    error         TEXT,
    log           TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX evaluations_by_task ON evaluations (task_id);
