-- Datasets uploaded by customers, and the background-job queue that validates them.
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    -- uploaded | validating | ready | refused
    state       TEXT NOT NULL,
    format      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    columns     TEXT NOT NULL,
    preview     TEXT NOT NULL,
    task_type   TEXT,
    mapping     TEXT,
    seed        BIGINT,
    report      TEXT,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX datasets_by_owner ON datasets (owner_id, created_at);

-- Work claimed by any replica: a job is queued, claimed under a lease (a worker that dies loses it when
-- the lease ends), and done or failed. Failed attempts are retried with backoff up to max_attempts.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    -- queued | running | done | failed
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_at       BIGINT NOT NULL,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_by_readiness ON jobs (state, run_at);
