#!/usr/bin/env bash
# Runs every test of Crucible: unit tests, the database suite on SQLite and on a real PostgreSQL server,
# the object-store suite on a local directory and on a real S3 server (s3s-fs), the HTTP tests, and the
# browser tests in headless Chromium. Installs whatever is missing first. Extra arguments go to
# `cargo test` (e.g. `scripts/test.sh -p domain`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/postgres.sh"
bash "$CRUCIBLE_ROOT/scripts/ensure-tools.sh" --test

work=$(mktemp -d "${TMPDIR:-/tmp}/crucible-test.XXXXXX")
chmod 755 "$work"
s3_pid=""
cleanup() {
  [ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null || true
  stop_postgres "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing is listening on port $1: see $2" >&2; cat "$2" >&2; return 1
}

echo "==> starting a throwaway PostgreSQL server"
start_postgres "$work/pg"
export CRUCIBLE_TEST_POSTGRES_URL="$POSTGRES_URL"

echo "==> starting an S3 server (s3s-fs)"
s3_port=$(free_port)
mkdir -p "$work/s3/crucible-test"
s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key crucible-test --secret-key crucible-test-secret \
  "$work/s3" >"$work/s3.log" 2>&1 &
s3_pid=$!
wait_for_port "$s3_port" "$work/s3.log"
export CRUCIBLE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" CRUCIBLE_TEST_S3_BUCKET=crucible-test
export CRUCIBLE_TEST_S3_ACCESS_KEY=crucible-test CRUCIBLE_TEST_S3_SECRET_KEY=crucible-test-secret

export CRUCIBLE_TEST_SUBSTRATE_PYTHON="$CRUCIBLE_SUBSTRATE_VENV/bin/python"
export CRUCIBLE_TEST_OPENAI_PYTHON="$CRUCIBLE_OPENAI_VENV/bin/python"

echo "==> building the server and the web assets"
cd "$CRUCIBLE_ROOT"
cargo leptos build
export CRUCIBLE_BIN="$CARGO_TARGET_DIR/debug/crucible" CRUCIBLE_SITE_ROOT="$CRUCIBLE_ROOT/target/site"

echo "==> running the tests"
# The browser tests run in their own invocation: their WebDriver client would otherwise change the
# features of dependencies shared with the server and force a second build of them. The first one also
# builds crucible-eval, crucible-base-models and crucible-miner (their packages' tests run them), which
# the end-to-end competition test runs beside the server.
cargo test --workspace --exclude end2end "$@"
cargo test -p end2end "$@"
