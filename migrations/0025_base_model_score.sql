-- The task's base model's own held-out loss, measured once by the evaluator on the task's secret test
-- split (the base model submitted as if it were a miner's), so that each submission's improvement
-- over it can be shown. NULL until measured, or when the evaluator could not score the base.
ALTER TABLE tasks ADD COLUMN base_loss DOUBLE PRECISION;
