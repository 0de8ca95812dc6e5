# Shared by the bench scripts (`. scripts/bench/lib.sh` from the repository's
# root): the release binary, private stores, `flashsale up` on a free port,
# and cleaning up after them.

bin=${CARGO_TARGET_DIR:-target}/release/flashsale
dir=
pid=

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Private Redis (AOF; `appendfsync $1` when given), PostgreSQL and RabbitMQ
# started by scripts/topology; sets `dir` and exports their URLs.
start_stores() {
  dir=$(scripts/topology start --stores-only --detach ${1:+--redis-fsync "$1"} \
    | sed -n 's/.*topology folder \([^ ]*\).*/\1/p' | tail -1)
  eval "$(scripts/topology env "$dir")"
}

# The stores of mode $1: `embedded` (none: no store URL, so the engine
# runs embedded) or `stack` (private stores, `appendfsync always`).
stores_for() {
  case "$1" in
    embedded) unset FLASHSALE_REDIS_URL FLASHSALE_AMQP_URL FLASHSALE_DATABASE_URL ;;
    stack) start_stores always ;;
    *) echo "unknown mode '$1': embedded or stack" >&2; return 2 ;;
  esac
}

# `flashsale up` on the data folder $1, rate limits off, with the extra
# `VAR=value` settings given after it; sets `pid` and `port`, logs to
# $1/engine.log, and returns once it answers.
start_engine() {
  local data=$1; shift
  port=$(free_port)
  env FLASHSALE_BIND="127.0.0.1:$port" FLASHSALE_DATA_DIR="$data" FLASHSALE_RATE_PER_IP=0 \
    FLASHSALE_RATE_PER_USER=0 FLASHSALE_LOG=warn "$@" "$bin" up > "$data/engine.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
}

# (Never `kill 0`: with no engine started, that would signal this whole
# process group.)
stop_engine() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}

# The engine, then the stores: for `trap cleanup EXIT`.
cleanup() {
  stop_engine
  [ -z "$dir" ] || scripts/topology stop "$dir" >/dev/null 2>&1 || true
}
