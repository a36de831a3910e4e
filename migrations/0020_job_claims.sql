-- Each claim of a job carries a token of its own; a worker's heartbeat, finish and fail count only
-- while the job is still its claim, so a worker whose lease lapsed cannot finish or requeue the claim
-- of the worker that took the job over.
ALTER TABLE jobs ADD COLUMN claim_token TEXT;
