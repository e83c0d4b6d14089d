/**
 * @module hallpass/server
 *
 * The built-in user table of `hallpass serve` on Redis (standalone or Cluster), through the
 * session store's ioredis client. The store never opens or closes a connection.
 *
 * Keys (prefix `hp:` by default, as the session store's):
 *
 * | key                      | type       | slot      | holds                                              |
 * | ------------------------ | ---------- | --------- | -------------------------------------------------- |
 * | `hp:{u:<name>}:user`     | hash       | the user  | `username`, `passwordHash`, `createdAt`, `updatedAt` |
 * | `hp:{users}`             | sorted set | the index | every username, score 0 (so ordered by its bytes)  |
 *
 * `<name>` is the session store's subject encoding (`subjectTag` in `redis.ts`): base64url of the
 * UTF-8 name, or of its SHA-256 when long, so no name can break out of the hash tag (Redis
 * hashes only the text between the first `{` and the next `}`) or share a key with another name.
 * A user's hash lands in the same slot as that subject's sessions and audit trail.
 *
 * The hash and the index are in different slots, and a cluster has no transaction across slots,
 * so the two are written in an order that keeps the hash authoritative:
 * - `createUser` writes the hash with a script that does nothing if the hash exists (atomic
 *   "insert if absent": one winner among racing creations), then adds the name to the index.
 *   Every attempt adds it, the losers included, so a creation interrupted between its two steps
 *   is completed by the next attempt to create that name.
 * - `deleteUser` deletes the hash, then removes the name from the index.
 * - `listUsers` and `countUsers` read the index and then the hashes, and prune the entries whose
 *   hash is missing (left by a crash, or by a deletion in progress).
 * Every removal from the index is followed by a check of the hash, and the name is added back
 * when the hash exists: a removal that lands just after a concurrent re-creation of the same
 * name re-adds it, so once the operations have finished every user is in the index.
 */
import { createHash } from 'node:crypto'
import { ConfigInvalid, HallpassError, SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type { UserRecord, UserStore, UserSummary } from '../../users/user-store.ts'
import { normalizeUsername } from '../../users/usernames.ts'
import { subjectTag, type RedisClient } from './session-store.ts'

export interface RedisUserStoreOptions {
  /** The connection for commands (the session store's). The store never closes it. */
  readonly client: RedisClient
  /** Prefix of every key. Default `hp:`. Must not contain `{` or `}` (hash tags). */
  readonly keyPrefix?: string
}

/** Names read from the index per round trip, and hashes fetched concurrently. */
const PAGE = 256

interface Commands {
  call(command: string, ...args: (string | number)[]): Promise<unknown>
}

interface Script {
  readonly lua: string
  readonly sha: string
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/** KEYS[1] user hash. ARGV: username, passwordHash, createdAt, updatedAt. 1 when written, 0 when the user exists. */
const createUserScript = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'username', ARGV[1], 'passwordHash', ARGV[2], 'createdAt', ARGV[3], 'updatedAt', ARGV[4])
return 1
`)

/** KEYS[1] user hash. ARGV: passwordHash, updatedAt. 1 when written, 0 when there is no such user (nothing is created). */
const updatePasswordScript = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'passwordHash', ARGV[1], 'updatedAt', ARGV[2])
return 1
`)

// ---- input checks (the same rules in every user store) ---------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// PHC string format (password-hashing competition): `$id$param=value,…$salt$hash`, every part
// printable ASCII without spaces. Anything else cannot be a hash argon2 produced.
const PHC_TEXT = /^[\x21-\x7e]{1,1024}$/

/**
 * Only names that `normalizeUsername` maps to themselves are stored, so no caller can register
 * "Alice" beside "alice" (or a full-width twin) by forgetting to normalise. Lone surrogates pass
 * NFKC unchanged but are not text: the UTF-8 sent to Redis would turn each into U+FFFD, so
 * distinct names would share an index entry.
 */
