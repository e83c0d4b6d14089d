/**
 * @module hallpass
 *
 * Encrypted access tokens: nested JWTs (RFC 7519 §11.2, sign then encrypt) in one narrow
 * profile, on node:crypto and synchronous, so that a verifier's `verify()` stays synchronous
 * and an encrypted token costs little more than a plain one. The profile is `A256GCM` content
 * encryption (RFC 7518 §5.3) under one of two key models:
 *
 * - `dir` (§4.5): a 32-byte key shared by the issuer and the services it trusts;
 * - `ECDH-ES+A256KW` (§4.6) to one recipient's P-256, P-384, P-521 or X25519 key, so that only
 *   that service can read its tokens.
 *
 * Every other JWE algorithm stays with `encryptJwt`/`decryptJwt` (jose, asynchronous). The JWE
 * layer only hides the claims: what it returns is a signed JWT still to be verified (docs/security.md A9).
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, KeyObject, randomBytes, type ECDH } from 'node:crypto'
import { ConfigInvalid, JweDecryptionFailed, JweInvalid, JwtTooLarge, KeyInvalid } from '../../errors.ts'
import { decodeBase64url, encodeBase64url, isCanonicalBase64url } from '../../internal/base64url.ts'
import { checkKnownKeys, checkPositiveInteger } from '../../internal/options.ts'
import { checkCompactJwe } from './header.ts'
import { prepareDecryption, prepareEncryption, type DecryptionPolicy, type EcdhCurve } from './key.ts'
import { readNestedJws } from './nested-jws.ts'
import type { JweEncryption } from './algorithms.ts'
import { DEFAULT_MAX_JWE_BYTES, type JweKeyMaterial } from './types.ts'

/** The key-management algorithms of encrypted access tokens. */
export type JwtEncryptionAlgorithm = 'dir' | 'ECDH-ES+A256KW'

/** Every algorithm of the profile, in a stable order. */
export const JWT_ENCRYPTION_ALGORITHMS: readonly JwtEncryptionAlgorithm[] = Object.freeze(['dir', 'ECDH-ES+A256KW'])

/** The content encryption of the profile. */
export const JWT_CONTENT_ENCRYPTION: JweEncryption = 'A256GCM'

const CEK_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
// RFC 3394 §2.2.3.1: the default initial value of AES key wrap.
const KEY_WRAP_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex')
// A wrapped 32-byte key is 40 bytes (RFC 3394 §2.2.1: one 64-bit block more).
const WRAPPED_CEK_BYTES = CEK_BYTES + 8
// `apu`/`apv` are short identifiers (RFC 7518 §4.6.1.2-3); more is a token trying to cost us.
const MAX_PARTY_INFO_CHARS = 512
const NODE_CURVE_NAMES: Readonly<Record<EcdhCurve, string | undefined>> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', X25519: undefined }
// Bytes of a coordinate of each NIST curve (SEC 1 §2.3.5).
const COORDINATE_BYTES: Readonly<Record<EcdhCurve, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66, X25519: 32 }
const ISSUER_KEY_LABEL = 'hallpass access-token content key v1\0'

export interface JwtEncrypterOptions {
  /** `kid` header naming the recipient's key (default: the JWK's `kid`). Required to rotate keys. */
  kid?: string
  /**
   * ECDH-ES+A256KW only: a secret of at least 32 bytes from which each token's content key is
   * derived (HMAC-SHA-256 over its protected header and IV) instead of drawn at random, so that
   * the issuer holding it can read the tokens it encrypted to others (`createJwtDecrypter({
   * issuerKey })`). Content keys stay unique per token and unpredictable without the secret.
   */
  issuerKey?: Uint8Array
  /** Refuse to produce a longer JWE (default `DEFAULT_MAX_JWE_BYTES`). */
  maxTokenBytes?: number
}

/** Encrypts one signed compact JWT; synchronous. */
export type JwtEncrypter = (signedJwt: string) => string

