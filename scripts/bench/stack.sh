#!/usr/bin/env bash
# Purchase throughput of `flashsale up` on the real stack, with private
# stores started by scripts/topology (Redis with AOF, appendfsync as given):
# the ceiling, a stampede of 200,000 buyers on 100,000 units (every order
# verified in PostgreSQL), then the same sale's sold-out phase.
# Usage: scripts/bench/stack.sh [always|everysec] [connections=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
fsync=${1:-always}; conns=${2:-256}
bin=target/release/flashsale
cargo build --release -q -p flashsale
dir=$(scripts/topology start --stores-only --detach --redis-fsync "$fsync" | sed -n 's/^  *folder: *\([^ ]*\).*/\1/p' | tail -1)
cleanup() { kill "${pid:-0}" 2>/dev/null; wait "${pid:-0}" 2>/dev/null || true; scripts/topology stop ${dir:+"$dir"} >/dev/null 2>&1 || true; }
trap cleanup EXIT
eval "$(scripts/topology env ${dir:+"$dir"})"
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR=$data FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 \
  FLASHSALE_LOG=warn "$bin" up > "$data/engine.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
head -4 "$data/engine.log"
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --buyers 200000 --stock 100000 \
  --concurrency "$conns" --pid "$pid" --json "$data/selling.json"
sale=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sale_id"])' "$data/selling.json")
echo "== the same sale, sold out"
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --sale "$sale" --buyers 300000 \
  --concurrency "$conns" | grep -E "ceiling|attempts/s|latency|answers"
