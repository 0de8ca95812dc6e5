#!lua
-- The first half of a transfer between two places of one sale (buckets of
-- a hot sale, docs/hot-sale-buckets.md): takes units out of the source's
-- stock into its `moving` hash under the transfer's id, with where they
-- go, and bumps its version. The credit (`transfer_credit.lua`, on the
-- destination's slot) and then the forgetting of the id finish it; until
-- the id is forgotten, the units count as moving out of the source.
-- An id is debited once (the source's `applied` set): a debit retried
-- after a time-out answers what the first one took while it is moving,
-- and takes nothing once it arrived (a second debit under a credited id
-- would never be credited).
-- A fenced source (a cache rebuild reading it) gives nothing, and the id
-- stays free.
-- KEYS: stock, moving, applied, version, fence (of the source)
-- ARGV: transfer id, the most units, 'half' (at most half the stock,
--       rounded up) or 'all', the destination's hash tag
-- Returns the units taken (0: none).
if redis.call('EXISTS', KEYS[5]) == 1 then
  return 0
end
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then
  local entry = redis.call('HGET', KEYS[2], ARGV[1])
  return entry and tonumber(string.match(entry, '^%d+')) or 0
end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(tonumber(ARGV[2]), left)
if ARGV[3] == 'half' then
  n = math.min(n, math.ceil(left / 2))
end
if n <= 0 then
  return 0
end
redis.call('DECRBY', KEYS[1], n)
redis.call('HSET', KEYS[2], ARGV[1], n .. ' ' .. ARGV[4])
redis.call('INCR', KEYS[4])
return n
