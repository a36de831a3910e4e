-- Champion mode: a task trained by the reigning tournament champion's recipe on the platform's own
-- trainer hosts instead of by a pool of miners. NULL for a task that goes to a miner pool.
ALTER TABLE tasks ADD COLUMN trainer_recipe_id TEXT REFERENCES recipes (id);
