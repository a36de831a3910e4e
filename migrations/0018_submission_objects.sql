-- Each submission names the object that holds its artifact: every upload is stored under a key of
-- its own, and recording it switches the submission to it, so a replacement is never copied and a
-- refused or interrupted upload never touches the artifact already received. Submissions stored
-- before this kept one key per task and miner.
ALTER TABLE submissions ADD COLUMN object_key TEXT;
UPDATE submissions SET object_key = 'tasks/' || task_id || '/submissions/' || miner_id || '.tar';
