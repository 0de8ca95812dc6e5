#!lua
-- Rebuilds one sale from the catalog's terms and the order ledger, keeping
-- the reservations still in flight, in one atomic step (purchases wait).
-- Persisted = the ledger snapshot (ARGV[10..]) plus whatever `settle` moved
-- since the fence was opened (KEYS[8]): an order committed after the
-- snapshot is either still in flight or in that list, never missing.
-- The ids it accounted for are kept in KEYS[9] for ten minutes (with an
-- empty marker, so the set exists even for a sale with no order): a
-- consumer that held a reservation Redis forgot, and stores it after the
-- snapshot, gets it counted by `settle`.
-- Orders given back (expired, cancelled), here (KEYS[10]) or in the
-- ledger (ARGV), count nowhere and stay given back.
-- A bucket of a sale split into buckets is rebuilt alone from its buyers'
-- records: given stock "" it keeps no unit to sell (its stock is what its
-- buyers hold), and bucket 0, rebuilt last, gets the rest.
-- KEYS: state, stock, buyers, idem, inflight, outbox, rebuild flag, settled, counted, given_back
-- ARGV: state, stock (or ""), per_user_limit, starts_at, ends_at, group, prequeue_seconds,
--       fair_start_seconds, buckets, n, n given-back ids, records...
local known = redis.call('EXISTS', KEYS[1]) == 1
local persisted, inflight, gone = {}, {}, {}
local n = tonumber(ARGV[10])
for i = 11, 10 + n do
  gone[ARGV[i]] = true
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[10])) do
  gone[id] = true
end
for i = 11 + n, #ARGV do
  local id = fields(ARGV[i])[1]
  if not gone[id] then
    persisted[id] = ARGV[i]
  end
end
local settled = redis.call('HGETALL', KEYS[8])
for i = 1, #settled, 2 do
  if not persisted[settled[i]] and not gone[settled[i]] then
    persisted[settled[i]] = settled[i + 1]
  end
end
local held = redis.call('HGETALL', KEYS[5])
for i = 1, #held, 2 do
  if not persisted[held[i]] and not gone[held[i]] then
    inflight[held[i]] = held[i + 1]
  end
end
if not known then
  -- Redis lost the sale: what the outbox still holds was answered 202.
  for _, entry in ipairs(redis.call('XRANGE', KEYS[6], '-', '+')) do
    local kv = entry[2]
    for j = 1, #kv, 2 do
      -- `rec`: one record (entries of v1); `recs`: a batch's, joined by "\30".
      if kv[j] == 'rec' or kv[j] == 'recs' then
        for rec in string.gmatch(kv[j + 1], '[^\30]+') do
          local id = fields(rec)[1]
          if not persisted[id] and not inflight[id] and not gone[id] then
            inflight[id] = rec
          end
        end
      end
    end
  end
end

redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[7], KEYS[8], KEYS[9])
local batch = {''}
local function count(id)
  batch[#batch + 1] = id
  if #batch >= 1000 then
    redis.call('SADD', KEYS[9], unpack(batch))
    batch = {}
  end
end
for id in pairs(persisted) do
  count(id)
end
for id in pairs(inflight) do
  count(id)
end
if #batch > 0 then
  redis.call('SADD', KEYS[9], unpack(batch))
end
redis.call('EXPIRE', KEYS[9], 600)
local ids = {}
for id in pairs(gone) do
  ids[#ids + 1] = id
  if #ids >= 1000 then
    redis.call('SADD', KEYS[10], unpack(ids))
    ids = {}
  end
end
if #ids > 0 then
  redis.call('SADD', KEYS[10], unpack(ids))
end
local function restore(rec)
  local f = fields(rec)
  local q = tonumber(f[3])
  redis.call('HINCRBY', KEYS[3], f[2], q)
  if f[4] ~= '' then
    redis.call('HSET', KEYS[4], f[2] .. '\n' .. f[4], rec)
  end
  return q
end
local units_persisted, units_in_flight = 0, 0
for _, rec in pairs(persisted) do
  units_persisted = units_persisted + restore(rec)
end
for id, rec in pairs(inflight) do
  units_in_flight = units_in_flight + restore(rec)
  redis.call('HSET', KEYS[5], id, rec)
end
local stock = tonumber(ARGV[2]) or (units_persisted + units_in_flight)
local remaining = stock - units_persisted - units_in_flight
if remaining < 0 then
  remaining = 0
end
redis.call('SET', KEYS[2], remaining)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'stock', stock, 'limit', ARGV[3], 'buckets', ARGV[9],
  'starts_at', ARGV[4], 'ends_at', ARGV[5], 'prequeue', ARGV[7], 'fair_start', ARGV[8],
  'in_flight', units_in_flight,
  'persisted', units_persisted)
redis.pcall('XGROUP', 'CREATE', KEYS[6], ARGV[6], '0', 'MKSTREAM')
return {tostring(stock), tostring(remaining), tostring(units_in_flight), tostring(units_persisted)}
