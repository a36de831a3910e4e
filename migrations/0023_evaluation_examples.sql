-- Each evaluation's per-row losses (crucible-eval's `examples` in metrics.json: the held-out row's
-- index, its loss and its scored tokens), kept so that two submissions can later be compared row by
-- row. JSON; NULL when the evaluator gave none. Shown on no miner or customer route: each entry is tied
-- to a row of the secret test split.
ALTER TABLE evaluations ADD COLUMN examples TEXT;
