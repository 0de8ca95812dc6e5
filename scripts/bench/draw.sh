#!/usr/bin/env bash
# A fair start's draw with many entrants (issue 19): every buyer sends one
# purchase in the draw window and waits on it; the embedded engine's memory
# idle and with all of them waiting, and the time from the window's close to
# the first and last answer. Every waiting buyer is a socket in each process:
# the open-file limit is raised as far as allowed.
# Usage: scripts/bench/draw.sh [entrants=100000] [stock=10000] [window seconds=50]
set -euo pipefail
cd "$(dirname "$0")/../.."
entrants=${1:-100000}; stock=${2:-10000}; window=${3:-50}
# One socket per waiting buyer in each process: root may raise the hard
# limit; anyone may raise the soft one to it.
ulimit -Hn $((entrants * 2 + 10000)) 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((entrants + 3000)) ]; then
  echo "the open-file limit $(ulimit -n) is too low for $entrants waiting buyers (raise the hard limit as root, or run fewer)" >&2; exit 1
fi
. scripts/bench/lib.sh
cargo build --release -q -p flashsale
data=$(mktemp -d)
trap cleanup EXIT
stores_for embedded
# Rate limits off (start_engine): the buyers come from a handful of addresses.
start_engine "$data"
"$bin" bench draw --target "http://127.0.0.1:$port" --data-dir "$data" --entrants "$entrants" \
  --stock "$stock" --window-seconds "$window" --pid "$pid"
