// Revocations straight from the session store (`revocation: { store }`): PostgreSQL
// LISTEN/NOTIFY and Redis pub/sub on the real servers, SQLite in process. The "server" and the
// verifier hold two different store objects on one database (schema, key prefix), as two
// processes would. Plus the liveness policy under an injected clock, and option checks.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createSessionManager, type SessionManager } from '../../src/session/index.ts'
import type { SessionStore } from '../../src/session/store.ts'
import { createPostgresStore } from '../../src/stores/postgres/session-store.ts'
import { createRedisStore } from '../../src/stores/redis/session-store.ts'
import { createSqliteStore } from '../../src/stores/sqlite/session-store.ts'
import { createVerifier, type Verifier, type VerifierEvent } from '../../src/verify/index.ts'
import { checkPostgres, checkRedis, postgresUrl, redisUrl } from '../../../../test/helpers/services.ts'
import { createManualClock } from './helpers/clock.ts'
import { waitFor } from './helpers/issuer.ts'

const ISSUER = 'https://auth.example.com'
/** Lets pending checks finish (and schedule their next timer) before the clock moves. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const SECRET = randomBytes(32)

/** Two store objects on one backend: the server's and the verifier's. */
interface Backend {
  name: string
  skip: string | false
  open(): Promise<{ server: SessionStore; follower: SessionStore; cleanup: () => Promise<void> }>
}

const pgSkip = (await checkPostgres()) ?? false
const redisSkip = (await checkRedis()) ?? false

const backends: Backend[] = [
  {
    name: 'sqlite (one file, two store objects)',
    skip: false,
    open() {
      const dir = mkdtempSync(join(tmpdir(), 'hallpass-store-feed-'))
      const path = join(dir, 'sessions.db')
      const server = createSqliteStore({ path })
      const follower = createSqliteStore({ path })
      return Promise.resolve({
        server,
        follower,
        async cleanup() {
          await follower.close()
          await server.close()
          rmSync(dir, { recursive: true, force: true })
        },
      })
    },
  },
  {
    name: 'postgres (LISTEN/NOTIFY)',
    skip: pgSkip,
    async open() {
      const pool = new pg.Pool({ connectionString: postgresUrl(), max: 6 })
      pool.on('error', () => undefined)
      const schema = `hp_feed_${randomBytes(6).toString('hex')}`
      const server = await createPostgresStore({ pool, schema })
      const follower = await createPostgresStore({ pool, schema })
      return {
        server,
        follower,
        async cleanup() {
          await follower.close()
          await server.close()
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          await pool.end()
        },
      }
    },
  },
  {
    name: 'redis (pub/sub + stream)',
    skip: redisSkip,
    async open() {
      const client = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 2 })
      await client.connect()
      const keyPrefix = `hpfeed:${randomBytes(6).toString('hex')}:`
      const server = createRedisStore({ client, keyPrefix })
      const follower = createRedisStore({ client, keyPrefix })
      return {
        server,
        follower,
        async cleanup() {
          await follower.close()
          await server.close()
          const keys = await client.keys(`${keyPrefix}*`)
          if (keys.length > 0) await client.del(...keys)
          client.disconnect()
        },
      }
    },
  },
]

async function managerOn(store: SessionStore): Promise<SessionManager> {
  return createSessionManager({ store, secret: SECRET, issuer: ISSUER })
}

function verifierOn(manager: SessionManager, store: SessionStore, extra: { initialCursor?: string; onEvent?: (e: VerifierEvent) => void } = {}): Promise<Verifier> {
  return createVerifier({
    issuer: ISSUER,
    keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
    revocation: { store, ...(extra.initialCursor === undefined ? {} : { initialCursor: extra.initialCursor }), livenessIntervalSeconds: 0.2 },
    logger: false,
    ...(extra.onEvent === undefined ? {} : { onEvent: extra.onEvent }),
  })
}

