#!lua
-- Removes an ended sale's live state in one step, once nothing of it is in
-- flight nor waiting in the outbox (relays delete an entry once the broker
-- confirmed it) and no rebuild is under way: its counters, buyers' counts,
-- idempotency records, the outbox with its consumer group, what a rebuild
-- left, the orders given back and a fair start's draw. Its ledger, in the
-- order store, stays.
-- The caller then takes it out of the index of live sales (another slot on
-- a cluster), so that no background loop walks it again.
-- `keep_level` keeps the state and stock (a bucket of a sale split into
-- buckets, forgotten before bucket 0: see `RedisStock::forget`).
-- KEYS: state, stock, buyers, idem, inflight, outbox, rebuild, settled, counted, given_back,
--       draw, draw state, draw answers, moving, applied, version
-- ARGV: 'keep_level' or ''
-- Returns its last level (as `level`), or {} when it kept the sale.
local l = level(KEYS[1], KEYS[2])
if not l then
  return {}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local times = redis.call('HMGET', KEYS[1], 'starts_at', 'ends_at')
if effective(l[1], times[1], times[2], now) ~= 'ended' then
  return {}
end
if tonumber(l[3]) ~= 0 or redis.call('HLEN', KEYS[5]) > 0 or redis.call('EXISTS', KEYS[7]) == 1 then
  return {}
end
if redis.call('EXISTS', KEYS[6]) == 1 and redis.call('XLEN', KEYS[6]) > 0 then
  return {}
end
if ARGV[1] == 'keep_level' then
  redis.call('DEL', unpack(KEYS, 3))
else
  redis.call('DEL', unpack(KEYS))
end
return l
