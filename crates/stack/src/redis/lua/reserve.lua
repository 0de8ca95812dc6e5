#!lua
-- The purchase decision, as `SaleBook::reserve` makes it: every check runs
-- before the first write, because a script that fails half-way keeps its
-- earlier writes.
-- KEYS: state, stock, buyers, idem, inflight, outbox
-- ARGV: sale_id, order_id, user_id, quantity, idempotency_key ("" if none)
local user, q, key = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local terms = redis.call('HMGET', KEYS[1], 'state', 'limit', 'starts_at', 'ends_at')
if not terms[1] then
  return {'not_found'}
end
if key ~= '' then
  local first = redis.call('HGET', KEYS[4], user .. '\n' .. key)
  if first then
    return {'replayed', first}
  end
end
local limit = tonumber(terms[2])
if q > limit then
  return {'quantity_above_limit', tostring(limit)}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
if effective(terms[1], terms[3], terms[4], now) ~= 'active' then
  return {'not_active'}
end
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
if remaining <= 0 then
  return {'sold_out'}
end
local bought = tonumber(redis.call('HGET', KEYS[3], user) or '0')
if bought + q > limit then
  return {'limit_exceeded', tostring(limit)}
end
if remaining < q then
  return {'not_enough_stock', tostring(remaining)}
end

-- Every check passed: take the units.
local left = redis.call('DECRBY', KEYS[2], q)
redis.call('HINCRBY', KEYS[3], user, q)
redis.call('HINCRBY', KEYS[1], 'in_flight', q)
local at = time[1] .. string.format('%06d', tonumber(time[2]))
local rec = table.concat({ARGV[2], user, ARGV[4], key, tostring(left), at}, '\n')
if key ~= '' then
  redis.call('HSET', KEYS[4], user .. '\n' .. key, rec)
end
redis.call('HSET', KEYS[5], ARGV[2], rec)
redis.call('XADD', KEYS[6], '*', 'v', '1', 'sale', ARGV[1], 'rec', rec)
return {'reserved', rec}
