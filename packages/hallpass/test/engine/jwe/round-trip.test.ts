// Nested JWTs (RFC 7519 §11.2) through every allowed alg/enc pair: sign with hallpass, encrypt,
// decrypt, verify. Also the key forms the API takes and what the JWE header carries.
import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey, createSecretKey, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  createJwtVerifier,
  decryptAndVerifyJwt,
  decryptJwt,
  encryptJwt,
  generateEncryptionKey,
  generateKey,
  JWE_ALGORITHMS,
  JWE_ENCRYPTIONS,
  signJwt,
  type Jwk,
  type JweAlgorithm,
  type JweEncryption,
} from '../../../src/index.ts'

const NOW = 1_900_000_000
const signingKey = generateKey('ES256', { kid: 'sig-1' })
const verifier = createJwtVerifier({ keys: signingKey, issuer: 'https://auth.example', now: () => NOW * 1000 })
const claims = { iss: 'https://auth.example', sub: 'user-1', iat: NOW, exp: NOW + 600, scope: 'orders:read' }
const jws = signJwt(claims, signingKey)

function protectedHeader(jwe: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8'))
}

function publicJwk(jwk: Jwk): Jwk {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk
  return rest
}

describe('JWE round trips: every allowed alg/enc pair', () => {
  // RSA key generation dominates the cost, so RSA gets one key per alg and two encs each.
  const rsaEncs: Record<string, readonly JweEncryption[]> = {
    'RSA-OAEP': ['A256GCM', 'A128CBC-HS256'],
    'RSA-OAEP-256': ['A128GCM', 'A256CBC-HS512'],
  }
  const nonRsa = JWE_ALGORITHMS.filter((alg) => !alg.startsWith('RSA'))
  assert.equal(nonRsa.length, 11)
  assert.equal(JWE_ENCRYPTIONS.length, 6)

  for (const alg of nonRsa) {
    const sharedKey = alg === 'dir' ? undefined : generateEncryptionKey(alg)
    for (const enc of JWE_ENCRYPTIONS) {
      it(`${alg} + ${enc}`, async () => {
        const key = sharedKey ?? generateEncryptionKey('dir', enc)
        const jwe = await encryptJwt(jws, key, { enc })
        assert.equal(jwe.split('.').length, 5)
        const header = protectedHeader(jwe)
        assert.equal(header.alg, alg)
        assert.equal(header.enc, enc)
        assert.equal(header.cty, 'JWT')
        // Encryption hides the claims: the payload text appears nowhere in the token.
        assert.equal(jwe.includes(jws.split('.')[1]!), false)
        assert.equal(await decryptJwt(jwe, key), jws)
        const verified = await decryptAndVerifyJwt(jwe, key, verifier)
        assert.deepEqual(verified.claims, claims)
        assert.equal(verified.key, signingKey)
      })
    }
  }

  for (const [alg, encs] of Object.entries(rsaEncs) as [JweAlgorithm, readonly JweEncryption[]][]) {
    it(`${alg} + ${encs.join(', ')}`, async () => {
      const key = generateEncryptionKey(alg)
      for (const enc of encs) {
        const jwe = await encryptJwt(jws, publicJwk(key), { enc })
        assert.deepEqual(protectedHeader(jwe), { alg, enc, cty: 'JWT', kid: key.kid })
        assert.deepEqual((await decryptAndVerifyJwt(jwe, key, verifier)).claims, claims)
      }
    })
  }

  for (const crv of ['P-384', 'P-521', 'X25519'] as const) {
    it(`ECDH-ES and ECDH-ES+A256KW on ${crv}`, async () => {
      for (const alg of ['ECDH-ES', 'ECDH-ES+A256KW'] as const) {
        const key = generateEncryptionKey(alg, undefined, { crv })
        const jwe = await encryptJwt(jws, publicJwk(key))
        const epk = protectedHeader(jwe).epk as Record<string, unknown>
        assert.equal(epk.crv, crv)
        assert.equal(epk.d, undefined)
        assert.equal(await decryptJwt(jwe, key), jws)
      }
    })
  }
})

