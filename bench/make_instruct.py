"""Writes an instruct JSONL file of about SIZE_MIB MiB in which about 5 % of the rows are degenerate
(empty outputs, exact duplicates, too short), for the dataset benchmark. Standard library only."""
import json
import random
import sys

path, size_mib = sys.argv[1], float(sys.argv[2])
target = int(size_mib * 1024 * 1024)
rng = random.Random(1234)
words = ("model data train loss token batch learning rate gradient layer attention weight bias output "
         "input question answer reason explain summarise translate classify compare improve").split()

def sentence(n):
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."

written, i, recent = 0, 0, []
with open(path, "w", encoding="utf-8") as out:
    while written < target:
        i += 1
        roll = rng.random()
        if roll < 0.02 and recent:
            row = rng.choice(recent)                      # exact duplicate
        elif roll < 0.04:
            row = {"instruction": f"Task {i}: " + sentence(12), "output": ""}   # empty output
        elif roll < 0.05:
            row = {"instruction": "Hi", "output": "ok"}   # too short
        else:
            row = {"instruction": f"Task {i}: " + sentence(rng.randint(8, 30)),
                   "input": sentence(rng.randint(0, 20)) if rng.random() < 0.3 else "",
                   "output": sentence(rng.randint(20, 120))}
            if len(recent) < 1000:
                recent.append(row)
        line = json.dumps(row) + "\n"
        out.write(line)
        written += len(line.encode())
