#!/usr/bin/env bash
# Checkout under a stampede (issue 14): a sale of 1,000 units held 5 s while
# buyers pay; 70% of the winners pay, the rest expire and resell, until every
# unit is paid. Prints the time to that state and the figures.
# Usage: scripts/bench/checkout.sh [embedded|stack] [connections=64]
#   embedded: buyers pay themselves (simulated payments);
#   stack:    private stores (scripts/topology), payments through the signed webhook.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-embedded}; conns=${2:-64}
bin=${CARGO_TARGET_DIR:-target}/release/flashsale
cargo build --release -q -p flashsale
data=$(mktemp -d)
secret=bench-webhook-secret
cleanup() {
  kill "${pid:-0}" 2>/dev/null; wait "${pid:-0}" 2>/dev/null || true
  [ -n "${dir:-}" ] && scripts/topology stop "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [ "$mode" = stack ]; then
  dir=$(scripts/topology start --stores-only --detach | sed -n 's/^  *folder: *\([^ ]*\).*/\1/p' | tail -1)
  eval "$(scripts/topology env "$dir")"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR=$data FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 \
  FLASHSALE_PAYMENT_WEBHOOK_SECRET=$secret FLASHSALE_LOG=warn "$bin" up > "$data/engine.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
head -6 "$data/engine.log"
webhook=()
[ "$mode" = stack ] && webhook=(--payment-webhook-secret "$secret")
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --stock 1000 --limit 1 \
  --concurrency "$conns" --payment-window 5s --pay-ratio 0.7 --pid "$pid" "${webhook[@]}"
