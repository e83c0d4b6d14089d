/**
 * @module hallpass/verify
 *
 * `createVerifier`: what every service installs to check hallpass access tokens on its own,
 * with no call to the session server per request.
 *
 * At start (async) it finds the issuer's keys (discovery, an explicit `jwksUri`, or local keys)
 * and loads every revocation that can still matter from the revocation feed (a snapshot), then
 * follows it live. After that `verify(token)` is synchronous and does no I/O: signature and
 * claims through the engine (keys from the cached JWKS), then the denylist of revoked
 * sessions, then the feed policy, then the required scopes. Keys and revocations are kept
 * current in the background. `verifyAsync(token)` also waits for one JWKS refetch when a token
 * names a key the cached set does not hold yet; the framework adapters use it for that case.
 *
 * Revocations come from the issuer's SSE feed, or with `revocation.store` straight from its
 * PostgreSQL or Redis store (src/verify/store-feed.ts).
 *
 * Revocation policy when the denylist is not complete (the feed is unreachable, catching up, or
 * the denylist overflowed): tokens keep verifying for `failOpenForSeconds` (default 60) after
 * the moment it was last complete, then every verification fails with
 * `ERR_REVOCATION_FEED_STALE` (503: fail closed without blaming the token) until it is complete
 * again. A verifier whose denylist was never complete (the feed was down at start) fails closed
 * at once: it has nothing to be stale from. `policy: 'fail-open'` never fails closed;
 * `revocation: false` has no feed at all. The transitions are logged (`logger`).
 */
import {
  ConfigInvalid,
  HallpassError,
  JwksNoMatchingKey,
  JwtExpired,
  JwtNotYetValid,
  RevocationFeedStale,
  SessionRevoked,
} from '../errors.ts'
import type { JwsAlgorithm } from '../engine/algorithms.ts'
import { checkFunction, checkKnownKeys, checkPositiveInteger } from '../internal/options.ts'
import { KEY_INTERNALS } from '../engine/internal/key-internals.ts'
import type { JwkSet, JwsKey } from '../engine/jwk/types.ts'
import type { JwsHeader, KeyResolver, VerificationKeys } from '../engine/jws/types.ts'
import type { JwtClaims } from '../engine/jwt/types.ts'
import { createJwtVerifier, DEFAULT_CLOCK_TOLERANCE_SECONDS } from '../engine/jwt/verify.ts'
import { importJwks } from '../engine/keyring.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../session/feed-reader.ts'
import { createDenylist, DEFAULT_DENYLIST_MAX_ENTRIES, type Denylist, type DenylistStats } from './denylist.ts'
import { DEFAULT_FETCH_TIMEOUT_SECONDS, DEFAULT_MAX_RESPONSE_BYTES, fetchIssuerMetadata, type IssuerMetadata } from './discovery.ts'
import { checkObject, checkSeconds } from './internal/check.ts'
import { createClaimMismatchExplainer } from './internal/claim-mismatch.ts'
import { safeCall, SYSTEM_TIMERS, type FetchFunction, type VerifierIo, type VerifierTimers } from './internal/io.ts'
import { checkFetchUrl, checkIssuer } from './internal/url-policy.ts'
import { checkJwksCacheOptions, JWKS_CACHE_DEFAULTS, openRemoteJwks, type JwksCacheOptions, type JwksMetrics, type RemoteJwks } from './remote-jwks.ts'
import {
  checkFeedConnectionOptions,
  FEED_DEFAULTS,
  openRevocationFeed,
  type FeedConnectionOptions,
  type FeedMetrics,
  type RevocationFeed,
} from './revocation-feed.ts'
import { createTokenOpener, type DecryptionOptions } from './decryption.ts'
import { checkScopeOption, requireScopes } from './scope.ts'
import { checkRevocationStore, DEFAULT_LIVENESS_INTERVAL_SECONDS, openStoreFeed, type RevocationStore } from './store-feed.ts'
import { createTokenCache, DEFAULT_TOKEN_CACHE_ENTRIES, type CachedToken, type TokenCache, type TokenCacheOptions } from './token-cache.ts'
import type { VerifierEvent, VerifierEventHook } from './types.ts'

export type RevocationPolicy = 'fail-open' | 'fail-closed'

