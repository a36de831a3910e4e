-- Every action an admin takes (catalogue changes, suspensions, retried jobs, cancelled tasks), written
-- in the same transaction as the action: who, what, on what, with which reason or values, and when.
CREATE TABLE admin_actions (
    id      TEXT PRIMARY KEY,
    -- the admin's email, or "command line" for `crucible admin`
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX admin_actions_by_time ON admin_actions (at);
