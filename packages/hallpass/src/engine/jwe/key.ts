// The options stage of JWE: turns key material and options into a fixed policy (which `alg`
// and `enc` values this key accepts) and the key form jose takes. Every check on the key and
// on the algorithm lists happens here, before any token is looked at, so the header only ever
// confirms an algorithm the caller pinned; it never chooses one (RFC 8725 §3.1).
import { createPublicKey, createSecretKey, createPrivateKey, KeyObject, type JsonWebKey } from 'node:crypto'
import { ConfigInvalid, KeyInvalid } from '../../errors.ts'
import { isCanonicalBase64url } from '../../internal/base64url.ts'
import { checkKnownKeys, checkPositiveInteger } from '../../internal/options.ts'
import { KEY_INTERNALS } from '../internal/key-internals.ts'
import { findRsaWeakness } from '../jwk/rsa-weak-keys.ts'
import type { Jwk } from '../jwk/types.ts'
import {
  DEFAULT_JWE_ENCRYPTION,
  isJweAlgorithm,
  isJweEncryption,
  JWE_ALGORITHM_SPECS,
  JWE_ENCRYPTION_KEY_BYTES,
  JWE_ENCRYPTIONS,
  refusalOf,
  type JweAlgorithm,
  type JweEncryption,
} from './algorithms.ts'
import { DEFAULT_MAX_JWE_BYTES, type DecryptJwtOptions, type EncryptJwtOptions } from './types.ts'

/** The curve of an ECDH-ES key, which the token's `epk` must be on. */
export type EcdhCurve = 'P-256' | 'P-384' | 'P-521' | 'X25519'

/** What decryption accepts, fixed before the token is read. */
export interface DecryptionPolicy {
  readonly algorithms: readonly JweAlgorithm[]
  readonly encryptions: readonly JweEncryption[]
  /** The key as jose takes it: bytes for symmetric algorithms, a private KeyObject otherwise. */
  readonly key: KeyObject | Uint8Array
  /** ECDH-ES keys only. */
  readonly curve: EcdhCurve | undefined
  readonly maxTokenBytes: number
}

export interface EncryptionPlan {
  readonly alg: JweAlgorithm
  readonly enc: JweEncryption
  /** Bytes for symmetric algorithms, a public KeyObject otherwise. */
  readonly key: KeyObject | Uint8Array
  readonly kid: string | undefined
  readonly maxTokenBytes: number
}

type Direction = 'encrypt' | 'decrypt'

interface Material {
  readonly keyObject: KeyObject
  /** The JWK's `alg`, when the material was a JWK that has one. */
  readonly jwkAlg: string | undefined
  readonly jwkKid: string | undefined
}

const NODE_CURVES: Readonly<Record<string, EcdhCurve>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const
// RFC 7517 §4.3: the operations that make sense for each direction of JWE.
const KEY_OPS: Readonly<Record<Direction, readonly string[]>> = {
  encrypt: ['encrypt', 'wrapKey', 'deriveKey', 'deriveBits'],
  decrypt: ['decrypt', 'unwrapKey', 'deriveKey', 'deriveBits'],
}
const MAX_KID_LENGTH = 256
const DECRYPT_OPTION_NAMES = ['algorithms', 'encryptions', 'maxTokenBytes'] as const
const ENCRYPT_OPTION_NAMES = ['alg', 'enc', 'kid', 'maxTokenBytes'] as const

// Caches keyed by the caller's own objects, so that a key used for every request is imported
// and checked once, and jose's per-KeyObject cache of the imported CryptoKey keeps hitting:
// - a JWK → its KeyObject, with a snapshot of the JWK so a JWK changed in place is re-read;
// - a KeyObject → the checks it passed (KeyObjects are immutable);
// - a private KeyObject → its public half, for encryption.
const importedJwks = new WeakMap<object, { readonly snapshot: string; readonly material: Material }>()
const passedChecks = new WeakMap<KeyObject, Map<string, EcdhCurve | undefined>>()
const publicHalves = new WeakMap<KeyObject, KeyObject>()

