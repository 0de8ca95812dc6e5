#!/usr/bin/env bash
# What buyers' pages watching a sale cost the engine (issue 15): 10,000
# connections to one sale's live feed for 20 s, one purchase a second,
# against the same embedded engine idle for 20 s first.
# Usage: scripts/bench/watchers.sh [watchers=10000] [seconds=20]
set -euo pipefail
cd "$(dirname "$0")/../.."
watchers=${1:-10000}; seconds=${2:-20}
# One socket per watcher in each process: the open-file limit, as high as allowed.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((watchers + 1000)) ]; then
  echo "the open-file limit $(ulimit -n) is too low for $watchers watchers" >&2; exit 1
fi
bin=${CARGO_TARGET_DIR:-target}/release/flashsale
cargo build --release -q -p flashsale
data=$(mktemp -d)
cleanup() { kill "${pid:-0}" 2>/dev/null; wait "${pid:-0}" 2>/dev/null || true; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR=$data FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 \
  FLASHSALE_LOG=warn "$bin" up > "$data/engine.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
"$bin" bench watchers --target "http://127.0.0.1:$port" --data-dir "$data" --watchers "$watchers" \
  --seconds "$seconds" --pid "$pid"
