-- A customer's webhooks (a URL and the secret that signs each delivery) and every delivery made: one
-- per webhook and terminal state of a task, retried with backoff, its attempts and last answer kept.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id);

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL,
    event       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    state       TEXT NOT NULL,
    last_answer TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (webhook_id, task_id, event)
);
