#!lua
-- A sale's draw in one consistent read: open while no state hash exists
-- (the entrants so far), else as closed.
-- KEYS: draw state, draw entries
-- Returns {} (no draw), {'open', '', entrants, 0} or phase, seed, entrants, served.
local state = redis.call('HMGET', KEYS[1], 'phase', 'seed', 'entrants', 'served')
if state[1] then
  return state
end
local entrants = redis.call('HLEN', KEYS[2])
if entrants == 0 then
  return {}
end
return {'open', '', tostring(entrants), '0'}
