-- Ended tasks waiting to be announced (the webhooks relay reads them): a row is written in the
-- transaction that ends a task, and taken, once, in the transaction that queues its webhook deliveries.
-- The tasks workflow knows nothing of webhooks; webhooks learn of ended tasks only from here.
CREATE TABLE task_outbox (
    event_id TEXT PRIMARY KEY,
    task_id  TEXT NOT NULL,
    state    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       BIGINT NOT NULL
);
