#!lua
-- Makes a sale's terms known or replaces them; units already sold stay
-- sold (as `SaleBook::set_terms`). Creates the outbox's consumer group.
-- For a sale split into buckets it runs on each: `share` puts the stock
-- given only into a bucket that is new (a loaded bucket's units are where
-- buyers and transfers left them; the caller changes the total on bucket
-- 0). The bucket count is set once, with the sale's first state.
-- KEYS: state, stock, outbox
-- ARGV: state, stock, per_user_limit, starts_at, ends_at (microseconds or ""), group,
--       prequeue_seconds, fair_start_seconds, buckets, 'share' or ''
local old = redis.call('HGET', KEYS[1], 'stock')
if not old then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[1], 'stock', ARGV[2], 'in_flight', 0, 'persisted', 0)
elseif ARGV[10] ~= 'share' then
  local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
  local left = tonumber(ARGV[2]) - (tonumber(old) - remaining)
  if left < 0 then
    left = 0
  end
  redis.call('SET', KEYS[2], left)
  redis.call('HSET', KEYS[1], 'stock', ARGV[2])
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'limit', ARGV[3],
  'starts_at', ARGV[4], 'ends_at', ARGV[5], 'prequeue', ARGV[7], 'fair_start', ARGV[8])
redis.call('HSETNX', KEYS[1], 'buckets', ARGV[9])
-- BUSYGROUP when it exists already: fine.
redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[6], '0', 'MKSTREAM')
return 1
