-- Fan-out: each round of offers to a task's pool, and the window once the pool is set.
ALTER TABLE tasks ADD COLUMN round BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN offers_close_at BIGINT;
ALTER TABLE tasks ADD COLUMN window_starts_at BIGINT;
ALTER TABLE tasks ADD COLUMN deadline_at BIGINT;

CREATE TABLE offers (
    id         TEXT PRIMARY KEY,
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    miner_id   TEXT NOT NULL REFERENCES miners (id) ON DELETE CASCADE,
    -- the task's fan-out round the offer belongs to
    round      BIGINT NOT NULL,
    -- offered | accepted | declined
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    UNIQUE (task_id, miner_id, round)
);
CREATE INDEX offers_by_miner ON offers (miner_id, state, expires_at);
CREATE INDEX offers_by_task ON offers (task_id, round, state);
