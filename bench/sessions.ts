/**
 * @module bench/sessions
 *
 * The sessions-and-stores benchmark: `SessionManager.refresh`, `create`, `list` and `revoke` on
 * each store (SQLite on a WAL file, SQLite `:memory:` as a reference line, PostgreSQL, Redis),
 * each holding 100k existing sessions, against the floor: the CPU work of one refresh that no
 * store can avoid (one access-token signature with the manager's key and algorithm, the SHA-256
 * of the presented secret, the HMAC successor derivation and the successor's SHA-256).
 * See bench/README.md ("Sessions and stores") for the method and the results.
 */
import { createHmac, createSecretKey, hash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import pg from 'pg'
import {
  createSessionManager,
  deriveKeys,
  signJwt,
  type AuditEvent,
  type DeviceInfo,
  type IssuedTokens,
  type JwtClaims,
  type SessionManager,
  type SessionRecord,
  type SessionStore,
} from 'hallpass'
import { createPostgresStore } from 'hallpass/stores/postgres'
import { createRedisStore } from 'hallpass/stores/redis'
import { createSqliteStore } from 'hallpass/stores/sqlite'
import {
  quantile,
  runInterleaved,
  sink,
  type BenchSection,
  type Clock,
  type ContenderResult,
  type ResultRow,
  type RoundOptions,
  type SectionOptions,
  type SectionResult,
  type TargetResult,
} from './harness.ts'
import { createRandomPool } from '../packages/hallpass/src/session/random-pool.ts'

const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
const ISSUER = 'https://auth.example.com'
const AUDIENCE = 'https://api.example.com'
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'
const SESSION_CLAIMS = { tenant: 'acme-eu-west', roles: ['member', 'billing-admin'] }
const SESSION_SCOPE = 'openid profile orders:read orders:write'
/** What the server passes at each refresh (`deviceOf(request)`): the stored device is merged. */
const REFRESH_CONTEXT: { device: DeviceInfo } = { device: { userAgent: USER_AGENT, ip: '203.0.113.7' } }
/** Sessions in the list case's subject. */
const LIST_SIZE = 10
/** The brief's target: SQLite (WAL file) refresh rate at least this fraction of the floor's rate. */
const SQLITE_REFRESH_TARGET = 0.4
/** Concurrency of the throughput run on the network stores. */
const NETWORK_CONCURRENCY = 16

type StoreName = 'sqlite-file' | 'sqlite-memory' | 'postgres' | 'redis'
const STORE_NAMES: readonly StoreName[] = ['sqlite-file', 'sqlite-memory', 'postgres', 'redis']
type Op = 'refresh' | 'create' | 'list' | 'revoke'
const OPS: readonly Op[] = ['refresh', 'create', 'list', 'revoke']

/** How much of everything: a full run, or `--quick`. */
interface Plan {
  readonly seedSessions: number
  /** Pre-created sessions whose refresh tokens are kept; each refresh picks a random free one. */
  readonly refreshPool: number
  /** Interleaved floor-vs-refresh rounds (the harness), in-process and network stores. */
  readonly localRounds: RoundOptions
  readonly networkRounds: RoundOptions
  /** Sequential refreshes timed one by one, for p50/p99. */
  readonly localLatencySamples: number
  readonly networkLatencySamples: number
  /** Concurrent refresh throughput run (network stores). */
  readonly concurrent: { readonly rounds: number; readonly warmupRounds: number; readonly opsPerRound: number }
  /** create, list and revoke: sequential rounds paired with the floor. */
  readonly localOps: Omit<PairedOptions, 'clock'>
  readonly networkOps: Omit<PairedOptions, 'clock'>
}

function makePlan(quick: boolean, clock: Clock): Plan {
  return quick
    ? {
      seedSessions: 5_000,
      refreshPool: 200,
      localRounds: { rounds: 5, warmupRounds: 1, batchMs: 2, clock },
      networkRounds: { rounds: 4, warmupRounds: 1, batchMs: 1, clock },
      localLatencySamples: 500,
      networkLatencySamples: 150,
      concurrent: { rounds: 4, warmupRounds: 1, opsPerRound: 256 },
      localOps: { rounds: 5, warmupRounds: 1, batchMs: 2, opsPerRound: 50 },
      networkOps: { rounds: 4, warmupRounds: 1, batchMs: 1, opsPerRound: 25 },
    }
    : {
      seedSessions: 100_000,
      refreshPool: 2_000,
      localRounds: { rounds: 80, warmupRounds: 6, batchMs: 8, clock },
      networkRounds: { rounds: 30, warmupRounds: 3, batchMs: 2, clock },
      localLatencySamples: 5_000,
      networkLatencySamples: 1_000,
      concurrent: { rounds: 30, warmupRounds: 3, opsPerRound: 512 },
      localOps: { rounds: 40, warmupRounds: 4, batchMs: 8, opsPerRound: 100 },
      networkOps: { rounds: 20, warmupRounds: 2, batchMs: 2, opsPerRound: 40 },
    }
}

/** A store under benchmark, opened fresh and cleaned up afterwards. */
interface BenchStore {
  readonly name: StoreName
  readonly store: SessionStore
  /** 1: in-process and synchronous, so only sequential figures mean anything. */
  readonly concurrency: number
  /** How `seed` writes, for the table (`tx 1000`: 1000 sessions per transaction; `c=500`: 500 concurrent calls). */
  readonly seedMode: string
  /** Writes the sessions through the store's own `createSession`. */
  seed(items: ReadonlyArray<readonly [SessionRecord, AuditEvent]>): Promise<void>
  cleanup(): Promise<void>
}

/** Either a store, or why it is skipped. */
type Opened = { readonly ok: true; readonly bench: BenchStore } | { readonly ok: false; readonly reason: string }

function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable URL>'
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.message : String(error)
}

