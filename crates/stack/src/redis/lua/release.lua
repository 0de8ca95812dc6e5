#!lua
-- Gives back the units of an in-flight reservation that will never become
-- an order; a reservation not in flight (released or settled) is left alone,
-- and so is one a consumer claimed less than ARGV[2] microseconds ago (it
-- is being stored). A released id is remembered, so that a late copy of
-- its message is refused by `claim` instead of selling the unit twice.
-- KEYS: state, stock, buyers, idem, inflight, claims, released
-- ARGV: order_id, claim lease in microseconds (0: ignore claims)
-- Returns the units given back, 0 if none, -1 if claimed.
local rec = redis.call('HGET', KEYS[5], ARGV[1])
if not rec then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local lease = tonumber(ARGV[2])
local claimed = tonumber(redis.call('HGET', KEYS[6], ARGV[1]) or '')
if lease > 0 and claimed and now - claimed < lease then
  return -1
end
local f = fields(rec)
local user, q, key = f[2], tonumber(f[3]), f[4]
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('HSET', KEYS[7], ARGV[1], tostring(now))
redis.call('INCRBY', KEYS[2], q)
redis.call('HINCRBY', KEYS[1], 'in_flight', -q)
if redis.call('HINCRBY', KEYS[3], user, -q) <= 0 then
  redis.call('HDEL', KEYS[3], user)
end
if key ~= '' then
  -- Forget the first answer, so a retry with the key starts afresh.
  local idem = user .. '\n' .. key
  local first = redis.call('HGET', KEYS[4], idem)
  if first and fields(first)[1] == ARGV[1] then
    redis.call('HDEL', KEYS[4], idem)
  end
end
return q
