#!/usr/bin/env bash
# What tracing costs a purchase: `flashsale up` on private real stores
# (Redis AOF `appendfsync always`), one stampede per setting in one run,
# the engine restarted for each: traces off; exported with every trace
# dropped by the sampler; 1% of purchases traced; every purchase traced.
# Spans go to a local OTLP sink that answers every export at once. Prints
# each stampede's figures and the engine's CPU per attempt (this 2-core
# machine's throughput moves by 10% from run to run; the CPU is steadier).
# Usage: scripts/bench/traces.sh [buyers=100000] [stock=50000] [connections=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
buyers=${1:-100000}; stock=${2:-50000}; conns=${3:-256}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p flashsale
sink_pid=
trap 'cleanup; [ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true' EXIT
start_stores always
sink=$(free_port)
python3 - "$sink" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
sink_pid=$!
otlp=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink")
run() {
  local name=$1; shift
  local data; data=$(mktemp -d)
  start_engine "$data" "$@"
  echo "== $name"
  "$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" --buyers "$buyers" --stock "$stock" \
    --concurrency "$conns" --pid "$pid" 2>&1 | grep -E "attempts/s|latency|peak RSS|FAILED|invariant"
  # The engine's CPU since it started (user + system, in clock ticks).
  awk -v n="$buyers" -v hz="$(getconf CLK_TCK)" \
    '{printf "  engine CPU           %.1f µs per attempt\n", ($14 + $15) / hz * 1e6 / n}' "/proc/$pid/stat"
  stop_engine
}
run "traces off"
run "exported, sampler drops all" "${otlp[@]}" OTEL_TRACES_SAMPLER=always_off
run "1% of purchases traced" "${otlp[@]}" OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01
run "every purchase traced" "${otlp[@]}" OTEL_TRACES_SAMPLER=always_on
run "traces off, again" 