function openSqlite(name: 'sqlite-file' | 'sqlite-memory'): Opened {
  const dir = name === 'sqlite-file' ? mkdtempSync(join(tmpdir(), 'hallpass-bench-sessions-')) : undefined
  const removeDir = (): void => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
  const db = new Database(dir === undefined ? ':memory:' : join(dir, 'sessions.db'))
  let store: SessionStore
  try {
    // The store sets the pragmas (WAL, synchronous = NORMAL) on a connection it is given; it is
    // given ours so the seed can group its createSession calls in one transaction per chunk.
    store = createSqliteStore({ database: db })
    if (dir !== undefined && db.pragma('journal_mode', { simple: true }) !== 'wal') throw new Error('sessions bench: SQLite is not in WAL mode')
  } catch (error) {
    db.close()
    removeDir()
    throw error
  }
  const SEED_CHUNK = 1000
  return {
    ok: true,
    bench: {
      name,
      store,
      concurrency: 1,
      seedMode: `tx ${SEED_CHUNK}`,
      async seed(items) {
        for (let i = 0; i < items.length; i += SEED_CHUNK) {
          // createSession is a transaction of its own; inside ours better-sqlite3 turns it into a
          // savepoint, so a chunk is one commit instead of a thousand. Every call settles
          // synchronously (the store is synchronous), so all of them run before the COMMIT.
          db.exec('BEGIN IMMEDIATE')
          try {
            await Promise.all(items.slice(i, i + SEED_CHUNK).map(([record, audit]) => store.createSession(record, audit)))
            db.exec('COMMIT')
          } catch (error) {
            if (db.inTransaction) db.exec('ROLLBACK')
            throw error
          }
        }
      },
      async cleanup() {
        await store.close()
        db.close()
        removeDir()
      },
    },
  }
}

/** Network stores are seeded this many `createSession` calls at a time. */
const NETWORK_SEED_CHUNK = 500

async function seedConcurrently(store: SessionStore, items: ReadonlyArray<readonly [SessionRecord, AuditEvent]>): Promise<void> {
  for (let i = 0; i < items.length; i += NETWORK_SEED_CHUNK) {
    await Promise.all(items.slice(i, i + NETWORK_SEED_CHUNK).map(([record, audit]) => store.createSession(record, audit)))
  }
}

