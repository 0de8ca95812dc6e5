#!lua
-- Puts the units of a stored order that expired or was cancelled back on
-- sale, as `SaleBook::give_back`: once per order id (KEYS[6]), from
-- persisted, or from in flight if the order was not settled here yet; the
-- buyer's count drops, so the limit is free again. Its idempotency record
-- stays: a retry of that intent is answered with this order. Called only
-- after the ledger decided the order expired or cancelled.
-- KEYS: state, stock, buyers, inflight, settled, given_back
-- ARGV: order_id, user_id, quantity
-- Returns the units given back, 0 if none (given back before, or a sale
-- Redis no longer holds: a rebuild reads the ledger, which has it).
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SADD', KEYS[6], ARGV[1]) == 0 then
  return 0
end
local id, user, q = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HDEL', KEYS[4], id) == 1 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', -q)
else
  redis.call('HINCRBY', KEYS[1], 'persisted', -q)
end
-- A rebuild under way must not count it from what settle kept.
redis.call('HDEL', KEYS[5], id)
redis.call('INCRBY', KEYS[2], q)
if redis.call('HINCRBY', KEYS[3], user, -q) <= 0 then
  redis.call('HDEL', KEYS[3], user)
end
return q