export interface JwtDecrypterOptions {
  /**
   * The private keys that may open a token: 32-byte `dir` keys (an `oct` JWK, a secret
   * KeyObject or bytes) and ECDH-ES+A256KW private keys. A token naming a `kid` is opened only
   * by the key with that `kid`; one without is tried against each key of its algorithm.
   */
  keys?: JweKeyMaterial | readonly JweKeyMaterial[]
  /** The issuer's own secret (see `JwtEncrypterOptions.issuerKey`), for ECDH-ES+A256KW tokens it made. */
  issuerKey?: Uint8Array
  /** Reject longer input before decoding anything (default `DEFAULT_MAX_JWE_BYTES`). */
  maxTokenBytes?: number
}

/** Decrypts one encrypted access token and returns the signed JWT inside, still to be verified. */
export type JwtDecrypter = (jwe: string) => string

interface RecipientKey {
  readonly alg: JwtEncryptionAlgorithm
  readonly kid: string | undefined
  /** `dir`: the content key. */
  readonly secret: Buffer | undefined
  /** ECDH-ES: the private key and its curve. */
  readonly privateKey: KeyObject | undefined
  readonly curve: EcdhCurve | undefined
  /**
   * NIST curves: the key as an `ECDH` object, which takes the sender's point as raw bytes. A
   * JWK import of every token's point would cost about as much as the key agreement itself.
   */
  readonly ecdh: ECDH | undefined
}

/**
 * Builds the encrypter of one recipient key: a 32-byte `dir` key, or the recipient's
 * ECDH-ES+A256KW public key (a public JWK is enough). Throws `ERR_KEY_INVALID` or
 * `ERR_CONFIG_INVALID` now, so that a bad key fails at start and not at the first token.
 *
 * @example
 * import { createJwtEncrypter, generateEncryptionKey, generateKey, signJwt } from 'hallpass'
 * const encrypt = createJwtEncrypter(generateEncryptionKey('dir', 'A256GCM', { kid: 'k1' }))
 * const now = Math.floor(Date.now() / 1000)
 * const jwe = encrypt(signJwt({ sub: 'user-1', iat: now, exp: now + 600 }, generateKey('ES256')))
 */
export function createJwtEncrypter(key: JweKeyMaterial, options: JwtEncrypterOptions = {}): JwtEncrypter {
  checkKnownKeys(options, ['kid', 'issuerKey', 'maxTokenBytes'])
  const alg = profileAlgorithmOf(key)
  const plan = prepareEncryption(key, { alg, enc: JWT_CONTENT_ENCRYPTION, ...(options.kid !== undefined ? { kid: options.kid } : {}) })
  const maxTokenBytes = checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_JWE_BYTES
  const issuerKey = checkIssuerKey(options.issuerKey)
  if (issuerKey !== undefined && alg === 'dir') throw new ConfigInvalid('issuerKey', 'applies to ECDH-ES+A256KW: a "dir" key is the content key itself')
  const kidMember = plan.kid === undefined ? '' : `,"kid":${JSON.stringify(plan.kid)}`

  if (alg === 'dir') {
    const contentKey = Buffer.from(plan.key as Uint8Array)
    const header = encodeBase64url(`{"alg":"dir","enc":"A256GCM","cty":"JWT"${kidMember}}`)
    return (signedJwt) => {
      const plaintext = signedPlaintext(signedJwt)
      return finish(seal(header, '', contentKey, randomBytes(IV_BYTES), plaintext), maxTokenBytes)
    }
  }

  const recipient = plan.key as KeyObject
  const curve = curveOf(recipient)!
  const recipientPoint = curve === 'X25519' ? undefined : rawPoint(recipient)
  return (signedJwt) => {
    const plaintext = signedPlaintext(signedJwt)
    let epk: Record<string, string>
    let sharedSecret: Buffer
    if (recipientPoint === undefined) {
      const ephemeral = generateKeyPairSync('x25519')
      epk = { kty: 'OKP', crv: curve, x: ephemeral.publicKey.export({ format: 'jwk' }).x! }
      sharedSecret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient })
    } else {
      const ephemeral = createECDH(NODE_CURVE_NAMES[curve]!)
      const point = ephemeral.generateKeys()
      const size = COORDINATE_BYTES[curve]
      epk = { kty: 'EC', crv: curve, x: encodeBase64url(point.subarray(1, 1 + size)), y: encodeBase64url(point.subarray(1 + size)) }
      sharedSecret = ephemeral.computeSecret(recipientPoint)
    }
    const header = encodeBase64url(`{"alg":"ECDH-ES+A256KW","enc":"A256GCM","cty":"JWT"${kidMember},"epk":${JSON.stringify(epk)}}`)
    const iv = randomBytes(IV_BYTES)
    const contentKey = issuerKey === undefined ? randomBytes(CEK_BYTES) : issuerContentKey(issuerKey, header, iv)
    const kek = concatKdf(sharedSecret, 'ECDH-ES+A256KW', Buffer.alloc(0), Buffer.alloc(0))
    const wrapper = createCipheriv('id-aes256-wrap', kek, KEY_WRAP_IV)
    const wrapped = Buffer.concat([wrapper.update(contentKey), wrapper.final()])
    return finish(seal(header, encodeBase64url(wrapped), contentKey, iv, plaintext), maxTokenBytes)
  }
}

