-- A fan-out draws new miners (never scored) and those with points lately: both look up a miner's scores.
CREATE INDEX scores_by_miner ON scores (miner_id, scored_at);
