// Structure and header policy of a compact JWE (RFC 7516 §7.1), checked before jose sees the
// token and before any key is used: compact serialization only, strict base64url segments, a
// duplicate-free protected header whose `alg`/`enc` the caller pinned, and no parameter that
// would let the token pick a key, extend the rules or inflate the plaintext.
import { JweInvalid, JwtMalformed, JwtTooLarge } from '../../errors.ts'
import { decodeBase64url, isCanonicalBase64url } from '../../internal/base64url.ts'
import { parseJsonObject } from '../../internal/strict-json.ts'
import { isJweAlgorithm, isJweEncryption, JWE_ENCRYPTION_KEY_BYTES, refusalOf, type JweAlgorithm, type JweEncryption } from './algorithms.ts'
import type { DecryptionPolicy } from './key.ts'
import type { JweHeader } from './types.ts'

const REFUSED_PARAMETERS: Readonly<Record<string, string>> = {
  // RFC 8725 §3.6: compression before encryption SHOULD NOT be done, and inflating attacker
  // data is a decompression bomb (CVE-2024-28176, CVE-2024-28180; docs/security.md C2).
  zip: 'header "zip" is refused: compressed plaintext is not supported',
  crit: 'header "crit" names extensions hallpass does not implement',
  jwk: 'header "jwk" is refused: keys never come from the token',
  jku: 'header "jku" is refused: keys never come from the token',
  x5u: 'header "x5u" is refused: keys never come from the token',
  x5c: 'header "x5c" is refused: keys never come from the token',
}
// Invalid UTF-8 is an error, never U+FFFD (RFC 8259 §8.1).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const SEGMENT_NAMES = ['protected header', 'encrypted key', 'initialization vector', 'ciphertext', 'authentication tag'] as const

/**
 * Checks the serialization and the protected header of `jwe` against `policy`. With
 * `requiredCty`, the header must also declare that content type (RFC 7519 §5.2).
 */
export function checkCompactJwe(jwe: unknown, policy: DecryptionPolicy, requiredCty: string | undefined): JweHeader {
  // The JSON serializations (RFC 7516 §7.2) carry unprotected headers that the compact form
  // cannot, and that is where `alg`/`p2c` hid in CVE-2023-50967: only compact is accepted.
  if (typeof jwe !== 'string') throw new JweInvalid('only the compact serialization is accepted')
  if (jwe.length > policy.maxTokenBytes) throw new JwtTooLarge(policy.maxTokenBytes)
  const segments = jwe.split('.')
  if (segments.length !== 5) throw new JweInvalid('a compact JWE has exactly five segments')
  for (let i = 0; i < 5; i++) {
    const segment = segments[i]!
    // The encrypted key is empty for `dir` and `ECDH-ES`, and the ciphertext of an empty
    // plaintext is empty; the others never are.
    if ((segment.length === 0 && (i === 0 || i === 2 || i === 4)) || !isCanonicalBase64url(segment)) {
      throw new JweInvalid(`the ${SEGMENT_NAMES[i]!} is empty or not canonical base64url`)
    }
  }

  let header: Record<string, unknown>
  try {
    header = parseJsonObject(UTF8.decode(decodeBase64url(segments[0]!, 'header')), 'protected header')
  } catch (error) {
    if (error instanceof JwtMalformed) throw new JweInvalid(error.reason)
    if (error instanceof TypeError) throw new JweInvalid('the protected header is not valid UTF-8')
    throw error
  }

  const alg = header.alg
  const refusal = refusalOf(alg)
  if (refusal !== undefined) throw new JweInvalid(refusal)
  if (!isJweAlgorithm(alg) || !policy.algorithms.includes(alg)) throw new JweInvalid('header "alg" is not allowed')
  const enc = header.enc
  if (!isJweEncryption(enc) || !policy.encryptions.includes(enc)) throw new JweInvalid('header "enc" is not allowed')
  checkSegmentLengths(segments, alg, enc)
  for (const name in header) {
    // Own members only: a header member named "constructor" must not find Object's.
    if (Object.hasOwn(REFUSED_PARAMETERS, name)) throw new JweInvalid(REFUSED_PARAMETERS[name]!)
    // JSON.parse makes "__proto__" an own member; any later merge of the header would swap a
    // prototype for attacker data (docs/security.md D1).
    if (name === '__proto__') throw new JweInvalid('header member "__proto__" is refused')
  }
  for (const name of ['kid', 'typ', 'cty'] as const) {
    if (header[name] !== undefined && typeof header[name] !== 'string') throw new JweInvalid(`header "${name}" must be a string`)
  }
  if (requiredCty !== undefined && (typeof header.cty !== 'string' || normalizeMediaType(header.cty) !== requiredCty)) {
    throw new JweInvalid(`header "cty" must be "${requiredCty.toUpperCase()}" for a nested JWT`)
  }
  if (policy.curve !== undefined) checkEphemeralKey(header.epk, policy.curve)
  return Object.freeze(header) as JweHeader
}

// Lengths fixed by the algorithms (RFC 7516 §5.2 step 10, RFC 7518 §4.5, §5.2.2.2, §5.3). A
// truncated tag is refused here, before any key is used, and in constant time with respect to
// the key: the length is public.
function checkSegmentLengths(segments: readonly string[], alg: JweAlgorithm, enc: JweEncryption): void {
  const transportsKey = alg !== 'dir' && alg !== 'ECDH-ES'
  if ((segments[1]!.length > 0) !== transportsKey) {
    throw new JweInvalid(transportsKey ? `${alg} needs an encrypted key` : `${alg} must have an empty encrypted key`)
  }
  const cbc = enc.includes('CBC')
  if (decodedLength(segments[2]!) !== (cbc ? 16 : 12)) throw new JweInvalid('the initialization vector has the wrong length')
  if (decodedLength(segments[4]!) !== (cbc ? JWE_ENCRYPTION_KEY_BYTES[enc] / 2 : 16)) {
    throw new JweInvalid('the authentication tag has the wrong length')
  }
}

// Bytes encoded by canonical unpadded base64url of this length.
function decodedLength(segment: string): number {
  return (segment.length * 3) >> 2
}

// ECDH-ES: the sender's ephemeral key must be a public key on the recipient key's own curve
// (RFC 7518 §4.6.1.1). Whether the point is on that curve is checked when it is imported; a
// point that is not makes decryption fail with the same error as any other (docs/security.md B5).
function checkEphemeralKey(epk: unknown, curve: string): void {
  if (typeof epk !== 'object' || epk === null || Array.isArray(epk)) throw new JweInvalid('header "epk" is missing or not an object')
  const jwk = epk as Record<string, unknown>
  const kty = curve === 'X25519' ? 'OKP' : 'EC'
  if (jwk.kty !== kty || jwk.crv !== curve) throw new JweInvalid('header "epk" is not on the curve of the key')
  if (jwk.d !== undefined) throw new JweInvalid('header "epk" must be a public key')
}

// RFC 7515 §4.1.10 (which `cty` of RFC 7516 §4.1.12 follows): media types compare
// case-insensitively and "application/" may be left out.
function normalizeMediaType(value: string): string {
  const lower = value.toLowerCase()
  return lower.startsWith('application/') ? lower.slice(12) : lower
}
