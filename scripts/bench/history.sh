#!/usr/bin/env bash
# Whether the engine is as fast after years of sales as on its first day:
# `flashsale bench history` against the embedded engine and against the
# real stack (`flashsale up` on private stores from flashsale-stores), each
# archiving at once (FLASHSALE_ARCHIVE_AFTER=0). Prints one table per engine.
# Usage: scripts/bench/history.sh [ended sales=10000] [burst=200]
set -euo pipefail
cd "$(dirname "$0")/../.."
unset FLASHSALE_REDIS_URL FLASHSALE_DATABASE_URL FLASHSALE_AMQP_URL
ended=${1:-10000}
burst=${2:-200}
target=$(cd "${CARGO_TARGET_DIR:-target}" 2>/dev/null && pwd || echo "$PWD/target")
cargo build --release -q -p flashsale -p flashsale-testkit --features flashsale-testkit/stores
bin=$target/release/flashsale
out=$(mktemp -d)
chmod 755 "$out" # PostgreSQL and RabbitMQ run as their own users, and go through it
stores=""
cleanup() {
  [[ -n ${engine:-} ]] && kill "$engine" 2>/dev/null && wait "$engine" 2>/dev/null || true
  [[ -n $stores ]] && "$target/release/flashsale-stores" stop "$stores" >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # name [env...]
  local name=$1 port data
  shift
  port=$(free_port)
  data=$out/data-$name
  env FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR="$data" FLASHSALE_ARCHIVE_AFTER=0 \
    FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 FLASHSALE_LOG=warn "$@" \
    "$bin" up >"$out/engine-$name.log" 2>&1 &
  engine=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
  echo "== $name: $ended ended sales, bursts of $burst" >&2
  env "$@" "$bin" bench history --target "http://127.0.0.1:$port" --data-dir "$data" \
    --ended "$ended" --burst "$burst" || true
  kill "$engine"; wait "$engine" || true
  engine=""
}

run embedded
stores=$out/stores
"$target/release/flashsale-stores" start "$stores" --redis-fsync everysec >"$out/stores.env"
# shellcheck disable=SC1091
source "$out/stores.env"
run stack FLASHSALE_REDIS_URL="$FLASHSALE_REDIS_URL" FLASHSALE_DATABASE_URL="$FLASHSALE_DATABASE_URL" \
  FLASHSALE_AMQP_URL="$FLASHSALE_AMQP_URL"
