/**
 * @module hallpass
 *
 * JWT claim types (RFC 7519 §4.1, RFC 9068 §2.2).
 */

/** Registered claims plus hallpass's `sid` and `scope`; other members are custom claims. */
export interface JwtClaims {
  iss?: string
  sub?: string
  aud?: string | string[]
  exp?: number
  nbf?: number
  iat?: number
  jti?: string
  /** The session this access token belongs to: the unit of revocation. */
  sid?: string
  /** Space-separated scopes (RFC 9068 §2.2.3). */
  scope?: string
  [claim: string]: unknown
}

/** RFC 9068 media type of JWT access tokens (`typ` header). */
export const ACCESS_TOKEN_TYP = 'at+jwt'
