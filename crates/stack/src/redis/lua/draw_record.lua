#!lua
-- Records the answers of the next entries of a draw, in the drawn order,
-- if the served position is still the one the caller read: two servers
-- never both record the same positions.
-- KEYS: draw state, draw answers
-- ARGV: served (the position read), then buyer, answer pairs
-- Returns the served position afterwards.
local state = redis.call('HMGET', KEYS[1], 'phase', 'entrants', 'served')
if state[1] ~= 'serving' or state[3] ~= ARGV[1] then
  return tonumber(state[3] or 0)
end
local count = (#ARGV - 1) / 2
if count > 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 2))
end
local served = tonumber(ARGV[1]) + count
local phase = 'serving'
if served >= tonumber(state[2]) then
  phase = 'served'
end
redis.call('HSET', KEYS[1], 'phase', phase, 'served', served)
return served
