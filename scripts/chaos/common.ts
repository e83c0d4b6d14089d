/**
 * @module scripts/chaos/common
 *
 * What the chaos scenarios share: a scratch store per run (SQLite in a temp dir, PostgreSQL in a
 * fresh schema, Redis under a fresh key prefix, dropped afterwards), session servers in child
 * processes (scripts/chaos/server-child.ts through bench/child-process.ts), HTTP calls timed
 * and classified, refresh-token parsing, and the report every scenario returns: its figures and
 * the checks that must hold, each with what was seen.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import pg from 'pg'
import { cleanEnv, startChild, stopChild, type BenchChild } from '../../bench/child-process.ts'
import { deleteRedisPrefix } from '../../packages/server/test/harness.ts'
import { openStore } from '../../packages/server/src/store-drivers.ts'
import { checkPostgres, checkRedis, postgresUrl, redisUrl } from '../../test/helpers/services.ts'
import type { SessionRecord } from 'hallpass'

export type StoreKind = 'sqlite' | 'postgres' | 'redis'
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres', 'redis']

export const CHAOS_USERNAME = 'chaos'
export const CHAOS_PASSWORD = 'chaos password, not a secret'
const ASK_TIMEOUT_MS = 60_000
const SERVER_CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url))

// ---------------------------------------------------------------------------------------------
// Reports

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface Report {
  readonly scenario: string
  readonly store: StoreKind
  readonly mode: 'short' | 'full'
  readonly startedAt: string
  readonly seconds: number
  readonly figures: Record<string, unknown>
  readonly checks: readonly Check[]
}

/** Collects checks as they are made. */
export class Checks {
  readonly list: Check[] = []
  add(name: string, ok: boolean, detail = ''): void {
    this.list.push({ name, ok, detail })
  }
}

/** The report of a run that started at `startedAt`. */
export function makeReport(scenario: string, store: StoreKind, mode: 'short' | 'full', startedAt: Date, figures: Record<string, unknown>, checks: Checks): Report {
  return { scenario, store, mode, startedAt: startedAt.toISOString(), seconds: Math.round((Date.now() - startedAt.getTime()) / 1000), figures, checks: checks.list }
}

/** Undefined when the store can be used here, else why not. */
export async function storeSkipReason(kind: StoreKind): Promise<string | undefined> {
  return kind === 'sqlite' ? undefined : kind === 'postgres' ? checkPostgres() : checkRedis()
}

// ---------------------------------------------------------------------------------------------
// Scratch stores

export interface ScratchStore {
  readonly kind: StoreKind
  readonly databaseUrl: string
  readonly dataDir: string
  /** Rows (SQL) or keys (Redis) per table or key kind. */
  sizes(): Promise<Record<string, number>>
  /** The stored record of each session (undefined when absent), read straight from the store. */
  sessions(ids: readonly string[]): Promise<Map<string, SessionRecord | undefined>>
  drop(): Promise<void>
}

export function createScratchStore(kind: StoreKind, scratchRoot = tmpdir()): ScratchStore {
  const dataDir = mkdtempSync(join(scratchRoot, 'hallpass-chaos-'))
  const id = randomBytes(6).toString('hex')
  const removeDir = (): void => rmSync(dataDir, { recursive: true, force: true })
  let databaseUrl: string
  let sizes: () => Promise<Record<string, number>>
  let drop: () => Promise<void>
  switch (kind) {
    case 'sqlite': {
      const path = join(dataDir, 'hallpass.db')
      databaseUrl = `sqlite:${path}`
      sizes = () => {
        const db = new Database(path, { readonly: true, fileMustExist: true })
        try {
          const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'hallpass_%'").all() as { name: string }[]
          return Promise.resolve(Object.fromEntries(tables.map(({ name }) => [name.replace(/^hallpass_/, ''), (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n])))
        } finally {
          db.close()
        }
      }
      drop = () => Promise.resolve(removeDir())
      break
    }
    case 'postgres': {
      const schema = `hp_chaos_${id}`
      const url = new URL(postgresUrl())
      url.searchParams.set('schema', schema)
      databaseUrl = url.toString()
      const withClient = async <T>(use: (client: pg.Client) => Promise<T>): Promise<T> => {
        const client = new pg.Client({ connectionString: postgresUrl() })
        client.on('error', () => undefined)
        await client.connect()
        try {
          return await use(client)
        } finally {
          await client.end()
        }
      }
      sizes = () =>
        withClient(async (client) => {
          const tables = (await client.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).rows
          const out: Record<string, number> = {}
          for (const { table_name: name } of tables) out[name] = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"."${name}"`)).rows[0]!.n)
          return out
        })
      drop = async () => {
        await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
        removeDir()
      }
      break
    }
    case 'redis': {
      const prefix = `hpchaos:${id}:`
      const url = new URL(redisUrl())
      url.searchParams.set('prefix', prefix)
      databaseUrl = url.toString()
      sizes = async () => {
        const client = new Redis(redisUrl(), { maxRetriesPerRequest: 2 })
        client.on('error', () => undefined)
        try {
          const out: Record<string, number> = {}
          let cursor = '0'
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
            cursor = next
            for (const key of keys) {
              const kind = /:(\w+)$/.exec(key.slice(prefix.length))?.[1] ?? 'session'
              out[kind] = (out[kind] ?? 0) + 1
            }
          } while (cursor !== '0')
          return out
        } finally {
          client.disconnect()
        }
      }
      drop = async () => {
        await deleteRedisPrefix(prefix)
        removeDir()
      }
      break
    }
  }
  return {
    kind,
    databaseUrl,
    dataDir,
    sizes: () => sizes(),
    async sessions(ids) {
      const opened = await openStore(databaseUrl)
      try {
        const out = new Map<string, SessionRecord | undefined>()
        for (const id of ids) out.set(id, await opened.store.getSession(id))
        return out
      } finally {
        await opened.close()
      }
    },
    drop: () => drop(),
  }
}

