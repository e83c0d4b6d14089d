// The checks every user store applies before it writes or looks up a user, so the SQLite,
// PostgreSQL and Redis tables accept exactly the same records. Never exported from a public entry.
import { SessionInputInvalid } from '../errors.ts'
import type { NewUserRecord, UserChanges, UserRecord } from './user-store.ts'
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

/**
 * A flag of a user. Left out means false when creating (callers from before the flags), but
 * anything else that is not a boolean is refused: `"false"` or `0` from a form or a JSON body
 * must not be read as one answer by one store and another by the next.
 */
export function checkUserFlag(field: 'admin' | 'disabled', value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new SessionInputInvalid(field, 'must be a boolean')
  return value
}

/** The record to write, rebuilt from checked members so no extra property reaches a store. */
export function checkUserRecord(user: NewUserRecord): UserRecord {
  if (typeof user !== 'object' || user === null) throw new SessionInputInvalid('user', 'must be a user record')
  return {
    username: checkUsername(user.username),
    passwordHash: checkPasswordHash(user.passwordHash),
    createdAt: checkUserTime('createdAt', user.createdAt),
    updatedAt: checkUserTime('updatedAt', user.updatedAt),
    admin: checkUserFlag('admin', user.admin),
    disabled: checkUserFlag('disabled', user.disabled),
  }
}

const CHANGE_NAMES: ReadonlySet<string> = new Set(['admin', 'disabled'])

/**
 * The changes of `updateUser`, rebuilt: only `admin` and `disabled`, each a boolean or left out.
 * Any other member is refused rather than ignored: `{ isAdmin: true }` or `{ disable: true }`
 * would otherwise report success and change nothing but `updatedAt`.
 */
export function checkUserChanges(changes: UserChanges): UserChanges {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) throw new SessionInputInvalid('changes', 'must be an object')
  for (const name of Object.keys(changes)) {
    if (!CHANGE_NAMES.has(name)) throw new SessionInputInvalid('changes', 'may only hold admin and disabled')
  }
  // Each member read once: a getter cannot pass the check with one value and be stored with another.
  const { admin, disabled } = changes
  return {
    ...(admin !== undefined ? { admin: checkUserFlag('admin', admin) } : {}),
    ...(disabled !== undefined ? { disabled: checkUserFlag('disabled', disabled) } : {}),
  }
}
