/**
 * @module hallpass/stores/postgres
 *
 * Sessions, the revocation feed (LISTEN/NOTIFY), the keyring and the user table on PostgreSQL,
 * through an injected `pg.Pool` (`pg` is an optional peer dependency of `hallpass`).
 */
export { postgresMigrations, type PostgresMigration } from './migrations.ts'
export { createPostgresStore, type PostgresListenClient, type PostgresStore, type PostgresStoreOptions } from './session-store.ts'
export { createPostgresUserStore, POSTGRES_USERS_SCHEMA_VERSION, type PostgresUserStore, type PostgresUserStoreOptions } from './user-store.ts'
