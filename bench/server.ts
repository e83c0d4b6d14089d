/**
 * @module bench/server
 *
 * The session-server benchmark: `hallpass serve` (built from `HALLPASS_*` variables in a child
 * process, `bench/server-process.ts`) under autocannon load from this process, over loopback,
 * on SQLite, PostgreSQL and Redis. Four endpoints per store:
 *
 * - `jwks`: `GET /.well-known/jwks.json`, answered from memory. It is the floor: the cost of
 *   Fastify, loopback HTTP and the load generator alone, and "vs floor" is relative to it.
 * - `introspect`: `POST /oauth/introspect` (RFC 7662) with HTTP Basic client authentication and
 *   a live access token: one ES256 verify and one session read from the store.
 * - `refresh`: `POST /auth/refresh` where every request carries the *current* refresh token of
 *   its own session: each connection starts from a session minted through `POST /sessions` and
 *   chains the token of each response into its next request, so every request is a real
 *   rotation (compare-and-set in the store), never a replay. The server's own counters prove it
 *   afterwards (`hallpass_refreshes_total{result="concurrent_replay"}` must not move).
 * - `login`: `POST /auth/login`, bound by argon2id by design (19 MiB, t=2: tens per second).
 *
 * PostgreSQL runs in a scratch database created for the run and dropped after it; Redis in an
 * empty numbered database claimed for the run, whose `hp:` keys are deleted after it (never a
 * FLUSHALL or FLUSHDB). Neither is touched when it cannot be reached: its rows are skipped.
 * See bench/README.md ("Session server") for the method and the figures.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { childCpu, cleanEnv, startChild, stopChild, type BenchChild } from './child-process.ts'
import { quantile, type BenchSection, type ResultRow, type SectionOptions, type SectionResult } from './harness.ts'

type StoreName = 'sqlite' | 'postgres' | 'redis'
type Op = 'jwks' | 'introspect' | 'refresh' | 'login'

const STORES: readonly StoreName[] = ['sqlite', 'postgres', 'redis']
const OPS: readonly { readonly op: Op; readonly endpoint: string }[] = [
  { op: 'jwks', endpoint: 'GET /.well-known/jwks.json' },
  { op: 'introspect', endpoint: 'POST /oauth/introspect' },
  { op: 'refresh', endpoint: 'POST /auth/refresh' },
  { op: 'login', endpoint: 'POST /auth/login' },
]
const FLOOR_OP: Op = 'jwks'

/** Concurrent keep-alive connections, one request in flight on each (no pipelining). */
const CONNECTIONS = 16
const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
/** The prefix every key of the Redis session store, user table and rate limiter starts with. */
const REDIS_STORE_PREFIX = 'hp:'
const REDIS_CLAIM_KEY = 'hallpass-bench:claim'
const CLIENT_ID = 'bench-resource-server'
const SERVER_PROCESS = fileURLToPath(new URL('./server-process.ts', import.meta.url))

// ---------------------------------------------------------------------------------------------
// autocannon has no type declarations; this is the part of its programmatic API used here.

interface CannonRequest {
  readonly method?: string
  readonly path?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  readonly setupRequest?: (request: CannonRequest, context: object) => CannonRequest
  readonly onResponse?: (status: number, body: string, context: object) => void
}

interface CannonClient {
  /** Replaces this connection's request list (the first request is built at once). */
  setRequests(requests: readonly CannonRequest[]): void
}

interface CannonOptions {
  readonly url: string
  readonly connections: number
  readonly pipelining: number
  readonly duration: number
  /** Seconds before a request counts as timed out. */
  readonly timeout: number
  readonly method?: string
  readonly path?: string
  /** Called once per connection, in order, before it connects. */
  readonly setupClient: (client: CannonClient) => void
}

interface CannonHistogram {
  readonly average: number
  readonly total: number
  readonly p25: number
  readonly p50: number
  readonly p75: number
}

interface CannonResult {
  readonly duration: number
  readonly samples: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly '2xx': number
  readonly statusCodeStats: Readonly<Record<string, { count: number }>>
  /** Responses per one-second sample. */
  readonly requests: CannonHistogram
}

interface CannonRun extends PromiseLike<CannonResult> {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, milliseconds: number) => void): this
}

const autocannon = createRequire(import.meta.url)('autocannon') as (options: CannonOptions) => CannonRun

// ---------------------------------------------------------------------------------------------
// Backing stores, each isolated from everything else using the same service.