async function openPostgres(): Promise<Opened> {
  const url = process.env.HALLPASS_TEST_POSTGRES_URL ?? DEFAULT_POSTGRES_URL
  // Room for the 16 concurrent refreshers plus the odd extra connection.
  const pool = new pg.Pool({ connectionString: url, max: NETWORK_CONCURRENCY + 4, connectionTimeoutMillis: 3000 })
  pool.on('error', () => undefined)
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => undefined)
    return { ok: false, reason: `PostgreSQL not reachable at ${redact(url)} (${describe(error)})` }
  }
  const schema = `hp_bench_${randomBytes(6).toString('hex')}`
  const dropSchema = async (): Promise<void> => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  }
  let store: SessionStore
  try {
    store = await createPostgresStore({ pool, schema })
  } catch (error) {
    await dropSchema().catch(() => undefined)
    await pool.end().catch(() => undefined)
    throw error
  }
  return {
    ok: true,
    bench: {
      name: 'postgres',
      store,
      concurrency: NETWORK_CONCURRENCY,
      seedMode: `c=${NETWORK_SEED_CHUNK}`,
      seed: (items) => seedConcurrently(store, items),
      async cleanup() {
        try {
          await store.close()
          await dropSchema()
        } finally {
          await pool.end()
        }
      },
    },
  }
}

async function openRedis(): Promise<Opened> {
  const url = process.env.HALLPASS_TEST_REDIS_URL ?? DEFAULT_REDIS_URL
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 2 })
  // A refused connection is reported by the probe below (with the socket's error, which is
  // more telling than the rejection's "Connection is closed"); ioredis would log it otherwise.
  let socketError: unknown
  client.on('error', (error) => {
    socketError ??= error
  })
  try {
    await client.connect()
    await client.ping()
  } catch (error) {
    client.disconnect()
    return { ok: false, reason: `Redis not reachable at ${redact(url)} (${describe(socketError ?? error)})` }
  }
  const prefix = `hpbench:${randomBytes(6).toString('hex')}:`
  const store = createRedisStore({ client, keyPrefix: prefix })
  return {
    ok: true,
    bench: {
      name: 'redis',
      store,
      concurrency: NETWORK_CONCURRENCY,
      seedMode: `c=${NETWORK_SEED_CHUNK}`,
      seed: (items) => seedConcurrently(store, items),
      async cleanup() {
        try {
          await store.close()
          let cursor = '0'
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
            cursor = next
            if (keys.length > 0) await client.unlink(...keys)
          } while (cursor !== '0')
        } finally {
          client.disconnect()
        }
      },
    },
  }
}

function open(name: StoreName): Opened | Promise<Opened> {
  switch (name) {
    case 'sqlite-file':
    case 'sqlite-memory':
      return openSqlite(name)
    case 'postgres':
      return openPostgres()
    case 'redis':
      return openRedis()
  }
}

function sha256(text: string): string {
  return hash('sha256', text, 'base64url')
}

/**
 * The existing sessions: live (created in the last six days, so neither deadline has passed),
 * 2.5 per subject on average, with the device, claims and scope a real login stores.
 */
function makeSeed(count: number, now: number): Array<[SessionRecord, AuditEvent]> {
  const subjects = Math.max(1, Math.floor(count / 2.5))
  const items: Array<[SessionRecord, AuditEvent]> = []
  for (let i = 0; i < count; i++) {
    const id = randomBytes(16).toString('base64url')
    const subject = `user_${(i % subjects).toString(36).padStart(5, '0')}`
    const createdAt = now - ((i * 7_919_993) % (6 * 86_400_000))
    const expiresAt = createdAt + 30 * 86_400_000
    const device: DeviceInfo = { userAgent: USER_AGENT, ip: `198.51.100.${i % 256}` }
    const record: SessionRecord = {
      id,
      subject,
      createdAt,
      expiresAt,
      idleExpiresAt: Math.min(createdAt + 7 * 86_400_000, expiresAt),
      lastSeenAt: createdAt,
      generation: 0,
      refreshHash: sha256(randomBytes(32).toString('base64url')),
      previousHash: null,
      rotatedAt: createdAt,
      revokedAt: null,
      revokeReason: null,
      device,
      claims: SESSION_CLAIMS,
      scope: SESSION_SCOPE,
      audience: null,
      maxAccessExp: 0,
      undeliveredHash: null,
    }
    items.push([record, { type: 'session.created', at: createdAt, sessionId: id, subject, device }])
  }
  return items
}

