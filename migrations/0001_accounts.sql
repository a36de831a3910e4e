-- Accounts, their API keys, browser sessions and the sign-in throttle.
-- Portable SQL: the same file runs on SQLite and PostgreSQL. Ids are UUID text, times are Unix milliseconds.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'miner', 'admin')),
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE sign_in_failures (
    id     TEXT PRIMARY KEY,
    email  TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (email, at);

-- Deployment-wide values created once and shared by every replica (the signing secret, for example).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
