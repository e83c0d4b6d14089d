/**
 * @module hallpass/errors
 *
 * Every failure hallpass reports is a `HallpassError` with a stable string `code`
 * (`ERR_<AREA>_<CONDITION>`). Codes never change meaning and retired codes are never
 * reused, so callers switch on `err.code`, never on message text. Messages never contain
 * tokens, secrets or payloads: facts travel in fields (`claim`, `reason`, `kid`, …).
 *
 * Each code belongs to one family:
 * - `credential`: the presented token or credential is bad → 400/401/403 at the edge;
 * - `config`: a programmer or operator error, thrown at construction, never a 401;
 * - `infrastructure`: a dependency failed → 503, fail closed without blaming the token.
 */

export type HallpassErrorFamily = 'credential' | 'config' | 'infrastructure'

/** Base class of every hallpass error. Use `code` to tell errors apart. */
export abstract class HallpassError extends Error {
  abstract readonly code: HallpassErrorCode
  abstract readonly family: HallpassErrorFamily

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The token is not a well-formed compact JWS/JWT (segments, base64url, JSON). `reason` says which. */
export class JwtMalformed extends HallpassError {
  static readonly code = 'ERR_JWT_MALFORMED'
  readonly code = 'ERR_JWT_MALFORMED'
  readonly family = 'credential'
  readonly reason: string
  constructor(reason: string) {
    super(`malformed token: ${reason}`)
    this.reason = reason
  }
}

/** The token is longer than the configured maximum; nothing was decoded. */
export class JwtTooLarge extends HallpassError {
  static readonly code = 'ERR_JWT_TOO_LARGE'
  readonly code = 'ERR_JWT_TOO_LARGE'
  readonly family = 'credential'
  readonly limit: number
  constructor(limit: number) {
    super(`token exceeds the maximum size of ${limit} bytes`)
    this.limit = limit
  }
}

/** The header `alg` is not one this verifier allows (including `none` in any spelling). */
export class JwsAlgorithmNotAllowed extends HallpassError {
  static readonly code = 'ERR_JWS_ALG_NOT_ALLOWED'
  readonly code = 'ERR_JWS_ALG_NOT_ALLOWED'
  readonly family = 'credential'
  readonly alg: string
  constructor(alg: unknown) {
    const shown = typeof alg === 'string' && alg.length <= 32 ? alg : typeof alg
    super(`algorithm not allowed: ${shown}`)
    this.alg = shown
  }
}

/** The header carries a parameter hallpass refuses (`crit`, `b64`, `jwk`, `jku`, `x5u`, `x5c`, `zip`, …). */
export class JwsHeaderUnsupported extends HallpassError {
  static readonly code = 'ERR_JWS_HEADER_UNSUPPORTED'
  readonly code = 'ERR_JWS_HEADER_UNSUPPORTED'
  readonly family = 'credential'
  readonly parameter: string
  constructor(parameter: string, detail = 'is not accepted') {
    super(`header parameter "${parameter}" ${detail}`)
    this.parameter = parameter
  }
}

/** No trusted key matches the token's `kid`/`alg`. There is never a fallback key. */
export class JwksNoMatchingKey extends HallpassError {
  static readonly code = 'ERR_JWKS_NO_MATCHING_KEY'
  readonly code = 'ERR_JWKS_NO_MATCHING_KEY'
  readonly family = 'credential'
  readonly kid: string | undefined
  constructor(kid: string | undefined, detail = 'no trusted key matches the token') {
    super(detail)
    this.kid = kid
  }
}

/** The signature does not verify under the selected key (or has the wrong length/encoding). */
export class JwsSignatureInvalid extends HallpassError {
  static readonly code = 'ERR_JWS_SIGNATURE_INVALID'
  readonly code = 'ERR_JWS_SIGNATURE_INVALID'
  readonly family = 'credential'
  constructor(detail = 'signature verification failed') {
    super(detail)
  }
}

/** `exp` has passed (beyond the clock tolerance), or the token is older than `maxTokenAge`. */
export class JwtExpired extends HallpassError {
  static readonly code = 'ERR_JWT_EXPIRED'
  readonly code = 'ERR_JWT_EXPIRED'
  readonly family = 'credential'
  readonly claim: 'exp' | 'iat'
  constructor(claim: 'exp' | 'iat') {
    super(claim === 'exp' ? 'token has expired' : 'token is older than the maximum token age')
    this.claim = claim
  }
}

/** `nbf` is in the future (beyond the clock tolerance). */
export class JwtNotYetValid extends HallpassError {
  static readonly code = 'ERR_JWT_NOT_YET_VALID'
  readonly code = 'ERR_JWT_NOT_YET_VALID'
  readonly family = 'credential'
  readonly claim = 'nbf'
  constructor() {
    super('token is not valid yet')
  }
}

/** A claim (or the `typ` header) is missing, of the wrong type, or has an unexpected value. */
export class JwtClaimInvalid extends HallpassError {
  static readonly code = 'ERR_JWT_CLAIM_INVALID'
  readonly code = 'ERR_JWT_CLAIM_INVALID'
  readonly family = 'credential'
  readonly claim: string
  readonly reason: 'missing' | 'type' | 'value'
  constructor(claim: string, reason: 'missing' | 'type' | 'value') {
    const what = reason === 'missing' ? 'is missing' : reason === 'type' ? 'has the wrong type' : 'has an unexpected value'
    super(`"${claim}" ${what}`)
    this.claim = claim
    this.reason = reason
  }
}

/** The JWE is malformed or uses an algorithm, header or option hallpass refuses. */
export class JweInvalid extends HallpassError {
  static readonly code = 'ERR_JWE_INVALID'
  readonly code = 'ERR_JWE_INVALID'
  readonly family = 'credential'
  readonly reason: string
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`invalid JWE: ${reason}`, options)
    this.reason = reason
  }
}