/**
 * The floor of one refresh: the access-token signature (signJwt, the manager's own signing key
 * and algorithm, a claim set of the same shape as the manager's), the SHA-256 of the presented
 * secret, the HMAC-SHA256 successor and its SHA-256, and the 16 random bytes of the `jti`
 * (from the same kind of pool as the manager's). No parsing, no store, no record handling, and
 * not the two refresh-token tags (the presented one's, the new one's), which the manager pays
 * on top.
 */
function makeFloor(manager: SessionManager, chainKey: Uint8Array): (i: number) => string {
  const key = manager.keys.signingKey()
  // A key object made once, as the manager keeps its own: cheaper per HMAC than raw bytes.
  const hmacKey = createSecretKey(chainKey)
  const ttl = manager.options.accessTokenTtlSeconds
  const secrets = Array.from({ length: 64 }, () => randomBytes(32).toString('base64url'))
  const sids = Array.from({ length: 64 }, () => randomBytes(16).toString('base64url'))
  const jtiBytes = createRandomPool()
  return (i) => {
    const secret = secrets[i & 63]!
    const sid = sids[i & 63]!
    const generation = (i & 1023) + 1
    const hash = sha256(secret)
    const successor = createHmac('sha256', hmacKey).update(`${sid}.${generation}.${secret}`).digest('base64url')
    const newHash = sha256(successor)
    const iat = Math.floor(Date.now() / 1000)
    const claims: JwtClaims = {
      ...SESSION_CLAIMS,
      iss: ISSUER,
      sub: 'bench-refresh-000001',
      iat,
      exp: iat + ttl,
      jti: jtiBytes(16).toString('base64url'),
      sid,
      aud: AUDIENCE,
      scope: SESSION_SCOPE,
    }
    const token = signJwt(claims, key)
    // Returned so that none of the work is dead code.
    return hash.length + newHash.length > 0 ? token : ''
  }
}

/** Refresh tokens of pre-created sessions; a refresh takes a random session no one else holds. */
interface TokenPool {
  readonly tokens: string[]
  take(): number
  give(slot: number): void
}

function makeTokenPool(tokens: string[]): TokenPool {
  const free = tokens.map((_, slot) => slot)
  return {
    tokens,
    take() {
      const k = Math.floor(Math.random() * free.length)
      const slot = free[k]!
      free[k] = free[free.length - 1]!
      free.pop()
      return slot
    },
    give(slot) {
      free.push(slot)
    },
  }
}

/** One refresh of a random free session of the pool; refuses to count a replay or an error path. */
async function refreshOne(manager: SessionManager, pool: TokenPool): Promise<IssuedTokens> {
  const slot = pool.take()
  try {
    const issued = await manager.refresh(pool.tokens[slot]!, REFRESH_CONTEXT)
    if (issued.replay !== undefined) throw new Error('sessions bench: a refresh took the replay path')
    pool.tokens[slot] = issued.refreshToken
    return issued
  } finally {
    pool.give(slot)
  }
}

/** Runs `op` `count` times one after the other (after `warmup` untimed runs): ns per run. */
async function sampleSequential(count: number, warmup: number, op: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) sink.value = await op()
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    sink.value = await op()
    samples.push(Number(process.hrtime.bigint() - t0))
  }
  return samples
}

interface PairedOptions {
  readonly rounds: number
  readonly warmupRounds: number
  /** Target duration of one floor batch. */
  readonly batchMs: number
  /** Operations per round (fixed, so a run needs exactly (warmup + rounds) × opsPerRound inputs). */
  readonly opsPerRound: number
  readonly clock: Clock
}

interface PairedResult {
  readonly floor: ContenderResult
  readonly store: ContenderResult
  /** Per-operation wall latencies (ns) from the measured rounds. */
  readonly latencies: number[]
}

