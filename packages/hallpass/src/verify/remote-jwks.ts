/**
 * @module hallpass/verify
 *
 * The issuer's JWK Set, fetched over HTTPS and kept fresh in the background, as a synchronous
 * `KeyResolver`: verification itself never waits on the network.
 *
 * - Cached for the response's `Cache-Control: max-age`, bounded to [30 s, 1 day] (so neither
 *   `max-age=0` nor a year-long lifetime can be forced on the verifier), and refreshed before
 *   it runs out.
 * - A token whose `kid` is unknown fails (`ERR_JWKS_NO_MATCHING_KEY`) and asks for one
 *   refetch: it joins a fetch already under way, or starts one unless an unknown kid already
 *   caused one within the cooldown (30 s). A flood of random kids costs the issuer at most one
 *   request per cooldown, while a key that appeared since the last scheduled refresh (a store
 *   switched, a server restarted on new keys) is fetched on its first token. `refetched()`
 *   lets an async caller wait for that fetch and verify again (`verifier.verifyAsync`).
 * - A key that leaves the set stops verifying at the next successful fetch. A failed fetch,
 *   and a document that is not a usable key set, keep the last good set; members that fail
 *   import (weak, malformed, `use: "enc"`, …) are dropped from an otherwise good set.
 * - Keys come only from this URL: `jku`, `x5u`, `jwk` and `x5c` headers are refused by the
 *   engine (docs/security.md A5), so nothing in a token can make the verifier fetch anything.
 */
import { ConfigInvalid, isHallpassError, JwksNoMatchingKey, JwksUnavailable } from '../errors.ts'
import { checkFunction, checkKnownKeys, checkPositiveInteger } from '../internal/options.ts'
import type { JwkSet, JwsKey } from '../engine/jwk/types.ts'
import type { JwsHeader, KeyResolver } from '../engine/jws/types.ts'
import { createKeyring, importJwks, type Keyring } from '../engine/keyring.ts'
import { DEFAULT_FETCH_TIMEOUT_SECONDS, DEFAULT_MAX_RESPONSE_BYTES } from './discovery.ts'
import { checkSeconds } from './internal/check.ts'
import { fetchJsonDocument, type FetchLimits } from './internal/fetch-document.ts'
import { safeCall, SYSTEM_TIMERS, type FetchFunction, type VerifierIo, type VerifierTimers } from './internal/io.ts'
import { checkFetchUrl } from './internal/url-policy.ts'
import type { VerifierEventHook } from './types.ts'

/** Cache bounds of a remote JWKS, in seconds. */
export interface JwksCacheOptions {
  /** Least time between two refetches caused by unknown kids (default 30; scheduled refreshes do not count). */
  cooldownSeconds?: number
  /** Lower bound on the cache lifetime, whatever `max-age` says (default 30). */
  minMaxAgeSeconds?: number
  /** Upper bound on the cache lifetime (default 86400). */
  maxMaxAgeSeconds?: number
  /** Lifetime when the response has no `max-age` (default 300). */
  defaultMaxAgeSeconds?: number
}

export interface RemoteJwksOptions extends JwksCacheOptions {
  fetch?: FetchFunction
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number
  timers?: VerifierTimers
  /** Deadline of one fetch, body included (default 5). */
  timeoutSeconds?: number
  /** Largest accepted JWKS (default 512 KiB); a larger body is abandoned, not buffered. */
  maxResponseBytes?: number
  /** Allow `http://localhost` (development only; default false: https only). */
  allowHttpLoopback?: boolean
  onEvent?: VerifierEventHook
}

export interface JwksHealth {
  readonly url: string
  /** Epoch ms of the last successful fetch. */
  readonly lastSuccess: number | undefined
  readonly lastFailure: { readonly at: number; readonly reason: string } | undefined
  /** Number of usable keys held. */
  readonly keys: number
  readonly kids: readonly string[]
  /** Epoch ms at which the current set's cache lifetime ends (a refresh is due before). */
  readonly expiresAt: number | undefined
}

