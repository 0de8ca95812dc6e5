#!/usr/bin/env bash
# Where the engine's CPU goes while it sells: `perf record` (DWARF call graphs) on the
# engine process during the selling phase of a stampede (200,000 buyers on
# 200,000 units), then the hottest functions and libraries.
# Usage: scripts/bench/profile.sh [embedded|stack] [connections=256]
#   stack: `flashsale up` on private stores (Redis AOF always), as
#   scripts/bench/stack.sh. The report is kept as perf.data in a temporary
#   folder, printed at the end, for `perf report -i`.
# Needs perf (Debian's linux-perf) and permission to trace the engine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
mode=${1:-embedded}; conns=${2:-256}
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 2; }
cargo build --release -q -p flashsale
data=$(mktemp -d)
trap cleanup EXIT
stores_for "$mode"
start_engine "$data"
head -2 "$data/engine.log"
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --buyers 200000 --stock 200000 \
  --concurrency "$conns" --pid "$pid" --ceiling-seconds 0 > "$data/bench.log" 2>&1 &
bench=$!
sleep 1   # past the minting of the tokens, into the selling
# The selling only, not the read-back after it. DWARF call graphs: the
# release build keeps no frame pointers.
perf record -q --call-graph dwarf,16384 -F 300 -p "$pid" -o "$data/perf.data" -- sleep 2 2>/dev/null
wait "$bench" || { cat "$data/bench.log"; exit 1; }
grep -E "attempts/s|engine CPU|answers" "$data/bench.log"
echo "== by library (share of the engine's samples)"
perf report -q -i "$data/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null > "$data/dso.txt" || true
grep -v '^$' "$data/dso.txt" | head -12 || true
echo "== hottest functions (self)"
perf report -q -i "$data/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null > "$data/symbols.txt" || true
grep -v '^$' "$data/symbols.txt" | cut -c1-160 | head -40 || true
echo "== the engine's own frames, callees included (share of the engine's samples)"
perf report -q -i "$data/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -E '\[\.\] (<?flashsale_|__GI___writev|__libc_recv)' | cut -c1-160 | head -20 || true
echo "perf.data: $data/perf.data"