/** Checks decryption options and key material together; throws a config error when they do not fit. */
export function prepareDecryption(material: unknown, options: DecryptJwtOptions): DecryptionPolicy {
  checkKnownKeys(options, DECRYPT_OPTION_NAMES)
  const { keyObject, jwkAlg } = readMaterial(material, 'decrypt')
  const pinnedAlgorithms = checkList(options.algorithms, 'algorithms', isJweAlgorithm)
  const pinnedEncryptions = checkList(options.encryptions, 'encryptions', isJweEncryption)
  const bound = bindingOf(jwkAlg)

  let algorithms: readonly JweAlgorithm[]
  if (pinnedAlgorithms !== undefined) {
    if (bound !== undefined && pinnedAlgorithms.some((alg) => alg !== bound.alg)) {
      throw new KeyInvalid(`the JWK is for "${bound.alg}" only`)
    }
    algorithms = pinnedAlgorithms
  } else if (bound !== undefined) {
    algorithms = [bound.alg]
  } else {
    throw new ConfigInvalid('algorithms', 'is required when the key does not name its algorithm (JWK "alg")')
  }
  // A direct key is the content key itself: it must never also wrap other keys.
  if (algorithms.includes('dir') && algorithms.length > 1) {
    throw new ConfigInvalid('algorithms', 'cannot combine "dir" with other algorithms')
  }

  let curve: EcdhCurve | undefined
  for (const alg of algorithms) curve = checkKeyFits(keyObject, alg, 'decrypt')

  let encryptions: readonly JweEncryption[]
  if (algorithms[0] === 'dir') {
    const size = keyObject.symmetricKeySize ?? 0
    let fitting = JWE_ENCRYPTIONS.filter((enc) => JWE_ENCRYPTION_KEY_BYTES[enc] === size)
    if (bound?.enc !== undefined) {
      if (!fitting.includes(bound.enc)) throw new KeyInvalid(directKeyMismatch(bound.enc, size, undefined))
      fitting = [bound.enc]
    }
    if (pinnedEncryptions !== undefined) {
      const misfit = pinnedEncryptions.find((enc) => !fitting.includes(enc))
      if (misfit !== undefined) throw new KeyInvalid(directKeyMismatch(misfit, size, bound?.enc))
    }
    encryptions = pinnedEncryptions ?? fitting
    if (encryptions.length === 0) throw new KeyInvalid(`a "dir" key of ${size} bytes fits no content encryption`)
  } else {
    encryptions = pinnedEncryptions ?? JWE_ENCRYPTIONS
  }

  return Object.freeze({
    algorithms: Object.freeze([...algorithms]),
    encryptions: Object.freeze([...encryptions]),
    key: forJose(keyObject),
    curve,
    maxTokenBytes: checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_JWE_BYTES,
  })
}

/** Checks encryption options and key material together; throws a config error when they do not fit. */
export function prepareEncryption(material: unknown, options: EncryptJwtOptions): EncryptionPlan {
  checkKnownKeys(options, ENCRYPT_OPTION_NAMES)
  const { keyObject, jwkAlg, jwkKid } = readMaterial(material, 'encrypt')
  const bound = bindingOf(jwkAlg)

  if (options.alg !== undefined) {
    const refusal = refusalOf(options.alg)
    if (refusal !== undefined) throw new ConfigInvalid('alg', refusal)
    if (!isJweAlgorithm(options.alg)) throw new ConfigInvalid('alg', 'is not a supported JWE algorithm')
    if (bound !== undefined && bound.alg !== options.alg) throw new KeyInvalid(`the JWK is for "${bound.alg}" only`)
  }
  const alg = options.alg ?? bound?.alg
  if (alg === undefined) throw new ConfigInvalid('alg', 'is required when the key does not name its algorithm (JWK "alg")')

  if (options.enc !== undefined && !isJweEncryption(options.enc)) throw new ConfigInvalid('enc', 'is not a supported JWE content encryption')
  if (bound?.enc !== undefined && options.enc !== undefined && options.enc !== bound.enc) {
    throw new KeyInvalid(`the JWK is a "dir" key for "${bound.enc}" only`)
  }
  checkKeyFits(keyObject, alg, 'encrypt')
  let enc: JweEncryption
  if (alg === 'dir') {
    const size = keyObject.symmetricKeySize ?? 0
    enc = options.enc ?? bound?.enc ?? defaultDirectEncryption(size)
    if (JWE_ENCRYPTION_KEY_BYTES[enc] !== size) throw new KeyInvalid(directKeyMismatch(enc, size, undefined))
  } else {
    enc = options.enc ?? DEFAULT_JWE_ENCRYPTION
  }

  const kid = options.kid ?? jwkKid
  if (kid !== undefined && !isPrintableKid(kid)) throw new ConfigInvalid('kid', `must be 1-${MAX_KID_LENGTH} printable characters`)

  let key: KeyObject | Uint8Array
  if (keyObject.type === 'private') {
    // Encryption needs only the public half; a private key is accepted for convenience.
    let publicKey = publicHalves.get(keyObject)
    if (publicKey === undefined) publicHalves.set(keyObject, (publicKey = createPublicKey(keyObject)))
    key = publicKey
  } else {
    key = forJose(keyObject)
  }
  return Object.freeze({
    alg,
    enc,
    key,
    kid,
    maxTokenBytes: checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_JWE_BYTES,
  })
}

