/**
 * The adapter's Lua scripts (EVALSHA through ioredis `defineCommand`; reloaded by ioredis after a restart).
 * Every script touches only keys of one hash tag, so each runs on one Redis Cluster node.
 *
 * Fencing: a partition's lease key holds the name of the consumer allowed to read it (`<member>#<n>`, new
 * for every acquisition). Every command that changes a group's state on a partition — XREADGROUP, XCLAIM,
 * XACK — runs inside a script that first checks that the lease still holds the caller's consumer name, so
 * an instance that lost its lease (paused, cut off) can neither take, claim nor acknowledge entries.
 */

/** Shared helpers: stream-ID arithmetic, and the oldest entry some group of the stream still needs. */
const SAFE_MIN = `
local function idparts(id) local ms, seq = string.match(id, '^(%d+)-(%d+)$') return tonumber(ms), tonumber(seq), ms end
local function idless(a, b)
  local am, as = idparts(a) local bm, bs = idparts(b)
  return am < bm or (am == bm and as < bs)
end
local function fields(flat) local f = {} for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end return f end
-- Entries below the returned ID are acknowledged by every group (nil: no group, keep everything).
local function safemin(key)
  if redis.call('EXISTS', key) == 0 then return nil end
  local min, group
  for _, flat in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local g = fields(flat)
    local candidate
    if g['pending'] > 0 then
      candidate = redis.call('XPENDING', key, g['name'])[2]
    else
      local _, seq, ms = idparts(g['last-delivered-id'])
      candidate = ms .. '-' .. string.format('%.0f', seq + 1)
    end
    if min == nil or idless(candidate, min) then min, group = candidate, g['name'] end
  end
  return min, group
end
local function trim(key)
  local min, group = safemin(key)
  if min == nil then return 0, '' end
  return redis.call('XTRIM', key, 'MINID', min), group
end
`;

const FENCE = `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1} end`;

