/**
 * @module @hallpass/server
 *
 * The stores the server can run on, one driver each: the URL schemes it answers to and how it
 * opens the session store, the user table and the rate limiter that fits it. A new store is a
 * new entry here (and its `hallpass/stores/<kind>` module); the config schema, `hallpass serve`
 * and `hallpass users` find it through this list. Drivers are imported when a store is opened,
 * so `pg` and `ioredis` are needed only by those who use them.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigInvalid } from 'hallpass/errors'
import type { SessionStore } from 'hallpass'
import type { UserStore } from 'hallpass/users'
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate-limit.ts'

export type StoreKind = 'sqlite' | 'postgres' | 'redis'

export interface OpenedStore {
  readonly store: SessionStore
  readonly users: UserStore
  readonly limiter: RateLimiter
  readonly kind: StoreKind
  /** The SQLite file (absolute), when the store is one: one process serves it. */
  readonly file?: string
  close(): Promise<void>
}

export interface OpenStoreOptions {
  /** Receives what the store reports outside any call (SQLite and Redis). */
  onError?: (error: unknown) => void
  /**
   * Refuse to create a store that does not exist yet (an SQLite file): what the commands that
   * only read or change existing users want, so a wrong directory is an error, not a new, empty
   * database. Default false.
   */
  mustExist?: boolean
}

export interface StoreDriver {
  readonly kind: StoreKind
  /** URL prefixes this driver opens. */
  readonly schemes: readonly string[]
  open(url: string, options: OpenStoreOptions): Promise<OpenedStore>
}

const sqlite: StoreDriver = {
  kind: 'sqlite',
  schemes: ['sqlite:'],
  async open(url, { onError, mustExist = false }) {
    const path = url.slice('sqlite:'.length)
    if (path.length === 0) throw new ConfigInvalid('databaseUrl', 'sqlite: needs a file path, e.g. sqlite:./data/hallpass.db')
    if (path !== ':memory:') {
      if (!mustExist) mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 })
      else if (!existsSync(path)) {
        throw new ConfigInvalid('databaseUrl', `names ${resolve(path)}, which does not exist: run this where the server keeps its data (HALLPASS_DATA_DIR), or name its store with --config or HALLPASS_DATABASE_URL`)
      }
    }
    const { default: Database } = await importDriver(() => import('better-sqlite3'), 'better-sqlite3')
    const { createSqliteStore, createSqliteUserStore } = await import('hallpass/stores/sqlite')
    const database = new Database(path, { fileMustExist: mustExist })
    const store = createSqliteStore({ database, ...(onError !== undefined ? { onError } : {}) })
    return {
      store,
      users: createSqliteUserStore({ database }),
      limiter: createMemoryRateLimiter(),
      kind: 'sqlite',
      ...(path !== ':memory:' ? { file: resolve(path) } : {}),
      async close() {
        await store.close()
        database.close()
      },
    }
  },
}

const postgres: StoreDriver = {
  kind: 'postgres',
  schemes: ['postgres://', 'postgresql://'],
  async open(databaseUrl) {
    const { default: pg } = await importDriver(() => import('pg'), 'pg')
    const { createPostgresStore, createPostgresUserStore } = await import('hallpass/stores/postgres')
    const { url, value: schema } = takeQueryParameter(databaseUrl, 'schema')
    // Migrations wait for the migration lock (another instance may hold it) and may build an
    // index on a large table: they run on a pool of their own, without the timeouts below.
    const migrations = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 })
    migrations.on('error', () => undefined)
    let migrated: string
    try {
      const store = await createPostgresStore({ pool: migrations, ...(schema !== undefined ? { schema } : {}) })
      await createPostgresUserStore({ pool: migrations, schema: store.schema })
      await store.close()
      migrated = store.schema
    } finally {
      await migrations.end()
    }
    // Every request-path statement is bounded, so an outage (or a partition, where nothing
    // fails and nothing answers) is a 503 within STORE_TIMEOUT_MS, never a hang: connecting,
    // waiting for the answer (client side; the pool then drops the connection) and running
    // (server side, so an abandoned statement does not go on holding its locks).
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: STORE_TIMEOUT_MS,
      query_timeout: STORE_TIMEOUT_MS,
      statement_timeout: STORE_TIMEOUT_MS,
    })
    pool.on('error', () => undefined) // idle-client errors surface as failed queries instead
    // The hourly purge is one statement over whole tables (the audit trim ranks every row):
    // on a large database it needs longer than a request may take, so it has a connection of
    // its own, bounded by MAINTENANCE_TIMEOUT_MS instead.
    const maintenance = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: STORE_TIMEOUT_MS, query_timeout: MAINTENANCE_TIMEOUT_MS, statement_timeout: MAINTENANCE_TIMEOUT_MS })
    maintenance.on('error', () => undefined)
    try {
      const requests = await createPostgresStore({ pool, schema: migrated, migrate: false })
      const purger = await createPostgresStore({ pool: maintenance, schema: migrated, migrate: false })
      const store: SessionStore = {
        ...requests,
        purgeExpired: (now) => purger.purgeExpired(now),
        async close() {
          await purger.close()
          await requests.close()
        },
      }
      return {
        store,
        users: await createPostgresUserStore({ pool, schema: migrated, migrate: false }),
        limiter: createMemoryRateLimiter(),
        kind: 'postgres',
        async close() {
          await store.close()
          await Promise.all([pool.end(), maintenance.end()])
        },
      }
    } catch (error) {
      await Promise.all([pool.end(), maintenance.end()])
      throw error
    }
  },
}

