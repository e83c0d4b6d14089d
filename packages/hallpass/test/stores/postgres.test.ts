// The PostgreSQL store: the shared conformance suite on a fresh schema per case, then what only
// a real server shows: concurrent migration, the compare-and-set race across separate
// connections, NOTIFY across processes, reconnect and catch-up after the listener's backend is
// killed, forged notifications, hostile configuration, and an unreachable server.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { isHallpassError, type AuditEvent, type HallpassErrorCode, type RevocationEntry, type SessionRecord, type SessionStore } from '../../src/index.ts'
import { compareFeedCursors, createSessionManager, parseFeedCursor } from '../../src/session/index.ts'
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres/session-store.ts'
import { describeStoreConformance, FIXTURE_NOW, sessionRecordFixture } from '../../src/testing/index.ts'
import { checkPostgres, postgresUrl } from '../../../../test/helpers/services.ts'

const skip = await checkPostgres()
const url = postgresUrl()
const FIXTURE = fileURLToPath(new URL('../fixtures/postgres-feed-listener.ts', import.meta.url))

const pools: pg.Pool[] = []
function newPool(max: number, connectionString = url): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000 })
  // An idle connection dropped by the server must not crash the test process.
  pool.on('error', () => undefined)
  pools.push(pool)
  return pool
}
/** Ends a test's own pools as soon as it is done: several runs may share one server's connection limit. */
async function endPools(list: readonly pg.Pool[]): Promise<void> {
  await Promise.all(list.map((pool) => pool.end().catch(() => undefined)))
  for (const pool of list) pools.splice(pools.indexOf(pool), 1)
}
// The file's shared pools: one for the conformance cases' stores, one for setup and inspection.
const shared = skip === undefined ? newPool(10) : undefined
const admin = skip === undefined ? newPool(3) : undefined
// Conformance cases drop their schema in the background (DDL is the slow part of a case).
const pendingDrops: Promise<void>[] = []

function freshSchema(): string {
  return `hp_test_${randomBytes(6).toString('hex')}`
}