export interface RevocationOptions extends FeedConnectionOptions {
  /** The SSE feed (default: the discovery document's `hallpass_revocation_feed`). */
  feedUrl?: string
  /**
   * Follow revocations straight from hallpass's PostgreSQL or Redis store (LISTEN/NOTIFY or
   * pub/sub) instead of the SSE feed: a store from `hallpass/stores/postgres` or
   * `hallpass/stores/redis` opened on the same database (and schema or prefix) as the server.
   * The verifier does not close it.
   */
  store?: RevocationStore
  /**
   * With `store`: how often the store's head is read, to know it is reachable and that its
   * live channel still delivers (default 2: also the longest a revocation waits when that
   * channel died silently).
   */
  livenessIntervalSeconds?: number
  /**
   * Client credentials for a feed that requires them (the server's `revocationFeed.access:
   * 'clients'`): one of the server's HALLPASS_CLIENTS, sent with HTTP Basic.
   */
  client?: { id: string; secret: string }
  /**
   * `fail-closed` (default): after `failOpenForSeconds` of staleness, refuse every token with
   * `ERR_REVOCATION_FEED_STALE`. `fail-open`: keep accepting tokens however stale the feed is.
   */
  policy?: RevocationPolicy
  /** Staleness tolerated before failing closed (default 60; 0 fails closed at once). */
  failOpenForSeconds?: number
  /** Bound of the denylist (default 1,000,000; see `createDenylist` for what happens beyond). */
  maxEntries?: number
  /** How often expired denylist entries are swept (default 60). */
  sweepIntervalSeconds?: number
}

export interface VerifierOptions {
  /** The issuer identifier, compared exactly with `iss` and with the discovery document. */
  issuer: string
  /** Accepted `aud` value(s); when set, `aud` is required and one must match. */
  audience?: string | readonly string[]
  /** Algorithms allowed on top of each key's own (default: each key's own). */
  algorithms?: readonly JwsAlgorithm[]
  /** Required `typ` header (default `at+jwt`, RFC 9068); `false` skips the check. */
  typ?: string | false
  /** Leeway for `exp`, `nbf`, `iat` (default 30). */
  clockToleranceSeconds?: number
  /** Scopes every token must grant (space-separated string or list). */
  requiredScopes?: string | readonly string[]
  /**
   * Claims every token must carry (default `exp`, `iat`, `iss`, `sub`, `jti`: the RFC 9068 claims
   * hallpass always issues, and `sid` with revocation on, which is added whatever this says).
   */
  requiredClaims?: readonly string[]
  /** Longest accepted token (default 8192). */
  maxTokenBytes?: number
  /** The JWKS URL, skipping discovery for keys. */
  jwksUri?: string
  /** A local JWK Set (public keys), for offline use. */
  jwks?: JwkSet
  /** A local key or key resolver (a `Keyring`), for offline use. */
  keys?: VerificationKeys
  jwksCache?: JwksCacheOptions
  /** Deadline of one discovery or JWKS fetch, body included (default 5). */
  fetchTimeoutSeconds?: number
  /** Largest accepted discovery document or JWKS (default 512 KiB). */
  maxResponseBytes?: number
  /** The revocation feed and policy; `false` disables revocation checks. */
  revocation?: RevocationOptions | false
  /**
   * Encrypted access tokens (the issuer's access-token encryption): the keys that open them.
   * With it, only encrypted tokens are accepted unless `allowPlainTokens`; without it, an
   * encrypted token is refused. Either way the token inside must be a JWT signed by the
   * issuer's key, checked exactly as a plain one.
   */
  decryption?: DecryptionOptions
  /** The verified-token cache; `false` disables it. */
  cache?: TokenCacheOptions | false
  /** Default `globalThis.fetch`. */
  fetch?: FetchFunction
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number
  /** Timers for background work (default the global ones, unref'd). */
  timers?: VerifierTimers
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number
  /** Receives events for logs and metrics. */
  onEvent?: VerifierEventHook
  /**
   * Where the verifier says what happens to it: the feed lost and back, failing closed and
   * recovered, key fetches failing (a pino-compatible `{ info, warn, error }(object, message)`;
   * default: one line on standard error; `false`: silent).
   */
  logger?: VerifierLogger | false
}

/** The subset of a pino (or console-like) logger the verifier writes to. */
export interface VerifierLogger {
  info(details: Record<string, unknown>, message: string): void
  warn(details: Record<string, unknown>, message: string): void
  error(details: Record<string, unknown>, message: string): void
}