interface Backend {
  readonly url: string
  /** Removes what the run created; returns a note for the log when something was left. */
  readonly cleanup: () => Promise<string | undefined>
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable URL>'
  }
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.message : String(error)
}

/** A backend, or the reason the store is skipped. */
async function openBackend(store: StoreName, dataDir: string): Promise<Backend | string> {
  switch (store) {
    case 'sqlite':
      return { url: `sqlite:${join(dataDir, 'hallpass.db')}`, cleanup: () => Promise.resolve(undefined) }
    case 'postgres':
      return openPostgresBackend(process.env.HALLPASS_TEST_POSTGRES_URL ?? DEFAULT_POSTGRES_URL)
    case 'redis':
      return openRedisBackend(process.env.HALLPASS_TEST_REDIS_URL ?? DEFAULT_REDIS_URL)
  }
}

// A scratch database, not a schema: the runtime always uses the default `hallpass` schema,
// which tests and other servers on the same PostgreSQL may be using at the same time.
async function openPostgresBackend(baseUrl: string): Promise<Backend | string> {
  const { default: pg } = await import('pg')
  const connect = async (): Promise<InstanceType<typeof pg.Client>> => {
    const client = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 3000 })
    client.on('error', () => undefined)
    await client.connect()
    return client
  }
  let admin: InstanceType<typeof pg.Client>
  try {
    admin = await connect()
  } catch (error) {
    return `PostgreSQL not reachable at ${redactUrl(baseUrl)} (${reasonOf(error)})`
  }
  const database = `hallpass_bench_${randomBytes(6).toString('hex')}`
  try {
    await admin.query(`CREATE DATABASE "${database}"`)
  } catch (error) {
    return `cannot create a scratch database on ${redactUrl(baseUrl)} (${reasonOf(error)})`
  } finally {
    await admin.end().catch(() => undefined)
  }
  const url = new URL(baseUrl)
  url.pathname = `/${database}`
  return {
    url: url.toString(),
    async cleanup() {
      const client = await connect()
      try {
        // FORCE (PostgreSQL 13+) ends the server's pool connections should any have survived it.
        await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
        return undefined
      } catch (error) {
        return `could not drop the scratch database ${database}: ${reasonOf(error)}`
      } finally {
        await client.end().catch(() => undefined)
      }
    },
  }
}

