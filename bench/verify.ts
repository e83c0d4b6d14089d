/**
 * @module bench/verify
 *
 * The "verifying in services" benchmark: requests per second of a trivial route in Fastify and
 * Express (`bench/verify-process.ts`, a child process), under autocannon load from this
 * process over loopback, for HS256 and ES256 access tokens. Five contenders per framework and
 * algorithm, all routes of the same server:
 *
 * - `unprotected`: the route with no authentication (the baseline of the ratios);
 * - `bare signature`: a guard doing only the signature check (one HMAC or ECDSA verify), the
 *   floor of any verifier without a cache;
 * - `hallpass`: hallpass's adapter over `createVerifier` with local keys, no revocation;
 * - `hallpass+revocation`: the same with a revocation feed (served by the child) and a
 *   denylist of 10,000 revoked sessions, checked on every request;
 * - `hallpass (dir)`, `hallpass (ECDH-ES)`: `hallpass` for encrypted access tokens (the same
 *   signed tokens, then encrypted with a shared A256GCM `dir` key, or to the service's
 *   ECDH-ES+A256KW P-256 key), set against the plain `hallpass` row;
 * - the peer: `@fastify/jwt` on Fastify, `express-jwt` (+ `jwks-rsa` for ES256) on Express.
 *
 * Two cases. `reuse`: each connection cycles through a pool of 64 live tokens, as real clients
 * reuse their token for its whole lifetime (hallpass's verified-token cache hits). `distinct`:
 * every request carries a token never seen recently (a pre-signed pool far larger than a round
 * and than hallpass's cache), the worst case; the child's verifier metrics prove there were no
 * cache hits. A third pass, `distinct-cpu`, repeats the distinct case with every contender at
 * the same request rate, so that CPU per request is compared at equal load: hallpass's added
 * CPU per request (over the unprotected route) is judged against the bare signature route's.
 * Rounds are short and interleaved (the starting contender rotates), and figures are medians
 * over rounds; ratios pair each round with the unprotected route's same round.
 *
 * Also measured in this process: the bare signature check and hallpass's `verify()` on the same
 * tokens (harness rounds, CPU time), and the heap of a verifier's denylist holding 100k revoked
 * sessions.
 * See bench/README.md ("Verifying in services") for the method and the figures.
 */
import type { ChildProcess } from 'node:child_process'
import { createHmac, randomBytes, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createJwtEncrypter, exportPublicJwk, generateEncryptionKey, generateKey, signJwt, type Jwk, type JwsKey } from 'hallpass'
import { createVerifier, type VerifierMetrics } from 'hallpass/verify'
import {
  quantile,
  runInterleaved,
  type BenchSection,
  type ContenderResult,
  type ResultRow,
  type SectionOptions,
  type SectionResult,
  type TargetResult,
} from './harness.ts'
import { makeClaims } from './engine.ts'
import { askChild, childCpu, cleanEnv, startChild, stopChild, type BenchChild } from './child-process.ts'

type Framework = 'fastify' | 'express'
type Alg = 'HS256' | 'ES256'
type Case = 'reuse' | 'distinct' | 'distinct-cpu'
type ContenderId = 'unprotected' | 'bare signature' | 'hallpass' | 'hallpass+revocation' | 'hallpass (dir)' | 'hallpass (ECDH-ES)' | 'peer'
type Encryption = 'dir' | 'ecdh'

const FRAMEWORKS: readonly Framework[] = ['fastify', 'express']
const FRAMEWORK_NAMES: Readonly<Record<Framework, string>> = { fastify: 'Fastify', express: 'Express' }
const ALGS: readonly Alg[] = ['HS256', 'ES256']
const CASES: readonly Case[] = ['reuse', 'distinct', 'distinct-cpu']
const CONTENDERS: readonly { readonly id: ContenderId; readonly path: string }[] = [
  { id: 'unprotected', path: '/open' },
  { id: 'bare signature', path: '/bare' },
  { id: 'hallpass', path: '/hallpass' },
  { id: 'hallpass+revocation', path: '/hallpass-rev' },
  { id: 'hallpass (dir)', path: '/hallpass-dir' },
  { id: 'hallpass (ECDH-ES)', path: '/hallpass-ecdh' },
  { id: 'peer', path: '/peer' },
]
const PEER_NAMES: Readonly<Record<Framework, Readonly<Record<Alg, string>>>> = {
  fastify: { HS256: '@fastify/jwt', ES256: '@fastify/jwt' },
  express: { HS256: 'express-jwt', ES256: 'express-jwt + jwks-rsa' },
}