export interface VerifierHealth {
  /** True when a token can verify right now: keys are held and the feed policy is not failing closed. */
  readonly ok: boolean
  readonly jwks: {
    readonly source: 'remote' | 'local'
    /** Epoch ms of the last successful JWKS fetch (undefined for local keys). */
    readonly lastSuccess: number | undefined
    readonly lastFailure: { readonly at: number; readonly reason: string } | undefined
    /** Keys held (undefined for a custom resolver). */
    readonly keys: number | undefined
  }
  readonly feed: {
    readonly enabled: boolean
    readonly connected: boolean
    /**
     * True when the denylist holds every revocation that can still matter: the feed delivered
     * its snapshot or catch-up and is live, and the denylist never had to drop a live entry.
     */
    readonly complete: boolean
    readonly lastEventAt: number | undefined
    /** Seconds the revocation state has been unknown (0 while complete; since start if never complete). */
    readonly staleSeconds: number
    readonly policy: RevocationPolicy | 'disabled'
    readonly failOpenForSeconds: number
    /** True when verification currently fails with `ERR_REVOCATION_FEED_STALE`. */
    readonly failingClosed: boolean
    readonly cursor: string | undefined
    readonly denylistSize: number
  }
}

export interface VerifierMetrics {
  /** Successful verifications. */
  readonly verified: number
  /** Failed verifications by error code. */
  readonly failures: Readonly<Record<string, number>>
  readonly cache: { readonly hits: number; readonly misses: number; readonly size: number; readonly maxEntries: number } | undefined
  readonly jwks: JwksMetrics | undefined
  readonly feed: FeedMetrics | undefined
  readonly denylist: DenylistStats | undefined
}

export interface Verifier {
  readonly issuer: string
  /**
   * Verifies an access token and returns its claims (deeply frozen). Synchronous, no I/O.
   * Throws a credential error (`ERR_JWT_EXPIRED`, `ERR_SESSION_REVOKED`,
   * `ERR_SCOPE_INSUFFICIENT`, …) or an infrastructure one (`ERR_REVOCATION_FEED_STALE`).
   */
  verify(token: string): Readonly<JwtClaims>
  /**
   * `verify`, except that a token naming a key the cached JWKS does not hold waits for one
   * JWKS refetch (single flight, at most one per `jwksCache.cooldownSeconds` for unknown kids)
   * and is verified again, so a token of a key published a moment ago passes on its first
   * presentation. Rejects with the same errors as `verify`.
   */
  verifyAsync(token: string): Promise<Readonly<JwtClaims>>
  health(): VerifierHealth
  metrics(): VerifierMetrics
  /** Stops background refreshes and the feed. */
  close(): Promise<void>
}

/** The defaults, in one place. */
export const VERIFIER_DEFAULTS = Object.freeze({
  typ: 'at+jwt',
  clockToleranceSeconds: DEFAULT_CLOCK_TOLERANCE_SECONDS,
  fetchTimeoutSeconds: DEFAULT_FETCH_TIMEOUT_SECONDS,
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
  jwksCache: JWKS_CACHE_DEFAULTS,
  revocation: Object.freeze({
    policy: 'fail-closed' satisfies RevocationPolicy,
    livenessIntervalSeconds: DEFAULT_LIVENESS_INTERVAL_SECONDS,
    failOpenForSeconds: 60,
    maxEntries: DEFAULT_DENYLIST_MAX_ENTRIES,
    sweepIntervalSeconds: 60,
    ...FEED_DEFAULTS,
  }),
  cache: Object.freeze({ maxEntries: DEFAULT_TOKEN_CACHE_ENTRIES }),
})

const OPTION_NAMES = [
  'issuer', 'audience', 'algorithms', 'typ', 'clockToleranceSeconds', 'requiredScopes', 'requiredClaims', 'maxTokenBytes',
  'jwksUri', 'jwks', 'keys', 'jwksCache', 'fetchTimeoutSeconds', 'maxResponseBytes', 'revocation', 'decryption', 'cache',
  'fetch', 'now', 'timers', 'random', 'onEvent', 'logger',
] as const
const REVOCATION_OPTION_NAMES = [
  'feedUrl', 'store', 'client', 'livenessIntervalSeconds', 'policy', 'failOpenForSeconds', 'maxEntries', 'sweepIntervalSeconds',
  'initialCursor', 'minReconnectDelaySeconds', 'maxReconnectDelaySeconds', 'connectTimeoutSeconds', 'idleTimeoutSeconds',
] as const