/** The JWE could not be decrypted with the configured key (wrong key or tampered ciphertext). */
export class JweDecryptionFailed extends HallpassError {
  static readonly code = 'ERR_JWE_DECRYPTION_FAILED'
  readonly code = 'ERR_JWE_DECRYPTION_FAILED'
  readonly family = 'credential'
  constructor(options?: { cause?: unknown }) {
    super('JWE decryption failed', options)
  }
}

/** Key material is unusable for its algorithm: wrong type or curve, too short, weak, or malformed. */
export class KeyInvalid extends HallpassError {
  static readonly code = 'ERR_KEY_INVALID'
  readonly code = 'ERR_KEY_INVALID'
  readonly family = 'config'
  readonly reason: string
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`invalid key: ${reason}`, options)
    this.reason = reason
  }
}

/** An option or configuration value is invalid. `path` names it (`"refresh.reuseWindowSeconds"`). */
export class ConfigInvalid extends HallpassError {
  static readonly code = 'ERR_CONFIG_INVALID'
  readonly code = 'ERR_CONFIG_INVALID'
  readonly family = 'config'
  readonly path: string
  constructor(path: string, expectation: string) {
    super(`"${path}" ${expectation}`)
    this.path = path
  }
}

/** The keyring has no active key to sign with. */
export class KeyringNoSigningKey extends HallpassError {
  static readonly code = 'ERR_KEYRING_NO_SIGNING_KEY'
  readonly code = 'ERR_KEYRING_NO_SIGNING_KEY'
  readonly family = 'config'
  constructor() {
    super('the keyring has no active signing key')
  }
}

/** The refresh token is malformed, unknown, or not genuine. Nothing stored was changed. */
export class RefreshTokenInvalid extends HallpassError {
  static readonly code = 'ERR_REFRESH_INVALID'
  readonly code = 'ERR_REFRESH_INVALID'
  readonly family = 'credential'
  readonly reason: string
  constructor(reason: string) {
    super(`invalid refresh token: ${reason}`)
    this.reason = reason
  }
}

/**
 * A genuine but superseded refresh token was presented outside the grace window: the session
 * has been revoked (OAuth 2.0 Security BCP §4.14.2). `classification` says how it was replayed.
 */
export class RefreshTokenReused extends HallpassError {
  static readonly code = 'ERR_REFRESH_REUSED'
  readonly code = 'ERR_REFRESH_REUSED'
  readonly family = 'credential'
  readonly sessionId: string
  readonly classification: 'previous_after_window' | 'older_generation'
  constructor(sessionId: string, classification: 'previous_after_window' | 'older_generation') {
    super('refresh token reuse detected; the session has been revoked')
    this.sessionId = sessionId
    this.classification = classification
  }
}

/** The session was revoked (logout, admin, reuse detection). */
export class SessionRevoked extends HallpassError {
  static readonly code = 'ERR_SESSION_REVOKED'
  readonly code = 'ERR_SESSION_REVOKED'
  readonly family = 'credential'
  readonly sessionId: string
  constructor(sessionId: string) {
    super('the session has been revoked')
    this.sessionId = sessionId
  }
}

