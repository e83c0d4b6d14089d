/**
 * @module hallpass/stores/postgres
 *
 * A `SessionStore` on PostgreSQL (11 or later) through an injected `pg.Pool`. Every operation is
 * one statement, so one round trip and one atomic step; revocations reach every server instance
 * through `LISTEN`/`NOTIFY`. The store never opens or ends the pool: the application owns it
 * (and should attach `pool.on('error', …)`, as with any `pg.Pool`, so that an idle connection
 * dropped by the server cannot crash the process).
 *
 * `createPostgresStore` is async because it runs the schema migrations first (versioned, in
 * `<schema>.schema_migrations`, under a transaction-level advisory lock, so instances starting
 * together migrate once). Pass `migrate: false` when the schema is managed elsewhere, and call
 * `store.migrate()` yourself.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { createPostgresStore } from 'hallpass/stores/postgres'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, keepAlive: true })
 * pool.on('error', () => {}) // idle-client errors: the pool replaces the connection
 * const store = await createPostgresStore({ pool, schema: 'hallpass' })
 * ```
 */
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type {
  RedeliverRefreshInput,
  RedeliverRefreshResult,
  RevokeSessionInput,
  RevokeSessionResult,
  RevokeSubjectInput,
  RotateRefreshInput,
  RotateRefreshResult,
  SessionStore,
  StoredKeyring,
} from '../../session/store.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { AuditEvent } from '../../session/types.ts'
import { checkRecentAuditQuery } from '../internal/recent-audit.ts'
import { auditFromJson, checkLimit, deviceUpdate, type NumberLike } from '../internal/rows.ts'
import { revocationFromPg, sessionFromPg, type PgRevocationRow, type PgSessionRow } from './codec.ts'
import { unavailable } from './errors.ts'
import { createFeedSubscriptions } from './feed-subscription.ts'
import { createPostgresFeed } from './feed.ts'
import { checkOptions, type PostgresStoreOptions } from './options.ts'
import { createQueries } from './query.ts'
import { inMigrationTransaction, migrateSessionTables, quoteIdent } from './schema.ts'
import { recentAuditStatement, sessionStatements } from './statements.ts'
import { decodeJson, decodeText, encodeJson, encodeNullableText, encodeText } from './text-escape.ts'

export type { PostgresListenClient, PostgresStoreOptions } from './options.ts'

/** The PostgreSQL store: a `SessionStore`, plus its schema and an explicit `migrate()`. */
export interface PostgresStore extends SessionStore {
  readonly schema: string
  /** Brings the schema to the current version; idempotent and safe to run concurrently. */
  migrate(): Promise<void>
}

const CHANNEL_SUFFIX = '_revocations'
/** Sessions stay revocable (and in the table) this long after their deadline. */
const PURGE_RETENTION_MS = 24 * 3600 * 1000

