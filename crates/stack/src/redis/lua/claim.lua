#!lua
-- A consumer is about to store these reservations: mark each as claimed (a
-- lease the sweeper respects), and name those already released, which must
-- not be stored: their units may have sold again. `settle` and `release`
-- drop the marks (a dead-lettered copy of a stored order leaves one, rare
-- and small). Bulk HSETs: this runs for every stored order.
-- KEYS: claims, released
-- ARGV: order ids
-- Returns the released ids among them.
local time = redis.call('TIME')
local now = time[1] .. string.format('%06d', tonumber(time[2]))
local any_released = redis.call('EXISTS', KEYS[2]) == 1
local refused, marks = {}, {}
local function flush()
  if #marks > 0 then
    redis.call('HSET', KEYS[1], unpack(marks))
    marks = {}
  end
end
for _, id in ipairs(ARGV) do
  if any_released and redis.call('HEXISTS', KEYS[2], id) == 1 then
    refused[#refused + 1] = id
  else
    marks[#marks + 1] = id
    marks[#marks + 1] = now
    if #marks >= 1000 then
      flush()
    end
  end
end
flush()
return refused
