-- A miner's hotkey linked to a browser account (by signing a challenge), and an index for the watch
-- that wakes long-polling miners when offers are made.
ALTER TABLE miners ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX miners_by_owner ON miners (owner_id);
CREATE INDEX offers_by_time ON offers (created_at);