/**
 * The harness's method (bench/harness.ts) for an operation that may run `concurrency` at a time
 * and consumes its inputs: each round times one batch of the floor (synchronous, calibrated to
 * `batchMs`) and one batch of exactly `opsPerRound` operations run by `concurrency` workers,
 * drained at the end of the batch so nothing runs behind the floor's back; the side that starts
 * alternates; figures are medians over rounds, ratios the median of per-round ratios. Every
 * operation is also timed alone, for p50/p99. `op(i)` gets a running index (0, 1, …).
 */
async function runPaired(floor: (i: number) => unknown, op: (i: number) => Promise<unknown>, concurrency: number, options: PairedOptions): Promise<PairedResult> {
  let floorCounter = 0
  const floorBatch = (size: number): { wall: number; cpu: number } => {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < size; i++) sink.value = floor(floorCounter++)
    const wall = Number(process.hrtime.bigint() - t0)
    const c1 = process.cpuUsage(c0)
    return { wall: wall / size, cpu: ((c1.user + c1.system) * 1000) / size }
  }
  // Calibration as in the harness: the fastest of three probes (noise only ever adds time).
  let fastest = Number.POSITIVE_INFINITY
  for (let k = 0; k < 3; k++) fastest = Math.min(fastest, floorBatch(64).wall)
  const batch = Math.max(1, Math.round((options.batchMs * 1e6) / fastest))

  let opCounter = 0
  const latencies: number[] = []
  const storeBatch = async (record: boolean): Promise<{ wall: number; cpu: number }> => {
    let started = 0
    const worker = async (): Promise<void> => {
      while (started < options.opsPerRound) {
        started++
        const index = opCounter++
        const t0 = process.hrtime.bigint()
        sink.value = await op(index)
        if (record) latencies.push(Number(process.hrtime.bigint() - t0))
      }
    }
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    await Promise.all(Array.from({ length: concurrency }, worker))
    const wall = Number(process.hrtime.bigint() - t0)
    const c1 = process.cpuUsage(c0)
    return { wall: wall / options.opsPerRound, cpu: ((c1.user + c1.system) * 1000) / options.opsPerRound }
  }

  const floorWall: number[] = []
  const floorCpu: number[] = []
  const storeWall: number[] = []
  const storeCpu: number[] = []
  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    const measured = round >= options.warmupRounds
    let f: { wall: number; cpu: number }
    let s: { wall: number; cpu: number }
    if (round % 2 === 0) {
      f = floorBatch(batch)
      s = await storeBatch(measured)
    } else {
      s = await storeBatch(measured)
      f = floorBatch(batch)
    }
    if (measured) {
      floorWall.push(f.wall)
      floorCpu.push(f.cpu)
      storeWall.push(s.wall)
      storeCpu.push(s.cpu)
    }
  }
  const baseline = options.clock === 'cpu' ? floorCpu : floorWall
  return {
    floor: summarise('floor', floorWall, floorCpu, baseline, options.clock, batch),
    store: summarise('hallpass', storeWall, storeCpu, baseline, options.clock, options.opsPerRound),
    latencies,
  }
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** Per-round ns/op samples → the harness's result shape (ratio: median of per-round ratios to `baseline`). */
function summarise(name: string, wall: readonly number[], cpu: readonly number[], baseline: readonly number[], clock: Clock, batch: number): ContenderResult {
  const own = clock === 'cpu' ? cpu : wall
  const ordered = sorted(own)
  const medianNs = quantile(ordered, 0.5)
  return {
    contender: name,
    clock,
    medianNs,
    p25Ns: quantile(ordered, 0.25),
    p75Ns: quantile(ordered, 0.75),
    opsPerSec: 1e9 / medianNs,
    ratio: quantile(sorted(own.map((ns, round) => ns / baseline[round]!)), 0.5),
    wallMedianNs: quantile(sorted(wall), 0.5),
    cpuMedianNs: quantile(sorted(cpu), 0.5),
    rounds: own.length,
    batch,
  }
}

/** Extra figures of this section's rows; `sectionToJson` passes them through to the JSON. */
interface SessionFigures {
  /** Per-operation wall-time percentiles, in ns, and how many operations they are over. */
  readonly p50Ns?: number
  readonly p99Ns?: number
  readonly samples?: number
  /** Operations in flight at once. */
  readonly concurrency?: number
  /** Refresh rows: store rate / floor rate, i.e. 1 / ratio. */
  readonly rateVsFloor?: number
  /** Seed rows: wall time of the whole seed, and sessions written. */
  readonly seedMs?: number
  readonly sessions?: number
}