describe('JWE key forms and defaults', () => {
  it('generateEncryptionKey binds each key to its algorithm', () => {
    const ec = generateEncryptionKey('ECDH-ES+A128KW')
    assert.equal(ec.kty, 'EC')
    assert.equal(ec.crv, 'P-256')
    assert.equal(ec.alg, 'ECDH-ES+A128KW')
    assert.equal(ec.use, 'enc')
    assert.equal(typeof ec.kid, 'string')
    const kw = generateEncryptionKey('A192KW')
    assert.deepEqual([kw.kty, kw.alg, Buffer.from(kw.k!, 'base64url').length, kw.kid], ['oct', 'A192KW', 24, undefined])
    // A direct key is the content key: its `alg` names the cipher (RFC 7520 §5.6).
    const direct = generateEncryptionKey('dir', 'A192CBC-HS384')
    assert.deepEqual([direct.alg, Buffer.from(direct.k!, 'base64url').length], ['A192CBC-HS384', 48])
    assert.equal(Buffer.from(generateEncryptionKey('dir').k!, 'base64url').length, 32)
    assert.notEqual(generateEncryptionKey('A256KW').k, generateEncryptionKey('A256KW').k)
  })

  it('a dir key encrypts with the cipher it was made for', async () => {
    const key = generateEncryptionKey('dir', 'A128CBC-HS256')
    const jwe = await encryptJwt(jws, key)
    assert.deepEqual(protectedHeader(jwe), { alg: 'dir', enc: 'A128CBC-HS256', cty: 'JWT' })
    assert.equal(jwe.split('.')[1], '', 'dir has an empty encrypted key (RFC 7516 §5.1 step 5)')
    assert.equal(await decryptJwt(jwe, key), jws)
  })

  it('non-dir algorithms default to A256GCM', async () => {
    const key = generateEncryptionKey('A128GCMKW')
    const header = protectedHeader(await encryptJwt(jws, key))
    assert.equal(header.enc, 'A256GCM')
    assert.equal(typeof header.iv, 'string')
    assert.equal(typeof header.tag, 'string')
  })

  it('takes raw bytes for dir and AES key wrap, with the algorithm pinned', async () => {
    const secret = randomBytes(32)
    const jwe = await encryptJwt(jws, secret, { alg: 'A256KW', enc: 'A128GCM', kid: 'kw-1' })
    assert.deepEqual(protectedHeader(jwe), { alg: 'A256KW', enc: 'A128GCM', cty: 'JWT', kid: 'kw-1' })
    assert.equal(await decryptJwt(jwe, secret, { algorithms: ['A256KW'] }), jws)
    assert.equal(await decryptJwt(jwe, new Uint8Array(secret), { algorithms: ['A256KW'], encryptions: ['A128GCM'] }), jws)

    const direct = await encryptJwt(jws, secret, { alg: 'dir' })
    assert.equal(protectedHeader(direct).enc, 'A256GCM')
    assert.equal(await decryptJwt(direct, secret, { algorithms: ['dir'] }), jws)
  })

  it('takes KeyObjects: secret, private (encrypting to its public half), public', async () => {
    const jwk = generateEncryptionKey('ECDH-ES+A192KW')
    const privateKey = createPrivateKey({ key: jwk as never, format: 'jwk' })
    const publicKey = createPublicKey(privateKey)
    for (const encryptWith of [privateKey, publicKey]) {
      const jwe = await encryptJwt(jws, encryptWith, { alg: 'ECDH-ES+A192KW' })
      assert.equal(await decryptJwt(jwe, privateKey, { algorithms: ['ECDH-ES+A192KW'] }), jws)
      assert.equal(await decryptJwt(jwe, jwk), jws)
    }
    const secret = createSecretKey(randomBytes(16))
    const jwe = await encryptJwt(jws, secret, { alg: 'A128GCMKW', enc: 'A192GCM' })
    assert.equal(await decryptJwt(jwe, secret, { algorithms: ['A128GCMKW'] }), jws)
  })

  it('one key may be pinned to several compatible algorithms', async () => {
    const key = generateEncryptionKey('ECDH-ES')
    const { alg: _alg, ...unbound } = key
    const direct = await encryptJwt(jws, unbound, { alg: 'ECDH-ES' })
    const wrapped = await encryptJwt(jws, unbound, { alg: 'ECDH-ES+A256KW' })
    for (const jwe of [direct, wrapped]) {
      assert.equal(await decryptJwt(jwe, unbound, { algorithms: ['ECDH-ES', 'ECDH-ES+A256KW'] }), jws)
    }
  })

  it('every encryption is fresh (random CEK, IV and ephemeral key)', async () => {
    const key = generateEncryptionKey('ECDH-ES')
    const a = await encryptJwt(jws, key)
    const b = await encryptJwt(jws, key)
    assert.notEqual(a, b)
    assert.notDeepEqual(protectedHeader(a).epk, protectedHeader(b).epk)
  })
})