/**
 * Builds the decrypter of encrypted access tokens. It checks the serialization and header
 * first (compact only, `alg` of the profile and of a held key, `enc` A256GCM, `cty` JWT, no
 * `zip`/`jku`/`jwk`/`x5u`/`x5c`/`crit`, the sender's `epk` on the key's curve, every segment
 * its exact length), then opens the token and returns the signed JWT inside, still to be
 * verified. Throws `ERR_JWT_TOO_LARGE`, `ERR_JWE_INVALID` (with a `reason`) for a malformed or
 * refused token or a payload that is not a signed JWT, and `ERR_JWE_DECRYPTION_FAILED` for
 * every way the keys fail to open it (unknown `kid`, wrong key, invalid curve point, tampering).
 *
 * @example
 * import { createJwtDecrypter, createJwtVerifier } from 'hallpass'
 * const decrypt = createJwtDecrypter({ keys: [currentKey, previousKey] })
 * const verify = createJwtVerifier({ keys: signingPublicKey, issuer: 'https://auth.example.com' })
 * const { claims } = verify(decrypt(jwe))
 */
export function createJwtDecrypter(options: JwtDecrypterOptions): JwtDecrypter {
  checkKnownKeys(options, ['keys', 'issuerKey', 'maxTokenBytes'])
  const list = options.keys === undefined ? [] : Array.isArray(options.keys) ? options.keys : [options.keys as JweKeyMaterial]
  const keys = (list as readonly JweKeyMaterial[]).map((material, index) => readRecipientKey(material, `keys[${index}]`))
  const issuerKey = checkIssuerKey(options.issuerKey)
  if (keys.length === 0 && issuerKey === undefined) throw new ConfigInvalid('keys', 'must hold at least one key (or give issuerKey)')
  const kids = keys.map((key) => key.kid).filter((kid) => kid !== undefined)
  if (new Set(kids).size !== kids.length) throw new ConfigInvalid('keys', 'has two keys with the same "kid"')
  const algorithms = [...new Set([...keys.map((key) => key.alg), ...(issuerKey !== undefined ? ['ECDH-ES+A256KW' as const] : [])])]
  const policy: DecryptionPolicy = Object.freeze({
    algorithms,
    encryptions: [JWT_CONTENT_ENCRYPTION],
    key: new Uint8Array(0),
    // The `epk` is checked against the chosen key's curve below.
    curve: undefined,
    maxTokenBytes: checkPositiveInteger(options.maxTokenBytes, 'maxTokenBytes') ?? DEFAULT_MAX_JWE_BYTES,
  })

  return (jwe) => {
    const header = checkCompactJwe(jwe, policy, 'jwt')
    const [protectedHeader, encryptedKey, ivText, ciphertextText, tagText] = (jwe).split('.') as [string, string, string, string, string]
    const iv = Buffer.from(ivText, 'base64url')
    const ciphertext = Buffer.from(ciphertextText, 'base64url')
    const tag = Buffer.from(tagText, 'base64url')
    let wrapped: Buffer | undefined
    let partyInfo: readonly [Buffer, Buffer] | undefined
    if (header.alg === 'ECDH-ES+A256KW') {
      if (typeof header.epk !== 'object' || header.epk === null || Array.isArray(header.epk)) throw new JweInvalid('header "epk" is missing or not an object')
      wrapped = Buffer.from(encryptedKey, 'base64url')
      if (wrapped.length !== WRAPPED_CEK_BYTES) throw new JweInvalid('the encrypted key has the wrong length')
      partyInfo = [readPartyInfo(header.apu, 'apu'), readPartyInfo(header.apv, 'apv')]
    }
    // The `epk` must be on the key's curve (RFC 7518 §4.6.1.1): keys of other curves never see it.
    const epkCurve = (header.epk as { crv?: unknown } | undefined)?.crv
    const candidates = keys.filter((key) =>
      key.alg === header.alg && (header.kid === undefined || key.kid === header.kid) && (key.alg === 'dir' || key.curve === epkCurve))
    for (const key of candidates) {
      const contentKey = key.alg === 'dir' ? key.secret : unwrapContentKey(key, header.epk, wrapped!, partyInfo!)
      if (contentKey === undefined) continue
      const plaintext = open(protectedHeader, contentKey, iv, ciphertext, tag)
      if (plaintext !== undefined) return readNestedJws(plaintext)
    }
    if (issuerKey !== undefined && header.alg === 'ECDH-ES+A256KW') {
      const plaintext = open(protectedHeader, issuerContentKey(issuerKey, protectedHeader, iv), iv, ciphertext, tag)
      if (plaintext !== undefined) return readNestedJws(plaintext)
    }
    // One error for an unknown kid, a wrong key and tampering alike (docs/security.md B5/B6).
    throw new JweDecryptionFailed()
  }
}

