#!lua
-- A consumer is about to store these reservations: mark each one still in
-- flight as claimed (a lease the sweeper respects), and name those already
-- released, which must not be stored: their units may have sold again.
-- KEYS: inflight, claims, released
-- ARGV: order ids
-- Returns the released ids among them.
local time = redis.call('TIME')
local now = time[1] .. string.format('%06d', tonumber(time[2]))
local refused = {}
for _, id in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[3], id) == 1 then
    refused[#refused + 1] = id
  elseif redis.call('HEXISTS', KEYS[1], id) == 1 then
    redis.call('HSET', KEYS[2], id, now)
  end
end
return refused
