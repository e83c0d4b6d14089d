/**
 * @module hallpass/server
 *
 * The built-in user table of `hallpass serve` on SQLite: one `hallpass_users` table in the same
 * database file as the sessions, through the same better-sqlite3 connection.
 *
 * The session store owns `PRAGMA user_version` (its migration counter), so this table never
 * touches it: its DDL is idempotent (`CREATE TABLE IF NOT EXISTS`) and its own version lives in
 * the one-row table `hallpass_users_meta`. Either store may be created first, on a fresh or an
 * existing file, and neither can mistake the other's tables for a newer schema of its own.
 *
 * The connection is the caller's: this store sets no pragma and never closes it (the session
 * store, created on the same connection, sets WAL mode and the busy timeout). Every method is
 * one prepared statement, run synchronously, so each is atomic on its own: `createUser` is an
 * `INSERT … ON CONFLICT DO NOTHING`, and of any number of racing creations of one name (in this
 * process or another one on the same file) exactly one inserts the row.
 */
import type Database from 'better-sqlite3'
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import { checkPasswordHash, checkUserChanges, checkUserRecord, checkUserTime, isStorableUsername } from '../../users/user-record.ts'
import type { UserRecord, UserStore, UserSummary } from '../../users/user-store.ts'
import { toStoreError } from './errors.ts'

/** The version of the user table schema this release writes to `hallpass_users_meta`. */
export const SQLITE_USERS_SCHEMA_VERSION = 2

export interface SqliteUserStoreOptions {
  /** The open better-sqlite3 connection the session store uses. The user store never closes it. */
  readonly database: Database.Database
}