export interface JwksMetrics {
  readonly fetches: number
  readonly fetchFailures: number
  readonly unknownKid: number
  readonly unknownKidRefetches: number
}

export interface RemoteJwks extends KeyResolver {
  /** Fetches now (no cooldown). Rejects with `ERR_JWKS_UNAVAILABLE`; the last good set is kept. */
  refresh(): Promise<void>
  /**
   * After `resolveVerifyKey` failed for an unknown kid: waits for the refetch that asked for (if
   * the cooldown allowed one) and resolves true once it has landed, false when there was none
   * or it failed. Never throws.
   */
  refetched(): Promise<boolean>
  /** The keys currently trusted. */
  keys(): ReadonlySet<JwsKey>
  health(): JwksHealth
  metrics(): JwksMetrics
  /** Stops background refreshes. */
  close(): void
}

export const JWKS_CACHE_DEFAULTS = Object.freeze({
  cooldownSeconds: 30,
  minMaxAgeSeconds: 30,
  maxMaxAgeSeconds: 86_400,
  defaultMaxAgeSeconds: 300,
})

// Background refreshes happen at this fraction of the cache lifetime, so the next set is in
// place before the current one is due.
const REFRESH_AT = 0.8
const MAX_RETRY_MS = 5 * 60_000

/** @internal Checked settings of a remote JWKS. */
export interface JwksSettings {
  readonly url: string
  readonly limits: FetchLimits
  readonly cooldownMs: number
  readonly minMaxAgeMs: number
  readonly maxMaxAgeMs: number
  readonly defaultMaxAgeMs: number
}

/** @internal Checks the cache options under `path` (e.g. `jwksCache.`). */
export function checkJwksCacheOptions(options: JwksCacheOptions, prefix: string): Omit<JwksSettings, 'url' | 'limits'> {
  const d = JWKS_CACHE_DEFAULTS
  const min = checkSeconds(options.minMaxAgeSeconds, `${prefix}minMaxAgeSeconds`, d.minMaxAgeSeconds)
  const max = checkSeconds(options.maxMaxAgeSeconds, `${prefix}maxMaxAgeSeconds`, Math.max(d.maxMaxAgeSeconds, min))
  if (max < min) throw new ConfigInvalid(`${prefix}maxMaxAgeSeconds`, 'must not be less than minMaxAgeSeconds')
  return {
    cooldownMs: checkSeconds(options.cooldownSeconds, `${prefix}cooldownSeconds`, d.cooldownSeconds) * 1000,
    minMaxAgeMs: min * 1000,
    maxMaxAgeMs: max * 1000,
    defaultMaxAgeMs: checkSeconds(options.defaultMaxAgeSeconds, `${prefix}defaultMaxAgeSeconds`, d.defaultMaxAgeSeconds) * 1000,
  }
}

/**
 * Loads the JWKS at `url` and keeps it fresh. Rejects with `ERR_JWKS_UNAVAILABLE` when the
 * first fetch fails (there is no earlier set to fall back on), `ERR_CONFIG_INVALID` for bad
 * options or a non-https URL. Pass the result as `keys` to `createJwtVerifier`.
 *
 * @example
 * import { createRemoteJwks } from 'hallpass/verify'
 * import { createJwtVerifier } from 'hallpass'
 * const jwks = await createRemoteJwks('https://auth.example.com/.well-known/jwks.json')
 * const verify = createJwtVerifier({ keys: jwks, issuer: 'https://auth.example.com' })
 */
