#!lua
-- Closes a sale's draw once: the entrants are counted and the seed kept;
-- a later call (any process) changes nothing and reads them.
-- KEYS: draw state, draw entries
-- ARGV: seed (64 hex digits)
-- Returns phase, seed, entrants, served.
if redis.call('EXISTS', KEYS[1]) == 0 then
  local entrants = redis.call('HLEN', KEYS[2])
  local phase = 'serving'
  if entrants == 0 then
    phase = 'served'
  end
  redis.call('HSET', KEYS[1], 'phase', phase, 'seed', ARGV[1], 'entrants', entrants, 'served', 0)
end
return redis.call('HMGET', KEYS[1], 'phase', 'seed', 'entrants', 'served')
