// Revocation at every edge, end to end over real sockets: one `hallpass serve` and the two
// example services (orders on Express, billing on Hono), as a user runs them.
//
// - A service started after N logouts refuses all N tokens on their first request: on SQLite,
//   PostgreSQL and Redis, following the SSE feed and following the store itself.
// - The server is switched from SQLite to PostgreSQL while the services run: every later logout
//   is refused by both within a second, and every fresh token (signed by the new store's key)
//   is accepted on its first request.
// - The SQLite file is restored from an older copy while the services run: the same holds, and
//   the revocations the restore took out of the store stay refused by the services.
//
// Figures (start-up time, logout → first refusal p50/p99) go to the test diagnostics.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, rmSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { SessionStore } from 'hallpass'
import { createPostgresStore } from 'hallpass/stores/postgres'
import { createRedisStore } from 'hallpass/stores/redis'
import { createSqliteStore } from 'hallpass/stores/sqlite'
import { checkPostgres, checkRedis, postgresUrl, redisUrl } from '../helpers/services.ts'
import { deleteRedisPrefix } from '../../packages/server/test/harness.ts'
import { assertRevoked, call, msUntilRejected, percentile, report, startServices, type Service } from './services.ts'
import { startSessionServer, type SessionServer, type Tokens } from './session-server.ts'

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

type Kind = 'sqlite' | 'postgres' | 'redis'
const skips: Record<Kind, string | false> = { sqlite: false, postgres: (await checkPostgres()) ?? false, redis: (await checkRedis()) ?? false }

/** A fresh database for one scenario: its URL for the server, a store object for a service, and its disposal. */
interface Database {
  readonly url: string
  openStore(): Promise<SessionStore>
  drop(): Promise<void>
}

function freshDatabase(kind: Kind, sqlitePath: string): Database {
  const id = randomBytes(6).toString('hex')
  const closers: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0)) await close()
  }
  switch (kind) {
    case 'sqlite':
      return {
        url: `sqlite:${sqlitePath}`,
        openStore() {
          const store = createSqliteStore({ path: sqlitePath })
          closers.push(() => store.close())
          return Promise.resolve(store)
        },
        drop: closeAll,
      }
    case 'postgres': {
      const schema = `hp_e2e_${id}`
      const url = new URL(postgresUrl())
      url.searchParams.set('schema', schema)
      return {
        url: url.toString(),
        async openStore() {
          const pool = new pg.Pool({ connectionString: postgresUrl(), max: 3 })
          pool.on('error', () => undefined)
          const store = await createPostgresStore({ pool, schema })
          closers.push(async () => {
            await store.close()
            await pool.end()
          })
          return store
        },
        async drop() {
          await closeAll()
          const client = new pg.Client({ connectionString: postgresUrl() })
          await client.connect()
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end())
        },
      }
    }
    case 'redis': {
      const prefix = `hpe2e:${id}:`
      const url = new URL(redisUrl())
      url.searchParams.set('prefix', prefix)
      return {
        url: url.toString(),
        openStore() {
          const client = new Redis(redisUrl(), { maxRetriesPerRequest: 2 })
          client.on('error', () => undefined)
          const store = createRedisStore({ client, keyPrefix: prefix })
          closers.push(async () => {
            await store.close()
            client.disconnect()
          })
          return Promise.resolve(store)
        },
        async drop() {
          await closeAll()
          await deleteRedisPrefix(prefix)
        },
      }
    }
  }
}

async function closeAll(services: readonly Service[]): Promise<void> {
  await Promise.all(services.map((s) => s.running.close()))
}

/**
 * `count` times: a fresh login, presented once to each service (it must pass on that first
 * request), then a logout, timed from its response to the first refusal at each service.
 */
async function loginCallLogout(hallpass: SessionServer, services: readonly Service[], count: number): Promise<Record<string, number[]>> {
  const latencies: Record<string, number[]> = Object.fromEntries(services.map((s) => [s.name, []]))
  for (let i = 0; i < count; i++) {
    const session = await hallpass.login()
    for (const service of services) {
      const first = await call(service, session.access_token)
      assert.equal(first.status, 200, `${service.name} accepts a fresh token on its first request (${i}): ${JSON.stringify(first.body)}`)
    }
    await hallpass.logout(session.refresh_token)
    const loggedOutAt = performance.now()
    const samples = await Promise.all(services.map((service) => msUntilRejected(service, session.access_token, loggedOutAt)))
    services.forEach((service, j) => latencies[service.name]!.push(samples[j]!))
  }
  return latencies
}

