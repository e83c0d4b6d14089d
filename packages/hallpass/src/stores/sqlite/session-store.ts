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
import type Database from 'better-sqlite3'
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type { RedeliverRefreshInput, RedeliverRefreshResult, RevokeSessionInput, RevokeSessionResult, RevokeSubjectInput, RotateRefreshInput, RotateRefreshResult, SessionStore, StoredKeyring } from '../../session/store.ts'
import type { AuditEvent, RevocationEntry, SessionRecord } from '../../session/types.ts'
import {
  auditFromJson,
  auditToJson,
  checkLimit,
  deviceUpdate,
  ROTATION_RETURNED_COLUMNS,
  SESSION_COLUMNS,
  sessionAfterRotation,
  sessionFromRow,
  sessionToColumns,
  type RotationRow,
  type SessionRow,
} from '../internal/rows.ts'
import { checkRecentAuditQuery, type RecentAuditQuery } from '../internal/recent-audit.ts'
import { openDatabase } from './database.ts'
import { toStoreError } from './errors.ts'
import { createFeedDelivery } from './feed-delivery.ts'
import { createSqliteFeed } from './feed.ts'
import { checkOptions, type SqliteStoreOptions } from './options.ts'

export { SQLITE_SCHEMA_VERSION } from './database.ts'
export { SQLITE_STORE_DEFAULTS, type SqliteStoreOptions } from './options.ts'

/**
 * How long an expired session is kept before `purgeExpired` deletes it: one day, so revoking a
 * recently expired session still reaches verifiers while its last access tokens live.
 */
const PURGE_RETENTION_MS = 86_400_000

const SESSION_SELECT = SESSION_COLUMNS.join(', ')

