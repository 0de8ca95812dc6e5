#!lua
-- The second half of a transfer: adds its units to the destination's
-- stock once per transfer id (its `applied` set), whoever credits it: the
-- process that debited, or any process finishing a transfer whose debitor
-- died. Bumps the version when it credits.
-- KEYS: stock, applied, version (of the destination)
-- ARGV: transfer id, units
-- Returns 1 if credited now, 0 if it was before.
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[3])
return 1
