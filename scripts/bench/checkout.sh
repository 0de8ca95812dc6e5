#!/usr/bin/env bash
# Checkout under a stampede (issue 14): a sale of 1,000 units held 5 s while
# buyers pay; 70% of the winners pay, the rest expire and resell, until every
# unit is paid. Prints the time to that state and the figures.
# Usage: scripts/bench/checkout.sh [embedded|stack] [connections=64]
#   embedded: buyers pay themselves (simulated payments);
#   stack:    private stores (scripts/topology), payments through the signed webhook.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
mode=${1:-embedded}; conns=${2:-64}
cargo build --release -q -p flashsale
data=$(mktemp -d)
secret=bench-webhook-secret
trap cleanup EXIT
[ "$mode" = stack ] && start_stores
start_engine "$data" FLASHSALE_PAYMENT_WEBHOOK_SECRET="$secret"
head -6 "$data/engine.log"
webhook=()
[ "$mode" = stack ] && webhook=(--payment-webhook-secret "$secret")
"$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --stock 1000 --limit 1 \
  --concurrency "$conns" --payment-window 5s --pay-ratio 0.7 --pid "$pid" "${webhook[@]}"
