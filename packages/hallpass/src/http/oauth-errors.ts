/**
 * @module hallpass
 *
 * The one place where error codes become HTTP:
 * - resource servers (RFC 6750 §3.1): 401 `invalid_token` for any bad, expired or revoked
 *   access token, 400 `invalid_request` for a malformed request, 403 `insufficient_scope`;
 * - token endpoints (RFC 6749 §5.2): 400 `invalid_grant` for a bad, expired, revoked or reused
 *   refresh token, 400 `invalid_request`, 401 `invalid_client`;
 * - infrastructure failures: 503, never blamed on the credential.
 * `error_description` is a fixed string per code, so no token or internal detail can leak.
 */
import type { HallpassErrorCode } from '../errors.ts'

export type OAuthErrorName = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_grant' | 'invalid_client' | 'server_error' | 'temporarily_unavailable'

export interface HttpError {
  readonly status: number
  readonly error: OAuthErrorName
  readonly description: string
}

/** Fixed descriptions, one per code. */
export const ERROR_DESCRIPTIONS: Readonly<Record<HallpassErrorCode, string>> = Object.freeze({
  ERR_JWT_MALFORMED: 'The token is malformed',
  ERR_JWT_TOO_LARGE: 'The token is too large',
  ERR_JWS_ALG_NOT_ALLOWED: 'The token algorithm is not allowed',
  ERR_JWS_HEADER_UNSUPPORTED: 'The token header is not supported',
  ERR_JWKS_NO_MATCHING_KEY: 'The token signing key is unknown',
  ERR_JWS_SIGNATURE_INVALID: 'The token signature is invalid',
  ERR_JWT_EXPIRED: 'The token has expired',
  ERR_JWT_NOT_YET_VALID: 'The token is not valid yet',
  ERR_JWT_CLAIM_INVALID: 'The token claims are invalid',
  ERR_JWE_INVALID: 'The encrypted token is invalid',
  ERR_JWE_DECRYPTION_FAILED: 'The encrypted token could not be decrypted',
  ERR_KEY_INVALID: 'Server key configuration error',
  ERR_CONFIG_INVALID: 'Server configuration error',
  ERR_KEYRING_NO_SIGNING_KEY: 'Server key configuration error',
  ERR_REFRESH_INVALID: 'The refresh token is invalid',
  ERR_REFRESH_REUSED: 'The refresh token was already used; the session has been revoked',
  ERR_SESSION_REVOKED: 'The session has been revoked',
  ERR_SESSION_EXPIRED: 'The session has expired',
  ERR_SESSION_INPUT_INVALID: 'The request is invalid',
  ERR_STORE_UNAVAILABLE: 'The service is temporarily unavailable',
  ERR_SECRET_INVALID: 'Server key configuration error',
  ERR_SCOPE_INSUFFICIENT: 'The token does not grant the required scope',
  ERR_JWKS_UNAVAILABLE: 'The token signing keys are temporarily unavailable',
  ERR_REVOCATION_FEED_STALE: 'Token revocation status is temporarily unavailable',
})

/** Where the error happened decides the vocabulary. */
export type ErrorContext = 'resource' | 'token'

/** Maps a hallpass error code to status, OAuth error name and fixed description. */
export function toHttpError(code: HallpassErrorCode, context: ErrorContext): HttpError {
  const description = ERROR_DESCRIPTIONS[code]
  switch (code) {
    case 'ERR_JWT_MALFORMED':
    case 'ERR_JWT_TOO_LARGE':
    case 'ERR_JWS_ALG_NOT_ALLOWED':
    case 'ERR_JWS_HEADER_UNSUPPORTED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWS_SIGNATURE_INVALID':
    case 'ERR_JWT_EXPIRED':
    case 'ERR_JWT_NOT_YET_VALID':
    case 'ERR_JWT_CLAIM_INVALID':
    case 'ERR_JWE_INVALID':
    case 'ERR_JWE_DECRYPTION_FAILED':
      return context === 'resource' ? { status: 401, error: 'invalid_token', description } : { status: 400, error: 'invalid_grant', description }
    case 'ERR_REFRESH_INVALID':
    case 'ERR_REFRESH_REUSED':
    case 'ERR_SESSION_REVOKED':
    case 'ERR_SESSION_EXPIRED':
      return context === 'resource' ? { status: 401, error: 'invalid_token', description } : { status: 400, error: 'invalid_grant', description }
    case 'ERR_SESSION_INPUT_INVALID':
      return { status: 400, error: 'invalid_request', description }
    case 'ERR_SCOPE_INSUFFICIENT':
      // RFC 6750 §3.1: the token is fine, it just does not reach this far.
      return { status: 403, error: 'insufficient_scope', description }
    case 'ERR_STORE_UNAVAILABLE':
    case 'ERR_JWKS_UNAVAILABLE':
    case 'ERR_REVOCATION_FEED_STALE':
      return { status: 503, error: 'temporarily_unavailable', description }
    case 'ERR_KEY_INVALID':
    case 'ERR_CONFIG_INVALID':
    case 'ERR_KEYRING_NO_SIGNING_KEY':
    case 'ERR_SECRET_INVALID':
      return { status: 500, error: 'server_error', description }
  }
}
