// Refresh tokens: `hprt_<sid>.<generation>.<secret>.<tag>`.
// - The `hprt_` prefix lets secret scanners recognise a leaked token.
// - `sid` (128 random bits) makes lookup one indexed read; `generation` says which link of the
//   session's chain this is.
// - `secret` (256 bits) is random at generation 0; each successor is
//   HMAC-SHA256(chainKey, sid ‖ generation+1 ‖ secret). Only SHA-256 hashes are stored.
// - `tag` is the first 22 base64url characters (132 bits) of SHA3-256(tagKey ‖ sid ‖
//   generation ‖ secret): proof that this server issued exactly this token. SHA-3 has no
//   length extension, so prefixing the key makes it a MAC (KMAC, NIST SP 800-185, is this
//   construction with domain encoding); one-shot, it costs 0.75 µs where an HMAC costs 1.9.
// The chain is what lets the grace window hand every racing request the *same* successor
// without storing it. The tag, checked before anything is looked up, refuses an altered or
// forged token at the cost of one hash, and proves a superseded token that comes back genuine
// however old it is, so that it may revoke its session while nobody who merely knows a sid (it
// is in every access token) can.
import { createHmac, hash, timingSafeEqual, type KeyObject } from 'node:crypto'
import { RefreshTokenInvalid } from '../errors.ts'

export const REFRESH_TOKEN_PREFIX = 'hprt_'
const MAX_GENERATION = 1_000_000_000
const TAG_LENGTH = 22
// prefix + 22 (sid) + '.' + up to 10 digits + '.' + 43 (secret) + '.' + 22 (tag)
const MAX_TOKEN_LENGTH = 5 + 22 + 1 + 10 + 1 + 43 + 1 + TAG_LENGTH
const TOKEN_PATTERN = /^hprt_([A-Za-z0-9_-]{22})\.(0|[1-9][0-9]{0,9})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{22})$/

/** An HMAC key: a KeyObject made once is cheaper per call than raw bytes. */
export type HmacKey = KeyObject | Uint8Array

export interface ParsedRefreshToken {
  readonly sid: string
  readonly generation: number
  readonly secret: string
  readonly tag: string
}

/** The tag key as text: base64url of 32 random bytes (43 characters), a fixed-length prefix. */
export type TagKey = string

export function tagKeyOf(bytes: Uint8Array): TagKey {
  if (bytes.length !== 32) throw new RangeError('a refresh-token tag key has 32 bytes')
  return Buffer.from(bytes).toString('base64url')
}

function tagOf(tagKey: TagKey, sid: string, generation: number, secret: string): string {
  return hash('sha3-256', `${tagKey}${sid}.${generation}.${secret}`, 'base64url').slice(0, TAG_LENGTH)
}

/** The token holding `secret` at `generation`, tagged. */
export function issueRefreshToken(tagKey: TagKey, sid: string, generation: number, secret: string): string {
  return `${REFRESH_TOKEN_PREFIX}${sid}.${generation}.${secret}.${tagOf(tagKey, sid, generation, secret)}`
}

/**
 * Parses a refresh token and proves its tag: anything this server did not issue, exactly so,
 * is `ERR_REFRESH_INVALID`, with nothing looked up.
 */
export function parseRefreshToken(token: unknown, tagKey: TagKey): ParsedRefreshToken {
  if (typeof token !== 'string') throw new RefreshTokenInvalid('not a string')
  if (token.length > MAX_TOKEN_LENGTH) throw new RefreshTokenInvalid('too long')
  if (!token.startsWith(REFRESH_TOKEN_PREFIX)) throw new RefreshTokenInvalid('wrong prefix')
  const match = TOKEN_PATTERN.exec(token)
  if (match === null) throw new RefreshTokenInvalid('malformed')
  const generation = Number(match[2])
  if (generation > MAX_GENERATION) throw new RefreshTokenInvalid('malformed')
  const parsed = { sid: match[1]!, generation, secret: match[3]!, tag: match[4]! }
  if (!hashesEqual(tagOf(tagKey, parsed.sid, generation, parsed.secret), parsed.tag)) throw new RefreshTokenInvalid('not issued by this server')
  return parsed
}

/** The stored form of a secret: SHA-256, base64url. The secret has 256 bits, so no KDF is needed. */
export function hashRefreshSecret(secret: string): string {
  return hash('sha256', secret, 'base64url')
}

/** The successor secret of `secret` (which is at `generation - 1`). */
export function deriveSuccessorSecret(chainKey: HmacKey, sid: string, generation: number, secret: string): string {
  return createHmac('sha256', chainKey).update(`${sid}.${generation}.${secret}`).digest('base64url')
}

/** Constant-time comparison of two hashes or tags (base64url text). */
export function hashesEqual(a: string | null, b: string): boolean {
  if (a === null || a.length !== b.length) return false
  return timingSafeEqual(Buffer.from(a), Buffer.from(b))
}