function reportLatencies(t: TestContext, what: string, latencies: Record<string, number[]>): void {
  for (const [name, samples] of Object.entries(latencies)) {
    const p50 = percentile(samples, 50)
    const p99 = percentile(samples, 99)
    report(t, `${what}: logout → first 401 at ${name} (n=${samples.length}): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`)
    assert.ok(p99 < 1000, `${name}: p99 ${p99} ms`)
  }
}

const LOGGED_OUT = 10

for (const kind of ['sqlite', 'postgres', 'redis'] as const) {
  describe(`a service started after the logouts (${kind})`, { skip: skips[kind] }, () => {
    let hallpass: SessionServer
    let database: Database
    let loggedOut: Tokens[] = []

    before(async () => {
      hallpass = await startSessionServer()
      database = freshDatabase(kind, hallpass.sqlitePath)
      if (kind !== 'sqlite') {
        await hallpass.stop()
        await hallpass.start({ databaseUrl: database.url })
      }
      loggedOut = []
      for (let i = 0; i < LOGGED_OUT; i++) {
        const session = await hallpass.login(i % 2 === 0 ? 'writer' : 'reader')
        await hallpass.logout(session.refresh_token)
        loggedOut.push(session)
      }
    })
    after(async () => {
      await hallpass?.destroy()
      await database?.drop()
    })

    for (const feed of ['SSE feed', 'store feed'] as const) {
      test(`${feed}: all ${LOGGED_OUT} logged-out tokens are refused on their first request; a live one passes`, async (t) => {
        const store = feed === 'store feed' ? await database.openStore() : undefined
        const { orders, billing, startedInMs } = await startServices(hallpass.issuer, store === undefined ? {} : { revocation: { store } })
        try {
          for (const service of [orders, billing]) {
            assert.equal(service.running.verifier.health().feed.complete, true, `${service.name} starts complete`)
            for (const session of loggedOut) assertRevoked(await call(service, session.access_token), `${service.name}, ${session.session_id}`)
          }
          const live = await hallpass.login()
          for (const service of [orders, billing]) assert.equal((await call(service, live.access_token)).status, 200)
          await hallpass.logout(live.refresh_token)
          report(t, `${kind}, ${feed}: both services started in ${startedInMs.toFixed(0)} ms and refused ${LOGGED_OUT}/${LOGGED_OUT} earlier logouts on the first request`)
        } finally {
          await closeAll([orders, billing])
        }
      })
    }
  })
}

describe('the server switched from SQLite to PostgreSQL while the services run', { skip: skips.postgres }, () => {
  let hallpass: SessionServer
  let postgres: Database
  let services: Service[] = []

  before(async () => {
    hallpass = await startSessionServer()
    postgres = freshDatabase('postgres', '')
    const started = await startServices(hallpass.issuer)
    services = [started.orders, started.billing]
  })
  after(async () => {
    await closeAll(services)
    await hallpass?.destroy()
    await postgres?.drop()
  })

  test('every later logout is refused by both within a second; every fresh token passes on its first request', async (t) => {
    // Before the switch: the services follow the SQLite store's feed.
    reportLatencies(t, 'before the switch (running services)', await loginCallLogout(hallpass, services, 5))
    const before = services.map((s) => s.running.verifier.health().feed.cursor)

    await hallpass.stop()
    await hallpass.start({ databaseUrl: postgres.url })
    // New store, new keys, another feed: no waiting for the services to notice.
    reportLatencies(t, 'after the switch to PostgreSQL', await loginCallLogout(hallpass, services, 20))
    for (const [i, service] of services.entries()) {
      assert.ok(service.events.some(({ event }) => event.type === 'feed.reset' && event.reason === 'foreign'), `${service.name} started over from a snapshot`)
      assert.notEqual(service.running.verifier.health().feed.cursor?.split('.')[0], before[i]?.split('.')[0], `${service.name} follows the new feed`)
      assert.equal(service.running.verifier.health().ok, true)
    }
  })
})

