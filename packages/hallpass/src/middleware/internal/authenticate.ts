// What every framework adapter does, framework-free: read the bearer token (src/http/bearer),
// verify it (the verifier), check the route's scopes, and on failure describe the RFC 6750
// response through the one code → HTTP mapping (src/http/oauth-errors). Adapters only copy
// the outcome into their framework's request and response objects.
import type { IncomingHttpHeaders } from 'node:http'
import { ConfigInvalid, JwksNoMatchingKey } from '../../errors.ts'
import type { JwtClaims } from '../../engine/jwt/types.ts'
import { parseBearerHeader } from '../../http/bearer.ts'
import { bearerFailure, resourceErrorFailure, type HttpFailure } from '../../http/resource-failure.ts'
import { checkScopeOption, requireScopes } from '../../verify/scope.ts'

/** What an authenticated request carries. */
export interface HallpassAuth {
  /** The verified claims (deeply frozen). */
  readonly claims: Readonly<JwtClaims>
  /** The access token, e.g. to call another service on the user's behalf. */
  readonly token: string
}

/** Anything that verifies a token synchronously: a `Verifier` from `hallpass/verify`. */
export interface TokenVerifier {
  verify(token: string): Readonly<JwtClaims>
  /**
   * Optional: called only when `verify` failed with `ERR_JWKS_NO_MATCHING_KEY`, to wait for the
   * issuer's keys to be refetched and verify again (a key published a moment ago).
   */
  verifyAsync?(token: string): Promise<Readonly<JwtClaims>>
}

/** Options shared by every adapter. */
export interface AuthOptions {
  /** The `realm` of the challenges (default `hallpass`). */
  realm?: string
  /** Let requests without credentials through (without `auth`). Bad credentials still fail. */
  optional?: boolean
  /** Scopes the token must grant (all of them); a space-separated string or a list. */
  scope?: string | readonly string[]
}

/** @internal */
export interface AuthSettings {
  readonly realm: string
  readonly optional: boolean
  readonly scopes: readonly string[] | undefined
}

/** @internal An error response, ready to be written by an adapter. */
export type AuthFailure = HttpFailure

/** @internal */
export type AuthOutcome =
  | { readonly ok: true; readonly auth: HallpassAuth | undefined }
  | { readonly ok: false; readonly failure: AuthFailure }

export const DEFAULT_REALM = 'hallpass'

/** @internal Checks adapter options once, at setup. `prefix` names where they came from. */
export function checkAuthOptions(options: unknown, prefix = '', extraKeys: readonly string[] = []): AuthSettings {
  if (options === undefined) return { realm: DEFAULT_REALM, optional: false, scopes: undefined }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigInvalid(prefix || 'options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (!['realm', 'optional', 'scope', ...extraKeys].includes(key)) throw new ConfigInvalid(prefix + key, 'is not a known option')
  }
  const { realm, optional, scope } = options as AuthOptions
  if (realm !== undefined && (typeof realm !== 'string' || realm.length === 0)) throw new ConfigInvalid(`${prefix}realm`, 'must be a non-empty string')
  if (optional !== undefined && typeof optional !== 'boolean') throw new ConfigInvalid(`${prefix}optional`, 'must be a boolean')
  const scopes = checkScopeOption(scope, `${prefix}scope`)
  // An optional route lets anonymous requests through, which a scope requirement forbids:
  // refuse the ambiguous combination rather than guess which one was meant.
  if (optional === true && scopes !== undefined) throw new ConfigInvalid(`${prefix}scope`, 'cannot be combined with optional: true')
  return { realm: realm ?? DEFAULT_REALM, optional: optional ?? false, scopes }
}

/** @internal Checks the verifier argument of an adapter. */
export function checkVerifier(verifier: unknown): TokenVerifier {
  if (typeof verifier !== 'object' || verifier === null || typeof (verifier as Partial<TokenVerifier>).verify !== 'function') {
    throw new ConfigInvalid('verifier', 'must be a verifier from createVerifier (an object with verify(token))')
  }
  return verifier as TokenVerifier
}

/**
 * @internal Authenticates one request from its raw Authorization header value(s), without
 * waiting for anything. Errors that are not hallpass errors (bugs) propagate to the framework's
 * own error handling.
 */
export function authenticateHeader(verifier: TokenVerifier, header: string | readonly string[] | undefined, settings: AuthSettings): AuthOutcome {
  return authenticate(verifier, header, settings, false) as AuthOutcome
}

/**
 * @internal As `authenticateHeader`, synchronous on every path but one: a token naming a key
 * the verifier does not hold yet, where a verifier with `verifyAsync` gets to refetch the
 * issuer's keys, and the outcome is a promise. What the adapters of async frameworks call.
 */
export function authenticateHeaderOrWait(verifier: TokenVerifier, header: string | readonly string[] | undefined, settings: AuthSettings): AuthOutcome | Promise<AuthOutcome> {
  return authenticate(verifier, header, settings, true)
}

function authenticate(verifier: TokenVerifier, header: string | readonly string[] | undefined, settings: AuthSettings, wait: boolean): AuthOutcome | Promise<AuthOutcome> {
  const bearer = parseBearerHeader(header)
  if (bearer.kind !== 'token') {
    // Another scheme's credential counts as none (RFC 6750 §3.1), so an optional route lets it through.
    if (settings.optional && bearer.kind !== 'invalid') return { ok: true, auth: undefined }
    return { ok: false, failure: bearerFailure(bearer, settings.realm) }
  }
  const { token } = bearer
  const accept = (claims: Readonly<JwtClaims>): AuthOutcome => {
    if (settings.scopes !== undefined) requireScopes(claims, settings.scopes)
    return { ok: true, auth: Object.freeze({ claims, token }) }
  }
  try {
    return accept(verifier.verify(token))
  } catch (error) {
    if (wait && error instanceof JwksNoMatchingKey && verifier.verifyAsync !== undefined) {
      return verifier.verifyAsync(token).then(accept).catch((retryError: unknown) => ({ ok: false, failure: resourceErrorFailure(retryError, settings.realm) }))
    }
    return { ok: false, failure: resourceErrorFailure(error, settings.realm) }
  }
}

/** @internal A Node request as the adapters see it (IncomingMessage, or a framework's fake one). */
export interface NodeRequestLike {
  readonly headers: IncomingHttpHeaders
  readonly headersDistinct?: Record<string, string[] | undefined>
  readonly rawHeaders?: readonly string[]
}

/**
 * @internal The Authorization header value(s) of a Node request. Node keeps only the first of
 * several `Authorization` headers in `req.headers` (it discards duplicates of that header), so
 * a request carrying two credentials would look like one: read every occurrence instead, and
 * let the bearer parser refuse the request (RFC 6750 §2: one method, one token).
 *
 * `rawHeaders` is scanned directly: `headersDistinct` would build an object of every header
 * on each request (~2.7 µs with a handful of headers, against ~0.1 µs for the scan).
 */
export function nodeAuthorization(req: NodeRequestLike): string | readonly string[] | undefined {
  const raw = req.rawHeaders
  if (raw === undefined) {
    const values = req.headersDistinct?.authorization
    if (values === undefined) return req.headers.authorization
    return values.length <= 1 ? values[0] : values
  }
  let first: string | undefined
  let all: string[] | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue
    if (first === undefined) first = raw[i + 1]!
    else (all ??= [first]).push(raw[i + 1]!)
  }
  return all ?? first
}