async function dropSchema(schema: string): Promise<void> {
  await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

async function rejectsWithCode(promise: Promise<unknown>, code: HallpassErrorCode): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    assert.ok(isHallpassError(error), `expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code)
    return error
  }
  return assert.fail(`expected a rejection with ${code}`)
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await delay(5)
  }
}

function createdAudit(record: SessionRecord): AuditEvent {
  return { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: record.subject }
}

async function seed(store: SessionStore, overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> {
  const record = sessionRecordFixture(overrides)
  await store.createSession(record, createdAudit(record))
  return record
}

async function revoke(store: SessionStore, record: SessionRecord, reason = 'logout'): Promise<RevocationEntry> {
  const now = FIXTURE_NOW + 60_000
  const result = await store.revokeSession({
    id: record.id,
    now,
    reason,
    feedExp: now / 1000 + 600,
    audit: { type: 'session.revoked', at: now, sessionId: record.id, subject: record.subject, reason },
  })
  assert.ok(result.revoked, `revoking ${record.id}`)
  return result.entry
}

/** A store on its own fresh schema (and, optionally, its own pool), dropped by cleanup. */
async function freshStore(options: Partial<PostgresStoreOptions> = {}): Promise<{ store: PostgresStore; schema: string; cleanup: () => Promise<void> }> {
  const schema = freshSchema()
  const store = await createPostgresStore({ pool: shared!, schema, ...options })
  return {
    store,
    schema,
    cleanup: async () => {
      await store.close()
      pendingDrops.push(dropSchema(schema))
    },
  }
}

// Each case gets a fresh schema; the next one is migrated while the current case runs (the DDL
// of a migration is most of a case's cost), and a schema left over at the end is dropped.
let prepared: ReturnType<typeof freshStore> | undefined
async function conformanceStore(): ReturnType<typeof freshStore> {
  const current = prepared ?? freshStore()
  prepared = freshStore()
  prepared.catch(() => undefined)
  return current
}

// One hook, so the order holds: the leftover schema, every pending drop, then the pools.
after(async () => {
  const leftover = await prepared?.catch(() => undefined)
  await leftover?.cleanup()
  await Promise.all(pendingDrops)
  await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)))
})

describeStoreConformance('postgres', conformanceStore, { skip: skip ?? false })

describe('PostgreSQL store', { skip: skip ?? false }, () => {
  it('migrations: three instances migrating one fresh schema at once, then again, apply each version once', async () => {
    const schema = freshSchema()
    const instancePools = [newPool(1), newPool(1), newPool(1)]
    try {
      const stores = await Promise.all(instancePools.map((pool) => createPostgresStore({ pool, schema })))
      const versions = async (): Promise<number[]> =>
        (await admin!.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)).rows.map((r) => r.version)
      assert.deepEqual(await versions(), [1, 2, 3])
      await stores[0]!.migrate()
      await createPostgresStore({ pool: instancePools[1]!, schema })
      assert.deepEqual(await versions(), [1, 2, 3])
      const tables = await admin!.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])
      assert.deepEqual(tables.rows.map((r) => r.table_name), ['audit', 'keyring', 'meta', 'revocations', 'schema_migrations', 'sessions'])
      // The migrated schema works from every instance.
      const record = await seed(stores[2]!)
      assert.deepEqual(await stores[0]!.getSession(record.id), record)
      // A schema from a newer hallpass is refused rather than misread.
      await admin!.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (99, 'future')`)
      await rejectsWithCode(createPostgresStore({ pool: instancePools[0]!, schema }), 'ERR_STORE_UNAVAILABLE')
    } finally {
      await endPools(instancePools)
      await dropSchema(schema)
    }
  })

  it('migration 3 adds the lost-answer mark: sessions from before it read with none, and can be marked', async () => {
    const { store, schema, cleanup } = await freshStore()
    try {
      const record = await seed(store)
      // The schema as version 2 left it.
      await admin!.query(`ALTER TABLE "${schema}".sessions DROP COLUMN undelivered_hash`)
      await admin!.query(`DELETE FROM "${schema}".schema_migrations WHERE version = 3`)
      await store.migrate()
      assert.deepEqual(await store.getSession(record.id), record)
      assert.equal(await store.markUndelivered({ id: record.id, generation: 0, hash: record.refreshHash }), true)
      assert.equal((await store.getSession(record.id))?.undeliveredHash, record.refreshHash)
    } finally {
      await cleanup()
    }
  })

  it('50 concurrent rotations from 5 pools (separate connections): one winner, every loser sees its row', async () => {
    const schema = freshSchema()
    // 25 connections for 50 racing statements: enough to race hard, gentle on max_connections.
    const racePools = Array.from({ length: 5 }, () => newPool(5))
    try {
      const stores = await Promise.all(racePools.map((pool) => createPostgresStore({ pool, schema })))
      const record = await seed(stores[0]!, { device: { userAgent: 'UA' } })
      // Open every connection first, so the statements reach the server together.
      await Promise.all(
        racePools.map(async (pool) => {
          const clients = await Promise.all(Array.from({ length: 5 }, () => pool.connect()))
          for (const client of clients) client.release()
        }),
      )
      const now = FIXTURE_NOW + 60_000
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          stores[i % 5]!.rotateRefreshToken({
            id: record.id,
            generation: 0,
            hash: record.refreshHash,
            newHash: `successor-${i}`,
            maxAccessExp: 0,
            now,
            idleExpiresAt: now + 3_600_000,
            device: { ip: `10.0.0.${i}` },
            audit: { type: 'refresh.rotated', at: now, sessionId: record.id, generation: 1 },
          }),
        ),
      )
      const winners = results.flatMap((r, i) => (r.rotated ? [i] : []))
      assert.equal(winners.length, 1)
      const w = winners[0]!
      const expected: SessionRecord = {
        ...record,
        generation: 1,
        previousHash: record.refreshHash,
        refreshHash: `successor-${w}`,
        rotatedAt: now,
        lastSeenAt: now,
        idleExpiresAt: now + 3_600_000,
        device: { userAgent: 'UA', ip: `10.0.0.${w}` },
      }
      // Losers get the row as the winner left it (not their statement's older snapshot), so
      // the session layer can tell "lost a concurrent refresh" from "stale token".
      for (const result of results) assert.deepEqual(result.session, expected)
      assert.deepEqual(await stores[3]!.getSession(record.id), expected)
      const rotations = (await stores[1]!.listAudit(record.subject, 100)).filter((e) => e.type === 'refresh.rotated')
      assert.deepEqual(rotations, [{ type: 'refresh.rotated', at: now, sessionId: record.id, subject: record.subject, generation: 1 }])
    } finally {
      await endPools(racePools)
      await dropSchema(schema)
    }
  })

  it('purgeExpired keeps the newest maxAuditEventsPerSubject audit events of each subject', async () => {
    const { store, cleanup } = await freshStore({ maxAuditEventsPerSubject: 5 })
    try {
      for (const subject of ['ann', 'bob']) {
        for (let i = 0; i < 8; i++) await store.appendAudit({ type: 'session.expired', at: FIXTURE_NOW + i, sessionId: `s-${i}`, subject })
      }
      await store.appendAudit({ type: 'session.expired', at: FIXTURE_NOW, sessionId: 's-x', subject: 'cy' })
      assert.equal(await store.purgeExpired(FIXTURE_NOW), 6)
      for (const subject of ['ann', 'bob']) {
        assert.deepEqual((await store.listAudit(subject, 100)).map((e) => e.sessionId), ['s-7', 's-6', 's-5', 's-4', 's-3'])
      }
      assert.equal((await store.listAudit('cy', 100)).length, 1)
      assert.equal(await store.purgeExpired(FIXTURE_NOW), 0)
    } finally {
      await cleanup()
    }
  })

  it('racing refreshes share one successor under REPEATABLE READ and SERIALIZABLE defaults too (serialization failures are retried)', async () => {
    for (const level of ['repeatable read', 'serializable']) {
      // A database or role may set default_transaction_isolation; the store's statements must not depend on it.
      const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000, options: `-c default_transaction_isolation=${level.replace(' ', '\\ ')}` })
      pools.push(pool)
      pool.on('error', () => undefined)
      assert.equal((await pool.query<{ v: string }>("SELECT current_setting('default_transaction_isolation') AS v")).rows[0]!.v, level)
      const schema = freshSchema()
      const store = await createPostgresStore({ pool, schema })
      try {
        const manager = await createSessionManager({ store, secret: 'isolation-secret-0123456789abcdef0123', issuer: 'https://auth.example.com' })
        for (let round = 0; round < 10; round++) {
          const issued = await manager.create({ subject: 'racer' })
          const results = await Promise.all(Array.from({ length: 6 }, () => manager.refresh(issued.refreshToken)))
          assert.equal(new Set(results.map((r) => r.refreshToken)).size, 1, `${level}: one successor`)
          assert.equal(results.filter((r) => r.replay === undefined).length, 1, `${level}: one rotation`)
        }
        // The keyring's compare-and-set too: racing saves of one version, exactly one wins, none fails.
        for (let round = 0; round < 10; round++) {
          const { version } = (await store.loadKeyring())!
          const saved = await Promise.all(Array.from({ length: 4 }, (_, i) => store.saveKeyring(version, `{"round":${round},"writer":${i}}`)))
          assert.equal(saved.filter(Boolean).length, 1, `${level}: one keyring save wins`)
        }
      } finally {
        await store.close()
        pendingDrops.push(dropSchema(schema))
      }
    }
  })

  it('concurrent revocations from 5 pools (single and per subject): each session once, a subscriber misses nothing, in cursor order', async () => {
    const schema = freshSchema()
    const revokePools = Array.from({ length: 5 }, () => newPool(3))
    try {
      const stores = await Promise.all(revokePools.map((pool) => createPostgresStore({ pool, schema })))
      const records = await Promise.all(Array.from({ length: 40 }, (_, i) => seed(stores[i % 5]!, { subject: `s-${i % 4}` })))
      const received: RevocationEntry[] = []
      const stop = await stores[0]!.subscribeRevocations((entry) => received.push(entry))
      try {
        const now = FIXTURE_NOW + 60_000
        const single = (record: SessionRecord, via: number): Promise<string[]> =>
          stores[via % 5]!
            .revokeSession({ id: record.id, now, reason: 'one', feedExp: 2_000_000_000, audit: { ...createdAudit(record), type: 'session.revoked' } })
            .then((r) => (r.revoked ? [r.entry.sid] : []))
        const all = (subject: string, via: number): Promise<string[]> =>
          stores[via % 5]!
            .revokeSubjectSessions({ subject, exceptId: undefined, now, reason: 'all', feedExp: 2_000_000_000 })
            .then((entries) => entries.map((e) => e.sid))
        // Every session is targeted by one or more racing calls: ten on records[0], a single
        // revocation on every other one, and two subject-wide revocations of s-0..s-2.
        const revokedBy = await Promise.all([
          ...records.map((record, i) => single(record, i)),
          ...Array.from({ length: 9 }, (_, i) => single(records[0]!, i + 1)),
          ...['s-0', 's-1', 's-2', 's-0', 's-1', 's-2'].map((subject, i) => all(subject, i)),
        ])
        const sids = revokedBy.flat()
        assert.equal(sids.length, 40, 'each session revoked exactly once')
        assert.deepEqual([...sids].sort(), records.map((r) => r.id).sort())
        await until(() => received.length >= 40, '40 live revocations')
        await delay(50)
        const feed = await stores[4]!.readRevocations(undefined, 100)
        assert.equal(feed.length, 40)
        assert.deepEqual(received, feed)
        assert.ok(feed.every((e, i) => i === 0 || compareFeedCursors(e.cursor, feed[i - 1]!.cursor) === 1), 'cursors increase')
        for (const record of records) assert.equal((await stores[2]!.getSession(record.id))?.revokedAt, now)
      } finally {
        await stop()
      }
    } finally {
      await endPools(revokePools)
      await dropSchema(schema)
    }
  })

  it('a second process receives revocations through LISTEN/NOTIFY, long reasons included', { timeout: 20_000 }, async () => {
    const { store, schema, cleanup } = await freshStore()
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, schema], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
      const nextLine = async (): Promise<string> => {
        // An unref'd timer: a pending guard must not keep the test process alive afterwards.
        const guard = delay(10_000, undefined, { ref: false }).then(() => assert.fail('the child said nothing for 10 s'))
        const next = await Promise.race([lines.next(), guard])
        assert.equal(next.done, false, 'the child ended early')
        return String(next.value)
      }
      assert.equal(await nextLine(), 'ready')
      const records = await Promise.all([0, 1, 2].map(() => seed(store)))
      const sent = [
        await revoke(store, records[0]!),
        // Too long for a NOTIFY payload: announced by cursor only, read from the table.
        await revoke(store, records[1]!, 'r'.repeat(6000)),
        await revoke(store, records[2]!, 'quote " \u0000 \u{1F600}'),
      ]
      const got = [JSON.parse(await nextLine()), JSON.parse(await nextLine()), JSON.parse(await nextLine())] as RevocationEntry[]
      assert.deepEqual(got, sent)
      child.stdin.end()
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 0)
    } finally {
      if (child.exitCode === null) child.kill()
      await cleanup()
    }
  })

  it('the listener reconnects after pg_terminate_backend and catches up, nothing lost or repeated', async () => {
    const pool = newPool(4)
    const pids: number[] = []
    const { store, cleanup } = await freshStore({
      pool,
      listenClient: async () => {
        const client = await pool.connect()
        pids.push((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid)
        return client
      },
    })
    try {
      const records = await Promise.all([0, 1, 2, 3].map(() => seed(store)))
      const received: RevocationEntry[] = []
      const stop = await store.subscribeRevocations((entry) => received.push(entry))
      const sent = [await revoke(store, records[0]!)]
      await until(() => received.length === 1, 'the first revocation')
      const killed = await admin!.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pids[0]])
      assert.equal(killed.rows[0]!.ok, true)
      // Revoked while the listener is gone: no notification can reach it.
      sent.push(await revoke(store, records[1]!), await revoke(store, records[2]!))
      await until(() => pids.length === 2 && received.length === 3, 'reconnect and catch-up')
      sent.push(await revoke(store, records[3]!))
      await until(() => received.length === 4, 'live delivery after the reconnect')
      await delay(50)
      assert.deepEqual(received, sent)
      assert.equal(pids.length, 2)
      await stop()
      // Unsubscribing closes the listener's connection.
      await until(() => pool.totalCount === pool.idleCount, 'the listen client to be gone')
    } finally {
      await cleanup()
      await endPools([pool])
    }
  })

  it('forged notifications neither inject entries nor hide later ones (listen client: a plain pg.Client)', async () => {
    const clients: pg.Client[] = []
    const ended: pg.Client[] = []
    const { store, schema, cleanup } = await freshStore({
      listenClient: async () => {
        const client = new pg.Client({ connectionString: url })
        client.on('end', () => ended.push(client))
        clients.push(client)
        await client.connect()
        return client
      },
    })
    try {
      const record = await seed(store)
      const received: RevocationEntry[] = []
      const stop = await store.subscribeRevocations((entry) => received.push(entry))
      // Any role that can connect may NOTIFY any channel.
      const channel = `${schema}_revocations`
      const forged = { cursor: '9999999', sid: 'forged', exp: 4_000_000_000, revokedAt: 1, reason: 'x' }
      await admin!.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(forged)])
      await admin!.query('SELECT pg_notify($1, $2)', [channel, 'not json {'])
      await admin!.query('SELECT pg_notify($1, $2)', [channel, ''])
      const entry = await revoke(store, record)
      await until(() => received.length >= 1, 'the real revocation')
      await delay(50)
      assert.deepEqual(received, [entry])
      // Unsubscribing ends a plain client (a pool client would be released and destroyed).
      await stop()
      assert.equal(clients.length, 1)
      await until(() => ended.length === 1, 'the listen client to end')
    } finally {
      await cleanup()
    }
  })

  it('text PostgreSQL cannot hold (NUL, lone surrogates, U+FFFF) round-trips; ordinary text is stored as is', async () => {
    const { store, schema, cleanup } = await freshStore()
    try {
      const odd = 'a\u0000b \ud800 \udc00x \uffff \uffff0000 \\u0000'
      const record = await seed(store, { subject: odd, claims: { [odd]: odd, list: [odd] }, device: { label: odd }, scope: odd })
      const twin = await seed(store, { subject: 'a\uffff0000b \ud800 \udc00x \uffff \uffff0000 \\u0000' })
      assert.deepEqual(await store.getSession(record.id), record)
      assert.deepEqual(await store.listSessions(odd, FIXTURE_NOW + 1), [record])
      assert.deepEqual(await store.listSessions(twin.subject, FIXTURE_NOW + 1), [twin])
      const entry = await revoke(store, record, odd)
      assert.equal(entry.reason, odd)
      assert.deepEqual((await store.readRevocations(undefined, 10))[0], entry)
      const plain = await seed(store, { subject: "o'brien %_ {x} \u00e9\u{1F600}", claims: { role: 'admin' } })
      const row = await admin!.query<{ subject: string; claims: unknown }>(`SELECT subject, claims FROM "${schema}".sessions WHERE id = $1`, [plain.id])
      assert.deepEqual(row.rows[0], { subject: plain.subject, claims: { role: 'admin' } })
    } finally {
      await cleanup()
    }
  })

  it('hostile schema names and options are refused before any I/O', async () => {
    const hostile: unknown[] = [
      '',
      'Hallpass',
      'hall-pass',
      'a b',
      '1abc',
      'x"; DROP SCHEMA public CASCADE; --',
      'hallpass"',
      'pg_catalog',
      'pg_anything',
      'caf\u00e9',
      'a\u0000b',
      'a'.repeat(52),
      42,
      null,
    ]
    for (const schema of hostile) {
      await rejectsWithCode(createPostgresStore({ pool: shared!, schema: schema as string }), 'ERR_CONFIG_INVALID')
    }
    await createPostgresStore({ pool: shared!, schema: 'a'.repeat(51), migrate: false })
    await rejectsWithCode(createPostgresStore({ pool: {} as pg.Pool }), 'ERR_CONFIG_INVALID')
    await rejectsWithCode(createPostgresStore({ pool: shared!, poolSize: 3 } as PostgresStoreOptions), 'ERR_CONFIG_INVALID')
    await rejectsWithCode(createPostgresStore({ pool: shared!, migrate: 'yes' } as unknown as PostgresStoreOptions), 'ERR_CONFIG_INVALID')
    for (const max of [0, 1.5, -1, '10']) {
      await rejectsWithCode(createPostgresStore({ pool: shared!, maxAuditEventsPerSubject: max } as unknown as PostgresStoreOptions), 'ERR_CONFIG_INVALID')
    }
    await rejectsWithCode(createPostgresStore({ pool: shared!, listenClient: 'x' } as unknown as PostgresStoreOptions), 'ERR_CONFIG_INVALID')
    // Nothing was created under any of those names (the 51-character one had migrate: false;
    // pg_catalog exists anyway).
    const names = [...hostile.filter((n): n is string => typeof n === 'string' && !n.includes('\u0000') && n !== 'pg_catalog'), 'a'.repeat(51)]
    const created = await admin!.query('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)', [names])
    assert.deepEqual(created.rows, [])
  })

  it('an unreachable server (connection refused) is ERR_STORE_UNAVAILABLE everywhere, ping false, no crash', async () => {
    const dead = newPool(2, 'postgres://postgres@127.0.0.1:1/test')
    const error = await rejectsWithCode(createPostgresStore({ pool: dead }), 'ERR_STORE_UNAVAILABLE')
    assert.ok((error as Error).cause, 'the driver error is attached as cause')
    const store = await createPostgresStore({ pool: dead, migrate: false })
    assert.equal(await store.ping(), false)
    const record = sessionRecordFixture()
    await rejectsWithCode(store.getSession(record.id), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(store.createSession(record, createdAudit(record)), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(
      store.rotateRefreshToken({ id: record.id, generation: 0, hash: 'h', newHash: 'n', now: 1, idleExpiresAt: 2, device: undefined, maxAccessExp: 0, audit: { type: 'refresh.rotated', at: 1, sessionId: record.id } }),
      'ERR_STORE_UNAVAILABLE',
    )
    await rejectsWithCode(store.revokeSession({ id: record.id, now: 1, reason: 'r', feedExp: 1, audit: createdAudit(record) }), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(store.readRevocations(undefined, 10), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(store.subscribeRevocations(() => undefined), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(store.saveKeyring(0, 'k'), 'ERR_STORE_UNAVAILABLE')
    await rejectsWithCode(store.purgeExpired(1), 'ERR_STORE_UNAVAILABLE')
    await store.close()
    await rejectsWithCode(store.getSession(record.id), 'ERR_STORE_UNAVAILABLE')
    await endPools([dead])
  })

  it('close() ends subscriptions; a closed store refuses work and pings false', async () => {
    const pool = newPool(3)
    const { store, cleanup } = await freshStore({ pool })
    try {
      await store.subscribeRevocations(() => undefined)
      await store.subscribeRevocations(() => undefined)
      assert.equal(pool.totalCount - pool.idleCount, 2)
      await store.close()
      await until(() => pool.totalCount === pool.idleCount, 'the listen clients to be released')
      assert.equal(await store.ping(), false)
      await rejectsWithCode(store.getSession('x'), 'ERR_STORE_UNAVAILABLE')
      await rejectsWithCode(store.subscribeRevocations(() => undefined), 'ERR_STORE_UNAVAILABLE')
    } finally {
      await cleanup()
      await endPools([pool])
    }
  })

  it('restored from an older dump: a newer cursor is refused until passed, and no position comes back', async () => {
    const { store, schema, cleanup } = await freshStore()
    try {
      const records = await Promise.all(Array.from({ length: 6 }, (_, i) => seed(store, { subject: `r-${i}` })))
      await revoke(store, records[0]!)
      // What a dump holds of the feed: its rows and the sequence's value (pg_dump's setval).
      const dumpedSequence = (await admin!.query<{ v: string }>(`SELECT last_value::text AS v FROM "${schema}".revocations_seq_seq`)).rows[0]!.v
      const dumpedHead = await store.headCursor()
      for (const record of records.slice(1, 4)) await revoke(store, record)
      const seen = await store.readRevocations(undefined, 10)
      const held = seen.at(-1)!.cursor

      // The restore: later rows gone, the sequence set back, the epoch (meta) as dumped.
      await admin!.query(`DELETE FROM "${schema}".revocations WHERE seq > $1`, [parseFeedCursor(dumpedHead)!.position])
      await admin!.query(`SELECT setval('"${schema}".revocations_seq_seq', $1::bigint)`, [dumpedSequence])
      assert.equal((await store.readRevocations(undefined, 10)).length, 1)
      await rejectsWithCode(store.readRevocations(held, 10), 'ERR_SESSION_INPUT_INVALID')
      await revoke(store, records[4]!)
      await revoke(store, records[5]!)
      const after = await store.readRevocations(held, 10)
      assert.deepEqual(after.map((e) => e.sid), [records[4]!.id, records[5]!.id])
      const positions = new Set(seen.map((e) => e.cursor))
      assert.ok(after.every((e) => !positions.has(e.cursor)), 'no position is given out twice')
    } finally {
      await cleanup()
    }
  })

  it('a schema dropped and created again under a running store object: its cursors carry the new epoch at once', async () => {
    const schema = freshSchema()
    const pool = newPool(2)
    try {
      const store = await createPostgresStore({ pool, schema })
      await revoke(store, await seed(store))
      const old = await store.headCursor()
      await dropSchema(schema)
      await store.migrate()
      const fresh = await store.headCursor()
      assert.notEqual(parseFeedCursor(fresh)!.epoch, parseFeedCursor(old)!.epoch)
      await rejectsWithCode(store.readRevocations(old, 10), 'ERR_SESSION_INPUT_INVALID')
      const entry = await revoke(store, await seed(store))
      assert.equal(parseFeedCursor(entry.cursor)!.epoch, parseFeedCursor(fresh)!.epoch)
      await store.close()
    } finally {
      await endPools([pool])
      await dropSchema(schema)
    }
  })

  it('a schema dropped and created again has a new epoch: the old cursors are foreign', async () => {
    const schema = freshSchema()
    const pool = newPool(2)
    try {
      let store = await createPostgresStore({ pool, schema })
      await revoke(store, await seed(store))
      const old = await store.headCursor()
      await store.close()
      await dropSchema(schema)
      store = await createPostgresStore({ pool, schema })
      assert.notEqual(parseFeedCursor(await store.headCursor())!.epoch, parseFeedCursor(old)!.epoch)
      await rejectsWithCode(store.readRevocations(old, 10), 'ERR_SESSION_INPUT_INVALID')
      await store.close()
    } finally {
      await endPools([pool])
      await dropSchema(schema)
    }
  })

  it('a malformed cursor or limit is refused as input, not as an outage', async () => {
    const { store, cleanup } = await freshStore()
    try {
      const { epoch } = parseFeedCursor(await store.headCursor())!
      for (const position of ['', '-1', '1.5', 'abc', '01', '99999999999999999999', "1' OR '1'='1", '1-1']) {
        await rejectsWithCode(store.readRevocations(`${epoch}.${position}`, 10), 'ERR_SESSION_INPUT_INVALID')
        await rejectsWithCode(store.readRevocations(position, 10), 'ERR_SESSION_INPUT_INVALID')
      }
      await rejectsWithCode(store.readRevocations(undefined, -1), 'ERR_SESSION_INPUT_INVALID')
      await rejectsWithCode(store.readRevocations(undefined, 1.5), 'ERR_SESSION_INPUT_INVALID')
      // listRecentAudit (optional in the contract; this store has it): bad input never reaches SQL.
      assert.equal(typeof store.listRecentAudit, 'function')
      await rejectsWithCode(store.listRecentAudit!({ limit: 10, before: 2 ** 80 }), 'ERR_SESSION_INPUT_INVALID')
      await rejectsWithCode(store.listRecentAudit!({ limit: 10, types: ["session.created' OR '1'='1" as 'session.created'] }), 'ERR_SESSION_INPUT_INVALID')
      assert.deepEqual(await store.listRecentAudit!({ limit: 10, subject: "1' OR '1'='1" }), [])
      // A generation that cannot be stored is a plain mismatch, not a database error.
      const record = await seed(store)
      for (const generation of [1.5, Number.NaN, 2 ** 80]) {
        const result = await store.rotateRefreshToken({
          id: record.id,
          generation,
          hash: record.refreshHash,
          newHash: 'n',
          maxAccessExp: 0,
          now: FIXTURE_NOW + 1,
          idleExpiresAt: FIXTURE_NOW + 2,
          device: undefined,
          audit: { type: 'refresh.rotated', at: FIXTURE_NOW + 1, sessionId: record.id },
        })
        assert.deepEqual(result, { rotated: false, session: record })
      }
    } finally {
      await cleanup()
    }
  })
})
