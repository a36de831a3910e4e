"""The stock `openai` SDK against Crucible, changing nothing but `base_url`.

Run by `openai_sdk.rs` with the server's address and a customer's API key: uploads a chat-format file,
creates a job, pages through jobs and events, watches the job reach `succeeded` with reference miners,
reads its checkpoints and `fine_tuned_model`, and cancels another job. Prints one JSON summary line.
"""

import json
import sys
import tempfile
import time

import openai
from openai import OpenAI

base, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def chat_file(name, offset):
    colours = ["red", "green", "blue", "yellow", "purple", "orange"]
    lines = []
    for i in range(offset, offset + 300):
        colour = colours[i % len(colours)]
        row = {"messages": [
            {"role": "system", "content": "You name colours."},
            {"role": "user", "content": f"Which colour is number {i}?"},
            {"role": "assistant", "content": f"Number {i} is {colour}."},
        ]}
        lines.append(json.dumps(row))
    path = f"{tempfile.mkdtemp()}/{name}"
    data = ("\n".join(lines) + "\n").encode()
    with open(path, "wb") as f:
        f.write(data)
    return path, data


def expect(error_type, call):
    try:
        call()
    except error_type as err:
        return err
    raise AssertionError(f"expected {error_type.__name__}")


# Files
path, data = chat_file("colours.jsonl", 0)
with open(path, "rb") as f:
    uploaded = client.files.create(file=f, purpose="fine-tune")
assert uploaded.object == "file" and uploaded.purpose == "fine-tune", uploaded
assert uploaded.filename == "colours.jsonl" and uploaded.bytes == len(data), uploaded
uploaded = client.files.wait_for_processing(uploaded.id, poll_interval=0.5, max_wait_seconds=60)
assert uploaded.status == "processed", uploaded
assert client.files.retrieve(uploaded.id).id == uploaded.id
assert uploaded.id in [f.id for f in client.files.list(purpose="fine-tune")]
assert client.files.content(uploaded.id).read() == data, "the owner reads the file back as uploaded"

# OpenAI-shaped errors, raised as the SDK's own exceptions
wrong_model = expect(openai.BadRequestError, lambda: client.fine_tuning.jobs.create(
    model="no-such/model", training_file=uploaded.id))
assert wrong_model.body["param"] == "model" and wrong_model.body["type"] == "invalid_request_error", wrong_model.body
expect(openai.NotFoundError, lambda: client.fine_tuning.jobs.retrieve("ftjob-nothing"))
expect(openai.BadRequestError, lambda: client.fine_tuning.jobs.create(
    model=model, training_file=uploaded.id, method={"type": "reinforcement"}))
stranger = OpenAI(base_url=f"{base}/v1", api_key="crucible_not-a-key", max_retries=0)
expect(openai.AuthenticationError, lambda: stranger.files.list())

# The job that runs
job = client.fine_tuning.jobs.create(
    model=model,
    training_file=uploaded.id,
    method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    suffix="colours",
    seed=7,
    metadata={"team": "sdk-test"},
)
assert job.object == "fine_tuning.job" and job.status == "validating_files", job
assert job.model == model and job.training_file == uploaded.id and job.seed == 7, job
assert job.metadata == {"team": "sdk-test"} and job.method.type == "supervised", job

# Another job, cancelled
other_path, _ = chat_file("more-colours.jsonl", 1000)
with open(other_path, "rb") as f:
    other_file = client.files.create(file=f, purpose="fine-tune")
other = client.fine_tuning.jobs.create(model=model, training_file=other_file.id)
cancelled = client.fine_tuning.jobs.cancel(other.id)
assert cancelled.status == "cancelled", cancelled
expect(openai.ConflictError, lambda: client.fine_tuning.jobs.cancel(other.id))

# Cursor pages: one job a page, newest first, and the SDK's auto-paging reaches both
first_page = client.fine_tuning.jobs.list(limit=1)
assert [j.id for j in first_page.data] == [other.id] and first_page.has_more, first_page
assert [j.id for j in client.fine_tuning.jobs.list(limit=1)] == [other.id, job.id]

# Watch it to the end
deadline = time.time() + 420
seen = []
while job.status not in ("succeeded", "failed", "cancelled"):
    assert time.time() < deadline, f"the job is still {job.status}"
    time.sleep(2)
    job = client.fine_tuning.jobs.retrieve(job.id)
    if not seen or seen[-1] != job.status:
        seen.append(job.status)
assert job.status == "succeeded", (job.status, job.error)
assert job.fine_tuned_model and job.finished_at and job.error is None, job
assert "running" in seen, seen

# Events: newest first, paged two at a time by the SDK
events = list(client.fine_tuning.jobs.list_events(job.id, limit=2))
assert all(e.object == "fine_tuning.job.event" for e in events)
assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
messages = [e.message for e in events]
assert any("recorded as sent" in m for m in messages), messages
assert any(m.startswith("Task success") for m in messages), messages
assert messages[-1].startswith("Created fine-tuning job"), messages

# Checkpoints: each scored submission, step_number its rank; the winner is the fine-tuned model
checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
assert len(checkpoints) >= 2, checkpoints
best = min(checkpoints, key=lambda c: c.step_number)
assert best.step_number == 1 and best.fine_tuned_model_checkpoint == job.fine_tuned_model, checkpoints
losses = [c.metrics.full_valid_loss for c in sorted(checkpoints, key=lambda c: c.step_number)]
assert losses == sorted(losses), losses

# Once split, the file holds secret test rows: its content is refused, to its owner too
refused = expect(openai.ConflictError, lambda: client.files.content(uploaded.id).read())
assert "secret" in refused.body["message"], refused.body

# A file no job uses is deleted: gone from lookups and lists
spare_path, _ = chat_file("spare.jsonl", 2000)
with open(spare_path, "rb") as f:
    spare = client.files.create(file=f, purpose="fine-tune")
deleted = client.files.delete(spare.id)
assert deleted.deleted and deleted.id == spare.id, deleted
expect(openai.NotFoundError, lambda: client.files.retrieve(spare.id))
assert spare.id not in [f.id for f in client.files.list()]

print(json.dumps({
    "job": job.id,
    "statuses": seen,
    "fine_tuned_model": job.fine_tuned_model,
    "checkpoints": [(c.step_number, c.metrics.full_valid_loss) for c in checkpoints],
    "events": len(events),
}))
