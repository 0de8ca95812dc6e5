#!/usr/bin/env bash
# A fair start's draw with many waiting buyers (issue 19): every buyer sends
# one purchase in the draw window and waits on it; the engine's memory idle
# and with all of them waiting, and the time from the window's close to the
# first and last answer.
#
#   scripts/bench/draw.sh [entrants=100000] [stock=10000] [window s=50] [gateways=0]
#
# gateways=0: the embedded engine (`flashsale up`); N: the real stack as
# processes (scripts/topology: N gateways, 2 inventories, product, order,
# private Redis, PostgreSQL, RabbitMQ), the buyers spread over the gateways
# and the memory summed over every engine process. Each waiting buyer is a
# socket in the generator and in a gateway: the open-file limit is raised
# as far as allowed, and the buyers are split over as many generator
# processes as that limit needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
entrants=${1:-100000}; stock=${2:-10000}; window=${3:-50}; gateways=${4:-0}
ulimit -n "$(ulimit -Hn)"
limit=$(ulimit -n)
[ "$limit" = unlimited ] && limit=1000000
per_process=$((limit - 3000))
per_gateway=$(( (entrants + (gateways > 0 ? gateways : 1) - 1) / (gateways > 0 ? gateways : 1) ))
if [ "$per_gateway" -gt "$per_process" ]; then
  echo "the open-file limit $limit is too low for $per_gateway waiting buyers per engine process: add gateways" >&2; exit 1
fi
processes=$(( (entrants + per_process - 1) / per_process ))
. scripts/bench/lib.sh
cargo build --release -q -p flashsale
trap cleanup EXIT
if [ "$gateways" -eq 0 ]; then
  data=$(mktemp -d)
  stores_for embedded
  start_engine "$data"  # rate limits off: the buyers come from a handful of addresses
  targets="http://127.0.0.1:$port"; pids=$pid; secrets=(--data-dir "$data")
else
  dir=$(FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 FLASHSALE_LOG=warn \
    scripts/topology start --gateways "$gateways" --inventories 2 --detach \
    | sed -n 's/.*topology folder \([^ ]*\).*/\1/p' | tail -1)
  eval "$(scripts/topology env "$dir")"
  targets=$FLASHSALE_GATEWAY_URLS
  pids=$(cat "$dir"/pids/* | paste -sd,)
  secrets=()
fi
"$bin" bench draw --target "$targets" "${secrets[@]}" --entrants "$entrants" --stock "$stock" \
  --window-seconds "$window" --processes "$processes" --pid "$pids"
