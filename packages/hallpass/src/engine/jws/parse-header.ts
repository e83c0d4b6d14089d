// Protected-header parsing with the header policy of docs/security.md A1, A5, A7, A8. A header only
// ever names an algorithm and a key among those already trusted; anything that would make the
// token choose its own key, extend the processing rules or change the signing input is refused.
import { JwsAlgorithmNotAllowed, JwsHeaderUnsupported, JwtMalformed } from '../../errors.ts'
import { isJwsAlgorithm } from '../algorithms.ts'
import { decodeBase64url } from '../../internal/base64url.ts'
import { decodeUtf8, parseJsonObject } from '../../internal/strict-json.ts'
import type { JwsHeader } from './types.ts'

const REFUSED: Readonly<Record<string, string>> = {
  crit: 'names extensions hallpass does not implement (RFC 7515 §4.1.11)',
  b64: 'is not accepted: JWT payloads are always base64url (RFC 7797 is not supported)',
  jwk: 'is not accepted: keys never come from the token',
  jku: 'is not accepted: keys are never fetched from a URL in the token',
  x5u: 'is not accepted: keys are never fetched from a URL in the token',
  x5c: 'is not accepted: keys never come from the token',
  zip: 'is not accepted: compressed payloads are refused',
  enc: 'belongs to a JWE, not a JWS',
}
const MAX_KID_LENGTH = 256
const MAX_CACHED_HEADERS = 256

// Tokens from one issuer share a handful of header segments, so validated headers are cached
// by their exact base64url text. The cached value is a pure function of that text.
const headerCache = new Map<string, JwsHeader>()

/** Decodes and checks the first segment of a compact JWS. */
export function parseProtectedHeader(segment: string): JwsHeader {
  const cached = headerCache.get(segment)
  if (cached !== undefined) return cached
  const header = checkHeader(parseJsonObject(decodeUtf8(decodeBase64url(segment, 'header'), 'header'), 'header'))
  if (headerCache.size >= MAX_CACHED_HEADERS) headerCache.clear()
  headerCache.set(segment, header)
  return header
}

function checkHeader(header: Record<string, unknown>): JwsHeader {
  if (!isJwsAlgorithm(header.alg)) throw new JwsAlgorithmNotAllowed(header.alg)
  for (const name in header) {
    const why = Object.hasOwn(REFUSED, name) ? REFUSED[name] : undefined
    if (why !== undefined) throw new JwsHeaderUnsupported(name, why)
  }
  const kid = header.kid
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH)) {
    throw new JwtMalformed(`header "kid" must be a string of 1-${MAX_KID_LENGTH} characters`)
  }
  if (header.typ !== undefined && typeof header.typ !== 'string') throw new JwtMalformed('header "typ" must be a string')
  if (header.cty !== undefined && typeof header.cty !== 'string') throw new JwtMalformed('header "cty" must be a string')
  return Object.freeze(header) as JwsHeader
}
