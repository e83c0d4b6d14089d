/**
 * @module hallpass
 *
 * JWK export. The public form never carries a private member, and secret (HMAC) keys have no
 * public form at all: they are never published.
 */
import { KeyInvalid } from '../../errors.ts'
import type { Jwk, JwsKey } from './types.ts'

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])

/**
 * The public JWK of an asymmetric key, with `kid`, `alg` and `use: "sig"`.
 *
 * @example
 * import { exportPublicJwk, generateKey } from 'hallpass'
 * const jwk = exportPublicJwk(generateKey('EdDSA'))
 */
export function exportPublicJwk(key: JwsKey): Jwk {
  if (key.publicKey === undefined) throw new KeyInvalid('secret keys have no public JWK and are never published')
  const exported = key.publicKey.export({ format: 'jwk' }) as Jwk
  for (const member of Object.keys(exported)) if (PRIVATE_MEMBERS.has(member)) delete exported[member]
  return { ...exported, kid: key.kid, alg: key.alg, use: 'sig' }
}

/**
 * The full JWK of a key, private members included. Treat the result as a secret.
 *
 * @example
 * import { exportPrivateJwk, generateKey } from 'hallpass'
 * const jwk = exportPrivateJwk(generateKey('ES256'))
 */
export function exportPrivateJwk(key: JwsKey): Jwk {
  if (key.type === 'public') throw new KeyInvalid('this key has no private part')
  return { ...(key.keyObject.export({ format: 'jwk' }) as Jwk), kid: key.kid, alg: key.alg, use: 'sig' }
}

/**
 * PEM export: SPKI for the public half, PKCS#8 for the private key. HMAC secrets have no PEM.
 *
 * @example
 * import { exportPem, generateKey } from 'hallpass'
 * const { publicPem, privatePem } = exportPem(generateKey('RS256'))
 */
export function exportPem(key: JwsKey): { publicPem: string; privatePem: string | undefined } {
  if (key.publicKey === undefined) throw new KeyInvalid('HMAC secrets have no PEM form')
  return {
    publicPem: key.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    privatePem: key.type === 'private' ? (key.keyObject.export({ format: 'pem', type: 'pkcs8' }) as string) : undefined,
  }
}
