#!lua
-- Makes a sale's terms known or replaces them; units already sold stay
-- sold (as `SaleBook::set_terms`). Creates the outbox's consumer group.
-- KEYS: state, stock, outbox
-- ARGV: state, stock, per_user_limit, starts_at, ends_at (microseconds or ""), group,
--       prequeue_seconds, fair_start_seconds
local new = tonumber(ARGV[2])
local old = redis.call('HGET', KEYS[1], 'stock')
if old then
  local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
  local left = new - (tonumber(old) - remaining)
  if left < 0 then
    left = 0
  end
  redis.call('SET', KEYS[2], left)
else
  redis.call('SET', KEYS[2], new)
  redis.call('HSET', KEYS[1], 'in_flight', 0, 'persisted', 0)
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'stock', ARGV[2], 'limit', ARGV[3],
  'starts_at', ARGV[4], 'ends_at', ARGV[5], 'prequeue', ARGV[7], 'fair_start', ARGV[8])
-- BUSYGROUP when it exists already: fine.
redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[6], '0', 'MKSTREAM')
return 1
