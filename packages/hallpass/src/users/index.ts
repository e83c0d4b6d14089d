/**
 * @module hallpass
 *
 * Users of the built-in credential check.
 */
export type { NewUserRecord, UserChanges, UserRecord, UserStore, UserSummary } from './user-store.ts'
export { normalizeUsername } from './usernames.ts'