/** Concurrent keep-alive connections, one request in flight on each (as bench/server.ts). */
const CONNECTIONS = 16
/** Tokens each connection cycles through in the reuse case. */
const REUSE_POOL = 64
/** Sessions listed in the revocation feed (none of them the bench tokens'). */
const REVOKED_IN_FEED = 10_000
/** Revoked sessions for the denylist memory figure. */
const DENYLIST_ENTRIES = 100_000
const ISSUER = 'http://localhost'
const AUDIENCE = 'https://api.example.com'
const SERVICE_PROCESS = fileURLToPath(new URL('./verify-process.ts', import.meta.url))

/** The issue's targets. */
const REUSE_TARGETS: Readonly<Record<Alg, number>> = { HS256: 0.85, ES256: 0.75 }
const CPU_TARGET = 1.2
const DENYLIST_TARGET_MB = 20

interface Plan {
  readonly rounds: number
  readonly roundSeconds: number
  readonly warmupSeconds: number
  /** Pre-signed distinct tokens per algorithm: larger than a round and than hallpass's cache. */
  readonly distinctPool: number
}

const FULL: Plan = { rounds: 4, roundSeconds: 2, warmupSeconds: 1, distinctPool: 200_000 }
const QUICK: Plan = { rounds: 2, roundSeconds: 1, warmupSeconds: 1, distinctPool: 60_000 }

// ---------------------------------------------------------------------------------------------
// autocannon has no type declarations; this is the part of its programmatic API used here.

interface CannonRequest {
  readonly method?: string
  readonly path?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly setupRequest?: (request: CannonRequest) => CannonRequest
}

interface CannonClient {
  setRequests(requests: readonly CannonRequest[]): void
}

interface CannonResult {
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly '2xx': number
  readonly statusCodeStats: Readonly<Record<string, { count: number }>>
}

interface CannonRun extends PromiseLike<CannonResult> {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, milliseconds: number) => void): this
}

const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  readonly url: string
  readonly connections: number
  readonly pipelining: number
  readonly duration: number
  readonly timeout: number
  /** Requests per second over all connections (absent: as fast as the server answers). */
  readonly overallRate?: number
  readonly setupClient: (client: CannonClient) => void
}) => CannonRun

// ---------------------------------------------------------------------------------------------
// Tokens.

interface AlgMaterial {
  readonly alg: Alg
  readonly kid: string
  readonly key: JwsKey
  /** What the child gets: the HMAC secret (base64url) or the public JWK (JSON). */
  readonly childKey: string
  /** `Bearer <token>` header values. */
  readonly reuse: readonly string[]
  readonly distinct: readonly string[]
  /** The same tokens encrypted (fewer distinct ones: ECDH-ES costs a key agreement each). */
  readonly encrypted: Readonly<Record<Encryption, { readonly reuse: readonly string[]; readonly distinct: readonly string[] }>>
  /** The decryption keys, private JWKs. */
  readonly decryptionKeys: Readonly<Record<Encryption, Jwk>>
}

/** Distinct encrypted tokens: more than the verifier's cache (10,000) and than a round makes. */
const ENCRYPTED_DISTINCT_POOL = 60_000


function makeMaterial(alg: Alg, distinctPool: number): AlgMaterial {
  const kid = `bench-${alg.toLowerCase()}-2024`
  const key = generateKey(alg, { kid })
  const now = Math.floor(Date.now() / 1000)
  const sign = (n: number): string => `Bearer ${signJwt(makeClaims(n, now, ISSUER, 3 * 3600), key)}`
  const childKey = alg === 'HS256' ? key.keyObject.export().toString('base64url') : JSON.stringify(exportPublicJwk(key))
  const reuse = Array.from({ length: REUSE_POOL }, (_, n) => sign(n))
  const distinct = Array.from({ length: distinctPool }, (_, n) => sign(REUSE_POOL + n))
  const decryptionKeys = {
    dir: generateEncryptionKey('dir', 'A256GCM', { kid: 'bench-dir' }),
    ecdh: generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'bench-ecdh', crv: 'P-256' }),
  }
  const encryptAll = (kind: Encryption, tokens: readonly string[]): string[] => {
    const encrypt = createJwtEncrypter(decryptionKeys[kind])
    return tokens.map((header) => `Bearer ${encrypt(header.slice('Bearer '.length))}`)
  }
  const encryptedDistinct = distinct.slice(0, Math.min(distinct.length, ENCRYPTED_DISTINCT_POOL))
  return {
    alg,
    kid,
    key,
    childKey,
    reuse,
    distinct,
    encrypted: {
      dir: { reuse: encryptAll('dir', reuse), distinct: encryptAll('dir', encryptedDistinct) },
      ecdh: { reuse: encryptAll('ecdh', reuse), distinct: encryptAll('ecdh', encryptedDistinct) },
    },
    decryptionKeys,
  }
}

