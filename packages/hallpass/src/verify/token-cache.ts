/**
 * @module hallpass/verify
 *
 * The verified-token cache: a bounded cache (CLOCK, an LRU approximation) from the whole token
 * string to the claims its signature was verified for. Services see the same access token many
 * times during its short life; a hit skips the signature check (the expensive part) and nothing
 * else. A token is admitted on its second verification (see `secondSighting`), so a flood of
 * tokens that never come back neither evicts the tokens that do nor keeps garbage alive.
 *
 * What a hit still checks, every time (in `createVerifier`): `exp` and `nbf` against the clock,
 * the denylist (a revoked session's cached token is refused on its next use), the revocation
 * feed policy and the required scopes. An entry leaves the cache when the key that verified it
 * leaves the issuer's JWKS. Failures are never cached, and only a token that verified can
 * enter, so the cache cannot be filled with junk.
 */
import { checkKnownKeys, checkPositiveInteger } from '../internal/options.ts'
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
  /** Offers `token`'s entry: it is kept from the second offer of the same token on (admission). */
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
  // CLOCK ("second chance"), not a Map kept in LRU order: evicting a Map's first key makes V8
  // skip every deleted slot before it, ~7 µs per eviction at 10,000 entries, paid on every
  // request when tokens do not repeat. Here entries sit in fixed slots; a hit sets the slot's
  // bit; the hand evicts the first slot without it, clearing bits as it passes. A new token
  // starts without its bit, so tokens seen once leave before tokens seen again.
  const slotOf = new Map<string, number>()
  const tokens: Array<string | undefined> = []
  const values: Array<CachedToken | undefined> = []
  const referenced = new Uint8Array(maxEntries)
  const free: number[] = []
  let hand = 0
  // Admission: a token enters on its second verification, not its first. Caching every token
  // kept each one alive for 10,000 requests even when it never came back (a 1-2 kB token and
  // claims promoted out of the young generation: +3.5 µs per request with distinct tokens);
  // a token a client reuses is cached from its second use on. `seen` holds a 30-bit hash of
  // the token's last characters (its signature), a number rather than a slice, which would
  // keep the whole token alive. A collision only admits a token early: the cache itself is
  // keyed by the whole token.
  const seen = new Set<number>()

  function secondSighting(token: string): boolean {
    let hash = 0x811c9dc5
    for (let i = Math.max(0, token.length - 24); i < token.length; i++) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193)
    hash &= 0x3fffffff
    if (seen.delete(hash)) return true
    if (seen.size >= maxEntries) seen.clear()
    seen.add(hash)
    return false
  }

  function evictAt(slot: number): void {
    slotOf.delete(tokens[slot]!)
    tokens[slot] = undefined
    values[slot] = undefined
    referenced[slot] = 0
  }

  function takeSlot(): number {
    if (free.length > 0) return free.pop()!
    if (tokens.length < maxEntries) return tokens.length
    // Every slot is taken (free slots are in `free`): at most one lap clears every bit.
    while (referenced[hand] === 1) {
      referenced[hand] = 0
      hand = (hand + 1) % maxEntries
    }
    const slot = hand
    hand = (hand + 1) % maxEntries
    evictAt(slot)
    return slot
  }

  return {
    get(token: string): CachedToken | undefined {
      const slot = slotOf.get(token)
      if (slot === undefined) return undefined
      referenced[slot] = 1
      return values[slot]
    },
    set(token: string, entry: CachedToken): void {
      const existing = slotOf.get(token)
      if (existing !== undefined) {
        values[existing] = entry
        return
      }
      if (!secondSighting(token)) return
      const slot = takeSlot()
      tokens[slot] = token
      values[slot] = entry
      referenced[slot] = 0
      slotOf.set(token, slot)
    },
    delete(token: string): void {
      const slot = slotOf.get(token)
      if (slot === undefined) return
      evictAt(slot)
      free.push(slot)
    },
    retainKeys(keys: ReadonlySet<JwsKey>): number {
      let removed = 0
      for (let slot = 0; slot < tokens.length; slot++) {
        const entry = values[slot]
        if (entry !== undefined && !keys.has(entry.key)) {
          evictAt(slot)
          free.push(slot)
          removed++
        }
      }
      return removed
    },
    get size() {
      return slotOf.size
    },
    maxEntries,
  }
}
