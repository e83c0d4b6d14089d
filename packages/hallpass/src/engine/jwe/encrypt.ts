/**
 * @module hallpass
 *
 * Encryption of signed JWTs into a compact JWE (nested JWT, RFC 7519 §11.2): sign first, then
 * encrypt, so the recipient can check who signed the claims after decrypting them. The header is
 * `{alg, enc, cty: "JWT", kid?}` (RFC 7519 §5.2); nothing else goes into it.
 */
import { CompactEncrypt, type CompactJWEHeaderParameters } from 'jose'
import { ConfigInvalid, JwtTooLarge, KeyInvalid } from '../../errors.ts'
import { prepareEncryption } from './key.ts'
import { isCompactJws } from './nested-jws.ts'
import type { EncryptJwtOptions, JweKeyMaterial } from './types.ts'

/**
 * Encrypts a signed compact JWT to the recipient's key. Only a signed JWT is accepted as input
 * (`ERR_CONFIG_INVALID` otherwise): hallpass does not make encrypted-but-unsigned tokens.
 *
 * @example
 * import { encryptJwt, generateEncryptionKey, generateKey, signJwt } from 'hallpass'
 * const recipientKey = generateEncryptionKey('ECDH-ES+A256KW')
 * const now = Math.floor(Date.now() / 1000)
 * const jws = signJwt({ sub: 'user-1', iat: now, exp: now + 600 }, generateKey('ES256'))
 * const jwe = await encryptJwt(jws, recipientKey, { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
 */
export async function encryptJwt(signedJwt: string, key: JweKeyMaterial, options: EncryptJwtOptions = {}): Promise<string> {
  const plan = prepareEncryption(key, options)
  if (typeof signedJwt !== 'string' || !isCompactJws(signedJwt)) {
    throw new ConfigInvalid('signedJwt', 'must be a signed compact JWT (sign first, then encrypt)')
  }
  const header: CompactJWEHeaderParameters = { alg: plan.alg, enc: plan.enc, cty: 'JWT' }
  if (plan.kid !== undefined) header.kid = plan.kid
  let jwe: string
  try {
    jwe = await new CompactEncrypt(new TextEncoder().encode(signedJwt)).setProtectedHeader(header).encrypt(plan.key)
  } catch (cause) {
    // The key and algorithms were checked already; this is the runtime refusing the key.
    throw new KeyInvalid('the key could not be used to encrypt', { cause })
  }
  if (jwe.length > plan.maxTokenBytes) throw new JwtTooLarge(plan.maxTokenBytes)
  return jwe
}
