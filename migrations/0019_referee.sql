-- The referee's records (docs/evaluator.md, DESIGN.md "The referee's guarantees").
--
-- Splits belong to the task: every validation of a dataset writes its splits under a prefix of its own
-- (`datasets/ID/splits/UUID`), and a task or tournament keeps the prefix it was created with, so a later
-- validation never changes or deletes the rows it trains and is scored on. Splits written before this
-- lie directly under `datasets/ID`.
ALTER TABLE datasets ADD COLUMN splits_prefix TEXT;
UPDATE datasets SET splits_prefix = 'datasets/' || id;
ALTER TABLE tasks ADD COLUMN splits_prefix TEXT;
UPDATE tasks SET splits_prefix = 'datasets/' || dataset_id;
ALTER TABLE tournaments ADD COLUMN splits_prefix TEXT;
UPDATE tournaments SET splits_prefix = 'datasets/' || dataset_id;

-- A GRPO task's reward functions and weights as the customer declared them (JSON), carried to the
-- evaluator in spec.json. NULL for other task types.
ALTER TABLE tasks ADD COLUMN reward_functions TEXT;

-- Each evaluation names the artifact it scored: the object, the SHA-256 of its bytes as read, and the
-- digest of its unpacked files (names and bytes, whatever the tar's metadata), by which duplicates are
-- found. Evaluations recorded before this scored their submission's current artifact.
ALTER TABLE evaluations ADD COLUMN object_key TEXT;
ALTER TABLE evaluations ADD COLUMN artifact_sha256 TEXT;
ALTER TABLE evaluations ADD COLUMN content_sha256 TEXT;
UPDATE evaluations SET
    object_key = (SELECT s.object_key FROM submissions s WHERE s.id = evaluations.submission_id),
    artifact_sha256 = (SELECT s.sha256 FROM submissions s WHERE s.id = evaluations.submission_id);

-- The submission whose evaluated artifact the customer receives, set in the transaction that ends the
-- task in success (champion-mode tasks have a winner and no scores).
ALTER TABLE tasks ADD COLUMN winner_submission_id TEXT;
UPDATE tasks SET winner_submission_id = (
    SELECT s.id FROM submissions s
    JOIN scores sc ON sc.task_id = s.task_id AND sc.miner_id = s.miner_id
    WHERE s.task_id = tasks.id AND sc.rank = 1
) WHERE state = 'success';
