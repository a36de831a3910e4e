-- The reference models of real families (made by `crucible-base-models`): tiny, seeded Qwen2- and
-- Llama-layout models with their chat templates, so that a laptop runs real architectures end to end.
-- Parameter counts as transformers counts them.
INSERT INTO models (id, family, parameters, task_types, enabled, created_at) VALUES
    ('crucible/qwen2-tiny', 'qwen2', 107200, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('crucible/llama-tiny', 'llama', 140096, '["instruct","chat","dpo","grpo"]', 1, 0);
