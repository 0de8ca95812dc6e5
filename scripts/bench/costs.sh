#!/usr/bin/env bash
# The engine's CPU per request, phase by phase, read from /proc/<pid>/stat
# around each phase (every thread of the engine process, background work
# included), for the README's per-request cost table:
#   404      GET /api/sales/x: HTTP, routing and middleware, no auth, no store
#   selling  purchases that all succeed (as many buyers as units): + auth,
#            the reservation and its durability
#   sold out the same sale again: + auth, the local sold-out flag, the 409
# Usage: scripts/bench/costs.sh [embedded|stack] [connections=256]
#   stack: `flashsale up` on private stores (Redis AOF always) started by
#   scripts/topology, as scripts/bench/stack.sh does; Redis's own CPU per
#   purchase is printed beside.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
mode=${1:-embedded}; conns=${2:-256}
cargo build --release -q -p flashsale
data=$(mktemp -d)
trap cleanup EXIT
stores_for "$mode"
start_engine "$data"
head -2 "$data/engine.log"
bench() { "$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --concurrency "$conns" --pid "$pid" "$@"; }
echo "== 404 (engine ceiling), then selling: 100,000 buyers on 100,000 units"
bench --ceiling engine --ceiling-seconds 5 --buyers 100000 --stock 100000 --json "$data/selling.json" \
  | grep -E "ceiling|engine CPU|attempts/s|latency|answers|Redis "
sale=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sale_id"])' "$data/selling.json")
echo "== the same sale, sold out: 300,000 buyers"
bench --sale "$sale" --buyers 300000 --ceiling-seconds 0 | grep -E "engine CPU|attempts/s|latency|answers"
