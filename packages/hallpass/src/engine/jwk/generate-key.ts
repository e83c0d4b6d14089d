/**
 * @module hallpass
 *
 * Fresh keys for each algorithm, from node:crypto's CSPRNG.
 */
import { generateKeyPairSync, generateKeySync } from 'node:crypto'
import { KeyInvalid } from '../../errors.ts'
import { ALGORITHMS, isJwsAlgorithm, type JwsAlgorithm } from '../algorithms.ts'
import { importKey } from './import-key.ts'
import type { JwsKey } from './types.ts'

export interface GenerateKeyOptions {
  kid?: string
  /** RSA modulus length in bits (2048-8192, default 2048). */
  modulusLength?: number
  /** EdDSA curve (default Ed25519). */
  crv?: 'Ed25519' | 'Ed448'
}

/**
 * Generates a signing key for `alg`: an HMAC secret as long as the hash, or a key pair.
 *
 * @example
 * import { generateKey } from 'hallpass'
 * const key = generateKey('ES256')
 */
export function generateKey(alg: JwsAlgorithm, options: GenerateKeyOptions = {}): JwsKey {
  if (!isJwsAlgorithm(alg)) throw new KeyInvalid('"alg" is not a supported JWS algorithm')
  const spec = ALGORITHMS[alg]
  const importOptions = { alg, ...(options.kid !== undefined ? { kid: options.kid } : {}) }
  switch (spec.family) {
    case 'hmac':
      return importKey(generateKeySync('hmac', { length: spec.hashBytes * 8 }), importOptions)
    case 'rsa':
    case 'rsa-pss': {
      const modulusLength = options.modulusLength ?? 2048
      if (!Number.isInteger(modulusLength) || modulusLength < 2048 || modulusLength > 8192) {
        throw new KeyInvalid('"modulusLength" must be an integer from 2048 to 8192')
      }
      return importKey(generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 }).privateKey, importOptions)
    }
    case 'ecdsa': {
      const namedCurve = spec.curve === 'P-256' ? 'prime256v1' : spec.curve === 'P-384' ? 'secp384r1' : 'secp521r1'
      return importKey(generateKeyPairSync('ec', { namedCurve }).privateKey, importOptions)
    }
    case 'eddsa': {
      const privateKey = options.crv === 'Ed448' ? generateKeyPairSync('ed448').privateKey : generateKeyPairSync('ed25519').privateKey
      return importKey(privateKey, importOptions)
    }
  }
}