type SessionRow = ResultRow & SessionFigures

function micros(ns: number): string {
  const us = ns / 1000
  return us >= 100 ? Math.round(us).toLocaleString('en-US') : us.toFixed(1)
}

/** A hallpass row: throughput figures from `result`, p50/p99 from `latencies`. */
function storeRow(store: StoreName, op: Op, mode: string, result: ContenderResult, latencies: readonly number[], concurrency: number): SessionRow {
  const ordered = sorted(latencies)
  const p50 = quantile(ordered, 0.5)
  const p99 = quantile(ordered, 0.99)
  const labels: Record<string, string> = { store, op, mode, 'p50 µs': micros(p50), 'p99 µs': micros(p99) }
  const row: SessionRow = { ...result, labels, p50Ns: p50, p99Ns: p99, samples: ordered.length, concurrency }
  if (op !== 'refresh') return row
  const rate = 1 / result.ratio
  labels['rate/floor'] = `${(rate * 100).toFixed(1)}%`
  return { ...row, rateVsFloor: rate }
}

function floorRow(store: StoreName, mode: string, result: ContenderResult): SessionRow {
  return { ...result, labels: { store, op: 'refresh', mode }, concurrency: 1 }
}

/** Runs one store through every selected case; returns its rows and its sequential refresh rate / floor rate. */
async function benchStore(bench: BenchStore, plan: Plan, options: SectionOptions, ops: readonly Op[]): Promise<{ rows: SessionRow[]; rateVsFloor?: number }> {
  const { name, store } = bench
  const log = (line: string): void => options.log(`sessions: ${name}: ${line}`)
  const rows: SessionRow[] = []
  const local = bench.concurrency === 1
  const paired: PairedOptions = { ...(local ? plan.localOps : plan.networkOps), clock: options.clock }

  log(`seeding ${plan.seedSessions.toLocaleString('en-US')} sessions through createSession (${bench.seedMode})`)
  const seed = makeSeed(plan.seedSessions, Date.now())
  const s0 = process.hrtime.bigint()
  await bench.seed(seed)
  const seedNs = Number(process.hrtime.bigint() - s0)
  log(`seeded in ${(seedNs / 1e6).toFixed(0)} ms (${Math.round(plan.seedSessions / (seedNs / 1e9)).toLocaleString('en-US')} sessions/s)`)

  const secret = randomBytes(32)
  const manager = await createSessionManager({ store, secret, issuer: ISSUER, audience: AUDIENCE })
  const floor = makeFloor(manager, deriveKeys(secret).refreshChainKey)
  const device: DeviceInfo = { userAgent: USER_AGENT, ip: '203.0.113.9', label: 'Chrome on Linux' }
  const create = (subject: string): Promise<IssuedTokens> => manager.create({ subject, claims: SESSION_CLAIMS, scope: SESSION_SCOPE, device })

  // The floor's token must have the manager's shape (same claim names, same key): compare.
  {
    const issued = await create('bench-shape-check')
    const mine = manager.verifyAccessToken(floor(0))
    const theirs = manager.verifyAccessToken(issued.accessToken)
    const keysOf = (claims: object): string => Object.keys(claims).sort().join(',')
    if (keysOf(mine.claims) !== keysOf(theirs.claims) || mine.header.kid !== theirs.header.kid || mine.header.alg !== theirs.header.alg) {
      throw new Error(`sessions bench: the floor's token (${keysOf(mine.claims)}) does not match the manager's (${keysOf(theirs.claims)})`)
    }
  }

  let floorNs: number | undefined
  let rateVsFloor: number | undefined
  if (ops.includes('refresh')) {
    log(`creating ${plan.refreshPool.toLocaleString('en-US')} sessions for the refresh pool`)
    const tokens: string[] = []
    const chunk = local ? 1 : NETWORK_CONCURRENCY
    for (let i = 0; i < plan.refreshPool; i += chunk) {
      const batch = await Promise.all(Array.from({ length: Math.min(chunk, plan.refreshPool - i) }, (_, k) => create(`bench-refresh-${String(i + k).padStart(6, '0')}`)))
      for (const issued of batch) tokens.push(issued.refreshToken)
    }
    const pool = makeTokenPool(tokens)
    // Every refresh must rotate, and its access token must verify: nothing is timed on an error path.
    for (let i = 0; i < Math.min(16, plan.refreshPool); i++) {
      const issued = await refreshOne(manager, pool)
      if (!issued.refreshToken.startsWith('hprt_')) throw new Error('sessions bench: refresh returned no refresh token')
      sink.value = manager.verifyAccessToken(issued.accessToken)
    }

    const rounds = local ? plan.localRounds : plan.networkRounds
    log(`refresh, sequential: floor vs hallpass, ${rounds.rounds} interleaved rounds`)
    const [floorResult, refreshResult] = await runInterleaved(
      [
        { name: 'floor', run: floor },
        { name: 'hallpass', async: true, run: () => refreshOne(manager, pool) },
      ],
      rounds,
    )
    floorNs = floorResult!.wallMedianNs
    const samples = local ? plan.localLatencySamples : plan.networkLatencySamples
    log(`refresh, sequential: ${samples.toLocaleString('en-US')} refreshes timed one by one`)
    const latencies = await sampleSequential(samples, 50, () => refreshOne(manager, pool))
    const row = storeRow(name, 'refresh', 'seq', refreshResult!, latencies, 1)
    rateVsFloor = row.rateVsFloor
    rows.push(floorRow(name, 'seq', floorResult!), row)

    if (!local) {
      const concurrency = bench.concurrency
      const options2: PairedOptions = { ...plan.concurrent, batchMs: rounds.batchMs, clock: options.clock }
      log(`refresh, concurrency ${concurrency}: ${options2.rounds} rounds of ${options2.opsPerRound} refreshes, interleaved with the floor`)
      const result = await runPaired(floor, () => refreshOne(manager, pool), concurrency, options2)
      const mode = `c=${concurrency}`
      rows.push(floorRow(name, mode, result.floor), storeRow(name, 'refresh', mode, result.store, result.latencies, concurrency))
    }
  }

  const perRun = (paired.warmupRounds + paired.rounds) * paired.opsPerRound
  const created: string[] = []
  if (ops.includes('create') || ops.includes('revoke')) {
    log(`create: ${paired.rounds} rounds of ${paired.opsPerRound}, interleaved with the floor`)
    // A few sessions per subject, as returning users log in from several devices.
    const result = await runPaired(floor, async (i) => {
      const issued = await create(`bench-create-${String(i % 1000).padStart(4, '0')}`)
      created.push(issued.session.id)
      return issued
    }, 1, paired)
    floorNs ??= result.floor.wallMedianNs
    if (ops.includes('create')) rows.push(storeRow(name, 'create', 'seq', result.store, result.latencies, 1))
  }

  if (ops.includes('list')) {
    const subject = 'bench-list-subject'
    for (let i = 0; i < LIST_SIZE; i++) await create(subject)
    log(`list (a subject with ${LIST_SIZE} sessions): ${paired.rounds} rounds of ${paired.opsPerRound}, interleaved with the floor`)
    const result = await runPaired(floor, async () => {
      const sessions = await manager.list(subject)
      if (sessions.length !== LIST_SIZE) throw new Error(`sessions bench: list returned ${sessions.length} sessions, not ${LIST_SIZE}`)
      return sessions
    }, 1, paired)
    floorNs ??= result.floor.wallMedianNs
    rows.push(storeRow(name, 'list', 'seq', result.store, result.latencies, 1))
  }

  if (ops.includes('revoke')) {
    // One live session per revocation: the ones the create run made (exactly `perRun` of them).
    if (created.length < perRun) throw new Error(`sessions bench: ${created.length} sessions to revoke, ${perRun} needed`)
    log(`revoke: ${paired.rounds} rounds of ${paired.opsPerRound}, interleaved with the floor (the sessions the create run made)`)
    const result = await runPaired(floor, async (i) => {
      const revoked = await manager.revoke(created[i]!)
      if (!revoked.revoked) throw new Error(`sessions bench: revoke did not revoke (${revoked.why})`)
      return revoked
    }, 1, paired)
    floorNs ??= result.floor.wallMedianNs
    rows.push(storeRow(name, 'revoke', 'seq', result.store, result.latencies, 1))
  }

  if (floorNs === undefined) {
    // Only the seed was selected: time the floor alone, for the seed row's "vs floor".
    const [floorResult] = await runInterleaved([{ name: 'floor', run: floor }], { ...plan.localRounds, rounds: Math.min(20, plan.localRounds.rounds) })
    floorNs = floorResult!.wallMedianNs
  }
  // The seed is one timed run: its "ns/op" is the seed's wall time per session (a mean), and
  // its "vs floor" expresses that in floors (the sequential refresh floor's median).
  const seedPerSession = seedNs / plan.seedSessions
  rows.unshift({
    labels: { store: name, op: 'seed', mode: bench.seedMode },
    contender: 'hallpass',
    clock: 'wall',
    medianNs: seedPerSession,
    p25Ns: seedPerSession,
    p75Ns: seedPerSession,
    opsPerSec: 1e9 / seedPerSession,
    ratio: seedPerSession / floorNs,
    wallMedianNs: seedPerSession,
    cpuMedianNs: Number.NaN,
    rounds: 1,
    batch: plan.seedSessions,
    seedMs: seedNs / 1e6,
    sessions: plan.seedSessions,
  })
  return { rows, rateVsFloor }
}

