#!/usr/bin/env bash
# How cost grows with the work, on the embedded engine: one fresh engine per
# row, `flashsale bench stampede` against it, one table at the end.
#   rows: buyers 10^3, 10^5, 10^6 on a sale of 10^3 units (mostly refusals),
#         and 10^6 buyers on a sale of 10^6 units (every attempt a durable order).
#   Each row makes at least 10^5 attempts (10^3 buyers try 100 times each).
# Usage: scripts/bench/growth.sh [connections=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=${1:-256}
bin=target/release/flashsale
cargo build --release -q -p flashsale
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
row() { # buyers stock
  local data=$out/data-$1-$2 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR=$data FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 \
    FLASHSALE_LOG=warn "$bin" up > "$out/engine-$1-$2.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
  echo "== $1 buyers, $2 units" >&2
  local attempts=$(( 100000 / $1 > 1 ? 100000 / $1 : 1 ))
  "$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --buyers "$1" --stock "$2" \
    --attempts-per-buyer "$attempts" \
    --concurrency "$conns" --ceiling-seconds 2 --pid "$pid" --json "$out/$1-$2.json" >/dev/null
  kill "$pid"; wait "$pid" || true
}
row 1000 1000
row 100000 1000
row 1000000 1000
row 1000000 1000000
python3 - "$out" <<'PY'
import glob, json, sys
rows = sorted((json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")), key=lambda r: (r["stock"], r["buyers"]))
print(f"| buyers | attempts | units | attempts/s | of ceiling | accepted/s | p99 ms | peak RSS MiB | checks |")
print(f"|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    ok = "all passed" if all(c["ok"] for c in r["checks"]) else "FAILED"
    print(f"| {r['buyers']:,} | {r['attempts']:,} | {r['stock']:,} | {r['attempts_per_second']:,.0f} | {r['attempts_per_second'] / r['ceiling_per_second']:.2f} "
          f"| {r['accepted_per_second']:,.0f} | {r['latency']['p99_ms']:.1f} | {r['peak_rss_mib']:.1f} | {ok} |")
PY
