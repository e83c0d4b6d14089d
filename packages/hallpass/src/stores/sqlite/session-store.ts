/**
 * @module hallpass/stores/sqlite
 *
 * The embedded default `SessionStore`, on SQLite through better-sqlite3. One file holds the
 * sessions, the audit trail, the revocation feed and the keyring; several processes may share
 * it (WAL mode, a busy timeout, and every multi-statement write in one `BEGIN IMMEDIATE`
 * transaction, which takes the write lock up front so no other writer can slip in between the
 * compare and the set). `:memory:` serves tests.
 *
 * Durability: WAL with `synchronous = NORMAL`. A commit is appended to the WAL before the call
 * returns, so a crashed or killed process loses nothing it reported as done; only an operating
 * system crash or power loss can roll back the last transactions (never corrupt the file),
 * because the WAL is fsynced at checkpoints rather than at each commit. That trade buys an order
 * of magnitude in write throughput; a revocation or rotation rolled back by a power cut is
 * equivalent to one that was never made, which clients already have to handle (they retry).
 *
 * better-sqlite3 is synchronous: every method does its work before returning an already
 * settled promise, so concurrent callers in one process are simply serialised.
 */
import { realpathSync } from 'node:fs'
import Database from 'better-sqlite3'
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
import { formatFeedCursor } from '../../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { AuditEvent, RevocationEntry, SessionRecord } from '../../session/types.ts'
import {
  auditFromJson,
  auditToJson,
  deviceUpdate,
  checkMinExp,
  feedPositionOf,
  revocationFromRow,
  ROTATION_RETURNED_COLUMNS,
  SESSION_COLUMNS,
  sessionAfterRotation,
  sessionFromRow,
  sessionToColumns,
  type RevocationRow,
  type RotationRow,
  type SessionRow,
} from '../internal/rows.ts'
import { sqliteMigrations } from './migrations.ts'

/** The schema version (`PRAGMA user_version`) this release migrates a database to. */
export const SQLITE_SCHEMA_VERSION = sqliteMigrations.length

/** Defaults of `createSqliteStore`. Durations in seconds. */
export const SQLITE_STORE_DEFAULTS = Object.freeze({
  busyTimeoutSeconds: 5,
  pollIntervalSeconds: 0.2,
  maxAuditEventsPerSubject: 1000,
})

export interface SqliteStoreOptions {
  /**
   * The database file, or `':memory:'` (a private database that lives as long as the store).
   * The folder must exist: the store never creates folders (the caller decides where data lives
   * and with which permissions). Give exactly one of `path` and `database`.
   */
  path?: string
  /**
   * An open better-sqlite3 connection. The store sets its pragmas (WAL, `synchronous`,
   * `foreign_keys`, `busy_timeout`), migrates it, and never closes it: the caller owns it.
   * The schema version lives in `PRAGMA user_version`, so the database should be hallpass's own.
   */
  database?: Database.Database
  /** How long a write waits for another connection's lock before failing (default 5). */
  busyTimeoutSeconds?: number
  /** How often a subscribed store looks for revocations written by other processes (default 0.2). */
  pollIntervalSeconds?: number
  /** Audit events kept per subject; `purgeExpired` trims older ones (default 1000). */
  maxAuditEventsPerSubject?: number
  /** Receives errors thrown by revocation listeners and failed feed polls (the store never logs). */
  onError?: (error: unknown) => void
}

/**
 * How long an expired session is kept before `purgeExpired` deletes it: one day, so revoking a
 * recently expired session still reaches verifiers while its last access tokens live.
 */
const PURGE_RETENTION_MS = 86_400_000
const FEED_BATCH = 256

// Stores on the same file in this process wake each other after a revocation commits, so a
// subscriber hears it at once instead of at the next poll. Keyed by the file's real path.
const wakersByFile = new Map<string, Set<() => void>>()

const OPTION_NAMES = ['path', 'database', 'busyTimeoutSeconds', 'pollIntervalSeconds', 'maxAuditEventsPerSubject', 'onError']

