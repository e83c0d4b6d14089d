// The session server under test, over a real socket: `openRuntime` + `buildServer` +
// `listen({ port: 0 })`, driven with `fetch` (and raw sockets where fetch would refuse to send
// what a hostile client can). One server per store kind: SQLite in a temp dir, PostgreSQL in a
// fresh schema (`?schema=`), Redis under a fresh key prefix (`?prefix=`), each dropped on close.
// A second instance can share the first one's store and secret (several servers behind a load
// balancer). The clock of the session manager can be moved forward per server.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import { buildServer, openRuntime, resolveConfig, type BuildServerOptions, type Runtime, type ServerConfig, type ServerContext } from '../src/index.ts'
import { hashPassword } from '../src/passwords.ts'
import { checkPostgres, checkRedis, postgresUrl, redisUrl } from '../../../test/helpers/services.ts'

export type StoreKind = 'sqlite' | 'postgres' | 'redis'
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres', 'redis']

export const ISSUER = 'https://auth.hallpass.test'
export const TEST_USERNAME = 'alice'
export const TEST_PASSWORD = 'correct horse battery staple'
export const CLIENT_ID = 'resource-server'
/** Introspection client secret (the config requires ≥ 32 characters). */
export const CLIENT_SECRET = 'rs-secret-' + 'x'.repeat(32)
/** A client whose id and secret need RFC 6749 §2.3.1 form-encoding inside HTTP Basic. */
export const SPECIAL_CLIENT_ID = 'svc.with-dots_1'
export const SPECIAL_CLIENT_SECRET = 'p@ss:w/rd+100%&more=chars;' + 'y'.repeat(16)

const skipReasons = new Map<StoreKind, Promise<string | undefined>>()

/**
 * Undefined when the store kind can run here; else why not (a visible skip). With
 * HALLPASS_REQUIRE_SERVICES=1 an unreachable service rejects instead, failing the suite.
 */
export function storeSkipReason(kind: StoreKind): Promise<string | undefined> {
  let reason = skipReasons.get(kind)
  if (reason === undefined) {
    reason = kind === 'sqlite' ? Promise.resolve(undefined) : kind === 'postgres' ? checkPostgres() : checkRedis()
    skipReasons.set(kind, reason)
  }
  return reason
}

// argon2id costs ~50 ms per hash: hash the test password once per process.
let passwordHash: Promise<string> | undefined
export function testPasswordHash(): Promise<string> {
  return (passwordHash ??= hashPassword(TEST_PASSWORD))
}

export interface StartOptions {
  /** Config-file fields over the harness defaults (`rateLimits` merges rule by rule). */
  config?: Record<string, unknown>
  /** Extra variables for `openRuntime` (secrets such as HALLPASS_ADMIN_API_KEY). */
  env?: Record<string, string>
  /** Run as another instance on this server's store, with its secret (a load-balanced pair). */
  shareStoreWith?: TestServer
  logger?: BuildServerOptions['logger']
  /** Limits of the revocation feed's streams (small ones make slow subscribers quick to test). */
  revocationFeed?: BuildServerOptions['revocationFeed']
  /** Create the test user (default true; ignored with `shareStoreWith`). */
  createUser?: boolean
  /**
   * Where the server reaches PostgreSQL or Redis instead of the test service's own address (a
   * fault proxy in front of it); the harness still sets up and drops the store directly.
   */
  storeAddress?: { host: string; port: number }
  /** Runs on the app before it listens: a test's own hooks. */
  beforeListen?: (app: FastifyInstance) => void
}