/** The session passed its idle timeout or its absolute lifetime. */
export class SessionExpired extends HallpassError {
  static readonly code = 'ERR_SESSION_EXPIRED'
  readonly code = 'ERR_SESSION_EXPIRED'
  readonly family = 'credential'
  readonly sessionId: string
  readonly deadline: 'idle' | 'absolute'
  constructor(sessionId: string, deadline: 'idle' | 'absolute') {
    super(deadline === 'idle' ? 'the session expired after inactivity' : 'the session reached its maximum lifetime')
    this.sessionId = sessionId
    this.deadline = deadline
  }
}

/** Input to a session operation (subject, claims, device, scope) is unacceptable. `field` names it. */
export class SessionInputInvalid extends HallpassError {
  static readonly code = 'ERR_SESSION_INPUT_INVALID'
  readonly code = 'ERR_SESSION_INPUT_INVALID'
  readonly family = 'credential'
  readonly field: string
  constructor(field: string, expectation: string) {
    super(`"${field}" ${expectation}`)
    this.field = field
  }
}

/** The store could not be reached or failed. Fail closed, but do not blame the credential. */
export class StoreUnavailable extends HallpassError {
  static readonly code = 'ERR_STORE_UNAVAILABLE'
  readonly code = 'ERR_STORE_UNAVAILABLE'
  readonly family = 'infrastructure'
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`store unavailable: ${detail}`, options)
  }
}

/** The token is valid but does not grant every scope the resource requires (RFC 6750 §3.1). */
export class ScopeInsufficient extends HallpassError {
  static readonly code = 'ERR_SCOPE_INSUFFICIENT'
  readonly code = 'ERR_SCOPE_INSUFFICIENT'
  readonly family = 'credential'
  /** The scopes the resource requires, all of them (not only the missing ones). */
  readonly required: readonly string[]
  constructor(required: string | readonly string[]) {
    super('the token does not grant the required scope')
    this.required = Object.freeze(typeof required === 'string' ? [required] : [...required])
  }
}

/**
 * The issuer's key set (or the discovery document naming it) could not be fetched or held no
 * usable key, and no earlier good set is available. `reason` says which step failed.
 */
export class JwksUnavailable extends HallpassError {
  static readonly code = 'ERR_JWKS_UNAVAILABLE'
  readonly code = 'ERR_JWKS_UNAVAILABLE'
  readonly family = 'infrastructure'
  readonly reason: string
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`key set unavailable: ${reason}`, options)
    this.reason = reason
  }
}

/**
 * The revocation feed has been unreachable for longer than the verifier's policy allows, so a
 * revoked session could go unnoticed: fail closed, without blaming the token.
 */
export class RevocationFeedStale extends HallpassError {
  static readonly code = 'ERR_REVOCATION_FEED_STALE'
  readonly code = 'ERR_REVOCATION_FEED_STALE'
  readonly family = 'infrastructure'
  readonly staleSeconds: number
  constructor(staleSeconds: number) {
    super('the revocation feed is stale')
    this.staleSeconds = staleSeconds
  }
}

/** The key-encryption secret cannot decrypt the stored keys (wrong `HALLPASS_SECRET`), or is too weak. */
export class SecretInvalid extends HallpassError {
  static readonly code = 'ERR_SECRET_INVALID'
  readonly code = 'ERR_SECRET_INVALID'
  readonly family = 'config'
  readonly reason: string
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`key-encryption secret: ${reason}`, options)
    this.reason = reason
  }
}

/** Every error class, in one list: the docs/errors.md sync test and the HTTP mapping read it. */
export const errorClasses = [
  JwtMalformed,
  JwtTooLarge,
  JwsAlgorithmNotAllowed,
  JwsHeaderUnsupported,
  JwksNoMatchingKey,
  JwsSignatureInvalid,
  JwtExpired,
  JwtNotYetValid,
  JwtClaimInvalid,
  JweInvalid,
  JweDecryptionFailed,
  KeyInvalid,
  ConfigInvalid,
  KeyringNoSigningKey,
  RefreshTokenInvalid,
  RefreshTokenReused,
  SessionRevoked,
  SessionExpired,
  SessionInputInvalid,
  StoreUnavailable,
  SecretInvalid,
  ScopeInsufficient,
  JwksUnavailable,
  RevocationFeedStale,
] as const

/** Any concrete hallpass error; `switch (err.code)` narrows it to its class. */
export type AnyHallpassError = InstanceType<(typeof errorClasses)[number]>

/** The union of every stable error code. */
export type HallpassErrorCode = (typeof errorClasses)[number]['code']

/** True when `value` is a hallpass error (optionally with the given code). */
export function isHallpassError<C extends HallpassErrorCode>(
  value: unknown,
  code?: C,
): value is Extract<AnyHallpassError, { code: C }> {
  return value instanceof HallpassError && (code === undefined || value.code === code)
}
