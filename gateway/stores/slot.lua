-- Concurrency slots: a sorted set of slot_id -> expires_at (seconds), so a slot
-- held by a process that died disappears once its TTL passes. Slots are taken by
-- rate.lua (a request's admission: limits and slot in one call); this script extends
-- a held slot (long streams) and counts the live ones.
--
-- KEYS[1]  the slot set (one key: one cluster slot)
-- ARGV[1]  now in seconds, or '' to use the server clock (TIME)
-- ARGV[2]  'refresh' | 'count'
-- ARGV[3]  slot_id   ARGV[4] ttl_s (refresh only)
-- Returns  1/0 for refresh (0: the slot is not held), the number of live slots for count.
local function num(x) return string.format('%.17g', x) end

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local key, mode = KEYS[1], ARGV[2]

if mode == 'count' then
  return redis.call('ZCOUNT', key, '(' .. num(now), '+inf')
end

redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
if not redis.call('ZSCORE', key, ARGV[3]) then return 0 end
redis.call('ZADD', key, num(now + tonumber(ARGV[4])), ARGV[3])
-- The key lives as long as its longest-lived slot.
local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, string.format('%d', math.ceil((tonumber(top[2]) - now) * 1000) + 1000))
return 1
