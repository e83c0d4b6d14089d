/**
 * @module hallpass
 *
 * Decryption of nested JWTs (RFC 7519 §11.2: sign, then encrypt). The JWE layer only hides the
 * claims: it proves nothing about who made the token, since anyone holding the public key can
 * encrypt to it (docs/security.md A9). So `decryptJwt` returns the inner compact JWS for the caller to
 * verify with `createJwtVerifier`, and refuses any plaintext that is not a signed JWT.
 */
import { compactDecrypt, errors as joseErrors } from 'jose'
import { JweDecryptionFailed, JweInvalid, type HallpassError } from '../../errors.ts'
import { checkCompactJwe } from './header.ts'
import { prepareDecryption, type DecryptionPolicy } from './key.ts'
import { readNestedJws } from './nested-jws.ts'
import type { DecryptJwtOptions, JweHeader, JweKeyMaterial } from './types.ts'

/**
 * Decrypts a compact JWE whose payload is a signed JWT (`cty: "JWT"`) and returns that JWT,
 * still to be verified. Throws `ERR_CONFIG_INVALID`/`ERR_KEY_INVALID` when the options or the
 * key are unusable, `ERR_JWT_TOO_LARGE` above `maxTokenBytes`, `ERR_JWE_INVALID` (with a
 * `reason`) for a malformed or refused JWE or a payload that is not a signed JWT, and
 * `ERR_JWE_DECRYPTION_FAILED` when the key does not open it or it was tampered with.
 *
 * @example
 * import { createJwtVerifier, decryptJwt } from 'hallpass'
 * const verify = createJwtVerifier({ keys: signingPublicKey, issuer: 'https://auth.example.com' })
 * const { claims } = verify(await decryptJwt(jwe, encryptionPrivateJwk))
 */
export async function decryptJwt(jwe: string, key: JweKeyMaterial, options: DecryptJwtOptions = {}): Promise<string> {
  const policy = prepareDecryption(key, options)
  const { plaintext } = await decryptWithPolicy(jwe, policy, 'jwt')
  return readNestedJws(plaintext)
}

/**
 * @internal Decrypts any compact JWE under the same policy as `decryptJwt` and returns the raw
 * plaintext: for test vectors, whose plaintexts are not JWTs. Not exported from the package.
 */
export async function decryptCompact(
  jwe: unknown,
  key: JweKeyMaterial,
  options: DecryptJwtOptions = {},
): Promise<{ plaintext: Uint8Array; header: JweHeader }> {
  return decryptWithPolicy(jwe, prepareDecryption(key, options), undefined)
}

async function decryptWithPolicy(
  jwe: unknown,
  policy: DecryptionPolicy,
  requiredCty: string | undefined,
): Promise<{ plaintext: Uint8Array; header: JweHeader }> {
  const header = checkCompactJwe(jwe, policy, requiredCty)
  try {
    const { plaintext } = await compactDecrypt(jwe as string, policy.key, {
      // Exactly what the header already was checked to say: jose re-checks it.
      keyManagementAlgorithms: [header.alg],
      contentEncryptionAlgorithms: [header.enc],
      // `zip` is refused before this point; 0 makes jose refuse it too.
      maxDecompressedLength: 0,
    })
    return { plaintext, header }
  } catch (error) {
    throw fromJoseError(error)
  }
}

// jose's messages are not part of our contract (and must not reach logs next to a token), so
// only its error class is used, and no cause is attached.
function fromJoseError(error: unknown): HallpassError {
  if (error instanceof joseErrors.JWEDecryptionFailed) return new JweDecryptionFailed()
  if (error instanceof joseErrors.JWEInvalid) return new JweInvalid('the JWE is malformed')
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return new JweInvalid('the JWE uses an unsupported algorithm or parameter')
  }
  // Anything else comes from the key-management step (an ephemeral key WebCrypto refuses, a
  // key that does not unwrap): one error for every way decryption can fail (docs/security.md B5/B6).
  return new JweDecryptionFailed()
}
