-- Shared by every script (prepended by scripts.rs).
--
-- A reservation record is one string, its fields joined by "\n":
--   order_id, user_id, quantity, idempotency_key ("" if none),
--   remaining after the reservation, reserved_at (microseconds since the epoch).
-- "\n" can appear in none of them: user ids and keys refuse control characters.
local function fields(rec)
  local out = {}
  for f in string.gmatch(rec .. '\n', '([^\n]*)\n') do
    out[#out + 1] = f
  end
  return out
end

-- A record's order id and quantity, without splitting the rest.
local function id_of(rec)
  return string.match(rec, '^[^\n]*')
end
local function quantity_of(rec)
  return tonumber(string.match(rec, '^[^\n]*\n[^\n]*\n([^\n]*)'))
end

-- The state at `now` (microseconds): the same rule as the domain's
-- `effective_state`.
local function effective(state, starts_at, ends_at, now)
  local starts, ends = tonumber(starts_at), tonumber(ends_at)
  if state ~= 'ended' and ends and now >= ends then
    return 'ended'
  end
  if state == 'scheduled' and starts and now >= starts then
    return 'active'
  end
  return state
end

-- The live counters, as `level` reports them.
local function level(state_key, stock_key)
  local t = redis.call('HMGET', state_key, 'state', 'stock', 'in_flight', 'persisted')
  if not t[1] then
    return nil
  end
  return {t[1], t[2], t[3], t[4], redis.call('GET', stock_key) or '0'}
end