/**
 * Builds a verifier. Rejects with `ERR_CONFIG_INVALID` for bad options or a discovery document
 * naming another issuer, `ERR_KEY_INVALID` for unusable local keys, and `ERR_JWKS_UNAVAILABLE`
 * when the issuer's keys cannot be loaded. A revocation feed that is down at start is not an
 * error: it is retried, under the revocation policy.
 *
 * @example
 * import { createVerifier } from 'hallpass/verify'
 * const verifier = await createVerifier({ issuer: 'https://auth.example.com', audience: 'orders' })
 * const claims = verifier.verify(token) // sync, no I/O
 * await verifier.close()
 */
export async function createVerifier(options: VerifierOptions): Promise<Verifier> {
  checkKnownKeys(options, OPTION_NAMES)
  const issuer = checkIssuer(options.issuer)
  const io: VerifierIo = {
    fetch: checkFunction<FetchFunction>(options.fetch, 'fetch') ?? ((input, init) => globalThis.fetch(input, init)),
    now: checkFunction<() => number>(options.now, 'now') ?? Date.now,
    timers: checkTimers(options.timers),
    random: checkFunction<() => number>(options.random, 'random') ?? Math.random,
  }
  const onEvent = checkFunction<VerifierEventHook>(options.onEvent, 'onEvent')
  const logger = checkLogger(options.logger)
  const limits = {
    timeoutMs: checkSeconds(options.fetchTimeoutSeconds, 'fetchTimeoutSeconds', DEFAULT_FETCH_TIMEOUT_SECONDS) * 1000,
    maxBytes: checkPositiveInteger(options.maxResponseBytes, 'maxResponseBytes') ?? DEFAULT_MAX_RESPONSE_BYTES,
  }
  const tolerance = checkSeconds(options.clockToleranceSeconds, 'clockToleranceSeconds', DEFAULT_CLOCK_TOLERANCE_SECONDS, { allowZero: true })
  const requiredScopes = checkScopeOption(options.requiredScopes, 'requiredScopes')
  // The engine checks each name; here only the shape, so that `sid` can be added to it.
  if (options.requiredClaims !== undefined && !Array.isArray(options.requiredClaims)) throw new ConfigInvalid('requiredClaims', 'must be an array of claim names')
  const requiredClaims: readonly string[] = options.requiredClaims ?? DEFAULT_REQUIRED_CLAIMS

  // Key source: exactly one of jwksUri, jwks, keys; none means discovery.
  const sources = (['jwksUri', 'jwks', 'keys'] as const).filter((name) => options[name] !== undefined)
  if (sources.length > 1) throw new ConfigInvalid(sources[1]!, `cannot be combined with "${sources[0]}": give one key source`)
  const jwksUri = options.jwksUri === undefined ? undefined : checkFetchUrl(options.jwksUri, 'jwksUri', issuer.devHttp)
  const jwksCache = checkJwksCacheOptions(checkObject(options.jwksCache, 'jwksCache', Object.keys(JWKS_CACHE_DEFAULTS)), 'jwksCache.')
  // Local keys are imported now, so a bad one fails before any I/O.
  const localKeys: VerificationKeys | undefined = options.jwks !== undefined ? importJwks(options.jwks) : options.keys

  const revocation = checkRevocation(options.revocation, issuer.devHttp)
  // A feed serves an entry until FEED_EXP_MARGIN_SECONDS past its `exp`: a larger tolerance
  // would accept tokens of sessions whose entries a snapshot no longer carries.
  if (revocation !== undefined && tolerance > FEED_EXP_MARGIN_SECONDS) {
    throw new ConfigInvalid('clockToleranceSeconds', `must be at most ${FEED_EXP_MARGIN_SECONDS} while the verifier follows a revocation feed`)
  }
  const cacheOptions = options.cache
  if (cacheOptions !== false && cacheOptions !== undefined && (typeof cacheOptions !== 'object' || cacheOptions === null)) {
    throw new ConfigInvalid('cache', 'must be an object or false')
  }
  const cache: TokenCache | undefined = cacheOptions === false ? undefined : createTokenCache(cacheOptions ?? {})
  const opener = createTokenOpener(options.decryption, options.maxTokenBytes)

  // The engine verifier is built before any I/O so that its options are checked first; it
  // resolves keys through whatever source is installed below.
  let resolver: KeyResolver | undefined
  const keys: KeyResolver = {
    resolveVerifyKey: (header: JwsHeader): JwsKey => resolver!.resolveVerifyKey(header),
  }
  const engineVerify = createJwtVerifier({
    keys: localKeys ?? keys,
    issuer: issuer.issuer,
    audience: options.audience,
    typ: options.typ,
    algorithms: options.algorithms,
    clockToleranceSeconds: tolerance,
    maxTokenBytes: options.maxTokenBytes,
    // A token without `sid` could never be revoked: with revocation on, `sid` is required.
    requiredClaims: revocation === undefined || requiredClaims.includes('sid') ? requiredClaims : [...requiredClaims, 'sid'],
    now: io.now,
  })

  let metadata: IssuerMetadata | undefined
  if ((localKeys === undefined && jwksUri === undefined) || (revocation !== undefined && revocation.feedUrl === undefined && revocation.store === undefined)) {
    metadata = await fetchIssuerMetadata(io, issuer, limits)
  }

  // Events go to the hook and, for the ones an operator must see, to the log.
  const report = (event: VerifierEvent): void => {
    safeCall(onEvent, event)
    if (logger !== undefined) logEvent(logger, event)
  }

  let remote: RemoteJwks | undefined
  if (localKeys === undefined) {
    remote = await openRemoteJwks({ url: jwksUri ?? metadata!.jwksUri, limits, ...jwksCache }, io, {
      onEvent: report,
      onKeysChanged: (current) => void cache?.retainKeys(current),
    })
    resolver = remote
  }

  const startedAt = io.now()
  let denylist: Denylist | undefined
  let feed: RevocationFeed | undefined
  let sweepTimer: unknown
  let closed = false
  const failOpenForMs = revocation === undefined ? 0 : revocation.failOpenForMs
  const failClosed = revocation?.policy === 'fail-closed'

  // How long the revocation state has been unknown: since the denylist was last complete (the
  // feed live and caught up), or since the denylist had to drop a live entry. Never complete:
  // unknown since start, and under fail-closed not tolerated at all.
  function staleSince(nowMs: number): number | undefined {
    if (feed === undefined || denylist === undefined) return undefined
    let since = feed.complete ? undefined : (feed.lastCompleteAt ?? startedAt)
    const lossSeconds = denylist.incompleteSince(Math.floor(nowMs / 1000))
    if (lossSeconds !== undefined) since = Math.min(since ?? Number.POSITIVE_INFINITY, lossSeconds * 1000)
    return since
  }
  function staleMs(nowMs: number): number {
    const since = staleSince(nowMs)
    return since === undefined ? 0 : Math.max(0, nowMs - since)
  }
  function isFailingClosed(nowMs: number): boolean {
    if (!failClosed || feed === undefined) return false
    if (feed.lastCompleteAt === undefined && !feed.complete) return true
    return staleMs(nowMs) > failOpenForMs
  }

  // Watches the policy so that failing closed and recovering are reported when they happen,
  // not only when a request notices.
  let failingClosedSince: number | undefined
  let policyTimer: unknown
  function watchPolicy(): void {
    if (closed || feed === undefined) return
    if (policyTimer !== undefined) io.timers.clearTimeout(policyTimer)
    policyTimer = undefined
    const nowMs = io.now()
    const stale = staleMs(nowMs)
    if (isFailingClosed(nowMs)) {
      if (failingClosedSince === undefined) {
        failingClosedSince = nowMs
        report({ type: 'verifier.failing_closed', staleSeconds: Math.floor(stale / 1000) })
      }
    } else if (failingClosedSince !== undefined && staleSince(nowMs) === undefined) {
      failingClosedSince = undefined
      report({ type: 'verifier.recovered', staleSeconds: 0 })
    }
    // Stale but still within the tolerance: look again when it runs out.
    if (failClosed && failingClosedSince === undefined && staleSince(nowMs) !== undefined) {
      policyTimer = io.timers.setTimeout(watchPolicy, failOpenForMs - stale + 1)
    }
  }

  if (revocation !== undefined) {
    const feedUrl = revocation.feedUrl ?? metadata?.revocationFeedUrl
    if (feedUrl === undefined && revocation.store === undefined) {
      remote?.close()
      throw new ConfigInvalid('revocation.feedUrl', 'is required: the discovery document names no "hallpass_revocation_feed" (or pass revocation: false)')
    }
    const list = createDenylist({
      maxEntries: revocation.maxEntries,
      retainSeconds: tolerance,
      onEvict: (sid, exp) => {
        report({ type: 'denylist.overflow', evictedSid: sid, exp })
        watchPolicy()
      },
    })
    denylist = list
    const sweep = (): void => {
      if (closed) return
      list.sweep(Math.floor(io.now() / 1000))
      sweepTimer = io.timers.setTimeout(sweep, revocation.sweepIntervalMs)
    }
    sweepTimer = io.timers.setTimeout(sweep, revocation.sweepIntervalMs)
    const hooks = {
      onRevocation: ({ sid, exp }: { sid: string; exp: number }) => list.add(sid, exp, Math.floor(io.now() / 1000)),
      onEvent: report,
      onStateChange: watchPolicy,
      // The feed lost its place: the issuer's store was replaced or restored, and its keys
      // may have changed with it. Refetch them now rather than at the next scheduled refresh.
      onReset: () => void remote?.refresh().catch(() => undefined),
    }
    feed = revocation.store !== undefined
      ? await openStoreFeed(revocation.store, { initialCursor: revocation.connection.initialCursor, livenessIntervalMs: revocation.livenessIntervalMs }, io, hooks)
      : await openRevocationFeed({ url: checkFetchUrl(feedUrl!, 'revocation.feedUrl', issuer.devHttp), headers: revocation.headers, ...revocation.connection }, io, hooks)
    watchPolicy()
  }

  const counters = { verified: 0, hits: 0, misses: 0 }
  const failures = new Map<string, number>()

  function verifyToken(token: string): Readonly<JwtClaims> {
    const nowMs = io.now()
    const nowSeconds = Math.floor(nowMs / 1000)
    // A token verified under decryption keys that are gone must not stay accepted.
    if (opener.keysChanged()) cache?.retainKeys(new Set())
    let entry: CachedToken | undefined = cache?.get(token)
    if (entry !== undefined) {
      counters.hits++
      // The same comparisons as the engine's claim checks (validate-claims.ts).
      if (entry.exp !== undefined && entry.exp <= nowSeconds - tolerance) {
        cache!.delete(token)
        throw new JwtExpired('exp')
      }
      if (entry.nbf !== undefined && entry.nbf > nowSeconds + tolerance) throw new JwtNotYetValid()
    } else {
      if (cache !== undefined) counters.misses++
      const { claims, key } = engineVerify(opener.open(token))
      const frozen = deepFreeze(claims)
      entry = { claims: frozen, key, exp: frozen.exp, nbf: frozen.nbf, sid: frozen.sid }
      cache?.set(token, entry)
    }
    if (denylist !== undefined && entry.sid !== undefined && denylist.isRevoked(entry.sid, nowSeconds)) throw new SessionRevoked(entry.sid)
    if (failClosed && isFailingClosed(nowMs)) throw new RevocationFeedStale(Math.floor(staleMs(nowMs) / 1000))
    if (requiredScopes !== undefined) requireScopes(entry.claims, requiredScopes)
    return entry.claims
  }

  const explainMismatch = createClaimMismatchExplainer({ iss: [issuer.issuer], aud: audienceList(options.audience) }, io.now)

  function verify(token: string): Readonly<JwtClaims> {
    try {
      const claims = verifyToken(token)
      counters.verified++
      return claims
    } catch (error) {
      if (error instanceof HallpassError) {
        failures.set(error.code, (failures.get(error.code) ?? 0) + 1)
        if (error.code === 'ERR_JWT_CLAIM_INVALID') {
          // The claims of an encrypted token are inside it (opened again only on this failure).
          const mismatch = explainMismatch(error, () => opener.open(token))
          if (mismatch !== undefined) report(mismatch)
        }
      }
      throw error
    }
  }

  return Object.freeze({
    issuer: issuer.issuer,
    verify,
    async verifyAsync(token: string): Promise<Readonly<JwtClaims>> {
      try {
        return verify(token)
      } catch (error) {
        // The failed attempt asked the remote JWKS for a refetch (or joined one under way).
        if (!(error instanceof JwksNoMatchingKey) || remote === undefined || !(await remote.refetched())) throw error
      }
      return verify(token)
    },
    health(): VerifierHealth {
      const nowMs = io.now()
      const stale = staleMs(nowMs)
      const failingClosed = isFailingClosed(nowMs)
      const jwksHealth = remote?.health()
      const keyCount = jwksHealth?.keys ?? countLocalKeys(localKeys)
      return {
        ok: (keyCount === undefined || keyCount > 0) && !failingClosed,
        jwks: {
          source: remote === undefined ? 'local' : 'remote',
          lastSuccess: jwksHealth?.lastSuccess,
          lastFailure: jwksHealth?.lastFailure,
          keys: keyCount,
        },
        feed: {
          enabled: feed !== undefined,
          connected: feed?.connected ?? false,
          complete: feed !== undefined && feed.complete && denylist?.incompleteSince(Math.floor(nowMs / 1000)) === undefined,
          lastEventAt: feed?.lastEventAt,
          staleSeconds: Math.floor(stale / 1000),
          policy: revocation?.policy ?? 'disabled',
          failOpenForSeconds: failOpenForMs / 1000,
          failingClosed,
          cursor: feed?.cursor,
          denylistSize: denylist?.size ?? 0,
        },
      }
    },
    metrics(): VerifierMetrics {
      return {
        verified: counters.verified,
        failures: Object.fromEntries(failures),
        cache: cache === undefined ? undefined : { hits: counters.hits, misses: counters.misses, size: cache.size, maxEntries: cache.maxEntries },
        jwks: remote?.metrics(),
        feed: feed?.metrics(),
        denylist: denylist?.stats(),
      }
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      remote?.close()
      if (sweepTimer !== undefined) io.timers.clearTimeout(sweepTimer)
      if (policyTimer !== undefined) io.timers.clearTimeout(policyTimer)
      await feed?.close()
    },
  })
}

