// Encrypted access tokens (src/engine/jwe/token-encryption.ts): the one narrow profile, `dir` or
// ECDH-ES+A256KW under A256GCM, synchronous on node:crypto. Round trips on every curve, key
// selection by `kid`, the keys refused at construction, the issuer's own key, a differential
// against jose in both directions, and hostile tokens, each refused with its exact code
// (docs/security.md A9 sign/encrypt confusion, B5 invalid curve, B6 truncated tags, C1 PBES2,
// C2 zip, D1 `__proto__`).
import assert from 'node:assert/strict'
import { createCipheriv, createHash, createPrivateKey, createPublicKey, createSecretKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { CompactEncrypt, compactDecrypt } from 'jose'
import {
  createJwtDecrypter,
  createJwtEncrypter,
  generateEncryptionKey,
  generateKey,
  HallpassError,
  isCompactJwe,
  signJwt,
  type Jwk,
  type JweKeyMaterial,
} from '../../../src/index.ts'

const NOW = 1_900_000_000
const CURVES = ['P-256', 'P-384', 'P-521', 'X25519'] as const
type Curve = (typeof CURVES)[number]
const ECDH = 'ECDH-ES+A256KW'

const signingKey = generateKey('ES256', { kid: 'sig-1' })
const claims = { iss: 'https://auth.example', sub: 'user-1', iat: NOW, exp: NOW + 600, scope: 'orders:read' }
const jws = signJwt(claims, signingKey)
const dirKey = generateEncryptionKey('dir', 'A256GCM', { kid: 'dir-1' })
const dirBytes = Buffer.from(dirKey.k!, 'base64url')
const ecdhKeys = Object.fromEntries(CURVES.map((crv) => [crv, generateEncryptionKey(ECDH, undefined, { crv, kid: `ecdh-${crv}` })])) as Record<Curve, Jwk>
const p256 = ecdhKeys['P-256']
const x25519 = ecdhKeys.X25519
/** A service holding every key of the profile. */
const decryptAny = createJwtDecrypter({ keys: [dirKey, ...Object.values(ecdhKeys)] })
const encryptDir = createJwtEncrypter(dirKey)
const encryptP256 = createJwtEncrypter(publicJwk(p256))

// --- Helpers ----------------------------------------------------------------------------------

const b64u = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const headerOf = (jwe: string): Record<string, unknown> => JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>
const withHeader = (jwe: string, header: unknown): string => withSegment(jwe, 0, b64u(JSON.stringify(header)))
const uint32 = (value: number): Buffer => Buffer.from([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff])
const unsignedInner = `${b64u('{"alg":"none","typ":"at+jwt"}')}.${b64u(JSON.stringify(claims))}.`

function publicJwk(jwk: Jwk): Jwk {
  const { d: _d, ...rest } = jwk
  return rest
}

function withSegment(jwe: string, index: number, value: string): string {
  const segments = jwe.split('.')
  segments[index] = value
  return segments.join('.')
}

/** Flips one bit of the decoded segment `index`, keeping its encoding canonical. */
function flipBit(jwe: string, index: number, byte: number, bit = 0): string {
  const bytes = Buffer.from(jwe.split('.')[index]!, 'base64url')
  bytes[byte]! ^= 1 << bit
  return withSegment(jwe, index, b64u(bytes))
}

/** Asserts that `run` throws a hallpass error with exactly `code` (and a `reason` matching, if given). */
function refuses(run: () => unknown, code: string, reason?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HallpassError, `expected ${code}, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    if (reason !== undefined) assert.match((error as HallpassError & { reason?: string }).reason ?? '', reason)
    return true
  })
}

/** RFC 7516 §5.1 by hand: AES-256-GCM under `contentKey`, the encoded header as AAD. What an attacker holding the key can make. */
function seal(encodedHeader: string, encryptedKey: string, contentKey: Buffer, plaintext: string | Uint8Array): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', contentKey, iv).setAAD(Buffer.from(encodedHeader, 'ascii'))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return [encodedHeader, encryptedKey, b64u(iv), b64u(ciphertext), b64u(cipher.getAuthTag())].join('.')
}

/** A `dir` token under `dirKey` with a header written as raw JSON text (duplicates and `__proto__` included). */
function sealDirect(headerText: string, plaintext: string | Uint8Array, key: Buffer = dirBytes): string {
  return seal(b64u(headerText), '', key, plaintext)
}

/** An ECDH-ES+A256KW token for a shared secret the sender chose or knows (RFC 7518 §4.6.2 Concat KDF, then A256KW). */
function sealAgreed(header: Record<string, unknown>, sharedSecret: Buffer, plaintext: string): string {
  const prefixed = (bytes: Buffer): Buffer => Buffer.concat([uint32(bytes.length), bytes])
  const otherInfo = Buffer.concat([prefixed(Buffer.from(ECDH)), prefixed(Buffer.alloc(0)), prefixed(Buffer.alloc(0)), uint32(256)])
  const kek = createHash('sha256').update(Buffer.concat([uint32(1), sharedSecret, otherInfo])).digest()
  const contentKey = randomBytes(32)
  const wrapper = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'))
  return seal(b64u(JSON.stringify(header)), b64u(Buffer.concat([wrapper.update(contentKey), wrapper.final()])), contentKey, plaintext)
}

async function joseEncrypt(plaintext: string, header: Record<string, unknown>, key: unknown, partyInfo?: { apu: Uint8Array; apv: Uint8Array }): Promise<string> {
  const encrypter = new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header as never)
  if (partyInfo !== undefined) encrypter.setKeyManagementParameters(partyInfo)
  return encrypter.encrypt(key as never)
}

/** A seeded generator (mulberry32): the "random" payload sizes are the same on every run. */
function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// --- Round trips and keys ---------------------------------------------------------------------

describe('access-token encryption: round trips', () => {
  it('dir: a signed JWT in, the same JWT out; the claims are hidden and every token differs', () => {
    const jwe = encryptDir(jws)
    assert.equal(isCompactJwe(jwe), true)
    assert.deepEqual(headerOf(jwe), { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'dir-1' })
    assert.equal(jwe.split('.')[1], '')
    assert.equal(jwe.includes(jws.split('.')[1]!), false)
    assert.notEqual(encryptDir(jws), jwe)
    assert.equal(createJwtDecrypter({ keys: dirKey })(jwe), jws)
    assert.equal(decryptAny(jwe), jws)
    // The same key as bytes or a secret KeyObject (no kid then).
    const fromBytes = createJwtEncrypter(dirBytes)(jws)
    assert.deepEqual(headerOf(fromBytes), { alg: 'dir', enc: 'A256GCM', cty: 'JWT' })
    assert.equal(createJwtDecrypter({ keys: new Uint8Array(dirBytes) })(fromBytes), jws)
    assert.equal(createJwtDecrypter({ keys: createSecretKey(dirBytes) })(createJwtEncrypter(createSecretKey(dirBytes))(jws)), jws)
  })

  for (const crv of CURVES) {
    it(`ECDH-ES+A256KW on ${crv}: encrypted to the public key, opened by the private one`, () => {
      const key = ecdhKeys[crv]
      const jwe = createJwtEncrypter(publicJwk(key))(jws)
      const header = headerOf(jwe)
      assert.deepEqual(Object.keys(header), ['alg', 'enc', 'cty', 'kid', 'epk'])
      assert.deepEqual([header.alg, header.enc, header.cty, header.kid], [ECDH, 'A256GCM', 'JWT', `ecdh-${crv}`])
      const epk = header.epk as Record<string, unknown>
      assert.deepEqual(Object.keys(epk).sort(), crv === 'X25519' ? ['crv', 'kty', 'x'] : ['crv', 'kty', 'x', 'y'])
      assert.equal(epk.crv, crv)
      assert.equal(Buffer.from(jwe.split('.')[1]!, 'base64url').length, 40)
      assert.equal(jwe.includes(jws.split('.')[1]!), false)
      assert.equal(createJwtDecrypter({ keys: key })(jwe), jws)
      assert.equal(decryptAny(jwe), jws)
      // Other key forms: a private JWK or a public KeyObject to encrypt, a private KeyObject to decrypt.
      const publicKeyObject = createPublicKey({ key: publicJwk(key), format: 'jwk' })
      const again = createJwtEncrypter(key)(jws)
      assert.notEqual((headerOf(again).epk as { x: string }).x, epk.x)
      assert.equal(createJwtDecrypter({ keys: key })(again), jws)
      const anonymous = createJwtEncrypter(publicKeyObject)(jws)
      assert.equal(headerOf(anonymous).kid, undefined)
      assert.equal(createJwtDecrypter({ keys: [dirKey, key] })(anonymous), jws)
      assert.equal(createJwtDecrypter({ keys: createPrivateKey({ key, format: 'jwk' }) })(anonymous), jws)
    })
  }

  it('isCompactJwe tells five segments from three, and nothing else', () => {
    assert.equal(isCompactJwe(encryptP256(jws)), true)
    assert.equal(isCompactJwe('....'), true)
    for (const value of [jws, 'a.b.c.d.e.f', 'a.b.c.d', '', undefined, null, 42, { token: 'a.b.c.d.e' }]) assert.equal(isCompactJwe(value), false)
  })

  it('the encrypter only ever encrypts a signed compact JWT, and honours its size limit', () => {
    for (const input of [JSON.stringify(claims), unsignedInner, encryptDir(jws), 'a.b', 42, undefined]) {
      refuses(() => encryptDir(input as string), 'ERR_CONFIG_INVALID')
      refuses(() => encryptP256(input as string), 'ERR_CONFIG_INVALID')
    }
    refuses(() => createJwtEncrypter(dirKey, { maxTokenBytes: 200 })(jws), 'ERR_JWT_TOO_LARGE')
    refuses(() => createJwtEncrypter(dirKey, { maxTokenBytes: 0 }), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtEncrypter(dirKey, { alg: 'dir' } as never), 'ERR_CONFIG_INVALID')
  })
})

describe('access-token encryption: key selection by kid', () => {
  const a = generateEncryptionKey('dir', 'A256GCM', { kid: 'a' })
  const b = generateEncryptionKey('dir', 'A256GCM', { kid: 'b' })
  const c = generateEncryptionKey(ECDH, undefined, { kid: 'c' })
  const d = generateEncryptionKey(ECDH, undefined, { kid: 'd' })
  const e = generateEncryptionKey(ECDH, undefined, { crv: 'P-384', kid: 'e' })
  const decrypt = createJwtDecrypter({ keys: [a, b, c, d, e] })

  it('the key named by kid opens its tokens', () => {
    for (const key of [a, b]) assert.equal(decrypt(createJwtEncrypter(key)(jws)), jws)
    for (const key of [c, d, e]) assert.equal(decrypt(createJwtEncrypter(publicJwk(key))(jws)), jws)
  })

  it('an unknown kid fails as a wrong key does, even when a held key would open the token', () => {
    refuses(() => decrypt(createJwtEncrypter(Buffer.from(b.k!, 'base64url'), { kid: 'nobody' })(jws)), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => decrypt(createJwtEncrypter(publicJwk(d), { kid: 'c' })(jws)), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => decrypt(createJwtEncrypter(b, { kid: 'a' })(jws)), 'ERR_JWE_DECRYPTION_FAILED')
    // A kid the header names, against keys that have none.
    refuses(() => createJwtDecrypter({ keys: [Buffer.from(a.k!, 'base64url')] })(createJwtEncrypter(a)(jws)), 'ERR_JWE_DECRYPTION_FAILED')
  })

  it('without kid, each key of the token\'s algorithm and curve is tried', () => {
    assert.equal(decrypt(createJwtEncrypter(Buffer.from(b.k!, 'base64url'))(jws)), jws)
    assert.equal(decrypt(createJwtEncrypter(createPublicKey({ key: publicJwk(d), format: 'jwk' }))(jws)), jws)
    assert.equal(decrypt(createJwtEncrypter(createPublicKey({ key: publicJwk(e), format: 'jwk' }))(jws)), jws)
    // Keys of that algorithm but none of that curve, or none of that algorithm at all.
    const anonymousX25519 = createJwtEncrypter(createPublicKey({ key: publicJwk(x25519), format: 'jwk' }))(jws)
    refuses(() => decrypt(anonymousX25519), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => createJwtDecrypter({ keys: [c] })(createJwtEncrypter(dirBytes)(jws)), 'ERR_JWE_INVALID', /"alg" is not allowed/)
    refuses(() => createJwtDecrypter({ keys: [a] })(anonymousX25519), 'ERR_JWE_INVALID', /"alg" is not allowed/)
  })

  it('two keys with the same kid are refused at construction', () => {
    const twin = generateEncryptionKey('dir', 'A256GCM', { kid: 'a' })
    refuses(() => createJwtDecrypter({ keys: [a, twin] }), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtDecrypter({ keys: [a, generateEncryptionKey(ECDH, undefined, { kid: 'a' })] }), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtDecrypter({ keys: [a, a] }), 'ERR_CONFIG_INVALID')
  })
})

describe('access-token encryption: keys refused at construction', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { publicKey: p256Public, privateKey: p256Private } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey
  const ed25519 = generateKeyPairSync('ed25519').privateKey
  const refusedEverywhere: Array<[string, unknown]> = [
    ['a 16-byte dir key (bytes)', randomBytes(16)],
    ['a 16-byte dir key (oct JWK)', { kty: 'oct', k: b64u(randomBytes(16)) }],
    ['a 64-byte dir key (oct JWK)', { kty: 'oct', k: b64u(randomBytes(64)) }],
    ['a dir JWK for A128GCM', generateEncryptionKey('dir', 'A128GCM')],
    ['an RSA key', rsa.privateKey],
    ['an RSA-OAEP JWK', { ...rsa.privateKey.export({ format: 'jwk' }), alg: 'RSA-OAEP', use: 'enc' }],
    ['a JWK with use "sig"', { ...p256, use: 'sig' }],
    ['a JWK with key_ops for signatures', { ...p256, key_ops: ['sign', 'verify'] }],
    ['a signing key (JwsKey)', signingKey],
    ['an ECDH-ES (direct) JWK', generateEncryptionKey('ECDH-ES')],
    ['an ECDH-ES+A128KW JWK', generateEncryptionKey('ECDH-ES+A128KW')],
    ['an A256KW JWK', generateEncryptionKey('A256KW')],
    ['an oct JWK labelled ECDH-ES+A256KW', { kty: 'oct', k: b64u(randomBytes(32)), alg: ECDH }],
    ['an EC JWK labelled dir', { ...p256, alg: 'dir' }],
    ['a secp256k1 key', secp256k1],
    ['an Ed25519 key', ed25519],
    ['an empty key', new Uint8Array(0)],
    ['a PEM string', '-----BEGIN PRIVATE KEY-----'],
  ]

  it('refuses each of them in the decrypter and the encrypter (ERR_KEY_INVALID)', () => {
    for (const [name, material] of refusedEverywhere) {
      assert.throws(() => createJwtDecrypter({ keys: [dirKey, material] as JweKeyMaterial[] }), { code: 'ERR_KEY_INVALID' }, `decrypter: ${name}`)
      assert.throws(() => createJwtEncrypter(material as JweKeyMaterial), { code: 'ERR_KEY_INVALID' }, `encrypter: ${name}`)
    }
  })

  it('a public key can encrypt but not decrypt', () => {
    for (const material of [publicJwk(p256), p256Public, createPublicKey({ key: publicJwk(x25519), format: 'jwk' })]) {
      assert.equal(typeof createJwtEncrypter(material)(jws), 'string')
      refuses(() => createJwtDecrypter({ keys: material }), 'ERR_KEY_INVALID')
    }
    assert.equal(createJwtDecrypter({ keys: p256Private })(createJwtEncrypter(p256Public)(jws)), jws)
  })

  it('refuses options that do not fit', () => {
    refuses(() => createJwtDecrypter({}), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtDecrypter({ keys: [] }), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtDecrypter({ keys: dirKey, maxTokenBytes: -1 }), 'ERR_CONFIG_INVALID')
    refuses(() => createJwtDecrypter({ keys: dirKey, algorithms: ['dir'] } as never), 'ERR_CONFIG_INVALID')
  })
})

describe('access-token encryption: the issuer\'s own key (issuerKey)', () => {
  const issuerKey = randomBytes(32)
  const service = ecdhKeys['P-384']
  const encrypt = createJwtEncrypter(publicJwk(service), { issuerKey })

  it('the issuer reads the tokens it encrypted to a service, and so does the service (and jose)', async () => {
    const jwe = encrypt(jws)
    assert.equal(createJwtDecrypter({ issuerKey })(jwe), jws)
    assert.equal(createJwtDecrypter({ keys: service, issuerKey })(jwe), jws)
    assert.equal(createJwtDecrypter({ keys: service })(jwe), jws)
    const { plaintext } = await compactDecrypt(jwe, service as never, { keyManagementAlgorithms: [ECDH], contentEncryptionAlgorithms: ['A256GCM'] })
    assert.equal(new TextDecoder().decode(plaintext), jws)
    // A content key per token: the same JWT twice gives two unrelated tokens.
    const again = encrypt(jws)
    assert.notEqual(again.split('.')[1], jwe.split('.')[1])
    assert.notEqual(again.split('.')[3], jwe.split('.')[3])
  })

  it('another issuerKey cannot, and the issuerKey opens nothing it did not make', () => {
    const jwe = encrypt(jws)
    refuses(() => createJwtDecrypter({ issuerKey: randomBytes(32) })(jwe), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => createJwtDecrypter({ issuerKey, keys: ecdhKeys['P-521'] })(createJwtEncrypter(publicJwk(service))(jws)), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => createJwtDecrypter({ issuerKey })(createJwtEncrypter(publicJwk(service), { issuerKey: randomBytes(48) })(jws)), 'ERR_JWE_DECRYPTION_FAILED')
    // The header is bound to the content key: a changed header fails even for the issuer.
    refuses(() => createJwtDecrypter({ issuerKey })(withHeader(jwe, { ...headerOf(jwe), kid: 'other' })), 'ERR_JWE_DECRYPTION_FAILED')
    // A dir token is no business of an issuerKey-only decrypter.
    refuses(() => createJwtDecrypter({ issuerKey })(encryptDir(jws)), 'ERR_JWE_INVALID', /"alg" is not allowed/)
  })

  it('refuses issuerKey with a dir key, and one shorter than 32 bytes', () => {
    refuses(() => createJwtEncrypter(dirKey, { issuerKey }), 'ERR_CONFIG_INVALID')
    for (const bad of [randomBytes(31), new Uint8Array(0), issuerKey.toString('hex'), [...issuerKey]]) {
      refuses(() => createJwtEncrypter(publicJwk(service), { issuerKey: bad as Uint8Array }), 'ERR_CONFIG_INVALID')
      refuses(() => createJwtDecrypter({ issuerKey: bad as Uint8Array }), 'ERR_CONFIG_INVALID')
    }
    assert.equal(typeof createJwtEncrypter(publicJwk(service), { issuerKey: randomBytes(64) })(jws), 'string')
  })
})

// --- Differential with jose -------------------------------------------------------------------

describe('access-token encryption: differential with jose', () => {
  const random = seededRandom(0x5eed)
  // 50 inner JWTs from empty padding to about 6 KiB, the edges included.
  const paddings = [0, 1, 2, 3, 4500, ...Array.from({ length: 45 }, () => Math.floor(random() * 4500))]
  const tokens = paddings.map((n) => signJwt({ ...claims, pad: 'x'.repeat(n) }, signingKey))
  const recipients: Array<{ name: string; alg: string; encryptTo: JweKeyMaterial; joseEncryptKey: unknown; joseDecryptKey: unknown }> = [
    { name: 'dir', alg: 'dir', encryptTo: dirKey, joseEncryptKey: new Uint8Array(dirBytes), joseDecryptKey: new Uint8Array(dirBytes) },
    ...CURVES.map((crv) => ({ name: `ECDH-ES+A256KW ${crv}`, alg: ECDH, encryptTo: publicJwk(ecdhKeys[crv]), joseEncryptKey: publicJwk(ecdhKeys[crv]), joseDecryptKey: ecdhKeys[crv] })),
  ]

  it('tokens hallpass encrypts decrypt with jose compactDecrypt (dir and every curve, 50 sizes)', async () => {
    for (const { name, alg, encryptTo, joseDecryptKey } of recipients) {
      const encrypt = createJwtEncrypter(encryptTo)
      for (const token of tokens) {
        const { plaintext, protectedHeader } = await compactDecrypt(encrypt(token), joseDecryptKey as never, {
          keyManagementAlgorithms: [alg],
          contentEncryptionAlgorithms: ['A256GCM'],
        })
        assert.equal(new TextDecoder().decode(plaintext), token, `${name}, ${token.length} bytes`)
        assert.equal(protectedHeader.cty, 'JWT')
      }
    }
  })

  it('tokens jose CompactEncrypt makes decrypt with hallpass (with and without kid, with apu/apv)', async () => {
    for (const { name, alg, joseEncryptKey } of recipients) {
      const kid = alg === 'dir' ? 'dir-1' : (joseEncryptKey as Jwk).kid
      for (const [i, token] of tokens.entries()) {
        const header = { alg, enc: 'A256GCM', cty: 'JWT', ...(i % 2 === 0 ? { kid } : {}) }
        const partyInfo = alg !== 'dir' && i % 3 !== 2 ? { apu: randomBytes(i % 17), apv: new TextEncoder().encode(`service-${i}`) } : undefined
        const jwe = await joseEncrypt(token, header, joseEncryptKey, partyInfo)
        if (partyInfo !== undefined && partyInfo.apu.length > 0) assert.equal(headerOf(jwe).apu, b64u(partyInfo.apu))
        assert.equal(decryptAny(jwe), token, `${name}, ${token.length} bytes, kid ${'kid' in header}, apu/apv ${partyInfo !== undefined}`)
      }
    }
  })

  it('a jose token whose apu/apv differ from what its key was derived with fails', async () => {
    const jwe = await joseEncrypt(jws, { alg: ECDH, enc: 'A256GCM', cty: 'JWT' }, publicJwk(p256), { apu: new TextEncoder().encode('alice'), apv: new TextEncoder().encode('bob') })
    const forged = withHeader(jwe, { ...headerOf(jwe), apv: b64u('mallory') })
    refuses(() => decryptAny(forged), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => decryptAny(withHeader(jwe, { ...headerOf(jwe), apu: 'not base64url!' })), 'ERR_JWE_INVALID', /"apu"/)
    refuses(() => decryptAny(withHeader(jwe, { ...headerOf(jwe), apv: 'A'.repeat(600) })), 'ERR_JWE_INVALID', /"apv"/)
  })
})

// --- Hostile tokens ---------------------------------------------------------------------------

describe('access-token encryption: algorithms outside the profile', () => {
  it('refuses every other alg and enc, even under the right key bytes (ERR_JWE_INVALID)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    const p256Public = publicJwk(p256)
    const cases: Array<[string, Record<string, unknown>, unknown]> = [
      ['dir + A128GCM', { alg: 'dir', enc: 'A128GCM' }, randomBytes(16)],
      ['dir + A256CBC-HS512', { alg: 'dir', enc: 'A256CBC-HS512' }, randomBytes(64)],
      ['ECDH-ES+A256KW + A128GCM', { alg: ECDH, enc: 'A128GCM', kid: 'ecdh-P-256' }, p256Public],
      ['ECDH-ES+A256KW + A256CBC-HS512', { alg: ECDH, enc: 'A256CBC-HS512', kid: 'ecdh-P-256' }, p256Public],
      ['RSA-OAEP', { alg: 'RSA-OAEP', enc: 'A256GCM' }, rsa],
      ['RSA-OAEP-256', { alg: 'RSA-OAEP-256', enc: 'A256GCM' }, rsa],
      ['ECDH-ES (direct key agreement)', { alg: 'ECDH-ES', enc: 'A256GCM', kid: 'ecdh-P-256' }, { ...p256Public, alg: 'ECDH-ES' }],
      ['ECDH-ES+A128KW', { alg: 'ECDH-ES+A128KW', enc: 'A256GCM', kid: 'ecdh-P-256' }, { ...p256Public, alg: 'ECDH-ES+A128KW' }],
      ['A256KW under the dir key bytes', { alg: 'A256KW', enc: 'A256GCM', kid: 'dir-1' }, dirBytes],
      ['A256GCMKW under the dir key bytes', { alg: 'A256GCMKW', enc: 'A256GCM', kid: 'dir-1' }, dirBytes],
    ]
    for (const [name, header, key] of cases) {
      const jwe = await joseEncrypt(jws, { ...header, cty: 'JWT' }, key)
      assert.throws(() => decryptAny(jwe), (error: unknown) => (error as HallpassError).code === 'ERR_JWE_INVALID' && /"(alg|enc)" is not allowed/.test((error as Error).message), name)
    }
    for (const alg of ['none', 'A256GCM', 'ecdh-es+a256kw', 'DIR', '', 7, null]) {
      refuses(() => decryptAny(withHeader(encryptDir(jws), { alg, enc: 'A256GCM', cty: 'JWT' })), 'ERR_JWE_INVALID', /"alg"/)
    }
  })

  it('refuses zip: "DEF" before the key is used', async () => {
    const zipped = await joseEncrypt(jws, { alg: 'dir', enc: 'A256GCM', cty: 'JWT', zip: 'DEF', kid: 'dir-1' }, new Uint8Array(dirBytes))
    refuses(() => decryptAny(zipped), 'ERR_JWE_INVALID', /"zip"/)
    refuses(() => createJwtDecrypter({ keys: generateEncryptionKey('dir', 'A256GCM', { kid: 'dir-1' }) })(zipped), 'ERR_JWE_INVALID', /"zip"/)
    const zippedEcdh = await joseEncrypt(jws, { alg: ECDH, enc: 'A256GCM', cty: 'JWT', zip: 'DEF' }, publicJwk(p256))
    refuses(() => decryptAny(zippedEcdh), 'ERR_JWE_INVALID', /"zip"/)
  })

  it('refuses PBES2 with p2c = 2^31 by name, in well under 50 ms (CVE-2022-36083, CVE-2023-50967)', () => {
    for (const alg of ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW', 'pbes2-hs256+a128kw']) {
      const header = { alg, enc: 'A256GCM', cty: 'JWT', p2c: 2 ** 31, p2s: b64u(randomBytes(16)) }
      const jwe = [b64u(JSON.stringify(header)), b64u(randomBytes(40)), b64u(randomBytes(12)), b64u(randomBytes(400)), b64u(randomBytes(16))].join('.')
      const start = performance.now()
      refuses(() => decryptAny(jwe), 'ERR_JWE_INVALID', /PBES2 is refused/)
      const ms = performance.now() - start
      assert.ok(ms < 50, `${alg} took ${ms.toFixed(1)} ms`)
    }
  })

  it('refuses RSA1_5 by name', () => {
    const jwe = [b64u('{"alg":"RSA1_5","enc":"A256GCM","cty":"JWT"}'), b64u(randomBytes(256)), b64u(randomBytes(12)), b64u(randomBytes(100)), b64u(randomBytes(16))].join('.')
    refuses(() => decryptAny(jwe), 'ERR_JWE_INVALID', /RSA1_5 is refused/)
  })
})

describe('access-token encryption: the sender\'s ephemeral key (docs/security.md B5)', () => {
  const jwe = encryptP256(jws)
  const header = headerOf(jwe)
  const epk = header.epk as Record<string, string>
  const onlyX25519 = createJwtDecrypter({ keys: x25519 })

  it('a point that is not on P-256 fails like any wrong key', () => {
    const y = Buffer.from(epk.y!, 'base64url')
    y[31]! ^= 1
    const zero = b64u(Buffer.alloc(32))
    const aboveP = b64u(Buffer.alloc(32, 0xff))
    for (const point of [{ y: b64u(y) }, { x: zero, y: zero }, { x: aboveP }, { y: aboveP }]) {
      refuses(() => decryptAny(withHeader(jwe, { ...header, epk: { ...epk, ...point } })), 'ERR_JWE_DECRYPTION_FAILED')
    }
    // A coordinate of the wrong size is malformed, whatever the key: refused before any key is used.
    refuses(() => decryptAny(withHeader(jwe, { ...header, epk: { ...epk, x: b64u(Buffer.from(epk.x!, 'base64url').subarray(1)) } })), 'ERR_JWE_INVALID', /"epk"/)
  })

  it('a valid P-256 point never reaches an X25519 key', () => {
    // The genuine P-256 token, addressed to the X25519 key by kid.
    const readdressed = withHeader(jwe, { ...header, kid: 'ecdh-X25519' })
    refuses(() => decryptAny(readdressed), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => onlyX25519(readdressed), 'ERR_JWE_DECRYPTION_FAILED')
    refuses(() => onlyX25519(withHeader(jwe, { ...header, kid: undefined })), 'ERR_JWE_DECRYPTION_FAILED')
    // Its x coordinate relabelled as an X25519 key (any 32 bytes are a u-coordinate): a wrong key.
    const relabelled = { ...header, kid: 'ecdh-X25519', epk: { kty: 'OKP', crv: 'X25519', x: epk.x } }
    refuses(() => onlyX25519(withHeader(jwe, relabelled)), 'ERR_JWE_DECRYPTION_FAILED')
    // An EC key that claims to be on X25519 is not an X25519 key.
    refuses(() => onlyX25519(withHeader(jwe, { ...relabelled, epk: { ...epk, crv: 'X25519' } })), 'ERR_JWE_INVALID', /"epk"/)
  })

  it('an X25519 all-zero or small-order point fails, even with a token built for the all-zero secret (RFC 7748 §6.1)', () => {
    const epkHeader = (x: Buffer): Record<string, unknown> => ({ alg: ECDH, enc: 'A256GCM', cty: 'JWT', kid: 'ecdh-X25519', epk: { kty: 'OKP', crv: 'X25519', x: b64u(x) } })
    // The token builder is right: with a real agreement, hallpass opens what it makes.
    const ephemeral = generateKeyPairSync('x25519')
    const recipient = createPublicKey({ key: publicJwk(x25519), format: 'jwk' })
    const agreed = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient })
    const ephemeralX = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x!, 'base64url')
    assert.equal(onlyX25519(sealAgreed(epkHeader(ephemeralX), agreed, jws)), jws)
    // u-coordinates whose product with any clamped scalar is the point at infinity: the "shared"
    // secret is 32 zero bytes, which the attacker knows (libsodium's blocklist, little-endian).
    const p = 2n ** 255n - 19n
    const smallOrder = [0n, 1n, 325606250916557431795983626356110631294008115727848805560023387167927233504n, 39382357235489614581723060781553021112529911719440698176882885853963445705823n, p - 1n, p, p + 1n]
    for (const u of smallOrder) {
      const x = Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse()
      refuses(() => onlyX25519(sealAgreed(epkHeader(x), Buffer.alloc(32), jws)), 'ERR_JWE_DECRYPTION_FAILED')
    }
  })

  it('refuses an epk that carries a private key, or is not a key at all', () => {
    refuses(() => decryptAny(withHeader(jwe, { ...header, epk: { ...epk, d: b64u(randomBytes(32)) } })), 'ERR_JWE_INVALID', /"epk"/)
    refuses(() => decryptAny(withHeader(jwe, { ...header, epk: { ...epk, kty: 'OKP' } })), 'ERR_JWE_INVALID', /"epk"/)
    refuses(() => decryptAny(withHeader(jwe, { ...header, epk: { ...epk, x: `${epk.x}=` } })), 'ERR_JWE_INVALID', /"epk"/)
  })
})

describe('access-token encryption: structure and tampering', () => {
  const dir = encryptDir(jws)
  const ecdh = encryptP256(jws)
  const segments = (jwe: string): string[] => jwe.split('.')

  it('refuses a truncated or extended tag and a wrong IV length before using the key', () => {
    for (const jwe of [dir, ecdh]) {
      const tag = Buffer.from(segments(jwe)[4]!, 'base64url')
      for (const bytes of [15, 12, 8, 1, 17, 32]) {
        const changed = Buffer.concat([tag, Buffer.alloc(16)]).subarray(0, bytes)
        refuses(() => decryptAny(withSegment(jwe, 4, b64u(changed))), 'ERR_JWE_INVALID', /authentication tag/)
      }
      for (const bytes of [16, 11, 13, 8]) refuses(() => decryptAny(withSegment(jwe, 2, b64u(randomBytes(bytes)))), 'ERR_JWE_INVALID', /initialization vector/)
      refuses(() => decryptAny(withSegment(jwe, 4, '')), 'ERR_JWE_INVALID')
      refuses(() => decryptAny(withSegment(jwe, 2, '')), 'ERR_JWE_INVALID')
    }
  })

  it('checks the encrypted key against the algorithm', () => {
    refuses(() => decryptAny(withSegment(ecdh, 1, '')), 'ERR_JWE_INVALID', /needs an encrypted key/)
    refuses(() => decryptAny(withSegment(dir, 1, b64u(randomBytes(40)))), 'ERR_JWE_INVALID', /empty encrypted key/)
    for (const bytes of [8, 24, 32, 39, 41, 48, 256]) {
      refuses(() => decryptAny(withSegment(ecdh, 1, b64u(randomBytes(bytes)))), 'ERR_JWE_INVALID', /encrypted key has the wrong length/)
    }
  })

  it('any flipped bit of IV, ciphertext, tag or encrypted key fails decryption', () => {
    for (const [jwe, indexes] of [[dir, [2, 3, 4]], [ecdh, [1, 2, 3, 4]]] as const) {
      for (const index of indexes) {
        const length = Buffer.from(segments(jwe)[index]!, 'base64url').length
        for (let byte = 0; byte < length; byte += index === 3 ? 37 : 1) {
          refuses(() => decryptAny(flipBit(jwe, index, byte, byte % 8)), 'ERR_JWE_DECRYPTION_FAILED')
        }
      }
    }
  })

  it('a flipped bit in the protected header fails too: the header is the AAD (RFC 7516 §5.1 step 14)', () => {
    for (const jwe of [dir, ecdh]) {
      const text = Buffer.from(segments(jwe)[0]!, 'base64url').toString('latin1')
      // Bit 5 turns one letter of cty "JWT" (still accepted: media types are case-insensitive) or of the kid.
      for (const at of [text.indexOf('"JWT"') + 2, text.indexOf('"JWT"') + 3, text.indexOf('"kid":"') + 7]) {
        refuses(() => decryptAny(flipBit(jwe, 0, at, 5)), 'ERR_JWE_DECRYPTION_FAILED')
      }
      refuses(() => decryptAny(withHeader(jwe, { ...headerOf(jwe), note: 'x' })), 'ERR_JWE_DECRYPTION_FAILED')
      refuses(() => decryptAny(withSegment(jwe, 0, b64u(` ${Buffer.from(segments(jwe)[0]!, 'base64url').toString('utf8')}`))), 'ERR_JWE_INVALID')
    }
    // Two tokens spliced together.
    const other = segments(encryptDir(jws))
    refuses(() => decryptAny([...segments(dir).slice(0, 3), other[3], segments(dir)[4]].join('.')), 'ERR_JWE_DECRYPTION_FAILED')
  })

  it('refuses the JSON serializations and anything that is not five segments', () => {
    const [protectedHeader, encryptedKey, iv, ciphertext, tag] = segments(ecdh)
    const flattened = { protected: protectedHeader, encrypted_key: encryptedKey, iv, ciphertext, tag }
    refuses(() => decryptAny(flattened as never), 'ERR_JWE_INVALID', /compact/)
    refuses(() => decryptAny({ protected: protectedHeader, iv, ciphertext, tag, recipients: [{ encrypted_key: encryptedKey }] } as never), 'ERR_JWE_INVALID', /compact/)
    refuses(() => decryptAny(JSON.stringify(flattened)), 'ERR_JWE_INVALID', /five segments/)
    // A JWS where a JWE is required.
    refuses(() => decryptAny(jws), 'ERR_JWE_INVALID', /five segments/)
    for (const input of [undefined, null, 42, Buffer.from(dir), '', '....', `${dir}.AAAA`, segments(dir).slice(0, 4).join('.')]) {
      refuses(() => decryptAny(input as string), 'ERR_JWE_INVALID')
    }
  })

  it('refuses non-canonical base64url in every segment', () => {
    for (const jwe of [dir, ecdh]) {
      for (let index = 0; index < 5; index++) {
        const segment = segments(jwe)[index]!
        if (segment.length === 0) continue
        for (const variant of [`${segment}=`, `${segment.slice(0, -1)}+`, `${segment.slice(0, -1)}/`, ` ${segment}`, `${segment.slice(0, 1)}\n${segment.slice(1)}`]) {
          refuses(() => decryptAny(withSegment(jwe, index, variant)), 'ERR_JWE_INVALID')
        }
      }
      // The tag is 16 bytes, 22 characters: the last one carries 4 unused bits, which must be zero.
      const tag = segments(jwe)[4]!
      const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const sloppy = tag.slice(0, -1) + last[last.indexOf(tag.at(-1)!) | 1]!
      assert.deepEqual(Buffer.from(sloppy, 'base64url'), Buffer.from(tag, 'base64url'))
      refuses(() => decryptAny(withSegment(jwe, 4, sloppy)), 'ERR_JWE_INVALID')
    }
  })

  it('refuses oversize input before any crypto, and honours maxTokenBytes', () => {
    refuses(() => decryptAny('x'.repeat(16385)), 'ERR_JWT_TOO_LARGE')
    refuses(() => decryptAny(`${dir}${'A'.repeat(16384)}`), 'ERR_JWT_TOO_LARGE')
    const big = signJwt({ ...claims, pad: 'x'.repeat(12_500) }, signingKey, { maxTokenBytes: 40_000 })
    const jwe = createJwtEncrypter(dirKey, { maxTokenBytes: 40_000 })(big)
    assert.ok(jwe.length > 16384)
    refuses(() => decryptAny(jwe), 'ERR_JWT_TOO_LARGE')
    refuses(() => createJwtEncrypter(dirKey)(big), 'ERR_JWT_TOO_LARGE')
    assert.equal(createJwtDecrypter({ keys: dirKey, maxTokenBytes: jwe.length })(jwe), big)
    refuses(() => createJwtDecrypter({ keys: dirKey, maxTokenBytes: dir.length - 1 })(dir), 'ERR_JWT_TOO_LARGE')
  })
})

describe('access-token encryption: the header and the plaintext (docs/security.md A9, D1)', () => {
  const HEADER = '{"alg":"dir","enc":"A256GCM","cty":"JWT","kid":"dir-1"}'

  it('the hand-made tokens below are sound: the right header and a signed JWT decrypt', () => {
    assert.equal(decryptAny(sealDirect(HEADER, jws)), jws)
    for (const cty of ['jwt', 'application/jwt', 'Application/JWT']) assert.equal(decryptAny(sealDirect(HEADER.replace('"JWT"', `"${cty}"`), jws)), jws)
  })

  it('refuses an unsigned inner token, raw claims, a JWE inside the JWE, and non-text', async () => {
    const payload = b64u(JSON.stringify(claims))
    const inner = [
      unsignedInner,
      `${b64u('{"alg":"none"}')}.${payload}.${b64u('x'.repeat(64))}`,
      `${b64u('{"alg":"ES256","enc":"A256GCM"}')}.${payload}.${jws.split('.')[2]}`,
      `${jws.split('.')[0]}.${payload}`,
      JSON.stringify(claims),
      encryptDir(jws),
      encryptP256(jws),
      `${jws}\n`,
      '',
    ]
    for (const plaintext of inner) refuses(() => decryptAny(sealDirect(HEADER, plaintext)), 'ERR_JWE_INVALID', /not a signed JWT/)
    refuses(() => decryptAny(sealDirect(HEADER, Buffer.from([0xc3, 0x28, 0x2e, 0x2e]))), 'ERR_JWE_INVALID', /not a signed JWT/)
    // The same through ECDH-ES+A256KW, from jose (anyone can encrypt to a public key).
    const header = { alg: ECDH, enc: 'A256GCM', cty: 'JWT' }
    for (const plaintext of inner.slice(0, 6)) {
      const jwe = await joseEncrypt(plaintext, header, publicJwk(p256))
      refuses(() => decryptAny(jwe), 'ERR_JWE_INVALID', /not a signed JWT/)
    }
  })

  it('requires cty "JWT"', () => {
    for (const text of ['{"alg":"dir","enc":"A256GCM"}', '{"alg":"dir","enc":"A256GCM","cty":"json"}', '{"alg":"dir","enc":"A256GCM","cty":"JSON"}', '{"alg":"dir","enc":"A256GCM","cty":"at+jwt"}', '{"alg":"dir","enc":"A256GCM","cty":["JWT"]}']) {
      refuses(() => decryptAny(sealDirect(text, jws)), 'ERR_JWE_INVALID', /"cty"/)
    }
  })

  it('refuses duplicate members, __proto__, and every parameter that would name a key or extend the rules', () => {
    const texts = [
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","kid":"dir-1","kid":"dir-1"}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","enc":"A128GCM"}',
      '{"alg":"A256KW","alg":"dir","enc":"A256GCM","cty":"JWT"}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","__proto__":{"kid":"dir-1"}}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","crit":["exp"]}',
      `{"alg":"dir","enc":"A256GCM","cty":"JWT","jwk":{"kty":"oct","k":"${dirKey.k}"}}`,
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","jku":"https://attacker.example/jwks.json"}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","x5u":"https://attacker.example/cert.pem"}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","x5c":["MIIB"]}',
      '{"alg":"dir","enc":"A256GCM","cty":"JWT","kid":7}',
      '\uFEFF{"alg":"dir","enc":"A256GCM","cty":"JWT"}',
      '["dir","A256GCM"]',
    ]
    for (const text of texts) refuses(() => decryptAny(sealDirect(text, jws)), 'ERR_JWE_INVALID')
  })
})