/** True when `token` has the shape of a compact JWE (five segments), not of a JWS (three). */
export function isCompactJwe(token: unknown): boolean {
  if (typeof token !== 'string') return false
  let dots = 0
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) {
    if (++dots > 4) return false
  }
  return dots === 4
}

// Which algorithm of the profile a key is for: its JWK `alg` when it names one, else its type.
function profileAlgorithmOf(material: unknown): JwtEncryptionAlgorithm {
  const jwkAlg = typeof material === 'object' && material !== null && !(material instanceof KeyObject) && !(material instanceof Uint8Array)
    ? (material as { alg?: unknown }).alg
    : undefined
  if (jwkAlg === 'dir' || jwkAlg === JWT_CONTENT_ENCRYPTION) return 'dir'
  if (jwkAlg === 'ECDH-ES+A256KW') return 'ECDH-ES+A256KW'
  if (jwkAlg !== undefined) throw new KeyInvalid('an access-token encryption key is for "dir" (A256GCM) or "ECDH-ES+A256KW"')
  if (material instanceof Uint8Array) return 'dir'
  if (material instanceof KeyObject) return material.type === 'secret' ? 'dir' : 'ECDH-ES+A256KW'
  return (material as { kty?: unknown }).kty === 'oct' ? 'dir' : 'ECDH-ES+A256KW'
}

