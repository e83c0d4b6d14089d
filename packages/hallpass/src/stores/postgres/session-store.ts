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
import { setTimeout as sleep } from 'node:timers/promises'
import type { Client, Notification, Pool, PoolClient, QueryResult, QueryResultRow } from 'pg'
import { checkPositiveInteger } from '../../internal/options.ts'
import { ConfigInvalid, HallpassError, SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type {
  RevocationListener,
  RevokeSessionInput,
  RevokeSessionResult,
  RevokeSubjectInput,
  RotateRefreshInput,
  RotateRefreshResult,
  SessionStore,
  StoredKeyring,
} from '../../session/store.ts'
import { formatFeedCursor, isFeedEpoch, parseFeedCursor } from '../../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { AuditEvent, RevocationEntry, SessionRecord } from '../../session/types.ts'
import {
  auditFromJson,
  deviceUpdate,
  checkMinExp,
  feedPositionOf,
  revocationFromRow,
  sessionFromRow,
  type NumberLike,
  type SessionRow,
} from '../internal/rows.ts'
import { postgresMigrations } from './migrations.ts'


/** A client dedicated to the revocation feed: a pool client (released on stop) or a client (ended). */
export type PostgresListenClient = PoolClient | Client

export interface PostgresStoreOptions {
  /** The application's pool. The store borrows connections and never ends it. */
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

/** The PostgreSQL store: a `SessionStore`, plus its schema and an explicit `migrate()`. */
export interface PostgresStore extends SessionStore {
  readonly schema: string
  /** Brings the schema to the current version; idempotent and safe to run concurrently. */
  migrate(): Promise<void>
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['pool', 'schema', 'listenClient', 'migrate', 'maxAuditEventsPerSubject'])
const DEFAULT_MAX_AUDIT_EVENTS_PER_SUBJECT = 1000
// The schema becomes a quoted identifier, and `<schema>_revocations` the NOTIFY channel, which
// must fit PostgreSQL's 63-byte identifier limit (NAMEDATALEN − 1): pg_notify() refuses longer
// names while LISTEN silently truncates them, so the two would never meet. Hence 51 characters.
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,50}$/
const CHANNEL_SUFFIX = '_revocations'
/** NOTIFY payloads must stay under 8000 bytes; a larger entry is announced by its cursor alone. */
const MAX_FULL_PAYLOAD_BYTES = 4000
/** Sessions stay revocable (and in the table) this long after their deadline. */
const PURGE_RETENTION_MS = 24 * 3600 * 1000
const FEED_PAGE = 500
const RECONNECT_BASE_MS = 100
const RECONNECT_MAX_MS = 5000

// --- Text that PostgreSQL cannot hold ------------------------------------------------------
// PostgreSQL text (and jsonb strings) cannot hold U+0000, and lone UTF-16 surrogates would be
// replaced by U+FFFD on the way in; the contract says records round-trip exactly and subjects,
// claims and device facts may hold anything. So those code units are stored as U+FFFF (a
// Unicode noncharacter, reserved for internal use) followed by four hex digits, and U+FFFF
// itself is escaped the same way, which keeps the mapping injective (equality on stored text is
// equality on the original). Every other string is stored byte for byte, readable in psql.
const ESCAPE = '\uffff'
const TEXT_NEEDS_ESCAPE = /[\0\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
// In JSON.stringify output NUL and lone surrogates appear as \u escapes (any \udXXX it emits is
// a lone surrogate; valid pairs are written raw). `\\.` consumes every other escape, so an
// escaped backslash followed by "u0000" is never misread.
const JSON_NEEDS_ESCAPE = /\\u(0000|d[89a-f][0-9a-f]{2})|\\.|\uffff/g
const ESCAPED = /\uffff([0-9a-f]{4})/g

function hex4(code: number): string {
  return code.toString(16).padStart(4, '0')
}

function encodeText(value: string): string {
  return value.replace(TEXT_NEEDS_ESCAPE, (c) => ESCAPE + hex4(c.charCodeAt(0)))
}

function decodeText(value: string): string {
  return value.includes(ESCAPE) ? value.replace(ESCAPED, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : value
}

function encodeNullableText(value: string | null): string | null {
  return value === null ? null : encodeText(value)
}

function decodeNullableText(value: string | null): string | null {
  return value === null ? null : decodeText(value)
}

/** JSON text for a jsonb parameter, with the same escape applied inside every string and key. */
function encodeJson(value: unknown): string {
  const json = JSON.stringify(value)
  return json.replace(JSON_NEEDS_ESCAPE, (match: string, code: string | undefined) =>
    match === ESCAPE ? ESCAPE + 'ffff' : code === undefined ? match : ESCAPE + code,
  )
}

/** Parses jsonb text (selected as `::text`, so no driver or global type parser is involved). */
function decodeJson(text: string, what: string): unknown {
  const json = text.includes(ESCAPE) ? text.replace(ESCAPED, (_, hex: string) => (hex === 'ffff' ? ESCAPE : `\\u${hex}`)) : text
  try {
    return JSON.parse(json) as unknown
  } catch (cause) {
    throw new StoreUnavailable(`a stored ${what} is corrupt`, { cause })
  }
}

// --- Errors ----------------------------------------------------------------------------------

const SAFE_CODE = /^[A-Z0-9_]{1,32}$/
/** serialization_failure and deadlock_detected: the statement did nothing and may run again. */
const RETRYABLE_CODES = new Set(['40001', '40P01'])
const STATEMENT_ATTEMPTS = 5

/**
 * Any driver failure (refused connection, timeout, terminated backend, SQL error) is an
 * infrastructure fault: the caller answers 503 and blames no credential. The message names the
 * operation and the SQLSTATE/errno only; driver messages can quote values, so they stay in `cause`.
 */
function unavailable(op: string, error: unknown): HallpassError {
  if (error instanceof HallpassError) return error
  const code = (error as { code?: unknown } | null)?.code
  const suffix = typeof code === 'string' && SAFE_CODE.test(code) ? ` (${code})` : ''
  return new StoreUnavailable(`postgres ${op} failed${suffix}`, { cause: error })
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

// --- Rows ------------------------------------------------------------------------------------

/** A session row as selected by SESSION_SELECT: JSON members as text, text members escaped. */
interface PgSessionRow extends QueryResultRow {
  id: string
  subject: string
  created_at: NumberLike
  expires_at: NumberLike
  idle_expires_at: NumberLike
  last_seen_at: NumberLike
  generation: NumberLike
  refresh_hash: string
  previous_hash: string | null
  rotated_at: NumberLike
  revoked_at: NumberLike | null
  revoke_reason: string | null
  device: string
  claims: string
  scope: string | null
  audience: string | null
  max_access_exp: NumberLike
}

interface PgRevocationRow extends QueryResultRow {
  cursor: string
  sid: string
  exp: NumberLike
  revoked_at: NumberLike
  reason: string
  epoch: string | null
}

const SESSION_SELECT = `id, subject, created_at, expires_at, idle_expires_at, last_seen_at, generation,
  refresh_hash, previous_hash, rotated_at, revoked_at, revoke_reason,
  device::text AS device, claims::text AS claims, scope, audience::text AS audience, max_access_exp`

/** A feed row and the epoch of its feed, read in the same statement: never a cached epoch. */
function revocationSelect(schemaIdent: string): string {
  return `seq::text AS cursor, sid, exp, revoked_at, reason, (SELECT value FROM ${schemaIdent}.meta WHERE key = 'feed_epoch') AS epoch`
}

function sessionFromPg(row: PgSessionRow): SessionRecord {
  const decoded: SessionRow = {
    ...row,
    id: decodeText(row.id),
    subject: decodeText(row.subject),
    refresh_hash: decodeText(row.refresh_hash),
    previous_hash: decodeNullableText(row.previous_hash),
    revoke_reason: decodeNullableText(row.revoke_reason),
    device: decodeJson(row.device, 'session device') as object,
    claims: decodeJson(row.claims, 'session claims') as object,
    scope: decodeNullableText(row.scope),
    audience: row.audience === null ? null : (decodeJson(row.audience, 'session audience') as object),
  }
  return sessionFromRow(decoded)
}

function revocationFromPg(row: PgRevocationRow): RevocationEntry {
  if (!isFeedEpoch(row.epoch)) throw new StoreUnavailable('postgres: the feed epoch is missing or corrupt')
  return revocationFromRow(formatFeedCursor(row.epoch, row.cursor), { ...row, sid: decodeText(row.sid), reason: decodeText(row.reason) })
}

// --- Options ---------------------------------------------------------------------------------

interface CheckedOptions {
  readonly pool: Pool
  readonly schema: string
  readonly listenClient: (() => Promise<PostgresListenClient>) | undefined
  readonly migrate: boolean
  readonly maxAuditEventsPerSubject: number
}

function checkOptions(options: unknown): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new ConfigInvalid(key, 'is not a known option')
  }
  const { pool, schema = 'hallpass', listenClient, migrate = true } = options as Partial<PostgresStoreOptions>
  if (typeof pool !== 'object' || pool === null || typeof pool.query !== 'function' || typeof pool.connect !== 'function') {
    throw new ConfigInvalid('pool', 'must be a pg.Pool')
  }
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema) || schema.startsWith('pg_')) {
    throw new ConfigInvalid('schema', 'must be a lowercase identifier ([a-z_][a-z0-9_]*) of at most 51 characters, not starting with "pg_"')
  }
  if (listenClient !== undefined && typeof listenClient !== 'function') throw new ConfigInvalid('listenClient', 'must be a function')
  if (typeof migrate !== 'boolean') throw new ConfigInvalid('migrate', 'must be a boolean')
  const maxAuditEventsPerSubject =
    checkPositiveInteger((options as Partial<PostgresStoreOptions>).maxAuditEventsPerSubject, 'maxAuditEventsPerSubject') ?? DEFAULT_MAX_AUDIT_EVENTS_PER_SUBJECT
  return { pool, schema, listenClient, migrate, maxAuditEventsPerSubject }
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new SessionInputInvalid('limit', 'must be a non-negative integer')
  return limit
}


