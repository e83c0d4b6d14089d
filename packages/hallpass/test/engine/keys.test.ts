// Keys: import from every material form, generation, export (public forms never carry private
// members), RFC 7638 thumbprints (the default kid), and every refusal with ERR_KEY_INVALID.
import assert from 'node:assert/strict'
import { createPrivateKey, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import {
  computeJwkThumbprint,
  exportPem,
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  importKey,
  JWS_ALGORITHMS,
  signJws,
  verifyJws,
  type Jwk,
  type JwsAlgorithm,
  type JwsKey,
  type KeyMaterial,
} from '../../src/index.ts'
import { vectorPath } from './vectors/load.ts'

const VECTORS = vectorPath('.')
const readJson = <T>(path: string): T => JSON.parse(readFileSync(resolve(VECTORS, path), 'utf8')) as T

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const roundTrips = (signer: JwsKey, verifier: JwsKey): boolean => verifyJws(signJws('x', signer), verifier).payload.toString() === 'x'

// One key per algorithm, generated once (RSA is slow).
const generated = new Map<JwsAlgorithm, JwsKey>(JWS_ALGORITHMS.map((alg) => [alg, generateKey(alg)]))

describe('generateKey', () => {
  for (const alg of JWS_ALGORITHMS) {
    it(alg, () => {
      const key = generated.get(alg)!
      assert.equal(key.alg, alg)
      assert.equal(key.type, alg.startsWith('HS') ? 'secret' : 'private')
      assert.ok(Object.isFrozen(key))
      if (alg.startsWith('HS')) {
        assert.equal(key.publicKey, undefined)
        assert.equal(key.keyObject.symmetricKeySize, Number(alg.slice(2)) / 8)
        assert.equal(key.kid, computeJwkThumbprint(key.keyObject.export({ format: 'jwk' }) as Jwk))
      } else {
        assert.equal(key.publicKey!.type, 'public')
        // The default kid is the RFC 7638 thumbprint of the public key.
        assert.equal(key.kid, computeJwkThumbprint(exportPublicJwk(key)))
      }
      assert.ok(roundTrips(key, key))
    })
  }

  it('options: kid, RSA modulus length, Ed448', () => {
    assert.equal(generateKey('HS256', { kid: 'mine' }).kid, 'mine')
    assert.equal(generateKey('RS256', { modulusLength: 2304 }).keyObject.asymmetricKeyDetails?.modulusLength, 2304)
    assert.equal(generateKey('EdDSA', { crv: 'Ed448' }).keyObject.asymmetricKeyType, 'ed448')
    assert.equal(generateKey('EdDSA', { crv: 'Ed25519' }).keyObject.asymmetricKeyType, 'ed25519')
    assert.equal(generated.get('ES512')!.keyObject.asymmetricKeyDetails?.namedCurve, 'secp521r1')
  })

  it('refuses unknown algorithms and RSA sizes outside 2048-8192', () => {
    for (const alg of ['none', 'hs256', 'ES256K', '', undefined]) assert.throws(() => generateKey(alg as JwsAlgorithm), { code: 'ERR_KEY_INVALID' })
    for (const modulusLength of [1024, 2047, 8193, 2048.5, Number.NaN]) {
      assert.throws(() => generateKey('PS256', { modulusLength }), { code: 'ERR_KEY_INVALID' })
    }
    assert.throws(() => generateKey('HS256', { kid: '' }), { code: 'ERR_KEY_INVALID' })
  })
})

describe('importKey: every material form', () => {
  for (const alg of JWS_ALGORITHMS.filter((a) => !a.startsWith('HS'))) {
    it(`${alg}: KeyObject, PEM (PKCS#8/SPKI and legacy), JWK; private and public halves`, () => {
      const source = generated.get(alg)!
      const { publicPem, privatePem } = exportPem(source)
      const forms: Array<[string, KeyMaterial, 'private' | 'public']> = [
        ['private KeyObject', source.keyObject, 'private'],
        ['public KeyObject', source.publicKey!, 'public'],
        ['PKCS#8 PEM', privatePem!, 'private'],
        ['SPKI PEM', publicPem, 'public'],
        ['SPKI PEM with surrounding whitespace', `\n\n  ${publicPem}\n\t`, 'public'],
        ['private JWK', exportPrivateJwk(source), 'private'],
        ['public JWK', exportPublicJwk(source), 'public'],
      ]
      if (alg.startsWith('RS') || alg.startsWith('PS')) {
        forms.push(['PKCS#1 private PEM', source.keyObject.export({ format: 'pem', type: 'pkcs1' }), 'private'])
        forms.push(['PKCS#1 public PEM', source.publicKey!.export({ format: 'pem', type: 'pkcs1' }), 'public'])
      }
      if (alg.startsWith('ES')) forms.push(['SEC1 PEM', source.keyObject.export({ format: 'pem', type: 'sec1' }), 'private'])
      for (const [name, material, type] of forms) {
        const key = importKey(material, { alg })
        assert.equal(key.type, type, name)
        assert.equal(key.alg, alg, name)
        assert.equal(key.kid, source.kid, `${name}: same thumbprint kid`)
        assert.ok(roundTrips(type === 'private' ? key : source, key), name)
        if (type === 'public') assert.throws(() => signJws('x', key), { code: 'ERR_KEY_INVALID' }, name)
      }
    })
  }

  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    it(`${alg}: bytes, secret KeyObject, oct JWK`, () => {
      const source = generated.get(alg)!
      const raw = source.keyObject.export()
      for (const material of [raw, new Uint8Array(raw), source.keyObject, { kty: 'oct', k: raw.toString('base64url') }, exportPrivateJwk(source)]) {
        const key = importKey(material, { alg })
        assert.equal(key.kid, source.kid)
        assert.ok(roundTrips(source, key))
      }
      // A copy is taken: changing the caller's buffer later changes nothing.
      const bytes = Buffer.from(raw)
      const key = importKey(bytes, { alg, kid: 'copy' })
      bytes.fill(0)
      assert.ok(roundTrips(source, key))
    })
  }

  it('a JWK carries its own alg and kid; options override the kid, must agree on alg', () => {
    const jwk = exportPublicJwk(generated.get('ES256')!)
    assert.equal(importKey(jwk).alg, 'ES256')
    assert.equal(importKey(jwk).kid, jwk.kid)
    assert.equal(importKey(jwk, { kid: 'override' }).kid, 'override')
    assert.equal(importKey({ ...jwk, kid: undefined }).kid, computeJwkThumbprint(jwk))
    assert.throws(() => importKey(jwk, { alg: 'ES384' }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importKey({ ...jwk, alg: undefined }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importKey({ ...jwk, alg: 'ES256K' }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importKey({ ...jwk, alg: 7 } as unknown as Jwk), { code: 'ERR_KEY_INVALID' })
    assert.equal(importKey({ ...jwk, alg: undefined }, { alg: 'ES256' }).alg, 'ES256')
    assert.equal(importKey({ ...jwk, use: 'sig', key_ops: ['verify'] }).alg, 'ES256')
    const privateJwk = exportPrivateJwk(generated.get('ES256')!)
    assert.equal(importKey({ ...privateJwk, key_ops: ['sign'] }).type, 'private')
  })

  it('publicOnly refuses private and secret material in every form', () => {
    const ec = generated.get('ES256')!
    for (const material of [ec.keyObject, exportPem(ec).privatePem!, exportPrivateJwk(ec)]) {
      assert.throws(() => importKey(material, { alg: 'ES256', publicOnly: true }), { code: 'ERR_KEY_INVALID', reason: 'a public key was expected' })
    }
    assert.throws(() => importKey(new Uint8Array(32), { alg: 'HS256', publicOnly: true }), { code: 'ERR_KEY_INVALID' })
    assert.equal(importKey(exportPublicJwk(ec), { publicOnly: true }).type, 'public')
  })
})

describe('importKey: refusals', () => {
  const ec = generated.get('ES256')!
  const rsa = generated.get('RS256')!

  it('alg is required (unless a JWK carries it) and must be supported', () => {
    for (const material of [ec.keyObject, exportPem(ec).publicPem, new Uint8Array(32)] as KeyMaterial[]) {
      assert.throws(() => importKey(material), { code: 'ERR_KEY_INVALID', reason: '"alg" is required to import this key' })
      assert.throws(() => importKey(material, { alg: 'none' as JwsAlgorithm }), { code: 'ERR_KEY_INVALID', reason: '"alg" is not a supported JWS algorithm' })
    }
  })

  it('material of no known form', () => {
    for (const material of [null, undefined, 42, true, [], [exportPublicJwk(ec)], () => ec]) {
      assert.throws(() => importKey(material as unknown as KeyMaterial, { alg: 'ES256' }), { code: 'ERR_KEY_INVALID' })
    }
  })

  it('strings must be PEM that parses; raw bytes are only HMAC secrets', () => {
    for (const text of ['', 'not a key', JSON.stringify(exportPublicJwk(ec)), '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', '-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----']) {
      assert.throws(() => importKey(text, { alg: 'ES256' }), { code: 'ERR_KEY_INVALID' }, text)
    }
    const encrypted = ec.keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pass' }) as string
    assert.match(encrypted, /ENCRYPTED PRIVATE KEY/)
    assert.throws(() => importKey(encrypted, { alg: 'ES256' }), { code: 'ERR_KEY_INVALID', reason: 'PEM could not be parsed' })
    assert.throws(() => importKey(ec.publicKey!.export({ format: 'der', type: 'spki' }), { alg: 'ES256' }), { code: 'ERR_KEY_INVALID' })
  })

  it('a JWK must be an object of the algorithm\'s kty, usable for signatures', () => {
    const jwk = exportPublicJwk(ec)
    for (const bad of [
      { ...jwk, kty: 'RSA' }, { ...jwk, kty: 'OKP' }, { ...jwk, kty: undefined }, { ...jwk, use: 'enc' }, { ...jwk, key_ops: ['encrypt'] },
      { ...jwk, key_ops: 'verify' }, { ...jwk, key_ops: [1] }, { ...jwk, kid: 7 }, { ...jwk, x: undefined }, { ...jwk, x: 'AAAA' }, { ...jwk, crv: 'P-384' },
    ]) {
      assert.throws(() => importKey(bad as Jwk), { code: 'ERR_KEY_INVALID' }, JSON.stringify(bad))
    }
    assert.throws(() => importKey({ kty: 'oct', k: 'not base64url!' }, { alg: 'HS256' }), { code: 'ERR_KEY_INVALID', reason: 'the JWK "k" is not base64url' })
    assert.throws(() => importKey({ kty: 'oct', k: 12 } as unknown as Jwk, { alg: 'HS256' }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importKey({ kty: 'oct' }, { alg: 'HS256' }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importKey({ ...exportPublicJwk(rsa), d: 'AAAA' }), { code: 'ERR_KEY_INVALID', reason: 'the JWK could not be imported' })
  })

  it('RSA: plain RSA keys only (no id-RSASSA-PSS), 2048-8192 bits', () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
    for (const material of [pss.privateKey, pss.publicKey, pss.publicKey.export({ format: 'pem', type: 'spki' }) as string]) {
      for (const alg of ['PS256', 'RS256'] as const) {
        assert.throws(() => importKey(material, { alg }), { code: 'ERR_KEY_INVALID' })
      }
    }
    assert.throws(() => importKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, { alg: 'RS256' }), { code: 'ERR_KEY_INVALID', reason: 'RSA modulus of 1024 bits is shorter than 2048' })
    assert.throws(() => importKey(generateKeyPairSync('x25519').publicKey, { alg: 'RS256' }), { code: 'ERR_KEY_INVALID', reason: 'RS256 needs an RSA key' })
  })

  it('kid: 1-256 printable characters', () => {
    for (const kid of ['', 'k'.repeat(257), 'tab\there', 'nul\u0000', 'del\u007f', '\u001b[31m']) {
      assert.throws(() => importKey(new Uint8Array(32), { alg: 'HS256', kid }), { code: 'ERR_KEY_INVALID' }, JSON.stringify(kid))
    }
    for (const kid of ['k'.repeat(256), 'é😀', ' spaced ', '../x']) assert.equal(importKey(new Uint8Array(32), { alg: 'HS256', kid }).kid, kid)
  })
})

describe('export', () => {
  it('public JWKs never carry private members, and carry kid, alg, use', () => {
    for (const alg of JWS_ALGORITHMS.filter((a) => !a.startsWith('HS'))) {
      const key = generated.get(alg)!
      const jwk = exportPublicJwk(key)
      for (const member of PRIVATE_MEMBERS) assert.equal(jwk[member], undefined, `${alg}.${member}`)
      assert.equal(jwk.kid, key.kid)
      assert.equal(jwk.alg, alg)
      assert.equal(jwk.use, 'sig')
      assert.deepEqual(exportPublicJwk(importKey(key.publicKey!, { alg, kid: key.kid })), jwk)
    }
  })

  it('secret keys have no public form and no PEM', () => {
    const hs = generated.get('HS256')!
    assert.throws(() => exportPublicJwk(hs), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => exportPem(hs), { code: 'ERR_KEY_INVALID' })
    const jwk = exportPrivateJwk(hs)
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'k', 'kid', 'kty', 'use'])
    assert.deepEqual(Buffer.from(jwk.k!, 'base64url'), hs.keyObject.export())
  })

  it('private JWK and PEM round-trip; public keys have no private export', () => {
    const ec = generated.get('ES384')!
    const jwk = exportPrivateJwk(ec)
    assert.ok(jwk.d)
    assert.equal(importKey(jwk).kid, ec.kid)
    const { publicPem, privatePem } = exportPem(ec)
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/)
    assert.match(privatePem!, /^-----BEGIN PRIVATE KEY-----\n/)
    const pub = importKey(publicPem, { alg: 'ES384' })
    assert.throws(() => exportPrivateJwk(pub), { code: 'ERR_KEY_INVALID' })
    assert.deepEqual(exportPem(pub), { publicPem, privatePem: undefined })
  })
})

