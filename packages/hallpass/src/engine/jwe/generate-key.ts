/**
 * @module hallpass
 *
 * Fresh JWE keys, from node:crypto's CSPRNG, as private JWKs bound to their algorithm.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { ConfigInvalid, KeyInvalid } from '../../errors.ts'
import { checkKnownKeys } from '../../internal/options.ts'
import { computeJwkThumbprint } from '../jwk/thumbprint.ts'
import type { Jwk } from '../jwk/types.ts'
import {
  DEFAULT_JWE_ENCRYPTION,
  isJweAlgorithm,
  isJweEncryption,
  JWE_ALGORITHM_SPECS,
  JWE_ENCRYPTION_KEY_BYTES,
  refusalOf,
  type JweAlgorithm,
  type JweEncryption,
} from './algorithms.ts'

export interface GenerateEncryptionKeyOptions {
  /** ECDH-ES curve (default P-256). */
  crv?: 'P-256' | 'P-384' | 'P-521' | 'X25519'
  /** RSA modulus length in bits (2048-8192, default 2048). */
  modulusLength?: number
  /** Key id (default: the RFC 7638 thumbprint for key pairs, none for secret keys). */
  kid?: string
}

const NODE_CURVE_NAMES = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const

/**
 * Generates a key for one JWE algorithm and returns it as a private JWK with `alg` and
 * `use: "enc"`, ready for `encryptJwt` and `decryptJwt` (which take the algorithm from it). For
 * `dir` the key is the content key: `enc` sets its length (default A256GCM) and becomes its
 * `alg`, as in RFC 7520 §5.6; for other algorithms `enc` does not affect the key.
 * Treat the result as a secret.
 *
 * @example
 * import { generateEncryptionKey } from 'hallpass'
 * const recipientKey = generateEncryptionKey('ECDH-ES+A256KW', undefined, { crv: 'X25519' })
 * const directKey = generateEncryptionKey('dir', 'A256GCM')
 */
export function generateEncryptionKey(alg: JweAlgorithm, enc?: JweEncryption, options: GenerateEncryptionKeyOptions = {}): Jwk {
  const refusal = refusalOf(alg)
  if (refusal !== undefined) throw new ConfigInvalid('alg', refusal)
  if (!isJweAlgorithm(alg)) throw new ConfigInvalid('alg', 'is not a supported JWE algorithm')
  if (enc !== undefined && !isJweEncryption(enc)) throw new ConfigInvalid('enc', 'is not a supported JWE content encryption')
  checkKnownKeys(options, ['crv', 'modulusLength', 'kid'])
  const spec = JWE_ALGORITHM_SPECS[alg]
  switch (spec.family) {
    case 'direct': {
      const cipher = enc ?? DEFAULT_JWE_ENCRYPTION
      return secretJwk(JWE_ENCRYPTION_KEY_BYTES[cipher], cipher, options.kid)
    }
    case 'aes-kw':
    case 'aes-gcm-kw':
      return secretJwk(spec.keyBytes!, alg, options.kid)
    case 'ecdh-es': {
      const crv = options.crv ?? 'P-256'
      let privateKey: KeyObject
      if (crv === 'X25519') privateKey = generateKeyPairSync('x25519').privateKey
      else if (Object.hasOwn(NODE_CURVE_NAMES, crv)) privateKey = generateKeyPairSync('ec', { namedCurve: NODE_CURVE_NAMES[crv] }).privateKey
      else throw new ConfigInvalid('crv', 'must be P-256, P-384, P-521 or X25519')
      return keyPairJwk(privateKey, alg, options.kid)
    }
    case 'rsa-oaep': {
      const modulusLength = options.modulusLength ?? 2048
      if (!Number.isInteger(modulusLength) || modulusLength < 2048 || modulusLength > 8192) {
        throw new KeyInvalid('"modulusLength" must be an integer from 2048 to 8192')
      }
      return keyPairJwk(generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 }).privateKey, alg, options.kid)
    }
  }
}

function secretJwk(bytes: number, alg: string, kid: string | undefined): Jwk {
  // No default kid: a thumbprint of a secret key is a hash of the secret, and it is not published.
  const jwk: Jwk = { kty: 'oct', k: randomBytes(bytes).toString('base64url'), alg, use: 'enc' }
  if (kid !== undefined) jwk.kid = kid
  return jwk
}

function keyPairJwk(privateKey: KeyObject, alg: JweAlgorithm, kid: string | undefined): Jwk {
  const jwk = privateKey.export({ format: 'jwk' }) as Jwk
  return { ...jwk, alg, use: 'enc', kid: kid ?? computeJwkThumbprint(jwk) }
}
