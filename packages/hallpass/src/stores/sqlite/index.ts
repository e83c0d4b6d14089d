/**
 * @module hallpass/stores/sqlite
 *
 * The embedded default store: sessions, the revocation feed, the keyring and the user table in
 * one SQLite file (better-sqlite3, an optional peer dependency of `hallpass`).
 */
export { createSqliteStore, SQLITE_SCHEMA_VERSION, SQLITE_STORE_DEFAULTS, type SqliteStoreOptions } from './session-store.ts'
export { createSqliteUserStore, SQLITE_USERS_SCHEMA_VERSION, type SqliteUserStoreOptions } from './user-store.ts'