/**
 * Opens (or adopts) a SQLite database as a `SessionStore`, migrating its schema first.
 *
 * Revocation feed: entries live in an AUTOINCREMENT table and the cursor is the sequence number
 * as a decimal string. Subscribers of this store object are notified after the commit: at once
 * for revocations made through any store object on the same file in this process, and within
 * `pollIntervalSeconds` for revocations made by other processes. Each subscriber sees every
 * entry once, in feed order.
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
  const db = openDatabase(options, config.busyTimeoutMs)
  const sql = prepareStatements(db)
  const feed = createSqliteFeed(db)

  const appendAuditRow = (event: AuditEvent): void => {
    sql.insertAudit.run(event.subject, event.at, auditToJson(event))
  }

  const createTx = db.transaction((record: SessionRecord, audit: AuditEvent) => {
    sql.insertSession.run({ ...sessionToColumns(record) })
    appendAuditRow({ ...audit, subject: record.subject })
  })

  // One statement in the usual case: the device is merged in SQL (RFC 7396 json_patch with
  // rows.ts deviceUpdate), only the columns the rotation did not set are returned, and the
  // whole row is read only when the rotation was refused, to tell the manager why.
  const rotateTx = db.transaction((input: RotateRefreshInput): RotateRefreshResult => {
    const updated = sql.rotateSession.get(
      input.newHash, input.now, input.now, input.idleExpiresAt, JSON.stringify(deviceUpdate(input.device)), input.maxAccessExp,
      input.id, input.generation, input.hash, input.now, input.now,
    )
    if (updated === undefined) {
      // Refused: nothing was written, and the row is the current record (we hold the lock).
      const row = sql.selectSession.get(input.id)
      return { rotated: false, session: row === undefined ? undefined : sessionFromRow(row) }
    }
    // The audit row belongs to the session's subject, whatever the event says.
    appendAuditRow({ ...input.audit, subject: updated.subject })
    return { rotated: true, session: sessionAfterRotation(input, updated) }
  })

  const redeliverTx = db.transaction((input: RedeliverRefreshInput): RedeliverRefreshResult => {
    const updated = sql.redeliver.get(input.now, input.now, input.idleExpiresAt, input.maxAccessExp, input.id, input.generation, input.hash, input.hash, input.now, input.now)
    if (updated !== undefined) return { redelivered: true, session: sessionFromRow(updated) }
    const row = sql.selectSession.get(input.id)
    return { redelivered: false, session: row === undefined ? undefined : sessionFromRow(row) }
  })

  const revokeTx = db.transaction((input: RevokeSessionInput): RevokeSessionResult => {
    const revoked = sql.revokeOne.get(input.now, input.reason, input.id)
    if (revoked === undefined) return { revoked: false, why: sql.sessionExists.get(input.id) === undefined ? 'not_found' : 'already_revoked' }
    const entry = feed.append(input.id, Math.max(input.feedExp, revoked.max_access_exp), input.now, input.reason)
    appendAuditRow({ ...input.audit, subject: revoked.subject })
    return { revoked: true, entry }
  })

  const revokeSubjectTx = db.transaction((input: RevokeSubjectInput): RevocationEntry[] => {
    const entries: RevocationEntry[] = []
    for (const id of sql.liveIdsOfSubject.all(input.subject, input.exceptId ?? null)) {
      const revoked = sql.revokeOne.get(input.now, input.reason, id)!
      entries.push(feed.append(id, Math.max(input.feedExp, revoked.max_access_exp), input.now, input.reason))
      appendAuditRow({ type: 'session.revoked', at: input.now, sessionId: id, subject: input.subject, reason: input.reason })
    }
    return entries
  })

  const purgeTx = db.transaction((now: number): number => {
    const cutoff = now - PURGE_RETENTION_MS
    let removed = sql.purgeSessions.run(cutoff, cutoff).changes
    removed += feed.purge(now)
    for (const subject of sql.overfullSubjects.all(config.maxAuditEventsPerSubject)) {
      removed += sql.trimAuditOf.run(subject, subject, config.maxAuditEventsPerSubject).changes
    }
    return removed
  })

  const delivery = createFeedDelivery(db, feed, config)
  const recentAudit = recentAuditStatements(db)
  let closed = false

  const attempt = <T>(operation: string, body: () => T): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailable('the SQLite store is closed'))
    try {
      return Promise.resolve(body())
    } catch (error) {
      return Promise.reject(toStoreError(operation, error))
    }
  }

  return {
    createSession: (record, audit) => attempt('createSession', () => createTx.immediate(record, audit)),

    getSession: (id) =>
      attempt('getSession', () => {
        const row = sql.selectSession.get(id)
        return row === undefined ? undefined : sessionFromRow(row)
      }),

    rotateRefreshToken: (input) => attempt('rotateRefreshToken', () => rotateTx.immediate(input)),

    markUndelivered: (input) =>
      attempt('markUndelivered', () => sql.markUndelivered.run(input.id, input.generation, input.hash, input.rotatedAt ?? null, input.rotatedAt ?? null).changes === 1),

    markRecentRotationsUndelivered: ({ since, until, now }) =>
      attempt('markRecentRotationsUndelivered', () => sql.markRecentRotations.run(since, until, now, now).changes),

    redeliverRefreshToken: (input) => attempt('redeliverRefreshToken', () => redeliverTx.immediate(input)),

    revokeSession: (input) =>
      attempt('revokeSession', () => {
        const result = revokeTx.immediate(input)
        if (result.revoked) delivery.announce()
        return result
      }),

    revokeSubjectSessions: (input) =>
      attempt('revokeSubjectSessions', () => {
        const entries = revokeSubjectTx.immediate(input)
        if (entries.length > 0) delivery.announce()
        return entries
      }),

    listSessions: (subject, now) => attempt('listSessions', () => sql.listLive.all(subject, now, now).map(sessionFromRow)),

    appendAudit: (event) => attempt('appendAudit', () => appendAuditRow(event)),

    listAudit: (subject, limit) => attempt('listAudit', () => sql.listAuditOf.all(subject, checkLimit(limit)).map(auditFromJson)),

    listRecentAudit: (options) =>
      attempt('listRecentAudit', () => {
        const query = checkRecentAuditQuery(options)
        if (query.types?.length === 0) return []
        return recentAudit(query).map(auditFromJson)
      }),

    readRevocations: (cursor, limit, minExp) => attempt('readRevocations', () => feed.read(cursor, limit, minExp)),

    headCursor: () => attempt('headCursor', () => feed.headCursor()),

    subscribeRevocations: (listener) => attempt('subscribeRevocations', () => delivery.subscribe(listener)),

    loadKeyring: () =>
      attempt('loadKeyring', (): StoredKeyring | undefined => {
        const row = sql.selectKeyring.get()
        return row === undefined ? undefined : { version: row.version, data: row.data }
      }),

    saveKeyring: (expectedVersion, data) =>
      attempt('saveKeyring', () => {
        if (typeof data !== 'string') throw new SessionInputInvalid('data', 'must be a string')
        // A version that was never stored cannot match: refuse without writing.
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) return false
        const result = expectedVersion === 0 ? sql.insertKeyring.run(data) : sql.updateKeyring.run(data, expectedVersion)
        return result.changes === 1
      }),

    purgeExpired: (now) => attempt('purgeExpired', () => purgeTx.immediate(now)),

    ping: () => {
      if (closed) return Promise.resolve(false)
      try {
        return Promise.resolve(sql.selectOne.get() === 1)
      } catch {
        return Promise.resolve(false)
      }
    },

    close: () => {
      if (closed) return Promise.resolve()
      closed = true
      delivery.close()
      try {
        if (owned) db.close()
      } catch (error) {
        return Promise.reject(toStoreError('close', error))
      }
      return Promise.resolve()
    },
  }
}

/**
 * listRecentAudit: one statement per combination of filters (eight at most), prepared when first
 * used. Newest first is the order written: seq is the rowid, so without a subject SQLite walks
 * the table itself backwards and stops after `limit` rows; with one, it reads that subject's rows
 * through hallpass_audit_subject_at (at most `maxAuditEventsPerSubject` after a purge) and sorts
 * them. There is deliberately no index on `at` alone: it would cost every refresh one more page
 * written (4.3 → 5.4 WAL pages per rotation, measured), where migration 2 removed one. The price
 * is paid by deep pages instead: `at < before` skips the newer rows one by one. Types arrive as
 * one JSON array, so any number of them is one statement.
 */
