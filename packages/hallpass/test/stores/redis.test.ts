// The Redis store against a real server: the shared conformance suite with a random key prefix
// per case, then what only Redis has: key names and hash tags (Cluster safety), TTLs, races
// across connections, pub/sub with reconnects and across processes, the recent-audit stream
// (its cap, a failed append, a Redis from before it), and an unreachable server.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Redis, type RedisOptions } from 'ioredis'
import { isHallpassError } from '../../src/errors.ts'
import { createSessionManager, parseFeedCursor, type RevocationEntry, type SessionRecord, type SessionStore } from '../../src/session/index.ts'
import { createRedisStore } from '../../src/stores/redis/session-store.ts'
import { RECENT_AUDIT_CAP } from '../../src/stores/redis/audit-trail.ts'
import { auditAppendScript, recentAuditAppendScript } from '../../src/stores/redis/scripts.ts'
import { describeStoreConformance, FIXTURE_NOW, sessionRecordFixture } from '../../src/testing/index.ts'
import { checkRedis, redisUrl } from '../../../../test/helpers/services.ts'

const skip = (await checkRedis()) ?? false
const DAY = 86_400_000
const HOUR = 3_600_000

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
  return found
}

async function dropPrefix(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix)
  for (let i = 0; i < keys.length; i += 500) await shared().del(...keys.slice(i, i + 500))
}

async function withStore(run: (store: SessionStore, prefix: string) => Promise<void>): Promise<void> {
  const prefix = randomPrefix()
  const store = createRedisStore({ client: shared(), keyPrefix: prefix })
  try {
    await run(store, prefix)
  } finally {
    await store.close()
    await dropPrefix(prefix)
  }
}

