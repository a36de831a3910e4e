-- The reference model family (lm/, made by `crucible-base-models`): GPT-2-layout models small enough to
-- train and evaluate on a CPU, listed beside the real Hugging Face ids. Parameter counts as their
-- configs give them (lm::config::Config::parameters).
INSERT INTO models (id, family, parameters, task_types, enabled, created_at) VALUES
    ('crucible/reference-tiny', 'gpt2', 149248, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('crucible/reference-small', 'gpt2', 891648, '["instruct","chat","dpo","grpo"]', 1, 0);