describe('computeJwkThumbprint (RFC 7638)', () => {
  it('RFC 7638 §3.1 example', () => {
    const jwk = readJson<Jwk>('latchset-jose/rfc7638_3.1.jwk')
    const expected = readFileSync(resolve(VECTORS, 'latchset-jose/rfc7638_3.1.thp'), 'utf8').trim()
    assert.equal(expected, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
    assert.equal(computeJwkThumbprint(jwk), expected)
    // Extra and private members change nothing; order of members changes nothing.
    assert.equal(computeJwkThumbprint({ kid: 'x', alg: 'RS256', ...jwk, d: 'secret' }), expected)
    assert.equal(importKey(jwk, { alg: 'RS256' }).kid, jwk.kid ?? expected)
    assert.equal(importKey({ ...jwk, kid: undefined }, { alg: 'RS256' }).kid, expected)
  })

  it('RFC 8037 §A.3 Ed25519 example', () => {
    assert.equal(computeJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k')
  })

  it('EC and oct use their required members', () => {
    const jwk = exportPublicJwk(generated.get('ES256')!)
    assert.equal(computeJwkThumbprint(jwk), computeJwkThumbprint({ y: jwk.y, x: jwk.x, kty: 'EC', crv: 'P-256' }))
    assert.notEqual(computeJwkThumbprint(jwk), computeJwkThumbprint({ ...jwk, crv: 'P-384' }))
    assert.equal(computeJwkThumbprint({ kty: 'oct', k: 'AAAA' }).length, 43)
  })

  it('refuses unknown kty and missing or non-string members', () => {
    for (const jwk of [{}, { kty: 'DSA' }, { kty: 'toString' }, { kty: 1 }, { kty: 'EC', crv: 'P-256', x: 'a' }, { kty: 'RSA', n: 'a', e: 1 }, { kty: 'oct' }]) {
      assert.throws(() => computeJwkThumbprint(jwk as Jwk), { code: 'ERR_KEY_INVALID' }, JSON.stringify(jwk))
    }
  })
})

describe('KeyObject imports from node:crypto', () => {
  it('an HMAC secret KeyObject is taken, an asymmetric one only for its own family', () => {
    const secret: KeyObject = createSecretKey(Buffer.alloc(48, 3))
    assert.equal(importKey(secret, { alg: 'HS384' }).type, 'secret')
    assert.throws(() => importKey(secret, { alg: 'ES256' }), { code: 'ERR_KEY_INVALID' })
    const ed = createPrivateKey(exportPem(generated.get('EdDSA')!).privatePem!)
    assert.equal(importKey(ed, { alg: 'EdDSA' }).kid, generated.get('EdDSA')!.kid)
    assert.throws(() => importKey(ed, { alg: 'HS256' }), { code: 'ERR_KEY_INVALID' })
  })
})