export const SCRIPTS = {
  /**
   * KEYS: stream, lease. ARGV: consumer, group, count, wantLastId ('1'/'0').
   * {1, entries} | {0[, last-delivered-id]} nothing new | {-1} lease lost | {-2} no such group.
   */
  omnibusRead: {
    numberOfKeys: 2,
    lua: `${FENCE}
local res = redis.pcall('XREADGROUP', 'GROUP', ARGV[2], ARGV[1], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if type(res) == 'table' and res.err then
  if string.find(res.err, 'NOGROUP') then return {-2} end
  return res
end
if res and res[1] and #res[1][2] > 0 then return {1, res[1][2]} end
if ARGV[4] == '1' then
  for _, flat in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    for i = 1, #flat, 2 do
      if flat[i] == 'name' and flat[i + 1] ~= ARGV[2] then break end
      if flat[i] == 'last-delivered-id' then return {0, flat[i + 1]} end
    end
  end
end
return {0}`,
  },
  /**
   * Takes over pending entries of every consumer of the group, in ID order, from `start`.
   * KEYS: stream, lease. ARGV: consumer, group, start, count.
   * {1, next start, entries, ids, delivery counts} | {2} nothing left | {-1} lease lost | {-2} no such group.
   * When nothing is left, consumers that hold no entry are forgotten (each acquisition has its own name).
   */
  omnibusReclaim: {
    numberOfKeys: 2,
    lua: `${FENCE}
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[2], ARGV[3], '+', ARGV[4])
if type(pending) == 'table' and pending.err then
  if string.find(pending.err, 'NOGROUP') then return {-2} end
  return pending
end
if #pending == 0 then
  for _, flat in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[2])) do
    local name, count
    for i = 1, #flat, 2 do
      if flat[i] == 'name' then name = flat[i + 1] elseif flat[i] == 'pending' then count = flat[i + 1] end
    end
    if name ~= ARGV[1] and count == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[2], name) end
  end
  return {2}
end
local ids, counts = {}, {}
for i, entry in ipairs(pending) do ids[i] = entry[1] counts[i] = entry[4] end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[2], ARGV[1], 0, unpack(ids))
return {1, '(' .. ids[#ids], claimed, ids, counts}`,
  },
  /** KEYS: stream, lease. ARGV: consumer, group, id… → entries acknowledged, or -1 when the lease is lost. */
  omnibusAck: {
    numberOfKeys: 2,
    lua: `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
return redis.call('XACK', KEYS[1], ARGV[2], unpack(ARGV, 3))`,
  },
  /**
   * KEYS: lease. ARGV: consumer, member prefix, lease ms → 1 taken, 0 held by another member. A lease this
   * member left behind (an earlier acquisition, e.g. before a Redis restart) is taken over.
   */
  omnibusAcquire: {
    numberOfKeys: 1,
    lua: `local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, #ARGV[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`,
  },
  /** KEYS: lease. ARGV: consumer, lease ms → 1 renewed, 0 lost. */
  omnibusRenew: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
  },
  /**
   * KEYS: lease, stream. ARGV: consumer, group. Drops the lease if it is still this consumer's, and the
   * consumer if it holds no entry (entries it holds wait for the next owner, who claims them).
   */
  omnibusRelease: {
    numberOfKeys: 2,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local held = redis.pcall('XPENDING', KEYS[2], ARGV[2], '-', '+', 1, ARGV[1])
if type(held) == 'table' and not held.err and #held == 0 then
  redis.pcall('XGROUP', 'DELCONSUMER', KEYS[2], ARGV[2], ARGV[1])
end
return 1`,
  },
  /**
   * The group's member registry, on Redis's clock. KEYS: members. ARGV: member, ttl ms, leaving ('1'/'0').
   * Returns the live members.
   */
  omnibusHeartbeat: {
    numberOfKeys: 1,
    lua: `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZRANGE', KEYS[1], 0, -1)`,
  },
  /** KEYS: stream → {entries trimmed, length, group holding the oldest unacknowledged entry}. */
  omnibusTrim: {
    numberOfKeys: 1,
    lua: `${SAFE_MIN}
local trimmed, group = trim(KEYS[1])
return {trimmed, redis.call('XLEN', KEYS[1]), group}`,
  },
  /**
   * Appends messages to one partition stream, in order. KEYS: stream. ARGV: maxLen (0: none), then per
   * message: chain ('' for keyless), field count, fields…. Per message: the entry ID, {'FULL', length,
   * group} when the stream is at maxLen with nothing trimmable, or 'SKIP' after an earlier failure of its chain.
   */
  omnibusPublish: {
    numberOfKeys: 1,
    lua: `${SAFE_MIN}
local maxlen = tonumber(ARGV[1])
local len = 0
if maxlen > 0 then len = redis.call('XLEN', KEYS[1]) end
local out, failed, trimmed, blocker = {}, {}, false, ''
local i = 2
while i <= #ARGV do
  local chain, n = ARGV[i], tonumber(ARGV[i + 1])
  if chain ~= '' and failed[chain] then
    out[#out + 1] = 'SKIP'
  else
    if maxlen > 0 and len >= maxlen and not trimmed then
      local _, group = trim(KEYS[1])
      blocker, trimmed, len = group, true, redis.call('XLEN', KEYS[1])
    end
    if maxlen > 0 and len >= maxlen then
      out[#out + 1] = {'FULL', len, blocker}
      if chain ~= '' then failed[chain] = true end
    else
      out[#out + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
      len = len + 1
    end
  end
  i = i + 2 + n
end
return out`,
  },
  /**
   * Records a topic's partition count (the first writer's) and its groups. KEYS: meta, groups.
   * ARGV: partitions, group…. Returns the recorded partition count.
   */
  omnibusTopic: {
    numberOfKeys: 2,
    lua: `redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1])
if #ARGV > 1 then redis.call('SADD', KEYS[2], unpack(ARGV, 2)) end
return redis.call('HGET', KEYS[1], 'partitions')`,
  },
  /** Idempotency lease. KEYS: key. ARGV: holder, lease ms → 'claimed' | 'completed' | 'busy'. */
  omnibusClaim: {
    numberOfKeys: 1,
    lua: `local value = redis.call('GET', KEYS[1])
if value == 'done' then return 'completed' end
if value then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'`,
  },
  /** KEYS: key. ARGV: holder → drops the idempotency lease if this holder still has it. */
  omnibusUnclaim: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
