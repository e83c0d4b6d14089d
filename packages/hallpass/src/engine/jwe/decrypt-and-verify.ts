/**
 * @module hallpass
 *
 * The whole nested-JWT check in one call: decrypt, then verify the inner JWT's signature and
 * claims. Both steps always run; the encryption alone authenticates nothing (docs/security.md A9).
 */
import { ConfigInvalid } from '../../errors.ts'
import type { JwtVerifier, VerifiedJwt } from '../jwt/verify.ts'
import { decryptJwt } from './decrypt.ts'
import type { DecryptJwtOptions, JweKeyMaterial } from './types.ts'

/**
 * Decrypts a nested JWT with `decryptionKey` and verifies the inner JWT with `verifier` (from
 * `createJwtVerifier`, holding the signer's keys). Throws the JWE error codes of `decryptJwt`,
 * then those of the verifier (`ERR_JWS_SIGNATURE_INVALID`, `ERR_JWT_EXPIRED`, …).
 *
 * @example
 * import { createJwtVerifier, decryptAndVerifyJwt } from 'hallpass'
 * const verifier = createJwtVerifier({ keys: signingPublicKey, issuer: 'https://auth.example.com' })
 * const { claims } = await decryptAndVerifyJwt(jwe, encryptionPrivateJwk, verifier)
 */
export async function decryptAndVerifyJwt(
  jwe: string,
  decryptionKey: JweKeyMaterial,
  verifier: JwtVerifier,
  options: DecryptJwtOptions = {},
): Promise<VerifiedJwt> {
  if (typeof verifier !== 'function') throw new ConfigInvalid('verifier', 'must be a function from createJwtVerifier')
  return verifier(await decryptJwt(jwe, decryptionKey, options))
}
