/**
 * @module hallpass/server
 *
 * The built-in user table of `hallpass serve` on PostgreSQL: `<schema>.users` in the session
 * store's schema (default `hallpass`), through the same injected `pg.Pool`. The store borrows
 * connections and never ends the pool.
 *
 * The session store's migrations are versioned in `<schema>.schema_migrations` and refuse a
 * version they do not know, so the user table keeps out of that table: it is created by its own
 * idempotent migration, versioned in the one-row `<schema>.users_meta`, under the same
 * transaction-level advisory lock as the session store's migrations (so two instances starting
 * together, or a session store and a user store migrating one fresh schema at once, never race
 * on `CREATE SCHEMA` or `CREATE TABLE`).
 *
 * Every operation is one parameterised statement. `username` is the primary key with the "C"
 * collation: equality is byte-for-byte (no case or accent folding, whatever the database's
 * locale) and ORDER BY is UTF-8 byte order, i.e. code point order, the same order as the SQLite
 * and Redis user stores. `createUser` is `INSERT … ON CONFLICT DO NOTHING`: of racing creations
 * of one name, one inserts and the others wait on its index entry and then insert nothing.
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg'
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import { checkPasswordHash, checkUserChanges, checkUserRecord, checkUserTime, isStorableUsername } from '../../users/user-record.ts'
import type { UserRecord, UserStore, UserSummary } from '../../users/user-store.ts'
import { unavailable } from './errors.ts'
import { checkPool } from './options.ts'
import { checkSchema, createSchemaIfMissing, inMigrationTransaction, quoteIdent } from './schema.ts'

/** The version of the user table schema this release records in `<schema>.users_meta`. */
export const POSTGRES_USERS_SCHEMA_VERSION = 2

export interface PostgresUserStoreOptions {
  /** The application's pool (the session store's). The store borrows connections and never ends it. */
  readonly pool: Pool
  /** The session store's schema (default `hallpass`): lowercase identifier, at most 51 characters. */
  readonly schema?: string
  /** Create or upgrade the table before resolving (default true); else call `migrate()` yourself. */
  readonly migrate?: boolean
}

/** The PostgreSQL user store: a `UserStore`, plus its schema and an explicit `migrate()`. */
export interface PostgresUserStore extends UserStore {
  readonly schema: string
  /** Creates or upgrades `<schema>.users`; idempotent and safe to run concurrently. */
  migrate(): Promise<void>
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['pool', 'schema', 'migrate'])

