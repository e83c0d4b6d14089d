/**
 * @module hallpass
 *
 * JWT signing. The caller sets every claim (the session layer builds access-token claims);
 * this only checks that numeric dates are numbers and that the result fits the size limit
 * verifiers enforce, so hallpass never mints a token it would itself refuse.
 */
import { ConfigInvalid, JwtClaimInvalid, JwtTooLarge } from '../../errors.ts'
import { encodeBase64url } from '../../internal/base64url.ts'
import type { JwsKey } from '../jwk/types.ts'
import { signEncodedPayload } from '../jws/sign.ts'
import { DEFAULT_MAX_TOKEN_BYTES } from '../jws/types.ts'
import { ACCESS_TOKEN_TYP, type JwtClaims } from './types.ts'

export interface SignJwtOptions {
  /** The `typ` header (default `at+jwt`; `''` leaves it out). */
  typ?: string
  /** Refuse to produce a longer token (default 8192). */
  maxTokenBytes?: number
}

/**
 * Signs a claim set as a compact JWS with header `{alg, kid, typ}`.
 *
 * @example
 * import { generateKey, signJwt } from 'hallpass'
 * const now = Math.floor(Date.now() / 1000)
 * const token = signJwt({ sub: 'user-1', iat: now, exp: now + 600 }, generateKey('ES256'))
 */
export function signJwt(claims: JwtClaims, key: JwsKey, options: SignJwtOptions = {}): string {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new ConfigInvalid('claims', 'must be an object')
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw new JwtClaimInvalid(name, 'type')
  }
  const typ = options.typ ?? ACCESS_TOKEN_TYP
  const token = signEncodedPayload(encodeBase64url(JSON.stringify(claims)), key, typ)
  const limit = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES
  if (token.length > limit) throw new JwtTooLarge(limit)
  return token
}
