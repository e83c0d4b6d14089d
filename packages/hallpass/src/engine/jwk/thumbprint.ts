/**
 * @module hallpass
 *
 * RFC 7638 JWK thumbprints: the default `kid` of every key hallpass makes.
 */
import { createHash } from 'node:crypto'
import { KeyInvalid } from '../../errors.ts'
import type { Jwk } from './types.ts'

// RFC 7638 §3.2: the required members of each key type, in lexicographic order.
const REQUIRED: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
  oct: ['k', 'kty'],
}

/**
 * Computes the RFC 7638 SHA-256 thumbprint of a JWK, base64url-encoded.
 *
 * @example
 * import { computeJwkThumbprint } from 'hallpass'
 * const kid = computeJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' })
 */
export function computeJwkThumbprint(jwk: Jwk): string {
  // Own members only: a kty of "toString" or "constructor" must not reach Object.prototype.
  const members = typeof jwk.kty === 'string' && Object.hasOwn(REQUIRED, jwk.kty) ? REQUIRED[jwk.kty] : undefined
  if (!members) throw new KeyInvalid('unsupported "kty" for a thumbprint')
  const canonical: Record<string, string> = {}
  for (const name of members) {
    const value = jwk[name]
    if (typeof value !== 'string') throw new KeyInvalid(`"${name}" is required for a thumbprint`)
    canonical[name] = value
  }
  // JSON.stringify keeps insertion order, which is already lexicographic.
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}