for (const backend of backends) {
  describe(`revocation from the store: ${backend.name}`, { skip: backend.skip }, () => {
    it('a logout reaches the verifier through the store, in well under a second', async () => {
      const { server, follower, cleanup } = await backend.open()
      const manager = await managerOn(server)
      const verifier = await verifierOn(manager, follower)
      try {
        assert.equal(verifier.health().feed.connected, true)
        const alice = await manager.create({ subject: 'alice' })
        const bob = await manager.create({ subject: 'bob' })
        assert.equal(verifier.verify(alice.accessToken).sub, 'alice')
        const started = Date.now()
        await manager.revoke(alice.session.id, 'logout')
        await waitFor(() => verifier.health().feed.denylistSize === 1, 'the revocation to arrive')
        assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`)
        assert.throws(() => verifier.verify(alice.accessToken), { code: 'ERR_SESSION_REVOKED' })
        assert.equal(verifier.verify(bob.accessToken).sub, 'bob')
        assert.equal(verifier.metrics().feed?.events, 1)
      } finally {
        await verifier.close()
        await cleanup()
      }
    })

    it('a verifier started after a logout refuses that token at once; initialCursor resumes; a foreign cursor starts over', async () => {
      const { server, follower, cleanup } = await backend.open()
      const manager = await managerOn(server)
      const head = await server.headCursor()
      const revoked = await manager.create({ subject: 'carol' })
      await manager.revoke(revoked.session.id, 'logout')
      const live = await manager.create({ subject: 'dave' })
      const events: VerifierEvent[] = []
      // Without a cursor: a snapshot of every revocation that can still matter.
      const fresh = await verifierOn(manager, follower)
      // With the cursor it had before: the catch-up from there.
      const resumed = await verifierOn(manager, follower, { initialCursor: head })
      // With a cursor of another store (another epoch): a snapshot, announced as a reset.
      const foreignCursor = `${head.startsWith('0') ? 'f' : '0'}${head.slice(1)}`
      const foreign = await createVerifier({
        issuer: ISSUER,
        keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
        revocation: { store: follower, initialCursor: foreignCursor },
        onEvent: (event) => events.push(event),
        logger: false,
      })
      try {
        for (const verifier of [fresh, resumed, foreign]) {
          assert.equal(verifier.health().feed.complete, true)
          assert.throws(() => verifier.verify(revoked.accessToken), { code: 'ERR_SESSION_REVOKED' })
          assert.equal(verifier.verify(live.accessToken).sub, 'dave')
        }
        assert.deepEqual(events.filter((e) => e.type === 'feed.reset'), [{ type: 'feed.reset', reason: 'foreign' }])
        assert.equal(foreign.metrics().feed?.snapshots, 1)
        assert.equal(resumed.metrics().feed?.snapshots, 0)
      } finally {
        await fresh.close()
        await resumed.close()
        await foreign.close()
        await cleanup()
      }
    })
  })
}

describe('revocation from the store: liveness and policy (injected clock)', () => {
  const stores: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of stores) await close()
  })

  it('an unreachable store is a lost feed: open for failOpenForSeconds, then closed, then back', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const manager = await managerOn(store)
    let reachable = true
    const flaky: SessionStore = Object.assign(Object.create(store) as SessionStore, {
      headCursor: () => (reachable ? store.headCursor() : Promise.reject(new Error('connection refused'))),
    })
    const clock = createManualClock(Date.now())
    const events: VerifierEvent[] = []
    const verifier = await createVerifier({
      issuer: ISSUER,
      keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
      revocation: { store: flaky, failOpenForSeconds: 30, livenessIntervalSeconds: 5 },
      now: clock.now,
      timers: clock.timers,
      onEvent: (event) => events.push(event),
      logger: false,
    })
    try {
      const issued = await manager.create({ subject: 'erin' })
      // The manager's clock is the real one; the token is valid for its 10 minutes either way.
      assert.equal(verifier.verify(issued.accessToken).sub, 'erin')
      reachable = false
      clock.advance(5_000)
      await waitFor(() => !verifier.health().feed.connected, 'the failed ping')
      assert.ok(events.some((e) => e.type === 'feed.disconnected'))
      await settle()
      clock.advance(20_000) // 25 s since the last good ping: still open
      assert.equal(verifier.verify(issued.accessToken).sub, 'erin')
      await settle()
      clock.advance(10_000) // 35 s: closed
      assert.throws(() => verifier.verify(issued.accessToken), { code: 'ERR_REVOCATION_FEED_STALE' })
      assert.equal(verifier.health().feed.failingClosed, true)
      reachable = true
      await settle() // the failed check has rescheduled itself
      clock.advance(5_000)
      await waitFor(() => verifier.health().feed.connected, 'the next good ping')
      assert.equal(verifier.verify(issued.accessToken).sub, 'erin')
    } finally {
      await verifier.close()
    }
  })

  it('a live channel that died without a word: the head check brings the revocation within one interval', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const manager = await managerOn(store)
    // Subscribed, but nothing ever arrives: a LISTEN or pub/sub connection a firewall cut.
    const silent: SessionStore = Object.assign(Object.create(store) as SessionStore, {
      subscribeRevocations: () => Promise.resolve(() => Promise.resolve()),
    })
    const verifier = await createVerifier({
      issuer: ISSUER,
      keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
      revocation: { store: silent, livenessIntervalSeconds: 0.2 },
      logger: false,
    })
    try {
      const issued = await manager.create({ subject: 'ivy' })
      assert.equal(verifier.verify(issued.accessToken).sub, 'ivy')
      const revokedAt = Date.now()
      await manager.revoke(issued.session.id, 'logout')
      await waitFor(() => verifier.health().feed.denylistSize === 1, 'the revocation, read by the head check')
      assert.ok(Date.now() - revokedAt < 1000, `${Date.now() - revokedAt} ms`)
      assert.throws(() => verifier.verify(issued.accessToken), { code: 'ERR_SESSION_REVOKED' })
      assert.equal(verifier.health().feed.complete, true)
    } finally {
      await verifier.close()
    }
  })

  it('a clock tolerance beyond the feed margin is refused while following a feed', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const keys = { resolveVerifyKey: (): never => { throw new Error('unused') } }
    await assert.rejects(createVerifier({ issuer: ISSUER, keys, clockToleranceSeconds: 301, revocation: { store }, logger: false }), {
      code: 'ERR_CONFIG_INVALID',
      path: 'clockToleranceSeconds',
    })
    const offline = await createVerifier({ issuer: ISSUER, keys, clockToleranceSeconds: 3600, revocation: false })
    await offline.close()
  })

  it('a store that is down at start is retried, and stale from the start', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const manager = await managerOn(store)
    let up = false
    const late: SessionStore = Object.assign(Object.create(store) as SessionStore, {
      subscribeRevocations: (listener: Parameters<SessionStore['subscribeRevocations']>[0]) =>
        up ? store.subscribeRevocations(listener) : Promise.reject(new Error('connection refused')),
    })
    const clock = createManualClock(Date.now())
    const verifier = await createVerifier({
      issuer: ISSUER,
      keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
      revocation: { store: late, failOpenForSeconds: 0, livenessIntervalSeconds: 1 },
      now: clock.now,
      timers: clock.timers,
      logger: false,
    })
    try {
      const issued = await manager.create({ subject: 'frank' })
      assert.equal(verifier.health().feed.connected, false)
      clock.advance(1)
      assert.throws(() => verifier.verify(issued.accessToken), { code: 'ERR_REVOCATION_FEED_STALE' })
      up = true
      clock.advance(1_000)
      await waitFor(() => verifier.health().feed.connected, 'the retried subscription')
      assert.equal(verifier.verify(issued.accessToken).sub, 'frank')
      await manager.revoke(issued.session.id, 'logout')
      await waitFor(() => verifier.health().feed.denylistSize === 1, 'the revocation')
      assert.throws(() => verifier.verify(issued.accessToken), { code: 'ERR_SESSION_REVOKED' })
    } finally {
      await verifier.close()
    }
  })

  it('a catch-up that fails is retried from initialCursor: nothing revoked meanwhile is skipped', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const manager = await managerOn(store)
    const head = await store.headCursor()
    const a = await manager.create({ subject: 'gina' })
    const b = await manager.create({ subject: 'hank' })
    await manager.revoke(a.session.id, 'logout')
    await manager.revoke(b.session.id, 'logout')
    let failures = 1
    const broken: SessionStore = Object.assign(Object.create(store) as SessionStore, {
      readRevocations: (cursor: string | undefined, limit: number, minExp?: number) =>
        failures-- > 0 ? Promise.reject(new Error('connection reset')) : store.readRevocations(cursor, limit, minExp),
    })
    const clock = createManualClock(Date.now())
    const verifier = await createVerifier({
      issuer: ISSUER,
      keys: { resolveVerifyKey: (header) => manager.keys.keyring().resolveVerifyKey(header) },
      revocation: { store: broken, initialCursor: head, livenessIntervalSeconds: 1 },
      now: clock.now,
      timers: clock.timers,
      logger: false,
    })
    try {
      assert.equal(verifier.health().feed.connected, false)
      assert.equal(verifier.health().feed.denylistSize, 0)
      await settle()
      clock.advance(1_000)
      await waitFor(() => verifier.health().feed.connected, 'the retried catch-up')
      assert.equal(verifier.health().feed.denylistSize, 2)
      assert.throws(() => verifier.verify(a.accessToken), { code: 'ERR_SESSION_REVOKED' })
      assert.throws(() => verifier.verify(b.accessToken), { code: 'ERR_SESSION_REVOKED' })
    } finally {
      await verifier.close()
    }
  })

  it('options: store and feedUrl are exclusive; a store must be a store', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    stores.push(() => store.close())
    const keys = { resolveVerifyKey: (): never => { throw new Error('unused') } }
    await assert.rejects(createVerifier({ issuer: ISSUER, keys, revocation: { store, feedUrl: `${ISSUER}/auth/revocations` } }), {
      code: 'ERR_CONFIG_INVALID',
      path: 'revocation.store',
    })
    for (const bad of [{}, 'redis://localhost', { subscribeRevocations() {} }]) {
      await assert.rejects(createVerifier({ issuer: ISSUER, keys, revocation: { store: bad as never } }), { code: 'ERR_CONFIG_INVALID', path: 'revocation.store' })
    }
    await assert.rejects(createVerifier({ issuer: ISSUER, keys, revocation: { store, livenessIntervalSeconds: 0 } }), {
      code: 'ERR_CONFIG_INVALID',
      path: 'revocation.livenessIntervalSeconds',
    })
  })
})
