/**
 * @module hallpass
 *
 * JWT verification: compact JWS signature, then the `typ` header and the claims. Build a
 * verifier once with `createJwtVerifier` (options are checked there) and call it per token.
 */
import { ConfigInvalid, JwtClaimInvalid } from '../../errors.ts'
import { isJwsAlgorithm, type JwsAlgorithm } from '../algorithms.ts'
import {
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkStringList,
} from '../../internal/options.ts'
import { KEY_INTERNALS } from '../internal/key-internals.ts'
import { decodeUtf8, parseJsonObject } from '../../internal/strict-json.ts'
import type { JwsKey } from '../jwk/types.ts'
import { DEFAULT_MAX_TOKEN_BYTES, type JwsHeader, type KeyResolver, type VerificationKeys } from '../jws/types.ts'
import { verifyCompactJws } from '../jws/verify.ts'
import { ACCESS_TOKEN_TYP, type JwtClaims } from './types.ts'
import { validateClaims } from './validate-claims.ts'

export interface JwtVerifierOptions {
  /** The trusted key, or a resolver (a `Keyring`, a remote JWKS) over trusted keys. */
  keys: VerificationKeys
  /** Accepted `iss` value(s); when set, `iss` is required. */
  issuer?: string | readonly string[]
  /** Accepted `aud` value(s); when set, `aud` is required and one must match. */
  audience?: string | readonly string[]
  /**
   * Required `typ` header, compared as a media type (case-insensitive, `application/` optional).
   * Default `at+jwt` (RFC 9068), so an ID token or any other JWT is never taken as an access
   * token. `false` skips the check.
   */
  typ?: string | false
  /** Claims that must be present (default `['exp']`). */
  requiredClaims?: readonly string[]
  /** Leeway for `exp`, `nbf`, `iat` (default 30). */
  clockToleranceSeconds?: number
  /** Reject tokens whose `iat` is older than this. */
  maxTokenAgeSeconds?: number
  /** Reject longer tokens before decoding (default 8192). */
  maxTokenBytes?: number
  /** An allowlist of algorithms on top of each key's own. */
  algorithms?: readonly JwsAlgorithm[]
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number
}

export interface VerifiedJwt {
  readonly header: JwsHeader
  readonly claims: JwtClaims
  readonly key: JwsKey
}

export type JwtVerifier = (token: string) => VerifiedJwt

export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30

const OPTION_NAMES = [
  'keys', 'issuer', 'audience', 'typ', 'requiredClaims', 'clockToleranceSeconds', 'maxTokenAgeSeconds',
  'maxTokenBytes', 'algorithms', 'now',
] as const

/**
 * Builds a synchronous JWT verifier. Throws `ERR_CONFIG_INVALID` for bad options; the returned
 * function throws a credential error (`ERR_JWT_EXPIRED`, `ERR_JWS_SIGNATURE_INVALID`, …).
 *
 * @example
 * import { createJwtVerifier } from 'hallpass'
 * const verify = createJwtVerifier({ keys: keyring, issuer: 'https://auth.example.com', audience: 'orders' })
 * const { claims } = verify(token)
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  checkKnownKeys(options, OPTION_NAMES)
  const keys = options.keys
  // Checked here, once, so that a hand-built key or a bare secret fails at startup, not per token.
  if (typeof keys !== 'object' || keys === null || !(KEY_INTERNALS in keys || typeof (keys as Partial<KeyResolver>).resolveVerifyKey === 'function')) {
    throw new ConfigInvalid('keys', 'must be a JwsKey or a KeyResolver')
  }
  const typ = options.typ === undefined ? ACCESS_TOKEN_TYP : options.typ
  if (typ !== false && (typeof typ !== 'string' || typ.length === 0)) throw new ConfigInvalid('typ', 'must be a non-empty string or false')
  const expectedTyp = typ === false ? undefined : normalizeMediaType(typ)
  const algorithms = options.algorithms
  if (algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every(isJwsAlgorithm))) {
    throw new ConfigInvalid('algorithms', 'must be a non-empty array of supported JWS algorithms')
  }
  const maxTokenBytes = checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_TOKEN_BYTES
  const policy = Object.freeze({
    issuers: checkStringList(options.issuer, 'issuer'),
    audiences: checkStringList(options.audience, 'audience'),
    requiredClaims: options.requiredClaims === undefined ? ['exp'] : checkRequired(options.requiredClaims),
    clockToleranceSeconds: checkNonNegativeNumber(options.clockToleranceSeconds, 'clockToleranceSeconds') ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    maxTokenAgeSeconds: checkNonNegativeNumber(options.maxTokenAgeSeconds, 'maxTokenAgeSeconds'),
    now: checkFunction<() => number>(options.now, 'now') ?? Date.now,
  })

  return (token: string): VerifiedJwt => {
    const { header, payloadSegment, key } = verifyCompactJws(token, keys, maxTokenBytes, algorithms)
    if (expectedTyp !== undefined) {
      if (header.typ === undefined) throw new JwtClaimInvalid('typ', 'missing')
      if (header.typ !== typ && normalizeMediaType(header.typ) !== expectedTyp) throw new JwtClaimInvalid('typ', 'value')
    }
    // verifyCompactJws has already checked that the segment is canonical base64url: decode
    // without a second pass of the check (it is a regular-expression scan of the whole payload).
    const payload = parseJsonObject(decodeUtf8(Buffer.from(payloadSegment, 'base64url'), 'payload'), 'payload')
    return { header, claims: validateClaims(payload, policy), key }
  }
}

/**
 * Verifies one JWT. Prefer `createJwtVerifier` on a hot path: this checks the options each call.
 *
 * @example
 * import { verifyJwt } from 'hallpass'
 * const { claims } = verifyJwt(token, { keys: key, issuer: 'https://auth.example.com' })
 */
export function verifyJwt(token: string, options: JwtVerifierOptions): VerifiedJwt {
  return createJwtVerifier(options)(token)
}

// RFC 8725 §3.11 / RFC 7515 §4.1.9: media types compare case-insensitively and the
// "application/" prefix may be left out.
function normalizeMediaType(value: string): string {
  const lower = value.toLowerCase()
  return lower.startsWith('application/') ? lower.slice(12) : lower
}

function checkRequired(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ConfigInvalid('requiredClaims', 'must be an array of claim names')
  }
  return Object.freeze([...(value)])
}