function readRecipientKey(material: JweKeyMaterial, path: string): RecipientKey {
  let alg: JwtEncryptionAlgorithm
  let policy: DecryptionPolicy
  try {
    alg = profileAlgorithmOf(material)
    // The engine's key checks: type, size, curve, private half, `use`, `key_ops`.
    policy = prepareDecryption(material, { algorithms: [alg], encryptions: [JWT_CONTENT_ENCRYPTION] })
  } catch (error) {
    if (error instanceof KeyInvalid) throw new KeyInvalid(`${path}: ${error.reason}`)
    throw error
  }
  const jwkKid = material instanceof KeyObject || material instanceof Uint8Array ? undefined : (material as { kid?: string }).kid
  return Object.freeze({
    alg,
    kid: jwkKid,
    secret: alg === 'dir' ? Buffer.from(policy.key as Uint8Array) : undefined,
    privateKey: alg === 'dir' ? undefined : (policy.key as KeyObject),
    curve: policy.curve,
    ecdh: alg === 'dir' || policy.curve === 'X25519' ? undefined : ecdhOf(policy.key as KeyObject, policy.curve!),
  })
}

function checkIssuerKey(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined
  if (!(value instanceof Uint8Array) || value.byteLength < 32) throw new ConfigInvalid('issuerKey', 'must be at least 32 bytes')
  return Buffer.from(value)
}

function curveOf(key: KeyObject): EcdhCurve | undefined {
  if (key.asymmetricKeyType === 'x25519') return 'X25519'
  const named = key.asymmetricKeyDetails?.namedCurve
  return (Object.keys(NODE_CURVE_NAMES) as EcdhCurve[]).find((curve) => NODE_CURVE_NAMES[curve] === named)
}

function signedPlaintext(signedJwt: unknown): Buffer {
  if (typeof signedJwt !== 'string') throw new ConfigInvalid('signedJwt', 'must be a signed compact JWT (sign first, then encrypt)')
  const plaintext = Buffer.from(signedJwt, 'utf8')
  // Checked the way the recipient will check it: hallpass never encrypts anything but a JWS.
  readNestedJws(plaintext, () => new ConfigInvalid('signedJwt', 'must be a signed compact JWT (sign first, then encrypt)'))
  return plaintext
}

// AES-256-GCM with the ASCII protected header as additional data (RFC 7516 §5.1 steps 14-15).
function seal(header: string, encryptedKey: string, contentKey: Buffer, iv: Buffer, plaintext: Buffer): string {
  const cipher = createCipheriv('aes-256-gcm', contentKey, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(header, 'ascii'))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return `${header}.${encryptedKey}.${encodeBase64url(iv)}.${encodeBase64url(ciphertext)}.${encodeBase64url(cipher.getAuthTag())}`
}

function finish(jwe: string, maxTokenBytes: number): string {
  if (jwe.length > maxTokenBytes) throw new JwtTooLarge(maxTokenBytes)
  return jwe
}

// Undefined when the tag does not verify: the caller may try another key.
function open(header: string, contentKey: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | undefined {
  const decipher = createDecipheriv('aes-256-gcm', contentKey, iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(Buffer.from(header, 'ascii'))
  decipher.setAuthTag(tag)
  const plaintext = decipher.update(ciphertext)
  try {
    decipher.final()
  } catch {
    return undefined
  }
  return plaintext
}

// ECDH-ES key agreement, Concat KDF and AES key unwrap (RFC 7518 §4.6, §4.4). Undefined when
// the sender's key is not a valid point of the curve or the unwrap fails: the same outcome as
// a wrong key, so an invalid-curve probe learns nothing (docs/security.md B5).
function unwrapContentKey(key: RecipientKey, epk: unknown, wrapped: Buffer, [apu, apv]: readonly [Buffer, Buffer]): Buffer | undefined {
  const members = ephemeralMembers(epk, key.curve!)
  let kek: Buffer
  try {
    // A NIST point off the curve is refused by `computeSecret` (SEC 1 §3.2.2.1 validation);
    // an X25519 point by the import, and an all-zero X25519 secret (small order) by OpenSSL.
    const sharedSecret = key.ecdh !== undefined
      ? key.ecdh.computeSecret(Buffer.concat([UNCOMPRESSED, members.x, members.y!]))
      : diffieHellman({ privateKey: key.privateKey!, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: members.x.toString('base64url') }, format: 'jwk' }) })
    kek = concatKdf(sharedSecret, 'ECDH-ES+A256KW', apu, apv)
  } catch {
    return undefined
  }
  try {
    const unwrapper = createDecipheriv('id-aes256-wrap', kek, KEY_WRAP_IV)
    const contentKey = Buffer.concat([unwrapper.update(wrapped), unwrapper.final()])
    return contentKey.length === CEK_BYTES ? contentKey : undefined
  } catch {
    return undefined
  }
}

