/**
 * @module hallpass/stores/redis
 *
 * The Lua scripts of the Redis store, as TypeScript strings so the build ships them. Each script
 * touches only the keys passed in `KEYS`, and every call passes keys of one hash tag, so each
 * script runs on a single Redis Cluster slot (a script that reaches for a key of another slot
 * fails on a cluster with CROSSSLOT, and on a standalone server would silently lose atomicity
 * once sharded). Scripts are atomic: no other command runs between their steps.
 *
 * Conventions shared with the store (codec.ts):
 * - every caller-supplied string (ids, subjects, hashes, reasons, device values) is stored
 *   JSON-encoded, so equality of stored values is equality of the strings, lone surrogates
 *   included, and the values can be spliced into a JSON document without re-encoding;
 * - numbers are stored as the decimal strings JavaScript's `String(n)` produces, and scripts
 *   never write a number they computed except through `string.format('%.0f')` on integers, which
 *   is exact up to 2^53 (Lua 5.1's `tostring` keeps only 14 significant digits);
 * - an absent hash field is `null` in the record.
 */
import { createHash } from 'node:crypto'

/** A Lua script and its SHA-1, for EVALSHA with an EVAL fallback on NOSCRIPT. */
export interface RedisScript {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

export function defineScript(name: string, lua: string): RedisScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/*
 * Sets the key's absolute expiry to `at` (epoch ms) but never less than `floor` ms from the
 * server's own clock: the deadlines come from the caller's clock, which tests inject and which
 * can be skewed in production, and a deadline already past on the server clock would make Redis
 * delete the key on the spot, before `purgeExpired` (which decides with the caller's clock)
 * would. `floor` is the retention margin, so a session is never dropped sooner than that.
 */
const EXPIRE_AT = `
local function expire_at(key, at, floor)
  local t = redis.call('TIME')
  local server_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if tonumber(at) < server_ms + tonumber(floor) then
    redis.call('PEXPIRE', key, floor)
  else
    redis.call('PEXPIREAT', key, at)
  end
end
`

/** KEYS[1] session hash. ARGV: expireAt, floor, field, value, …. Returns 1, or 0 if the id exists. */
export const createSessionScript = defineScript(
  'createSession',
  `${EXPIRE_AT}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
expire_at(KEYS[1], ARGV[1], ARGV[2])
return 1
`,
)

/** KEYS[1] session hash. Returns the flat HGETALL array (empty when absent), in RESP2 shape whatever the connection speaks. */
export const getSessionScript = defineScript('getSession', `return redis.call('HGETALL', KEYS[1])`)

/**
 * The refresh-token compare-and-set. KEYS[1] session hash. ARGV: generation, hash, newHash, now,
 * idleExpiresAt, newGeneration, retention margin (ms), maxAccessExp (raised to, never lowered),
 * then device field/value pairs to merge.
 * Returns {1, record} when rotated, else {0, record} ({0, {}} when absent), so the caller can
 * classify a failed attempt without a second read.
 */
export const rotateScript = defineScript(
  'rotateRefreshToken',
  `${EXPIRE_AT}
local s = KEYS[1]
local f = redis.call('HMGET', s, 'expiresAt', 'idleExpiresAt', 'generation', 'refreshHash', 'revokedAt')
if not f[1] then return {0, {}} end
local now = tonumber(ARGV[4])
if f[5] or tonumber(f[1]) <= now or tonumber(f[2]) <= now or f[3] ~= ARGV[1] or f[4] ~= ARGV[2] then
  return {0, redis.call('HGETALL', s)}
end
local bound = math.max(tonumber(redis.call('HGET', s, 'maxAccessExp') or '0'), tonumber(ARGV[8]))
redis.call('HSET', s, 'generation', ARGV[6], 'previousHash', ARGV[2], 'refreshHash', ARGV[3],
  'rotatedAt', ARGV[4], 'lastSeenAt', ARGV[4], 'idleExpiresAt', ARGV[5], 'maxAccessExp', string.format('%.0f', bound))
redis.call('HDEL', s, 'undeliveredHash')
if #ARGV > 8 then redis.call('HSET', s, unpack(ARGV, 9)) end
-- The key lives until the earlier deadline plus the retention margin; the idle deadline moved.
local deadline = math.min(tonumber(f[1]), tonumber(ARGV[5]))
expire_at(s, string.format('%.0f', math.ceil(deadline) + tonumber(ARGV[7])), ARGV[7])
return {1, redis.call('HGETALL', s)}
`,
)

/**
 * Marks the current refresh token's answer lost. KEYS[1] session hash. ARGV: generation, hash,
 * rotatedAt ('' = any). Returns 1 when the mark is set (or already was), 0 when the session is
 * absent or revoked, or its current generation, hash or rotatedAt is another.
 */
export const markUndeliveredScript = defineScript(
  'markUndelivered',
  `
local s = KEYS[1]
local f = redis.call('HMGET', s, 'generation', 'refreshHash', 'revokedAt', 'rotatedAt')
if not f[1] or f[3] or f[1] ~= ARGV[1] or f[2] ~= ARGV[2] or (ARGV[3] ~= '' and f[4] ~= ARGV[3]) then return 0 end
redis.call('HSET', s, 'undeliveredHash', ARGV[2])
return 1
`,
)

/**
 * Issues a lost answer's token again, once: the rotation's compare-and-set plus the mark.
 * KEYS[1] session hash. ARGV: generation, hash, now, idleExpiresAt, maxAccessExp, retention
 * margin (ms). Returns {1, record} when redelivered, else {0, record} ({0, {}} when absent).
 */
export const redeliverScript = defineScript(
  'redeliverRefreshToken',
  `${EXPIRE_AT}
local s = KEYS[1]
local f = redis.call('HMGET', s, 'expiresAt', 'idleExpiresAt', 'generation', 'refreshHash', 'revokedAt', 'undeliveredHash')
if not f[1] then return {0, {}} end
local now = tonumber(ARGV[3])
if f[5] or tonumber(f[1]) <= now or tonumber(f[2]) <= now or f[3] ~= ARGV[1] or f[4] ~= ARGV[2] or f[6] ~= ARGV[2] then
  return {0, redis.call('HGETALL', s)}
end
local bound = math.max(tonumber(redis.call('HGET', s, 'maxAccessExp') or '0'), tonumber(ARGV[5]))
redis.call('HDEL', s, 'undeliveredHash')
redis.call('HSET', s, 'rotatedAt', ARGV[3], 'lastSeenAt', ARGV[3], 'idleExpiresAt', ARGV[4], 'maxAccessExp', string.format('%.0f', bound))
local deadline = math.min(tonumber(f[1]), tonumber(ARGV[4]))
expire_at(s, string.format('%.0f', math.ceil(deadline) + tonumber(ARGV[6])), ARGV[6])
return {1, redis.call('HGETALL', s)}
`,
)

/**
 * Marks a session revoked if it is not already. KEYS[1] session hash. ARGV: now, reason,
 * feedExp, expected subject ('' = any). Returns {1, exp} when revoked now, with the feed entry's
 * exp (feedExp raised to the session's maxAccessExp), {0} when absent (or of another subject),
 * {2, revokedAt, reason, exp} when it already was. The expiry is left alone: a revoked session
 * leaves at the same time it would have anyway.
 */
export const revokeScript = defineScript(
  'revokeSession',
  `
local s = KEYS[1]
local f = redis.call('HMGET', s, 'subject', 'revokedAt', 'revokeReason', 'feedExp', 'maxAccessExp')
if not f[1] then return {0} end
if ARGV[4] ~= '' and f[1] ~= ARGV[4] then return {0} end
if f[2] then return {2, f[2], f[3] or '', f[4] or ''} end
local exp = string.format('%.0f', math.max(tonumber(ARGV[3]), tonumber(f[5] or '0')))
redis.call('HSET', s, 'revokedAt', ARGV[1], 'revokeReason', ARGV[2], 'feedExp', exp)
return {1, exp}
`,
)

/*
 * The feed's epoch (src/session/feed-cursor.ts): read, or drawn from the candidate the caller
 * passes when the key is missing (a new or flushed Redis). It lives on the feed's slot.
 */
const FEED_EPOCH = `
local function feed_epoch(key, candidate)
  redis.call('SET', key, candidate, 'NX')
  return redis.call('GET', key)
end
`

/**
 * Appends a revocation to the feed once per session id, and publishes it. KEYS: stream,
 * sid→id hash, sid-by-exp sorted set, epoch, head (all on the feed's slot). ARGV: sid, exp,
 * revokedAt, reason, channel, epoch candidate. Returns {1, id, epoch} when appended, {0, id,
 * epoch} when the session was already on the feed: that makes the append safe to retry after a
 * crash or a lost reply. The stream is never trimmed by length: an entry leaves only once its
 * exp has passed (purgeFeedScript). Stream ids come from Redis's clock, so a server restored
 * from an older snapshot never gives out an id again; `head` keeps the newest id given out,
 * which the readers compare cursors with. The published message is the entry as JSON (sid and
 * reason arrive JSON-encoded, exp and revokedAt as JSON numbers), in stream order because
 * scripts run one at a time.
 */
export const feedAppendScript = defineScript(
  'appendRevocation',
  `${FEED_EPOCH}
local epoch = feed_epoch(KEYS[4], ARGV[6])
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, existing, epoch} end
local id = redis.call('XADD', KEYS[1], '*', 'sid', ARGV[1], 'exp', ARGV[2], 'revokedAt', ARGV[3], 'reason', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('SET', KEYS[5], id)
redis.call('PUBLISH', ARGV[5], '{"epoch":"' .. epoch .. '","id":"' .. id .. '","sid":' .. ARGV[1] .. ',"exp":' .. ARGV[2] ..
  ',"revokedAt":' .. ARGV[3] .. ',"reason":' .. ARGV[4] .. '}')
return {1, id, epoch}
`,
)

/**
 * Reads the feed. KEYS: stream, epoch, head. ARGV: epoch candidate, the id to read after ('' =
 * from the start), count, minExp ('' = none), the epoch the reader's cursor carries ('' =
 * none). Returns {epoch, head, status, entries…}: status 'ok', or 'foreign' (the cursor is of
 * another epoch) or 'ahead' (after the newest id ever given out: a restored snapshot), with no
 * entries. Entries whose exp is below minExp are skipped without cutting the page short.
 * Ids compare as zero-padded strings (a Lua number cannot hold every 64-bit integer).
 */
export const feedReadScript = defineScript(
  'readRevocations',
  `${FEED_EPOCH}
local epoch = feed_epoch(KEYS[2], ARGV[1])
local head = redis.call('GET', KEYS[3])
if not head then
  -- A feed written before the head key existed: its newest entry.
  local tail = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  head = tail[1] and tail[1][1] or '0-0'
end
if ARGV[5] ~= '' and ARGV[5] ~= epoch then return {epoch, head, 'foreign'} end
local function padded(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end
if ARGV[2] ~= '' and padded(ARGV[2]) > padded(head) then return {epoch, head, 'ahead'} end
local out = {epoch, head, 'ok'}
local count = tonumber(ARGV[3])
local min_exp = ARGV[4] ~= '' and tonumber(ARGV[4]) or nil
local start = ARGV[2] == '' and '-' or ('(' .. ARGV[2])
while #out - 3 < count do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', count)
  for _, entry in ipairs(batch) do
    if #out - 3 >= count then break end
    local keep = true
    if min_exp then
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'exp' then keep = tonumber(fields[i + 1]) >= min_exp end
      end
    end
    if keep then out[#out + 1] = entry end
  end
  if #batch < count then break end
  start = '(' .. batch[#batch][1]
end
return out
`,
)

/** KEYS[1] audit list. ARGV: cap, event, event, … (oldest first). Newest ends up at the head. */
export const auditAppendScript = defineScript(
  'appendAudit',
  `
redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return 1
`,
)

/**
 * KEYS[1] the recent-audit stream. ARGV: cap, event, event, … (oldest first). One stream entry
 * (field `e`) per event, the stream trimmed to exactly `cap` entries: the oldest go first. Ids
 * come from the server's clock and never go backwards, so they order the entries as written.
 */
export const recentAuditAppendScript = defineScript(
  'appendRecentAudit',
  `
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[i])
end
return 1
`,
)

/** KEYS[1] subject index. Returns {member, score, …}, newest first. */
export const listIndexScript = defineScript('listSessions', `return redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')`)

/** KEYS[1] keyring hash. ARGV: expected version, next version, data. Returns 1 if written. */
export const saveKeyringScript = defineScript(
  'saveKeyring',
  `
local v = redis.call('HGET', KEYS[1], 'version')
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'data', ARGV[3])
return 1
`,
)

/**
 * KEYS[1] session hash. ARGV[1] cutoff (now minus the retention margin). Deletes the session if
 * either deadline is before the cutoff. Returns {1} deleted, {0} already gone, {2, deadline}
 * when it is still within its deadlines (the earlier one, to re-file it in the purge index).
 */
export const purgeSessionScript = defineScript(
  'purgeSession',
  `
local f = redis.call('HMGET', KEYS[1], 'expiresAt', 'idleExpiresAt')
if not f[1] then return {0} end
local e, i, c = tonumber(f[1]), tonumber(f[2]), tonumber(ARGV[1])
if e < c or i < c then
  redis.call('DEL', KEYS[1])
  return {1}
end
if e < i then return {2, f[1]} end
return {2, f[2]}
`,
)

/**
 * KEYS: stream, sid→id hash, sid-by-exp sorted set. ARGV: now in seconds (exclusive bound),
 * batch size. Deletes up to one batch of feed entries whose `exp` is before now.
 * Returns {examined, deleted}.
 */
export const purgeFeedScript = defineScript(
  'purgeFeed',
  `
local sids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local deleted = 0
for _, sid in ipairs(sids) do
  local id = redis.call('HGET', KEYS[2], sid)
  if id then
    deleted = deleted + redis.call('XDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], sid)
  end
  redis.call('ZREM', KEYS[3], sid)
end
return {#sids, deleted}
`,
)