/** The RFC 9068 claims hallpass always issues. */
const DEFAULT_REQUIRED_CLAIMS: readonly string[] = Object.freeze(['exp', 'iat', 'iss', 'sub', 'jti'])

const STDERR_LOGGER: VerifierLogger = {
  info: (_details, message) => console.error(`hallpass/verify: ${message}`),
  warn: (_details, message) => console.error(`hallpass/verify: ${message}`),
  error: (_details, message) => console.error(`hallpass/verify: ${message}`),
}

function checkLogger(value: unknown): VerifierLogger | undefined {
  if (value === false) return undefined
  if (value === undefined) return STDERR_LOGGER
  const logger = value as Partial<VerifierLogger>
  if (typeof value !== 'object' || value === null || typeof logger.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw new ConfigInvalid('logger', 'must have info, warn and error functions (a pino logger fits), or be false')
  }
  return value as VerifierLogger
}

/**
 * The events an operator must see, as one log line each. A logger that throws is ignored, as
 * the event hook is. Routine events (each revocation, each reconnect attempt) are not logged.
 */
function logEvent(logger: VerifierLogger, event: VerifierEvent): void {
  const line = describeEvent(event)
  if (line === undefined) return
  try {
    logger[line.level]({ event: event.type, ...line.details }, line.message)
  } catch {
    // Logging must never break verification or a background loop.
  }
}

