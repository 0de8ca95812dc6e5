#!lua
-- Gives back the units of an in-flight reservation that the ledger decided
-- void (or that a failed purchase never answered); a reservation not in
-- flight (released or settled) is left alone. Never called on silence
-- alone: see sweeper.rs.
-- KEYS: state, stock, buyers, idem, inflight
-- ARGV: order_id
-- Returns the units given back, 0 if none.
local rec = redis.call('HGET', KEYS[5], ARGV[1])
if not rec then
  return 0
end
local f = fields(rec)
local user, q, key = f[2], tonumber(f[3]), f[4]
redis.call('HDEL', KEYS[5], ARGV[1])
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
