#!lua
-- Moves reservations committed to the order store from in flight to
-- persisted; ids not in flight are ignored. While a cache rebuild is under
-- way (KEYS[3] exists) the settled records are also kept in KEYS[4], so
-- the rebuild counts them even if its ledger snapshot predates them.
-- KEYS: state, inflight, rebuild flag, settled
-- ARGV: order ids
-- Returns the units settled.
local fenced = redis.call('EXISTS', KEYS[3]) == 1
local units = 0
for _, id in ipairs(ARGV) do
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    units = units + tonumber(fields(rec)[3])
    redis.call('HDEL', KEYS[2], id)
    if fenced then
      redis.call('HSET', KEYS[4], id, rec)
    end
  end
end
if units > 0 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', -units)
  redis.call('HINCRBY', KEYS[1], 'persisted', units)
end
return units
