// The options of `createSqliteStore`, checked once before the database is touched.
import type Database from 'better-sqlite3'
import { ConfigInvalid } from '../../errors.ts'

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

export interface ResolvedOptions {
  readonly busyTimeoutMs: number
  readonly pollIntervalMs: number
  readonly maxAuditEventsPerSubject: number
  readonly onError: ((error: unknown) => void) | undefined
}

const OPTION_NAMES = ['path', 'database', 'busyTimeoutSeconds', 'pollIntervalSeconds', 'maxAuditEventsPerSubject', 'onError']

export function checkOptions(options: SqliteStoreOptions): ResolvedOptions {
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