// --- The store -------------------------------------------------------------------------------

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
  const channel = schema + CHANNEL_SUFFIX
  const migrateLockKey = `hallpass:migrate:${schema}`
  const feedLockKey = `hallpass:feed:${schema}`
  const subscriptions = new Set<() => Promise<void>>()
  let closed = false

  async function run<T>(op: string, work: () => Promise<T>): Promise<T> {
    if (closed) throw new StoreUnavailable(`postgres ${op}: the store is closed`)
    try {
      return await work()
    } catch (error) {
      throw unavailable(op, error)
    }
  }

  // Every statement is one autocommit statement written for READ COMMITTED, PostgreSQL's
  // default, under which concurrent compare-and-sets of one row queue and re-check (see `rotate`).
  // Under a stricter default_transaction_isolation (database or role setting) the loser fails
  // with a serialization failure instead. Nothing of it was committed, so it runs again, and the
  // new attempt's snapshot holds the winner's row: racing refreshes still share one successor.
  async function execute<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.query<R>(text, values)
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code
        if (attempt >= STATEMENT_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_CODES.has(code)) throw error
        await sleep(Math.random() * 5 * attempt)
      }
    }
  }

  async function query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    return (await execute<R>(text, values)).rows
  }

  async function migrate(): Promise<void> {
    await run('migrate', async () => {
      const client = await pool.connect()
      let failure: Error | undefined
      try {
        await client.query('BEGIN')
        // Several instances may start at once: the first takes the lock and migrates, the
        // others wait, then find the versions recorded and do nothing. The lock is released
        // with the transaction, so a crashed migrator never leaves it held.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [migrateLockKey])
        // CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS, so
        // only ask for it when the schema is really missing.
        const existing = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
        if (existing.rowCount === 0) await client.query(`CREATE SCHEMA ${S}`)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${S}.schema_migrations (
             version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        )
        const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${S}.schema_migrations`)
        const current = rows[0]?.v ?? 0
        const migrations = postgresMigrations(S)
        const known = migrations[migrations.length - 1]?.version ?? 0
        // A schema migrated by a newer hallpass may mean something this code does not know.
        if (current > known) throw new StoreUnavailable(`the database schema (version ${current}) is newer than this hallpass supports (${known})`)
        for (const migration of migrations) {
          if (migration.version <= current) continue
          await client.query(migration.sql)
          await client.query(`INSERT INTO ${S}.schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name])
        }
        await client.query('COMMIT')
      } catch (error) {
        failure = error instanceof Error ? error : new Error('migration failed')
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        // A failed client is destroyed rather than returned half-way through a transaction.
        client.release(failure)
      }
    })
  }

  // Feed writers take this lock before touching the feed, and hold it to commit. `seq` comes
  // from a sequence, and sequences hand out numbers in call order, not commit order: without
  // the lock, seq 6 could commit before seq 5, a reader could catch up to 6, and 5 would be
  // skipped forever. Serialised, seq order is commit order (and NOTIFY order), so
  // `readRevocations(lastCursor)` never misses an entry. Revocations are rare; the lock is held
  // for one short statement and its commit. It is taken before any session row lock (the
  // UPDATE joins it), so two revocations can never deadlock on it.
  function feedLock(keyParam: string): string {
    return `lk AS (SELECT pg_advisory_xact_lock(hashtextextended(${keyParam}, 0)) AS locked)`
  }
  // pg_notify is queued in the transaction and delivered at commit: a revocation that rolls
  // back is never announced. The payload is the feed entry, or only its cursor when the entry
  // would not fit comfortably under the 8000-byte NOTIFY limit (a long reason).
  function notifyFeed(channelParam: string): string {
    return `sent AS (
      SELECT f.seq, f.sid, f.exp, f.revoked_at, f.reason,
        pg_notify(${channelParam}, CASE WHEN octet_length(p.full_payload) <= ${MAX_FULL_PAYLOAD_BYTES} THEN p.full_payload
                                   ELSE json_build_object('cursor', f.seq::text)::text END) AS notified
      FROM feed f
      CROSS JOIN LATERAL (SELECT json_build_object('cursor', f.seq::text, 'sid', f.sid, 'exp', f.exp,
        'revokedAt', f.revoked_at, 'reason', f.reason)::text AS full_payload) p
    )`
  }

  const sql = {
    getSession: `SELECT ${SESSION_SELECT} FROM ${S}.sessions WHERE id = $1`,
    createSession: `WITH s AS (
        INSERT INTO ${S}.sessions (id, subject, created_at, expires_at, idle_expires_at, last_seen_at, generation,
          refresh_hash, previous_hash, rotated_at, revoked_at, revoke_reason, device, claims, scope, audience, max_access_exp)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16::jsonb, $20)
      )
      INSERT INTO ${S}.audit (subject, at, event) VALUES ($17, $18, $19::jsonb)`,
    // Compare-and-set in one statement. Under READ COMMITTED, concurrent UPDATEs of one row
    // queue on its row lock, and each re-checks the WHERE clause against the row as the winner
    // left it (EvalPlanQual): exactly one of N identical attempts matches. The audit insert runs
    // only for the updated row. When nothing was updated, `cur` returns the row as it is now:
    // FOR SHARE makes it wait for and read the latest committed version, not the version in the
    // statement's snapshot. Without it, a loser of the race would get the pre-rotation row back
    // (same generation, same hash) and could not tell that it lost to a concurrent refresh.
    rotate: `WITH upd AS (
        UPDATE ${S}.sessions SET
          generation = generation + 1,
          previous_hash = refresh_hash,
          refresh_hash = $4,
          rotated_at = $5,
          last_seen_at = $5,
          idle_expires_at = $6,
          device = device || $7::jsonb,
          max_access_exp = GREATEST(max_access_exp, $10)
        WHERE id = $1 AND generation = $2 AND refresh_hash = $3 AND revoked_at IS NULL
          AND expires_at > $5 AND idle_expires_at > $5
        RETURNING *
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event)
        SELECT upd.subject, $8, $9::jsonb || jsonb_build_object('subject', upd.subject) FROM upd
      ), cur AS (
        SELECT * FROM ${S}.sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd) FOR SHARE
      )
      SELECT true AS rotated, ${SESSION_SELECT} FROM upd
      UNION ALL
      SELECT false AS rotated, ${SESSION_SELECT} FROM cur`,
    revokeSession: `WITH ${feedLock('$8')},
      upd AS (
        UPDATE ${S}.sessions SET revoked_at = $2, revoke_reason = $3
        FROM lk WHERE id = $1 AND revoked_at IS NULL
        RETURNING id, max_access_exp
      ), feed AS (
        INSERT INTO ${S}.revocations (sid, exp, revoked_at, reason)
        SELECT id, GREATEST($4, max_access_exp), $2, $3 FROM upd
        RETURNING seq, sid, exp, revoked_at, reason
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event) SELECT $5, $6, $7::jsonb FROM upd
      ), ${notifyFeed('$9')}
      SELECT true AS revoked, ${revocationSelect(S)} FROM sent
      UNION ALL
      SELECT false, NULL, NULL, NULL, NULL, NULL, NULL FROM ${S}.sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
    revokeSubject: `WITH ${feedLock('$6')},
      upd AS (
        UPDATE ${S}.sessions SET revoked_at = $3, revoke_reason = $4
        FROM lk WHERE subject = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR id <> $2::text)
        RETURNING id, subject, max_access_exp
      ), feed AS (
        INSERT INTO ${S}.revocations (sid, exp, revoked_at, reason)
        SELECT id, GREATEST($5, max_access_exp), $3, $4 FROM upd ORDER BY id
        RETURNING seq, sid, exp, revoked_at, reason
      ), aud AS (
        INSERT INTO ${S}.audit (subject, at, event)
        SELECT subject, $3, jsonb_build_object('type', 'session.revoked', 'at', $3::bigint, 'sessionId', id,
          'subject', subject, 'reason', $4::text)
        FROM upd
      ), ${notifyFeed('$7')}
      SELECT ${revocationSelect(S)} FROM sent ORDER BY seq`,
    listSessions: `SELECT ${SESSION_SELECT} FROM ${S}.sessions
      WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
      ORDER BY created_at DESC, id DESC`,
    appendAudit: `INSERT INTO ${S}.audit (subject, at, event) VALUES ($1, $2, $3::jsonb)`,
    listAudit: `SELECT event::text AS event FROM ${S}.audit WHERE subject = $1 ORDER BY id DESC LIMIT $2`,
    readRevocations: `SELECT ${revocationSelect(S)} FROM ${S}.revocations WHERE seq > $1 AND exp >= $2 ORDER BY seq LIMIT $3`,
    // The epoch as it is now, the newest position on the feed, and the largest position ever
    // given out (sequences are not transactional: `last_value` is the latest, committed or not).
    head: `SELECT (SELECT value FROM ${S}.meta WHERE key = 'feed_epoch') AS epoch,
        (SELECT coalesce(max(seq), 0)::text FROM ${S}.revocations) AS seq,
        (SELECT last_value::text FROM ${S}.revocations_seq_seq) AS highest`,
    loadKeyring: `SELECT version, data FROM ${S}.keyring WHERE id`,
    insertKeyring: `INSERT INTO ${S}.keyring (id, version, data) VALUES (true, 1, $1) ON CONFLICT (id) DO NOTHING`,
    updateKeyring: `UPDATE ${S}.keyring SET version = version + 1, data = $2 WHERE id AND version = $1`,
    // The audit keeps the newest $3 events of each subject (the other stores do the same).
    purge: `WITH s AS (
        DELETE FROM ${S}.sessions WHERE LEAST(expires_at, idle_expires_at) < $1 RETURNING 1
      ), r AS (
        DELETE FROM ${S}.revocations WHERE exp < $3 RETURNING 1
      ), a AS (
        DELETE FROM ${S}.audit WHERE id IN (
          SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY subject ORDER BY id DESC) AS n FROM ${S}.audit) ranked
          WHERE n > $2
        ) RETURNING 1
      )
      SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM r) + (SELECT count(*) FROM a) AS removed`,
  }

  // The epoch is read with every head and every row, never cached: a schema dropped and
  // created again under a running store has another one, and its cursors must say so.
  async function readHead(): Promise<{ epoch: string; seq: string; highest: number }> {
    const [row] = await query<{ epoch: string | null; seq: string; highest: string }>(sql.head, [])
    if (row === undefined || !isFeedEpoch(row.epoch)) throw new StoreUnavailable('postgres: the feed epoch is missing or corrupt')
    return { epoch: row.epoch, seq: row.seq, highest: Number(row.highest) }
  }

  async function readAfter(
    runner: { query: (text: string, values: unknown[]) => Promise<{ rows: PgRevocationRow[] }> },
    after: number,
    limit: number,
    minExp = Number.MIN_SAFE_INTEGER,
  ): Promise<RevocationEntry[]> {
    return (await runner.query(sql.readRevocations, [after, minExp, limit])).rows.map(revocationFromPg)
  }

  // --- The revocation feed subscription ----------------------------------------------------
  //
  // A dedicated connection LISTENs on the channel. A notification is only a wake-up: the
  // subscriber reads the feed table after the last cursor it delivered, and delivers what it
  // finds, in cursor order. Reading the table rather than trusting the payload costs one indexed
  // read per burst, and buys two things: NOTIFY can be sent by any role that can connect to the
  // database (no table privilege needed), so a forged payload could otherwise inject entries or
  // push the cursor past real ones; and live delivery and post-reconnect catch-up are the same
  // code path, so they agree on order and never lose or repeat an entry. A payload cursor at or
  // below the last delivered one is skipped without a read (already covered).
  //
  // When the connection fails (server restart, pg_terminate_backend, network), the subscriber
  // reconnects with capped exponential backoff and jitter, LISTENs again, then catches up from
  // its last cursor: anything revoked while it was away is delivered, nothing twice.
  async function subscribeRevocations(listener: RevocationListener): Promise<() => Promise<void>> {
    if (closed) throw new StoreUnavailable('postgres subscribeRevocations: the store is closed')
    if (typeof listener !== 'function') throw new SessionInputInvalid('listener', 'must be a function')
    let client: PostgresListenClient | undefined
    let connection = 0 // bumped per connection and on stop: events of older connections are ignored
    let stopped = false
    let started = false
    let last = 0
    let attempt = 0
    let retryTimer: NodeJS.Timeout | undefined
    let readQueued = false
    let chain: Promise<void> = Promise.resolve()

    // Every read and delivery runs through one promise chain, in order, never concurrently.
    function enqueue(owner: number, task: () => Promise<void>): Promise<void> {
      const step = chain.then(() => (owner === connection && !stopped ? task() : undefined))
      chain = step.catch((error: unknown) => lost(owner, error))
      return step
    }

    function deliver(entry: RevocationEntry): void {
      const seq = Number(parseFeedCursor(entry.cursor)!.position)
      if (stopped || seq <= last) return
      last = seq
      try {
        listener(entry)
      } catch {
        // A throwing listener must not stall the feed for everyone after it.
      }
    }

    async function catchUp(c: PostgresListenClient): Promise<void> {
      for (;;) {
        const entries = await readAfter(c, last, FEED_PAGE)
        for (const entry of entries) deliver(entry)
        if (entries.length < FEED_PAGE || stopped) return
      }
    }

    function onNotification(owner: number, c: PostgresListenClient, message: Notification): void {
      if (message.channel !== channel || owner !== connection) return
      const announced = payloadCursor(message.payload)
      if (announced !== undefined && announced <= last) return
      if (readQueued) return // the queued read will see this entry too
      readQueued = true
      void enqueue(owner, async () => {
        readQueued = false
        await catchUp(c)
      }).catch(() => undefined)
    }

    function release(c: PostgresListenClient, error: unknown): void {
      // Late errors from a dead connection must not become unhandled 'error' events.
      c.on('error', () => undefined)
      if ('release' in c && typeof c.release === 'function') {
        // Destroy rather than return to the pool: the connection is LISTENing (or broken).
        c.release(error instanceof Error ? error : true)
      } else {
        c.end().catch(() => undefined)
      }
    }

    function lost(owner: number, error: unknown): void {
      if (owner !== connection || stopped) return
      connection++
      readQueued = false
      const c = client
      client = undefined
      if (c !== undefined) release(c, error ?? true)
      if (started) scheduleReconnect()
    }

    function scheduleReconnect(): void {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt) * (0.5 + Math.random() / 2)
      attempt = Math.min(attempt + 1, 16)
      retryTimer = setTimeout(() => {
        retryTimer = undefined
        connect().catch(() => {
          if (!stopped && client === undefined) scheduleReconnect()
        })
      }, delay)
    }

    async function openClient(): Promise<PostgresListenClient> {
      try {
        return listenClient !== undefined ? await listenClient() : await pool.connect()
      } catch (error) {
        throw unavailable('subscribeRevocations', error)
      }
    }

    async function connect(): Promise<void> {
      const c = await openClient()
      if (stopped) {
        release(c, true)
        return
      }
      const owner = ++connection
      client = c
      c.on('error', (error) => lost(owner, error))
      c.on('end', () => lost(owner, undefined))
      c.on('notification', (message) => onNotification(owner, c, message))
      // Queue the LISTEN and the first read on the connection before any notification can be
      // handled: the sync step is first in the chain, so notifications are processed after it.
      const listening = c.query(`LISTEN ${quoteIdent(channel)}`)
      listening.catch(() => undefined)
      const synced = enqueue(owner, async () => {
        await listening
        if (!started) {
          // The subscription starts at the current end of the feed.
          const rows = (await c.query<{ seq: string }>(sql.head)).rows
          last = Number(rows[0]?.seq ?? 0)
        } else {
          await catchUp(c)
        }
        attempt = 0
      })
      if (!started) await synced
      else synced.catch(() => undefined) // lost() already scheduled the next attempt
    }

    async function stop(): Promise<void> {
      if (stopped) return
      stopped = true
      connection++
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      const c = client
      client = undefined
      subscriptions.delete(stop)
      if (c !== undefined) {
        c.on('error', () => undefined)
        if ('release' in c && typeof c.release === 'function') c.release(true)
        else await c.end().catch(() => undefined)
      }
    }

    try {
      await connect()
    } catch (error) {
      await stop()
      throw unavailable('subscribeRevocations', error)
    }
    started = true
    subscriptions.add(stop)
    return stop
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

    readRevocations: (cursor, limit, minExp) =>
      run('readRevocations', async () => {
        checkLimit(limit)
        const bound = checkMinExp(minExp)
        if (cursor === undefined) return readAfter(pool, 0, limit, bound)
        const head = await readHead()
        return readAfter(pool, feedPositionOf(cursor, head.epoch, () => head.highest), limit, bound)
      }),

    headCursor: () =>
      run('headCursor', async () => {
        const head = await readHead()
        return formatFeedCursor(head.epoch, head.seq)
      }),

    subscribeRevocations,

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
        const [row] = await query<{ removed: NumberLike }>(sql.purge, [now - PURGE_RETENTION_MS, maxAuditEventsPerSubject, now / 1000 - FEED_EXP_MARGIN_SECONDS])
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
      await Promise.all([...subscriptions].map((stop) => stop()))
    },
  }

  if (migrateFirst) await migrate()
  return store
}

const PAYLOAD_CURSOR = /^\{"cursor" ?: ?"(0|[1-9][0-9]{0,15})"/

/** The cursor a payload announces (the SQL above writes it first), if it has one. */
function payloadCursor(payload: string | undefined): number | undefined {
  const match = payload === undefined ? null : PAYLOAD_CURSOR.exec(payload)
  return match === null ? undefined : Number(match[1])
}
