/**
 * @module hallpass/verify
 *
 * Issuer discovery: reads `${issuer}/.well-known/openid-configuration` (OpenID Connect
 * Discovery §4, the same metadata as RFC 8414) for the JWKS and revocation-feed URLs.
 *
 * The document must name exactly the configured issuer (OIDC Discovery §4.3, RFC 8414 §3.3):
 * metadata that claims another issuer is refused, never trusted, so a misrouted or hijacked
 * discovery URL cannot point a verifier at someone else's keys.
 */
import { ConfigInvalid } from '../errors.ts'
import { checkKnownKeys, checkFunction, checkPositiveInteger } from '../internal/options.ts'
import { fetchJsonDocument, type FetchLimits } from './internal/fetch-document.ts'
import { SYSTEM_TIMERS, type FetchFunction, type VerifierIo, type VerifierTimers } from './internal/io.ts'
import { checkFetchUrl, checkIssuer, discoveryUrl } from './internal/url-policy.ts'

/** What a verifier needs from the issuer's metadata. */
export interface IssuerMetadata {
  readonly issuer: string
  readonly jwksUri: string
  /** `hallpass_revocation_feed`: the SSE revocation feed, when the issuer has one. */
  readonly revocationFeedUrl: string | undefined
  /** `hallpass_access_token_ttl_seconds`, when published. */
  readonly accessTokenTtlSeconds: number | undefined
}

export interface DiscoverIssuerOptions {
  /** Default `globalThis.fetch`. */
  fetch?: FetchFunction
  timers?: VerifierTimers
  /** Deadline for the whole request, body included (default 5). */
  timeoutSeconds?: number
  /** Largest accepted document (default 512 KiB). */
  maxResponseBytes?: number
}

export const DEFAULT_FETCH_TIMEOUT_SECONDS = 5
export const DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024

/**
 * Fetches and checks the issuer's discovery document. Rejects with `ERR_JWKS_UNAVAILABLE` when
 * it cannot be fetched or parsed, and `ERR_CONFIG_INVALID` when it names another issuer or an
 * endpoint outside the URL policy (https only, except loopback for a localhost issuer).
 *
 * @example
 * import { discoverIssuer } from 'hallpass/verify'
 * const { jwksUri, revocationFeedUrl } = await discoverIssuer('https://auth.example.com')
 */
export async function discoverIssuer(issuer: string, options: DiscoverIssuerOptions = {}): Promise<IssuerMetadata> {
  checkKnownKeys(options, ['fetch', 'timers', 'timeoutSeconds', 'maxResponseBytes'])
  const fetchFn = checkFunction<FetchFunction>(options.fetch, 'fetch') ?? ((input, init) => globalThis.fetch(input, init))
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_FETCH_TIMEOUT_SECONDS
  if (typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds)) {
    throw new ConfigInvalid('timeoutSeconds', 'must be a positive number')
  }
  const io: VerifierIo = { fetch: fetchFn, now: Date.now, timers: options.timers ?? SYSTEM_TIMERS, random: Math.random }
  const limits = {
    timeoutMs: timeoutSeconds * 1000,
    maxBytes: checkPositiveInteger(options.maxResponseBytes, 'maxResponseBytes') ?? DEFAULT_MAX_RESPONSE_BYTES,
  }
  return fetchIssuerMetadata(io, checkIssuer(issuer), limits)
}

/** @internal The discovery step of `createVerifier`, on already-checked options. */
export async function fetchIssuerMetadata(
  io: VerifierIo,
  issuer: { readonly issuer: string; readonly devHttp: boolean },
  limits: FetchLimits,
): Promise<IssuerMetadata> {
  const url = discoveryUrl(issuer.issuer)
  const { json } = await fetchJsonDocument(io, url, limits, 'discovery document')
  // Exact string comparison (OIDC Discovery §4.3): no normalisation of case or trailing slash,
  // which is also how `iss` in every token is compared.
  if (json.issuer !== issuer.issuer) {
    // Both values, so the operator sees the difference (often a port or a trailing slash); the
    // remote one is quoted, cut short and kept to printable ASCII, as it comes from the network.
    const named = typeof json.issuer === 'string' ? JSON.stringify(json.issuer.slice(0, 200)).replace(/[^\x20-\x7e]/g, '?') : 'no issuer'
    throw new ConfigInvalid(
      'issuer',
      `is ${JSON.stringify(issuer.issuer)}, but ${url} names ${named}: they must match exactly, so that document is not trusted (if that server is yours, configure the issuer it names)`,
    )
  }
  const feed = json.hallpass_revocation_feed
  const ttl = json.hallpass_access_token_ttl_seconds
  return Object.freeze({
    issuer: issuer.issuer,
    jwksUri: checkFetchUrl(json.jwks_uri, 'discovery "jwks_uri"', issuer.devHttp),
    revocationFeedUrl: feed === undefined ? undefined : checkFetchUrl(feed, 'discovery "hallpass_revocation_feed"', issuer.devHttp),
    accessTokenTtlSeconds: typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? ttl : undefined,
  })
}
