#!lua
-- Compare-and-set of the state: the caller computed `next` with the
-- domain's state machine from the state, start and end it read; if any of
-- them changed since, nothing is written and the caller tries again.
-- Each change bumps `terms_version`, by which a sale's other buckets take
-- the change in order (`spread.lua`).
-- KEYS: state
-- ARGV: expected state, expected starts_at, expected ends_at, next state
local t = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at')
if not t[1] then
  return 'not_found'
end
if t[1] ~= ARGV[1] or t[2] ~= ARGV[2] or t[3] ~= ARGV[3] then
  return 'retry'
end
redis.call('HSET', KEYS[1], 'state', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'terms_version', 1)
return 'ok'
