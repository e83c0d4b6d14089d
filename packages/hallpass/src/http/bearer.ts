/**
 * @module hallpass
 *
 * Reads the bearer token of a request (RFC 6750 §2.1): `Authorization: Bearer <b64token>`.
 * The scheme is case-insensitive, exactly one space follows it, and the token must match the
 * b64token grammar. A credential of another scheme (`Basic …`) is no bearer credential at all,
 * which RFC 6750 §3.1 answers like a request without one; several `Authorization` headers or
 * a Bearer credential that does not parse is a malformed request.
 */

export type BearerResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'other-scheme' }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'invalid'; readonly reason: string }

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
// RFC 9110 §11.1: auth-scheme = token, then a space or the end of the value.
const AUTH_SCHEME = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: |$)/
const MAX_HEADER_LENGTH = 16 * 1024

/** Parses the raw header value(s) as Node gives them (`string | string[] | undefined`). */
export function parseBearerHeader(header: string | readonly string[] | undefined): BearerResult {
  if (header === undefined) return { kind: 'none' }
  if (typeof header !== 'string') {
    return header.length === 0 ? { kind: 'none' } : { kind: 'invalid', reason: 'several Authorization headers' }
  }
  if (header.length > MAX_HEADER_LENGTH) return { kind: 'invalid', reason: 'Authorization header too long' }
  if (header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') {
    // `Bearer` with no token is a malformed Bearer credential, not another scheme.
    const scheme = AUTH_SCHEME.exec(header)?.[1]
    return scheme !== undefined && scheme.toLowerCase() !== 'bearer' ? { kind: 'other-scheme' } : { kind: 'invalid', reason: 'malformed Authorization header' }
  }
  const token = header.slice(7)
  if (!B64TOKEN.test(token)) return { kind: 'invalid', reason: 'malformed Bearer token' }
  return { kind: 'token', token }
}