interface ResolvedOptions {
  readonly busyTimeoutMs: number
  readonly pollIntervalMs: number
  readonly maxAuditEventsPerSubject: number
  readonly onError: ((error: unknown) => void) | undefined
}

function checkOptions(options: SqliteStoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key)) throw new ConfigInvalid(key, 'is not a known option')
  }
  const hasPath = options.path !== undefined
  const hasDatabase = options.database !== undefined
  if (hasPath === hasDatabase) throw new ConfigInvalid('path', 'give exactly one of "path" and "database"')
  if (hasPath && (typeof options.path !== 'string' || options.path.length === 0)) {
    throw new ConfigInvalid('path', 'must be a non-empty file path or ":memory:"')
  }
  if (hasDatabase && (typeof options.database !== 'object' || options.database === null || typeof options.database.prepare !== 'function')) {
    throw new ConfigInvalid('database', 'must be an open better-sqlite3 Database')
  }
  const positive = (value: unknown, path: string, fallback: number): number => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigInvalid(path, 'must be a positive number')
    return value
  }
  const maxAudit = options.maxAuditEventsPerSubject ?? SQLITE_STORE_DEFAULTS.maxAuditEventsPerSubject
  if (!Number.isSafeInteger(maxAudit) || maxAudit <= 0) throw new ConfigInvalid('maxAuditEventsPerSubject', 'must be a positive integer')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new ConfigInvalid('onError', 'must be a function')
  return {
    busyTimeoutMs: Math.round(positive(options.busyTimeoutSeconds, 'busyTimeoutSeconds', SQLITE_STORE_DEFAULTS.busyTimeoutSeconds) * 1000),
    pollIntervalMs: Math.max(1, Math.round(positive(options.pollIntervalSeconds, 'pollIntervalSeconds', SQLITE_STORE_DEFAULTS.pollIntervalSeconds) * 1000)),
    maxAuditEventsPerSubject: maxAudit,
    onError: options.onError,
  }
}

/** Driver failures become `ERR_STORE_UNAVAILABLE` with the cause attached; the message names the operation and SQLite's code only. */
function toStoreError(operation: string, error: unknown): Error {
  if (error instanceof HallpassError) return error
  const code = (error as { code?: unknown } | null)?.code
  const suffix = typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? ` (${code})` : ''
  return new StoreUnavailable(`SQLite ${operation} failed${suffix}`, { cause: error })
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  // Wait for another connection's lock instead of failing at once (several processes, one file).
  db.pragma(`busy_timeout = ${busyTimeoutMs}`)
  if (!db.memory) {
    const mode = db.pragma('journal_mode = WAL', { simple: true })
    // WAL: readers never block the writer and commits need no fsync (see the module note).
    // Where WAL is impossible (some network file systems) rollback journaling still works, but
    // then only synchronous = FULL keeps a power cut from corrupting the file.
    db.pragma(mode === 'wal' ? 'synchronous = NORMAL' : 'synchronous = FULL')
    if (mode === 'wal') {
      // A checkpoint runs on the committing call, blocking the event loop: with SQLite's default
      // (every 1,000 pages) that was every ~300 refreshes. Every 10,000 pages (~40 MB of WAL)
      // runs it a tenth as often and copies each hot page once per checkpoint instead of once per
      // 1,000 frames; journal_size_limit gives the space back afterwards.
      db.pragma('wal_autocheckpoint = 10000')
      db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`)
    }
  }
  db.pragma('foreign_keys = ON')
}

/** Applies the missing migrations in one IMMEDIATE transaction: concurrent openers run them once. */
function migrate(db: Database.Database): void {
  const run = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true })
    if (typeof current !== 'number' || current > SQLITE_SCHEMA_VERSION) {
      throw new StoreUnavailable(`the database schema (version ${String(current)}) is newer than this hallpass supports (${SQLITE_SCHEMA_VERSION})`)
    }
    if (current === SQLITE_SCHEMA_VERSION) return
    for (const migration of sqliteMigrations.slice(current)) db.exec(migration)
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`)
  })
  run.immediate()
}

function fileKey(db: Database.Database): string | undefined {
  if (db.memory) return undefined
  try {
    return realpathSync(db.name)
  } catch {
    return db.name
  }
}

