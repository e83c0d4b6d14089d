import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { FEED_EXP_MARGIN_SECONDS, parseFeedCursor, type RevocationEntry, type SessionStore } from '../../src/session/index.ts'
import { sqliteMigrations } from '../../src/stores/sqlite/migrations.ts'
import { createSqliteStore, SQLITE_SCHEMA_VERSION } from '../../src/stores/sqlite/session-store.ts'
import { describeStoreConformance, FIXTURE_NOW, sessionRecordFixture } from '../../src/testing/index.ts'

const DAY = 86_400_000

function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hallpass-sqlite-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

describeStoreConformance('sqlite :memory:', () => {
  const store = createSqliteStore({ path: ':memory:' })
  return Promise.resolve({ store, cleanup: () => store.close() })
})

describeStoreConformance('sqlite file (WAL)', () => {
  const tmp = tempDir()
  const store = createSqliteStore({ path: join(tmp.dir, 'sessions.db') })
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close()
      tmp.remove()
    },
  })
})

async function seed(store: SessionStore, overrides: Parameters<typeof sessionRecordFixture>[0] = {}) {
  const record = sessionRecordFixture(overrides)
  await store.createSession(record, { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: record.subject })
  return record
}

function revokeInput(id: string, now = FIXTURE_NOW, feedExp = Math.ceil(now / 1000) + 600) {
  return { id, now, reason: 'test', feedExp, audit: { type: 'session.revoked' as const, at: now, sessionId: id, subject: 'user-1' } }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await delay(5)
  }
}

describe('sqlite store: options', () => {
  it('refuses bad options with ERR_CONFIG_INVALID naming the option', () => {
    const db = new Database(':memory:')
    try {
      const cases: Array<[unknown, string]> = [
        [{}, 'path'],
        [{ path: ':memory:', database: db }, 'path'],
        [{ path: '' }, 'path'],
        [{ path: 42 }, 'path'],
        [{ database: {} }, 'database'],
        [{ path: ':memory:', busyTimeoutSeconds: -1 }, 'busyTimeoutSeconds'],
        [{ path: ':memory:', pollIntervalSeconds: 0 }, 'pollIntervalSeconds'],
        [{ path: ':memory:', pollIntervalSeconds: Number.NaN }, 'pollIntervalSeconds'],
        [{ path: ':memory:', maxAuditEventsPerSubject: 1.5 }, 'maxAuditEventsPerSubject'],
        [{ path: ':memory:', onError: 'log' }, 'onError'],
        [{ path: ':memory:', file: 'x.db' }, 'file'],
      ]
      for (const [options, path] of cases) {
        assert.throws(() => createSqliteStore(options as never), { code: 'ERR_CONFIG_INVALID', path }, JSON.stringify(options, (_k, v: unknown) => (v === db ? '[db]' : v)))
      }
      assert.throws(() => createSqliteStore(null as never), { code: 'ERR_CONFIG_INVALID' })
    } finally {
      db.close()
    }
  })

  it('a missing folder is ERR_STORE_UNAVAILABLE (the store never creates folders)', () => {
    const tmp = tempDir()
    try {
      assert.throws(() => createSqliteStore({ path: join(tmp.dir, 'missing', 'sessions.db') }), { code: 'ERR_STORE_UNAVAILABLE' })
    } finally {
      tmp.remove()
    }
  })
})

