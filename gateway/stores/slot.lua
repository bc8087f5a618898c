-- Concurrency slots: a sorted set of slot_id -> expires_at (seconds), so a slot
-- held by a process that died disappears once its TTL passes.
--
-- KEYS[1]  the slot set (one key: one cluster slot)
-- ARGV[1]  now in seconds, or '' to use the server clock (TIME)
-- ARGV[2]  'acquire' | 'refresh' | 'count'
-- ARGV[3]  slot_id   ARGV[4] ttl_s   ARGV[5] limit (acquire only)
-- ARGV[6]  not_after: server time after which the caller has given up, or ''. A late
--          acquire (Redis was hung while the command waited in its socket) takes no
--          slot: nobody would ever release it, and it would block the key for a TTL.
-- Returns  1/0 for acquire and refresh, the number of live slots for count, -1 when
--          not_after has passed.
local function num(x) return string.format('%.17g', x) end

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local key, mode = KEYS[1], ARGV[2]
if ARGV[6] and ARGV[6] ~= '' and now > tonumber(ARGV[6]) then
  return -1
end

if mode == 'count' then
  return redis.call('ZCOUNT', key, '(' .. num(now), '+inf')
end

redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
local held = redis.call('ZSCORE', key, ARGV[3])
if mode == 'refresh' and not held then return 0 end
if mode == 'acquire' and not held and redis.call('ZCARD', key) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', key, num(now + tonumber(ARGV[4])), ARGV[3])
-- The key lives as long as its longest-lived slot.
local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, string.format('%d', math.ceil((tonumber(top[2]) - now) * 1000) + 1000))
return 1
