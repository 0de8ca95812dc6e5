#!lua
-- Purchase decisions of one sale, in a batch, each as `SaleBook::reserve`
-- makes it and in the order given: a request sees every earlier one's
-- writes (its units gone, its buyer's count, its idempotency key). Each
-- request's checks run before its writes; the totals (stock, in flight) and
-- the in-flight records are written once at the end. A script that fails
-- half-way keeps its earlier writes, so nothing below can fail on input the
-- caller validated.
-- KEYS: state, stock, buyers, idem, inflight, outbox
-- ARGV: sale_id, then per request: order_id, user_id, quantity,
--       idempotency_key ("" if none), traceparent ("" if none)
-- Returns per request: outcome, detail ("" if none).
-- The batch's reservations go to the outbox as one entry (`v` 2: their
-- records joined by "\30", the ASCII record separator, which no record
-- holds), so the relay reads, acknowledges and deletes one entry per batch.
-- When a request came with a trace context, the entry's `tps` holds one
-- traceparent per record, in the same order, joined the same way.
local n = (#ARGV - 1) / 5
local out = {}
local terms = redis.call('HMGET', KEYS[1], 'state', 'limit', 'starts_at', 'ends_at')
if not terms[1] then
  for _ = 1, n do
    out[#out + 1] = 'not_found'
    out[#out + 1] = ''
  end
  return out
end
local limit = tonumber(terms[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local active = effective(terms[1], terms[3], terms[4], now) == 'active'
local at = time[1] .. string.format('%06d', tonumber(time[2]))
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
local taken = 0
local records = {}
local outbox = {}
local traces = {}
local traced = false

local function decide(order, user, q, key, trace)
  if key ~= '' then
    local first = redis.call('HGET', KEYS[4], user .. '\n' .. key)
    if first then
      return 'replayed', first
    end
  end
  if q > limit then
    return 'quantity_above_limit', tostring(limit)
  end
  if not active then
    return 'not_active', ''
  end
  if remaining <= 0 then
    return 'sold_out', ''
  end
  local bought = tonumber(redis.call('HGET', KEYS[3], user) or '0')
  if bought + q > limit then
    return 'limit_exceeded', tostring(limit)
  end
  if remaining < q then
    return 'not_enough_stock', tostring(remaining)
  end
  -- Every check passed: take the units.
  remaining = remaining - q
  taken = taken + q
  redis.call('HINCRBY', KEYS[3], user, q)
  local rec = table.concat({order, user, tostring(q), key, tostring(remaining), at}, '\n')
  if key ~= '' then
    redis.call('HSET', KEYS[4], user .. '\n' .. key, rec)
  end
  records[#records + 1] = order
  records[#records + 1] = rec
  outbox[#outbox + 1] = rec
  traces[#traces + 1] = trace
  traced = traced or trace ~= ''
  return 'reserved', rec
end

for i = 0, n - 1 do
  local base = 2 + 5 * i
  local outcome, detail =
    decide(ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2]), ARGV[base + 3], ARGV[base + 4])
  out[#out + 1] = outcome
  out[#out + 1] = detail
end
if taken > 0 then
  redis.call('DECRBY', KEYS[2], taken)
  redis.call('HINCRBY', KEYS[1], 'in_flight', taken)
  redis.call('HSET', KEYS[5], unpack(records))
  if traced then
    redis.call('XADD', KEYS[6], '*', 'v', '2', 'sale', ARGV[1], 'recs', table.concat(outbox, '\30'),
      'tps', table.concat(traces, '\30'))
  else
    redis.call('XADD', KEYS[6], '*', 'v', '2', 'sale', ARGV[1], 'recs', table.concat(outbox, '\30'))
  end
end
return out