export async function createRemoteJwks(url: string, options: RemoteJwksOptions = {}): Promise<RemoteJwks> {
  checkKnownKeys(options, [
    'fetch', 'now', 'timers', 'timeoutSeconds', 'maxResponseBytes', 'allowHttpLoopback', 'onEvent',
    'cooldownSeconds', 'minMaxAgeSeconds', 'maxMaxAgeSeconds', 'defaultMaxAgeSeconds',
  ])
  const fetchFn = checkFunction<FetchFunction>(options.fetch, 'fetch') ?? ((input, init) => globalThis.fetch(input, init))
  const io: VerifierIo = {
    fetch: fetchFn,
    now: checkFunction<() => number>(options.now, 'now') ?? Date.now,
    timers: options.timers ?? SYSTEM_TIMERS,
    random: Math.random,
  }
  const settings: JwksSettings = {
    url: checkFetchUrl(url, 'url', options.allowHttpLoopback === true),
    limits: {
      timeoutMs: checkSeconds(options.timeoutSeconds, 'timeoutSeconds', DEFAULT_FETCH_TIMEOUT_SECONDS) * 1000,
      maxBytes: checkPositiveInteger(options.maxResponseBytes, 'maxResponseBytes') ?? DEFAULT_MAX_RESPONSE_BYTES,
    },
    ...checkJwksCacheOptions(options, ''),
  }
  return openRemoteJwks(settings, io, { onEvent: checkFunction<VerifierEventHook>(options.onEvent, 'onEvent') })
}

/** @internal */
export interface RemoteJwksHooks {
  readonly onEvent?: VerifierEventHook | undefined
  /** Called with the new key set whenever it changes (the verifier evicts cached tokens). */
  readonly onKeysChanged?: ((keys: ReadonlySet<JwsKey>) => void) | undefined
}

/** @internal Opens a remote JWKS on checked settings; rejects if the first fetch fails. */
export async function openRemoteJwks(settings: JwksSettings, io: VerifierIo, hooks: RemoteJwksHooks): Promise<RemoteJwks> {
  const { now, timers } = io
  let keyring: Keyring | undefined
  let keySet: ReadonlySet<JwsKey> = new Set()
  let lastSuccess: number | undefined
  let lastFailure: { at: number; reason: string } | undefined
  let expiresAt: number | undefined
  let lastUnknownKidRefetchAt = Number.NEGATIVE_INFINITY
  let consecutiveFailures = 0
  let inFlight: Promise<void> | undefined
  let timer: unknown
  let closed = false
  const counters = { fetches: 0, fetchFailures: 0, unknownKid: 0, unknownKidRefetches: 0 }

  function schedule(delayMs: number): void {
    if (closed) return
    if (timer !== undefined) timers.clearTimeout(timer)
    timer = timers.setTimeout(() => {
      timer = undefined
      fetchInBackground()
    }, delayMs)
  }

  function fetchInBackground(): void {
    // Failures are recorded in `lastFailure` and reported through onEvent; the last good set
    // stays in use, so there is nothing for a caller to handle here.
    fetchNow().catch(() => undefined)
  }

  function fetchNow(): Promise<void> {
    if (inFlight !== undefined) return inFlight
    counters.fetches++
    inFlight = (async () => {
      try {
        const { json, cacheControl } = await fetchJsonDocument(io, settings.url, settings.limits, 'JWKS')
        install(importKeySet(json, keyring))
        lastSuccess = now()
        consecutiveFailures = 0
        const maxAgeMs = clamp(parseMaxAge(cacheControl) ?? settings.defaultMaxAgeMs, settings.minMaxAgeMs, settings.maxMaxAgeMs)
        expiresAt = lastSuccess + maxAgeMs
        schedule(Math.floor(maxAgeMs * REFRESH_AT))
      } catch (error) {
        counters.fetchFailures++
        consecutiveFailures++
        const reason = isHallpassError(error, 'ERR_JWKS_UNAVAILABLE') ? error.reason : 'unexpected error'
        lastFailure = { at: now(), reason }
        safeCall(hooks.onEvent, { type: 'jwks.fetch_failed', reason })
        // Retry with exponential backoff from the cooldown, capped at five minutes.
        schedule(Math.min(settings.cooldownMs * 2 ** Math.min(consecutiveFailures - 1, 16), MAX_RETRY_MS))
        throw error
      } finally {
        inFlight = undefined
      }
    })()
    return inFlight
  }

  function install(next: Keyring): void {
    const previous = keySet
    keyring = next
    keySet = new Set(next.entries.map((e) => e.key))
    const added = [...keySet].filter((k) => !previous.has(k)).map((k) => k.kid)
    const removed = [...previous].filter((k) => !keySet.has(k)).map((k) => k.kid)
    if (added.length === 0 && removed.length === 0) return
    safeCall(hooks.onEvent, { type: 'jwks.updated', keys: keySet.size, added, removed })
    if (hooks.onKeysChanged !== undefined) hooks.onKeysChanged(keySet)
  }

  function requestRefetch(kid: string | undefined): void {
    counters.unknownKid++
    // A fetch under way may bring the key; otherwise one refetch per cooldown, however many
    // unknown kids arrive (and never two at once).
    if (closed || inFlight !== undefined || now() - lastUnknownKidRefetchAt < settings.cooldownMs) return
    lastUnknownKidRefetchAt = now()
    counters.unknownKidRefetches++
    safeCall(hooks.onEvent, { type: 'jwks.unknown_kid_refetch', kid })
    fetchInBackground()
  }

  try {
    await fetchNow()
  } catch (error) {
    // Nobody will hold this instance: stop the retry the failure scheduled.
    closed = true
    if (timer !== undefined) timers.clearTimeout(timer)
    throw error
  }

  return Object.freeze({
    resolveVerifyKey(header: JwsHeader): JwsKey {
      if (keyring === undefined) throw new JwksNoMatchingKey(header.kid)
      try {
        return keyring.resolveVerifyKey(header)
      } catch (error) {
        if (error instanceof JwksNoMatchingKey) requestRefetch(header.kid)
        throw error
      }
    },
    refresh: fetchNow,
    refetched: () => (inFlight === undefined ? Promise.resolve(false) : inFlight.then(() => true, () => false)),
    keys: () => keySet,
    health: (): JwksHealth => ({
      url: settings.url,
      lastSuccess,
      lastFailure,
      keys: keySet.size,
      kids: [...keySet].map((k) => k.kid),
      expiresAt,
    }),
    metrics: (): JwksMetrics => ({ ...counters }),
    close(): void {
      closed = true
      if (timer !== undefined) timers.clearTimeout(timer)
      timer = undefined
    },
  })
}

