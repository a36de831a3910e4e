-- Miners (identified by their sr25519 hotkey, as SS58), the Epistula request ids seen recently (a
-- request seen before is refused), and the base-model catalogue with each task type's window bounds.
CREATE TABLE miners (
    id               TEXT PRIMARY KEY,
    hotkey           TEXT NOT NULL UNIQUE,
    -- JSON array of the task types the miner takes
    task_types       TEXT NOT NULL,
    -- the largest model it trains, in parameters
    max_parameters   BIGINT NOT NULL,
    suspended_reason TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE epistula_requests (
    uuid    TEXT PRIMARY KEY,
    hotkey  TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX epistula_requests_by_time ON epistula_requests (seen_at);

CREATE TABLE models (
    id         TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    parameters BIGINT NOT NULL,
    -- JSON array of the task types it serves
    task_types TEXT NOT NULL,
    enabled    BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE task_type_bounds (
    task_type TEXT PRIMARY KEY,
    min_hours BIGINT NOT NULL,
    max_hours BIGINT NOT NULL
);

INSERT INTO task_type_bounds (task_type, min_hours, max_hours) VALUES
    ('instruct', 1, 12), ('chat', 1, 12), ('dpo', 1, 12), ('grpo', 1, 12), ('image', 1, 4);

-- Real Hugging Face ids with their parameter counts (as their model cards give them).
INSERT INTO models (id, family, parameters, task_types, enabled, created_at) VALUES
    ('Qwen/Qwen2.5-0.5B-Instruct', 'qwen2', 494032768, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('Qwen/Qwen2.5-1.5B-Instruct', 'qwen2', 1543714304, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('Qwen/Qwen2.5-7B-Instruct', 'qwen2', 7615616512, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('meta-llama/Llama-3.2-1B-Instruct', 'llama', 1235814400, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('meta-llama/Llama-3.2-3B-Instruct', 'llama', 3212749824, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('mistralai/Mistral-7B-Instruct-v0.3', 'mistral', 7248023552, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('microsoft/Phi-3.5-mini-instruct', 'phi3', 3821079552, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('google/gemma-2-2b-it', 'gemma2', 2614341888, '["instruct","chat","dpo","grpo"]', 1, 0),
    ('stabilityai/stable-diffusion-xl-base-1.0', 'sdxl', 3500000000, '["image"]', 1, 0),
    ('black-forest-labs/FLUX.1-dev', 'flux', 11901408320, '["image"]', 1, 0);
