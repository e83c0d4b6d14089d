/**
 * @module hallpass
 *
 * Compact JWS signing (RFC 7515 §5.1). The protected header is `{alg, kid, typ}`, encoded once
 * per key and type and reused.
 */
import { createHmac, sign } from 'node:crypto'
import { KeyInvalid } from '../../errors.ts'
import { encodeBase64url } from '../../internal/base64url.ts'
import { KEY_INTERNALS } from '../internal/key-internals.ts'
import type { JwsKey } from '../jwk/types.ts'

const encodedHeaders = new WeakMap<JwsKey, Map<string, string>>()

/** The base64url protected header for this key and `typ` (`''` for none). */
export function encodeProtectedHeader(key: JwsKey, typ: string): string {
  let byTyp = encodedHeaders.get(key)
  if (byTyp === undefined) encodedHeaders.set(key, (byTyp = new Map<string, string>()))
  let encoded = byTyp.get(typ)
  if (encoded === undefined) {
    const header = typ === '' ? { alg: key.alg, kid: key.kid } : { alg: key.alg, kid: key.kid, typ }
    byTyp.set(typ, (encoded = encodeBase64url(JSON.stringify(header))))
  }
  return encoded
}

/**
 * Signs `payload` as a compact JWS with a private or secret key.
 *
 * @example
 * import { generateKey, signJws } from 'hallpass'
 * const jws = signJws(Buffer.from('hello'), generateKey('EdDSA'))
 */
export function signJws(payload: Uint8Array | string, key: JwsKey, options: { typ?: string } = {}): string {
  return signEncodedPayload(encodeBase64url(payload), key, options.typ ?? '')
}

/** @internal Signs an already-encoded payload segment: the hot path of `signJwt`. */
export function signEncodedPayload(payloadSegment: string, key: JwsKey, typ: string): string {
  const internals = key[KEY_INTERNALS]
  if (internals === undefined || internals.signWith === undefined) throw new KeyInvalid('a private or secret key is needed to sign')
  const signingInput = encodeProtectedHeader(key, typ) + '.' + payloadSegment
  const spec = internals.spec
  const signature =
    spec.family === 'hmac'
      ? createHmac(spec.hash!, internals.signWith as Parameters<typeof createHmac>[1]).update(signingInput).digest('base64url')
      : sign(spec.hash ?? null, Buffer.from(signingInput, 'latin1'), internals.signWith).toString('base64url')
  return signingInput + '.' + signature
}