/**
 * A parsed response body. Tests read it field by field and assert each field, so the
 * assertions are its type check.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Json = any

export interface HttpResult {
  status: number
  headers: Headers
  text: string
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: Json
}

export interface RequestOptions {
  method?: string
  json?: unknown
  form?: Record<string, string> | string
  body?: string | Uint8Array | FormData
  headers?: Record<string, string>
  bearer?: string
  basic?: { id: string; secret: string }
}

export interface TokenResponse {
  access_token: string
  token_type: string
  expires_in: number
  refresh_token: string
  session_id: string
  scope?: string
}

export interface StoreSnapshot {
  users: unknown[]
  sessions: Record<string, unknown[]>
  revocations: unknown[]
  keyringVersion: number | undefined
}

export interface TestServer {
  readonly kind: StoreKind
  readonly url: string
  readonly port: number
  readonly app: FastifyInstance
  readonly runtime: Runtime
  readonly ctx: ServerContext
  readonly config: ServerConfig
  readonly databaseUrl: string
  readonly secret: string
  readonly adminKey: string
  /** Moves the session manager's clock forward (the rate limiter and HTTP layer keep real time). */
  advanceClock(ms: number): void
  request(path: string, options?: RequestOptions): Promise<HttpResult>
  /** Adds a user whose password is TEST_PASSWORD (reusing the one hash: no argon2 cost). */
  addUser(username: string): Promise<void>
  /** Logs in (the test user by default) and asserts a 200 token response. */
  login(username?: string, password?: string, headers?: Record<string, string>): Promise<TokenResponse>
  /**
   * A session minted by the admin API (`POST /sessions`, asserted 201): the same tokens as a
   * login, without paying argon2 for tests that are not about passwords.
   */
  mint(subject?: string, device?: Record<string, string>): Promise<TokenResponse>
  /** What the store holds for these subjects (default: the test user), to assert nothing changed. */
  snapshot(subjects?: readonly string[]): Promise<StoreSnapshot>
  /** A Prometheus sample from /metrics: the sum of the series matching `labels` (0 when none). */
  metric(name: string, labels?: Record<string, string>): Promise<number>
  close(): Promise<void>
}

interface StoreHandle {
  databaseUrl: string
  dataDir: string
  drop(): Promise<void>
}

