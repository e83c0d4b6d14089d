// The Redis user table: the shared UserStore conformance suite with a random key prefix per case
// (deleted after it), then what only Redis has: encoded key names that share the session store's
// hash tag, the two-slot write order (an index entry without its hash is pruned, a hash without
// its entry is repaired, a pruning or deletion racing a re-creation keeps the new user listed),
// a corrupt index, hashes from before the admin/disabled flags (absent fields read as false) and
// corrupt flags, server errors scrubbed of their arguments, and an unreachable server.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { Redis, type RedisOptions } from 'ioredis'
import { isHallpassError } from '../../src/errors.ts'
import { createRedisStore } from '../../src/stores/redis/session-store.ts'
import { createRedisUserStore } from '../../src/stores/redis/user-store.ts'
import { describeUserStoreConformance, sessionRecordFixture, userRecordFixture } from '../../src/testing/index.ts'
import type { UserRecord } from '../../src/users/index.ts'
import { checkRedis, redisUrl } from '../../../../test/helpers/services.ts'

const skip = (await checkRedis()) ?? false

const clients: Redis[] = []
function connect(options: RedisOptions = {}, unreachable = false): Redis {
  // Port 1 on loopback: nothing listens there, so connecting is refused at once.
  const client = unreachable ? new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 1, ...options }) : new Redis(redisUrl(), { maxRetriesPerRequest: 1, ...options })
  client.on('error', () => undefined)
  clients.push(client)
  return client
}
let sharedClient: Redis | undefined
const shared = (): Redis => (sharedClient ??= connect())
after(() => {
  for (const client of clients) client.disconnect()
})

function randomPrefix(): string {
  return `hptest:${randomBytes(6).toString('hex')}:`
}

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    // The prefix is hex and colons: no glob characters to escape.
    const [next, batch] = await shared().scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    found.push(...batch)
  } while (cursor !== '0')
  return found.sort()
}

async function dropPrefix(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix)
  for (let i = 0; i < keys.length; i += 500) await shared().del(...keys.slice(i, i + 500))
}

async function withPrefix(run: (prefix: string) => Promise<void>): Promise<void> {
  const prefix = randomPrefix()
  try {
    await run(prefix)
  } finally {
    await dropPrefix(prefix)
  }
}