/** Migration N brings the table from version N to N + 1, given the quoted schema. Append only. */
function userMigrations(s: string): readonly string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${s}.users (
       username      text COLLATE "C" PRIMARY KEY,
       password_hash text   NOT NULL,
       created_at    bigint NOT NULL,
       updated_at    bigint NOT NULL
     )`,
    // 2: the admin console's flags. Existing rows read as ordinary, enabled users. A constant
    // default makes ADD COLUMN a catalogue change (PostgreSQL 11+): no table rewrite, no long lock.
    `ALTER TABLE ${s}.users
       ADD COLUMN IF NOT EXISTS admin    boolean NOT NULL DEFAULT false,
       ADD COLUMN IF NOT EXISTS disabled boolean NOT NULL DEFAULT false`,
  ]
}

interface PgSummaryRow extends QueryResultRow {
  username: string
  created_at: string | number
  updated_at: string | number
  admin: boolean
  disabled: boolean
}

interface PgUserRow extends PgSummaryRow {
  password_hash: string
}

// ---- rows and options ----------------------------------------------------------------------

function summaryFromRow(row: PgSummaryRow): UserSummary {
  return { username: row.username, createdAt: toNumber(row.created_at), updatedAt: toNumber(row.updated_at), admin: row.admin === true, disabled: row.disabled === true }
}

/** int8 arrives as a decimal string (exact); the values were safe integers when written. */
function toNumber(value: string | number): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new StoreUnavailable('a stored user timestamp is corrupt')
  return n
}

function checkOptions(options: unknown): { pool: Pool; schema: string; migrate: boolean } {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new ConfigInvalid(key, 'is not a known option')
  }
  const { pool, schema = 'hallpass', migrate = true } = options as Partial<PostgresUserStoreOptions>
  // The session store's rules, so that every pool and schema it accepts is accepted here.
  checkPool(pool)
  checkSchema(schema)
  if (typeof migrate !== 'boolean') throw new ConfigInvalid('migrate', 'must be a boolean')
  return { pool, schema, migrate }
}

// ---- the store ------------------------------------------------------------------------------

/**
 * Creates the PostgreSQL user store on an injected pool and, unless `migrate: false`, creates
 * or upgrades `<schema>.users` first. Rejects with `ERR_CONFIG_INVALID` for bad options (before
 * any I/O) and with `ERR_STORE_UNAVAILABLE` when the database cannot be reached or the table was
 * written by a newer hallpass. Reached through `openStore` (`hallpass/server`).
 *
 * @example
 * import pg from 'pg'
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const sessions = await createPostgresStore({ pool })
 * const users = await createPostgresUserStore({ pool, schema: sessions.schema })
 * const alice = await users.getUser('alice')
 */
export async function createPostgresUserStore(options: PostgresUserStoreOptions): Promise<PostgresUserStore> {
  const { pool, schema, migrate: migrateFirst } = checkOptions(options)
  const S = quoteIdent(schema)
  const metaName = `${S}.users_meta`

  const sql = {
    insert: `INSERT INTO ${S}.users (username, password_hash, created_at, updated_at, admin, disabled) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (username) DO NOTHING`,
    select: `SELECT username, password_hash, created_at, updated_at, admin, disabled FROM ${S}.users WHERE username = $1`,
    update: `UPDATE ${S}.users SET password_hash = $2, updated_at = $3 WHERE username = $1`,
    // NULL keeps a flag as stored: one statement whichever flags are given.
    updateFlags: `UPDATE ${S}.users SET admin = coalesce($2::boolean, admin), disabled = coalesce($3::boolean, disabled), updated_at = $4
      WHERE username = $1`,
    remove: `DELETE FROM ${S}.users WHERE username = $1`,
    // The column's collation is "C" already; saying it again keeps the order if a DBA altered it.
    list: `SELECT username, created_at, updated_at, admin, disabled FROM ${S}.users ORDER BY username COLLATE "C"`,
    count: `SELECT count(*)::text AS n FROM ${S}.users`,
    countAdmins: `SELECT count(*)::text AS n FROM ${S}.users WHERE admin AND NOT disabled`,
  }

  async function run<T>(op: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw unavailable(`users ${op}`, error)
    }
  }

  async function readVersion(client: PoolClient): Promise<number> {
    // to_regclass: NULL (no error) when the schema or the table does not exist yet.
    const { rows } = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [metaName])
    if (rows[0]?.present !== true) return 0
    const version = await client.query<{ version: number }>(`SELECT version FROM ${metaName} WHERE id`)
    return version.rows[0]?.version ?? 0
  }

  async function migrate(): Promise<void> {
    // Under the session store's migration lock: a session store and a user store migrating one
    // fresh schema at once never race on CREATE SCHEMA or CREATE TABLE.
    await run('migrate', () =>
      inMigrationTransaction(pool, schema, async (client) => {
        const current = await readVersion(client)
        if (current > POSTGRES_USERS_SCHEMA_VERSION) {
          throw new StoreUnavailable(`the user table schema (version ${current}) is newer than this hallpass supports (${POSTGRES_USERS_SCHEMA_VERSION})`)
        }
        // Up to date: no DDL at all, so a runtime role without CREATE on the schema works.
        if (current === POSTGRES_USERS_SCHEMA_VERSION) return
        await createSchemaIfMissing(client, schema)
        await client.query(`CREATE TABLE IF NOT EXISTS ${metaName} (
          id      boolean PRIMARY KEY DEFAULT true CHECK (id),
          version integer NOT NULL)`)
        for (const migration of userMigrations(S).slice(current)) await client.query(migration)
        await client.query(
          `INSERT INTO ${metaName} (id, version) VALUES (true, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version`,
          [POSTGRES_USERS_SCHEMA_VERSION],
        )
      }),
    )
  }

  const store: PostgresUserStore = {
    schema,
    migrate,

    createUser: (user) =>
      run('createUser', async () => {
        const u = checkUserRecord(user)
        const result = await pool.query(sql.insert, [u.username, u.passwordHash, u.createdAt, u.updatedAt, u.admin, u.disabled])
        return result.rowCount === 1
      }),

    getUser: (username) =>
      run('getUser', async (): Promise<UserRecord | undefined> => {
        if (!isStorableUsername(username)) return undefined
        const [row] = (await pool.query<PgUserRow>(sql.select, [username])).rows
        if (row === undefined) return undefined
        return { ...summaryFromRow(row), passwordHash: row.password_hash }
      }),

    updatePassword: (username, passwordHash, now) =>
      run('updatePassword', async () => {
        const hash = checkPasswordHash(passwordHash)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return (await pool.query(sql.update, [username, hash, at])).rowCount === 1
      }),

    updateUser: (username, changes, now) =>
      run('updateUser', async () => {
        const c = checkUserChanges(changes)
        const at = checkUserTime('now', now)
        if (!isStorableUsername(username)) return false
        return (await pool.query(sql.updateFlags, [username, c.admin ?? null, c.disabled ?? null, at])).rowCount === 1
      }),

    deleteUser: (username) =>
      run('deleteUser', async () => {
        if (!isStorableUsername(username)) return false
        return (await pool.query(sql.remove, [username])).rowCount === 1
      }),

    listUsers: () =>
      run('listUsers', async (): Promise<UserSummary[]> => {
        const { rows } = await pool.query<PgSummaryRow>(sql.list)
        return rows.map(summaryFromRow)
      }),

    countUsers: () =>
      run('countUsers', async () => {
        const { rows } = await pool.query<{ n: string }>(sql.count)
        return Number(rows[0]?.n ?? 0)
      }),

    countAdmins: () =>
      run('countAdmins', async () => {
        const { rows } = await pool.query<{ n: string }>(sql.countAdmins)
        return Number(rows[0]?.n ?? 0)
      }),
  }

  if (migrateFirst) await migrate()
  return store
}
