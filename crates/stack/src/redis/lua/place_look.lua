#!lua flags=no-writes
-- A place's stock, the units moving out of it, and its version, in one
-- consistent read.
-- KEYS: stock, moving, version
local moving = 0
for _, entry in ipairs(redis.call('HVALS', KEYS[2])) do
  moving = moving + tonumber(string.match(entry, '^%d+'))
end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), moving, tonumber(redis.call('GET', KEYS[3]) or '0')}