// The server's Redis key prefix is fixed (`hp:`), so the run gets a numbered database of its
// own: the first empty one from 15 down, claimed with SET NX so two runs cannot share it.
async function openRedisBackend(baseUrl: string): Promise<Backend | string> {
  const { Redis } = await import('ioredis')
  const open = async (db: number): Promise<InstanceType<typeof Redis>> => {
    const client = new Redis(baseUrl, { db, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null })
    client.on('error', () => undefined)
    await client.connect()
    return client
  }
  try {
    const probe = await open(0)
    probe.disconnect()
  } catch (error) {
    return `Redis not reachable at ${redactUrl(baseUrl)} (${reasonOf(error)})`
  }
  const nonce = randomBytes(12).toString('base64url')
  let claimed: number | undefined
  for (let db = 15; db >= 1 && claimed === undefined; db--) {
    let client: InstanceType<typeof Redis>
    try {
      client = await open(db)
    } catch {
      continue // a server configured with fewer databases refuses the high numbers
    }
    try {
      if ((await client.set(REDIS_CLAIM_KEY, nonce, 'EX', 3600, 'NX')) === 'OK') {
        if ((await client.dbsize()) === 1) claimed = db
        else await client.del(REDIS_CLAIM_KEY)
      }
    } finally {
      client.disconnect()
    }
  }
  if (claimed === undefined) return `no empty Redis database (1-15) to claim at ${redactUrl(baseUrl)}`
  const db = claimed
  const url = new URL(baseUrl)
  url.pathname = `/${db}`
  return {
    url: url.toString(),
    async cleanup() {
      const client = await open(db)
      try {
        let cursor = '0'
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${REDIS_STORE_PREFIX}*`, 'COUNT', 1000)
          cursor = next
          if (keys.length > 0) await client.unlink(...keys)
        } while (cursor !== '0')
        if ((await client.get(REDIS_CLAIM_KEY)) === nonce) await client.del(REDIS_CLAIM_KEY)
        const left = await client.dbsize()
        return left === 0 ? undefined : `Redis database ${db} still holds ${left} key(s) outside ${REDIS_STORE_PREFIX}* (left alone)`
      } finally {
        client.disconnect()
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The server child.

interface ServerHandle extends BenchChild {
  readonly adminKey: string
  readonly basicAuth: string
  readonly username: string
  readonly password: string
}

async function startServer(databaseUrl: string, dataDir: string): Promise<ServerHandle> {
  const adminKey = randomBytes(32).toString('base64url')
  const clientSecret = randomBytes(32).toString('base64url')
  const username = 'bench'
  const password = randomBytes(16).toString('base64url')
  const env = cleanEnv({
    HALLPASS_DATABASE_URL: databaseUrl,
    HALLPASS_DATA_DIR: dataDir,
    HALLPASS_SECRET: randomBytes(32).toString('base64url'),
    HALLPASS_ADMIN_API_KEY: adminKey,
    HALLPASS_CLIENTS: `${CLIENT_ID}:${clientSecret}`,
    HALLPASS_HOST: '127.0.0.1',
    HALLPASS_PORT: '0',
    HALLPASS_LOG_LEVEL: 'silent',
    HALLPASS_DEMO_USER: 'false',
    BENCH_USERNAME: username,
    BENCH_PASSWORD: password,
  })
  const started = await startChild(SERVER_PROCESS, env, 'the server')
  return {
    ...started,
    adminKey,
    basicAuth: `Basic ${Buffer.from(`${CLIENT_ID}:${clientSecret}`).toString('base64')}`,
    username,
    password,
  }
}

/** User + system CPU time of the server process so far, in microseconds (all its threads). */
async function serverCpuMicros(child: ChildProcess): Promise<number> {
  const { user, system } = await childCpu(child)
  return user + system
}

interface MintedSession {
  readonly accessToken: string
  readonly refreshToken: string
}

/** Fresh sessions through the trusted-backend endpoint: no argon2 cost, one per connection. */
async function mintSessions(server: ServerHandle, count: number, tag: string): Promise<MintedSession[]> {
  const sessions: MintedSession[] = []
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${server.base}/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: `bench-${tag}-${i}` }),
    })
    const body = (await response.json()) as { access_token?: unknown; refresh_token?: unknown }
    if (response.status !== 201 || typeof body.access_token !== 'string' || typeof body.refresh_token !== 'string') {
      throw new Error(`POST /sessions answered ${response.status}: ${JSON.stringify(body).slice(0, 200)}`)
    }
    sessions.push({ accessToken: body.access_token, refreshToken: body.refresh_token })
  }
  return sessions
}

/** One Prometheus counter sample from `/metrics` (0 when the series does not exist yet). */
async function readCounter(server: ServerHandle, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}} `))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

// ---------------------------------------------------------------------------------------------
// The load.

/** Responses with a 2xx status whose body is not what the endpoint must answer. */
interface BodyChecks {
  bad: number
  example: string | undefined
}

function check(checks: BodyChecks, ok: boolean, body: string): void {
  if (ok) return
  checks.bad++
  checks.example ??= body.slice(0, 200)
}

const JSON_HEADERS = { 'content-type': 'application/json' }

/** Per-connection request lists for `op`: `setupClient` is called once per connection, in order. */
function loadFor(op: Op, server: ServerHandle, sessions: readonly MintedSession[], checks: BodyChecks): (client: CannonClient) => void {
  let next = 0
  switch (op) {
    case 'jwks':
      return (client) =>
        client.setRequests([{
          method: 'GET',
          path: '/.well-known/jwks.json',
          onResponse: (status, body) => {
            if (status === 200) check(checks, body.includes('"keys":[{'), body)
          },
        }])
    case 'introspect':
      return (client) => {
        const session = sessions[next++ % sessions.length]!
        client.setRequests([{
          method: 'POST',
          path: '/oauth/introspect',
          headers: { authorization: server.basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
          body: `token=${encodeURIComponent(session.accessToken)}&token_type_hint=access_token`,
          onResponse: (status, body) => {
            if (status === 200) check(checks, body.includes('"active":true'), body)
          },
        }])
      }
    case 'refresh':
      return (client) => {
        // The connection's own chain: each response's token is the next request's.
        const chain = { token: sessions[next++ % sessions.length]!.refreshToken }
        client.setRequests([{
          method: 'POST',
          path: '/auth/refresh',
          headers: JSON_HEADERS,
          setupRequest: (request) => ({ ...request, body: JSON.stringify({ refresh_token: chain.token }) }),
          onResponse: (status, body) => {
            if (status !== 200) return
            const token = /"refresh_token":"([^"]+)"/.exec(body)?.[1]
            check(checks, token !== undefined && token !== chain.token && body.includes('"access_token":"'), body)
            if (token !== undefined) chain.token = token
          },
        }])
      }
    case 'login':
      return (client) =>
        client.setRequests([{
          method: 'POST',
          path: '/auth/login',
          headers: JSON_HEADERS,
          body: JSON.stringify({ username: server.username, password: server.password }),
          onResponse: (status, body) => {
            if (status === 200) check(checks, body.includes('"access_token":"') && body.includes('"refresh_token":"'), body)
          },
        }])
  }
}

interface Measurement {
  readonly result: CannonResult
  /** 2xx latencies in milliseconds, ascending. */
  readonly latencies: readonly number[]
  readonly checks: BodyChecks
  readonly serverCpuMicros: number
  readonly loadCpuMicros: number
  readonly wallMicros: number
}

async function drive(op: Op, server: ServerHandle, durationSeconds: number, tag: string): Promise<Measurement> {
  const sessions = op === 'introspect' || op === 'refresh' ? await mintSessions(server, CONNECTIONS, tag) : []
  const checks: BodyChecks = { bad: 0, example: undefined }
  const latencies: number[] = []
  const cpu0 = await serverCpuMicros(server.child)
  const load0 = process.cpuUsage()
  const wall0 = process.hrtime.bigint()
  const run = autocannon({
    url: server.base,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: durationSeconds,
    timeout: 30,
    setupClient: loadFor(op, server, sessions, checks),
  })
  run.on('response', (_client, status, _bytes, milliseconds) => {
    if (status >= 200 && status < 300) latencies.push(milliseconds)
  })
  const result = await run
  const wall1 = process.hrtime.bigint()
  const load = process.cpuUsage(load0)
  const cpu1 = await serverCpuMicros(server.child)
  return {
    result,
    latencies: latencies.sort((a, b) => a - b),
    checks,
    serverCpuMicros: cpu1 - cpu0,
    loadCpuMicros: load.user + load.system,
    wallMicros: Number(wall1 - wall0) / 1000,
  }
}

// ---------------------------------------------------------------------------------------------
// The section.

function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1)
}

