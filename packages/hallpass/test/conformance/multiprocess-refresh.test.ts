// 50 concurrent refreshes of one refresh token from 5 processes, on each store: every racer
// succeeds with the same successor, exactly one rotation happens, the session stays whole. Then
// the same token replayed after the grace window revokes the session for everyone.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createSessionManager, isHallpassError, type SessionStore } from '../../src/index.ts'
import { createPostgresStore } from '../../src/stores/postgres/session-store.ts'
import { createRedisStore } from '../../src/stores/redis/session-store.ts'
import { createSqliteStore } from '../../src/stores/sqlite/session-store.ts'
import { checkPostgres, checkRedis, postgresUrl, redisUrl } from '../../../../test/helpers/services.ts'

const WORKER = fileURLToPath(new URL('../fixtures/refresh-worker.ts', import.meta.url))
const SECRET = randomBytes(32).toString('base64url')
const PROCESSES = 5
const PER_PROCESS = 10
const WINDOW_SECONDS = 1

interface Outcome {
  ok: boolean
  refreshToken?: string
  replay?: string | null
  code?: string
}

async function race(env: Record<string, string>, token: string): Promise<Outcome[]> {
  const children = Array.from({ length: PROCESSES }, () =>
    spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, ...env, HP_SECRET: SECRET, HP_TOKEN: token, HP_COUNT: String(PER_PROCESS), HP_WINDOW: String(WINDOW_SECONDS) },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  )
  const readers = children.map((child) => createInterface({ input: child.stdout })[Symbol.asyncIterator]())
  // Wait until every process is connected and loaded, then release them together.
  for (const reader of readers) assert.equal((await reader.next()).value, 'ready')
  for (const child of children) child.stdin.write('go\n')
  const results = await Promise.all(readers.map(async (reader) => JSON.parse((await reader.next()).value as string) as Outcome[]))
  for (const child of children) child.stdin.end()
  await Promise.all(children.map((child) => (child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)))))
  return results.flat()
}

async function raceOn(store: SessionStore, env: Record<string, string>): Promise<void> {
  const manager = await createSessionManager({ store, secret: SECRET, issuer: 'https://auth.test', refresh: { reuseWindowSeconds: WINDOW_SECONDS } })
  const issued = await manager.create({ subject: 'racer' })
  const outcomes = await race(env, issued.refreshToken)
  assert.equal(outcomes.length, PROCESSES * PER_PROCESS)
  assert.deepEqual(outcomes.filter((o) => !o.ok), [], 'every racer succeeds')
  const successors = new Set(outcomes.map((o) => o.refreshToken))
  assert.equal(successors.size, 1, 'all racers receive the same successor')
  assert.equal(outcomes.filter((o) => o.replay === null).length, 1, 'exactly one rotation')
  const stored = await store.getSession(issued.session.id)
  assert.equal(stored?.generation, 1)
  assert.equal(stored?.revokedAt, null)
  assert.equal((await manager.list('racer')).length, 1, 'no session duplicated or lost')

  // After the window, the same token is reuse: the session dies for every holder.
  await delay(WINDOW_SECONDS * 1000 + 1100)
  const reuse = await manager.refresh(issued.refreshToken).then(() => undefined, (error: unknown) => error)
  assert.ok(isHallpassError(reuse, 'ERR_REFRESH_REUSED'))
  const [successor] = successors
  const later = await manager.refresh(successor!).then(() => undefined, (error: unknown) => error)
  assert.ok(isHallpassError(later, 'ERR_SESSION_REVOKED'))
}

describe('50 concurrent refreshes from 5 processes', () => {
  it('sqlite (one file, WAL)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hallpass-race-'))
    const path = join(dir, 'race.db')
    const store = createSqliteStore({ path })
    try {
      await raceOn(store, { HP_STORE: 'sqlite', HP_TARGET: path })
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  const pgSkip = checkPostgres()
  it('postgres', { skip: false }, async (t) => {
    const reason = await pgSkip
    if (reason !== undefined) return t.skip(reason)
    const pool = new pg.Pool({ connectionString: postgresUrl(), max: 4 })
    after(() => pool.end())
    const schema = `hp_test_${randomBytes(6).toString('hex')}`
    const store = await createPostgresStore({ pool, schema })
    try {
      await raceOn(store, { HP_STORE: 'postgres', HP_TARGET: postgresUrl(), HP_SCHEMA: schema })
    } finally {
      await store.close()
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    }
  })

  const redisSkip = checkRedis()
  it('redis', async (t) => {
    const reason = await redisSkip
    if (reason !== undefined) return t.skip(reason)
    const client = new Redis(redisUrl())
    after(() => client.disconnect())
    const prefix = `hptest:${randomBytes(6).toString('hex')}:`
    const store = createRedisStore({ client, keyPrefix: prefix })
    try {
      await raceOn(store, { HP_STORE: 'redis', HP_TARGET: redisUrl(), HP_PREFIX: prefix })
    } finally {
      await store.close()
      const keys = await client.keys(`${prefix}*`)
      if (keys.length > 0) await client.del(...keys)
    }
  })
})
