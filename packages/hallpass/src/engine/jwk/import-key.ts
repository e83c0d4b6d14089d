/**
 * @module hallpass
 *
 * Turns key material (JWK, PEM, KeyObject, or HMAC secret bytes) into a `JwsKey` bound to one
 * algorithm. Every check on the key happens here, once, so the hot path never re-checks.
 */
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  KeyObject,
  constants,
  type JsonWebKey,
} from 'node:crypto'
import { KeyInvalid } from '../../errors.ts'
import { ALGORITHMS, isJwsAlgorithm, type AlgorithmSpec, type JwsAlgorithm } from '../algorithms.ts'
import { KEY_INTERNALS, type KeyInternals } from '../internal/key-internals.ts'
import { findRsaWeakness } from './rsa-weak-keys.ts'
import { computeJwkThumbprint } from './thumbprint.ts'
import type { Jwk, JwsKey } from './types.ts'

export interface ImportKeyOptions {
  /** The one algorithm this key will be used with. Required unless a JWK carries `alg`. */
  alg?: JwsAlgorithm
  /** Key id; defaults to the JWK's `kid`, else its RFC 7638 thumbprint. */
  kid?: string
  /** Refuse private or secret material: for keys that must only verify (a fetched JWKS). */
  publicOnly?: boolean
}

/** Material `importKey` accepts. HMAC secrets are bytes or an `oct` JWK, never a string. */
export type KeyMaterial = Jwk | string | KeyObject | Uint8Array

const CURVE_OF_NODE_NAME: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }
const ORDER_HEX: Record<string, string> = {
  'P-256': 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
  'P-384': 'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
  'P-521':
    '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
}
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const MAX_KID_LENGTH = 256

/**
 * Imports key material for one JWS algorithm. Throws `ERR_KEY_INVALID` when the material does
 * not fit the algorithm: wrong key type or curve, HMAC secret shorter than the hash, RSA modulus
 * outside 2048-8192 bits, a JWK whose `alg`, `use` or `key_ops` says otherwise.
 *
 * @example
 * import { importKey } from 'hallpass'
 * const key = importKey(process.env.SIGNING_KEY_PEM!, { alg: 'ES256' })
 */
export function importKey(material: KeyMaterial, options: ImportKeyOptions = {}): JwsKey {
  if (material instanceof KeyObject) return fromKeyObject(material, requireAlg(options.alg), options)
  if (typeof material === 'string') return fromPem(material, requireAlg(options.alg), options)
  if (material instanceof Uint8Array) {
    const alg = requireAlg(options.alg)
    if (ALGORITHMS[alg].family !== 'hmac') throw new KeyInvalid(`raw bytes are only an HMAC secret, not a key for ${alg}`)
    if (material.byteLength === 0) throw new KeyInvalid('HMAC secret is empty')
    return fromKeyObject(createSecretKey(Buffer.from(material)), alg, options)
  }
  if (typeof material === 'object' && material !== null) return fromJwk(material, options)
  throw new KeyInvalid('key material must be a JWK, a PEM string, a KeyObject or bytes')
}

function requireAlg(alg: unknown): JwsAlgorithm {
  if (alg === undefined) throw new KeyInvalid('"alg" is required to import this key')
  if (!isJwsAlgorithm(alg)) throw new KeyInvalid('"alg" is not a supported JWS algorithm')
  return alg
}

function fromPem(pem: string, alg: JwsAlgorithm, options: ImportKeyOptions): JwsKey {
  // A string is never an HMAC secret: that is exactly the confusion of CVE-2015-9235 and
  // CVE-2023-48223, where a PEM public key was used as HMAC key bytes.
  if (ALGORITHMS[alg].family === 'hmac') throw new KeyInvalid('HMAC secrets must be bytes or an "oct" JWK, not a string')
  const text = pem.trim()
  if (!text.startsWith('-----BEGIN ')) throw new KeyInvalid('string key material must be PEM')
  let keyObject: KeyObject
  try {
    keyObject = text.includes('PRIVATE KEY-----') ? createPrivateKey(text) : createPublicKey(text)
  } catch (cause) {
    throw new KeyInvalid('PEM could not be parsed', { cause })
  }
  return fromKeyObject(keyObject, alg, options)
}

function fromJwk(jwk: Jwk, options: ImportKeyOptions): JwsKey {
  if (Array.isArray(jwk)) throw new KeyInvalid('a JWK must be an object')
  if (jwk.alg !== undefined && options.alg !== undefined && jwk.alg !== options.alg) {
    throw new KeyInvalid(`the JWK is for "${String(jwk.alg)}", not ${options.alg}`)
  }
  const alg = requireAlg(options.alg ?? jwk.alg)
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new KeyInvalid('the JWK "use" is not "sig"')
  const isPrivate = PRIVATE_JWK_MEMBERS.some((m) => jwk[m] !== undefined)
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((op) => typeof op === 'string')) {
      throw new KeyInvalid('the JWK "key_ops" must be an array of strings')
    }
    const needed = isPrivate ? ['sign', 'verify'] : ['verify']
    if (!jwk.key_ops.some((op) => needed.includes(op))) throw new KeyInvalid('the JWK "key_ops" does not allow signatures')
  }
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') throw new KeyInvalid('the JWK "kid" must be a string')
  const kind = ALGORITHMS[alg].family
  const expectedKty = kind === 'hmac' ? 'oct' : kind === 'ecdsa' ? 'EC' : kind === 'eddsa' ? 'OKP' : 'RSA'
  if (jwk.kty !== expectedKty) throw new KeyInvalid(`${alg} needs a "${expectedKty}" key`)
  let keyObject: KeyObject
  try {
    if (jwk.kty === 'oct') {
      if (typeof jwk.k !== 'string' || !/^[A-Za-z0-9_-]*$/.test(jwk.k)) throw new KeyInvalid('the JWK "k" is not base64url')
      keyObject = createSecretKey(Buffer.from(jwk.k, 'base64url'))
    } else {
      const input = { key: jwk as JsonWebKey, format: 'jwk' as const }
      keyObject = isPrivate ? createPrivateKey(input) : createPublicKey(input)
    }
  } catch (cause) {
    if (cause instanceof KeyInvalid) throw cause
    throw new KeyInvalid('the JWK could not be imported', { cause })
  }
  return fromKeyObject(keyObject, alg, { ...options, kid: options.kid ?? jwk.kid })
}