// Migration N brings the user table from version N to N + 1. Never edit a released one: append.
// The username is the primary key under SQLite's default BINARY collation: equality is
// byte-for-byte (no case or Unicode folding) and ORDER BY is UTF-8 byte order, which is code
// point order. STRICT makes SQLite refuse a value of the wrong type instead of storing it.
const USER_MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS hallpass_users (
     username      TEXT    NOT NULL PRIMARY KEY,
     password_hash TEXT    NOT NULL,
     created_at    INTEGER NOT NULL,
     updated_at    INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS hallpass_users_meta (
     id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
     version INTEGER NOT NULL
   ) STRICT;`,
  // 2: the admin console's flags. Rows written before them read as ordinary, enabled users
  // (DEFAULT 0); the CHECK keeps anything but 0 and 1 out, so a row cannot mean "maybe".
  `ALTER TABLE hallpass_users ADD COLUMN admin    INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1));
   ALTER TABLE hallpass_users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));`,
]

interface UserRow {
  readonly username: string
  readonly password_hash: string
  readonly created_at: number
  readonly updated_at: number
  readonly admin: number
  readonly disabled: number
}

type SummaryRow = Omit<UserRow, 'password_hash'>

function summaryFromRow(row: SummaryRow): UserSummary {
  return { username: row.username, createdAt: row.created_at, updatedAt: row.updated_at, admin: row.admin === 1, disabled: row.disabled === 1 }
}

/** A flag as bound: 1 or 0, or NULL for "keep the stored value" (updateUser's COALESCE). */
function flagParam(value: boolean | undefined): number | null {
  return value === undefined ? null : value ? 1 : 0
}

// ---- migration ------------------------------------------------------------------------------

function readVersion(db: Database.Database): number {
  const table = db.prepare<[], number>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hallpass_users_meta'").pluck().get()
  if (table === undefined) return 0
  const version = db.prepare<[], unknown>('SELECT version FROM hallpass_users_meta WHERE id = 1').pluck().safeIntegers(false).get()
  return typeof version === 'number' ? version : 0
}

function refuseNewer(version: number): void {
  if (version > SQLITE_USERS_SCHEMA_VERSION) {
    throw new StoreUnavailable(`the user table schema (version ${version}) is newer than this hallpass supports (${SQLITE_USERS_SCHEMA_VERSION})`)
  }
}

/**
 * Reads the version first, outside any write transaction, so an up-to-date file needs no write
 * lock (and a read-only connection still works); only a missing or older table takes the
 * IMMEDIATE lock, re-reads under it, and migrates, so concurrent openers migrate once.
 */
function migrate(db: Database.Database): void {
  const seen = readVersion(db)
  refuseNewer(seen)
  if (seen === SQLITE_USERS_SCHEMA_VERSION) return
  const run = db.transaction(() => {
    const current = readVersion(db)
    refuseNewer(current)
    if (current === SQLITE_USERS_SCHEMA_VERSION) return
    for (const migration of USER_MIGRATIONS.slice(current)) db.exec(migration)
    db.prepare<[number]>('INSERT INTO hallpass_users_meta (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version').run(
      SQLITE_USERS_SCHEMA_VERSION,
    )
  })
  run.immediate()
}

/** Every statement, prepared once. */
function prepareStatements(db: Database.Database) {
  // safeIntegers(false): numbers come back as numbers even on a connection the caller switched
  // to BigInt mode (timestamps are safe integers by construction).
  return {
    insert: db.prepare<[string, string, number, number, number, number]>(
      `INSERT INTO hallpass_users (username, password_hash, created_at, updated_at, admin, disabled) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (username) DO NOTHING`,
    ),
    select: db
      .prepare<[string], UserRow>('SELECT username, password_hash, created_at, updated_at, admin, disabled FROM hallpass_users WHERE username = ?')
      .safeIntegers(false),
    update: db.prepare<[string, number, string]>('UPDATE hallpass_users SET password_hash = ?, updated_at = ? WHERE username = ?'),
    // NULL keeps a flag as stored: one statement whichever flags are given, atomic on its own.
    updateFlags: db.prepare<[number | null, number | null, number, string]>(
      'UPDATE hallpass_users SET admin = coalesce(?, admin), disabled = coalesce(?, disabled), updated_at = ? WHERE username = ?',
    ),
    remove: db.prepare<[string]>('DELETE FROM hallpass_users WHERE username = ?'),
    list: db
      .prepare<[], SummaryRow>('SELECT username, created_at, updated_at, admin, disabled FROM hallpass_users ORDER BY username')
      .safeIntegers(false),
    count: db.prepare<[], number>('SELECT count(*) FROM hallpass_users').pluck().safeIntegers(false),
    countAdmins: db.prepare<[], number>('SELECT count(*) FROM hallpass_users WHERE admin = 1 AND disabled = 0').pluck().safeIntegers(false),
  }
}

type Statements = ReturnType<typeof prepareStatements>

// ---- the store ------------------------------------------------------------------------------

/**
 * Creates the user table on an open better-sqlite3 connection (if missing) and returns a
 * `UserStore` on it. Throws `ERR_CONFIG_INVALID` for bad options and `ERR_STORE_UNAVAILABLE`
 * when the table cannot be created or was written by a newer hallpass. Later driver failures
 * reject with `ERR_STORE_UNAVAILABLE`; unacceptable input with `ERR_SESSION_INPUT_INVALID`.
 *
 * Reached through `openStore` (`hallpass/server`), which passes the session store's connection.
 *
 * @example
 * import Database from 'better-sqlite3'
 * const database = new Database('.hallpass/hallpass.db')
 * const sessions = createSqliteStore({ database })
 * const users = createSqliteUserStore({ database })
 * await users.createUser({ username: 'alice', passwordHash: await hashPassword(password), createdAt: now, updatedAt: now })
 */
export function createSqliteUserStore(options: SqliteUserStoreOptions): UserStore {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (key !== 'database') throw new ConfigInvalid(key, 'is not a known option')
  }
  const db = options.database
  if (typeof db !== 'object' || db === null || typeof db.prepare !== 'function' || typeof db.transaction !== 'function') {
    throw new ConfigInvalid('database', 'must be an open better-sqlite3 Database')
  }

  let sql: Statements
  try {
    migrate(db)
    sql = prepareStatements(db)
  } catch (error) {
    throw toStoreError('users open', error)
  }

  const attempt = <T>(operation: string, body: () => T): Promise<T> => {
    try {
      return Promise.resolve(body())
    } catch (error) {
      return Promise.reject(toStoreError(`users ${operation}`, error))
    }
  }

  return {
    createUser: (user) =>
      attempt('createUser', () => {
        const u = checkUserRecord(user)
        return sql.insert.run(u.username, u.passwordHash, u.createdAt, u.updatedAt, u.admin ? 1 : 0, u.disabled ? 1 : 0).changes === 1
      }),

    getUser: (username) =>
      attempt('getUser', (): UserRecord | undefined => {
        if (!isStorableUsername(username)) return undefined
        const row = sql.select.get(username)
        if (row === undefined) return undefined
        return { ...summaryFromRow(row), passwordHash: row.password_hash }
      }),

    updatePassword: (username, passwordHash, now) =>
      attempt('updatePassword', () => {
        const hash = checkPasswordHash(passwordHash)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return sql.update.run(hash, at, username).changes === 1
      }),

    updateUser: (username, changes, now) =>
      attempt('updateUser', () => {
        const c = checkUserChanges(changes)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return sql.updateFlags.run(flagParam(c.admin), flagParam(c.disabled), at, username).changes === 1
      }),

    deleteUser: (username) =>
      attempt('deleteUser', () => {
        if (!isStorableUsername(username)) return false
        return sql.remove.run(username).changes === 1
      }),

    listUsers: () => attempt('listUsers', (): UserSummary[] => sql.list.all().map(summaryFromRow)),

    countUsers: () => attempt('countUsers', () => sql.count.get() ?? 0),

    countAdmins: () => attempt('countAdmins', () => sql.countAdmins.get() ?? 0),
  }
}