function describeEvent(event: VerifierEvent): { level: keyof VerifierLogger; message: string; details: Record<string, unknown> } | undefined {
  switch (event.type) {
    case 'feed.disconnected':
      return { level: 'warn', message: `revocation feed lost (${event.reason}); retrying in ${event.retryInMs} ms`, details: { reason: event.reason, retryInMs: event.retryInMs } }
    case 'feed.ready':
      return {
        level: 'info',
        message: event.snapshot ? `revocation feed live: denylist complete (snapshot of ${event.entries} revocations)` : `revocation feed live: caught up (${event.entries} revocations)`,
        details: { snapshot: event.snapshot, entries: event.entries },
      }
    case 'feed.reset':
      return { level: 'warn', message: `revocation feed starting over from a snapshot (${event.reason}: the issuer's store was replaced or restored)`, details: { reason: event.reason } }
    case 'verifier.failing_closed':
      return {
        level: 'error',
        message: `revocation state unknown for ${event.staleSeconds} s: every token is refused (503, ERR_REVOCATION_FEED_STALE) until the feed is back`,
        details: { staleSeconds: event.staleSeconds },
      }
    case 'verifier.recovered':
      return { level: 'info', message: 'revocation feed complete again: verifying tokens', details: {} }
    case 'jwks.fetch_failed':
      return { level: 'warn', message: `JWKS fetch failed (${event.reason}); keeping the last good key set`, details: { reason: event.reason } }
    case 'token.claim_mismatch': {
      const got = event.got.length === 0 ? 'none' : event.got.map((v) => JSON.stringify(v)).join(', ')
      const expected = event.expected.map((v) => JSON.stringify(v)).join(', ')
      const fix = event.claim === 'aud'
        ? "give the verifier the audience the server puts in its tokens (HALLPASS_AUDIENCE), or no audience if the server sets none"
        : "give the verifier exactly the issuer the server names in its tokens (HALLPASS_ISSUER)"
      return {
        level: 'warn',
        message: `tokens are refused (401): their ${event.claim} is ${got}, this verifier expects ${event.claim === 'aud' ? 'one of ' : ''}${expected}; ${fix}`,
        details: { claim: event.claim, expected: event.expected, got: event.got },
      }
    }
    case 'denylist.overflow':
      return { level: 'error', message: 'denylist full: a live revocation was evicted (raise revocation.maxEntries)', details: { exp: event.exp } }
    default:
      return undefined
  }
}

