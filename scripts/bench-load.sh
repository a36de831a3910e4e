#!/usr/bin/env bash
# The fan-out benchmark: 10,000 simulated miners long-polling for offers while 1,000 tasks are fanned
# out, on SQLite and then on PostgreSQL. Prints offers/s, p50/p99 offer latency and the server's peak RSS.
# Usage: scripts/bench-load.sh [MINERS TASKS]   (default: 10000 1000)
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/postgres.sh"
miners=${1:-10000}
tasks=${2:-1000}

cd "$CRUCIBLE_ROOT"
cargo build --release -q -p server --bin crucible
cargo build --release -q -p end2end --bin crucible-load
export CRUCIBLE_BIN="$CARGO_TARGET_DIR/release/crucible"
load="$CARGO_TARGET_DIR/release/crucible-load"
# Each miner holds a connection: the server and the load tool need a file descriptor for each.
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/crucible-bench.XXXXXX")
chmod 755 "$work"
trap 'stop_postgres "$work/pg"; rm -rf "$work"' EXIT

echo "==> SQLite"
"$load" --miners "$miners" --tasks "$tasks"

echo "==> PostgreSQL"
start_postgres "$work/pg"
"$load" --miners "$miners" --tasks "$tasks" --database-url "$POSTGRES_URL"
