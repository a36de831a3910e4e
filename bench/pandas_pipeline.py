"""The same job in pandas, for comparison: read JSONL, drop rows with an empty instruction or output,
drop exact duplicates, then take the seeded test sample of min(10 %, 400) rows and keep the rest."""
import sys
import time

import pandas as pd

path = sys.argv[1]
started = time.perf_counter()
frame = pd.read_json(path, lines=True, dtype=False)
for column in ("instruction", "output"):
    frame = frame[frame[column].fillna("").astype(str).str.strip() != ""]
frame = frame.drop_duplicates()
test_rows = min(len(frame) // 10, 400)
test = frame.sample(n=test_rows, random_state=42)
train = frame.drop(test.index)
elapsed = time.perf_counter() - started
print(f"{elapsed:.3f} {len(train)} {len(test)}")
