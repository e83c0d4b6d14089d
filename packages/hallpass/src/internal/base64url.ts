// Strict base64url (RFC 7515 §2, RFC 4648 §5): no padding, no whitespace, no foreign
// characters, canonical trailing bits. Node's own decoder silently skips anything it does not
// understand, which lets two different strings decode to the same bytes (Wycheproof's
// `base64` group); a token must have exactly one spelling.
import { JwtMalformed } from '../errors.ts'

const BASE64URL = /^[A-Za-z0-9_-]*$/

// Value of each base64url character, for the trailing-bits check (-1 elsewhere).
const VALUE = new Int8Array(128).fill(-1)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => {
  VALUE[c.charCodeAt(0)] = i
})

/** True when `text` is canonical unpadded base64url. */
export function isCanonicalBase64url(text: string): boolean {
  const rem = text.length & 3
  if (rem === 1 || !BASE64URL.test(text)) return false
  if (rem === 0) return true
  // With 2 (or 3) characters in the last group, the low 4 (or 2) bits of the last one
  // carry no data and must be zero.
  const last = VALUE[text.charCodeAt(text.length - 1)]!
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0
}

/** Decodes canonical base64url or throws `ERR_JWT_MALFORMED` naming `what`. */
export function decodeBase64url(text: string, what: string): Buffer {
  if (!isCanonicalBase64url(text)) throw new JwtMalformed(`${what} is not canonical base64url`)
  return Buffer.from(text, 'base64url')
}

export function encodeBase64url(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64url')
}
