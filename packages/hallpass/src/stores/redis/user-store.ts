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
 * | `hp:{u:<name>}:user`     | hash       | the user  | `username`, `passwordHash`, `createdAt`, `updatedAt`, `admin`, `disabled` |
 * | `hp:{users}`             | sorted set | the index | every username, score 0 (so ordered by its bytes)  |
 *
 * `admin` and `disabled` are `1` or `0`. Redis has no schema to migrate: a hash written before
 * the flags existed has neither field and reads as an ordinary, enabled user (absent = false);
 * any other value is a corrupt record. `updateUser` writes only the fields it is given.
 *
 * `<name>` is the session store's subject encoding (`subjectTag` in keys.ts): base64url of the
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
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import { checkPasswordHash, checkUserChanges, checkUserRecord, checkUserTime, isStorableUsername } from '../../users/user-record.ts'
import type { UserRecord, UserStore, UserSummary } from '../../users/user-store.ts'
import { asArray, asString, evalScript, toStoreError, type Commands } from './commands.ts'
import { checkKeyPrefix, subjectTag } from './keys.ts'
import { defineScript } from './scripts.ts'
import type { RedisClient } from './session-store.ts'

export interface RedisUserStoreOptions {
  /** The connection for commands (the session store's). The store never closes it. */
  readonly client: RedisClient
  /** Prefix of every key. Default `hp:`. Must not contain `{` or `}` (hash tags). */
  readonly keyPrefix?: string
}

/** Names read from the index per round trip, and hashes fetched concurrently. */
const PAGE = 256

/** KEYS[1] user hash. ARGV: username, passwordHash, createdAt, updatedAt, admin, disabled. 1 when written, 0 when the user exists. */
const createUserScript = defineScript('createUser', `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'username', ARGV[1], 'passwordHash', ARGV[2], 'createdAt', ARGV[3], 'updatedAt', ARGV[4],
  'admin', ARGV[5], 'disabled', ARGV[6])
return 1
`)

/** KEYS[1] user hash. ARGV: passwordHash, updatedAt. 1 when written, 0 when there is no such user (nothing is created). */
const updatePasswordScript = defineScript('updatePassword', `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'passwordHash', ARGV[1], 'updatedAt', ARGV[2])
return 1
`)

/**
 * KEYS[1] user hash. ARGV: admin, disabled ('1', '0', or '' to keep the stored value), updatedAt.
 * 1 when written, 0 when there is no such user (nothing is created).
 */
const updateUserScript = defineScript('updateUser', `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'admin', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'disabled', ARGV[2]) end
return 1
`)

/** A flag as the scripts take it: '1', '0', or '' (left out: keep the stored value). */
function flagArg(value: boolean | undefined): string {
  return value === undefined ? '' : value ? '1' : '0'
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
  const prefix = checkKeyPrefix(options.keyPrefix)
  const client = candidate as Commands
  const userKey = (username: string): string => `${prefix}{${subjectTag(username)}}:user`
  const indexKey = `${prefix}{users}`

  const guard = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      throw toStoreError(`users ${operation}`, error)
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
      const fields = await Promise.all(names.map((name) => client.call('HMGET', userKey(name), 'username', 'createdAt', 'updatedAt', 'admin', 'disabled')))
      const missing: string[] = []
      names.forEach((name, i) => {
        const [stored, createdAt, updatedAt, admin, disabled] = asArray(fields[i])
        if (stored === null || stored === undefined) {
          missing.push(name)
          return
        }
        if (asString(stored) !== name) throw new StoreUnavailable('redis user record is corrupt')
        out.push({ username: name, createdAt: parseTime(createdAt), updatedAt: parseTime(updatedAt), admin: parseFlag(admin), disabled: parseFlag(disabled) })
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
        const u = checkUserRecord(user)
        const created = await evalScript(client, createUserScript, [userKey(u.username)], [
          u.username,
          u.passwordHash,
          String(u.createdAt),
          String(u.updatedAt),
          flagArg(u.admin),
          flagArg(u.disabled),
        ])
        await client.call('ZADD', indexKey, 0, u.username)
        return created === 1
      }),

    getUser: (username) =>
      guard('getUser', async (): Promise<UserRecord | undefined> => {
        if (!isStorableUsername(username)) return undefined
        const values = asArray(await client.call('HMGET', userKey(username), 'username', 'passwordHash', 'createdAt', 'updatedAt', 'admin', 'disabled'))
        if (values.every((v) => v === null || v === undefined)) return undefined
        const [stored, passwordHash, createdAt, updatedAt, admin, disabled] = values
        if (stored === null || stored === undefined || asString(stored) !== username || passwordHash === null || passwordHash === undefined) {
          throw new StoreUnavailable('redis user record is corrupt')
        }
        return {
          username,
          passwordHash: asString(passwordHash),
          createdAt: parseTime(createdAt),
          updatedAt: parseTime(updatedAt),
          admin: parseFlag(admin),
          disabled: parseFlag(disabled),
        }
      }),

    updatePassword: (username, passwordHash, now) =>
      guard('updatePassword', async () => {
        const hash = checkPasswordHash(passwordHash)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return (await evalScript(client, updatePasswordScript, [userKey(username)], [hash, String(at)])) === 1
      }),

    updateUser: (username, changes, now) =>
      guard('updateUser', async () => {
        const c = checkUserChanges(changes)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return (await evalScript(client, updateUserScript, [userKey(username)], [flagArg(c.admin), flagArg(c.disabled), String(at)])) === 1
      }),

    deleteUser: (username) =>
      guard('deleteUser', async () => {
        if (!isStorableUsername(username)) return false
        const removed = await client.call('DEL', userKey(username))
        await unindex(username)
        return removed === 1
      }),

    listUsers: () => guard('listUsers', scan),

    countUsers: () => guard('countUsers', async () => (await scan()).length),

    countAdmins: () => guard('countAdmins', async () => (await scan()).filter((u) => u.admin && !u.disabled).length),
  }
}

// ---- replies ----------------------------------------------------------------------------------

/** '1' or '0'; absent in a hash written before the flags existed, which reads as false. */
function parseFlag(value: unknown): boolean {
  if (value === null || value === undefined) return false
  const text = asString(value)
  if (text !== '1' && text !== '0') throw new StoreUnavailable('redis user record is corrupt')
  return text === '1'
}

function parseTime(value: unknown): number {
  const n = value === null || value === undefined ? NaN : Number(asString(value))
  if (!Number.isSafeInteger(n)) throw new StoreUnavailable('redis user record is corrupt')
  return n
}
