-- Each job names the queue whose workers claim it (fast, cpu, evaluation, trainer), its priority
-- within that queue, and its own arguments as JSON: the queue engine knows no workflow, only these.
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'fast';
ALTER TABLE jobs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';

UPDATE jobs SET queue = 'cpu', payload = '{"dataset_id":"' || subject_id || '"}' WHERE kind = 'validate_dataset';
UPDATE jobs SET queue = 'cpu', payload = '{"task_id":"' || subject_id || '"}' WHERE kind = 'prepare_task';
UPDATE jobs SET queue = 'fast', payload = '{"task_id":"' || subject_id || '"}' WHERE kind = 'advance_task';
UPDATE jobs SET queue = 'evaluation', payload = '{"task_id":"' || subject_id || '"}' WHERE kind = 'evaluate_task';
UPDATE jobs SET queue = 'fast', payload = '{"delivery_id":"' || subject_id || '"}' WHERE kind = 'deliver_webhook';
UPDATE jobs SET queue = 'trainer', payload = '{"recipe_id":"' || subject_id || '"}' WHERE kind = 'build_recipe';
UPDATE jobs SET queue = 'fast', payload = '{"tournament_id":"' || subject_id || '"}' WHERE kind = 'advance_tournament';
UPDATE jobs SET queue = 'fast', payload = '{"tournament_id":"' || subject_id || '"}' WHERE kind = 'open_tournament';
UPDATE jobs SET queue = 'trainer', payload = '{"task_id":"' || subject_id || '"}' WHERE kind = 'train_with_champion';

CREATE INDEX jobs_claimable ON jobs (queue, state, run_at);

-- Which worker holds a running job's claim (`host:pid`), for operators (and the replica test).
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
