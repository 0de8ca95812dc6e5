#!/usr/bin/env bash
# Purchase throughput of `flashsale up` on the real stack, with private
# stores started by scripts/topology (Redis with AOF, appendfsync as given):
# the ceiling, a stampede of 200,000 buyers on 100,000 units (every order
# verified in PostgreSQL), then the same sale's sold-out phase.
# Usage: scripts/bench/stack.sh [always|everysec] [connections=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
fsync=${1:-always}; conns=${2:-256}
cargo build --release -q -p flashsale
trap cleanup EXIT
start_stores "$fsync"
data=$(mktemp -d)
start_engine "$data"
head -4 "$data/engine.log"
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --buyers 200000 --stock 100000 \
  --concurrency "$conns" --pid "$pid" --json "$data/selling.json"
sale=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sale_id"])' "$data/selling.json")
echo "== the same sale, sold out"
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --sale "$sale" --buyers 300000 \
  --concurrency "$conns" | grep -E "ceiling|attempts/s|latency|answers"