interface Subscription {
  readonly listener: RevocationListener
}

interface SeqRow extends RevocationRow {
  readonly seq: number
}

const SESSION_SELECT = SESSION_COLUMNS.join(', ')

/**
 * Opens (or adopts) a SQLite database as a `SessionStore`, migrating its schema first.
 *
 * Revocation feed: entries live in an AUTOINCREMENT table and the cursor is the sequence number
 * as a decimal string. Subscribers of this store object are notified after the commit: at once
 * for revocations made through any store object on the same file in this process (a
 * module-level registry keyed by the file's real path), and within `pollIntervalSeconds` for
 * revocations made by other processes (a `seq > last` query on the primary key, run only while
 * there are subscribers). Both paths read the table, so each subscriber sees every entry once,
 * in feed order.
 *
 * Throws `ERR_CONFIG_INVALID` for bad options and `ERR_STORE_UNAVAILABLE` when the file cannot
 * be opened or migrated (including a schema newer than this release).
 *
 * @example
 * import { createSqliteStore } from 'hallpass/stores/sqlite'
 * import { mkdirSync } from 'node:fs'
 * mkdirSync('.hallpass', { recursive: true })
 * const store = createSqliteStore({ path: '.hallpass/sessions.db' })
 * // ... createSessionManager({ store, ... })
 * await store.close()
 */
