#!lua
-- Moves reservations committed to the order store from in flight to
-- persisted. ARGV holds their order ids, or their records. A bare id not
-- in flight while a rebuild matters (see below) is returned: the caller
-- sends its record then. So the usual call carries ids only.
--
-- A stored reservation not in flight is either a copy of one settled
-- before (ignored), or one Redis forgot (it lost data, and a cache rebuild
-- ran while a consumer held the reservation unacked). The rebuild leaves
-- the ids it accounted for in KEYS[5] for a while; a stored reservation
-- missing from it is counted now (stock, persisted, buyer, idempotency
-- record), so its units never sell twice. While a rebuild is under way
-- (KEYS[3] exists) every settled record is kept in KEYS[4] instead, for the
-- rebuild to count even if its ledger snapshot predates it.
-- An order given back (expired or cancelled: KEYS[9]) is done with: never
-- counted again.
-- The in-flight records are read with one HMGET and removed with one HDEL
-- per call, whatever the number of reservations.
-- KEYS: state, inflight, rebuild flag, settled, counted, stock, buyers, idem, given_back
-- ARGV: order ids or records
-- Returns the bare ids whose record is needed.
local fenced = redis.call('EXISTS', KEYS[3]) == 1
local rebuilt = redis.call('EXISTS', KEYS[5]) == 1
-- Most sales never give units back: then no id needs the look-up.
local any_given_back = redis.call('EXISTS', KEYS[9]) == 1
local ids = {}
for i, arg in ipairs(ARGV) do
  ids[i] = id_of(arg)
end
local held = redis.call('HMGET', KEYS[2], unpack(ids))
local units, late = 0, 0
local done = {}
local kept = {}
local wanted = {}
local seen = {}
for i, arg in ipairs(ARGV) do
  local id, rec = ids[i], held[i]
  if seen[id] then
    -- the same reservation twice in one call: settled by the first
  elseif any_given_back and redis.call('SISMEMBER', KEYS[9], id) == 1 then
    -- given back: nothing to settle
  elseif rec then
    units = units + quantity_of(rec)
    done[#done + 1] = id
    if fenced then
      kept[#kept + 1] = id
      kept[#kept + 1] = rec
    end
  elseif arg ~= id then
    if fenced then
      redis.call('HSET', KEYS[4], id, arg)
    elseif rebuilt and redis.call('SISMEMBER', KEYS[5], id) == 0 then
      local f = fields(arg)
      local user, q, key = f[2], tonumber(f[3]), f[4]
      redis.call('DECRBY', KEYS[6], q)
      redis.call('HINCRBY', KEYS[7], user, q)
      if key ~= '' then
        redis.call('HSET', KEYS[8], user .. '\n' .. key, arg)
      end
      redis.call('SADD', KEYS[5], id)
      late = late + q
    end
  elseif fenced or rebuilt then
    wanted[#wanted + 1] = id
  end
  seen[id] = true
end
if #done > 0 then
  redis.call('HDEL', KEYS[2], unpack(done))
end
if #kept > 0 then
  redis.call('HSET', KEYS[4], unpack(kept))
end
if units > 0 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', -units)
end
if units + late > 0 then
  redis.call('HINCRBY', KEYS[1], 'persisted', units + late)
end
return wanted
