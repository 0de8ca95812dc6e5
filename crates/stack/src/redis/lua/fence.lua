#!lua
-- Opens a cache rebuild of one sale: from now on `settle` keeps a copy of
-- what it settles (see settle.lua). The flag expires by itself, so a
-- rebuild that dies half-way leaves nothing behind for long.
-- KEYS: rebuild flag, settled
-- ARGV: seconds the fence lasts
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