const redis: StoreDriver = {
  kind: 'redis',
  schemes: ['redis://', 'rediss://'],
  async open(databaseUrl, { onError }) {
    const { Redis } = await importDriver(() => import('ioredis'), 'ioredis')
    const { createRedisStore, createRedisUserStore } = await import('hallpass/stores/redis')
    const { url, value: keyPrefix = 'hp:' } = takeQueryParameter(databaseUrl, 'prefix')
    const client = new Redis(url, REDIS_OUTAGE_OPTIONS)
    client.on('error', () => undefined)
    let store: SessionStore
    try {
      // Built before connecting, so a bad prefix is refused (by the store's own rule) at once.
      store = createRedisStore({ client, keyPrefix, ...(onError !== undefined ? { onError } : {}) })
      await client.connect()
    } catch (error) {
      client.disconnect()
      throw error
    }
    return {
      store,
      users: createRedisUserStore({ client, keyPrefix }),
      // Shared by every instance, so a burst spread over the load balancer is still counted.
      limiter: createRedisRateLimiter(client, `${keyPrefix}rl:`),
      kind: 'redis',
      async close() {
        await store.close()
        client.disconnect()
      },
    }
  },
}

/**
 * How long a store may take to answer one statement or command (and to connect) before the
 * request fails with ERR_STORE_UNAVAILABLE, a 503 with Retry-After: an outage is answered
 * fast and the client retries, instead of requests piling up behind a dead connection.
 */
export const STORE_TIMEOUT_MS = 2000

/** How long the periodic purge may run on PostgreSQL (a statement over whole tables). */
export const MAINTENANCE_TIMEOUT_MS = 5 * 60_000

/**
 * ioredis, set to fail fast during an outage and never run a command late. Its defaults queue
 * commands while disconnected (`enableOfflineQueue`) and send them once it reconnects, and
 * resend the commands that were in flight when the connection dropped
 * (`autoResendUnfulfilledCommands`): a refresh's rotation script, answered 503 long ago, would
 * then rotate the session after the client gave up on it, and the client's retry with the old
 * token would look like reuse. Those in-flight commands are also never rejected until the
 * reconnect succeeds (`maxRetriesPerRequest` only flushes the offline queue), which is how
 * requests hung for the whole outage. Here:
 * - no offline queue: while the connection is down every command is refused at once;
 * - no resend: a command that was in flight is lost (its caller got a 503), never replayed;
 * - `commandTimeout` bounds every command's wait, including those lost in flight;
 * - `socketTimeout` drops a connection that stops answering (a partition leaves it open and
 *   silent), so the next reconnect starts clean instead of pairing new commands with old replies;
 * - reconnects back off to at most one a second, so recovery is quick once the store is back.
 * `lazyConnect` lets the driver `await connect()` at startup: commands are sent only once the
 * connection is ready, since nothing would queue them before.
 */
const REDIS_OUTAGE_OPTIONS = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: STORE_TIMEOUT_MS,
  socketTimeout: STORE_TIMEOUT_MS,
  connectTimeout: STORE_TIMEOUT_MS,
  retryStrategy: (attempt: number): number => Math.min(50 * 2 ** attempt, 1000),
} as const

export const STORE_DRIVERS: readonly StoreDriver[] = Object.freeze([sqlite, postgres, redis])

/** Every URL prefix a store answers to, for the config schema and error messages. */
export const STORE_SCHEMES: readonly string[] = Object.freeze(STORE_DRIVERS.flatMap((driver) => driver.schemes))

/** The driver of a database URL; ERR_CONFIG_INVALID naming the schemes when none fits. */
export function storeDriverFor(databaseUrl: string): StoreDriver {
  const driver = STORE_DRIVERS.find((d) => d.schemes.some((scheme) => databaseUrl.startsWith(scheme)))
  if (driver === undefined) throw new ConfigInvalid('databaseUrl', `must start with ${STORE_SCHEMES.join(', ')}`)
  return driver
}

/** Opens the session store, the user table and the matching rate limiter for a database URL. */
export async function openStore(databaseUrl: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  return storeDriverFor(databaseUrl).open(databaseUrl, options)
}

/**
 * Imports a store's driver package; when it is not installed, says which one to install (the
 * PostgreSQL and Redis drivers are optional peers of this package).
 */
async function importDriver<T>(load: () => Promise<T>, name: string): Promise<T> {
  try {
    return await load()
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(`'${name}'`)) {
      throw new ConfigInvalid('databaseUrl', `needs the ${name} package, which is not installed: run \`npm install ${name}\``)
    }
    throw error
  }
}

/**
 * Reads and removes one query parameter of a store URL (`?schema=` for PostgreSQL, `?prefix=`
 * for Redis): several hallpass deployments (or test runs) can then share one database server
 * without sharing tables or keys. The drivers never see the parameter.
 */
function takeQueryParameter(databaseUrl: string, name: string): { url: string; value: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(databaseUrl)
  } catch {
    // Let the driver report its own parse error, without the URL (it may hold a password).
    return { url: databaseUrl, value: undefined }
  }
  const values = parsed.searchParams.getAll(name)
  if (values.length === 0) return { url: databaseUrl, value: undefined }
  if (values.length > 1) throw new ConfigInvalid(`databaseUrl ${name}`, 'must appear at most once')
  parsed.searchParams.delete(name)
  return { url: parsed.toString(), value: values[0] }
}
