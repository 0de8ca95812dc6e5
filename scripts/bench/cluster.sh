#!/usr/bin/env bash
# The real stack on one Redis and on a local Redis Cluster of three masters,
# side by side in one run: `flashsale up` on each (Redis AOF
# `appendfsync always` on both), a stampede of 200,000 buyers on 100,000
# units, and Redis's CPU per accepted purchase, summed and per node. On a
# 2-core machine a cluster cannot show scaling (its masters share the cores
# with the engine and the generator); the per-master figures are what a
# machine per master would run in parallel. On the cluster the sale runs
# as one slot, then split into 2 and 4 buckets (`stock_buckets`): the
# per-node figures show its work spread over the masters. Then the race
# lab, with the engine's script on one Redis and on the cluster in the
# same table.
# Usage: scripts/bench/cluster.sh [connections=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh
conns=${1:-256}
cargo build --release -q -p flashsale
nodes=$(mktemp -d)
trap 'for f in "$nodes"/*/redis.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done; rm -rf "$nodes"; cleanup' EXIT
start_stores always
# Three ports whose cluster bus (+10000) is free and below the ephemeral range.
ports=$(python3 - <<'PY'
import socket
found = []
for port in range(15000, 22000, 7):
    ok = True
    for p in (port, port + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        s.close()
    if ok:
        found.append(port)
    if len(found) == 3:
        break
print(" ".join(map(str, found)))
PY
)
cluster_url=
for p in $ports; do
  mkdir -p "$nodes/$p"
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
    --dir "$nodes/$p" --appendonly yes --appendfsync always --save "" --daemonize yes \
    --logfile "$nodes/$p/redis.log" --pidfile "$nodes/$p/redis.pid"
  cluster_url="${cluster_url:+$cluster_url,}redis://127.0.0.1:$p"
done
sleep 1
redis-cli --cluster create $(for p in $ports; do printf '127.0.0.1:%s ' "$p"; done) --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do
  ok=0
  for p in $ports; do redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' && ok=$((ok + 1)); done
  [ "$ok" = 3 ] && break
  sleep 0.1
done
run() {
  local label=$1 redis=$2 database=$3 queue=$4 buckets=${5:-1}
  local data; data=$(mktemp -d)
  start_engine "$data" FLASHSALE_REDIS_URL="$redis" FLASHSALE_DATABASE_URL="$database" FLASHSALE_AMQP_QUEUE="$queue"
  echo "== $label"
  FLASHSALE_DATABASE_URL=$database "$bin" bench stampede --target "http://127.0.0.1:$port" --data-dir "$data" \
    --buyers 200000 --stock 100000 --concurrency "$conns" --pid "$pid" --redis-url "$redis" --buckets "$buckets" \
    | grep -E "ceiling|attempts/s|latency|Redis|store  |engine CPU"
  stop_engine
}
run "one Redis" "$FLASHSALE_REDIS_URL" "$FLASHSALE_DATABASE_URL" orders-single
second="${FLASHSALE_DATABASE_URL%/*}/cluster_bench"
psql "$FLASHSALE_DATABASE_URL" -qc "CREATE DATABASE cluster_bench" >/dev/null
run "Redis Cluster, 3 masters" "$cluster_url" "$second" orders-cluster
# One hot sale split over the masters (stock_buckets, issue 17).
run "Redis Cluster, 3 masters, the sale in 2 buckets" "$cluster_url" "$second" orders-cluster 2
run "Redis Cluster, 3 masters, the sale in 4 buckets" "$cluster_url" "$second" orders-cluster 4
echo "== the race lab (redis-lua on one Redis, redis-lua-cluster on the cluster)"
"$bin" bench race --buyers 2000 --stock 1000 --attempts-per-buyer 3 --concurrency 64 \
  --redis-url "$FLASHSALE_REDIS_URL" --database-url "$FLASHSALE_DATABASE_URL" --redis-cluster-url "$cluster_url"