/** The pool a contender draws from: encrypted tokens for the encrypted routes. */
function poolOf(material: AlgMaterial, id: ContenderId, kind: 'reuse' | 'distinct'): readonly string[] {
  if (id === 'hallpass (dir)') return material.encrypted.dir[kind]
  if (id === 'hallpass (ECDH-ES)') return material.encrypted.ecdh[kind]
  return material[kind]
}

// ---------------------------------------------------------------------------------------------
// The service child.

type Service = BenchChild

async function startService(framework: Framework, material: AlgMaterial): Promise<Service> {
  const env = cleanEnv({
    NODE_ENV: 'production',
    BENCH_FRAMEWORK: framework,
    BENCH_ALG: material.alg,
    BENCH_KEY: material.childKey,
    BENCH_KID: material.kid,
    BENCH_ISSUER: ISSUER,
    BENCH_AUDIENCE: AUDIENCE,
    BENCH_REVOKED: String(REVOKED_IN_FEED),
    BENCH_DECRYPTION_KEYS: JSON.stringify(material.decryptionKeys),
  })
  // BENCH_VERIFY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=scratch/prof") profiles the child.
  const extra = process.env.BENCH_VERIFY_NODE_ARGS?.split(' ').filter((a) => a.length > 0) ?? []
  return startChild(SERVICE_PROCESS, env, 'the service', extra)
}

interface ServiceMetrics {
  readonly hallpass: VerifierMetrics
  readonly hallpassRev: VerifierMetrics
  readonly hallpassDir: VerifierMetrics
  readonly hallpassEcdh: VerifierMetrics
}

function serviceMetrics(child: ChildProcess): Promise<ServiceMetrics> {
  return askChild(child, 'metrics', (message) => (message as { metrics?: ServiceMetrics } | null)?.metrics)
}

