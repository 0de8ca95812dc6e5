#!lua flags=no-writes
-- The live counters in one consistent read.
-- KEYS: state, stock
local l = level(KEYS[1], KEYS[2])
if not l then
  return {}
end
return l