async function runSessions(options: SectionOptions): Promise<SectionResult> {
  const plan = makePlan(options.quick, options.clock)
  const filter = options.filter?.toLowerCase()
  const rows: SessionRow[] = []
  const ratios: Record<string, number> = {}
  let sqliteRate: number | undefined

  // An interrupted run still drops its schema, deletes its keys and removes its temp file. The
  // run itself goes on meanwhile and may fail against the closed store: it then waits here for
  // the cleanup, which ends the process.
  const cleanups = new Set<() => Promise<void>>()
  let aborting: Promise<void> | undefined
  const onSignal = (): void => {
    options.log('sessions: interrupted, cleaning up')
    aborting ??= Promise.allSettled([...cleanups].map((cleanup) => cleanup())).then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    for (const name of STORE_NAMES) {
      const ops = OPS.filter((op) => filter === undefined || `${name} ${op}`.includes(filter))
      // The seed runs whenever the store does; `--filter seed` runs only the seeds.
      if (ops.length === 0 && !(filter !== undefined && `${name} seed`.includes(filter))) continue
      const opened = await open(name)
      if (!opened.ok) {
        options.log(`sessions: ${name}: SKIPPED, ${opened.reason}`)
        continue
      }
      const { bench } = opened
      let done = false
      const cleanup = async (): Promise<void> => {
        if (done) return
        done = true
        await bench.cleanup()
      }
      cleanups.add(cleanup)
      try {
        const result = await benchStore(bench, plan, options, ops)
        rows.push(...result.rows)
        if (name === 'sqlite-file') sqliteRate = result.rateVsFloor
      } finally {
        if (aborting !== undefined) await aborting
        await cleanup()
        cleanups.delete(cleanup)
      }
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  for (const row of rows) {
    if (row.contender !== 'floor' && row.labels.op === 'refresh') ratios[`${row.labels.store} refresh ${row.labels.mode} hallpass`] = row.ratio
  }
  const targets: TargetResult[] = [
    {
      name: `sqlite-file refresh rate ≥ ${SQLITE_REFRESH_TARGET}× floor rate (one core; figure = store rate / floor rate)`,
      limit: SQLITE_REFRESH_TARGET,
      ratio: sqliteRate,
      pass: sqliteRate === undefined ? undefined : sqliteRate >= SQLITE_REFRESH_TARGET,
    },
  ]
  return { section: 'sessions', clock: options.clock, results: rows, ratios, targets }
}

/** The `sessions` section of `npm run bench`. */
export const sessionsSection: BenchSection = {
  name: 'sessions',
  description: 'SessionManager refresh/create/list/revoke on SQLite, PostgreSQL, Redis (100k sessions) vs the refresh crypto floor',
  run: runSessions,
}
