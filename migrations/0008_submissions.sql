-- Each miner's latest submission to a task: a model artifact in the object store, its SHA-256 and
-- the server's time of receipt. A new submission before the deadline replaces the old one.
CREATE TABLE submissions (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    miner_id    TEXT NOT NULL REFERENCES miners (id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (task_id, miner_id)
);
