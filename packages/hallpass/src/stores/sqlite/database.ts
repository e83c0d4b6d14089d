// Opening the SQLite database of the session store: the connection's pragmas and the schema
// migrations, before any statement is prepared.
import Database from 'better-sqlite3'
import { StoreUnavailable } from '../../errors.ts'
import { toStoreError } from './errors.ts'
import { sqliteMigrations } from './migrations.ts'
import type { SqliteStoreOptions } from './options.ts'

/** The schema version (`PRAGMA user_version`) this release migrates a database to. */
export const SQLITE_SCHEMA_VERSION = sqliteMigrations.length

/**
 * The caller's connection, or a new one on `path`, configured and migrated. A connection the
 * store opened is closed again when that fails; the caller's is left open.
 */
export function openDatabase(options: SqliteStoreOptions, busyTimeoutMs: number): Database.Database {
  const owned = options.database === undefined
  let db: Database.Database
  try {
    db = options.database ?? new Database(options.path)
  } catch (error) {
    throw toStoreError('open', error)
  }
  try {
    configure(db, busyTimeoutMs)
    migrate(db)
  } catch (error) {
    if (owned) db.close()
    throw toStoreError('open', error)
  }
  return db
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  // Wait for another connection's lock instead of failing at once (several processes, one file).
  db.pragma(`busy_timeout = ${busyTimeoutMs}`)
  if (!db.memory) {
    const mode = db.pragma('journal_mode = WAL', { simple: true })
    // WAL: readers never block the writer and commits need no fsync (see the store's module note).
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