async function seed(store: SessionStore, overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> {
  const record = sessionRecordFixture(overrides)
  await store.createSession(record, { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: record.subject })
  return record
}

function revocation(record: SessionRecord, now: number, reason = 'logout') {
  return { id: record.id, now, reason, feedExp: 2_000_000_000, audit: { type: 'session.revoked' as const, at: now, sessionId: record.id, subject: record.subject, reason } }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(5)
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    assert.ok(isHallpassError(error), `expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code)
    return error
  }
  return assert.fail(`expected a rejection with ${code}`)
}

/** The hash tag Redis Cluster hashes: between the first `{` and the next `}`, if non-empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{')
  const close = open < 0 ? -1 : key.indexOf('}', open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}

describeStoreConformance(
  'redis',
  () => {
    const prefix = randomPrefix()
    const store = createRedisStore({ client: shared(), keyPrefix: prefix })
    return Promise.resolve({
      store,
      cleanup: async () => {
        await store.close()
        await dropPrefix(prefix)
      },
    })
  },
  { skip },
)

describe('redis store specifics', { skip }, () => {
  it('key names for hostile subjects are encoded: one hash tag, no raw bytes, bounded length', () =>
    withStore(async (store, prefix) => {
      const subjects = ['{', '}', '}{', '{tag}', 'a\u0000b', '\u{1F600}'.repeat(2560), '\uD800x', '\uFFFDx', 'x'.repeat(96), 'x'.repeat(97)]
      const records: SessionRecord[] = []
      for (const subject of subjects) records.push(await seed(store, { subject }))
      for (const [i, record] of records.entries()) {
        // Lone surrogate and U+FFFD, or 96 and 97 bytes (raw vs hashed form), stay apart.
        assert.deepEqual(await store.listSessions(subjects[i]!, FIXTURE_NOW + 1), [record])
        assert.deepEqual((await store.listAudit(subjects[i]!, 10)).map((e) => e.sessionId), [record.id])
      }
      const keys = await keysUnder(prefix)
      for (const key of keys) {
        const rest = key.slice(prefix.length)
        assert.match(rest, /^\{[A-Za-z0-9_:-]+\}(:[a-z]+)?$/, `one hash tag and nothing raw in ${JSON.stringify(rest.slice(0, 60))}`)
        assert.ok(rest.length <= 160, `bounded key length: ${rest.length}`)
      }
      // Every subject has its index and audit list on one slot, a slot of its own.
      const subjectTags = keys.filter((k) => k.endsWith(':sessions') && !k.includes('{gc}')).map(hashTag)
      assert.equal(new Set(subjectTags).size, subjects.length)
      for (const tag of subjectTags) assert.ok(keys.includes(`${prefix}{${tag}}:audit`), `index and audit share the tag ${tag}`)
      const sessionKeys = keys.filter((k) => hashTag(k).startsWith('s:'))
      assert.deepEqual(sessionKeys.sort(), records.map((r) => `${prefix}{s:${r.id}}`).sort())
    }))

  it('every command keeps its keys on one hash slot, and a refresh costs two round trips', () =>
    withStore(async (_, prefix) => {
      const calls: Array<{ command: string; keys: string[] }> = []
      const client = shared()
      const recording = new Proxy(client, {
        get(target, property) {
          if (property === 'call') {
            return (command: string, ...args: Array<string | number>) => {
              const name = command.toUpperCase()
              const keys = name === 'EVALSHA' || name === 'EVAL' ? args.slice(2, 2 + Number(args[1])).map(String) : name === 'PING' ? [] : [String(args[0])]
              calls.push({ command: name, keys })
              return target.call(command, ...args)
            }
          }
          const value: unknown = Reflect.get(target, property, target)
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
        },
      })
      const store = createRedisStore({ client: recording, keyPrefix: prefix })
      try {
        const alice = await seed(store, { subject: '{alice}' })
        const bob = await seed(store, { subject: 'bob' })
        const stop = await store.subscribeRevocations(() => undefined)
        await delay(50) // the subscription's initial replay reads the stream in the background

        calls.length = 0
        const input = { id: alice.id, generation: 0, hash: alice.refreshHash, newHash: 'next', now: FIXTURE_NOW + 1, idleExpiresAt: FIXTURE_NOW + HOUR, device: { ip: '::1' }, maxAccessExp: 0, audit: { type: 'refresh.rotated' as const, at: FIXTURE_NOW + 1, sessionId: alice.id } }
        assert.equal((await store.rotateRefreshToken(input)).rotated, true)
        // EVALSHA of the CAS, then the two audit appends (the subject's list and the recent-audit
        // stream, on two slots) sent together: scripts were loaded by now (no NOSCRIPT).
        assert.deepEqual(calls.map((c) => c.command), ['EVALSHA', 'EVALSHA', 'EVALSHA'])
        assert.deepEqual(calls.slice(1).map((c) => hashTag(c.keys[0]!)).sort(), ['audit', hashTag(`${prefix}{u:${Buffer.from('{alice}').toString('base64url')}}`)].sort())
        calls.length = 0
        assert.equal((await store.rotateRefreshToken(input)).rotated, false)
        assert.equal(calls.length, 1, 'a refused rotation is one round trip and writes nothing')

        await store.revokeSession(revocation(alice, FIXTURE_NOW + 2))
        await store.revokeSubjectSessions({ subject: 'bob', exceptId: undefined, now: FIXTURE_NOW + 3, reason: 'all', feedExp: 2_000_000_000 })
        await store.listSessions('bob', FIXTURE_NOW + 4)
        await store.appendAudit({ type: 'session.expired', at: 1, sessionId: bob.id, subject: 'bob' })
        await store.listAudit('bob', 5)
        await store.listRecentAudit!({ limit: 5 })
        await store.listRecentAudit!({ limit: 5, subject: 'bob', types: ['session.revoked'] })
        await store.readRevocations(undefined, 10)
        await store.saveKeyring(0, 'doc')
        await store.loadKeyring()
        await store.purgeExpired(FIXTURE_NOW + 400 * DAY)
        assert.equal(await store.ping(), true)
        await stop()

        assert.ok(calls.length > 10)
        for (const { command, keys } of calls) {
          for (const key of keys) assert.ok(key.startsWith(prefix) && hashTag(key) !== key, `${command} key ${key} has a hash tag`)
          assert.ok(new Set(keys.map(hashTag)).size <= 1, `${command} spans slots: ${keys.join(', ')}`)
        }
        assert.ok(!calls.some((c) => c.command === 'MULTI' || c.command === 'KEYS' || c.command === 'SCAN'))
      } finally {
        await store.close()
      }
    }))

  it('scripts are re-sent after SCRIPT FLUSH (EVALSHA falls back to EVAL)', () =>
    withStore(async (store) => {
      const record = await seed(store)
      await shared().call('SCRIPT', 'FLUSH')
      assert.deepEqual(await store.getSession(record.id), record)
      const input = { id: record.id, generation: 0, hash: record.refreshHash, newHash: 'n', now: FIXTURE_NOW + 1, idleExpiresAt: FIXTURE_NOW + HOUR, device: undefined, maxAccessExp: 0, audit: { type: 'refresh.rotated' as const, at: FIXTURE_NOW + 1, sessionId: record.id } }
      await shared().call('SCRIPT', 'FLUSH')
      assert.equal((await store.rotateRefreshToken(input)).rotated, true)
      assert.equal((await store.listAudit(record.subject, 10)).length, 2)
    }))

  it('TTLs: earlier deadline plus one day, moved by rotation, kept by revocation, never in the past', () =>
    withStore(async (store, prefix) => {
      const now = Date.now()
      const record = await seed(store, { createdAt: now, idleExpiresAt: now + HOUR, expiresAt: now + 30 * DAY })
      const key = `${prefix}{s:${record.id}}`
      assert.equal(await shared().call('PEXPIRETIME', key), now + HOUR + DAY)
      const idle = now + 2 * HOUR + 0.5
      const input = { id: record.id, generation: 0, hash: record.refreshHash, newHash: 'n', now: now + 1, idleExpiresAt: idle, device: undefined, maxAccessExp: 0, audit: { type: 'refresh.rotated' as const, at: now + 1, sessionId: record.id } }
      assert.equal((await store.rotateRefreshToken(input)).rotated, true)
      assert.equal(await shared().call('PEXPIRETIME', key), Math.ceil(idle) + DAY)
      // A refused rotation does not touch it.
      assert.equal((await store.rotateRefreshToken({ ...input, idleExpiresAt: now + 5 * HOUR })).rotated, false)
      assert.equal(await shared().call('PEXPIRETIME', key), Math.ceil(idle) + DAY)
      assert.equal((await store.revokeSession(revocation(record, now + 2))).revoked, true)
      assert.equal(await shared().call('PEXPIRETIME', key), Math.ceil(idle) + DAY)

      // Deadlines long past on the server's clock (an injected or skewed caller clock): the key
      // still lives a day, rather than vanishing before purgeExpired would remove it.
      const old = await seed(store, { createdAt: Date.UTC(2001, 0, 1) })
      const ttl = Number(await shared().call('PTTL', `${prefix}{s:${old.id}}`))
      assert.ok(ttl > DAY - 60_000 && ttl <= DAY, `ttl ${ttl}`)
      // Indexes and audit lists carry no TTL: they are pruned, not expired.
      assert.equal(await shared().call('PTTL', `${prefix}{gc}:sessions`), -1)
    }))

  it('index entries of vanished sessions are pruned by listSessions, revokeSubjectSessions and purgeExpired', () =>
    withStore(async (store, prefix) => {
      const index = (subject: string): string => `${prefix}{u:${Buffer.from(subject).toString('base64url')}}:sessions`
      const a = await seed(store, { subject: 'pruned' })
      const b = await seed(store, { subject: 'pruned' })
      await shared().del(`${prefix}{s:${a.id}}`) // as if its TTL had fired
      // Within the grace period a missing hash may be a creation in flight: kept.
      assert.deepEqual(await store.listSessions('pruned', FIXTURE_NOW + 1), [b])
      assert.equal(await shared().zcard(index('pruned')), 2)
      assert.deepEqual(await store.listSessions('pruned', FIXTURE_NOW + HOUR), [b])
      assert.equal(await shared().zcard(index('pruned')), 1)

      const c = await seed(store, { subject: 'revoked-all' })
      const d = await seed(store, { subject: 'revoked-all' })
      await shared().del(`${prefix}{s:${c.id}}`)
      const entries = await store.revokeSubjectSessions({ subject: 'revoked-all', exceptId: undefined, now: FIXTURE_NOW + HOUR, reason: 'x', feedExp: 2_000_000_000 })
      assert.deepEqual(entries.map((e) => e.sid), [d.id])
      assert.equal(await shared().zcard(index('revoked-all')), 1)

      const e = await seed(store, { subject: 'purged' })
      await shared().del(`${prefix}{s:${e.id}}`)
      // b and d are past their idle deadline by more than a day: removed. a, c and e had gone
      // already (as by their TTL), so they are not counted, but their index entries are pruned.
      // d's feed entry (exp 2_000_000_000) is still needed.
      assert.equal(await store.purgeExpired(FIXTURE_NOW + 40 * DAY), 2)
      assert.equal(await store.getSession(b.id), undefined)
      assert.equal(await shared().zcard(index('purged')), 0)
      assert.equal(await shared().zcard(`${prefix}{gc}:sessions`), 0)
    }))

  it('a revocation whose feed append was lost is re-appended when revoked again (idempotent retry)', () =>
    withStore(async (store, prefix) => {
      const received: RevocationEntry[] = []
      const stop = await store.subscribeRevocations((entry) => received.push(entry))
      try {
        const record = await seed(store, { subject: 'crash' })
        // The state a crash right after the session script leaves: revoked, no feed entry.
        await shared().hset(`${prefix}{s:${record.id}}`, 'revokedAt', String(FIXTURE_NOW + 1), 'revokeReason', '"logout"', 'feedExp', '2000000000')
        assert.deepEqual(await store.readRevocations(undefined, 10), [])
        assert.deepEqual(await store.revokeSession(revocation(record, FIXTURE_NOW + 2, 'again')), { revoked: false, why: 'already_revoked' })
        const feed = await store.readRevocations(undefined, 10)
        assert.deepEqual(feed.map((e) => [e.sid, e.revokedAt, e.reason, e.exp]), [[record.id, FIXTURE_NOW + 1, 'logout', 2_000_000_000]])
        await waitFor(() => received.length === 1, 'the repaired entry, live')
        // Retrying again, or through revokeSubjectSessions, appends nothing more.
        await store.revokeSession(revocation(record, FIXTURE_NOW + 3))
        await store.revokeSubjectSessions({ subject: 'crash', exceptId: undefined, now: FIXTURE_NOW + 3, reason: 'x', feedExp: 2_000_000_000 })
        assert.equal((await store.readRevocations(undefined, 10)).length, 1)

        // Once every access token of the session has expired, there is nothing to repair.
        const stale = await seed(store, { subject: 'crash' })
        await shared().hset(`${prefix}{s:${stale.id}}`, 'revokedAt', String(FIXTURE_NOW), 'revokeReason', '"x"', 'feedExp', String(FIXTURE_NOW / 1000 + 60))
        await store.revokeSubjectSessions({ subject: 'crash', exceptId: undefined, now: FIXTURE_NOW + HOUR, reason: 'x', feedExp: 2_000_000_000 })
        assert.equal((await store.readRevocations(undefined, 10)).length, 1)
        await delay(50)
        assert.equal(received.length, 1)
      } finally {
        await stop()
      }
    }))

  it('50 concurrent rotations from 5 connections: exactly one winner', () =>
    withStore(async (_, prefix) => {
      const stores = Array.from({ length: 5 }, () => createRedisStore({ client: connect(), keyPrefix: prefix }))
      try {
        const record = await seed(stores[0]!, { subject: 'racer' })
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            stores[i % 5]!.rotateRefreshToken({
              id: record.id,
              generation: 0,
              hash: record.refreshHash,
              newHash: `successor-${i}`,
              maxAccessExp: 0,
              now: FIXTURE_NOW + 1000 + i,
              idleExpiresAt: FIXTURE_NOW + HOUR,
              device: { label: `conn-${i % 5}` },
              audit: { type: 'refresh.rotated', at: FIXTURE_NOW + 1000 + i, sessionId: record.id, generation: 1 },
            }),
          ),
        )
        const winners = results.flatMap((r, i) => (r.rotated ? [i] : []))
        assert.equal(winners.length, 1)
        const stored = await stores[1]!.getSession(record.id)
        assert.equal(stored?.generation, 1)
        assert.equal(stored?.refreshHash, `successor-${winners[0]}`)
        for (const r of results) assert.deepEqual(r.session, stored)
        const audit = await stores[2]!.listAudit('racer', 100)
        assert.deepEqual(audit.map((e) => e.type), ['refresh.rotated', 'session.created'])
        assert.equal(audit[0]!.at, FIXTURE_NOW + 1000 + winners[0]!)
      } finally {
        for (const store of stores) await store.close()
      }
    }))

  it('a killed subscriber connection reconnects and replays what it missed, in order, once', () =>
    withStore(async (store, prefix) => {
      const subscriber = connect({ retryStrategy: () => 300 })
      const subscriberId = Number(await subscriber.call('CLIENT', 'ID'))
      const watcher = createRedisStore({ client: shared(), subscriber, keyPrefix: prefix })
      const received: RevocationEntry[] = []
      const stop = await watcher.subscribeRevocations((entry) => received.push(entry))
      try {
        const records: SessionRecord[] = []
        for (let i = 0; i < 6; i++) records.push(await seed(store, { subject: `kill-${i}` }))
        await store.revokeSession(revocation(records[0]!, FIXTURE_NOW + 1))
        await waitFor(() => received.length === 1, 'the first live entry')

        const closed = new Promise((resolve) => subscriber.once('close', resolve))
        assert.equal(await shared().call('CLIENT', 'KILL', 'ID', subscriberId), 1)
        await closed
        for (const record of records.slice(1, 4)) await store.revokeSession(revocation(record, FIXTURE_NOW + 2))
        assert.notEqual(subscriber.status, 'ready', 'the revocations happened while the subscriber was down')
        await waitFor(() => received.length === 4, 'the replayed entries')
        await store.revokeSession(revocation(records[4]!, FIXTURE_NOW + 3))
        await waitFor(() => received.length === 5, 'a live entry after the reconnect')
        await delay(50)
        assert.deepEqual(received, await store.readRevocations(undefined, 100))
        assert.deepEqual(received.map((e) => e.sid), records.slice(0, 5).map((r) => r.id))
      } finally {
        await stop()
        await watcher.close()
      }
      // An injected subscriber is not the store's to close.
      assert.equal(subscriber.status, 'ready')
    }))

  it('another process receives revocations through pub/sub', { timeout: 20_000 }, () =>
    withStore(async (store, prefix) => {
      const storeUrl = pathToFileURL(new URL('../../src/stores/redis/session-store.ts', import.meta.url).pathname).href
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `
          import { Redis } from 'ioredis'
          const { createRedisStore } = await import(${JSON.stringify(storeUrl)})
          const client = new Redis(${JSON.stringify(redisUrl())}, { maxRetriesPerRequest: 1 })
          const store = createRedisStore({ client, keyPrefix: ${JSON.stringify(prefix)} })
          let count = 0
          const stop = await store.subscribeRevocations(async (entry) => {
            process.stdout.write(JSON.stringify(entry) + '\\n')
            if (++count === 3) { await stop(); await store.close(); client.disconnect() }
          })
          process.stdout.write('ready\\n')
          setTimeout(() => process.exit(3), 15000).unref()
          `,
        ],
        { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      let err = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      await waitFor(() => out.includes('ready\n') || child.exitCode !== null, 'the child to subscribe', 15_000)
      assert.ok(out.includes('ready\n'), `child failed: ${err}`)
      const records = [await seed(store, { subject: 'p1' }), await seed(store, { subject: 'p2' }), await seed(store, { subject: 'p1' })]
      await store.revokeSession(revocation(records[0]!, FIXTURE_NOW + 1))
      await store.revokeSubjectSessions({ subject: 'p1', exceptId: undefined, now: FIXTURE_NOW + 2, reason: 'all', feedExp: 2_000_000_000 })
      await store.revokeSession(revocation(records[1]!, FIXTURE_NOW + 3))
      assert.equal(await exited, 0, err)
      const lines = out.split('\n').filter((line) => line !== '' && line !== 'ready')
      assert.deepEqual(lines.map((line) => JSON.parse(line)), await store.readRevocations(undefined, 10))
    }))

  it('an unreachable server fails fast with ERR_STORE_UNAVAILABLE', async () => {
    const started = Date.now()
    const offline = connect({ enableOfflineQueue: false, connectTimeout: 500 }, true)
    const queued = connect({ connectTimeout: 500, retryStrategy: (times) => (times > 3 ? null : 50) }, true)
    for (const client of [offline, queued]) {
      const store = createRedisStore({ client, keyPrefix: randomPrefix() })
      const error = (await rejectsWithCode(store.getSession('A'.repeat(22)), 'ERR_STORE_UNAVAILABLE')) as Error
      assert.ok(error.cause !== undefined)
      await rejectsWithCode(store.rotateRefreshToken({ id: 'A'.repeat(22), generation: 0, hash: 'secret-hash', newHash: 'n', now: 1, idleExpiresAt: 2, device: undefined, maxAccessExp: 0, audit: { type: 'refresh.rotated', at: 1, sessionId: 'x' } }), 'ERR_STORE_UNAVAILABLE')
      await rejectsWithCode(store.subscribeRevocations(() => undefined), 'ERR_STORE_UNAVAILABLE')
      assert.equal(await store.ping(), false)
      await store.close()
    }
    // A reachable server but an unreachable subscriber: the subscription fails, it does not hang.
    await withStore(async (_, prefix) => {
      const deadSubscriber = connect({ connectTimeout: 500 }, true)
      const store = createRedisStore({ client: shared(), subscriber: deadSubscriber, keyPrefix: prefix })
      await rejectsWithCode(store.subscribeRevocations(() => undefined), 'ERR_STORE_UNAVAILABLE')
      await store.close()
    })
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
  })

  it('close() ends the store and its own subscriber, never the injected client', () =>
    withStore(async (_, prefix) => {
      const store = createRedisStore({ client: shared(), keyPrefix: prefix })
      await store.subscribeRevocations(() => undefined)
      const channel = `${prefix}{feed}:revocations:live`
      assert.deepEqual(await shared().call('PUBSUB', 'NUMSUB', channel), [channel, 1])
      await store.close()
      await store.close()
      await rejectsWithCode(store.getSession('A'.repeat(22)), 'ERR_STORE_UNAVAILABLE')
      assert.equal(await store.ping(), false)
      assert.equal(await shared().ping(), 'PONG')
      assert.deepEqual(await shared().call('PUBSUB', 'NUMSUB', channel), [channel, 0])
    }))

  it('through the manager, a retried logout and every replay of a revoked session\'s token repair a lost feed entry', () =>
    withStore(async (store, prefix) => {
      const manager = await createSessionManager({ store, secret: 'redis-repair-secret-0123456789abcdef', issuer: 'https://auth.example.com' })
      const issued = await manager.create({ subject: 'crash' })
      // The state a fault right after the session script leaves: revoked, no feed entry.
      const exp = Math.floor(Date.now() / 1000) + 600
      await shared().hset(`${prefix}{s:${issued.session.id}}`, 'revokedAt', String(Date.now()), 'revokeReason', '"logout"', 'feedExp', String(exp))
      assert.deepEqual(await manager.revoke(issued.session.id, 'logout'), { revoked: false, why: 'already_revoked' })
      assert.deepEqual((await store.readRevocations(undefined, 10)).map((e) => [e.sid, e.exp]), [[issued.session.id, exp]])

      const other = await manager.create({ subject: 'crash' })
      await shared().hset(`${prefix}{s:${other.session.id}}`, 'revokedAt', String(Date.now()), 'revokeReason', '"logout"', 'feedExp', String(exp))
      await rejectsWithCode(manager.refresh(other.refreshToken), 'ERR_SESSION_REVOKED')
      await rejectsWithCode(manager.refresh(other.refreshToken), 'ERR_SESSION_REVOKED')
      assert.deepEqual((await store.readRevocations(undefined, 10)).map((e) => e.sid), [issued.session.id, other.session.id])
    }))

  it('an audit append that fails after its change took effect fails nothing: it is reported to onError', async () => {
    const prefix = randomPrefix()
    let failNextAudit = false
    const real = shared()
    // The audit list lives on the subject's slot: on a Cluster, a failover there is enough.
    const flaky = failingScript(real, auditAppendScript.sha, () => {
      if (!failNextAudit) return false
      failNextAudit = false
      return true
    })
    const reported: unknown[] = []
    const store = createRedisStore({ client: flaky, keyPrefix: prefix, onError: (error) => reported.push(error) })
    try {
      const manager = await createSessionManager({ store, secret: 'redis-audit-secret-0123456789abcdef', issuer: 'https://auth.example.com' })
      const issued = await manager.create({ subject: 'alice' })
      failNextAudit = true
      const next = await manager.refresh(issued.refreshToken)
      assert.equal((await store.getSession(issued.session.id))?.generation, 1)
      assert.equal(reported.length, 1)
      assert.ok(isHallpassError(reported[0], 'ERR_STORE_UNAVAILABLE'))
      // The client got the successor, so it goes on; nothing was mistaken for reuse.
      await manager.refresh(next.refreshToken)
      failNextAudit = true
      assert.deepEqual((await manager.revoke(issued.session.id, 'logout')).revoked, true)
      assert.equal(reported.length, 2)
      assert.equal((await store.readRevocations(undefined, 10)).length, 1)
      // An error handler that throws changes nothing either.
      const throwing = createRedisStore({ client: flaky, keyPrefix: prefix, onError: () => { throw new Error('handler bug') } })
      const third = await createSessionManager({ store: throwing, secret: 'redis-audit-secret-0123456789abcdef', issuer: 'https://auth.example.com' })
      const created = await third.create({ subject: 'bob' })
      failNextAudit = true
      await third.refresh(created.refreshToken)
      await throwing.close()
    } finally {
      await store.close()
      await dropPrefix(prefix)
    }
  })

  it(`the recent-audit stream keeps exactly the newest ${RECENT_AUDIT_CAP} events; each subject's list keeps its own`, () =>
    withStore(async (store, prefix) => {
      const total = RECENT_AUDIT_CAP + 50
      const events = Array.from({ length: total }, (_, i) => ({ type: 'refresh.rotated' as const, at: FIXTURE_NOW + i, sessionId: `s${i}`, subject: `u${i % 3}` }))
      // A batch at a time, concurrently: one connection sends the commands in the order called.
      for (let i = 0; i < total; i += 500) await Promise.all(events.slice(i, i + 500).map((e) => store.appendAudit(e)))
      assert.equal(await shared().xlen(`${prefix}{audit}:recent`), RECENT_AUDIT_CAP)
      const newestFirst = [...events].reverse()
      assert.deepEqual(await store.listRecentAudit!({ limit: 1000 }), newestFirst.slice(0, 1000))
      // Paging reaches the oldest event kept, and no further.
      assert.deepEqual(await store.listRecentAudit!({ limit: 1000, before: FIXTURE_NOW + 60 }), newestFirst.slice(total - 60, total - 50))
      assert.deepEqual(await store.listRecentAudit!({ limit: 10, before: FIXTURE_NOW + 50 }), [])
      // Older events than the stream holds are still in their subject's list (its newest 1000).
      assert.deepEqual(await store.listRecentAudit!({ limit: 1000, subject: 'u0' }), newestFirst.filter((e) => e.subject === 'u0').slice(0, 1000))
    }))

  it('a failed recent-audit append fails nothing: it is reported to onError, and the subject\'s trail has the event', async () => {
    const prefix = randomPrefix()
    let failRecent = 0
    const real = shared()
    const flaky = failingScript(real, recentAuditAppendScript.sha, () => failRecent-- > 0)
    const reported: unknown[] = []
    const store = createRedisStore({ client: flaky, keyPrefix: prefix, onError: (error) => reported.push(error) })
    try {
      const manager = await createSessionManager({ store, secret: 'redis-audit-secret-0123456789abcdef', issuer: 'https://auth.example.com' })
      const issued = await manager.create({ subject: 'alice' })
      failRecent = 3
      // A rotation, a direct append (reuse detection goes through appendAudit) and a revocation.
      const next = await manager.refresh(issued.refreshToken)
      await store.appendAudit({ type: 'refresh.reuse_detected', at: FIXTURE_NOW, sessionId: issued.session.id, subject: 'alice', classification: 'older_generation' })
      assert.equal((await manager.revoke(issued.session.id, 'logout')).revoked, true)
      assert.equal(reported.length, 3)
      for (const error of reported) assert.ok(isHallpassError(error, 'ERR_STORE_UNAVAILABLE'))
      assert.deepEqual((await store.listAudit('alice', 10)).map((e) => e.type), ['session.revoked', 'refresh.reuse_detected', 'refresh.rotated', 'session.created'])
      assert.deepEqual((await store.listRecentAudit!({ limit: 10 })).map((e) => e.type), ['session.created'])
      // With a subject, the subject's own trail answers: nothing is missing there.
      assert.equal((await store.listRecentAudit!({ limit: 10, subject: 'alice' })).length, 4)
      await rejectsWithCode(manager.refresh(next.refreshToken), 'ERR_SESSION_REVOKED')
    } finally {
      await store.close()
      await dropPrefix(prefix)
    }
  })

  it('a Redis written before the recent-audit stream: old events are in their subjects\' trails, new ones in both', () =>
    withStore(async (store, prefix) => {
      const before = await seed(store, { subject: 'old' })
      // What a release without the stream left behind: the subject's list, and no stream.
      await shared().del(`${prefix}{audit}:recent`)
      assert.deepEqual(await store.listRecentAudit!({ limit: 10 }), [])
      assert.deepEqual((await store.listRecentAudit!({ limit: 10, subject: 'old' })).map((e) => e.sessionId), [before.id])
      const after = await seed(store, { subject: 'new' })
      assert.deepEqual((await store.listRecentAudit!({ limit: 10 })).map((e) => e.sessionId), [after.id])
    }))

  it('a recent-audit stream entry without its event field is a corrupt store, not an empty page', () =>
    withStore(async (store, prefix) => {
      await seed(store)
      await shared().xadd(`${prefix}{audit}:recent`, '*', 'x', '{}')
      await rejectsWithCode(store.listRecentAudit!({ limit: 10 }), 'ERR_STORE_UNAVAILABLE')
    }))

  it('options are checked in the factory', () => {
    const client = shared()
    for (const [options, path] of [
      [{ client, keyPrefix: 'a{b' }, 'keyPrefix'],
      [{ client, keyPrefix: 'a}' }, 'keyPrefix'],
      [{ client, keyPrefix: 7 }, 'keyPrefix'],
      [{ client, keyPrefix: 'x'.repeat(65) }, 'keyPrefix'],
      [{ client: {} }, 'client'],
      [{ client, subscriber: {} }, 'subscriber'],
      [{ client, pool: 1 }, 'pool'],
      [{ client, onError: 'log' }, 'onError'],
    ] as const) {
      assert.throws(() => createRedisStore(options as never), (error: unknown) => isHallpassError(error, 'ERR_CONFIG_INVALID') && error.path === path)
    }
  })

  it('readRevocations refuses a cursor it did not issue', () =>
    withStore(async (store) => {
      const { epoch } = parseFeedCursor(await store.headCursor())!
      for (const position of ['', 'abc', '1-2-3', '-1-0', '99999999999999999999999-0', '1-0; DEL x', '5']) {
        await rejectsWithCode(store.readRevocations(position, 10), 'ERR_SESSION_INPUT_INVALID')
        await rejectsWithCode(store.readRevocations(`${epoch}.${position}`, 10), 'ERR_SESSION_INPUT_INVALID')
      }
      assert.deepEqual(await store.readRevocations(`${epoch}.0-0`, 10), [])
    }))

  it('restored from an older snapshot: a newer cursor is refused until passed, and no position comes back', () =>
    withStore(async (store, prefix) => {
      const records = await Promise.all(Array.from({ length: 6 }, (_, i) => seed(store, { subject: `r-${i}` })))
      await store.revokeSession(revocation(records[0]!, FIXTURE_NOW))
      // A snapshot of the feed's keys (what an RDB restore brings back).
      const feedKeys = ['revocations', 'sids', 'exp', 'epoch', 'head'].map((name) => `${prefix}{feed}:${name}`)
      const dumps = await Promise.all(feedKeys.map((key) => shared().dumpBuffer(key)))
      for (const record of records.slice(1, 4)) await store.revokeSession(revocation(record, FIXTURE_NOW))
      const seen = await store.readRevocations(undefined, 10)
      const held = seen.at(-1)!.cursor

      for (let i = 0; i < feedKeys.length; i++) await shared().restore(feedKeys[i]!, 0, dumps[i]!, 'REPLACE')
      assert.equal((await store.readRevocations(undefined, 10)).length, 1)
      await rejectsWithCode(store.readRevocations(held, 10), 'ERR_SESSION_INPUT_INVALID')
      await store.revokeSession(revocation(records[4]!, FIXTURE_NOW))
      await store.revokeSession(revocation(records[5]!, FIXTURE_NOW))
      const after = await store.readRevocations(held, 10)
      assert.deepEqual(after.map((e) => e.sid), [records[4]!.id, records[5]!.id])
      const positions = new Set(seen.map((e) => e.cursor))
      assert.ok(after.every((e) => !positions.has(e.cursor)), 'no position is given out twice')
    }))

  it('a flushed Redis draws a new epoch: the old cursors are foreign', () =>
    withStore(async (store, prefix) => {
      await store.revokeSession(revocation(await seed(store), FIXTURE_NOW))
      const old = await store.headCursor()
      await dropPrefix(prefix)
      assert.notEqual(parseFeedCursor(await store.headCursor())!.epoch, parseFeedCursor(old)!.epoch)
      await rejectsWithCode(store.readRevocations(old, 10), 'ERR_SESSION_INPUT_INVALID')
    }))
})

/**
 * `client` whose calls of one script (by sha) fail as a Cluster failover would, whenever
 * `fails()` says so; every other command goes through.
 */
function failingScript<T extends object>(client: T, sha: string, fails: () => boolean): T {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'call') {
        return (command: string, ...args: (string | number)[]) => {
          if (command === 'EVALSHA' && args[0] === sha && fails()) return Promise.reject(new Error('CLUSTERDOWN The cluster is down (simulated)'))
          return (target as unknown as { call(...a: unknown[]): Promise<unknown> }).call(command, ...args)
        }
      }
      const value: unknown = Reflect.get(target, property)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}
