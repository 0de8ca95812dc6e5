#!lua
-- Copies bucket 0's state, start and end to another bucket of the same
-- sale, unless that bucket already has this version of them or a later
-- one: copies racing each other end with the latest.
-- KEYS: state (of the bucket)
-- ARGV: terms_version, state, starts_at, ends_at
local have = tonumber(redis.call('HGET', KEYS[1], 'terms_version') or '0')
if redis.call('HEXISTS', KEYS[1], 'state') == 0 or have >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'terms_version', ARGV[1], 'state', ARGV[2], 'starts_at', ARGV[3],
  'ends_at', ARGV[4])
return 1
