/**
 * @module hallpass
 *
 * Compact JWS verification (RFC 7515 §5.2) on node:crypto: the hot path. Synchronous, and
 * checks are ordered cheapest first: size, shape, header (cached), key, signature; the payload
 * is only decoded once the signature holds.
 */
import { createHmac, timingSafeEqual, verify } from 'node:crypto'
import { ConfigInvalid, JwksNoMatchingKey, JwsAlgorithmNotAllowed, JwsSignatureInvalid, JwtMalformed, JwtTooLarge, KeyInvalid } from '../../errors.ts'
import { isJwsAlgorithm, type JwsAlgorithm } from '../algorithms.ts'
import { checkKnownKeys, checkPositiveInteger } from '../../internal/options.ts'
import { decodeBase64url, isCanonicalBase64url } from '../../internal/base64url.ts'
import { KEY_INTERNALS, type KeyInternals } from '../internal/key-internals.ts'
import type { JwsKey } from '../jwk/types.ts'
import { parseProtectedHeader } from './parse-header.ts'
import { DEFAULT_MAX_TOKEN_BYTES, type JwsHeader, type VerificationKeys } from './types.ts'

export interface VerifyJwsOptions {
  /** Reject tokens longer than this many characters before decoding anything (default 8192). */
  maxTokenBytes?: number
  /** An extra allowlist on top of each key's own algorithm. */
  algorithms?: readonly JwsAlgorithm[]
}

export interface VerifiedJws {
  readonly header: JwsHeader
  /** The base64url payload segment, already checked to be canonical. */
  readonly payloadSegment: string
  readonly key: JwsKey
}

/**
 * Verifies a compact JWS and returns its header and payload bytes. Throws a `HallpassError`
 * whose `code` says which check failed.
 *
 * @example
 * import { verifyJws } from 'hallpass'
 * const { header, payload } = verifyJws(token, key)
 */
export function verifyJws(token: string, keys: VerificationKeys, options: VerifyJwsOptions = {}): {
  header: JwsHeader
  payload: Buffer
  key: JwsKey
} {
  // RFC 7515 allows an empty payload (Wycheproof rs256#259 and others are valid JWSs with one);
  // only the JWT verifier, whose payload must be a JSON object, refuses it up front.
  // Checked per call (this one-shot API has no factory): a NaN limit or a string allowlist
  // must not quietly switch a check off.
  checkKnownKeys(options, ['maxTokenBytes', 'algorithms'])
  const maxTokenBytes = checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_TOKEN_BYTES
  const algorithms = options.algorithms
  if (algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every(isJwsAlgorithm))) {
    throw new ConfigInvalid('algorithms', 'must be a non-empty array of supported JWS algorithms')
  }
  const verified = verifyCompactJws(token, keys, maxTokenBytes, algorithms, true)
  return { header: verified.header, payload: Buffer.from(verified.payloadSegment, 'base64url'), key: verified.key }
}

/** @internal The shared hot path of `verifyJws` and the JWT verifier. */
export function verifyCompactJws(
  token: string,
  keys: VerificationKeys,
  maxTokenBytes: number,
  algorithms: readonly JwsAlgorithm[] | undefined,
  allowEmptyPayload = false,
): VerifiedJws {
  if (typeof token !== 'string') throw new JwtMalformed('token must be a string')
  if (typeof keys !== 'object' || keys === null) throw new KeyInvalid('verification needs a JwsKey or a KeyResolver')
  if (token.length > maxTokenBytes) throw new JwtTooLarge(maxTokenBytes)
  const dot1 = token.indexOf('.')
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) throw new JwtMalformed('a compact JWS has exactly three segments')
  if (dot1 === 0) throw new JwtMalformed('a segment is empty')

  const header = parseProtectedHeader(token.slice(0, dot1))
  // Checked after the header so that `alg:none` with its empty signature (RFC 7515 App. A.5)
  // is reported as the refused algorithm it is (docs/security.md A1), not as a shape error.
  if ((dot2 === dot1 + 1 && !allowEmptyPayload) || dot2 === token.length - 1) throw new JwtMalformed('a segment is empty')
  if (algorithms !== undefined && !algorithms.includes(header.alg)) throw new JwsAlgorithmNotAllowed(header.alg)
  const key = resolveKey(keys, header)
  const internals = key[KEY_INTERNALS]
  // The key is bound to one algorithm at import; the header may only confirm it (A2, A4).
  if (key.alg !== header.alg) throw new JwsAlgorithmNotAllowed(header.alg)

  const payloadSegment = token.slice(dot1 + 1, dot2)
  if (!isCanonicalBase64url(payloadSegment)) throw new JwtMalformed('payload is not canonical base64url')
  const signature = decodeBase64url(token.slice(dot2 + 1), 'signature')
  if (signature.length !== internals.signatureBytes) throw new JwsSignatureInvalid('signature has the wrong length')
  if (!checkSignature(token.slice(0, dot2), signature, internals)) throw new JwsSignatureInvalid()
  return { header, payloadSegment, key }
}

function resolveKey(keys: VerificationKeys, header: JwsHeader): JwsKey {
  if (KEY_INTERNALS in keys) return keys
  if (typeof keys.resolveVerifyKey !== 'function') throw new KeyInvalid('verification needs a JwsKey or a KeyResolver')
  // A resolver that finds nothing must not turn into "no key, no check" (CVE-2022-23540,
  // GHSA-gmvf-9v4p-v8jc): anything but a key made by importKey is a failure.
  const key: unknown = keys.resolveVerifyKey(header)
  if (typeof key !== 'object' || key === null || !(KEY_INTERNALS in key)) throw new JwksNoMatchingKey(header.kid)
  return key as JwsKey
}

/**
 * @internal The signature check alone, for the primitive test vectors. `signature` must already
 * have `internals.signatureBytes` bytes (the caller checks); `signingInput` is read as latin1,
 * one byte per character (a real signing input is ASCII, so this changes nothing for tokens).
 */
export function checkSignature(signingInput: string, signature: Buffer, internals: KeyInternals): boolean {
  const spec = internals.spec
  if (spec.family === 'hmac') {
    const expected = createHmac(spec.hash!, internals.verifyWith as Parameters<typeof createHmac>[1]).update(signingInput, 'latin1').digest()
    return timingSafeEqual(expected, signature)
  }
  if (internals.order !== undefined && !isValidEcdsaScalarPair(signature, internals.order)) return false
  return verify(spec.hash ?? null, Buffer.from(signingInput, 'latin1'), internals.verifyWith, signature)
}

// ECDSA: r and s must each be in [1, n-1] (RFC 7518 §3.4; CVE-2022-21449 accepted r = s = 0).
function isValidEcdsaScalarPair(signature: Buffer, order: Buffer): boolean {
  const half = order.length
  const r = signature.subarray(0, half)
  const s = signature.subarray(half)
  return !isZero(r) && !isZero(s) && Buffer.compare(r, order) < 0 && Buffer.compare(s, order) < 0
}

function isZero(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0) return false
  return true
}
