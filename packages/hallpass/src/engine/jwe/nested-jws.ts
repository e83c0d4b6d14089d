// The one shape a nested JWT's plaintext may have (RFC 7519 §11.2): a signed compact JWS.
// Checked when encrypting (hallpass never encrypts anything else) and after decrypting.
import { JweInvalid, JwtMalformed, type HallpassError } from '../../errors.ts'
import { isJwsAlgorithm } from '../algorithms.ts'
import { decodeBase64url, isCanonicalBase64url } from '../../internal/base64url.ts'
import { parseJsonObject } from '../../internal/strict-json.ts'

// Invalid UTF-8 is an error, never U+FFFD.
const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * True when `text` is three non-empty canonical base64url segments under a header that names a
 * JWS algorithm. This refuses raw claims JSON, an unsecured `alg: none` JWT (empty signature or
 * `none`), and a JWE. The signature itself is the verifier's job.
 */
export function isCompactJws(text: string): boolean {
  const segments = text.split('.')
  if (segments.length !== 3 || !segments.every((s) => s.length > 0 && isCanonicalBase64url(s))) return false
  try {
    const header = parseJsonObject(decodeBase64url(segments[0]!, 'header').toString('utf8'), 'header')
    return isJwsAlgorithm(header.alg) && header.enc === undefined
  } catch (error) {
    if (error instanceof JwtMalformed) return false
    throw error
  }
}

/**
 * The signed JWT a nested JWT's plaintext must be: valid UTF-8 and `isCompactJws`. This refuses
 * what sign/encrypt confusion needs (CVE-2022-39174, CVE-2022-3102, CVE-2026-29000): raw claims
 * JSON, an unsecured `alg: none` JWT, or a JWE inside the JWE. Throws `ERR_JWE_INVALID` (or what
 * `refuse` makes).
 */
export function readNestedJws(plaintext: Uint8Array, refuse: () => HallpassError = () => new JweInvalid('the payload is not a signed JWT')): string {
  let text: string
  try {
    text = UTF8.decode(plaintext)
  } catch {
    throw refuse()
  }
  if (!isCompactJws(text)) throw refuse()
  return text
}
