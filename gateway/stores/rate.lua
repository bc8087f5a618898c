-- Atomic multi-limit rate check: GCRA kept as "leaky bucket as a meter", plus
-- epoch-aligned fixed windows (the UTC-day budget). Either every limit admits the
-- request and all are charged, or nothing is written at all. With a slot, the same
-- call also takes a concurrency slot (acquire) or gives it back (adjust): a request's
-- admission is one round trip and its settlement another.
--
-- KEYS[i]   one hash per limit: l = level (units in use), t = when measured
--           (GCRA) or window index (fixed); with a slot, the last key is the slot
--           sorted set (slot_id -> expires_at, as in slot.lua). All keys share the
--           bucket's hash tag, so the script touches one cluster slot.
-- ARGV[1]   now in seconds, or '' to use the server clock (TIME): every replica
--           then shares one clock, so client clock skew cannot widen a limit.
-- ARGV[2]   'acquire' | 'peek' (decide, write nothing) | 'adjust' (add cost as delta)
-- ARGV[3]   not_after: server time after which the caller has given up, or ''.
--           A call that reaches Redis later (it was hung, e.g. SIGSTOPped, and the
--           command sat in its socket) writes nothing: the caller already served the
--           request from its fallback, so charging it here would count it twice.
-- ARGV[4]   slot_id, or '' for no slot. ARGV[5] slot ttl_s, ARGV[6] slot limit.
--           acquire: refused first if the slot set is full (nothing charged), taken
--           only if every limit admits; adjust: the slot is released.
-- ARGV[7..] four per rate key: limit, period_s, cost (or delta), kind ('gcra' | 'fixed')
-- Returns   {allowed, limited_index (0 = none, -1 = the slot set is full), retry_after,
--           remaining_i, reset_i ...} as strings: Lua numbers would be truncated to
--           integers in the reply; 'stale' when not_after has passed.
local function num(x) return string.format('%.17g', x) end

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local mode = ARGV[2]
if ARGV[3] ~= '' and now > tonumber(ARGV[3]) then
  return 'stale'
end

local function fits(level, cost, limit)
  return level + cost <= limit + 1e-9 * math.max(1, limit)
end

local nrate, slot_key, slot_id = #KEYS, nil, ARGV[4]
if slot_id ~= '' then
  slot_key, nrate = KEYS[#KEYS], #KEYS - 1
end
if mode == 'acquire' and slot_key then
  redis.call('ZREMRANGEBYSCORE', slot_key, '-inf', num(now))
  if not redis.call('ZSCORE', slot_key, slot_id)
      and redis.call('ZCARD', slot_key) >= tonumber(ARGV[6]) then
    return {'0', '-1', '1'}
  end
end

local lim, per, cost, kind, level, ts = {}, {}, {}, {}, {}, {}
local allowed, worst_i, worst_wait = true, 0, 0
for i = 1, nrate do
  local b = 7 + (i - 1) * 4
  lim[i], per[i], cost[i], kind[i] =
    tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), ARGV[b + 3]
  local st = redis.call('HMGET', KEYS[i], 'l', 't')
  local l, t = tonumber(st[1]) or 0, tonumber(st[2])
  if kind[i] == 'fixed' then
    local win = math.floor(now / per[i])
    if t ~= win then l = 0 end
    t = win
  elseif t == nil then
    l, t = 0, now
  else
    -- A clock behind t drains nothing and t never moves back: no double drain.
    l = math.max(0, l - math.max(0, now - t) * lim[i] / per[i])
    t = math.max(t, now)
  end
  level[i], ts[i] = l, t
  if mode ~= 'adjust' and not fits(l, cost[i], lim[i]) then
    allowed = false
    local wait
    if not fits(0, cost[i], lim[i]) then
      wait = math.huge
    elseif kind[i] == 'fixed' then
      wait = (t + 1) * per[i] - now
    else
      wait = (l + cost[i] - lim[i]) * per[i] / lim[i]
    end
    if worst_i == 0 or wait > worst_wait then worst_i, worst_wait = i, wait end
  end
end

local write = mode == 'adjust' or (mode == 'acquire' and allowed)
local out = {allowed and '1' or '0', tostring(worst_i), num(worst_wait)}
for i = 1, nrate do
  local l = level[i]
  if write then l = math.max(0, l + cost[i]) end
  local reset
  if kind[i] == 'fixed' then
    reset = (ts[i] + 1) * per[i] - now
  else
    reset = l * per[i] / lim[i]
  end
  if write then
    redis.call('HSET', KEYS[i], 'l', num(l), 't', num(ts[i]))
    -- Once drained, a bucket equals an absent one: let Redis drop it then.
    local ttl_ms = math.min(math.ceil(reset * 1000) + 1000, 400 * 86400000)
    redis.call('PEXPIRE', KEYS[i], string.format('%d', ttl_ms))
  end
  out[#out + 1] = num(math.max(0, lim[i] - l))
  out[#out + 1] = num(reset)
end
if slot_key and mode == 'acquire' and allowed then
  redis.call('ZADD', slot_key, num(now + tonumber(ARGV[5])), slot_id)
  -- The key lives as long as its longest-lived slot.
  local top = redis.call('ZRANGE', slot_key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', slot_key,
             string.format('%d', math.ceil((tonumber(top[2]) - now) * 1000) + 1000))
elseif slot_key and mode == 'adjust' then
  redis.call('ZREM', slot_key, slot_id)
end
return out