export function createSqliteStore(options: SqliteStoreOptions): SessionStore {
  const config = checkOptions(options)
  const owned = options.database === undefined
  let db: Database.Database
  try {
    db = options.database ?? new Database(options.path)
  } catch (error) {
    throw toStoreError('open', error)
  }
  try {
    configure(db, config.busyTimeoutMs)
    migrate(db)
  } catch (error) {
    if (owned) db.close()
    throw toStoreError('open', error)
  }

  // Every statement is prepared once, here.
  const insertSession = db.prepare<[Record<string, unknown>]>(
    `INSERT INTO hallpass_sessions (${SESSION_SELECT}) VALUES (${SESSION_COLUMNS.map((c) => `@${c}`).join(', ')})`,
  )
  const selectSession = db.prepare<[string], SessionRow>(`SELECT ${SESSION_SELECT} FROM hallpass_sessions WHERE id = ?`)
  // The compare-and-set itself: every condition of a valid rotation is in the WHERE clause, so
  // the row changes only when all of them hold at `now` (the caller's clock, never SQLite's).
  const rotateSession = db.prepare<[string, number, number, number, string, number, string, number, string, number, number], RotationRow>(
    `UPDATE hallpass_sessions
        SET generation = generation + 1, previous_hash = refresh_hash, refresh_hash = ?,
            rotated_at = ?, last_seen_at = ?, idle_expires_at = ?, device = json_patch(device, ?),
            max_access_exp = max(max_access_exp, ?)
      WHERE id = ? AND generation = ? AND refresh_hash = ? AND revoked_at IS NULL
        AND expires_at > ? AND idle_expires_at > ?
      RETURNING ${ROTATION_RETURNED_COLUMNS.join(', ')}`,
  )
  const revokeOne = db.prepare<[number, string, string], { subject: string; max_access_exp: number }>(
    'UPDATE hallpass_sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL RETURNING subject, max_access_exp',
  )
  const sessionExists = db.prepare<[string], number>('SELECT 1 FROM hallpass_sessions WHERE id = ?').pluck()
  const liveIdsOfSubject = db.prepare<[string, string | null], string>(
    'SELECT id FROM hallpass_sessions WHERE subject = ? AND revoked_at IS NULL AND id IS NOT ? ORDER BY created_at, rowid',
  ).pluck()
  const listLive = db.prepare<[string, number, number], SessionRow>(
    `SELECT ${SESSION_SELECT} FROM hallpass_sessions
      WHERE subject = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
      ORDER BY created_at DESC, rowid DESC`,
  )
  const insertAudit = db.prepare<[string, number, string]>('INSERT INTO hallpass_audit (subject, at, event) VALUES (?, ?, ?)')
  const listAuditOf = db.prepare<[string, number], string>(
    'SELECT event FROM hallpass_audit WHERE subject = ? ORDER BY at DESC, seq DESC LIMIT ?',
  ).pluck()
  const overfullSubjects = db.prepare<[number], string>(
    'SELECT subject FROM hallpass_audit GROUP BY subject HAVING count(*) > ?',
  ).pluck()
  const trimAuditOf = db.prepare<[string, string, number]>(
    `DELETE FROM hallpass_audit WHERE subject = ? AND seq IN (
       SELECT seq FROM hallpass_audit WHERE subject = ? ORDER BY at DESC, seq DESC LIMIT -1 OFFSET ?)`,
  )
  // Positions from the clock (rows.ts nextFeedPosition, here in SQL): sqlite_sequence holds the
  // largest position ever given out, even after purgeExpired deleted that row (AUTOINCREMENT).
  const insertRevocation = db.prepare<[number, string, number, number, string]>(
    `INSERT INTO hallpass_revocations (seq, sid, exp, revoked_at, reason)
     VALUES (max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'hallpass_revocations'), 0) + 1, ?), ?, ?, ?, ?)`,
  )
  const revocationsAfter = db.prepare<[number, number, number], SeqRow>(
    'SELECT seq, sid, exp, revoked_at, reason FROM hallpass_revocations WHERE seq > ? AND exp >= ? ORDER BY seq LIMIT ?',
  )
  const lastSeq = db.prepare<[], number>('SELECT COALESCE(MAX(seq), 0) FROM hallpass_revocations').pluck()
  const highestPosition = db.prepare<[], number>(
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'hallpass_revocations'), 0)",
  ).pluck()
  // Read once: the epoch of an open database never changes (migration 3 drew it).
  const epoch = db.prepare<[], string>("SELECT value FROM hallpass_meta WHERE key = 'feed_epoch'").pluck().get()!
  const cursorOf = (seq: number): string => formatFeedCursor(epoch, String(seq))
  const selectKeyring = db.prepare<[], { version: number; data: string }>('SELECT version, data FROM hallpass_keyring WHERE id = 1')
  const insertKeyring = db.prepare<[string]>('INSERT INTO hallpass_keyring (id, version, data) VALUES (1, 1, ?) ON CONFLICT (id) DO NOTHING')
  const updateKeyring = db.prepare<[string, number]>('UPDATE hallpass_keyring SET version = version + 1, data = ? WHERE id = 1 AND version = ?')
  const purgeSessions = db.prepare<[number, number]>('DELETE FROM hallpass_sessions WHERE expires_at < ? OR idle_expires_at < ?')
  const purgeFeed = db.prepare<[number]>('DELETE FROM hallpass_revocations WHERE exp < ?')
  const selectOne = db.prepare<[], number>('SELECT 1').pluck()

  const appendAuditRow = (event: AuditEvent): void => {
    insertAudit.run(event.subject, event.at, auditToJson(event))
  }
  const appendRevocation = (sid: string, exp: number, revokedAt: number, reason: string): RevocationEntry => {
    const { lastInsertRowid } = insertRevocation.run(Date.now() * 1000, sid, exp, revokedAt, reason)
    return { cursor: cursorOf(Number(lastInsertRowid)), sid, exp, revokedAt, reason }
  }

  const createTx = db.transaction((record: SessionRecord, audit: AuditEvent) => {
    insertSession.run({ ...sessionToColumns(record) })
    appendAuditRow({ ...audit, subject: record.subject })
  })

  // One statement in the usual case: the device is merged in SQL (RFC 7396 json_patch with
  // rows.ts deviceUpdate), only the columns the rotation did not set are returned, and the
  // whole row is read only when the rotation was refused, to tell the manager why.
  const rotateTx = db.transaction((input: RotateRefreshInput): RotateRefreshResult => {
    const updated = rotateSession.get(
      input.newHash, input.now, input.now, input.idleExpiresAt, JSON.stringify(deviceUpdate(input.device)), input.maxAccessExp,
      input.id, input.generation, input.hash, input.now, input.now,
    )
    if (updated === undefined) {
      // Refused: nothing was written, and the row is the current record (we hold the lock).
      const row = selectSession.get(input.id)
      return { rotated: false, session: row === undefined ? undefined : sessionFromRow(row) }
    }
    // The audit row belongs to the session's subject, whatever the event says.
    appendAuditRow({ ...input.audit, subject: updated.subject })
    return { rotated: true, session: sessionAfterRotation(input, updated) }
  })

  const revokeTx = db.transaction((input: RevokeSessionInput): RevokeSessionResult => {
    const revoked = revokeOne.get(input.now, input.reason, input.id)
    if (revoked === undefined) return { revoked: false, why: sessionExists.get(input.id) === undefined ? 'not_found' : 'already_revoked' }
    const entry = appendRevocation(input.id, Math.max(input.feedExp, revoked.max_access_exp), input.now, input.reason)
    appendAuditRow({ ...input.audit, subject: revoked.subject })
    return { revoked: true, entry }
  })

  const revokeSubjectTx = db.transaction((input: RevokeSubjectInput): RevocationEntry[] => {
    const entries: RevocationEntry[] = []
    for (const id of liveIdsOfSubject.all(input.subject, input.exceptId ?? null)) {
      const revoked = revokeOne.get(input.now, input.reason, id)!
      entries.push(appendRevocation(id, Math.max(input.feedExp, revoked.max_access_exp), input.now, input.reason))
      appendAuditRow({ type: 'session.revoked', at: input.now, sessionId: id, subject: input.subject, reason: input.reason })
    }
    return entries
  })

  const purgeTx = db.transaction((now: number): number => {
    const cutoff = now - PURGE_RETENTION_MS
    let removed = purgeSessions.run(cutoff, cutoff).changes
    // Kept FEED_EXP_MARGIN_SECONDS past exp: a verifier may accept a token for its tolerance.
    removed += purgeFeed.run(now / 1000 - FEED_EXP_MARGIN_SECONDS).changes
    for (const subject of overfullSubjects.all(config.maxAuditEventsPerSubject)) {
      removed += trimAuditOf.run(subject, subject, config.maxAuditEventsPerSubject).changes
    }
    return removed
  })

  // ---- revocation feed delivery -------------------------------------------------------------
  const subscriptions = new Set<Subscription>()
  let delivered = 0
  let pumpQueued = false
  let pumping = false
  let timer: ReturnType<typeof setInterval> | undefined
  let closed = false

  const report = (error: unknown): void => {
    try {
      config.onError?.(error)
    } catch {
      // An error handler that throws must not take the feed down with it.
    }
  }

  /** Delivers every committed entry after `delivered`, in seq order, to every subscriber. */
  const pump = (): void => {
    if (pumping || closed || subscriptions.size === 0) return
    pumping = true
    try {
      for (;;) {
        const rows = revocationsAfter.all(delivered, Number.MIN_SAFE_INTEGER, FEED_BATCH)
        for (const row of rows) {
          delivered = row.seq
          const entry = revocationFromRow(cursorOf(row.seq), row)
          for (const subscription of [...subscriptions]) {
            if (!subscriptions.has(subscription)) continue
            try {
              subscription.listener(entry)
            } catch (error) {
              report(error)
            }
          }
        }
        if (rows.length < FEED_BATCH || subscriptions.size === 0) break
      }
    } catch (error) {
      report(toStoreError('revocation poll', error))
    } finally {
      pumping = false
    }
  }

  // Listeners run on a fresh microtask, never on the stack of the revoking call.
  const queuePump = (): void => {
    if (pumpQueued || subscriptions.size === 0) return
    pumpQueued = true
    queueMicrotask(() => {
      pumpQueued = false
      pump()
    })
  }

  const key = fileKey(db)
  if (key !== undefined) {
    let wakers = wakersByFile.get(key)
    if (wakers === undefined) wakersByFile.set(key, (wakers = new Set()))
    wakers.add(queuePump)
  }
  const announce = (): void => {
    if (key === undefined) queuePump()
    else for (const wake of wakersByFile.get(key) ?? []) wake()
  }

  const attempt = <T>(operation: string, body: () => T): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailable('the SQLite store is closed'))
    try {
      return Promise.resolve(body())
    } catch (error) {
      return Promise.reject(toStoreError(operation, error))
    }
  }

  const checkLimit = (limit: number): number => {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new SessionInputInvalid('limit', 'must be a non-negative integer')
    return limit
  }

  return {
    createSession: (record, audit) => attempt('createSession', () => createTx.immediate(record, audit)),

    getSession: (id) =>
      attempt('getSession', () => {
        const row = selectSession.get(id)
        return row === undefined ? undefined : sessionFromRow(row)
      }),

    rotateRefreshToken: (input) => attempt('rotateRefreshToken', () => rotateTx.immediate(input)),

    revokeSession: (input) =>
      attempt('revokeSession', () => {
        const result = revokeTx.immediate(input)
        if (result.revoked) announce()
        return result
      }),

    revokeSubjectSessions: (input) =>
      attempt('revokeSubjectSessions', () => {
        const entries = revokeSubjectTx.immediate(input)
        if (entries.length > 0) announce()
        return entries
      }),

    listSessions: (subject, now) => attempt('listSessions', () => listLive.all(subject, now, now).map(sessionFromRow)),

    appendAudit: (event) => attempt('appendAudit', () => appendAuditRow(event)),

    listAudit: (subject, limit) => attempt('listAudit', () => listAuditOf.all(subject, checkLimit(limit)).map(auditFromJson)),

    readRevocations: (cursor, limit, minExp) =>
      attempt('readRevocations', () => {
        const after = feedPositionOf(cursor, epoch, () => highestPosition.get() ?? 0)
        return revocationsAfter.all(after, checkMinExp(minExp), checkLimit(limit)).map((row) => revocationFromRow(cursorOf(row.seq), row))
      }),

    headCursor: () => attempt('headCursor', () => cursorOf(lastSeq.get() ?? 0)),

    subscribeRevocations: (listener) =>
      attempt('subscribeRevocations', () => {
        if (typeof listener !== 'function') throw new SessionInputInvalid('listener', 'must be a function')
        if (subscriptions.size === 0) {
          // Live from here: entries committed before this call are what readRevocations is for.
          delivered = lastSeq.get() ?? 0
          timer = setInterval(pump, config.pollIntervalMs)
          timer.unref()
        } else {
          // Hand pending entries to the current subscribers first, so the newcomer starts now.
          pump()
        }
        const subscription: Subscription = { listener }
        subscriptions.add(subscription)
        return (): Promise<void> => {
          subscriptions.delete(subscription)
          if (subscriptions.size === 0 && timer !== undefined) {
            clearInterval(timer)
            timer = undefined
          }
          return Promise.resolve()
        }
      }),

    loadKeyring: () =>
      attempt('loadKeyring', (): StoredKeyring | undefined => {
        const row = selectKeyring.get()
        return row === undefined ? undefined : { version: row.version, data: row.data }
      }),

    saveKeyring: (expectedVersion, data) =>
      attempt('saveKeyring', () => {
        if (typeof data !== 'string') throw new SessionInputInvalid('data', 'must be a string')
        // A version that was never stored cannot match: refuse without writing.
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) return false
        const result = expectedVersion === 0 ? insertKeyring.run(data) : updateKeyring.run(data, expectedVersion)
        return result.changes === 1
      }),

    purgeExpired: (now) => attempt('purgeExpired', () => purgeTx.immediate(now)),

    ping: () => {
      if (closed) return Promise.resolve(false)
      try {
        return Promise.resolve(selectOne.get() === 1)
      } catch {
        return Promise.resolve(false)
      }
    },

    close: () => {
      if (closed) return Promise.resolve()
      closed = true
      subscriptions.clear()
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      if (key !== undefined) {
        const wakers = wakersByFile.get(key)
        wakers?.delete(queuePump)
        if (wakers?.size === 0) wakersByFile.delete(key)
      }
      try {
        if (owned) db.close()
      } catch (error) {
        return Promise.reject(toStoreError('close', error))
      }
      return Promise.resolve()
    },
  }
}