// ---------------------------------------------------------------------------------------------
// Session servers in child processes

export interface ChildServer {
  readonly base: string
  readonly port: number
  readonly child: ChildProcess
  /** Memory, heap and event-loop figures (the loop histogram restarts at each call). */
  stats(): Promise<ChildStats>
  /** Sends an IPC request and waits for the answer carrying the same `op`. */
  ask(message: { op: string; [key: string]: unknown }): Promise<Record<string, unknown>>
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>
  stop(): Promise<void>
}

export interface ChildStats {
  memory: NodeJS.MemoryUsage
  heap: Record<string, number>
  code: Record<string, number>
  spaces: Record<string, number>
  loop: { meanMs: number; p99Ms: number; maxMs: number }
  purged: number
  errors: string[]
}

export interface ChildServerOptions {
  readonly store: ScratchStore
  readonly secret: string
  readonly adminKey: string
  /** The port (a restart keeps it, so the issuer stays valid); default any free one. */
  readonly port?: number
  readonly issuer?: string
  /** More HALLPASS_* / CHAOS_* variables. */
  readonly env?: Record<string, string>
  readonly nodeArgs?: readonly string[]
}

export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const env = cleanEnv({
    HALLPASS_DATABASE_URL: options.store.databaseUrl,
    HALLPASS_DATA_DIR: options.store.dataDir,
    HALLPASS_SECRET: options.secret,
    HALLPASS_ADMIN_API_KEY: options.adminKey,
    HALLPASS_HOST: '127.0.0.1',
    HALLPASS_PORT: String(options.port ?? 0),
    HALLPASS_DEMO_USER: 'false',
    HALLPASS_UI: 'false',
    HALLPASS_LOG_LEVEL: 'silent',
    ...(options.issuer !== undefined ? { HALLPASS_ISSUER: options.issuer } : {}),
    CHAOS_USERNAME,
    CHAOS_PASSWORD,
    ...options.env,
  })
  const started: BenchChild = await startChild(SERVER_CHILD, env, 'the chaos server', options.nodeArgs)
  const { child } = started
  const ask = (message: { op: string }): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage)
        reject(new Error(`the chaos server did not answer ${message.op}`))
      }, ASK_TIMEOUT_MS)
      function onMessage(answer: unknown): void {
        if ((answer as { op?: unknown } | null)?.op !== message.op) return
        clearTimeout(timer)
        child.off('message', onMessage)
        resolve(answer as Record<string, unknown>)
      }
      child.on('message', onMessage)
      child.send(message)
    })
  return {
    base: started.base,
    port: Number(new URL(started.base).port),
    child,
    ask,
    stats: async () => (await ask({ op: 'stats' })) as unknown as ChildStats,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await exited
    },
    stop: () => stopChild(child),
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Answer {
  /** When the answer arrived (ms since the epoch). */
  readonly at: number
  readonly ms: number
  /** The HTTP status, or 0 when the connection failed (a killed server). */
  readonly status: number
  readonly retryAfter: string | null
  readonly body: Record<string, unknown> | undefined
}

/** A JSON POST (or GET without `json`), timed; a failed connection is status 0, not a throw. */
export async function call(base: string, path: string, init: { json?: unknown; bearer?: string; method?: string; timeoutMs?: number } = {}): Promise<Answer> {
  const start = Date.now()
  const headers: Record<string, string> = {}
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`
  try {
    const res = await fetch(base + path, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    })
    const text = await res.text()
    let body: Record<string, unknown> | undefined
    try {
      body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>)
    } catch {
      body = undefined
    }
    return { at: Date.now(), ms: Date.now() - start, status: res.status, retryAfter: res.headers.get('retry-after'), body }
  } catch {
    return { at: Date.now(), ms: Date.now() - start, status: 0, retryAfter: null, body: undefined }
  }
}

/** `hprt_<sid>.<generation>.<secret>.<tag>`: the session id and generation of a refresh token. */
export function parseRefreshToken(token: string): { sid: string; generation: number } {
  const match = /^hprt_([^.]+)\.(\d+)\./.exec(token)
  if (match === null) throw new Error('not a hallpass refresh token')
  return { sid: match[1]!, generation: Number(match[2]) }
}

/** Counts of each status, as `{ "200": n, "503": m }`. */
export function countStatuses(answers: readonly Answer[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1
  return out
}

export function maxOf(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(m, v), 0)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function randomSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** For the short forms under node:test: the figures as a diagnostic, then every check asserted. */
export function assertReport(t: { diagnostic(message: string): void }, report: Report): void {
  t.diagnostic(`${report.scenario} on ${report.store}: ${JSON.stringify(report.figures)}`)
  const failed = report.checks.filter((c) => !c.ok)
  assert.deepEqual(failed, [], `${report.scenario} on ${report.store}: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`)
}
