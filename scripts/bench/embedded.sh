#!/usr/bin/env bash
# Purchase throughput of the embedded engine under wrk, three phases in one run:
#   ceiling   - the same server answering GET /api/sales/<malformed id> (404, no store touched)
#   selling   - purchases while stock lasts (every answer a 202 or a limit refusal)
#   sold out  - purchases after the sell-out (the local sold-out flag answers)
# Usage: scripts/bench/embedded.sh [connections=256] [seconds=10] [buyers=10000]
# Needs: wrk (apt-get install wrk), python3, a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=${1:-256}; secs=${2:-10}; buyers=${3:-10000}
bin=target/release/flashsale
[ -x "$bin" ] || cargo build --release -p flashsale
work=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'); secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
FLASHSALE_BIND=127.0.0.1:$port FLASHSALE_DATA_DIR=$work/data FLASHSALE_ADMIN_TOKEN=$admin FLASHSALE_JWT_SECRET=$secret \
  FLASHSALE_RATE_PER_IP=0 FLASHSALE_RATE_PER_USER=0 FLASHSALE_LOG=warn "$bin" up > "$work/engine.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port
# Stock sized so that the selling phase does not run out: 1,000 units per buyer at most.
sale=$(curl -sf -X POST "$url/api/admin/sales" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"product\":\"wrk\",\"price_cents\":1,\"stock\":10000000,\"per_user_limit\":1000}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
curl -sf -X POST "$url/api/admin/sales/$sale/start" -H "Authorization: Bearer $admin" >/dev/null
python3 - "$secret" "$buyers" > "$work/tokens.txt" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, n = sys.argv[1].encode(), int(sys.argv[2])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
for i in range(n):
    body = b64(json.dumps({"sub": f"wrk-{i}", "exp": int(time.time()) + 3600}).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    print(f"{head}.{body}.{sig}")
PY
cp scripts/bench/purchase.lua "$work/"
run() { (cd "$work" && wrk -t2 -c"$conns" -d"${secs}s" --latency "$@") ; }
rss() { awk '/VmHWM/{print $2/1024 " MiB peak RSS"}' /proc/$pid/status; }
echo "== ceiling: GET /api/sales/x (404, no store) =="; run "$url/api/sales/x" | grep -E "Requests/sec|99%|Latency "
echo "== selling: POST purchase, ${buyers} buyers =="; run -s purchase.lua "$url/api/sales/$sale/purchase" | grep -E "Requests/sec|99%|Latency |Non-2xx"
curl -sf "$url/api/sales/$sale" | python3 -c 'import sys,json; s=json.load(sys.stdin); print("sold", s["sold"], "remaining", s["remaining"])'
curl -sf -X POST "$url/api/admin/sales/$sale/stock" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d "{\"add\":-$(curl -sf "$url/api/sales/$sale" | python3 -c 'import sys,json; print(json.load(sys.stdin)["remaining"])')}" >/dev/null
echo "== sold out: POST purchase after the sell-out =="; run -s purchase.lua "$url/api/sales/$sale/purchase" | grep -E "Requests/sec|99%|Latency |Non-2xx"
curl -sf "$url/api/admin/stats" -H "Authorization: Bearer $admin" | python3 -c 'import sys,json; s=json.load(sys.stdin)["sales"][0]; print("ledger", s["ledger"], "orders persisted", s["orders_persisted"], "units", s["units_persisted"])'
rss
