#!lua
-- Enters a buyer in a sale's fair-start draw, unless the draw is closed
-- (its state hash exists once closed). One entry per buyer: a second
-- attempt gets the first entry back; the first entry's key with another
-- quantity is a reused key.
-- KEYS: draw state, draw entries
-- ARGV: buyer, entry ("<order id> <quantity> <key>"), quantity, key
-- Returns {'closed'}, {'key_reused'} or {'entry', <the buyer's entry>}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'closed'}
end
local first = redis.call('HGET', KEYS[2], ARGV[1])
if not first then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return {'entry', ARGV[2]}
end
local _, _, quantity, key = string.find(first, '^%S+ (%d+) (%S+)$')
if key == ARGV[4] and quantity ~= ARGV[3] then
  return {'key_reused'}
end
return {'entry', first}