interface RevocationSettings {
  readonly feedUrl: string | undefined
  readonly store: RevocationStore | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly livenessIntervalMs: number
  readonly policy: RevocationPolicy
  readonly failOpenForMs: number
  readonly maxEntries: number | undefined
  readonly sweepIntervalMs: number
  readonly connection: ReturnType<typeof checkFeedConnectionOptions>
}

function checkRevocation(value: RevocationOptions | false | undefined, devHttp: boolean): RevocationSettings | undefined {
  if (value === false) return undefined
  const options = checkObject(value, 'revocation', REVOCATION_OPTION_NAMES) as RevocationOptions
  const policy = options.policy ?? 'fail-closed'
  if (policy !== 'fail-open' && policy !== 'fail-closed') throw new ConfigInvalid('revocation.policy', 'must be "fail-open" or "fail-closed"')
  if (options.store !== undefined && options.feedUrl !== undefined) throw new ConfigInvalid('revocation.store', 'cannot be combined with "revocation.feedUrl": give one source')
  if (options.store !== undefined && options.client !== undefined) throw new ConfigInvalid('revocation.client', 'is for the SSE feed; a store feed authenticates to the database')
  return {
    headers: options.client === undefined ? {} : { authorization: basicAuthorization(options.client) },
    feedUrl: options.feedUrl === undefined ? undefined : checkFetchUrl(options.feedUrl, 'revocation.feedUrl', devHttp),
    store: options.store === undefined ? undefined : checkRevocationStore(options.store, 'revocation.store'),
    livenessIntervalMs:
      checkSeconds(options.livenessIntervalSeconds, 'revocation.livenessIntervalSeconds', DEFAULT_LIVENESS_INTERVAL_SECONDS) * 1000,
    policy,
    failOpenForMs: checkSeconds(options.failOpenForSeconds, 'revocation.failOpenForSeconds', VERIFIER_DEFAULTS.revocation.failOpenForSeconds, { allowZero: true }) * 1000,
    maxEntries: checkPositiveInteger(options.maxEntries, 'revocation.maxEntries'),
    sweepIntervalMs: checkSeconds(options.sweepIntervalSeconds, 'revocation.sweepIntervalSeconds', VERIFIER_DEFAULTS.revocation.sweepIntervalSeconds) * 1000,
    connection: checkFeedConnectionOptions(options, 'revocation.'),
  }
}