// What a JWK's `alg` binds the key to. RFC 7520 §5.6 (and Wycheproof's copy of it) labels a
// direct key with the content cipher it is for (`"alg": "A128GCM"`): that means `dir` with
// exactly that `enc`.
function bindingOf(jwkAlg: string | undefined): { alg: JweAlgorithm; enc?: JweEncryption } | undefined {
  if (jwkAlg === undefined) return undefined
  if (isJweAlgorithm(jwkAlg)) return { alg: jwkAlg }
  if (isJweEncryption(jwkAlg)) return { alg: 'dir', enc: jwkAlg }
  throw new KeyInvalid(refusalOf(jwkAlg) ?? 'the JWK "alg" is not a JWE algorithm hallpass accepts')
}

function readMaterial(material: unknown, direction: Direction): Material {
  if (material instanceof KeyObject) return { keyObject: material, jwkAlg: undefined, jwkKid: undefined }
  if (material instanceof Uint8Array) {
    if (material.byteLength === 0) throw new KeyInvalid('the key is empty')
    return { keyObject: createSecretKey(Buffer.from(material)), jwkAlg: undefined, jwkKid: undefined }
  }
  if (typeof material !== 'object' || material === null || Array.isArray(material)) {
    throw new KeyInvalid('JWE key material must be a JWK, a KeyObject or bytes')
  }
  // Signing and encryption keys stay apart (RFC 8725 §3.3; docs/security.md A9): a JwsKey never
  // decrypts, and a JWK marked for signatures never encrypts.
  if (KEY_INTERNALS in material) throw new KeyInvalid('a signing key (JwsKey) cannot be used for JWE')
  checkJwkUse(material as Jwk, direction)
  let snapshot: string
  try {
    snapshot = JSON.stringify(material)
  } catch (cause) {
    throw new KeyInvalid('the JWK is not JSON', { cause })
  }
  const cached = importedJwks.get(material)
  if (cached !== undefined && cached.snapshot === snapshot) return cached.material
  const imported = readJwk(material as Jwk)
  importedJwks.set(material, { snapshot, material: imported })
  return imported
}

// `use` and `key_ops` depend on the direction, so they are checked on every call (RFC 7517 §4.2, §4.3).
function checkJwkUse(jwk: Jwk, direction: Direction): void {
  if (jwk.use !== undefined && jwk.use !== 'enc') throw new KeyInvalid('the JWK "use" is not "enc"')
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((op) => typeof op === 'string')) {
      throw new KeyInvalid('the JWK "key_ops" must be an array of strings')
    }
    if (!jwk.key_ops.some((op) => KEY_OPS[direction].includes(op))) throw new KeyInvalid(`the JWK "key_ops" does not allow ${direction}ion`)
  }
}

function readJwk(jwk: Jwk): Material {
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') throw new KeyInvalid('the JWK "alg" must be a string')
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !isPrintableKid(jwk.kid))) {
    throw new KeyInvalid(`the JWK "kid" must be 1-${MAX_KID_LENGTH} printable characters`)
  }
  let keyObject: KeyObject
  try {
    if (jwk.kty === 'oct') {
      if (typeof jwk.k !== 'string' || jwk.k.length === 0 || !isCanonicalBase64url(jwk.k)) {
        throw new KeyInvalid('the JWK "k" is not canonical base64url')
      }
      keyObject = createSecretKey(Buffer.from(jwk.k, 'base64url'))
    } else if (jwk.kty === 'EC' || jwk.kty === 'OKP' || jwk.kty === 'RSA') {
      const input = { key: jwk as JsonWebKey, format: 'jwk' as const }
      keyObject = PRIVATE_JWK_MEMBERS.some((m) => jwk[m] !== undefined) ? createPrivateKey(input) : createPublicKey(input)
    } else {
      throw new KeyInvalid('the JWK "kty" must be "oct", "EC", "OKP" or "RSA"')
    }
  } catch (cause) {
    if (cause instanceof KeyInvalid) throw cause
    throw new KeyInvalid('the JWK could not be imported', { cause })
  }
  return { keyObject, jwkAlg: jwk.alg, jwkKid: jwk.kid }
}