/**
 * Imports a fetched document as a verify-only keyring. Keys identical to ones already held
 * (same kid, algorithm and key material) keep their identity, so tokens cached under them stay
 * cached; anything else is a new key.
 */
function importKeySet(json: Record<string, unknown>, previous: Keyring | undefined): Keyring {
  let imported: Keyring
  try {
    // Public keys only: a JWKS from a URL never carries `oct` secrets or private members.
    imported = importJwks(json as unknown as JwkSet)
  } catch (error) {
    throw new JwksUnavailable('the JWKS is not a usable key set', { cause: error })
  }
  if (imported.entries.length === 0) throw new JwksUnavailable('the JWKS holds no usable key')
  const keys = imported.entries.map(({ key }) => {
    const old = previous?.get(key.kid)?.key
    return old !== undefined && old.alg === key.alg && old.keyObject.equals(key.keyObject) ? old : key
  })
  return createKeyring(keys.map((key) => ({ key, state: 'retired' as const })), imported.rejected)
}

/** `max-age` in ms from a Cache-Control header; `no-store`/`no-cache` count as 0. */
function parseMaxAge(header: string | null): number | undefined {
  if (header === null) return undefined
  let maxAge: number | undefined
  for (const raw of header.split(',')) {
    const directive = raw.trim().toLowerCase()
    if (directive === 'no-store' || directive === 'no-cache') return 0
    const match = /^max-age="?([0-9]{1,10})"?$/.exec(directive)
    if (match !== null && maxAge === undefined) maxAge = Number(match[1]) * 1000
  }
  return maxAge
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max)
}
