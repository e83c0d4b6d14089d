/**
 * @module hallpass/verify
 *
 * The verified-token cache: a bounded LRU from the whole token string to the claims its
 * signature was verified for. Services see the same access token many times during its short
 * life; a hit skips the signature check (the expensive part) and nothing else.
 *
 * What a hit still checks, every time (in `createVerifier`): `exp` and `nbf` against the clock,
 * the denylist (a revoked session's cached token is refused on its next use), the revocation
 * feed policy and the required scopes. An entry leaves the cache when the key that verified it
 * leaves the issuer's JWKS. Failures are never cached, and only a token that verified can
 * enter, so the cache cannot be filled with junk.
 */
import { checkKnownKeys, checkPositiveInteger } from '../engine/internal/check-options.ts'
import type { JwsKey } from '../engine/jwk/types.ts'
import type { JwtClaims } from '../engine/jwt/types.ts'

export interface CachedToken {
  readonly claims: Readonly<JwtClaims>
  readonly key: JwsKey
  readonly exp: number | undefined
  readonly nbf: number | undefined
  readonly sid: string | undefined
}

export interface TokenCacheOptions {
  /** Most tokens held (default 10,000). */
  maxEntries?: number
}

export interface TokenCache {
  /** The entry for `token`, marked most recently used. */
  get(token: string): CachedToken | undefined
  set(token: string, entry: CachedToken): void
  delete(token: string): void
  /** Evicts every entry verified by a key not in `keys`; returns how many. */
  retainKeys(keys: ReadonlySet<JwsKey>): number
  readonly size: number
  readonly maxEntries: number
}

export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000

/**
 * Creates an empty cache (`createVerifier` makes one unless `cache: false`).
 *
 * @example
 * import { createTokenCache } from 'hallpass/verify'
 * const cache = createTokenCache({ maxEntries: 1000 })
 */
export function createTokenCache(options: TokenCacheOptions = {}): TokenCache {
  checkKnownKeys(options, ['maxEntries'], 'cache.')
  const maxEntries = checkPositiveInteger(options.maxEntries, 'cache.maxEntries') ?? DEFAULT_TOKEN_CACHE_ENTRIES
  // A Map iterates in insertion order: re-inserting on each hit keeps the least recently used
  // entry first, which is the one evicted.
  const entries = new Map<string, CachedToken>()
  return {
    get(token: string): CachedToken | undefined {
      const entry = entries.get(token)
      if (entry !== undefined) {
        entries.delete(token)
        entries.set(token, entry)
      }
      return entry
    },
    set(token: string, entry: CachedToken): void {
      entries.delete(token)
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done !== true) entries.delete(oldest.value)
      }
      entries.set(token, entry)
    },
    delete(token: string): void {
      entries.delete(token)
    },
    retainKeys(keys: ReadonlySet<JwsKey>): number {
      let removed = 0
      for (const [token, entry] of entries) {
        if (!keys.has(entry.key)) {
          entries.delete(token)
          removed++
        }
      }
      return removed
    },
    get size() {
      return entries.size
    },
    maxEntries,
  }
}