async function createStore(kind: StoreKind): Promise<StoreHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hallpass-server-'))
  const removeDir = (): Promise<void> => rm(dataDir, { recursive: true, force: true })
  const id = randomBytes(6).toString('hex')
  switch (kind) {
    case 'sqlite':
      return { databaseUrl: `sqlite:${join(dataDir, 'hallpass.db')}`, dataDir, drop: removeDir }
    case 'postgres': {
      const schema = `hp_srv_${id}`
      const url = new URL(postgresUrl())
      url.searchParams.set('schema', schema)
      return {
        databaseUrl: url.toString(),
        dataDir,
        async drop() {
          const client = new pg.Client({ connectionString: postgresUrl() })
          client.on('error', () => undefined)
          await client.connect()
          try {
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          } finally {
            await client.end()
          }
          await removeDir()
        },
      }
    }
    case 'redis': {
      const prefix = `hpsrv:${id}:`
      const url = new URL(redisUrl())
      url.searchParams.set('prefix', prefix)
      return {
        databaseUrl: url.toString(),
        dataDir,
        async drop() {
          await deleteRedisPrefix(prefix)
          await removeDir()
        },
      }
    }
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(redisUrl(), { maxRetriesPerRequest: 2 })
  client.on('error', () => undefined)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

const DEFAULT_RATE_LIMITS = {
  loginPerIp: { max: 100_000, window: '1m' },
  loginPerUsername: { max: 100_000, window: '5m' },
  refreshPerIp: { max: 100_000, window: '1m' },
  feedPerIp: { max: 100_000, window: '1m' },
}

function withAddress(databaseUrl: string, kind: StoreKind, address: StartOptions['storeAddress']): string {
  if (address === undefined) return databaseUrl
  if (kind === 'sqlite') throw new Error('storeAddress: an SQLite store has no address')
  const url = new URL(databaseUrl)
  url.hostname = address.host
  url.port = String(address.port)
  return url.toString()
}

export async function startServer(kind: StoreKind, options: StartOptions = {}): Promise<TestServer> {
  const shared = options.shareStoreWith
  const store = shared === undefined ? await createStore(kind) : undefined
  const databaseUrl = withAddress(shared?.databaseUrl ?? store!.databaseUrl, kind, options.storeAddress)
  const secret = shared?.secret ?? randomBytes(32).toString('base64url')
  const adminKey = shared?.adminKey ?? `admin-${randomBytes(24).toString('base64url')}`
  const overrides = options.config ?? {}
  const file = {
    issuer: ISSUER,
    databaseUrl,
    dataDir: store?.dataDir ?? tmpdir(),
    demoUser: false,
    logLevel: 'silent',
    clients: { [CLIENT_ID]: CLIENT_SECRET, [SPECIAL_CLIENT_ID]: SPECIAL_CLIENT_SECRET },
    ...overrides,
    rateLimits: { ...DEFAULT_RATE_LIMITS, ...(overrides.rateLimits as object | undefined) },
  }
  const env = { HALLPASS_SECRET: secret, HALLPASS_ADMIN_API_KEY: adminKey, ...options.env }
  let skew = 0
  let runtime: Runtime
  try {
    runtime = await openRuntime(resolveConfig({ file, env: {} }), { env, now: () => Date.now() + skew })
  } catch (error) {
    await store?.drop()
    throw error
  }
  const ctx = runtime.context
  if (shared === undefined && options.createUser !== false) {
    const now = Date.now()
    assert.equal(await ctx.users!.createUser({ username: TEST_USERNAME, passwordHash: await testPasswordHash(), createdAt: now, updatedAt: now }), true)
  }
  const app = await buildServer(ctx, { logger: options.logger ?? false, ...(options.revocationFeed !== undefined ? { revocationFeed: options.revocationFeed } : {}) })
  options.beforeListen?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  assert.ok(typeof address === 'object' && address !== null)
  const port = address.port
  const url = `http://127.0.0.1:${port}`

  const request = async (path: string, opts: RequestOptions = {}): Promise<HttpResult> => {
    const headers: Record<string, string> = {}
    let body: RequestInit['body']
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.json)
    } else if (opts.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = typeof opts.form === 'string' ? opts.form : new URLSearchParams(opts.form).toString()
    } else if (opts.body !== undefined) {
      body = opts.body
    }
    if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`
    if (opts.basic !== undefined) {
      const credentials = `${encodeURIComponent(opts.basic.id)}:${encodeURIComponent(opts.basic.secret)}`
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
    }
    Object.assign(headers, opts.headers)
    const response = await fetch(url + path, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' })
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: response.status, headers: response.headers, text, body: parsed }
  }

  const server: TestServer = {
    kind,
    url,
    port,
    app,
    runtime,
    ctx,
    config: ctx.config,
    databaseUrl,
    secret,
    adminKey,
    advanceClock(ms) {
      skew += ms
    },
    request,
    async addUser(username) {
      const now = Date.now()
      assert.equal(await ctx.users!.createUser({ username, passwordHash: await testPasswordHash(), createdAt: now, updatedAt: now }), true)
    },
    async login(username = TEST_USERNAME, password = TEST_PASSWORD, headers = {}) {
      const res = await request('/auth/login', { json: { username, password }, headers })
      assert.equal(res.status, 200, `login failed: ${res.text}`)
      return res.body as TokenResponse
    },
    async mint(subject = TEST_USERNAME, device) {
      const res = await request('/sessions', { json: { subject, ...(device !== undefined ? { device } : {}) }, bearer: adminKey })
      assert.equal(res.status, 201, `mint failed: ${res.text}`)
      return res.body as TokenResponse
    },
    async snapshot(subjects = [TEST_USERNAME]) {
      const sessions: Record<string, unknown[]> = {}
      for (const subject of subjects) sessions[subject] = await ctx.sessions.list(subject)
      return {
        users: await ctx.users!.listUsers(),
        sessions,
        revocations: await ctx.sessions.store.readRevocations(undefined, 10_000),
        keyringVersion: (await ctx.sessions.store.loadKeyring())?.version,
      }
    },
    async metric(name, labels = {}) {
      const res = await request('/metrics')
      assert.equal(res.status, 200)
      return metricValue(res.text, name, labels)
    },
    async close() {
      // Open SSE streams would hold close() forever: end every connection after a grace.
      const force = setTimeout(() => app.server.closeAllConnections(), 500)
      try {
        await ctx.feed.close()
        await app.close()
      } finally {
        clearTimeout(force)
        await runtime.close()
        await store?.drop()
      }
    },
  }
  return server
}

/**
 * Sums the samples of a Prometheus text exposition whose labels include `labels` (so no
 * labels sums every series of the metric; 0 when none matches).
 */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([0-9.eE+-]+|NaN)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[3])
  }
  return sum
}

/** Asserts an error response: status, `error` name, and that no cache may keep it. */
export function assertError(res: HttpResult, status: number, error: string, message?: string): void {
  assert.equal(res.status, status, `${message ?? 'status'}: ${res.text}`)
  assert.equal(res.body?.error, error, `${message ?? 'error'}: ${res.text}`)
}

export interface SseEvent {
  id: string | undefined
  event: string | undefined
  data: string
}

/** A Server-Sent Events client over fetch, pulling parsed events one at a time. */
export interface SseClient {
  readonly status: number
  readonly headers: Headers
  /**
   * The next event of `type` (default `revocation`), or undefined when none arrives within
   * `timeoutMs`. Events of other types (a position marker, say) are kept in `skipped`.
   */
  next(timeoutMs?: number, type?: string): Promise<SseEvent | undefined>
  readonly skipped: SseEvent[]
  /** Comments (`: …`) and `retry:` lines seen so far. */
  readonly comments: string[]
  readonly retry: number | undefined
  close(): void
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController()
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const events: SseEvent[] = []
  const comments: string[] = []
  const skipped: SseEvent[] = []
  let retry: number | undefined
  let buffer = ''
  let pendingRead: ReturnType<typeof reader.read> | undefined
  let done = false

  const parseBlocks = (): void => {
    for (;;) {
      const end = buffer.indexOf('\n\n')
      if (end === -1) return
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const event: SseEvent = { id: undefined, event: undefined, data: '' }
      let hasData = false
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments.push(line.slice(1).trim())
        else if (line.startsWith('retry: ')) retry = Number(line.slice(7))
        else if (line.startsWith('id: ')) event.id = line.slice(4)
        else if (line.startsWith('event: ')) event.event = line.slice(7)
        else if (line.startsWith('data: ')) {
          event.data += (hasData ? '\n' : '') + line.slice(6)
          hasData = true
        }
      }
      if (hasData) events.push(event)
    }
  }

  return {
    status: response.status,
    headers: response.headers,
    comments,
    get retry() {
      return retry
    },
    skipped,
    async next(timeoutMs = 2000, type = 'revocation') {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        while (events.length > 0 && events[0]!.event !== type) skipped.push(events.shift()!)
        if (events.length > 0 || done) break
        const remaining = deadline - Date.now()
        if (remaining <= 0) return undefined
        pendingRead ??= reader.read()
        let timer: NodeJS.Timeout | undefined
        const result = await Promise.race([
          pendingRead,
          new Promise<'timeout'>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), remaining)
          }),
        ])
        clearTimeout(timer)
        if (result === 'timeout') return undefined
        pendingRead = undefined
        if (result.done) done = true
        else {
          buffer += result.value
          parseBlocks()
        }
      }
      return events.shift()
    },
    close() {
      controller.abort()
      reader.cancel().catch(() => undefined)
    },
  }
}

/**
 * Sends bytes on a fresh TCP connection and returns what came back until the server closed it
 * (or `timeoutMs`): for requests fetch refuses to make (duplicate or malformed headers).
 */
export function rawRequest(port: number, payload: string | Buffer, timeoutMs = 3000): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(payload))
    const chunks: Buffer[] = []
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      const raw = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
      resolve({ status, raw })
    })
  })
}

/** The JSON body of a raw HTTP/1.1 response (Content-Length or chunked), if any. */
export function rawJsonBody(raw: string): Json {
  const split = raw.indexOf('\r\n\r\n')
  if (split === -1) return undefined
  const head = raw.slice(0, split).toLowerCase()
  let body = raw.slice(split + 4)
  if (head.includes('transfer-encoding: chunked')) {
    let out = ''
    for (;;) {
      const eol = body.indexOf('\r\n')
      const size = parseInt(body.slice(0, eol), 16)
      if (!(size > 0)) break
      out += body.slice(eol + 2, eol + 2 + size)
      body = body.slice(eol + 2 + size + 2)
    }
    body = out
  }
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/**
 * Sends `payload` (a raw HTTP request) `count` times, each connection reset after a varying
 * number of event-loop turns (`i % spread`) so the resets land inside the route's awaits.
 */
export async function resetStorm(port: number, payload: string, count: number, spread = 10): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(payload)
        let hops = i % spread
        const reset = (): void => {
          if (hops-- > 0) return void setImmediate(reset)
          socket.resetAndDestroy()
          resolve()
        }
        reset()
      })
      socket.on('error', () => resolve())
    })
  }
}
