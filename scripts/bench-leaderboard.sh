#!/usr/bin/env bash
# The leaderboard benchmark: a release `crucible serve` on SQLite seeded with 10,000 miners and 100,000
# scored submissions; wrk (Debian's package) drives 50 connections for 30 s at `/healthz`, at the public
# leaderboard's API (`/api/v1/leaderboard`) and at its page (`/leaderboards`), one after the other, and
# the script prints each one's requests/s and p50/p99 latency, and each leaderboard's rate as a share of
# `/healthz`'s. Usage: scripts/bench-leaderboard.sh [SECONDS] [CONNECTIONS]   (default: 30 50)
set -euo pipefail
source "$(dirname "$0")/env.sh"
seconds=${1:-30}
connections=${2:-50}

if ! command -v wrk >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  echo "==> apt-get install wrk"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
cd "$CRUCIBLE_ROOT"
cargo build --release -q -p server --bin crucible
cargo build --release -q -p end2end --bin crucible-board-seed

work=$(mktemp -d "${TMPDIR:-/tmp}/crucible-board.XXXXXX")
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/crucible-board-seed" --data-dir "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn "$CARGO_TARGET_DIR/release/crucible" serve --data-dir "$work" --addr "127.0.0.1:$port" \
  --site-root "$CRUCIBLE_ROOT/target/site" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# run NAME PATH: wrk's requests/s and p50/p99 in ms, as "NAME RPS P50 P99".
run() {
  local out
  curl -sf "http://127.0.0.1:$port$2" >/dev/null   # the first request computes the board
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port$2")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$1 $rps $p50 $p99 ${errors:-0}"
}
ms() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) v /= 1000; else if (t ~ /ms$/) v += 0; else if (t ~ /s$/) v *= 1000; printf "%.2f", v }'; }

echo "==> $connections connections, ${seconds} s each, server and wrk on the same machine"
results=()
results+=("$(run healthz /healthz)")
results+=("$(run api '/api/v1/leaderboard?window=7d')")
results+=("$(run page '/leaderboards?window=7d')")
healthz_rps=$(cut -d' ' -f2 <<<"${results[0]}")
printf '%-8s %12s %10s %10s %8s %12s\n' target requests/s p50_ms p99_ms non-2xx of_healthz
for line in "${results[@]}"; do
  read -r name rps p50 p99 errors <<<"$line"
  printf '%-8s %12s %10s %10s %8s %11.1f%%\n' "$name" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$errors" \
    "$(awk -v a="$rps" -v b="$healthz_rps" 'BEGIN { print 100 * a / b }')"
done
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$server_pid/status")"