describe('the SQLite file restored from an older copy while the services run', () => {
  let hallpass: SessionServer
  let services: Service[] = []

  before(async () => {
    hallpass = await startSessionServer()
    const started = await startServices(hallpass.issuer)
    services = [started.orders, started.billing]
  })
  after(async () => {
    await closeAll(services)
    await hallpass?.destroy()
  })

  test('every later logout is refused within a second, fresh tokens pass, and what the restore lost stays refused', async (t) => {
    await loginCallLogout(hallpass, services, 3)
    await hallpass.stop()
    const backup = `${hallpass.sqlitePath}.backup`
    copyFileSync(hallpass.sqlitePath, backup)
    await hallpass.start()
    // After the backup: logouts the services see, and whose cursors they keep.
    const lost: Tokens[] = []
    for (let i = 0; i < 5; i++) {
      const session = await hallpass.login()
      await hallpass.logout(session.refresh_token)
      lost.push(session)
    }
    const since = performance.now()
    for (const service of services) for (const session of lost) await msUntilRejected(service, session.access_token, since)

    // The operator restores the older copy.
    await hallpass.stop()
    for (const suffix of ['-wal', '-shm']) rmSync(`${hallpass.sqlitePath}${suffix}`, { force: true })
    copyFileSync(backup, hallpass.sqlitePath)
    await hallpass.start()

    reportLatencies(t, 'after restoring an older copy of the SQLite file', await loginCallLogout(hallpass, services, 20))
    for (const service of services) {
      // Whether a service reconnected before the first new logout (its cursor ahead of the
      // restored feed: a snapshot) or after (positions made from the clock are past its cursor:
      // a plain catch-up), it missed nothing; the logouts above say so.
      // The restore took these revocations out of the store; a denylist never forgets one.
      for (const session of lost) assertRevoked(await call(service, session.access_token), `${service.name} after the restore`)
    }
  })
})

describe('a revocation feed closed to anonymous clients, followed by the example as a program', () => {
  const clientSecret = randomBytes(24).toString('base64url')
  let hallpass: SessionServer
  before(async () => {
    hallpass = await startSessionServer({ config: { revocationFeed: { access: 'clients' }, clients: { orders: clientSecret } } })
  })
  after(async () => {
    await hallpass?.destroy()
  })

  /** `npm run example:orders` with `env`; resolves with its URL and what it printed. */
  async function runOrders(env: Record<string, string>): Promise<{ url: string; output: () => string; stop(): Promise<void> }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/orders-express/server.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, HALLPASS_ISSUER: hallpass.issuer, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const deadline = Date.now() + 15_000
    while (!/listening on (http:\/\/localhost:\d+)/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL')
        assert.fail(`orders did not start: ${output}`)
      }
      await sleep(20)
    }
    return {
      url: /listening on (http:\/\/localhost:\d+)/.exec(output)![1]!,
      output: () => output,
      async stop() {
        child.kill('SIGTERM')
        await exited
      },
    }
  }

  test('with HALLPASS_CLIENT_ID/SECRET the service follows the feed; without them it fails closed and says why', async () => {
    const session = await hallpass.login()
    const orders = await runOrders({ HALLPASS_CLIENT_ID: 'orders', HALLPASS_CLIENT_SECRET: clientSecret })
    try {
      assert.match(orders.output(), /orders: revocation feed live: denylist complete/)
      const get = async (): Promise<number> => (await fetch(`${orders.url}/orders`, { headers: { authorization: `Bearer ${session.access_token}` } })).status
      assert.equal(await get(), 200)
      await hallpass.logout(session.refresh_token)
      const since = Date.now()
      while ((await get()) !== 401) {
        assert.ok(Date.now() - since < 1000, 'the logout reaches the service within a second')
        await sleep(10)
      }
    } finally {
      await orders.stop()
    }

    const anonymous = await runOrders({})
    try {
      const live = await hallpass.login()
      const res = await fetch(`${anonymous.url}/orders`, { headers: { authorization: `Bearer ${live.access_token}` } })
      assert.equal(res.status, 503, 'without the feed, the revocation state is unknown: fail closed')
      assert.match(anonymous.output(), /orders: revocation feed lost \(HTTP 401: the feed requires client credentials/)
      assert.match(anonymous.output(), /orders: revocation state unknown/)
    } finally {
      await anonymous.stop()
    }
  })
})
