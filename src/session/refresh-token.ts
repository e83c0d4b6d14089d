// Refresh tokens: `hprt_<sid>.<generation>.<secret>`.
// - The `hprt_` prefix lets secret scanners recognise a leaked token.
// - `sid` (128 random bits) makes lookup one indexed read; `generation` says which link of the
//   session's chain this is.
// - `secret` (256 bits) is random at generation 0; each successor is
//   HMAC-SHA256(chainKey, sid ‖ generation+1 ‖ secret). Only SHA-256 hashes are stored.
// The chain is what lets the grace window hand every racing request the *same* successor
// without storing it, and lets a replayed older token be proven genuine (by walking the chain
// forward to the stored hash) before it revokes anything: a forged token can never revoke a
// session, even by someone who knows its sid.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { RefreshTokenInvalid } from '../errors.ts'

export const REFRESH_TOKEN_PREFIX = 'hprt_'
const MAX_GENERATION = 1_000_000_000
// prefix + 22 (sid) + '.' + up to 10 digits + '.' + 43 (secret)
const MAX_TOKEN_LENGTH = 5 + 22 + 1 + 10 + 1 + 43
const TOKEN_PATTERN = /^hprt_([A-Za-z0-9_-]{22})\.(0|[1-9][0-9]{0,9})\.([A-Za-z0-9_-]{43})$/

export interface ParsedRefreshToken {
  readonly sid: string
  readonly generation: number
  readonly secret: string
}

export function formatRefreshToken(sid: string, generation: number, secret: string): string {
  return `${REFRESH_TOKEN_PREFIX}${sid}.${generation}.${secret}`
}

/** Parses the token's shape; anything else is `ERR_REFRESH_INVALID` with nothing looked up. */
export function parseRefreshToken(token: unknown): ParsedRefreshToken {
  if (typeof token !== 'string') throw new RefreshTokenInvalid('not a string')
  if (token.length > MAX_TOKEN_LENGTH) throw new RefreshTokenInvalid('too long')
  if (!token.startsWith(REFRESH_TOKEN_PREFIX)) throw new RefreshTokenInvalid('wrong prefix')
  const match = TOKEN_PATTERN.exec(token)
  if (match === null) throw new RefreshTokenInvalid('malformed')
  const generation = Number(match[2])
  if (generation > MAX_GENERATION) throw new RefreshTokenInvalid('malformed')
  return { sid: match[1]!, generation, secret: match[3]! }
}

/** The stored form of a secret: SHA-256, base64url. The secret has 256 bits, so no KDF is needed. */
export function hashRefreshSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url')
}

/** The successor secret of `secret` (which is at `generation - 1`). */
export function deriveSuccessorSecret(chainKey: Uint8Array, sid: string, generation: number, secret: string): string {
  return createHmac('sha256', chainKey).update(`${sid}.${generation}.${secret}`).digest('base64url')
}

/** Constant-time comparison of two stored hashes. */
export function hashesEqual(a: string | null, b: string): boolean {
  if (a === null || a.length !== b.length) return false
  return timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/**
 * Whether `secret` at `generation` is a genuine ancestor of the session's current token:
 * walks the chain forward at most `maxSteps` links and compares with the stored hash.
 */
export function isGenuineAncestor(
  chainKey: Uint8Array,
  sid: string,
  generation: number,
  secret: string,
  currentGeneration: number,
  currentHash: string,
  maxSteps: number,
): boolean {
  const steps = currentGeneration - generation
  if (steps <= 0 || steps > maxSteps) return false
  let link = secret
  for (let g = generation + 1; g <= currentGeneration; g++) link = deriveSuccessorSecret(chainKey, sid, g, link)
  return hashesEqual(currentHash, hashRefreshSecret(link))
}