/** RFC 6749 §2.3.1: client id and secret form-urlencoded, then Basic. */
function basicAuthorization(client: unknown): string {
  const { id, secret } = (typeof client === 'object' && client !== null ? client : {}) as { id?: unknown; secret?: unknown }
  if (typeof id !== 'string' || id.length === 0 || typeof secret !== 'string' || secret.length === 0) {
    throw new ConfigInvalid('revocation.client', 'must be { id, secret } with non-empty strings')
  }
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')
  // The encoded parts are ASCII, which btoa takes as it is.
  return `Basic ${btoa(`${encode(id)}:${encode(secret)}`)}`
}

function checkTimers(value: unknown): VerifierTimers {
  if (value === undefined) return SYSTEM_TIMERS
  if (typeof value !== 'object' || value === null) throw new ConfigInvalid('timers', 'must have setTimeout and clearTimeout functions')
  const { setTimeout: set, clearTimeout: clear } = value as Record<string, unknown>
  if (typeof set !== 'function' || typeof clear !== 'function') throw new ConfigInvalid('timers', 'must have setTimeout and clearTimeout functions')
  return value as VerifierTimers
}

function countLocalKeys(keys: VerificationKeys | undefined): number | undefined {
  if (keys === undefined) return undefined
  if (KEY_INTERNALS in keys) return 1
  const entries = (keys as { entries?: unknown }).entries
  return Array.isArray(entries) ? entries.length : undefined
}

// Claims are shared by every request that presents the same token (the cache): freeze them
// all the way down so one handler cannot change what another sees. Depth is bounded by the
// strict JSON parser (20 levels).
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const item of Object.values(value)) deepFreeze(item)
  }
  return value
}

function audienceList(audience: string | readonly string[] | undefined): readonly string[] {
  return audience === undefined ? [] : typeof audience === 'string' ? [audience] : audience
}