function recentAuditStatements(db: Database.Database): (query: RecentAuditQuery) => string[] {
  const prepared = new Map<string, Database.Statement<unknown[], string>>()
  return (query) => {
    const where: string[] = []
    const params: unknown[] = []
    if (query.subject !== undefined) {
      where.push('subject = ?')
      params.push(query.subject)
    }
    if (query.before !== undefined) {
      // Without a subject, `+at` keeps SQLite on the backwards walk of the table: with statistics
      // (ANALYZE) it would rather skip-scan the subject index for `at < ?` and sort every older row.
      where.push(query.subject === undefined ? '+at < ?' : 'at < ?')
      params.push(query.before)
    }
    if (query.types !== undefined) {
      where.push("json_extract(event, '$.type') IN (SELECT value FROM json_each(?))")
      params.push(JSON.stringify(query.types))
    }
    const text = `SELECT event FROM hallpass_audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`
    let statement = prepared.get(text)
    if (statement === undefined) {
      statement = db.prepare<unknown[], string>(text).pluck()
      prepared.set(text, statement)
    }
    return statement.all(...params, query.limit)
  }
}

/** The statements of sessions, audit, keyring and purge, prepared once per store. */
function prepareStatements(db: Database.Database) {
  return {
    insertSession: db.prepare<[Record<string, unknown>]>(
      `INSERT INTO hallpass_sessions (${SESSION_SELECT}) VALUES (${SESSION_COLUMNS.map((c) => `@${c}`).join(', ')})`,
    ),
    selectSession: db.prepare<[string], SessionRow>(`SELECT ${SESSION_SELECT} FROM hallpass_sessions WHERE id = ?`),
    // The compare-and-set itself: every condition of a valid rotation is in the WHERE clause, so
    // the row changes only when all of them hold at `now` (the caller's clock, never SQLite's).
    rotateSession: db.prepare<[string, number, number, number, string, number, string, number, string, number, number], RotationRow>(
      `UPDATE hallpass_sessions
          SET generation = generation + 1, previous_hash = refresh_hash, refresh_hash = ?,
              rotated_at = ?, last_seen_at = ?, idle_expires_at = ?, device = json_patch(device, ?),
              max_access_exp = max(max_access_exp, ?), undelivered_hash = NULL
        WHERE id = ? AND generation = ? AND refresh_hash = ? AND revoked_at IS NULL
          AND expires_at > ? AND idle_expires_at > ?
        RETURNING ${ROTATION_RETURNED_COLUMNS.join(', ')}`,
    ),
    markUndelivered: db.prepare<[string, number, string, number | null, number | null]>(
      `UPDATE hallpass_sessions SET undelivered_hash = refresh_hash
        WHERE id = ? AND generation = ? AND refresh_hash = ? AND revoked_at IS NULL AND (? IS NULL OR rotated_at = ?)`,
    ),
    // Once, at a start after a crash: a scan of the sessions table is fine then.
    markRecentRotations: db.prepare<[number, number, number, number]>(
      `UPDATE hallpass_sessions SET undelivered_hash = refresh_hash
        WHERE rotated_at BETWEEN ? AND ? AND generation > 0 AND undelivered_hash IS NULL AND revoked_at IS NULL
          AND expires_at > ? AND idle_expires_at > ?`,
    ),
    // Like the rotation's compare-and-set, plus the mark: of concurrent callers, one clears it.
    redeliver: db.prepare<[number, number, number, number, string, number, string, string, number, number], SessionRow>(
      `UPDATE hallpass_sessions
          SET undelivered_hash = NULL, rotated_at = ?, last_seen_at = ?, idle_expires_at = ?, max_access_exp = max(max_access_exp, ?)
        WHERE id = ? AND generation = ? AND refresh_hash = ? AND undelivered_hash = ? AND revoked_at IS NULL
          AND expires_at > ? AND idle_expires_at > ?
        RETURNING ${SESSION_SELECT}`,
    ),
    revokeOne: db.prepare<[number, string, string], { subject: string; max_access_exp: number }>(
      'UPDATE hallpass_sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL RETURNING subject, max_access_exp',
    ),
    sessionExists: db.prepare<[string], number>('SELECT 1 FROM hallpass_sessions WHERE id = ?').pluck(),
    liveIdsOfSubject: db.prepare<[string, string | null], string>(
      'SELECT id FROM hallpass_sessions WHERE subject = ? AND revoked_at IS NULL AND id IS NOT ? ORDER BY created_at, rowid',
    ).pluck(),
    listLive: db.prepare<[string, number, number], SessionRow>(
      `SELECT ${SESSION_SELECT} FROM hallpass_sessions
        WHERE subject = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
        ORDER BY created_at DESC, rowid DESC`,
    ),
    insertAudit: db.prepare<[string, number, string]>('INSERT INTO hallpass_audit (subject, at, event) VALUES (?, ?, ?)'),
    listAuditOf: db.prepare<[string, number], string>(
      'SELECT event FROM hallpass_audit WHERE subject = ? ORDER BY at DESC, seq DESC LIMIT ?',
    ).pluck(),
    overfullSubjects: db.prepare<[number], string>(
      'SELECT subject FROM hallpass_audit GROUP BY subject HAVING count(*) > ?',
    ).pluck(),
    trimAuditOf: db.prepare<[string, string, number]>(
      `DELETE FROM hallpass_audit WHERE subject = ? AND seq IN (
         SELECT seq FROM hallpass_audit WHERE subject = ? ORDER BY at DESC, seq DESC LIMIT -1 OFFSET ?)`,
    ),
    selectKeyring: db.prepare<[], { version: number; data: string }>('SELECT version, data FROM hallpass_keyring WHERE id = 1'),
    insertKeyring: db.prepare<[string]>('INSERT INTO hallpass_keyring (id, version, data) VALUES (1, 1, ?) ON CONFLICT (id) DO NOTHING'),
    updateKeyring: db.prepare<[string, number]>('UPDATE hallpass_keyring SET version = version + 1, data = ? WHERE id = 1 AND version = ?'),
    purgeSessions: db.prepare<[number, number]>('DELETE FROM hallpass_sessions WHERE expires_at < ? OR idle_expires_at < ?'),
    selectOne: db.prepare<[], number>('SELECT 1').pluck(),
  }
}