const UNCOMPRESSED = Buffer.from([0x04])

// The coordinates of the header's `epk`: exactly the public members of its key type, each of
// the curve's exact size; whatever else it carries is never read.
function ephemeralMembers(epk: unknown, curve: EcdhCurve): { x: Buffer; y: Buffer | undefined } {
  const jwk = epk as Record<string, unknown>
  const kty = curve === 'X25519' ? 'OKP' : 'EC'
  if (typeof epk !== 'object' || epk === null || Array.isArray(epk) || jwk.kty !== kty || jwk.crv !== curve || jwk.d !== undefined) {
    throw new JweInvalid('header "epk" is not a public key on the curve of the key')
  }
  const coordinate = (member: string): Buffer => {
    const value = jwk[member]
    if (typeof value !== 'string' || !isCanonicalBase64url(value) || (value.length * 3) >> 2 !== COORDINATE_BYTES[curve]) {
      throw new JweInvalid(`header "epk" member "${member}" is not a canonical base64url coordinate of ${curve}`)
    }
    return Buffer.from(value, 'base64url')
  }
  return { x: coordinate('x'), y: kty === 'EC' ? coordinate('y') : undefined }
}

function ecdhOf(privateKey: KeyObject, curve: EcdhCurve): ECDH {
  const ecdh = createECDH(NODE_CURVE_NAMES[curve]!)
  ecdh.setPrivateKey(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'))
  return ecdh
}

// A NIST public key as an uncompressed point (SEC 1 §2.3.3).
function rawPoint(publicKey: KeyObject): Buffer {
  const { x, y } = publicKey.export({ format: 'jwk' })
  return Buffer.concat([UNCOMPRESSED, Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')])
}

function readPartyInfo(value: unknown, name: string): Buffer {
  if (value === undefined) return Buffer.alloc(0)
  if (typeof value !== 'string' || value.length > MAX_PARTY_INFO_CHARS) throw new JweInvalid(`header "${name}" must be a short base64url string`)
  try {
    return decodeBase64url(value, `header "${name}"`)
  } catch {
    throw new JweInvalid(`header "${name}" is not canonical base64url`)
  }
}

// NIST SP 800-56A Concat KDF as RFC 7518 §4.6.2 profiles it, for one SHA-256 block: the
// 256-bit key of A256KW. OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo,
// each datum prefixed with its 32-bit big-endian length.
function concatKdf(sharedSecret: Buffer, algorithmId: string, apu: Buffer, apv: Buffer): Buffer {
  const lengthPrefixed = (data: Buffer): Buffer => Buffer.concat([uint32(data.length), data])
  return createHash('sha256')
    .update(uint32(1))
    .update(sharedSecret)
    .update(lengthPrefixed(Buffer.from(algorithmId, 'ascii')))
    .update(lengthPrefixed(apu))
    .update(lengthPrefixed(apv))
    .update(uint32(CEK_BYTES * 8))
    .digest()
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(value)
  return bytes
}

function issuerContentKey(issuerKey: Buffer, protectedHeader: string, iv: Buffer): Buffer {
  return createHmac('sha256', issuerKey).update(ISSUER_KEY_LABEL).update(protectedHeader).update('.').update(iv).digest()
}