function expectCode(code: string): (error: unknown) => true {
  return (error) => {
    assert.ok(isHallpassError(error), `expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code)
    return true
  }
}

/** The hash tag Redis Cluster hashes: between the first `{` and the next `}`, if non-empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{')
  const close = open < 0 ? -1 : key.indexOf('}', open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}

type Call = (command: string, ...args: (string | number)[]) => Promise<unknown>

/** A client whose commands pass through `hook` first: how a test lands a write between two steps. */
function intercepted(hook: (command: string, args: (string | number)[], forward: () => Promise<unknown>) => Promise<unknown>): Redis {
  const real = shared()
  const call: Call = (command, ...args) => hook(command, args, () => real.call(command, ...args))
  return { call } as unknown as Redis
}

function summary(user: UserRecord) {
  return { username: user.username, createdAt: user.createdAt, updatedAt: user.updatedAt, admin: user.admin, disabled: user.disabled }
}

describeUserStoreConformance(
  'redis',
  () => {
    const prefix = randomPrefix()
    return Promise.resolve({ store: createRedisUserStore({ client: shared(), keyPrefix: prefix }), cleanup: () => dropPrefix(prefix) })
  },
  { skip },
)

describe('redis user store: options and key names', () => {
  it('refuses bad options with ERR_CONFIG_INVALID', () => {
    const client = { call: () => Promise.reject(new Error('no I/O expected')) } as unknown as Redis
    const cases: unknown[] = [
      undefined,
      null,
      {},
      { client: {} },
      { client: 'redis://localhost' },
      { client, keyPrefix: 'a{b' },
      { client, keyPrefix: 'a}b' },
      { client, keyPrefix: 'x'.repeat(65) },
      { client, keyPrefix: 42 },
      { client, subscriber: client },
    ]
    for (const options of cases) assert.throws(() => createRedisUserStore(options as never), expectCode('ERR_CONFIG_INVALID'), JSON.stringify(options))
  })

  it('default keys: hp:{u:<base64url(name)>}:user and hp:{users}', async () => {
    const seen: Array<[string, ...(string | number)[]]> = []
    const client = {
      call: (command: string, ...args: (string | number)[]) => {
        seen.push([command, ...args])
        return Promise.resolve(command === 'HMGET' ? [null, null, null, null, null, null] : [])
      },
    } as unknown as Redis
    const users = createRedisUserStore({ client })
    assert.equal(await users.getUser('alice'), undefined)
    assert.deepEqual(await users.listUsers(), [])
    assert.deepEqual(seen, [
      ['HMGET', 'hp:{u:YWxpY2U}:user', 'username', 'passwordHash', 'createdAt', 'updatedAt', 'admin', 'disabled'],
      ['ZRANGEBYLEX', 'hp:{users}', '-', '+', 'LIMIT', 0, 256],
    ])
  })
})

describe('redis user store', { skip }, () => {
  it('hostile names: one hash tag per key, no raw name in it, the same tag as the subject\'s sessions', async () => {
    const names = ['alice', '{users}', '}{', '{', 'hp:{users}', "o'brien", '\u540d\u524d', 'x'.repeat(96), 'x'.repeat(97), '\u{1F980}'.repeat(64)]
    for (const name of names) {
      await withPrefix(async (prefix) => {
        const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
        const sessions = createRedisStore({ client: shared(), keyPrefix: prefix })
        assert.equal(await users.createUser(userRecordFixture({ username: name })), true)
        const record = sessionRecordFixture({ subject: name })
        await sessions.createSession(record, { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: name })
        await sessions.close()
        const keys = await keysUnder(prefix)
        const userKeys = keys.filter((k) => k.endsWith(':user'))
        assert.equal(userKeys.length, 1, name)
        const userKey = userKeys[0]!
        assert.match(userKey.slice(prefix.length), /^\{uh?:[A-Za-z0-9_-]{1,130}\}:user$/, name)
        assert.ok(keys.includes(`${prefix}{users}`))
        // Redis Cluster puts a user's hash on the slot of that subject's sessions and audit trail.
        const indexKey = keys.find((k) => k.endsWith(':sessions') && !k.includes('{gc}'))!
        assert.equal(hashTag(userKey), hashTag(indexKey), name)
        assert.deepEqual(await shared().zrange(`${prefix}{users}`, '0', '-1'), [name])
      })
    }
  })

  it('an index entry whose hash is missing is left out of listUsers and countUsers, and pruned', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const alice = userRecordFixture()
      const bob = userRecordFixture({ username: 'bob' })
      await users.createUser(alice)
      await users.createUser(bob)
      await shared().zadd(`${prefix}{users}`, '0', 'ghost', '0', 'aardvark', '0', '{users}')
      assert.equal(await users.countUsers(), 2)
      assert.deepEqual(await shared().zrange(`${prefix}{users}`, '0', '-1'), ['alice', 'bob'])
      await shared().zadd(`${prefix}{users}`, '0', 'ghost')
      assert.deepEqual(await users.listUsers(), [summary(alice), summary(bob)])
      assert.deepEqual(await shared().zrange(`${prefix}{users}`, '0', '-1'), ['alice', 'bob'])
      // The pruned names are free, and no other key was touched.
      assert.equal(await users.createUser(userRecordFixture({ username: 'ghost' })), true)
      assert.equal(await users.countUsers(), 3)
    }))

  it('a hash whose index entry was lost (a crash between the two writes) is repaired by the next creation of that name', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const alice = userRecordFixture()
      await users.createUser(alice)
      await shared().zrem(`${prefix}{users}`, 'alice')
      assert.deepEqual(await users.listUsers(), [])
      assert.deepEqual(await users.getUser('alice'), alice)
      assert.equal(await users.createUser(userRecordFixture()), false)
      assert.deepEqual(await users.listUsers(), [summary(alice)])
      assert.deepEqual(await users.getUser('alice'), alice)
    }))

  it('a pruning that races a re-creation of the name keeps the new user listed', () =>
    withPrefix(async (prefix) => {
      const other = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const ghost = userRecordFixture({ username: 'ghost' })
      let injected = false
      // The lister has seen "ghost" without a hash; the user is created again just before its ZREM lands.
      const client = intercepted(async (command, args, forward) => {
        if (command === 'ZREM' && args[1] === 'ghost' && !injected) {
          injected = true
          assert.equal(await other.createUser(ghost), true)
        }
        return forward()
      })
      const lister = createRedisUserStore({ client, keyPrefix: prefix })
      await shared().zadd(`${prefix}{users}`, '0', 'ghost')
      assert.deepEqual(await lister.listUsers(), [])
      assert.ok(injected)
      assert.deepEqual(await other.listUsers(), [summary(ghost)])
      assert.equal(await other.countUsers(), 1)
    }))

  it('a deletion that races a re-creation of the name keeps the new user listed', () =>
    withPrefix(async (prefix) => {
      const other = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const before = userRecordFixture()
      const later = userRecordFixture({ createdAt: before.createdAt + 1, updatedAt: before.createdAt + 1 })
      await other.createUser(before)
      let injected = false
      // The hash is deleted; the name is registered again before the deletion's ZREM lands.
      const client = intercepted(async (command, _args, forward) => {
        if (command === 'ZREM' && !injected) {
          injected = true
          assert.equal(await other.createUser(later), true)
        }
        return forward()
      })
      const deleter = createRedisUserStore({ client, keyPrefix: prefix })
      assert.equal(await deleter.deleteUser('alice'), true)
      assert.ok(injected)
      assert.deepEqual(await other.getUser('alice'), later)
      assert.deepEqual(await other.listUsers(), [summary(later)])
    }))

  it('a hash written before the admin and disabled flags reads as neither; updateUser then writes only the fields it is given', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      // Exactly what createUser wrote before the flags: four fields, and the index entry.
      const key = `${prefix}{u:${Buffer.from('alice').toString('base64url')}}:user`
      const oldHash = '$argon2id$v=19$m=19456,t=2,p=1$old$hash'
      await shared().hset(key, 'username', 'alice', 'passwordHash', oldHash, 'createdAt', '1000', 'updatedAt', '2000')
      await shared().zadd(`${prefix}{users}`, '0', 'alice')
      const old = { username: 'alice', passwordHash: oldHash, createdAt: 1000, updatedAt: 2000, admin: false, disabled: false }
      assert.deepEqual(await users.getUser('alice'), old)
      assert.deepEqual(await users.listUsers(), [summary(old)])
      assert.equal(await users.countAdmins(), 0)
      assert.equal(await users.updateUser('alice', { admin: true }, 3000), true)
      assert.deepEqual(await shared().hgetall(key), { username: 'alice', passwordHash: oldHash, createdAt: '1000', updatedAt: '3000', admin: '1' })
      assert.deepEqual(await users.getUser('alice'), { ...old, admin: true, updatedAt: 3000 })
      assert.equal(await users.countAdmins(), 1)
      // A new user has both fields from the start.
      await users.createUser(userRecordFixture({ username: 'bob', disabled: true }))
      const bob = await shared().hgetall(`${prefix}{u:${Buffer.from('bob').toString('base64url')}}:user`)
      assert.deepEqual([bob.admin, bob.disabled], ['0', '1'])
    }))

  it('a flag field that is not 1 or 0 is a corrupt record (ERR_STORE_UNAVAILABLE), never read as true or false', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      await users.createUser(userRecordFixture())
      const key = `${prefix}{u:${Buffer.from('alice').toString('base64url')}}:user`
      for (const [field, value] of [['admin', 'true'], ['admin', ''], ['disabled', 'false'], ['disabled', '01'], ['admin', ' 1']] as const) {
        await shared().hset(key, field, value)
        await assert.rejects(users.getUser('alice'), expectCode('ERR_STORE_UNAVAILABLE'), `${field}=${JSON.stringify(value)}`)
        await assert.rejects(users.listUsers(), expectCode('ERR_STORE_UNAVAILABLE'))
        await assert.rejects(users.countAdmins(), expectCode('ERR_STORE_UNAVAILABLE'))
        await shared().hset(key, field, '0')
      }
      assert.equal((await users.getUser('alice'))?.admin, false)
    }))

  it('an index member that is not UTF-8, on a page boundary, fails the listing as unavailable instead of looping', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const created = await Promise.all(Array.from({ length: 255 }, (_, i) => users.createUser(userRecordFixture({ username: `user${String(i).padStart(3, '0')}` }))))
      assert.ok(created.every(Boolean))
      await shared().zadd(`${prefix}{users}`, '0', Buffer.from([0xff, 0xfe]))
      await assert.rejects(users.listUsers(), expectCode('ERR_STORE_UNAVAILABLE'))
      await assert.rejects(users.countUsers(), expectCode('ERR_STORE_UNAVAILABLE'))
      // Everything else keeps working.
      assert.equal((await users.getUser('user000'))?.username, 'user000')
    }))

  it('a server error is ERR_STORE_UNAVAILABLE with neither the name nor the hash in the message or the cause', () =>
    withPrefix(async (prefix) => {
      const users = createRedisUserStore({ client: shared(), keyPrefix: prefix })
      const alice = userRecordFixture()
      await users.createUser(alice)
      const [userKey] = (await keysUnder(prefix)).filter((k) => k.endsWith(':user'))
      await shared().del(userKey!)
      await shared().set(userKey!, 'not a hash')
      const newHash = userRecordFixture().passwordHash
      const operations: Array<[string, () => Promise<unknown>]> = [
        ['getUser', () => users.getUser('alice')],
        ['updatePassword', () => users.updatePassword('alice', newHash, 1)],
        ['updateUser', () => users.updateUser('alice', { admin: true }, 1)],
        ['listUsers', () => users.listUsers()],
      ]
      for (const [name, operation] of operations) {
        const error = await operation().then(
          () => assert.fail(`${name} resolved on a corrupt key`),
          (e: unknown) => e,
        )
        expectCode('ERR_STORE_UNAVAILABLE')(error)
        const cause = (error as { cause?: unknown }).cause
        assert.ok(cause instanceof Error && /WRONGTYPE/.test(cause.message), name)
        assert.equal('command' in cause, false, `${name}: the cause still carries the command and its arguments`)
        for (const text of [(error as Error).message, cause.message]) {
          assert.ok(!text.includes(newHash) && !text.includes(alice.passwordHash), name)
        }
      }
    }))

  it('an unreachable server is ERR_STORE_UNAVAILABLE for every operation, and fails fast', async () => {
    const started = Date.now()
    // No offline queue: commands fail at once. A queue with a bounded retry: they fail after it.
    const offline = connect({ enableOfflineQueue: false, connectTimeout: 500 }, true)
    const queued = connect({ connectTimeout: 500, retryStrategy: (times) => (times > 3 ? null : 50) }, true)
    for (const client of [offline, queued]) {
      const users = createRedisUserStore({ client, keyPrefix: randomPrefix() })
      const operations: Array<() => Promise<unknown>> = [
        () => users.createUser(userRecordFixture()),
        () => users.getUser('alice'),
        () => users.updatePassword('alice', userRecordFixture().passwordHash, 1),
        () => users.updateUser('alice', { disabled: true }, 1),
        () => users.deleteUser('alice'),
        () => users.listUsers(),
        () => users.countUsers(),
        () => users.countAdmins(),
      ]
      for (const operation of operations) await assert.rejects(operation(), expectCode('ERR_STORE_UNAVAILABLE'))
    }
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
  })

  it('stores under different prefixes do not see each other', async () => {
    const [a, b] = [randomPrefix(), randomPrefix()]
    try {
      const first = createRedisUserStore({ client: shared(), keyPrefix: a })
      const second = createRedisUserStore({ client: shared(), keyPrefix: b })
      await first.createUser(userRecordFixture())
      assert.equal(await second.getUser('alice'), undefined)
      assert.equal(await second.countUsers(), 0)
      assert.equal(await second.createUser(userRecordFixture()), true)
      assert.equal(await first.deleteUser('alice'), true)
      assert.notEqual(await second.getUser('alice'), undefined)
    } finally {
      await dropPrefix(a)
      await dropPrefix(b)
    }
  })
})
