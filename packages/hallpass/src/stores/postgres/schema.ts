// The schema the PostgreSQL stores live in: its name, and the migration transaction that the
// session store and the user store share, so both serialise their DDL on one schema.
import type { Pool, PoolClient } from 'pg'
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import { postgresMigrations } from './migrations.ts'

// The schema becomes a quoted identifier, and `<schema>_revocations` the NOTIFY channel, which
// must fit PostgreSQL's 63-byte identifier limit (NAMEDATALEN − 1): pg_notify() refuses longer
// names while LISTEN silently truncates them, so the two would never meet. Hence 51 characters.
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,50}$/

export function checkSchema(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema) || schema.startsWith('pg_')) {
    throw new ConfigInvalid('schema', 'must be a lowercase identifier ([a-z_][a-z0-9_]*) of at most 51 characters, not starting with "pg_"')
  }
  return schema
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * Runs `work` in a transaction holding the schema's migration lock. Several instances may start
 * at once: the first takes the lock and migrates, the others wait, then find the versions
 * recorded and do nothing. The lock is released with the transaction, so a crashed migrator
 * never leaves it held.
 */
export async function inMigrationTransaction(pool: Pool, schema: string, work: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect()
  let failure: Error | undefined
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`hallpass:migrate:${schema}`])
    await work(client)
    await client.query('COMMIT')
  } catch (error) {
    failure = error instanceof Error ? error : new Error('migration failed')
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    // A failed client is destroyed rather than returned half-way through a transaction.
    client.release(failure)
  }
}

/**
 * CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS, so it is
 * only asked for when the schema is really missing.
 */
export async function createSchemaIfMissing(client: PoolClient, schema: string): Promise<void> {
  const existing = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
  if (existing.rowCount === 0) await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`)
}

/** Brings the session store's tables to the newest version, inside `inMigrationTransaction`. */
export async function migrateSessionTables(client: PoolClient, schema: string): Promise<void> {
  const S = quoteIdent(schema)
  await createSchemaIfMissing(client, schema)
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
}
