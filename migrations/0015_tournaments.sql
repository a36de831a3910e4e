-- Miners' training recipes: a tar build context with a Dockerfile, kept as uploaded and built into an
-- image on a trainer host; the image's digest is recorded, and only a built recipe can enter a tournament.
CREATE TABLE recipes (
    id           TEXT PRIMARY KEY,
    miner_id     TEXT NOT NULL REFERENCES miners (id),
    name         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    -- uploaded | built | failed
    state        TEXT NOT NULL,
    image_tag    TEXT,
    image_digest TEXT,
    -- the build's last lines, or why it failed
    build_log    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX recipes_by_miner ON recipes (miner_id);

-- A tournament: every entrant's recipe trains on the same tasks (the dataset's training split, the same
-- base model and time), scored on the dataset's held-out split.
CREATE TABLE tournaments (
    id                     TEXT PRIMARY KEY,
    -- text | image
    kind                   TEXT NOT NULL,
    -- pending | active | completed | cancelled
    state                  TEXT NOT NULL,
    dataset_id             TEXT NOT NULL REFERENCES datasets (id),
    task_type              TEXT NOT NULL,
    model_id               TEXT NOT NULL,
    -- the time each run has, in the platform's hours
    hours                  BIGINT NOT NULL,
    min_entrants           BIGINT NOT NULL,
    registration_closes_at BIGINT NOT NULL,
    -- how many times registration was extended for want of entrants
    registration_retries   BIGINT NOT NULL,
    round                  BIGINT NOT NULL,
    -- the champion defending the title, and how many titles in a row it holds
    champion_recipe_id     TEXT REFERENCES recipes (id),
    champion_wins          BIGINT NOT NULL,
    winner_recipe_id       TEXT REFERENCES recipes (id),
    -- the last change, in words
    reason                 TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX tournaments_by_state ON tournaments (state, created_at);

CREATE TABLE tournament_entries (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id),
    recipe_id     TEXT NOT NULL REFERENCES recipes (id),
    miner_id      TEXT NOT NULL REFERENCES miners (id),
    -- 0 is the best seed (the earliest entry)
    seed          BIGINT NOT NULL,
    -- the round it went out in; NULL while it is still in
    out_in_round  BIGINT,
    points        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tournament_id, recipe_id)
);

-- The matches of a round: a group, a pair, a bye, or the boss round; each plays `tasks` tasks.
CREATE TABLE tournament_matches (
    id            TEXT PRIMARY KEY,
    tournament_id TEXT NOT NULL REFERENCES tournaments (id),
    round         BIGINT NOT NULL,
    position      BIGINT NOT NULL,
    -- group | pair | bye | boss
    kind          TEXT NOT NULL,
    tasks         BIGINT NOT NULL,
    -- playing | decided
    state         TEXT NOT NULL,
    -- who advanced and why, once decided
    outcome       TEXT NOT NULL,
    UNIQUE (tournament_id, round, position)
);

CREATE TABLE tournament_match_entrants (
    match_id  TEXT NOT NULL REFERENCES tournament_matches (id),
    recipe_id TEXT NOT NULL REFERENCES recipes (id),
    -- 1 for the winner of the match, once decided
    rank      BIGINT,
    -- 1 when it goes on to the next round
    advanced  BIGINT NOT NULL,
    PRIMARY KEY (match_id, recipe_id)
);

-- One recipe's run on one task of a match: trained in a container on a trainer host, then evaluated.
CREATE TABLE tournament_runs (
    match_id   TEXT NOT NULL REFERENCES tournament_matches (id),
    recipe_id  TEXT NOT NULL REFERENCES recipes (id),
    task_index BIGINT NOT NULL,
    -- done | failed
    state      TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    loss       DOUBLE PRECISION,
    error      TEXT,
    log        TEXT NOT NULL,
    seconds    DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (match_id, recipe_id, task_index)
);
