// The options of `createPostgresStore`, checked once before any I/O.
import type { Client, Pool, PoolClient } from 'pg'
import { checkPositiveInteger } from '../../internal/options.ts'
import { ConfigInvalid } from '../../errors.ts'
import { checkSchema } from './schema.ts'

/** A client dedicated to the revocation feed: a pool client (released on stop) or a client (ended). */
export type PostgresListenClient = PoolClient | Client

export interface PostgresStoreOptions {
  /**
   * The application's pool. The store borrows connections and never ends it. Its timeouts are
   * yours: without `connectionTimeoutMillis` and `query_timeout` (and `statement_timeout` on the
   * server side), a network partition makes calls wait instead of failing with
   * ERR_STORE_UNAVAILABLE. `hallpass serve` bounds all three at 2 s, and migrates on a pool of
   * its own without them (the migration lock may wait for another instance).
   */
  readonly pool: Pool
  /** Schema holding the tables (created if missing). Lowercase identifier, at most 51 characters. */
  readonly schema?: string
  /**
   * Where the revocation feed gets its connection (default `pool.connect()`). It must resolve to
   * a connected client used by nothing else; the store releases or ends it. Use it to bypass a
   * transaction-pooling proxy (PgBouncer), where `LISTEN` does not work. Each live subscription
   * holds one such connection.
   */
  readonly listenClient?: () => Promise<PostgresListenClient>
  /** Run the migrations before resolving (default true). */
  readonly migrate?: boolean
  /** Audit events kept per subject; `purgeExpired` deletes older ones (default 1000). */
  readonly maxAuditEventsPerSubject?: number
}

export interface CheckedOptions {
  readonly pool: Pool
  readonly schema: string
  readonly listenClient: (() => Promise<PostgresListenClient>) | undefined
  readonly migrate: boolean
  readonly maxAuditEventsPerSubject: number
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['pool', 'schema', 'listenClient', 'migrate', 'maxAuditEventsPerSubject'])
const DEFAULT_MAX_AUDIT_EVENTS_PER_SUBJECT = 1000

export function checkOptions(options: unknown): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new ConfigInvalid(key, 'is not a known option')
  }
  const { pool, schema = 'hallpass', listenClient, migrate = true } = options as Partial<PostgresStoreOptions>
  checkPool(pool)
  checkSchema(schema)
  if (listenClient !== undefined && typeof listenClient !== 'function') throw new ConfigInvalid('listenClient', 'must be a function')
  if (typeof migrate !== 'boolean') throw new ConfigInvalid('migrate', 'must be a boolean')
  const maxAuditEventsPerSubject =
    checkPositiveInteger((options as Partial<PostgresStoreOptions>).maxAuditEventsPerSubject, 'maxAuditEventsPerSubject') ?? DEFAULT_MAX_AUDIT_EVENTS_PER_SUBJECT
  return { pool, schema, listenClient, migrate, maxAuditEventsPerSubject }
}

/** The `pool` option of both PostgreSQL stores. */
export function checkPool(pool: unknown): asserts pool is Pool {
  if (typeof pool !== 'object' || pool === null || typeof (pool as Partial<Pool>).query !== 'function' || typeof (pool as Partial<Pool>).connect !== 'function') {
    throw new ConfigInvalid('pool', 'must be a pg.Pool')
  }
}