/**
 * Creates the PostgreSQL store on an injected pool and, unless `migrate: false`, migrates its
 * schema first. Rejects with `ERR_CONFIG_INVALID` for bad options (before any I/O) and with
 * `ERR_STORE_UNAVAILABLE` when the database cannot be reached.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { createPostgresStore } from 'hallpass/stores/postgres'
 *
 * const store = await createPostgresStore({ pool: new pg.Pool(), schema: 'auth' })
 * const stop = await store.subscribeRevocations((entry) => denylist.add(entry.sid, entry.exp))
 * ```
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const { pool, schema, listenClient, migrate: migrateFirst, maxAuditEventsPerSubject } = checkOptions(options)
  const S = quoteIdent(schema)
  // The schema's length limit keeps the channel within PostgreSQL's identifier limit (schema.ts).
  const channel = schema + CHANNEL_SUFFIX
  const feedLockKey = `hallpass:feed:${schema}`
  const sql = sessionStatements(S)
  const queries = createQueries(pool)
  const { execute, query } = queries
  const feed = createPostgresFeed(S, pool, queries)
  let closed = false
  const subscriptions = createFeedSubscriptions({ pool, listenClient, channel, feed, isClosed: () => closed })

  async function run<T>(op: string, work: () => Promise<T>): Promise<T> {
    if (closed) throw new StoreUnavailable(`postgres ${op}: the store is closed`)
    try {
      return await work()
    } catch (error) {
      throw unavailable(op, error)
    }
  }

  async function migrate(): Promise<void> {
    await run('migrate', () => inMigrationTransaction(pool, schema, (client) => migrateSessionTables(client, schema)))
  }

  const store: PostgresStore = {
    schema,
    migrate,

    createSession: (record, audit) =>
      run('createSession', async () => {
        await query(sql.createSession, [
          encodeText(record.id),
          encodeText(record.subject),
          record.createdAt,
          record.expiresAt,
          record.idleExpiresAt,
          record.lastSeenAt,
          record.generation,
          encodeText(record.refreshHash),
          encodeNullableText(record.previousHash),
          record.rotatedAt,
          record.revokedAt,
          encodeNullableText(record.revokeReason),
          encodeJson(record.device),
          encodeJson(record.claims),
          encodeNullableText(record.scope),
          record.audience === null ? null : encodeJson(record.audience),
          encodeText(audit.subject),
          audit.at,
          encodeJson(audit),
          record.maxAccessExp,
          encodeNullableText(record.undeliveredHash),
        ])
      }),

    getSession: (id) =>
      run('getSession', async () => {
        const [row] = await query<PgSessionRow>(sql.getSession, [encodeText(id)])
        return row === undefined ? undefined : sessionFromPg(row)
      }),

    rotateRefreshToken: (input: RotateRefreshInput) =>
      run('rotateRefreshToken', async (): Promise<RotateRefreshResult> => {
        // A generation that is not an integer cannot match; say so without asking the database
        // to parse it (that would be a 22P02 error, i.e. a 503 for a bad token).
        if (!Number.isSafeInteger(input.generation)) {
          return { rotated: false, session: await store.getSession(input.id) }
        }
        const [row] = await query<PgSessionRow & { rotated: boolean }>(sql.rotate, [
          encodeText(input.id),
          input.generation,
          encodeText(input.hash),
          encodeText(input.newHash),
          input.now,
          input.idleExpiresAt,
          encodeJson(deviceUpdate(input.device)),
          input.audit.at,
          encodeJson(input.audit),
          input.maxAccessExp,
        ])
        if (row === undefined) return { rotated: false, session: undefined }
        const session = sessionFromPg(row)
        return row.rotated ? { rotated: true, session } : { rotated: false, session }
      }),

    markUndelivered: (input) =>
      run('markUndelivered', async () => {
        if (!Number.isSafeInteger(input.generation) || (input.rotatedAt !== undefined && !Number.isSafeInteger(input.rotatedAt))) return false
        const result = await execute(sql.markUndelivered, [encodeText(input.id), input.generation, encodeText(input.hash), input.rotatedAt ?? null])
        return result.rowCount === 1
      }),

    redeliverRefreshToken: (input: RedeliverRefreshInput) =>
      run('redeliverRefreshToken', async (): Promise<RedeliverRefreshResult> => {
        // As in rotateRefreshToken: a generation that cannot match is not the database's to parse.
        if (!Number.isSafeInteger(input.generation)) return { redelivered: false, session: await store.getSession(input.id) }
        const [row] = await query<PgSessionRow & { redelivered: boolean }>(sql.redeliver, [
          encodeText(input.id),
          input.generation,
          encodeText(input.hash),
          input.now,
          input.idleExpiresAt,
          input.maxAccessExp,
        ])
        if (row === undefined) return { redelivered: false, session: undefined }
        const session = sessionFromPg(row)
        return row.redelivered ? { redelivered: true, session } : { redelivered: false, session }
      }),

    revokeSession: (input: RevokeSessionInput) =>
      run('revokeSession', async (): Promise<RevokeSessionResult> => {
        const [row] = await query<(PgRevocationRow & { revoked: true }) | { revoked: false }>(sql.revokeSession, [
          encodeText(input.id),
          input.now,
          encodeText(input.reason),
          input.feedExp,
          encodeText(input.audit.subject),
          input.audit.at,
          encodeJson(input.audit),
          feedLockKey,
          channel,
        ])
        if (row === undefined) return { revoked: false, why: 'not_found' }
        if (!row.revoked) return { revoked: false, why: 'already_revoked' }
        return { revoked: true, entry: revocationFromPg(row) }
      }),

    revokeSubjectSessions: (input: RevokeSubjectInput) =>
      run('revokeSubjectSessions', async () => {
        const rows = await query<PgRevocationRow>(sql.revokeSubject, [
          encodeText(input.subject),
          input.exceptId === undefined ? null : encodeText(input.exceptId),
          input.now,
          encodeText(input.reason),
          input.feedExp,
          feedLockKey,
          channel,
        ])
        return rows.map(revocationFromPg)
      }),

    listSessions: (subject, now) =>
      run('listSessions', async () => (await query<PgSessionRow>(sql.listSessions, [encodeText(subject), now])).map(sessionFromPg)),

    appendAudit: (event: AuditEvent) =>
      run('appendAudit', async () => {
        await query(sql.appendAudit, [encodeText(event.subject), event.at, encodeJson(event)])
      }),

    listAudit: (subject, limit) =>
      run('listAudit', async () => {
        const rows = await query<{ event: string }>(sql.listAudit, [encodeText(subject), checkLimit(limit)])
        return rows.map((row) => auditFromJson(decodeJson(row.event, 'audit event') as object))
      }),

    listRecentAudit: (options) =>
      run('listRecentAudit', async () => {
        const q = checkRecentAuditQuery(options)
        if (q.types?.length === 0) return []
        const params: unknown[] = []
        if (q.subject !== undefined) params.push(encodeText(q.subject))
        if (q.before !== undefined) params.push(q.before)
        if (q.types !== undefined) params.push(q.types)
        params.push(q.limit)
        const text = recentAuditStatement(S, { subject: q.subject !== undefined, before: q.before !== undefined, types: q.types !== undefined })
        const rows = await query<{ event: string }>(text, params)
        return rows.map((row) => auditFromJson(decodeJson(row.event, 'audit event') as object))
      }),

    readRevocations: (cursor, limit, minExp) => run('readRevocations', () => feed.read(cursor, limit, minExp)),

    headCursor: () => run('headCursor', () => feed.headCursor()),

    subscribeRevocations: (listener) => subscriptions.subscribe(listener),

    loadKeyring: () =>
      run('loadKeyring', async (): Promise<StoredKeyring | undefined> => {
        const [row] = await query<{ version: NumberLike; data: string }>(sql.loadKeyring, [])
        return row === undefined ? undefined : { version: Number(row.version), data: decodeText(row.data) }
      }),

    saveKeyring: (expectedVersion, data) =>
      run('saveKeyring', async () => {
        if (typeof data !== 'string') throw new SessionInputInvalid('data', 'must be a string')
        // A version that was never stored cannot match: refuse without writing.
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) return false
        // Two first saves race on the primary key (one inserts, the other does nothing); later
        // saves race on the row lock and re-check `version` after it (EvalPlanQual): one wins.
        const result =
          expectedVersion === 0
            ? await execute(sql.insertKeyring, [encodeText(data)])
            : await execute(sql.updateKeyring, [expectedVersion, encodeText(data)])
        return result.rowCount === 1
      }),

    purgeExpired: (now) =>
      run('purgeExpired', async () => {
        // Feed entries are kept FEED_EXP_MARGIN_SECONDS past exp: a verifier may accept a token for its tolerance.
        // `exp` is a bigint column: a fractional bound (any `now` not on a whole second) fails with 22P02.
        const [row] = await query<{ removed: NumberLike }>(sql.purge, [now - PURGE_RETENTION_MS, maxAuditEventsPerSubject, Math.floor(now / 1000) - FEED_EXP_MARGIN_SECONDS])
        return Number(row?.removed ?? 0)
      }),

    ping: async () => {
      if (closed) return false
      try {
        await pool.query('SELECT 1')
        return true
      } catch {
        return false
      }
    },

    close: async () => {
      if (closed) return
      closed = true
      await subscriptions.stopAll()
    },
  }

  if (migrateFirst) await migrate()
  return store
}
