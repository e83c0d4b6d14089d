// The checks every user store applies before it writes or looks up a user, so the SQLite,
// PostgreSQL and Redis tables accept exactly the same records. Never exported from a public entry.
import { SessionInputInvalid } from '../errors.ts'
import type { UserRecord } from './user-store.ts'
import { LONE_SURROGATE, normalizeUsername } from './usernames.ts'

// PHC string format (password-hashing competition): `$id$param=value,…$salt$hash`, every part
// printable ASCII without spaces. Anything else cannot be a hash argon2 produced.
const PHC_TEXT = /^[\x21-\x7e]{1,1024}$/

/**
 * Only names that `normalizeUsername` maps to themselves are stored, so no caller can register
 * "Alice" beside "alice" (or a full-width twin) by forgetting to normalise. Lone surrogates pass
 * NFKC unchanged but are not text: the UTF-8 every store's driver sends would turn each into
 * U+FFFD, so distinct names would collide in the table or share an index entry.
 */
export function checkUsername(username: unknown): string {
  if (typeof username !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  let canonical: string | undefined
  try {
    canonical = normalizeUsername(username)
  } catch {
    canonical = undefined
  }
  if (canonical !== username || LONE_SURROGATE.test(username)) {
    throw new SessionInputInvalid('username', 'must be a normalised username (see normalizeUsername)')
  }
  return username
}

/**
 * A name looked up: any string. One no user can have is simply not found, without asking the
 * database: PostgreSQL text cannot hold NUL (the query would fail, a 503 for a bad login) and a
 * lone surrogate would arrive as U+FFFD and could match a real name.
 */
export function isStorableUsername(username: unknown): username is string {
  if (typeof username !== 'string') throw new SessionInputInvalid('username', 'must be a string')
  return !username.includes('\u0000') && !LONE_SURROGATE.test(username)
}

export function checkPasswordHash(passwordHash: unknown): string {
  if (typeof passwordHash !== 'string' || !PHC_TEXT.test(passwordHash)) {
    throw new SessionInputInvalid('passwordHash', 'must be a PHC hash string (1-1024 printable ASCII characters)')
  }
  return passwordHash
}

export function checkUserTime(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new SessionInputInvalid(field, 'must be an integer (epoch milliseconds)')
  return value
}

/** The record to write, rebuilt from checked members so no extra property reaches a store. */
export function checkUserRecord(user: UserRecord): UserRecord {
  if (typeof user !== 'object' || user === null) throw new SessionInputInvalid('user', 'must be a user record')
  return {
    username: checkUsername(user.username),
    passwordHash: checkPasswordHash(user.passwordHash),
    createdAt: checkUserTime('createdAt', user.createdAt),
    updatedAt: checkUserTime('updatedAt', user.updatedAt),
  }
}
