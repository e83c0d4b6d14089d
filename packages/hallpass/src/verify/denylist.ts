/**
 * @module hallpass/verify
 *
 * The verifier's memory of revoked sessions: `sid → exp`. A revoked session's `sid` stays
 * listed until `exp` (plus the verifier's clock tolerance) has passed, the moment every access
 * token of that session would be refused for expiry anyway; then it is dropped, lazily when
 * looked up and by `sweep()`, which the verifier runs periodically.
 *
 * Memory: one Map entry per revoked, not yet expired session, about 80 bytes with the usual
 * 22-character session ids (`test/verify/revocation-feed.test.ts` measures 7-8 MB of heap for
 * 100k entries received over the feed).
 *
 * Bound (`maxEntries`, default 1,000,000): when full, expired entries are swept first; if it is
 * still full, the oldest entry (the one that will expire soonest, as entries arrive in
 * revocation order) is evicted to make room. A session whose entry was evicted could verify
 * again, so from that moment until the evicted entry's own expiry the list reports itself
 * *incomplete* (`incompleteSince`), and the verifier treats that exactly like a stale feed:
 * its revocation policy decides (by default it fails closed after 60 s). Nothing is ever
 * silently forgotten.
 */
import { ConfigInvalid, SessionInputInvalid } from '../errors.ts'
import { checkFunction, checkKnownKeys, checkPositiveInteger } from '../internal/options.ts'

export interface DenylistOptions {
  /** Most entries held (default 1,000,000). */
  maxEntries?: number
  /** Seconds an entry outlives its `exp` (the verifier passes its clock tolerance; default 0). */
  retainSeconds?: number
  /** Called when a live entry is evicted because the list is full. */
  onEvict?: (sid: string, exp: number) => void
}

export interface DenylistStats {
  readonly size: number
  readonly maxEntries: number
  /** Entries evicted before their expiry because the list was full. */
  readonly evicted: number
}

export interface Denylist {
  /** Lists `sid` until `exp` (epoch seconds). Throws `ERR_SESSION_INPUT_INVALID` for a bad sid or exp. */
  add(sid: string, exp: number, nowSeconds: number): void
  /** True while `sid` is listed and not expired. */
  isRevoked(sid: string, nowSeconds: number): boolean
  /** Drops every expired entry; returns how many. */
  sweep(nowSeconds: number): number
  /** Epoch seconds since which live entries may be missing (after an overflow), else undefined. */
  incompleteSince(nowSeconds: number): number | undefined
  readonly size: number
  stats(): DenylistStats
}

export const DEFAULT_DENYLIST_MAX_ENTRIES = 1_000_000
export const MAX_SID_LENGTH = 256

/**
 * Creates an empty denylist.
 *
 * @example
 * import { createDenylist } from 'hallpass/verify'
 * const denylist = createDenylist({ maxEntries: 100_000 })
 * denylist.add(sid, exp, Math.floor(Date.now() / 1000))
 */
export function createDenylist(options: DenylistOptions = {}): Denylist {
  checkKnownKeys(options, ['maxEntries', 'retainSeconds', 'onEvict'])
  const onEvict = checkFunction<(sid: string, exp: number) => void>(options.onEvict, 'onEvict')
  const maxEntries = checkPositiveInteger(options.maxEntries, 'maxEntries') ?? DEFAULT_DENYLIST_MAX_ENTRIES
  const retain = options.retainSeconds ?? 0
  if (typeof retain !== 'number' || !Number.isFinite(retain) || retain < 0) throw new ConfigInvalid('retainSeconds', 'must be a non-negative number')

  // Insertion order is revocation order, which the eviction below relies on.
  const entries = new Map<string, number>()
  let evicted = 0
  let lossSince: number | undefined
  let lossUntil = 0
  let nextFullSweepAt = Number.NEGATIVE_INFINITY

  function sweep(now: number): number {
    let removed = 0
    // Deleting the current entry while iterating a Map is well-defined (ECMA-262 §24.1.3.5).
    for (const [sid, until] of entries) {
      if (until <= now) {
        entries.delete(sid)
        removed++
      }
    }
    return removed
  }

  function makeRoom(now: number): void {
    // A full sweep is O(n): at most once a second, however fast entries arrive.
    if (now >= nextFullSweepAt) {
      nextFullSweepAt = now + 1
      if (sweep(now) > 0) return
    }
    const oldest = entries.entries().next()
    if (oldest.done === true) return
    const [sid, until] = oldest.value
    entries.delete(sid)
    if (until > now) {
      evicted++
      lossSince ??= now
      lossUntil = Math.max(lossUntil, until)
      onEvict?.(sid, until - retain)
    }
  }

  return {
    add(sid: string, exp: number, now: number): void {
      if (typeof sid !== 'string' || sid.length === 0 || sid.length > MAX_SID_LENGTH) {
        throw new SessionInputInvalid('sid', `must be a string of 1-${MAX_SID_LENGTH} characters`)
      }
      if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new SessionInputInvalid('exp', 'must be a finite number of epoch seconds')
      const until = exp + retain
      if (until <= now) return
      const current = entries.get(sid)
      if (current !== undefined) {
        if (until > current) entries.set(sid, until)
        return
      }
      if (entries.size >= maxEntries) makeRoom(now)
      entries.set(sid, until)
    },
    isRevoked(sid: string, now: number): boolean {
      const until = entries.get(sid)
      if (until === undefined) return false
      if (until > now) return true
      entries.delete(sid)
      return false
    },
    sweep,
    incompleteSince(now: number): number | undefined {
      if (lossSince !== undefined && now >= lossUntil) lossSince = undefined
      return lossSince
    },
    get size() {
      return entries.size
    },
    stats: () => ({ size: entries.size, maxEntries, evicted }),
  }
}
