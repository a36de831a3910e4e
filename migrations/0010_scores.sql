-- Each miner's score on a scored task: its points (+3, 0 or -1), its place among the valid submissions
-- and the reason. One row per task and miner, written once, so scoring a task twice changes nothing.
CREATE TABLE scores (
    id        TEXT PRIMARY KEY,
    task_id   TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    miner_id  TEXT NOT NULL REFERENCES miners (id) ON DELETE CASCADE,
    points    BIGINT NOT NULL,
    rank      BIGINT,
    reason    TEXT NOT NULL,
    scored_at BIGINT NOT NULL,
    UNIQUE (task_id, miner_id)
);
CREATE INDEX scores_by_time ON scores (scored_at);