// Returns the ECDH curve for ECDH-ES keys; throws when the key cannot serve `alg`.
function checkKeyFits(keyObject: KeyObject, alg: JweAlgorithm, direction: Direction): EcdhCurve | undefined {
  let passed = passedChecks.get(keyObject)
  const id = `${direction} ${alg}`
  if (passed?.has(id)) return passed.get(id)
  const curve = checkKeyFitsUncached(keyObject, alg, direction)
  if (passed === undefined) passedChecks.set(keyObject, (passed = new Map<string, EcdhCurve | undefined>()))
  passed.set(id, curve)
  return curve
}

function checkKeyFitsUncached(keyObject: KeyObject, alg: JweAlgorithm, direction: Direction): EcdhCurve | undefined {
  const spec = JWE_ALGORITHM_SPECS[alg]
  switch (spec.family) {
    case 'direct':
    case 'aes-kw':
    case 'aes-gcm-kw': {
      if (keyObject.type !== 'secret') throw new KeyInvalid(`${alg} needs a secret key, not an asymmetric one`)
      const size = keyObject.symmetricKeySize ?? 0
      if (spec.keyBytes !== undefined && size !== spec.keyBytes) throw new KeyInvalid(`${alg} needs a key of exactly ${spec.keyBytes} bytes`)
      return undefined
    }
    case 'ecdh-es': {
      const type = keyObject.asymmetricKeyType
      const curve = type === 'x25519' ? 'X25519' : type === 'ec' ? NODE_CURVES[keyObject.asymmetricKeyDetails?.namedCurve ?? ''] : undefined
      if (curve === undefined) throw new KeyInvalid(`${alg} needs an EC key on P-256, P-384 or P-521, or an X25519 key`)
      checkPrivateForDecryption(keyObject, alg, direction)
      return curve
    }
    case 'rsa-oaep': {
      // Only plain RSA keys: an RSA-PSS key is a signing key.
      if (keyObject.asymmetricKeyType !== 'rsa') throw new KeyInvalid(`${alg} needs an RSA key`)
      checkPrivateForDecryption(keyObject, alg, direction)
      const publicKey = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject
      const jwk = publicKey.export({ format: 'jwk' })
      const weakness = findRsaWeakness(Buffer.from(jwk.n ?? '', 'base64url'), Buffer.from(jwk.e ?? '', 'base64url'))
      if (weakness !== undefined) throw new KeyInvalid(weakness)
      return undefined
    }
  }
}

function checkPrivateForDecryption(keyObject: KeyObject, alg: JweAlgorithm, direction: Direction): void {
  if (direction === 'decrypt' && keyObject.type !== 'private') throw new KeyInvalid(`${alg} decryption needs the private key`)
}

function forJose(keyObject: KeyObject): KeyObject | Uint8Array {
  return keyObject.type === 'secret' ? new Uint8Array(keyObject.export()) : keyObject
}

function checkList<T extends string>(value: unknown, path: string, isMember: (v: unknown) => v is T): readonly T[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length === 0) throw new ConfigInvalid(path, 'must be a non-empty array')
  for (const item of value) {
    const refusal = refusalOf(item)
    if (refusal !== undefined) throw new ConfigInvalid(path, refusal)
    if (!isMember(item)) throw new ConfigInvalid(path, 'names an algorithm hallpass does not support')
  }
  return value as T[]
}

function defaultDirectEncryption(size: number): JweEncryption {
  switch (size) {
    case 16: return 'A128GCM'
    case 24: return 'A192GCM'
    case 32: return 'A256GCM'
    case 48: return 'A192CBC-HS384'
    case 64: return 'A256CBC-HS512'
    default: throw new KeyInvalid(`a "dir" key of ${size} bytes fits no content encryption`)
  }
}

function directKeyMismatch(enc: JweEncryption, size: number, boundEnc: JweEncryption | undefined): string {
  return boundEnc !== undefined
    ? `the JWK is a "dir" key for "${boundEnc}" only`
    : `"dir" with ${enc} needs a key of exactly ${JWE_ENCRYPTION_KEY_BYTES[enc]} bytes, not ${size}`
}

function isPrintableKid(kid: string): boolean {
  if (kid.length === 0 || kid.length > MAX_KID_LENGTH) return false
  for (let i = 0; i < kid.length; i++) {
    const c = kid.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return false
  }
  return true
}