function fromKeyObject(keyObject: KeyObject, alg: JwsAlgorithm, options: ImportKeyOptions): JwsKey {
  const spec = ALGORITHMS[alg]
  if (options.publicOnly && keyObject.type !== 'public') throw new KeyInvalid('a public key was expected')
  const publicKey = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject.type === 'public' ? keyObject : undefined
  const signatureBytes = checkKeyFitsAlgorithm(keyObject, publicKey, alg, spec)
  const kid = options.kid ?? computeJwkThumbprint(keyObject.export({ format: 'jwk' }))
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH || hasControlCharacter(kid)) {
    throw new KeyInvalid(`"kid" must be 1-${MAX_KID_LENGTH} printable characters`)
  }
  const internals: KeyInternals = Object.freeze({
    spec,
    signatureBytes,
    verifyWith: spec.family === 'hmac' ? keyObject : withSignatureOptions(publicKey!, spec),
    signWith: spec.family === 'hmac' ? keyObject : keyObject.type === 'private' ? withSignatureOptions(keyObject, spec) : undefined,
    order: spec.curve ? Buffer.from(ORDER_HEX[spec.curve]!.padStart(spec.coordinateBytes! * 2, '0'), 'hex') : undefined,
  })
  return Object.freeze({
    kid,
    alg,
    type: keyObject.type,
    keyObject,
    publicKey,
    [KEY_INTERNALS]: internals,
  })
}

// Returns the exact signature length for this key, or throws when the key cannot serve `alg`.
function checkKeyFitsAlgorithm(keyObject: KeyObject, publicKey: KeyObject | undefined, alg: JwsAlgorithm, spec: AlgorithmSpec): number {
  switch (spec.family) {
    case 'hmac': {
      if (keyObject.type !== 'secret') throw new KeyInvalid(`${alg} needs a secret key, not an asymmetric one`)
      const bytes = keyObject.symmetricKeySize ?? 0
      // RFC 7518 §3.2: a key of the same size as the hash output or larger.
      if (bytes < spec.hashBytes) throw new KeyInvalid(`${alg} secrets must be at least ${spec.hashBytes} bytes`)
      return spec.hashBytes
    }
    case 'rsa':
    case 'rsa-pss': {
      const type = keyObject.asymmetricKeyType
      // An id-RSASSA-PSS key (`rsa-pss`) has no JWK form in node:crypto, so neither the checks
      // below nor the thumbprint could read it, and its own hash/salt restrictions may contradict
      // `alg`: only plain RSA keys are taken (PS* applies its RFC 7518 §3.5 parameters itself).
      if (type === 'rsa-pss') throw new KeyInvalid('RSASSA-PSS-restricted keys are not supported; use a plain RSA key')
      if (type !== 'rsa') throw new KeyInvalid(`${alg} needs an RSA key`)
      const jwk = publicKey!.export({ format: 'jwk' })
      const weakness = findRsaWeakness(Buffer.from(jwk.n ?? '', 'base64url'), Buffer.from(jwk.e ?? '', 'base64url'))
      if (weakness) throw new KeyInvalid(weakness)
      return Math.ceil((keyObject.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
    }
    case 'ecdsa': {
      const curve = keyObject.asymmetricKeyType === 'ec' ? CURVE_OF_NODE_NAME[keyObject.asymmetricKeyDetails?.namedCurve ?? ''] : undefined
      if (curve !== spec.curve) throw new KeyInvalid(`${alg} needs an EC key on ${spec.curve}`)
      return spec.coordinateBytes! * 2
    }
    case 'eddsa': {
      const type = keyObject.asymmetricKeyType
      if (type === 'ed25519') return 64
      if (type === 'ed448') return 114
      throw new KeyInvalid(`${alg} needs an Ed25519 or Ed448 key`)
    }
  }
}

function withSignatureOptions(key: KeyObject, spec: AlgorithmSpec): KeyObject | { key: KeyObject; dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number } {
  switch (spec.family) {
    case 'ecdsa':
      // JWS carries r‖s (IEEE P1363), never DER (RFC 7518 §3.4).
      return { key, dsaEncoding: 'ieee-p1363' }
    case 'rsa-pss':
      // RFC 7518 §3.5: MGF1 with the same hash and a salt as long as the hash output.
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.hashBytes }
    case 'rsa':
      return { key, padding: constants.RSA_PKCS1_PADDING }
    default:
      return key
  }
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}