function checkUsername(username: unknown): string {
  if (typeof username !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  let canonical: string | undefined
  try {
    canonical = normalizeUsername(username)
  } catch {
    canonical = undefined
  }
  if (canonical !== username || LONE_SURROGATE.test(username)) {
    throw new SessionInputInvalid('username', 'must be a normalised username (see normalizeUsername)')
  }
  return username
}

/** A name looked up: any string; one no user can have (NUL, lone surrogates) is simply not found. */
function isStorable(username: unknown): username is string {
  if (typeof username !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  return !username.includes('\u0000') && !LONE_SURROGATE.test(username)
}

function checkHash(passwordHash: unknown): string {
  if (typeof passwordHash !== 'string' || !PHC_TEXT.test(passwordHash)) {
    throw new SessionInputInvalid('passwordHash', 'must be a PHC hash string (1-1024 printable ASCII characters)')
  }
  return passwordHash
}

function checkTime(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new SessionInputInvalid(field, 'must be an integer (epoch milliseconds)')
  return value
}

function checkUser(user: UserRecord): UserRecord {
  if (typeof user !== 'object' || user === null) throw new SessionInputInvalid('user', 'must be a user record')
  return {
    username: checkUsername(user.username),
    passwordHash: checkHash(user.passwordHash),
    createdAt: checkTime('createdAt', user.createdAt),
    updatedAt: checkTime('updatedAt', user.updatedAt),
  }
}

// ---- the store ------------------------------------------------------------------------------

/**
 * Creates a `UserStore` on Redis through an injected ioredis client (standalone or Cluster); it
 * sends no command until used. Throws `ERR_CONFIG_INVALID` for bad options. Driver failures
 * reject with `ERR_STORE_UNAVAILABLE`, unacceptable input with `ERR_SESSION_INPUT_INVALID`.
 * Reached through `openStore` (`hallpass/server`), with the session store's client and prefix.
 *
 * @example
 * import { Redis } from 'ioredis'
 * const client = new Redis(process.env.REDIS_URL!)
 * const users = createRedisUserStore({ client })
 * if ((await users.countUsers()) === 0) await users.createUser({ username: 'admin', passwordHash, createdAt: now, updatedAt: now })
 */
export function createRedisUserStore(options: RedisUserStoreOptions): UserStore {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (key !== 'client' && key !== 'keyPrefix') throw new ConfigInvalid(key, 'is not an option of createRedisUserStore')
  }
  const candidate: unknown = options.client
  if (typeof candidate !== 'object' || candidate === null || typeof (candidate as { call?: unknown }).call !== 'function') {
    throw new ConfigInvalid('client', 'must be an ioredis client')
  }
  const prefix = options.keyPrefix ?? 'hp:'
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    throw new ConfigInvalid('keyPrefix', 'must be a string of at most 64 characters without "{" or "}"')
  }
  const client = candidate as Commands
  const userKey = (username: string): string => `${prefix}{${subjectTag(username)}}:user`
  const indexKey = `${prefix}{users}`

  // Every driver failure becomes StoreUnavailable: fail closed without blaming the credential.
  const guard = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      if (error instanceof HallpassError) throw error
      throw new StoreUnavailable(`redis users ${operation} failed`, { cause: scrub(error) })
    }
  }

  // EVALSHA, and EVAL when the server does not have the script (first use, restart, SCRIPT
  // FLUSH, failover); EVAL also caches it for the next EVALSHA.
  const run = async (s: Script, key: string, args: readonly (string | number)[]): Promise<unknown> => {
    try {
      return await client.call('EVALSHA', s.sha, 1, key, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return client.call('EVAL', s.lua, 1, key, ...args)
    }
  }

  /** Removes a name from the index, then re-adds it if its hash exists (a concurrent re-creation). */
  const unindex = async (username: string): Promise<void> => {
    await client.call('ZREM', indexKey, username)
    if ((await client.call('EXISTS', userKey(username))) === 1) await client.call('ZADD', indexKey, 0, username)
  }

  /** Every user the index names whose hash exists, in byte (= code point) order; prunes the rest. */
  const scan = async (): Promise<UserSummary[]> => {
    const out: UserSummary[] = []
    let start = '-'
    let previous: string | undefined
    for (;;) {
      const names = asArray(await client.call('ZRANGEBYLEX', indexKey, start, '+', 'LIMIT', 0, PAGE)).map(asString)
      // Names come back decoded as UTF-8; a member that is not UTF-8 (written by someone else)
      // would decode to a string sorting before itself, and the next page would start on it again.
      if (names.length > 0 && names[0] === previous) throw new StoreUnavailable('redis user index is corrupt')
      const fields = await Promise.all(names.map((name) => client.call('HMGET', userKey(name), 'username', 'createdAt', 'updatedAt')))
      const missing: string[] = []
      names.forEach((name, i) => {
        const [stored, createdAt, updatedAt] = asArray(fields[i])
        if (stored === null || stored === undefined) {
          missing.push(name)
          return
        }
        if (asString(stored) !== name) throw new StoreUnavailable('redis user record is corrupt')
        out.push({ username: name, createdAt: parseTime(createdAt), updatedAt: parseTime(updatedAt) })
      })
      await Promise.all(missing.map(unindex))
      if (names.length < PAGE) return out
      previous = names[names.length - 1]!
      start = `(${previous}`
    }
  }

  return {
    createUser: (user) =>
      guard('createUser', async () => {
        const u = checkUser(user)
        const created = await run(createUserScript, userKey(u.username), [u.username, u.passwordHash, String(u.createdAt), String(u.updatedAt)])
        await client.call('ZADD', indexKey, 0, u.username)
        return created === 1
      }),

    getUser: (username) =>
      guard('getUser', async (): Promise<UserRecord | undefined> => {
        if (!isStorable(username)) return undefined
        const values = asArray(await client.call('HMGET', userKey(username), 'username', 'passwordHash', 'createdAt', 'updatedAt'))
        if (values.every((v) => v === null || v === undefined)) return undefined
        const [stored, passwordHash, createdAt, updatedAt] = values
        if (stored === null || stored === undefined || asString(stored) !== username || passwordHash === null || passwordHash === undefined) {
          throw new StoreUnavailable('redis user record is corrupt')
        }
        return { username, passwordHash: asString(passwordHash), createdAt: parseTime(createdAt), updatedAt: parseTime(updatedAt) }
      }),

    updatePassword: (username, passwordHash, now) =>
      guard('updatePassword', async () => {
        const hash = checkHash(passwordHash)
        const at = checkTime('now', now)
        if (!isStorable(username)) return false
        return (await run(updatePasswordScript, userKey(username), [hash, String(at)])) === 1
      }),

    deleteUser: (username) =>
      guard('deleteUser', async () => {
        if (!isStorable(username)) return false
        const removed = await client.call('DEL', userKey(username))
        await unindex(username)
        return removed === 1
      }),

    listUsers: () => guard('listUsers', scan),

    countUsers: () => guard('countUsers', async () => (await scan()).length),
  }
}

// ---- driver plumbing ------------------------------------------------------------------------

function parseTime(value: unknown): number {
  const n = value === null || value === undefined ? NaN : Number(asString(value))
  if (!Number.isSafeInteger(n)) throw new StoreUnavailable('redis user record is corrupt')
  return n
}

function asArray(value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw new StoreUnavailable('redis returned an unexpected reply')
  return value
}

function asString(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new StoreUnavailable('redis returned an unexpected reply')
}

// ioredis attaches the command and its arguments (usernames, password hashes) to reply errors;
// the cause of a StoreUnavailable may be logged, so they are dropped.
function scrub(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'command' in error) {
    try {
      delete (error as { command?: unknown }).command
    } catch {
      return new Error('redis error')
    }
  }
  return error
}
