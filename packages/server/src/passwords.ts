/**
 * @module hallpass/server
 *
 * Password hashing with argon2id at the OWASP Password Storage Cheat Sheet's first
 * configuration (m = 19 MiB, t = 2, p = 1). Verification of an unknown user runs against a
 * dummy hash with the same parameters, so login timing does not reveal who has an account.
 */
import argon2 from 'argon2'
import { SessionInputInvalid } from 'hallpass/errors'

export const ARGON2_OPTIONS = Object.freeze({ type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 })
export const MIN_PASSWORD_LENGTH = 8
/** argon2 would hash anything, but a megabyte "password" is an attack on CPU, not a login. */
export const MAX_PASSWORD_LENGTH = 1024

export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new SessionInputInvalid('password', `must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`)
  }
  return password
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(checkPassword(password), ARGON2_OPTIONS)
}

let dummyHash: Promise<string> | undefined

/**
 * Verifies `password` against `hash`, or against a dummy hash when `hash` is undefined (the
 * user does not exist), taking the same time either way. Malformed input is simply false.
 */
export async function verifyPassword(hash: string | undefined, password: unknown): Promise<boolean> {
  dummyHash ??= argon2.hash('hallpass-timing-equaliser', ARGON2_OPTIONS)
  const candidate = typeof password === 'string' && password.length <= MAX_PASSWORD_LENGTH ? password : ''
  try {
    const ok = await argon2.verify(hash ?? (await dummyHash), candidate)
    return ok && hash !== undefined && candidate.length > 0
  } catch {
    return false
  }
}

/** True when a stored hash uses weaker parameters than today's, so it should be re-hashed. */
export function needsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, ARGON2_OPTIONS)
}
