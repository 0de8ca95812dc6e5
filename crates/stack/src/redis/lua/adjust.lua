#!lua
-- Adds or withdraws units, atomically with purchases (as
-- `SaleBook::adjust_stock`: ended first, then zero, then the bounds).
-- KEYS: state, stock
-- ARGV: delta, now (microseconds), max stock
local t = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at', 'stock')
if not t[1] then
  return {'not_found'}
end
if effective(t[1], t[2], t[3], tonumber(ARGV[2])) == 'ended' then
  return {'ended'}
end
local delta = tonumber(ARGV[1])
if delta == 0 then
  return {'zero'}
end
local stock = tonumber(t[4])
if delta > 0 then
  if stock + delta > tonumber(ARGV[3]) then
    return {'too_large'}
  end
else
  local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
  if -delta > remaining then
    return {'below_zero', tostring(remaining)}
  end
end
redis.call('HINCRBY', KEYS[1], 'stock', delta)
redis.call('INCRBY', KEYS[2], delta)
local l = level(KEYS[1], KEYS[2])
return {'ok', l[1], l[2], l[3], l[4], l[5]}