describe('sqlite store: schema and pragmas', () => {
  it('migrates once: user_version set, idempotent on reopen, data kept', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      const first = createSqliteStore({ path })
      const record = await seed(first)
      await first.close()
      const check = new Database(path, { readonly: true })
      assert.equal(check.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
      assert.ok(SQLITE_SCHEMA_VERSION >= 1)
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'hallpass%' ORDER BY name").pluck().all()
      assert.deepEqual(tables, ['hallpass_audit', 'hallpass_keyring', 'hallpass_meta', 'hallpass_revocations', 'hallpass_sessions'])
      const schemaBefore = check.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all()
      check.close()

      for (let i = 0; i < 2; i++) {
        const again = createSqliteStore({ path })
        assert.deepEqual(await again.getSession(record.id), record)
        await again.close()
      }
      const after = new Database(path, { readonly: true })
      assert.equal(after.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
      assert.deepEqual(after.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all(), schemaBefore)
      after.close()
    } finally {
      tmp.remove()
    }
  })

  it('upgrades a version-1 database: audit trail kept in order, the idle index and audit AUTOINCREMENT gone', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      // A database as release 1 left it, with a subject's audit trail (two events in one millisecond).
      const old = new Database(path)
      old.exec(sqliteMigrations[0]!)
      old.pragma('user_version = 1')
      const insert = old.prepare('INSERT INTO hallpass_audit (subject, at, event) VALUES (?, ?, ?)')
      const events = [1, 2, 2, 3].map((at, i) => ({ type: 'session.created', at: FIXTURE_NOW + at, sessionId: `s${i}`, subject: 'alice' }))
      for (const event of events) insert.run(event.subject, event.at, JSON.stringify(event))
      old.close()

      const store = createSqliteStore({ path })
      assert.deepEqual(await store.listAudit('alice', 10), [...events].reverse())
      const record = await seed(store, { subject: 'alice' })
      assert.equal((await store.listAudit('alice', 10)).length, 5)
      assert.deepEqual(await store.getSession(record.id), record)
      await store.close()

      const check = new Database(path, { readonly: true })
      assert.equal(check.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
      const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'hallpass%' ORDER BY name").pluck().all()
      assert.ok(!indexes.includes('hallpass_sessions_idle'), indexes.join())
      assert.ok(indexes.includes('hallpass_audit_subject_at'), indexes.join())
      const auditSql = check.prepare("SELECT sql FROM sqlite_master WHERE name = 'hallpass_audit'").pluck().get() as string
      assert.doesNotMatch(auditSql, /AUTOINCREMENT/)
      assert.deepEqual(check.prepare("SELECT name FROM sqlite_sequence WHERE name = 'hallpass_audit'").all(), [])
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok')
      check.close()
    } finally {
      tmp.remove()
    }
  })

  it('upgrades a version-3 database: its sessions read with no lost-answer mark, and can be marked', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      const first = createSqliteStore({ path })
      const record = await seed(first)
      await first.close()
      // The file as release 3 left it.
      const old = new Database(path)
      old.exec('ALTER TABLE hallpass_sessions DROP COLUMN undelivered_hash')
      old.pragma('user_version = 3')
      old.close()

      const store = createSqliteStore({ path })
      assert.deepEqual(await store.getSession(record.id), record)
      assert.equal(await store.markUndelivered({ id: record.id, generation: 0, hash: record.refreshHash }), true)
      assert.equal((await store.getSession(record.id))?.undeliveredHash, record.refreshHash)
      await store.close()
    } finally {
      tmp.remove()
    }
  })

  it('refuses a database whose schema is newer than this release, changing nothing', () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      const db = new Database(path)
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`)
      db.close()
      assert.throws(() => createSqliteStore({ path }), { code: 'ERR_STORE_UNAVAILABLE' })
      const check = new Database(path, { readonly: true })
      assert.equal(check.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION + 1)
      assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), [])
      check.close()
    } finally {
      tmp.remove()
    }
  })

  it('files run in WAL with synchronous=NORMAL, foreign keys and a busy timeout', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    const db = new Database(path)
    try {
      const store = createSqliteStore({ database: db, busyTimeoutSeconds: 2.5 })
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
      assert.equal(db.pragma('synchronous', { simple: true }), 1)
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1)
      assert.equal(db.pragma('busy_timeout', { simple: true }), 2500)
      // Checkpoints every 10,000 pages, not on every ~300th refresh (bench/README.md).
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 10000)
      // An injected connection belongs to the caller: close() leaves it open.
      await store.close()
      assert.equal(db.open, true)
      await assert.rejects(store.getSession('x'), { code: 'ERR_STORE_UNAVAILABLE' })
      const other = new Database(path, { readonly: true })
      assert.equal(other.pragma('journal_mode', { simple: true }), 'wal')
      other.close()
    } finally {
      db.close()
      tmp.remove()
    }
  })

  it('the file passes PRAGMA integrity_check after a mixed workload', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      const store = createSqliteStore({ path, maxAuditEventsPerSubject: 5 })
      for (let i = 0; i < 40; i++) {
        const record = await seed(store, { subject: `s${i % 4}`, claims: { i, pad: 'p'.repeat(i * 50) } })
        const rotated = await store.rotateRefreshToken({
          id: record.id,
          generation: 0,
          hash: record.refreshHash,
          newHash: `h${i}`,
          maxAccessExp: 0,
          now: FIXTURE_NOW + 1000,
          idleExpiresAt: FIXTURE_NOW + DAY,
          device: { ip: `10.0.0.${i}` },
          audit: { type: 'refresh.rotated', at: FIXTURE_NOW + 1000, sessionId: record.id, generation: 1 },
        })
        assert.equal(rotated.rotated, true)
        if (i % 3 === 0) await store.revokeSession(revokeInput(record.id, FIXTURE_NOW + 2000, Math.floor(FIXTURE_NOW / 1000) + (i % 2 ? 1 : 10 * 86_400)))
      }
      await store.saveKeyring(0, 'k'.repeat(100_000))
      const removed = await store.purgeExpired(FIXTURE_NOW + 3 * DAY)
      // 40 sessions (idle deadline FIXTURE_NOW + 1 day, past the one-day margin), 7 of 14 feed
      // entries, and audit trimmed to 5 per subject (4 subjects × (20 + 3 or 4 revocations)).
      const check = new Database(path)
      const auditLeft = check.prepare('SELECT subject, count(*) AS n FROM hallpass_audit GROUP BY subject ORDER BY subject').all()
      assert.deepEqual(auditLeft, ['s0', 's1', 's2', 's3'].map((subject) => ({ subject, n: 5 })))
      assert.equal(removed, 40 + 7 + (40 * 2 + 14 - 20))
      await store.close()
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok')
      assert.deepEqual(check.pragma('foreign_key_check'), [])
      check.close()
    } finally {
      tmp.remove()
    }
  })
})

describe('sqlite store: behaviour specific to this store', () => {
  it('rejects malformed cursors and limits with ERR_SESSION_INPUT_INVALID', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    try {
      const { epoch } = parseFeedCursor(await store.headCursor())!
      for (const position of ['', '-1', '01', '1.5', '1e3', ' 1', 'abc', '99999999999999999', '9007199254740993', '1-0', '\u0661']) {
        const cursor = `${epoch}.${position}`
        await assert.rejects(store.readRevocations(cursor, 10), { code: 'ERR_SESSION_INPUT_INVALID', field: 'cursor' }, cursor)
      }
      for (const limit of [-1, 1.5, Number.NaN, Infinity]) {
        await assert.rejects(store.readRevocations(undefined, limit), { code: 'ERR_SESSION_INPUT_INVALID', field: 'limit' })
        await assert.rejects(store.listAudit('a', limit), { code: 'ERR_SESSION_INPUT_INVALID', field: 'limit' })
      }
      assert.deepEqual(await store.readRevocations(`${epoch}.0`, 10), [])
      // Ahead of every position this feed gave out.
      await assert.rejects(store.readRevocations(`${epoch}.9007199254740991`, 10), { code: 'ERR_SESSION_INPUT_INVALID', field: 'cursor' })
    } finally {
      await store.close()
    }
  })

  it('implements the optional listRecentAudit (the shared suite would only skip it), in the order written', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    try {
      assert.equal(typeof store.listRecentAudit, 'function')
      // The order written, even where `at` goes backwards (a clock stepped back between two writes).
      const events = [3, 1, 2].map((at, i) => ({ type: 'session.created' as const, at: FIXTURE_NOW + at, sessionId: `s${i}`, subject: 'alice' }))
      for (const event of events) await store.appendAudit(event)
      assert.deepEqual(await store.listRecentAudit!({ limit: 10 }), [...events].reverse())
      assert.deepEqual(await store.listRecentAudit!({ limit: 10, subject: 'alice' }), [...events].reverse())
      assert.deepEqual(await store.listRecentAudit!({ limit: 10, before: FIXTURE_NOW + 3 }), [events[2], events[1]])
    } finally {
      await store.close()
    }
  })

  it('implements the optional markRecentRotationsUndelivered: live rotated sessions of the range, unmarked, only', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    try {
      const at = FIXTURE_NOW + DAY
      const rotated = (rotatedAt: number, more: Partial<Parameters<typeof seed>[1]> = {}) =>
        seed(store, { generation: 3, previousHash: 'p'.repeat(43), rotatedAt, expiresAt: at + DAY, idleExpiresAt: at + DAY, ...more })
      const inRange = [await rotated(at - 5000), await rotated(at), await rotated(at + 2000)]
      const left = [
        await rotated(at - 20_000), // before the range
        await rotated(at + 9000), // after it
        await rotated(at, { generation: 0, previousHash: null }), // never rotated: no predecessor to come back
        await rotated(at, { revokedAt: at, revokeReason: 'logout' }),
        await rotated(at, { idleExpiresAt: at + 1000 }), // idle-expired by now
        await rotated(at, { undeliveredHash: 'u'.repeat(43) }), // already marked
      ]
      assert.equal(await store.markRecentRotationsUndelivered!({ since: at - 10_000, until: at + 4000, now: at + 5000 }), 3)
      for (const record of inRange) assert.equal((await store.getSession(record.id))?.undeliveredHash, record.refreshHash)
      for (const record of left) assert.equal((await store.getSession(record.id))?.undeliveredHash, record.undeliveredHash)
    } finally {
      await store.close()
    }
  })

  it('purgeExpired counts exactly what it removed', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    try {
      const now = FIXTURE_NOW + 100 * DAY
      await seed(store, { expiresAt: now - DAY - 1, idleExpiresAt: now - DAY - 1 })
      await seed(store, { expiresAt: now + DAY, idleExpiresAt: now - DAY - 1 })
      await seed(store, { expiresAt: now - DAY, idleExpiresAt: now - DAY })
      const kept = await seed(store, { expiresAt: now + DAY, idleExpiresAt: now + DAY })
      // Past its exp by more than the margin a verifier's tolerance may need.
      await store.revokeSession(revokeInput(kept.id, now, now / 1000 - FEED_EXP_MARGIN_SECONDS - 1))
      assert.equal(await store.purgeExpired(now), 3)
      assert.equal(await store.purgeExpired(now), 0)
    } finally {
      await store.close()
    }
  })

  it('after close: operations reject with ERR_STORE_UNAVAILABLE, ping is false, close is idempotent', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    await store.close()
    await store.close()
    assert.equal(await store.ping(), false)
    await assert.rejects(store.getSession('x'), { code: 'ERR_STORE_UNAVAILABLE' })
    await assert.rejects(store.revokeSession(revokeInput('x')), { code: 'ERR_STORE_UNAVAILABLE' })
    await assert.rejects(store.subscribeRevocations(() => {}), { code: 'ERR_STORE_UNAVAILABLE' })
  })

  it('a busy database becomes ERR_STORE_UNAVAILABLE after the busy timeout, with the cause and no values in the message', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    try {
      const store = createSqliteStore({ path, busyTimeoutSeconds: 0.05 })
      const record = await seed(store)
      const locker = new Database(path)
      locker.exec('BEGIN IMMEDIATE')
      try {
        const started = Date.now()
        const failure = await store.revokeSession(revokeInput(record.id)).then(
          () => assert.fail('expected a failure'),
          (error: unknown) => error,
        )
        assert.ok(Date.now() - started >= 40)
        assert.equal((failure as { code?: unknown }).code, 'ERR_STORE_UNAVAILABLE')
        assert.equal(((failure as Error).cause as { code?: unknown }).code, 'SQLITE_BUSY')
        assert.ok(!(failure as Error).message.includes(record.id))
        // Reads still work in WAL while another connection writes.
        assert.deepEqual(await store.getSession(record.id), record)
      } finally {
        locker.exec('ROLLBACK')
        locker.close()
      }
      assert.equal((await store.revokeSession(revokeInput(record.id))).revoked, true)
      await store.close()
    } finally {
      tmp.remove()
    }
  })

  it('a throwing listener neither breaks the others nor the revocation; onError hears of it', async () => {
    const errors: unknown[] = []
    const store = createSqliteStore({ path: ':memory:', onError: (error) => errors.push(error) })
    try {
      const received: RevocationEntry[] = []
      const stopBad = await store.subscribeRevocations(() => {
        throw new Error('listener bug')
      })
      const stopGood = await store.subscribeRevocations((entry) => received.push(entry))
      const record = await seed(store)
      const result = await store.revokeSession(revokeInput(record.id))
      assert.equal(result.revoked, true)
      await waitFor(() => received.length === 1, 'the good listener')
      assert.equal(errors.length, 1)
      assert.equal((errors[0] as Error).message, 'listener bug')
      await stopBad()
      await stopGood()
    } finally {
      await store.close()
    }
  })

  it('listeners run after the revoking call returned, never on its stack', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    try {
      const record = await seed(store)
      let returned = false
      let deliveredBeforeReturn: boolean | undefined
      const stop = await store.subscribeRevocations(() => {
        deliveredBeforeReturn = !returned
      })
      const pending = store.revokeSession(revokeInput(record.id))
      returned = true
      await pending
      await waitFor(() => deliveredBeforeReturn !== undefined, 'delivery')
      assert.equal(deliveredBeforeReturn, false)
      await stop()
    } finally {
      await store.close()
    }
  })

  it('two store objects on one file in one process share the feed at once (no polling needed)', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    // Polling every minute: delivery within the test can only come from the in-process wake-up.
    const a = createSqliteStore({ path, pollIntervalSeconds: 60 })
    const b = createSqliteStore({ path, pollIntervalSeconds: 60 })
    try {
      const receivedA: RevocationEntry[] = []
      const receivedB: RevocationEntry[] = []
      const stopA = await a.subscribeRevocations((entry) => receivedA.push(entry))
      const stopB = await b.subscribeRevocations((entry) => receivedB.push(entry))
      const one = await seed(a)
      const two = await seed(a)
      await b.revokeSession(revokeInput(one.id))
      await a.revokeSession(revokeInput(two.id))
      await waitFor(() => receivedA.length === 2 && receivedB.length === 2, 'both stores', 1000)
      assert.deepEqual(receivedA.map((e) => e.sid), [one.id, two.id])
      assert.deepEqual(receivedB, receivedA)
      assert.deepEqual(await a.readRevocations(undefined, 10), receivedA)
      await stopA()
      await stopB()
    } finally {
      await a.close()
      await b.close()
      tmp.remove()
    }
  })

  it('another process sees revocations through polling, in order', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    const store = createSqliteStore({ path })
    const fixture = fileURLToPath(new URL('../fixtures/sqlite-feed-child.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, '3'], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      let out = ''
      let err = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      await waitFor(() => out.startsWith('ready\n') || child.exitCode !== null, 'the child to subscribe', 8000)
      assert.ok(out.startsWith('ready\n'), err)
      const records = [await seed(store), await seed(store), await seed(store)]
      for (const record of records) await store.revokeSession(revokeInput(record.id))
      const code = await Promise.race([exited, delay(8000).then(() => 'timeout' as const)])
      assert.equal(code, 0, err)
      const entries = await store.readRevocations(undefined, 10)
      assert.deepEqual(out.trim().split('\n').slice(1), entries.map((e) => `${e.cursor} ${e.sid}`))
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      await store.close()
      tmp.remove()
    }
  })
})

describe('sqlite store: a file replaced or restored under its readers', () => {
  it('each database has its own epoch: a cursor of one is refused by another', async () => {
    const tmp = tempDir()
    try {
      const a = createSqliteStore({ path: join(tmp.dir, 'a.db') })
      const b = createSqliteStore({ path: join(tmp.dir, 'b.db') })
      const record = await seed(a)
      await a.revokeSession(revokeInput(record.id))
      const [entry] = await a.readRevocations(undefined, 10)
      assert.notEqual(parseFeedCursor(await a.headCursor())!.epoch, parseFeedCursor(await b.headCursor())!.epoch)
      await assert.rejects(b.readRevocations(entry!.cursor, 10), { code: 'ERR_SESSION_INPUT_INVALID', field: 'cursor' })
      await a.close()
      await b.close()
    } finally {
      tmp.remove()
    }
  })

  it('restored from an older copy: a newer cursor is refused until the feed passes it, and no position comes back', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'sessions.db')
    const backup = join(tmp.dir, 'backup.db')
    try {
      let store = createSqliteStore({ path })
      const records = await Promise.all(Array.from({ length: 6 }, (_, i) => seed(store, { subject: `r-${i}` })))
      await store.revokeSession(revokeInput(records[0]!.id))
      await store.close()
      copyFileSync(path, backup)
      // After the backup: revocations a verifier saw, whose cursor it keeps.
      store = createSqliteStore({ path })
      for (const record of records.slice(1, 4)) await store.revokeSession(revokeInput(record.id))
      const seen = await store.readRevocations(undefined, 10)
      const held = seen.at(-1)!.cursor
      await store.close()

      // The operator restores the backup.
      copyFileSync(backup, path)
      store = createSqliteStore({ path })
      try {
        assert.equal((await store.readRevocations(undefined, 10)).length, 1)
        // The held cursor is ahead of the restored feed: it cannot be resumed from.
        await assert.rejects(store.readRevocations(held, 10), { code: 'ERR_SESSION_INPUT_INVALID', field: 'cursor' })
        // New revocations get positions past everything given out before the restore, so a
        // reader resuming from the held cursor misses none of them.
        await store.revokeSession(revokeInput(records[4]!.id))
        await store.revokeSession(revokeInput(records[5]!.id))
        const after = await store.readRevocations(held, 10)
        assert.deepEqual(after.map((e) => e.sid), [records[4]!.id, records[5]!.id])
        const positions = new Set(seen.map((e) => e.cursor))
        assert.ok(after.every((e) => !positions.has(e.cursor)), 'no position is given out twice')
      } finally {
        await store.close()
      }
    } finally {
      tmp.remove()
    }
  })
})