function toRow(store: StoreName, op: Op, endpoint: string, m: Measurement, replays: number | undefined): ResultRow {
  const { result, latencies } = m
  // The harness's "rounds" are autocannon's one-second samples of completed responses: the
  // median second gives ns/op, the quartiles of the seconds its spread (the faster quartile of
  // seconds is the lower quartile of ns/op).
  const medianNs = 1e9 / result.requests.p50
  const responses = result.requests.total
  const p50 = quantile(latencies, 0.5)
  const p99 = quantile(latencies, 0.99)
  const serverCpuNsPerRequest = responses > 0 ? (m.serverCpuMicros * 1000) / responses : Number.NaN
  const row = {
    labels: {
      store,
      op,
      conns: String(CONNECTIONS),
      'p50 ms': formatMs(p50),
      'p99 ms': formatMs(p99),
      // Must be 0: non-2xx answers, socket errors and timeouts, wrong 2xx bodies, refresh replays.
      failed: String(result.non2xx + result.errors + m.checks.bad + (replays ?? 0)),
      'srv cpu µs/req': (serverCpuNsPerRequest / 1000).toFixed(0),
    },
    contender: endpoint,
    clock: 'wall' as const,
    medianNs,
    p25Ns: 1e9 / result.requests.p75,
    p75Ns: 1e9 / result.requests.p25,
    opsPerSec: result.requests.p50,
    ratio: Number.NaN,
    wallMedianNs: medianNs,
    // Not a median: the server process's CPU time (all threads) per response over the run.
    cpuMedianNs: serverCpuNsPerRequest,
    rounds: result.samples,
    batch: result.samples > 0 ? Math.round(responses / result.samples) : 0,
    // Figures beyond the harness's row, for --json.
    endpoint,
    connections: CONNECTIONS,
    durationSeconds: result.duration,
    responses,
    ok2xx: result['2xx'],
    meanOkPerSec: result['2xx'] / result.duration,
    latencyMs: {
      p50,
      p90: quantile(latencies, 0.9),
      p99,
      max: latencies.length > 0 ? latencies[latencies.length - 1]! : Number.NaN,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    badBodies: m.checks.bad,
    serverCpuPercent: (100 * m.serverCpuMicros) / m.wallMicros,
    loadGeneratorCpuPercent: (100 * m.loadCpuMicros) / m.wallMicros,
    ...(replays !== undefined ? { refreshReplays: replays } : {}),
  }
  return row
}

async function runStore(store: StoreName, ops: readonly (typeof OPS)[number][], options: SectionOptions, rows: ResultRow[]): Promise<void> {
  const { log } = options
  const seconds = options.quick ? 5 : 10
  const warmupSeconds = options.quick ? 2 : 3
  const dataDir = mkdtempSync(join(tmpdir(), 'hallpass-bench-'))
  try {
    const backend = await openBackend(store, dataDir)
    if (typeof backend === 'string') {
      log(`server: ${store} skipped: ${backend}`)
      return
    }
    try {
      const server = await startServer(backend.url, dataDir)
      try {
        for (const { op, endpoint } of ops) {
          log(`server: ${store} ${op}: ${warmupSeconds} s warm-up, ${seconds} s measured, ${CONNECTIONS} connections`)
          await drive(op, server, warmupSeconds, 'warmup')
          const replaysBefore = op === 'refresh' ? await readCounter(server, 'hallpass_refreshes_total', 'result="concurrent_replay"') : 0
          const measured = await drive(op, server, seconds, 'measured')
          const replays = op === 'refresh' ? (await readCounter(server, 'hallpass_refreshes_total', 'result="concurrent_replay"')) - replaysBefore : undefined
          const row = toRow(store, op, endpoint, measured, replays)
          rows.push(row)
          const r = measured.result
          log(
            `server: ${store} ${op}: ${Math.round(row.opsPerSec)} req/s (median second), p50 ${row.labels['p50 ms']} ms, ` +
              `p99 ${row.labels['p99 ms']} ms, non-2xx ${r.non2xx}, errors ${r.errors}, ` +
              `server CPU ${Math.round((100 * measured.serverCpuMicros) / measured.wallMicros)}%, ` +
              `load generator CPU ${Math.round((100 * measured.loadCpuMicros) / measured.wallMicros)}%`,
          )
          if (r.non2xx + r.errors > 0) log(`server: ${store} ${op}: WARNING status codes ${JSON.stringify(r.statusCodeStats)}, ${r.errors} errors (${r.timeouts} timeouts)`)
          if (measured.checks.bad > 0) log(`server: ${store} ${op}: WARNING ${measured.checks.bad} 2xx bodies were wrong, e.g. ${measured.checks.example}`)
          if (replays !== undefined && replays > 0) log(`server: ${store} refresh: WARNING ${replays} refreshes were replays, not rotations`)
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}\nserver stderr:\n${server.stderr()}`, { cause: error })
      } finally {
        await stopChild(server.child)
      }
    } finally {
      const note = await backend.cleanup()
      if (note !== undefined) log(`server: ${store}: ${note}`)
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function run(options: SectionOptions): Promise<SectionResult> {
  if (options.clock === 'cpu') options.log('server: wall clock only (--clock cpu does not apply; the server CPU time per request is its own column)')
  const filter = options.filter?.toLowerCase()
  const rows: ResultRow[] = []
  for (const store of STORES) {
    const ops = OPS.filter(({ op, endpoint }) => filter === undefined || `${store} ${op} ${endpoint}`.toLowerCase().includes(filter))
    if (ops.length > 0) await runStore(store, ops, options, rows)
  }
  // "vs floor": how many JWKS requests the same server answers in the time of one of these.
  const ratios: Record<string, number> = {}
  const withRatios = rows.map((row) => {
    const floor = rows.find((r) => r.labels.store === row.labels.store && r.labels.op === FLOOR_OP)
    const ratio = floor === undefined ? Number.NaN : row.medianNs / floor.medianNs
    if (row.labels.op !== FLOOR_OP && Number.isFinite(ratio)) ratios[`${row.labels.store} ${row.labels.op}`] = ratio
    return { ...row, ratio }
  })
  return { section: 'server', clock: 'wall', results: withRatios, ratios, targets: [] }
}

/** The registry entry for `bench/run.ts`. */
export const serverSection: BenchSection = {
  name: 'server',
  description: 'hallpass serve under autocannon on loopback: login, refresh, introspection, JWKS (SQLite, PostgreSQL, Redis)',
  run,
}
