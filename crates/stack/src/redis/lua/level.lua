#!lua flags=no-writes
-- The live counters in one consistent read.
-- Of a bucket, the units moving out of it (KEYS[3]) count as remaining:
-- they are on their way to another bucket.
-- KEYS: state, stock[, moving]
local l = level(KEYS[1], KEYS[2])
if not l then
  return {}
end
if KEYS[3] then
  local moving = 0
  for _, entry in ipairs(redis.call('HVALS', KEYS[3])) do
    moving = moving + tonumber(string.match(entry, '^%d+'))
  end
  l[5] = string.format('%d', tonumber(l[5]) + moving)
end
return l
