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
--
-- Redis work is per batch, not per request: the batch's idempotency
-- records and buyers' counts are read with one HMGET each, decided on in
-- Lua tables (which is how a request sees an earlier one's writes), and
-- written back with one HSET each.
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

-- The idempotency records the batch's keys already have, under their
-- field (buyer "\n" key), made once per keyed request.
local firsts = {}
local field_of = {}
local wanted = {}
for i = 0, n - 1 do
  local base = 2 + 5 * i
  if ARGV[base + 3] ~= '' then
    field_of[i] = ARGV[base + 1] .. '\n' .. ARGV[base + 3]
    wanted[#wanted + 1] = field_of[i]
  end
end
if #wanted > 0 then
  local found = redis.call('HMGET', KEYS[4], unpack(wanted))
  for i, field in ipairs(wanted) do
    firsts[field] = found[i]
  end
end

-- The buyers' counts, read only if some request can get that far.
local bought = {}
if active and remaining > 0 then
  local users = {}
  for i = 0, n - 1 do
    users[#users + 1] = ARGV[3 + 5 * i]
  end
  local counts = redis.call('HMGET', KEYS[3], unpack(users))
  for i, user in ipairs(users) do
    bought[user] = tonumber(counts[i] or '0')
  end
end

local taken = 0
local records = {}
local outbox = {}
local traces = {}
local traced = false
local buyers = {}
local counted = {}
local keyed = {}

-- Numbers are written with '%d': Lua's tostring formats them as floats,
-- which showed in Redis's profile.
local function decide(order, user, qs, key, trace, field)
  local q = tonumber(qs)
  if field then
    local first = firsts[field]
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
  if bought[user] + q > limit then
    return 'limit_exceeded', tostring(limit)
  end
  if remaining < q then
    return 'not_enough_stock', tostring(remaining)
  end
  -- Every check passed: take the units.
  remaining = remaining - q
  taken = taken + q
  if not counted[user] then
    counted[user] = true
    buyers[#buyers + 1] = user
  end
  bought[user] = bought[user] + q
  local rec = table.concat({order, user, qs, key, string.format('%d', remaining), at}, '\n')
  if field then
    firsts[field] = rec
    keyed[#keyed + 1] = field
    keyed[#keyed + 1] = rec
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
    decide(ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4], field_of[i])
  out[#out + 1] = outcome
  out[#out + 1] = detail
end
if taken > 0 then
  local counts = {}
  for _, user in ipairs(buyers) do
    counts[#counts + 1] = user
    counts[#counts + 1] = string.format('%d', bought[user])
  end
  redis.call('HSET', KEYS[3], unpack(counts))
  if #keyed > 0 then
    redis.call('HSET', KEYS[4], unpack(keyed))
  end
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