/** Every route must answer 200 with the token's `sub` before anything is timed. */
async function checkRoutes(service: Service, material: AlgMaterial): Promise<void> {
  const sub = (JSON.parse(Buffer.from(material.reuse[0]!.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string }).sub
  for (const { id, path } of CONTENDERS) {
    const token = poolOf(material, id, 'reuse')[0]!
    const response = await fetch(`${service.base}${path}`, { headers: { authorization: token } })
    const body = await response.text()
    const expected = id === 'unprotected' ? 'anonymous' : id === 'bare signature' ? 'signature-ok' : sub
    if (response.status !== 200 || body !== JSON.stringify({ sub: expected })) {
      throw new Error(`${path} answered ${response.status} ${body.slice(0, 200)} (expected 200 {"sub":"${expected}"})`)
    }
    if (id !== 'unprotected') {
      const refused = await fetch(`${service.base}${path}`, { headers: { authorization: `${token.slice(0, -2)}AA` } })
      await refused.arrayBuffer()
      if (refused.status !== 401) throw new Error(`${path} answered ${refused.status} to a bad signature (expected 401)`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The load.

/** Hands out tokens: per connection from the reuse pool, or one global sequence of distinct ones. */
interface TokenSource {
  /** The `next()` of one new connection. */
  connection(): () => string
}

function reuseSource(pools: (id: ContenderId) => readonly string[]): (id: ContenderId) => TokenSource {
  let connections = 0
  return (id) => ({
    connection() {
      // Each connection cycles through the whole pool, from its own starting point.
      const pool = pools(id)
      let i = (connections++ * 7) % pool.length
      return () => pool[i++ % pool.length]!
    },
  })
}

/**
 * One sequence shared by every connection and every round of a contender: a verifier sees the
 * whole pool, in order, before any token comes back, so with a pool larger than its cache (an
 * LRU) no request can hit. Each contender has its own cursor (`cursors`, by contender).
 */
function distinctSource(pools: (id: ContenderId) => readonly string[], cursors: Map<ContenderId, { next: number }>): (id: ContenderId) => TokenSource {
  return (id) => {
    const pool = pools(id)
    let cursor = cursors.get(id)
    if (cursor === undefined) cursors.set(id, (cursor = { next: 0 }))
    const own = cursor
    return { connection: () => () => pool[own.next++ % pool.length]! }
  }
}

interface RoundFigures {
  readonly ok: number
  readonly failed: number
  readonly seconds: number
  readonly reqPerSec: number
  readonly p99Ms: number
  /** Service CPU (user + system) per response, microseconds. */
  readonly cpuMicros: number
  /** Its user-mode part: the JavaScript, GC and crypto; the rest is the kernel's socket work. */
  readonly userMicros: number
  /** CPU of this process (autocannon, the load generator) over the round, in % of one core. */
  readonly loadCpuPercent: number
  /** Verified-token cache hits and misses of this contender's verifier during the round. */
  readonly hits: number | undefined
  readonly misses: number | undefined
}

function contenderName(framework: Framework, alg: Alg, id: ContenderId): string {
  return id === 'peer' ? PEER_NAMES[framework][alg] : id
}

function metricsOf(metrics: ServiceMetrics, id: ContenderId): VerifierMetrics | undefined {
  switch (id) {
    case 'hallpass': return metrics.hallpass
    case 'hallpass+revocation': return metrics.hallpassRev
    case 'hallpass (dir)': return metrics.hallpassDir
    case 'hallpass (ECDH-ES)': return metrics.hallpassEcdh
    default: return undefined
  }
}

async function drive(service: Service, id: ContenderId, path: string, tokens: TokenSource, seconds: number, rate = 0): Promise<RoundFigures> {
  const latencies: number[] = []
  const watched = id.startsWith('hallpass')
  const before = watched ? metricsOf(await serviceMetrics(service.child), id) : undefined
  const cpu0 = await childCpu(service.child)
  const load0 = process.cpuUsage()
  const wall0 = process.hrtime.bigint()
  const run = autocannon({
    url: service.base,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    timeout: 30,
    ...(rate > 0 ? { overallRate: rate } : {}),
    setupClient: (client) => {
      const next = tokens.connection()
      client.setRequests([{
        method: 'GET',
        path,
        setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: next() } }),
      }])
    },
  })
  run.on('response', (_client, status, _bytes, milliseconds) => {
    if (status >= 200 && status < 300) latencies.push(milliseconds)
  })
  const result = await run
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9
  const load = process.cpuUsage(load0)
  const cpu1 = await childCpu(service.child)
  const after = watched ? metricsOf(await serviceMetrics(service.child), id) : undefined
  const ok = result['2xx']
  const responses = ok + result.non2xx
  return {
    ok,
    failed: result.non2xx + result.errors,
    seconds: wall,
    reqPerSec: ok / wall,
    p99Ms: quantile(latencies.sort((a, b) => a - b), 0.99),
    cpuMicros: responses > 0 ? (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / responses : Number.NaN,
    userMicros: responses > 0 ? (cpu1.user - cpu0.user) / responses : Number.NaN,
    loadCpuPercent: (load.user + load.system) / (wall * 1e4),
    hits: before?.cache && after?.cache ? after.cache.hits - before.cache.hits : undefined,
    misses: before?.cache && after?.cache ? after.cache.misses - before.cache.misses : undefined,
  }
}

interface ContenderFigures {
  readonly id: ContenderId
  readonly rounds: RoundFigures[]
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

function sum(values: readonly (number | undefined)[]): number | undefined {
  return values.some((v) => v === undefined) ? undefined : values.reduce<number>((a, b) => a + b!, 0)
}

/**
 * Runs every contender of one case in interleaved rounds (after one unmeasured warm-up each),
 * as fast as the server answers, or all at the same fixed `rate` (requests per second).
 */
async function runCase(
  service: Service,
  source: (id: ContenderId) => TokenSource,
  plan: Plan,
  log: (line: string) => void,
  label: string,
  rate = 0,
): Promise<ContenderFigures[]> {
  const figures: ContenderFigures[] = CONTENDERS.map(({ id }) => ({ id, rounds: [] }))
  for (const { id, path } of CONTENDERS) await drive(service, id, path, source(id), plan.warmupSeconds, rate)
  for (let round = 0; round < plan.rounds; round++) {
    const parts: string[] = []
    for (let k = 0; k < CONTENDERS.length; k++) {
      const index = (round + k) % CONTENDERS.length
      const { id, path } = CONTENDERS[index]!
      const measured = await drive(service, id, path, source(id), plan.roundSeconds, rate)
      figures[index]!.rounds.push(measured)
      parts.push(`${id} ${Math.round(measured.reqPerSec)}`)
      if (measured.failed > 0) log(`verify: ${label} ${id}: WARNING ${measured.failed} failed requests (non-2xx or socket errors)`)
    }
    log(`verify: ${label} round ${round + 1}/${plan.rounds}: ${parts.join(', ')} req/s`)
  }
  return figures
}

// ---------------------------------------------------------------------------------------------
// In-process figures: the bare signature check, and the denylist's memory.

/** Bare signature check of each pool token (the baseline), and hallpass's in-process verify on the same tokens. */
async function measureBareCheck(material: AlgMaterial, options: SectionOptions): Promise<ContenderResult[]> {
  const tokens = material.distinct.slice(0, 4096).map((header) => header.slice('Bearer '.length))
  const parts = tokens.map((token) => {
    const dot = token.lastIndexOf('.')
    return { input: token.slice(0, dot), signature: Buffer.from(token.slice(dot + 1), 'base64url') }
  })
  const keyObject: KeyObject = material.alg === 'HS256' ? material.key.keyObject : material.key.publicKey!
  const bare =
    material.alg === 'HS256'
      ? (i: number): boolean => {
          const { input, signature } = parts[i % parts.length]!
          const mac = createHmac('sha256', keyObject).update(input).digest()
          return mac.length === signature.length && timingSafeEqual(mac, signature)
        }
      : (i: number): boolean => {
          const { input, signature } = parts[i % parts.length]!
          return cryptoVerify('sha256', Buffer.from(input, 'latin1'), { key: keyObject, dsaEncoding: 'ieee-p1363' }, signature)
        }
  for (let i = 0; i < parts.length; i++) if (!bare(i)) throw new Error(`bare ${material.alg} check refused a bench token`)
  const keys = material.alg === 'HS256' ? { keys: material.key } : { jwks: { keys: [exportPublicJwk(material.key)] } }
  const uncached = await createVerifier({ issuer: ISSUER, audience: AUDIENCE, ...keys, revocation: false, cache: false })
  const cached = await createVerifier({ issuer: ISSUER, audience: AUDIENCE, ...keys, revocation: false, cache: { maxEntries: 1024 } })
  try {
    // 4096 tokens through a 1024-entry cache, in order: every verify misses (and fills the cache).
    return await runInterleaved(
      [
        { name: 'bare signature check', run: bare },
        { name: 'hallpass verify, no cache', run: (i) => uncached.verify(tokens[i % tokens.length]!) },
        { name: 'hallpass verify, cache miss', run: (i) => cached.verify(tokens[i % tokens.length]!) },
      ],
      { rounds: options.quick ? 5 : 40, warmupRounds: options.quick ? 1 : 4, batchMs: options.quick ? 2 : 8, clock: 'cpu' },
    )
  } finally {
    await uncached.close()
    await cached.close()
  }
}

/**
 * The verify cost of an encrypted token against the plain one, in this process (CPU time):
 * without a cache (every token opened and verified) and with a cache hit (the same token again).
 */
async function measureEncryptedVerify(material: AlgMaterial, options: SectionOptions): Promise<ContenderResult[]> {
  const strip = (pool: readonly string[]): string[] => pool.slice(0, 2048).map((header) => header.slice('Bearer '.length))
  const plain = strip(material.distinct)
  const dir = strip(material.encrypted.dir.distinct)
  const ecdh = strip(material.encrypted.ecdh.distinct)
  const keys = material.alg === 'HS256' ? { keys: material.key } : { jwks: { keys: [exportPublicJwk(material.key)] } }
  const base = { issuer: ISSUER, audience: AUDIENCE, ...keys, revocation: false as const }
  const verifiers = await Promise.all([
    createVerifier({ ...base, cache: false }),
    createVerifier({ ...base, cache: false, decryption: { keys: [material.decryptionKeys.dir] } }),
    createVerifier({ ...base, cache: false, decryption: { keys: [material.decryptionKeys.ecdh] } }),
    createVerifier({ ...base }),
    createVerifier({ ...base, decryption: { keys: [material.decryptionKeys.dir] } }),
    createVerifier({ ...base, decryption: { keys: [material.decryptionKeys.ecdh] } }),
  ])
  const [plainNoCache, dirNoCache, ecdhNoCache, plainCached, dirCached, ecdhCached] = verifiers
  // The cache admits a token on its second sighting: show each one token twice first.
  for (const [verifier, token] of [[plainCached, plain[0]], [dirCached, dir[0]], [ecdhCached, ecdh[0]]] as const) {
    verifier.verify(token!)
    verifier.verify(token!)
  }
  try {
    return await runInterleaved(
      [
        { name: 'plain, no cache', run: (i) => plainNoCache.verify(plain[i % plain.length]!) },
        { name: 'dir, no cache', run: (i) => dirNoCache.verify(dir[i % dir.length]!) },
        { name: 'ECDH-ES P-256, no cache', run: (i) => ecdhNoCache.verify(ecdh[i % ecdh.length]!) },
        { name: 'plain, cache hit', run: () => plainCached.verify(plain[0]!) },
        { name: 'dir, cache hit', run: () => dirCached.verify(dir[0]!) },
        { name: 'ECDH-ES P-256, cache hit', run: () => ecdhCached.verify(ecdh[0]!) },
      ],
      { rounds: options.quick ? 5 : 40, warmupRounds: options.quick ? 1 : 4, batchMs: options.quick ? 2 : 8, clock: 'cpu' },
    )
  } finally {
    await Promise.all(verifiers.map((verifier) => verifier.close()))
  }
}

/**
 * Heap of a verifier's denylist holding `DENYLIST_ENTRIES` revoked sessions received over a
 * real SSE feed (served from this process, which keeps no log of what it sent), as
 * `test/verify/revocation-feed.test.ts` measures it: heap after GC, before and after.
 */
async function measureDenylist(): Promise<{ megabytes: number; gc: boolean }> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  const settle = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      gc?.()
    }
    return process.memoryUsage().heapUsed
  }
  const streams = new Set<ServerResponse>()
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    // An empty snapshot: the revocations follow as live events.
    res.write('retry: 1000\n\nevent: ready\ndata: {"snapshot":true,"entries":0}\n\n')
    streams.add(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/revocations`
  const key = generateKey('ES256', { kid: 'denylist' })
  const verifier = await createVerifier({ issuer: ISSUER, keys: key, revocation: { feedUrl }, logger: false })
  try {
    for (const started = Date.now(); !verifier.health().feed.connected; ) {
      if (Date.now() - started > 10_000) throw new Error('the denylist feed did not connect')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const before = await settle()
    const exp = Math.floor(Date.now() / 1000) + 3600
    // Session ids as the server makes them: 16 random bytes, base64url (22 characters). Written
    // in chunks, so the strings on this side become garbage as they go.
    for (let sent = 0; sent < DENYLIST_ENTRIES; ) {
      let chunk = ''
      for (const end = Math.min(DENYLIST_ENTRIES, sent + 1000); sent < end; sent++) {
        chunk += `id: ${sent + 1}\nevent: revocation\ndata: {"sid":"${randomBytes(16).toString('base64url')}","exp":${exp}}\n\n`
      }
      for (const res of streams) res.write(chunk)
    }
    for (const started = Date.now(); verifier.health().feed.denylistSize < DENYLIST_ENTRIES; ) {
      if (Date.now() - started > 60_000) throw new Error(`the denylist holds ${verifier.health().feed.denylistSize} of ${DENYLIST_ENTRIES} entries`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const after = await settle()
    return { megabytes: (after - before) / 1024 / 1024, gc: gc !== undefined }
  } finally {
    await verifier.close()
    for (const res of streams) res.destroy()
    server.closeAllConnections()
    server.close()
  }
}

// ---------------------------------------------------------------------------------------------
// The section.

function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1)
}

function percent(ratio: number): string {
  return Number.isFinite(ratio) ? `${(100 * ratio).toFixed(1)}%` : 'n/a'
}

interface CaseSummary {
  readonly framework: Framework
  readonly alg: Alg
  readonly case: Case
  readonly rows: ResultRow[]
  /** Per contender: median kept fraction of the unprotected rate, median added CPU µs/request. */
  readonly kept: ReadonlyMap<ContenderId, number>
  readonly addedCpu: ReadonlyMap<ContenderId, number>
  /** The same, user-mode CPU only. */
  readonly addedUser: ReadonlyMap<ContenderId, number>
}

function summarize(framework: Framework, alg: Alg, kase: Case, figures: readonly ContenderFigures[]): CaseSummary {
  const open = figures[0]!.rounds
  const kept = new Map<ContenderId, number>()
  const addedCpu = new Map<ContenderId, number>()
  const addedUser = new Map<ContenderId, number>()
  const rows = figures.map(({ id, rounds }): ResultRow => {
    // Paired with the unprotected route's round: drift between rounds cancels.
    const keptRatio = median(rounds.map((r, i) => r.reqPerSec / open[i]!.reqPerSec))
    const added = median(rounds.map((r, i) => r.cpuMicros - open[i]!.cpuMicros))
    const addedUserMicros = median(rounds.map((r, i) => r.userMicros - open[i]!.userMicros))
    addedUser.set(id, addedUserMicros)
    kept.set(id, keptRatio)
    addedCpu.set(id, added)
    const reqPerSec = median(rounds.map((r) => r.reqPerSec))
    const cpuMicros = median(rounds.map((r) => r.cpuMicros))
    const userMicros = median(rounds.map((r) => r.userMicros))
    const hits = sum(rounds.map((r) => r.hits))
    const misses = sum(rounds.map((r) => r.misses))
    const p99 = median(rounds.map((r) => r.p99Ms))
    const wallNs = 1e9 / reqPerSec
    const perRoundNs = rounds.map((r) => 1e9 / r.reqPerSec).sort((a, b) => a - b)
    const failed = rounds.reduce((a, r) => a + r.failed, 0)
    return {
      labels: {
        framework: FRAMEWORK_NAMES[framework],
        alg,
        case: kase,
        'req/s': Math.round(reqPerSec).toLocaleString('en-US'),
        'of unprotected': percent(keptRatio),
        'p99 ms': formatMs(p99),
        'srv cpu µs/req': cpuMicros.toFixed(0),
        'user': userMicros.toFixed(0),
        '+cpu': id === 'unprotected' ? '' : added.toFixed(1),
        '+user': id === 'unprotected' ? '' : addedUserMicros.toFixed(1),
        'cache hits/misses': hits === undefined ? '' : `${hits}/${misses}`,
        'lg cpu': `${median(rounds.map((r) => r.loadCpuPercent)).toFixed(0)}%`,
        failed: String(failed),
      },
      contender: contenderName(framework, alg, id),
      clock: 'wall',
      medianNs: wallNs,
      p25Ns: quantile(perRoundNs, 0.25),
      p75Ns: quantile(perRoundNs, 0.75),
      opsPerSec: reqPerSec,
      // As in the harness: time per request over the unprotected route's (1 / kept).
      ratio: 1 / keptRatio,
      wallMedianNs: wallNs,
      // Not a per-op median of the harness: the service's CPU time per response, median of rounds.
      cpuMedianNs: cpuMicros * 1000,
      rounds: rounds.length,
      batch: Math.round(median(rounds.map((r) => r.ok))),
      // Figures beyond the harness's row, for --json.
      connections: CONNECTIONS,
      keptOfUnprotected: keptRatio,
      userCpuMicrosPerRequest: userMicros,
      addedCpuMicrosPerRequest: id === 'unprotected' ? 0 : added,
      addedUserCpuMicrosPerRequest: id === 'unprotected' ? 0 : addedUserMicros,
      p99Ms: p99,
      cacheHits: hits,
      cacheMisses: misses,
      failed,
      perRound: rounds,
    } as ResultRow
  })
  return { framework, alg, case: kase, rows, kept, addedCpu, addedUser }
}

async function run(options: SectionOptions): Promise<SectionResult> {
  const { log } = options
  const plan = options.quick ? QUICK : FULL
  if (options.clock === 'cpu') log('verify: wall clock throughput (--clock cpu does not apply; the service CPU per request is its own column)')
  const filter = options.filter?.toLowerCase()
  const wanted = (framework: Framework, alg: Alg, kase: Case): boolean =>
    filter === undefined || `${framework} ${alg} ${kase}`.toLowerCase().includes(filter)

  const rows: ResultRow[] = []
  const targets: TargetResult[] = []
  const ratios: Record<string, number> = {}

  // Memory first, while this process holds no token pools.
  const wantMemory = filter === undefined || 'denylist memory'.includes(filter)
  if (wantMemory) {
    log(`verify: denylist memory with ${DENYLIST_ENTRIES.toLocaleString('en-US')} revoked sessions`)
    const { megabytes, gc } = await measureDenylist()
    log(`verify: denylist: ${megabytes.toFixed(1)} MB heap${gc ? ' (after gc)' : ' (no gc: includes garbage)'}`)
    targets.push({
      name: `denylist of ${DENYLIST_ENTRIES.toLocaleString('en-US')} revoked sessions: ${megabytes.toFixed(1)} MB heap ≤ ${DENYLIST_TARGET_MB} MB (ratio = share of the budget)`,
      limit: 1,
      ratio: megabytes / DENYLIST_TARGET_MB,
      pass: megabytes <= DENYLIST_TARGET_MB,
    })
  }

  for (const alg of ALGS) {
    const frameworks = FRAMEWORKS.filter((f) => CASES.some((c) => wanted(f, alg, c)))
    if (frameworks.length === 0) continue
    log(`verify: ${alg}: signing ${REUSE_POOL} + ${plan.distinctPool.toLocaleString('en-US')} tokens`)
    const material = makeMaterial(alg, plan.distinctPool)

    const bare = await measureBareCheck(material, options)
    const bareNs = bare[0]!.cpuMedianNs
    for (const result of bare) rows.push({ ...result, labels: { framework: 'in-process', alg, case: 'cpu per verify' } })
    log(`verify: ${alg}: bare signature check ${(bareNs / 1000).toFixed(2)} µs CPU; hallpass verify ${(bare[1]!.cpuMedianNs / 1000).toFixed(2)} µs (no cache), ${(bare[2]!.cpuMedianNs / 1000).toFixed(2)} µs (cache miss)`)

    const encrypted = await measureEncryptedVerify(material, options)
    for (const result of encrypted) rows.push({ ...result, labels: { framework: 'in-process', alg, case: 'encrypted verify, cpu' } })
    log(`verify: ${alg}: encrypted verify vs plain (no cache): ${encrypted.slice(1, 3).map((r) => `${r.contender} ${r.ratio.toFixed(2)}×`).join(', ')}; cache hits: ${encrypted.slice(3).map((r) => `${r.contender} ${(r.cpuMedianNs / 1000).toFixed(2)} µs`).join(', ')}`)
    for (const result of encrypted.slice(1)) ratios[`in-process ${alg} verify ${result.contender} vs plain, no cache`] = result.ratio

    for (const framework of frameworks) {
      const service = await startService(framework, material)
      try {
        await checkRoutes(service, material)
        // One token sequence per contender for both distinct passes: nothing repeats in between.
        const distinctCursors = new Map<ContenderId, { next: number }>()
        let distinctRate: number | undefined
        for (const kase of CASES) {
          if (!wanted(framework, alg, kase)) continue
          const label = `${framework} ${alg} ${kase}`
          // The CPU pass runs every contender at the same load: 80% of the slowest one's
          // throughput in the distinct pass (or a fixed guess when that pass was filtered out).
          const rate = kase === 'distinct-cpu' ? Math.max(200, Math.round(0.8 * (distinctRate ?? 2000))) : 0
          log(`verify: ${label}: ${plan.rounds} rounds × ${CONTENDERS.length} contenders × ${plan.roundSeconds} s, ${CONNECTIONS} connections${rate > 0 ? `, ${rate} req/s each` : ''}`)
          const source = kase === 'reuse'
            ? reuseSource((id) => poolOf(material, id, 'reuse'))
            : distinctSource((id) => poolOf(material, id, 'distinct'), distinctCursors)
          const figures = await runCase(service, source, plan, log, label, rate)
          const summary = summarize(framework, alg, kase, figures)
          rows.push(...summary.rows)
          if (kase === 'distinct') distinctRate = Math.min(...summary.rows.map((r) => r.opsPerSec))
          for (const { id } of CONTENDERS.slice(1)) {
            ratios[`${FRAMEWORK_NAMES[framework]} ${alg} ${kase} ${contenderName(framework, alg, id)}`] = summary.kept.get(id)!
          }
          const mostPerRound = Math.max(...figures.flatMap((f) => f.rounds.map((r) => r.ok)))
          if (kase !== 'reuse' && mostPerRound >= material.distinct.length) {
            log(`verify: ${label}: WARNING a round made ${mostPerRound} requests, more than the ${material.distinct.length} distinct tokens`)
          }
          for (const id of ['hallpass', 'hallpass+revocation', 'hallpass (dir)', 'hallpass (ECDH-ES)'] as const) {
            const row = summary.rows.find((r) => r.contender === id)!
            if (id.includes('(')) {
              // Encrypted tokens: figures to quote next to the plain row, no target.
              if (kase !== 'reuse' && row.labels['cache hits/misses']?.startsWith('0/') !== true) {
                log(`verify: ${label} ${id}: WARNING the distinct case had cache hits (${row.labels['cache hits/misses']})`)
              }
              continue
            }
            if (kase === 'reuse') {
              const kept = summary.kept.get(id)!
              targets.push({
                name: `${FRAMEWORK_NAMES[framework]} ${alg} reuse: ${id} keeps ≥ ${REUSE_TARGETS[alg]} of the unprotected req/s`,
                limit: REUSE_TARGETS[alg],
                ratio: kept,
                pass: kept >= REUSE_TARGETS[alg],
              })
            } else if (row.labels['cache hits/misses']?.startsWith('0/') !== true) {
              log(`verify: ${label} ${id}: WARNING the distinct case had cache hits (${row.labels['cache hits/misses']})`)
            }
            if (kase === 'distinct-cpu') {
              // Both sides measured in the service, in the same rounds, at the same load: the
              // in-process bare check (bareNs) runs without autocannon beside it and is cheaper.
              const added = summary.addedCpu.get(id)!
              const bareAdded = summary.addedCpu.get('bare signature')!
              const ratio = added / bareAdded
              targets.push({
                name: `${FRAMEWORK_NAMES[framework]} ${alg} distinct, equal load: ${id} added CPU/request (${added.toFixed(1)} µs) ≤ ${CPU_TARGET}× the bare signature route's (${bareAdded.toFixed(1)} µs; in-process ${(bareNs / 1000).toFixed(1)} µs)`,
                limit: CPU_TARGET,
                ratio,
                pass: ratio <= CPU_TARGET,
              })
            }
          }
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}\nservice stderr:\n${service.stderr()}`, { cause: error })
      } finally {
        await stopChild(service.child)
      }
    }
  }
  return { section: 'verify', clock: 'wall', results: rows, ratios, targets }
}

/** The registry entry for `bench/run.ts`. */
export const verifySection: BenchSection = {
  name: 'verify',
  description: 'Fastify and Express routes protected by hallpass vs @fastify/jwt / express-jwt under autocannon (HS256, ES256; token reuse and distinct tokens)',
  run,
}
