// The attack catalogue (docs/security.md) as tests: one describe per class that applies to the
// engine, each building the exact malicious token the catalogue describes and asserting the
// refusal and its `code`. Tokens are genuinely signed wherever a signature matters, so each test
// proves the check named in it, not an earlier accident.
import assert from 'node:assert/strict'
import { constants, createHash, createHmac, createSecretKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import * as jose from 'jose'
import {
  createJwtVerifier,
  createKeyring,
  exportPem,
  exportPublicJwk,
  generateKey,
  importJwks,
  importKey,
  isHallpassError,
  signJwt,
  verifyJws,
  type HallpassErrorCode,
  type Jwk,
  type JwkSet,
  type JwsKey,
  type JwtVerifierOptions,
  type KeyResolver,
} from '../../src/index.ts'
import { vectorPath } from './vectors/load.ts'

const VECTORS = vectorPath('.')
const readVector = (path: string): string => readFileSync(resolve(VECTORS, path), 'utf8')

const NOW = 1_800_000_000
const now = (): number => NOW * 1000
const CLAIMS = { iss: 'https://issuer.example', sub: 'user-1', aud: 'api', iat: NOW, exp: NOW + 600 }

const b64 = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const json = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value))
const segment = (value: unknown): string => b64(json(value))

/** HMAC over `h.p` with arbitrary key bytes: what an attacker computes. */
function hmacToken(secret: Uint8Array | string, header: unknown, payload: unknown = CLAIMS, hash = 'sha256'): string {
  const input = `${segment(header)}.${segment(payload)}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

/** A genuine signature by `key` over any header/payload text (a key holder can sign anything). */
function signedBy(key: JwsKey, header: unknown, payload: unknown = CLAIMS): string {
  const input = `${segment(header)}.${segment(payload)}`
  return `${input}.${rawSign(key, input).toString('base64url')}`
}

function rawSign(key: JwsKey, input: string): Buffer {
  const data = Buffer.from(input, 'latin1')
  const bits = key.alg.slice(2)
  switch (key.alg.slice(0, 2)) {
    case 'HS': return createHmac(`sha${bits}`, key.keyObject).update(data).digest()
    case 'RS': return sign(`sha${bits}`, data, { key: key.keyObject, padding: constants.RSA_PKCS1_PADDING })
    case 'PS': return sign(`sha${bits}`, data, { key: key.keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 })
    case 'ES': return sign(`sha${bits}`, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' })
    default: return sign(null, data, key.keyObject)
  }
}

const headerFor = (key: JwsKey, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...extra })

/** Asserts `run` throws a HallpassError with `code` (and the given fields). */
function rejects(run: () => unknown, code: HallpassErrorCode, fields: Record<string, unknown> = {}): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isHallpassError(error), `expected a HallpassError ${code}, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    for (const [name, value] of Object.entries(fields)) assert.deepEqual((error as unknown as Record<string, unknown>)[name], value, `error.${name}`)
    return true
  })
}

const verifier = (keys: JwsKey | KeyResolver, options: Partial<JwtVerifierOptions> = {}): ((token: string) => unknown) =>
  createJwtVerifier({ keys, now, ...options })

const publicOf = (key: JwsKey): JwsKey => importKey(key.publicKey!, { alg: key.alg, kid: key.kid })

// The victim's keys: an issuer signs with these and publishes the public halves.
const rsa = generateKey('RS256', { kid: 'rsa-1' })
const ec = generateKey('ES256', { kid: 'ec-1' })
const ed = generateKey('EdDSA', { kid: 'ed-1' })
const hmac = generateKey('HS256', { kid: 'hs-1' })
const rsaPublic = publicOf(rsa)
const ecPublic = publicOf(ec)
const edPublic = publicOf(ed)

// Sanity: every key here verifies its own genuine token, so each refusal below is the attack's.
describe('baseline: genuine tokens verify', () => {
  for (const key of [rsa, ec, ed, hmac]) {
    it(key.alg, () => {
      const keys = key.type === 'secret' ? key : publicOf(key)
      assert.equal((verifier(keys)(signJwt(CLAIMS, key)) as { claims: { sub: string } }).claims.sub, 'user-1')
      assert.equal((verifier(keys)(signedBy(key, headerFor(key))) as { claims: { sub: string } }).claims.sub, 'user-1')
    })
  }
})

describe('A1: alg "none" (Unsecured JWS)', () => {
  const keyring = createKeyring([hmac])
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    for (const typ of [undefined, 'JWT', 'at+jwt']) {
      const header = segment(typ === undefined ? { alg } : { alg, typ })
      const payload = segment(CLAIMS)
      const genuine = signJwt(CLAIMS, hmac).split('.')[2]!
      it(`${alg} (typ ${String(typ)}): empty, missing and left-over signatures`, () => {
        for (const keys of [hmac, keyring, rsaPublic]) {
          rejects(() => verifier(keys)(`${header}.${payload}.`), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
          rejects(() => verifier(keys)(`${header}.${payload}.${genuine}`), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
          rejects(() => verifyJws(`${header}.${payload}.`, keys), 'ERR_JWS_ALG_NOT_ALLOWED')
          // Two segments is not a compact JWS at all: refused before anything is decoded.
          rejects(() => verifier(keys)(`${header}.${payload}`), 'ERR_JWT_MALFORMED')
        }
      })
    }
  }

  it('RFC 7515 A.5 (latchset vector) and "none" named in the allowlist', () => {
    const token = readVector('latchset-jose/rfc7515_A.5.jwsc').trim()
    rejects(() => verifyJws(token, hmac), 'ERR_JWS_ALG_NOT_ALLOWED', { alg: 'none' })
    rejects(() => verifier(hmac, { typ: false, requiredClaims: [] })(token), 'ERR_JWS_ALG_NOT_ALLOWED')
    rejects(() => createJwtVerifier({ keys: hmac, algorithms: ['none' as 'HS256'] }), 'ERR_CONFIG_INVALID', { path: 'algorithms' })
    rejects(() => generateKey('none' as 'HS256'), 'ERR_KEY_INVALID')
    rejects(() => importKey(new Uint8Array(32), { alg: 'none' as 'HS256' }), 'ERR_KEY_INVALID')
  })

  it('a header without alg, or with a non-string alg, is refused the same way', () => {
    for (const header of [{}, { alg: null }, { alg: 0 }, { alg: ['HS256'] }, { alg: { HS256: true } }, { alg: '' }, { alg: 'HS256 ' }, { alg: 'hs256' }]) {
      rejects(() => verifier(hmac)(hmacToken(hmac.keyObject.export(), header)), 'ERR_JWS_ALG_NOT_ALLOWED')
    }
  })
})

describe('A2: asymmetric → HMAC confusion (public key bytes as the HMAC secret)', () => {
  const rfcRsa = importKey(JSON.parse(readVector('rfc7520/jwk/3_3.rsa_public_key.json')) as Jwk, { alg: 'RS256' })

  // Every form in which a public key can be held as bytes or text (docs/security.md A2).
  function publicForms(key: JwsKey): Record<string, Buffer> {
    const pub = key.publicKey!
    const spki = pub.export({ format: 'pem', type: 'spki' }) as string
    const jwk = exportPublicJwk(key)
    const forms: Record<string, Buffer> = {
      'SPKI PEM with trailing newline': Buffer.from(spki),
      'SPKI PEM without trailing newline': Buffer.from(spki.trimEnd()),
      'SPKI PEM with leading whitespace': Buffer.from(`\n  ${spki}`),
      'SPKI PEM with CRLF line ends': Buffer.from(spki.replace(/\n/g, '\r\n')),
      'SPKI DER': pub.export({ format: 'der', type: 'spki' }),
      'JWK JSON string': Buffer.from(JSON.stringify(jwk)),
      'JWK JSON string (Node export)': Buffer.from(JSON.stringify(pub.export({ format: 'jwk' }))),
      'exportPem output': Buffer.from(exportPem(key).publicPem),
    }
    if (jwk.kty === 'RSA') {
      forms['PKCS#1 PEM'] = Buffer.from(pub.export({ format: 'pem', type: 'pkcs1' }) as string)
      forms['PKCS#1 DER'] = pub.export({ format: 'der', type: 'pkcs1' })
      forms['raw modulus'] = Buffer.from(jwk.n!, 'base64url')
    }
    if (jwk.kty === 'EC') {
      const x = Buffer.from(jwk.x!, 'base64url')
      const y = Buffer.from(jwk.y!, 'base64url')
      forms['raw x‖y'] = Buffer.concat([x, y])
      forms['uncompressed point 04‖x‖y'] = Buffer.concat([Buffer.from([4]), x, y])
    }
    if (jwk.kty === 'OKP') forms['raw public key x'] = Buffer.from(jwk.x!, 'base64url')
    return forms
  }

  for (const [name, victim] of [['RS256 (RFC 7520 §3.3 key)', rfcRsa], ['RS256', rsaPublic], ['ES256', ecPublic], ['EdDSA', edPublic]] as const) {
    it(`${name} → HS256/384/512 with the public key in every form`, () => {
      const keyring = createKeyring([victim])
      let forms = 0
      for (const [form, secret] of Object.entries(publicForms(victim))) {
        for (const [alg, hash] of [['HS256', 'sha256'], ['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
          forms++
          const withKid = hmacToken(secret, { alg, kid: victim.kid, typ: 'at+jwt' }, CLAIMS, hash)
          const withoutKid = hmacToken(secret, { alg, typ: 'at+jwt' }, CLAIMS, hash)
          // The kid finds the asymmetric key, whose one algorithm is not HS*.
          rejects(() => verifier(keyring)(withKid), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
          rejects(() => verifier(victim)(withKid), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
          rejects(() => verifier(victim)(withoutKid), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
          // Without a kid, no key of the keyring is for HS*: nothing to verify with.
          rejects(() => verifier(keyring)(withoutKid), 'ERR_JWKS_NO_MATCHING_KEY')
          rejects(() => verifyJws(withKid, keyring), 'ERR_JWS_ALG_NOT_ALLOWED')
          // An allowlist naming HS256 changes nothing: the key decides, not the list.
          rejects(() => verifier(keyring, { algorithms: [alg] })(withKid), 'ERR_JWS_ALG_NOT_ALLOWED')
          assert.ok(form.length > 0)
        }
      }
      assert.ok(forms >= 18)
    })
  }

  it('importKey refuses public-key text and wrong-kty JWKs as HMAC secrets', () => {
    for (const victim of [rsaPublic, ecPublic, edPublic]) {
      const spki = victim.publicKey!.export({ format: 'pem', type: 'spki' }) as string
      const jwk = exportPublicJwk(victim)
      for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
        for (const text of [spki, spki.trimEnd(), `\n\t ${spki}`, JSON.stringify(jwk), 'a'.repeat(64)]) {
          rejects(() => importKey(text, { alg }), 'ERR_KEY_INVALID')
        }
        rejects(() => importKey(jwk, { alg }), 'ERR_KEY_INVALID')
        rejects(() => importKey({ ...jwk, alg }), 'ERR_KEY_INVALID')
        rejects(() => importKey({ ...jwk, alg: undefined, kid: undefined, use: undefined }, { alg }), 'ERR_KEY_INVALID')
        rejects(() => importKey(victim.publicKey!, { alg }), 'ERR_KEY_INVALID')
      }
    }
    rejects(() => importKey(rsaPublic.publicKey!.export({ format: 'pem', type: 'pkcs1' }), { alg: 'HS256' }), 'ERR_KEY_INVALID')
    rejects(() => importKey(rsa.keyObject, { alg: 'HS256' }), 'ERR_KEY_INVALID')
  })

  it('a keyring (or JWKS) never holds an HMAC secret next to public keys', () => {
    const pemSecret = importKey(Buffer.from(exportPem(rsa).publicPem), { alg: 'HS256', kid: 'pem-as-secret' })
    rejects(() => createKeyring([rsaPublic, pemSecret]), 'ERR_KEY_INVALID')
    rejects(() => createKeyring([{ key: pemSecret, state: 'active' }, { key: ecPublic, state: 'retired' }]), 'ERR_KEY_INVALID')
    const mixed: JwkSet = { keys: [exportPublicJwk(ec), { kty: 'oct', kid: 'aes', alg: 'HS256', k: b64(Buffer.alloc(32, 7)) }] }
    rejects(() => importJwks(mixed), 'ERR_KEY_INVALID')
    rejects(() => importJwks(mixed, { allowPrivate: true }), 'ERR_KEY_INVALID')
  })

  it('the header alg never picks the key: a kid of an ES256 key with an RS256/ES384/EdDSA header', () => {
    const keyring = createKeyring([ecPublic, { key: publicOf(generateKey('ES384', { kid: 'ec-384' })), state: 'retired' }])
    const attacker = { RS256: rsa, ES384: generateKey('ES384'), EdDSA: ed, PS256: generateKey('PS256') }
    for (const [alg, key] of Object.entries(attacker)) {
      rejects(() => verifier(keyring)(signedBy(key, { alg, kid: 'ec-1', typ: 'at+jwt' })), 'ERR_JWS_ALG_NOT_ALLOWED', { alg })
    }
  })
})

describe('A3: empty, falsy or short HMAC secrets', () => {
  it('importKey refuses empty and short secrets in every form', () => {
    for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
      for (const material of [new Uint8Array(0), Buffer.alloc(0), new Uint8Array(bytes - 1), Buffer.alloc(1)]) {
        rejects(() => importKey(material, { alg }), 'ERR_KEY_INVALID')
      }
      rejects(() => importKey(createSecretKey(Buffer.alloc(bytes - 1, 1)), { alg }), 'ERR_KEY_INVALID')
      rejects(() => importKey({ kty: 'oct', k: '' }, { alg }), 'ERR_KEY_INVALID')
      rejects(() => importKey({ kty: 'oct', k: b64(Buffer.alloc(bytes - 1, 1)), alg }), 'ERR_KEY_INVALID')
      rejects(() => importKey('', { alg }), 'ERR_KEY_INVALID')
      rejects(() => importKey('x'.repeat(bytes * 2), { alg }), 'ERR_KEY_INVALID')
      // The smallest acceptable secret is exactly the hash length (RFC 7518 §3.2).
      assert.equal(importKey(new Uint8Array(bytes).fill(1), { alg }).alg, alg)
    }
  })

  it('falsy and ill-typed key material is refused, never turned into "no check"', () => {
    for (const material of [undefined, null, false, 0, 1, '', [], () => 'secret', Symbol('k')]) {
      rejects(() => importKey(material as unknown as Uint8Array, { alg: 'HS256' }), 'ERR_KEY_INVALID')
    }
  })

  it('HS256 signed with the empty key and an unknown kid', () => {
    const keyring = createKeyring([hmac])
    rejects(() => verifier(keyring)(hmacToken('', { alg: 'HS256', kid: 'does-not-exist', typ: 'at+jwt' })), 'ERR_JWKS_NO_MATCHING_KEY', { kid: 'does-not-exist' })
    rejects(() => verifier(hmac)(hmacToken('', { alg: 'HS256', kid: 'hs-1', typ: 'at+jwt' })), 'ERR_JWS_SIGNATURE_INVALID')
    rejects(() => verifier(keyring)(hmacToken('secret', { alg: 'HS256', kid: 'hs-1', typ: 'at+jwt' })), 'ERR_JWS_SIGNATURE_INVALID')
  })

  it('a resolver that yields nothing, or anything but an imported key, is a hard failure', () => {
    const emptyKeyToken = hmacToken('', { alg: 'HS256', kid: 'k', typ: 'at+jwt' })
    const genuine = signJwt(CLAIMS, hmac)
    const handBuilt = { kid: 'hs-1', alg: 'HS256', type: 'secret', keyObject: createSecretKey(Buffer.alloc(32)), publicKey: undefined }
    const results: unknown[] = [undefined, null, '', 0, false, Buffer.alloc(0), new Uint8Array(0), {}, [], handBuilt, { ...handBuilt, keyObject: hmac.keyObject }, Promise.resolve(hmac), hmac.keyObject]
    for (const result of results) {
      const resolver = { resolveVerifyKey: () => result } as unknown as KeyResolver
      for (const token of [emptyKeyToken, genuine]) {
        rejects(() => verifier(resolver)(token), 'ERR_JWKS_NO_MATCHING_KEY')
        rejects(() => verifyJws(token, resolver), 'ERR_JWKS_NO_MATCHING_KEY')
      }
    }
    // Not a key and not a resolver at all: refused when the verifier is built, and per call by
    // the one-shot verifyJws.
    for (const keys of [handBuilt, {}, { resolveVerifyKey: 'hs-1' }, hmac.keyObject, undefined, null, '', 'secret', Buffer.alloc(32)]) {
      rejects(() => verifyJws(genuine, keys as unknown as KeyResolver), 'ERR_KEY_INVALID')
      rejects(() => createJwtVerifier({ keys: keys as unknown as KeyResolver }), 'ERR_CONFIG_INVALID', { path: 'keys' })
    }
    // A resolver that throws its own error: the error propagates, nothing verifies.
    const boom = new Error('lookup failed')
    assert.throws(() => verifier({ resolveVerifyKey: () => { throw boom } })(genuine), (e) => e === boom)
  })

  it('generated secrets come from the CSPRNG, as long as the hash', () => {
    for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
      const a = generateKey(alg).keyObject.export()
      const b = generateKey(alg).keyObject.export()
      assert.equal(a.length, bytes)
      assert.notDeepEqual(a, b)
    }
  })
})

describe('A4: wrong key type, curve, use or strength for the algorithm', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const ed25519 = generateKeyPairSync('ed25519')
  const x25519 = generateKeyPairSync('x25519')
  const rsaPair = { privateKey: rsa.keyObject, publicKey: rsa.publicKey! }

  it('key type and curve must fit the algorithm at import', () => {
    const wrong: Array<[string, KeyObject]> = [
      ['ES256', p384.publicKey], ['ES256', p384.privateKey], ['ES256', rsaPair.publicKey], ['ES256', k256.publicKey], ['ES256', ed25519.publicKey],
      ['ES384', p256.publicKey], ['ES512', p384.publicKey], ['EdDSA', p256.publicKey], ['EdDSA', x25519.publicKey], ['EdDSA', rsaPair.publicKey],
      ['RS256', p256.publicKey], ['PS256', ed25519.publicKey], ['HS256', p256.privateKey],
    ]
    for (const [alg, key] of wrong) rejects(() => importKey(key, { alg: alg as 'ES256' }), 'ERR_KEY_INVALID')
    for (const [alg, key] of wrong) {
      if (key.type === 'public') rejects(() => importKey(key.export({ format: 'jwk' }), { alg: alg as 'ES256' }), 'ERR_KEY_INVALID')
    }
  })

  it('an ES256 token against a P-384 key (and every other alg/key mismatch) is refused', () => {
    const es384 = generateKey('ES384', { kid: 'shared' })
    const es256 = generateKey('ES256', { kid: 'shared' })
    rejects(() => verifier(publicOf(es384))(signJwt(CLAIMS, es256)), 'ERR_JWS_ALG_NOT_ALLOWED', { alg: 'ES256' })
    rejects(() => verifier(rsaPublic)(signJwt(CLAIMS, es256)), 'ERR_JWS_ALG_NOT_ALLOWED')
    // A P-384 signature under an "ES256" header (96 bytes): refused by the key binding.
    rejects(() => verifier(publicOf(es384))(signedBy(es384, { alg: 'ES256', kid: 'shared', typ: 'at+jwt' })), 'ERR_JWS_ALG_NOT_ALLOWED')
    // RSA keys serve one of RS*/PS*: an RS256 key refuses PS256 and RS512 tokens.
    const ps = importKey(rsa.keyObject, { alg: 'PS256', kid: 'rsa-1' })
    rejects(() => verifier(rsaPublic)(signJwt(CLAIMS, ps)), 'ERR_JWS_ALG_NOT_ALLOWED', { alg: 'PS256' })
    rejects(() => verifier(rsaPublic)(signedBy(importKey(rsa.keyObject, { alg: 'RS512', kid: 'rsa-1' }), { alg: 'RS512', kid: 'rsa-1', typ: 'at+jwt' })), 'ERR_JWS_ALG_NOT_ALLOWED')
  })

  it('"use" and "key_ops" other than signatures are refused', () => {
    const jwk = exportPublicJwk(ec)
    for (const bad of [{ use: 'enc' }, { use: 'SIG' }, { use: '' }, { key_ops: ['encrypt'] }, { key_ops: ['wrapKey', 'deriveKey'] }, { key_ops: [] }, { key_ops: 'verify' }, { key_ops: [1] }]) {
      rejects(() => importKey({ ...jwk, ...bad } as Jwk), 'ERR_KEY_INVALID')
    }
    assert.equal(importKey({ ...jwk, key_ops: ['verify'] }).alg, 'ES256')
    // A public key whose key_ops only allow signing cannot verify anything.
    rejects(() => importKey({ ...jwk, key_ops: ['sign'] }), 'ERR_KEY_INVALID')
    const keyring = importJwks({ keys: [{ ...jwk, kid: 'enc', use: 'enc' }, { ...exportPublicJwk(ed), kid: 'ops', key_ops: ['encrypt'] }] })
    assert.equal(keyring.entries.length, 0)
    assert.deepEqual(keyring.rejected.map((r) => r.kid), ['enc', 'ops'])
  })

  it('weak RSA keys: 1024-bit, e = 1, even e, ROCA, over 8192 bits (Wycheproof json_web_key_test 7, 8, 9)', () => {
    const wycheproof = JSON.parse(readVector('wycheproof/testvectors_v1/json_web_key_test.json')) as {
      testGroups: Array<{ public?: JwkSet; tests: Array<{ tcId: number }> }>
    }
    const keyOf = (tcId: number): Jwk => wycheproof.testGroups.find((g) => g.tests.some((t) => t.tcId === tcId))!.public!.keys[0]!
    const reasons = [7, 8, 9].map((tcId) => {
      try {
        importKey(keyOf(tcId))
        return 'accepted'
      } catch (error) {
        assert.ok(isHallpassError(error, 'ERR_KEY_INVALID'))
        return error.reason
      }
    })
    assert.match(reasons[0]!, /ROCA/)
    assert.match(reasons[1]!, /1024 bits/)
    assert.match(reasons[2]!, /exponent/)
    const jwk = rsa.publicKey!.export({ format: 'jwk' }) as Jwk
    rejects(() => importKey({ ...jwk, e: 'Ag' }, { alg: 'RS256' }), 'ERR_KEY_INVALID') // e = 2
    rejects(() => importKey({ ...jwk, e: 'AQ' }, { alg: 'RS256' }), 'ERR_KEY_INVALID') // e = 1
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
    rejects(() => importKey(small.publicKey, { alg: 'RS256' }), 'ERR_KEY_INVALID')
    rejects(() => importKey(small.privateKey, { alg: 'PS256' }), 'ERR_KEY_INVALID')
    // A public JWK with an 8200-bit modulus: refused before any verification can cost CPU.
    const huge = Buffer.alloc(1025, 0xff)
    huge[0] = 0xff
    huge[huge.length - 1] = 0xfb
    rejects(() => importKey({ kty: 'RSA', n: b64(huge), e: 'AQAB' }, { alg: 'RS256' }), 'ERR_KEY_INVALID')
    rejects(() => generateKey('RS256', { modulusLength: 1024 }), 'ERR_KEY_INVALID')
  })

  it('private members in a JWKS meant to be public are refused (listed, not imported)', () => {
    const keyring = importJwks({ keys: [{ ...(ec.keyObject.export({ format: 'jwk' }) as Jwk), kid: 'leaked', alg: 'ES256' }] })
    assert.equal(keyring.entries.length, 0)
    assert.deepEqual(keyring.rejected, [{ kid: 'leaked', reason: 'a public key was expected' }])
  })
})

describe('A5: keys or key URLs taken from the token (jwk, jku, x5u, x5c)', () => {
  const attacker = generateKey('RS256', { kid: 'rsa-1' })
  const attackerJwk = exportPublicJwk(attacker)
  const keyring = createKeyring([rsaPublic])
  const headers: Array<[string, Record<string, unknown>]> = [
    ['jwk', { jwk: attackerJwk }],
    ['jwk', { jwk: { kty: 'oct', k: b64(Buffer.alloc(32)) } }],
    ['jku', { jku: 'https://attacker.example/jwks.json' }],
    ['jku', { jku: 'https://trusted.example/redirect?to=https://attacker.example/jwks.json' }],
    ['jku', { jku: 'http://169.254.169.254/latest/meta-data/' }],
    ['jku', { jku: 'file:///etc/passwd' }],
    ['jku', { jku: 'https://trusted.example@attacker.example/' }],
    ['jku', { jku: '' }],
    ['x5u', { x5u: 'https://attacker.example/cert.pem' }],
    ['x5c', { x5c: [rsa.publicKey!.export({ format: 'der', type: 'spki' }).toString('base64')] }],
    ['x5c', { x5c: [] }],
  ]

  it('each is refused with ERR_JWS_HEADER_UNSUPPORTED, signed by the attacker or by the issuer', () => {
    for (const [parameter, extra] of headers) {
      const forged = signedBy(attacker, headerFor(attacker, extra))
      const genuine = signedBy(rsa, headerFor(rsa, extra))
      for (const token of [forged, genuine]) {
        rejects(() => verifier(keyring)(token), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter })
        rejects(() => verifier(rsaPublic)(token), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter })
        rejects(() => verifyJws(token, keyring), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter })
      }
    }
  })

  it('no network is touched: verification is synchronous and opens no socket or request', async () => {
    const seen: string[] = []
    const channels = ['undici:request:create', 'net.client.socket', 'http.client.request.start']
    const listeners = channels.map((name) => {
      const listener = (): void => { seen.push(name) }
      diagnosticsChannel.subscribe(name, listener)
      return [name, listener] as const
    })
    try {
      for (const [, extra] of headers) {
        const token = signedBy(attacker, headerFor(attacker, extra))
        let returned: unknown = 'nothing'
        try {
          returned = verifier(keyring)(token)
        } catch (error) {
          assert.ok(isHallpassError(error))
        }
        assert.equal(returned, 'nothing')
      }
      // Anything scheduled asynchronously would have had its chance to start by now.
      await new Promise((done) => setTimeout(done, 20))
      assert.deepEqual(seen, [])
    } finally {
      for (const [name, listener] of listeners) diagnosticsChannel.unsubscribe(name, listener)
    }
  })
})

describe('A6: kid tricks', () => {
  const keyring = createKeyring([hmac, { key: generateKey('HS256', { kid: 'k2' }), state: 'retired' }])
  const tricks = [
    '../../../../../../dev/null', '/proc/sys/kernel/randomize_va_space', "x' UNION SELECT 'AAAA'-- ", 'key1|id', '$(curl attacker.example)',
    '`id`', 'hs-1\u0000', '\u0000hs-1', 'hs-1 ', ' hs-1', 'HS-1', 'hs-1\n', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'ｈｓ-1',
  ]

  it('string kids are exact lookups: anything but a trusted kid is unknown, whatever the secret', () => {
    for (const kid of tricks) {
      for (const secret of ['', 'AAAA', '2\n', hmac.keyObject.export()]) {
        const token = hmacToken(secret, { alg: 'HS256', kid, typ: 'at+jwt' })
        rejects(() => verifier(keyring)(token), 'ERR_JWKS_NO_MATCHING_KEY', { kid })
      }
    }
  })

  it('non-string, empty and oversized kids are malformed', () => {
    for (const kid of [{}, [], 123, 0, null, true, ['hs-1'], { toString: 'hs-1' }, '', 'k'.repeat(257)]) {
      rejects(() => verifier(keyring)(hmacToken(hmac.keyObject.export(), { alg: 'HS256', kid, typ: 'at+jwt' })), 'ERR_JWT_MALFORMED')
    }
    // A 10 kB kid: over the default size limit before anything is decoded, and malformed when
    // the limit is raised.
    const long = hmacToken(hmac.keyObject.export(), { alg: 'HS256', kid: 'k'.repeat(10_240), typ: 'at+jwt' })
    rejects(() => verifier(keyring)(long), 'ERR_JWT_TOO_LARGE')
    rejects(() => verifier(keyring, { maxTokenBytes: 65_536 })(long), 'ERR_JWT_MALFORMED')
    // A kid of exactly 256 characters is a legal (unknown) kid.
    rejects(() => verifier(keyring)(hmacToken('', { alg: 'HS256', kid: 'k'.repeat(256), typ: 'at+jwt' })), 'ERR_JWKS_NO_MATCHING_KEY')
  })

  it('keys themselves cannot carry such kids', () => {
    for (const kid of ['', 'k'.repeat(257), 'a\u0000b', 'line\nbreak', 'del\u007f']) {
      rejects(() => importKey(new Uint8Array(32), { alg: 'HS256', kid }), 'ERR_KEY_INVALID')
    }
    rejects(() => importKey({ kty: 'oct', k: b64(Buffer.alloc(32)), kid: 7 as unknown as string }, { alg: 'HS256' }), 'ERR_KEY_INVALID')
  })

  it('a kid present twice in a JWKS or keyring is refused whole (Wycheproof rejectsDuplicateKid)', () => {
    const a = exportPublicJwk(ec)
    const b = exportPublicJwk(generateKey('ES256', { kid: 'ec-1' }))
    rejects(() => importJwks({ keys: [a, b] }), 'ERR_KEY_INVALID')
    rejects(() => createKeyring([ecPublic, publicOf(generateKey('ES256', { kid: 'ec-1' }))]), 'ERR_KEY_INVALID')
  })

  it('without a kid, a key is chosen only when exactly one could apply', () => {
    const token = signedBy(hmac, { alg: 'HS256', typ: 'at+jwt' })
    rejects(() => verifier(keyring)(token), 'ERR_JWKS_NO_MATCHING_KEY', { kid: undefined })
    assert.ok(verifier(createKeyring([hmac]))(token))
  })
})

describe('A7: crit', () => {
  const shapes: Array<Record<string, unknown>> = [
    { crit: ['exp_policy'], exp_policy: 'mfa-required' },
    { crit: ['exp_policy'] },
    { crit: [] },
    { crit: 'exp' },
    { crit: ['alg'] },
    { crit: ['kid'] },
    { crit: ['typ'] },
    { crit: ['crit'] },
    { crit: ['x', 'x'], x: 1 },
    { crit: [1] },
    { crit: [null] },
    { crit: null },
    { crit: {} },
    { crit: true },
    { crit: ['b64'], b64: true },
  ]
  it('every shape of crit, genuinely signed, is refused', () => {
    for (const extra of shapes) {
      for (const key of [hmac, ec]) {
        const keys = key.type === 'secret' ? key : publicOf(key)
        const token = signedBy(key, headerFor(key, extra))
        rejects(() => verifier(keys)(token), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'crit' })
        rejects(() => verifyJws(token, keys), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'crit' })
      }
    }
  })
  it('a crit listed twice as a member is a duplicate, refused before anything else', () => {
    const token = signedBy(hmac, `{"alg":"HS256","kid":"hs-1","crit":["x"],"crit":[],"x":1}`)
    rejects(() => verifier(hmac)(token), 'ERR_JWT_MALFORMED')
  })
})

describe('A8: b64:false (RFC 7797)', () => {
  it('the RFC 7797 compact example is refused by the JWS and JWT verifiers', () => {
    const vector = JSON.parse(readVector('rfc7520/rfc7797/hmac-sha2_b64_false.json')) as { input: { key: Jwk }; output: { compact: string } }
    const key = importKey(vector.input.key)
    const token = vector.output.compact
    rejects(() => verifyJws(token, key), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'b64' })
    rejects(() => verifier(key, { typ: false, requiredClaims: [] })(token), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'b64' })
    // Detached payload (h..s) and a payload with a dot in it ($.02, RFC 7797 §4.2).
    const [h, , s] = token.split('.')
    rejects(() => verifyJws(`${h}..${s}`, key), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'b64' })
    rejects(() => verifyJws(`${h}.$.02.${s}`, key), 'ERR_JWT_MALFORMED')
  })
  it('b64:false with and without crit, genuinely signed', () => {
    for (const extra of [{ b64: false, crit: ['b64'] }, { b64: false }, { b64: true }, { b64: 'false' }]) {
      rejects(() => verifier(hmac)(signedBy(hmac, headerFor(hmac, extra))), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'b64' })
    }
    // An attached unencoded payload (no dots in it, or it would not even be three segments).
    const input = `${segment(headerFor(hmac, { b64: false, crit: ['b64'] }))}.{"sub":"admin","exp":${NOW + 600}}`
    const raw = `${input}.${createHmac('sha256', hmac.keyObject).update(input).digest('base64url')}`
    rejects(() => verifier(hmac)(raw), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'b64' })
  })
})

describe('A9: sign/encrypt confusion', () => {
  it('a JWE encrypted to the public key (inner unsigned JWT, raw claims, nested JWT) is not a JWS', async () => {
    const encryptTo = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    const unsignedInner = `${segment({ alg: 'none' })}.${segment(CLAIMS)}.`
    const plaintexts = [unsignedInner, JSON.stringify(CLAIMS), signJwt(CLAIMS, generateKey('ES256'))]
    for (const plaintext of plaintexts) {
      const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT', kid: 'rsa-1' })
        .encrypt(encryptTo)
      assert.equal(jwe.split('.').length, 5)
      rejects(() => verifier(createKeyring([rsaPublic]))(jwe), 'ERR_JWT_MALFORMED')
      rejects(() => verifyJws(jwe, rsaPublic), 'ERR_JWT_MALFORMED')
    }
    const nested = JSON.parse(readVector('rfc7520/6.nesting_signatures_and_encryption.json')) as { encrypt: { output: { compact: string } } }
    rejects(() => verifier(rsaPublic)(nested.encrypt.output.compact), 'ERR_JWT_MALFORMED')
  })

  it('a 3-segment token whose header is a JWE header is refused', () => {
    const token = signedBy(hmac, { alg: 'HS256', enc: 'A256GCM', typ: 'at+jwt' })
    rejects(() => verifier(hmac)(token), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'enc' })
    rejects(() => verifier(hmac)(signedBy(hmac, { alg: 'RSA-OAEP-256', enc: 'A256GCM' })), 'ERR_JWS_ALG_NOT_ALLOWED')
    rejects(() => verifier(hmac)(signedBy(hmac, { alg: 'dir', enc: 'A256GCM' })), 'ERR_JWS_ALG_NOT_ALLOWED')
  })
})

describe('A10: token-kind confusion (typ, aud, iss)', () => {
  it('the default access-token verifier refuses typ JWT, rt+jwt, and no typ', () => {
    const verify = verifier(ecPublic)
    rejects(() => verify(signJwt(CLAIMS, ec, { typ: '' })), 'ERR_JWT_CLAIM_INVALID', { claim: 'typ', reason: 'missing' })
    for (const typ of ['JWT', 'jwt', 'rt+jwt', 'application/jwt', 'id+jwt', 'secevent+jwt', 'logout+jwt', 'at+jwt ', ' at+jwt', 'at+jwt\u0000', 'at jwt', 'application/at+jwt+x', 'text/at+jwt', 'application/', 'at+JWT+']) {
      rejects(() => verify(signJwt(CLAIMS, ec, { typ })), 'ERR_JWT_CLAIM_INVALID', { claim: 'typ', reason: 'value' })
    }
    for (const typ of [1, null, ['at+jwt'], { at: 'jwt' }]) {
      rejects(() => verify(signedBy(ec, headerFor(ec, { typ }))), 'ERR_JWT_MALFORMED')
    }
  })

  it('typ compares as a media type: case-insensitive, "application/" optional (RFC 7515 §4.1.9)', () => {
    const verify = verifier(ecPublic)
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/At+Jwt', 'APPLICATION/AT+JWT']) {
      assert.ok(verify(signJwt(CLAIMS, ec, { typ })))
    }
    assert.ok(verifier(ecPublic, { typ: 'application/at+jwt' })(signJwt(CLAIMS, ec)))
  })

  it('a refresh-token verifier refuses access tokens, and the reverse', () => {
    const refresh = signJwt(CLAIMS, ec, { typ: 'rt+jwt' })
    const access = signJwt(CLAIMS, ec)
    rejects(() => verifier(ecPublic, { typ: 'rt+jwt' })(access), 'ERR_JWT_CLAIM_INVALID', { claim: 'typ' })
    rejects(() => verifier(ecPublic)(refresh), 'ERR_JWT_CLAIM_INVALID', { claim: 'typ' })
    assert.ok(verifier(ecPublic, { typ: 'rt+jwt' })(refresh))
  })

  it('a genuine token for another audience or from another issuer is refused', () => {
    const verify = verifier(ecPublic, { issuer: 'https://issuer.example', audience: 'api' })
    rejects(() => verify(signJwt({ ...CLAIMS, aud: 'billing' }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'value' })
    rejects(() => verify(signJwt({ ...CLAIMS, aud: ['billing', 'API', ' api'] }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'value' })
    rejects(() => verify(signJwt({ ...CLAIMS, aud: [] }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'value' })
    rejects(() => verify(signJwt({ ...CLAIMS, aud: undefined }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'missing' })
    rejects(() => verify(signJwt({ ...CLAIMS, iss: 'https://issuer.example/' }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'iss', reason: 'value' })
    rejects(() => verify(signJwt({ ...CLAIMS, iss: undefined }, ec)), 'ERR_JWT_CLAIM_INVALID', { claim: 'iss', reason: 'missing' })
    assert.ok(verify(signJwt({ ...CLAIMS, aud: ['billing', 'api'] }, ec)))
  })
})

// ECDSA helpers: group orders and P1363 signature surgery.
const ORDERS: Record<string, bigint> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: 0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
}
const toBytes = (n: bigint, length: number): Buffer => Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex')
const toBigInt = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`)
const withSignature = (token: string, signature: Uint8Array): string => `${token.slice(0, token.lastIndexOf('.'))}.${b64(signature)}`

describe('B1: ECDSA psychic signatures (r = s = 0) and out-of-range scalars', () => {
  for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
    it(alg, () => {
      const key = alg === 'ES256' ? ec : generateKey(alg)
      const keys = publicOf(key)
      const token = signJwt(CLAIMS, key)
      const half = Buffer.from(token.split('.')[2]!, 'base64url').length / 2
      const sig = Buffer.from(token.split('.')[2]!, 'base64url')
      const r = sig.subarray(0, half)
      const s = sig.subarray(half)
      const n = ORDERS[alg]!
      const bad: Record<string, Buffer> = {
        'r = s = 0': Buffer.alloc(half * 2),
        'r = 0': Buffer.concat([Buffer.alloc(half), s]),
        's = 0': Buffer.concat([r, Buffer.alloc(half)]),
        'r = n': Buffer.concat([toBytes(n, half), s]),
        's = n': Buffer.concat([r, toBytes(n, half)]),
        'r = r + n': toBigInt(r) + n < 1n << BigInt(half * 8) ? Buffer.concat([toBytes(toBigInt(r) + n, half), s]) : Buffer.concat([toBytes(n + 1n, half), s]),
        's = s + n': toBigInt(s) + n < 1n << BigInt(half * 8) ? Buffer.concat([r, toBytes(toBigInt(s) + n, half)]) : Buffer.concat([r, toBytes(n + 1n, half)]),
        'r = n - 1': Buffer.concat([toBytes(n - 1n, half), s]),
        'all ones': Buffer.alloc(half * 2, 0xff),
        'r = s = 1': Buffer.concat([toBytes(1n, half), toBytes(1n, half)]),
      }
      for (const [name, signature] of Object.entries(bad)) {
        assert.equal(signature.length, half * 2, name)
        rejects(() => verifier(keys)(withSignature(token, signature)), 'ERR_JWS_SIGNATURE_INVALID')
      }
    })
  }

  it('the literal catalogue tokens: 86 × "A" and the DER form MAYCAQACAQA', () => {
    const header = segment(headerFor(ec))
    rejects(() => verifier(ecPublic)(`${header}.${segment({ ...CLAIMS, sub: 'admin' })}.${'A'.repeat(86)}`), 'ERR_JWS_SIGNATURE_INVALID')
    rejects(() => verifier(ecPublic)(`${header}.${segment(CLAIMS)}.MAYCAQACAQA`), 'ERR_JWS_SIGNATURE_INVALID')
  })
})

describe('B2: signature encodings and malleability', () => {
  it('DER-encoded ECDSA signatures, extra or missing bytes are refused', () => {
    for (const key of [ec, generateKey('ES384'), generateKey('ES512')]) {
      const keys = publicOf(key)
      const token = signJwt(CLAIMS, key)
      const input = token.slice(0, token.lastIndexOf('.'))
      const bits = key.alg.slice(2)
      const der = sign(`sha${bits}`, Buffer.from(input), { key: key.keyObject, dsaEncoding: 'der' })
      const p1363 = Buffer.from(token.split('.')[2]!, 'base64url')
      for (const signature of [der, Buffer.concat([Buffer.from([0]), p1363]), Buffer.concat([p1363, Buffer.from([0])]), p1363.subarray(1), p1363.subarray(0, -1), Buffer.concat([p1363, p1363])]) {
        rejects(() => verifier(keys)(withSignature(token, signature)), 'ERR_JWS_SIGNATURE_INVALID')
      }
    }
  })

  it('a high-S ECDSA twin verifies: ECDSA is malleable, so a token string is never an identity', () => {
    // The claims (and their jti) are the same, the token string differs: replay and revocation
    // key on jti and server state, never on the token text or signature (docs/security.md B2, B3).
    const token = signJwt({ ...CLAIMS, jti: 'one-time' }, ec)
    const sig = Buffer.from(token.split('.')[2]!, 'base64url')
    const twin = Buffer.concat([sig.subarray(0, 32), toBytes(ORDERS.ES256! - toBigInt(sig.subarray(32)), 32)])
    const twinToken = withSignature(token, twin)
    assert.notEqual(twinToken, token)
    const verify = verifier(ecPublic) as (t: string) => { claims: { jti: string } }
    assert.equal(verify(twinToken).claims.jti, verify(token).claims.jti)
  })

  it('Ed25519: appended/removed bytes and S ≥ L are refused', () => {
    const token = signJwt(CLAIMS, ed)
    const sig = Buffer.from(token.split('.')[2]!, 'base64url')
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    const sLittleEndian = toBigInt(Buffer.from(sig.subarray(32)).reverse())
    const bigS = Buffer.from(toBytes(sLittleEndian + L, 32)).reverse()
    for (const signature of [Buffer.concat([sig, Buffer.from([0])]), sig.subarray(0, 63), Buffer.concat([sig.subarray(0, 32), bigS]), Buffer.alloc(64)]) {
      rejects(() => verifier(edPublic)(withSignature(token, signature)), 'ERR_JWS_SIGNATURE_INVALID')
    }
    const ed448 = generateKey('EdDSA', { crv: 'Ed448', kid: 'ed448' })
    const t448 = signJwt(CLAIMS, ed448)
    const s448 = Buffer.from(t448.split('.')[2]!, 'base64url')
    assert.equal(s448.length, 114)
    assert.ok(verifier(publicOf(ed448))(t448))
    rejects(() => verifier(publicOf(ed448))(withSignature(t448, s448.subarray(0, 64))), 'ERR_JWS_SIGNATURE_INVALID')
    // An Ed25519 signature under an Ed448 key (same "EdDSA" alg): wrong length.
    rejects(() => verifier(publicOf(ed448))(withSignature(t448, sig)), 'ERR_JWS_SIGNATURE_INVALID')
  })
})

describe('B3: non-canonical base64url and whitespace/unicode tricks', () => {
  // A token whose segments contain "-" and "_" and whose signature has unused trailing bits.
  let token = ''
  for (let i = 0; !/[-_]/.test(token.split('.').join('')) || !/[-_]/.test(token.split('.')[2] ?? ''); i++) {
    token = signJwt({ ...CLAIMS, n: i, pad: '\u00ff\u00fe?>' }, ec)
  }
  const [h, p, s] = token.split('.') as [string, string, string]
  const verify = verifier(ecPublic)

  it('the token itself verifies', () => {
    assert.ok(verify(token))
  })

  it('padding, standard-alphabet characters, junk and whitespace in any segment are refused', () => {
    const junk = [' ', '\t', '\n', '\r\n', '=', '==', '+', '/', '?', '#', '!', '@', '$', '%', '\\', '*', '"', '\u00a0', '\u200b', '\ufeff', '\u3000', 'Ａ', '\u0000', '%41']
    let cases = 0
    for (const [index, seg] of [h, p, s].entries()) {
      for (const j of junk) {
        for (const at of [0, 5, seg.length]) {
          const parts = [h, p, s]
          parts[index] = seg.slice(0, at) + j + seg.slice(at)
          cases++
          rejects(() => verify(parts.join('.')), 'ERR_JWT_MALFORMED')
        }
      }
      const parts = [h, p, s]
      parts[index] = seg.replace(/-/g, '+').replace(/_/g, '/')
      if (parts[index] !== seg) rejects(() => verify(parts.join('.')), 'ERR_JWT_MALFORMED')
    }
    assert.ok(cases > 200)
  })

  it('whitespace around the whole token is refused', () => {
    for (const wrapped of [` ${token}`, `${token} `, `${token}\n`, `\t${token}`, `${token}\r\n`, `Bearer ${token}`]) {
      rejects(() => verify(wrapped), 'ERR_JWT_MALFORMED')
    }
  })

  it('a signature whose unused trailing bits are set is refused (same bytes, other string)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    assert.equal(s.length % 4, 2)
    for (let bits = 1; bits < 16; bits++) {
      const twin = s.slice(0, -1) + alphabet[alphabet.indexOf(s[s.length - 1]!) | bits]!
      if (twin === s) continue
      assert.deepEqual(Buffer.from(twin, 'base64url'), Buffer.from(s, 'base64url'))
      rejects(() => verify(`${h}.${p}.${twin}`), 'ERR_JWT_MALFORMED')
    }
  })

  it('a cached header does not make its non-canonical twin acceptable', () => {
    // Headers are cached by their exact text: the twin is another text and is decoded strictly.
    let header = headerFor(hmac, { x: 'a' })
    while (segment(header).length % 4 === 0) header = { ...header, x: `${String(header.x)}a` }
    const good = signedBy(hmac, header)
    assert.ok(verifier(hmac)(good))
    const hs = good.split('.')[0]!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const twin = hs.slice(0, -1) + alphabet[alphabet.indexOf(hs[hs.length - 1]!) | 1]!
    const input = `${twin}.${good.split('.')[1]!}`
    rejects(() => verifier(hmac)(`${input}.${rawSign(hmac, input).toString('base64url')}`), 'ERR_JWT_MALFORMED')
  })

  it('segments of length 1 mod 4 are refused', () => {
    for (const index of [0, 1, 2]) {
      const parts = [h, p, s]
      const seg = parts[index]!
      parts[index] = seg + 'A'.repeat((5 - (seg.length % 4)) % 4)
      assert.equal(parts[index].length % 4, 1)
      rejects(() => verify(parts.join('.')), 'ERR_JWT_MALFORMED')
    }
  })
})

describe('B4: RSA PKCS#1 v1.5 signature parsing', () => {
  it('signatures of the wrong length, zero, or equal to the modulus are refused', () => {
    for (const key of [rsa, importKey(rsa.keyObject, { alg: 'PS256', kid: 'ps' })]) {
      const keys = publicOf(key)
      const token = signJwt(CLAIMS, key)
      const sig = Buffer.from(token.split('.')[2]!, 'base64url')
      assert.equal(sig.length, 256)
      const modulus = Buffer.from(exportPublicJwk(key).n!, 'base64url')
      for (const signature of [sig.subarray(1), Buffer.concat([Buffer.from([0]), sig]), Buffer.concat([sig, Buffer.from([0])]), Buffer.alloc(256), modulus, Buffer.alloc(256, 0xff), Buffer.alloc(0)]) {
        rejects(() => verifier(keys)(withSignature(token, signature)), signature.length === 0 ? 'ERR_JWT_MALFORMED' : 'ERR_JWS_SIGNATURE_INVALID')
      }
    }
  })

  it('a Bleichenbacher e = 3 forgery (garbage after the DigestInfo) is refused', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 })
    const victim = importKey(pair.publicKey, { alg: 'RS256', kid: 'e3' })
    const jwk = exportPublicJwk(victim)
    const n = toBigInt(Buffer.from(jwk.n!, 'base64url'))
    const header = segment({ alg: 'RS256', kid: 'e3', typ: 'at+jwt' })
    const payload = segment({ ...CLAIMS, sub: 'admin' })
    const digest = createHash('sha256').update(`${header}.${payload}`).digest()
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest])
    // 00 01 FF×8 00 DigestInfo, then free bytes: the cube root fixes the top, garbage absorbs the rest.
    const prefix = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(8, 0xff), Buffer.from([0]), digestInfo])
    const target = toBigInt(Buffer.concat([prefix, Buffer.alloc(256 - prefix.length, 0xff)]))
    let root = cubeRoot(target)
    // The largest root whose cube keeps the prefix.
    while ((root + 1n) ** 3n <= target) root++
    const em = toBytes(root ** 3n, 256)
    assert.ok(root ** 3n < n)
    assert.deepEqual(em.subarray(0, prefix.length), prefix, 'the forgery carries a valid-looking PKCS#1 prefix')
    rejects(() => verifier(victim)(`${header}.${payload}.${b64(toBytes(root, 256))}`), 'ERR_JWS_SIGNATURE_INVALID')
  })
})

function cubeRoot(value: bigint): bigint {
  let x = 1n << BigInt(Math.ceil(value.toString(2).length / 3) + 1)
  for (;;) {
    const next = (2n * x + value / (x * x)) / 3n
    if (next >= x) return x
    x = next
  }
}

describe('C1/C2: PBES2 "billion hashes" and zip bombs never reach any decryption', () => {
  it('the CVE-2023-50967 JWE and compact JWEs with a huge p2c or zip are refused at once', () => {
    const flattened = readVector('latchset-jose/cve-2023-50967.jwe').trim()
    const compactBomb = `${segment({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2s: b64(Buffer.alloc(16)), p2c: 2147483647 })}.${b64(Buffer.alloc(40))}.${b64(Buffer.alloc(12))}.${b64(Buffer.alloc(16))}.${b64(Buffer.alloc(16))}`
    const zipped = JSON.parse(readVector('rfc7520/jwe/5_9.compressed_content.json')) as { output: { compact: string } }
    const started = performance.now()
    for (const token of [flattened, compactBomb, zipped.output.compact]) {
      rejects(() => verifier(hmac)(token), 'ERR_JWT_MALFORMED')
      rejects(() => verifyJws(token, hmac), 'ERR_JWT_MALFORMED')
    }
    assert.ok(performance.now() - started < 100)
  })

  it('"zip" in a JWS header is refused, signed or not', () => {
    for (const zip of ['DEF', 'deflate', '', null]) {
      rejects(() => verifier(hmac)(signedBy(hmac, headerFor(hmac, { zip }))), 'ERR_JWS_HEADER_UNSUPPORTED', { parameter: 'zip' })
    }
  })
})

// A genuine HS256 token of exactly `length` characters (a payload segment is never 1 mod 4
// characters long, so not every length exists for a given header).
function tokenOfLength(length: number): string {
  // Same secret, kids of different lengths: one of them makes `length` reachable.
  for (const kid of ['hs-1', 'hs-1a', 'hs-1ab', 'hs-1abc']) {
    const key = importKey(hmac.keyObject, { alg: 'HS256', kid })
    const base = signJwt({ ...CLAIMS, pad: '' }, key)
    const fixed = base.length - base.split('.')[1]!.length
    const baseBytes = Buffer.from(base.split('.')[1]!, 'base64url').length
    for (let pad = 0; fixed + Math.ceil(((baseBytes + pad) * 4) / 3) <= length; pad++) {
      if (fixed + Math.ceil(((baseBytes + pad) * 4) / 3) === length) {
        const token = signJwt({ ...CLAIMS, pad: 'x'.repeat(pad) }, key, { maxTokenBytes: length })
        assert.equal(token.length, length)
        return token
      }
    }
  }
  throw new Error(`no token of ${length} characters`)
}

describe('C3: oversized tokens and deep JSON', () => {
  it('a 10 MB token is refused before any decoding, quickly', () => {
    const verify = verifier(hmac)
    const header = segment(headerFor(hmac))
    const bombs = [
      'a'.repeat(10 * 1024 * 1024),
      `${header}.${'A'.repeat(10 * 1024 * 1024)}.sig`,
      '.'.repeat(10 * 1024 * 1024),
      '\u00e9'.repeat(5 * 1024 * 1024),
    ]
    for (const token of bombs) {
      const started = performance.now()
      rejects(() => verify(token), 'ERR_JWT_TOO_LARGE', { limit: 8192 })
      rejects(() => verifyJws(token, hmac), 'ERR_JWT_TOO_LARGE')
      assert.ok(performance.now() - started < 50, `took ${performance.now() - started} ms`)
    }
  })

  it('the size limit is exact, and configurable', () => {
    const exact = tokenOfLength(8192)
    assert.ok(verifier(hmac)(exact))
    const over = tokenOfLength(8194)
    rejects(() => verifier(hmac)(over), 'ERR_JWT_TOO_LARGE')
    rejects(() => verifier(hmac, { maxTokenBytes: 8193 })(over), 'ERR_JWT_TOO_LARGE', { limit: 8193 })
    assert.ok(verifier(hmac, { maxTokenBytes: 8194 })(over))
    rejects(() => verifier(hmac, { maxTokenBytes: 1024 })(exact), 'ERR_JWT_TOO_LARGE', { limit: 1024 })
    rejects(() => verifyJws(over, hmac), 'ERR_JWT_TOO_LARGE')
    assert.ok(verifyJws(over, hmac, { maxTokenBytes: 8194 }))
    // hallpass never mints a token its own verifiers would refuse.
    const overClaims = JSON.parse(Buffer.from(over.split('.')[1]!, 'base64url').toString()) as typeof CLAIMS
    const overKey = importKey(hmac.keyObject, { alg: 'HS256', kid: (JSON.parse(Buffer.from(over.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid })
    rejects(() => signJwt(overClaims, overKey), 'ERR_JWT_TOO_LARGE', { limit: 8192 })
    assert.equal(signJwt(overClaims, overKey, { maxTokenBytes: 8194 }), over)
    // An aud array of a million entries cannot even be presented.
    rejects(() => verifier(hmac, { audience: 'api' })(`${segment(headerFor(hmac))}.${segment({ aud: Array.from({ length: 1e6 }, () => 'a') })}.x`), 'ERR_JWT_TOO_LARGE')
  })

  it('10^5-deep nesting in the header or the payload is malformed, fast, and crashes nothing', () => {
    const limit = { maxTokenBytes: 2_000_000 }
    const deep = [
      `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      `{"a":${'['.repeat(100_000)}`,
      `{"a":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
      `{"a":${'[{"b":'.repeat(50_000)}`,
    ]
    for (const text of deep) {
      const started = performance.now()
      const inHeader = `${b64(text.replace('{', `{"alg":"HS256","typ":"at+jwt",`))}.${segment(CLAIMS)}.${b64(Buffer.alloc(32))}`
      rejects(() => verifier(hmac, limit)(inHeader), 'ERR_JWT_MALFORMED')
      rejects(() => verifier(hmac, limit)(signedBy(hmac, headerFor(hmac), text)), 'ERR_JWT_MALFORMED')
      assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`)
    }
  })

  it('claims are compared exactly: no RegExp ever meets an attacker string', () => {
    const verify = verifier(hmac, { audience: 'a+', issuer: '(a+)+$' })
    rejects(() => verify(signJwt({ ...CLAIMS, aud: `${'a'.repeat(5000)}!`, iss: '(a+)+$' }, hmac)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud' })
    assert.ok(verify(signJwt({ ...CLAIMS, aud: 'a+', iss: '(a+)+$' }, hmac)))
  })
})

describe('C4: the header cache is keyed by the exact header text and bounded', () => {
  it('a cached header never vouches for another signature, and eviction changes no verdict', () => {
    const verify = verifier(createKeyring([hmac]))
    const genuine = signJwt(CLAIMS, hmac)
    assert.ok(verify(genuine))
    // Same (now cached) header, forged payload and signature.
    rejects(() => verify(`${genuine.split('.')[0]!}.${segment({ ...CLAIMS, sub: 'admin' })}.${genuine.split('.')[2]!}`), 'ERR_JWS_SIGNATURE_INVALID')
    // More distinct headers than the cache holds (unknown kids are parsed, then refused).
    for (let i = 0; i < 600; i++) {
      rejects(() => verify(hmacToken('', { alg: 'HS256', kid: `kid-${i}`, typ: 'at+jwt' })), 'ERR_JWKS_NO_MATCHING_KEY', { kid: `kid-${i}` })
    }
    assert.ok(verify(genuine))
    // A refused header is refused every time (it is never cached as good).
    const none = `${segment({ alg: 'none' })}.${segment(CLAIMS)}.`
    for (let i = 0; i < 3; i++) rejects(() => verify(none), 'ERR_JWS_ALG_NOT_ALLOWED')
  })
})

describe('D1: duplicate member names, __proto__, and non-object JSON', () => {
  const verify = verifier(hmac)
  const header = (text: string): string => signedBy(hmac, text)
  const payload = (text: string): string => signedBy(hmac, headerFor(hmac), text)
  const exp = `"exp":${NOW + 600}`

  it('duplicates in the header', () => {
    for (const text of [
      '{"alg":"HS256","alg":"none"}',
      '{"alg":"none","alg":"HS256","kid":"hs-1"}',
      '{"alg":"HS256","kid":"hs-1","kid":"../../dev/null","typ":"at+jwt"}',
      '{"alg":"HS256","typ":"at+jwt","typ":"at+jwt"}',
      '{"alg":"HS256","\\u0061lg":"HS256"}',
      '{"alg":"HS256","a":{"b":1,"b":2},"typ":"at+jwt"}',
    ]) {
      rejects(() => verify(header(text)), 'ERR_JWT_MALFORMED')
    }
  })

  it('duplicates in the claims, however spelled and however deep', () => {
    for (const text of [
      `{"sub":"alice","role":"user","role":"admin",${exp}}`,
      `{"exp":1700000000,"exp":9999999999}`,
      `{${exp},"exp":${NOW + 600}}`,
      `{${exp},"sub":"a","s\\u0075b":"b"}`,
      `{${exp},"ctx":{"role":"user","role":"admin"}}`,
      `{${exp},"list":[{"a":1},{"a":1,"a":2}]}`,
      `{${exp},"a\\"b":1,"a\\"b":2}`,
      `{${exp},"a\\\\":1,"a\\\\":2}`,
      `{${exp},"":1,"":2}`,
    ]) {
      rejects(() => verify(payload(text)), 'ERR_JWT_MALFORMED')
    }
    // Look-alikes that are not duplicates are fine.
    const ok = verify(payload(`{${exp},"a\\"b":1,"a\\\\":2,"a":3,"A":4,"a ":5,"ctx":{"a":6},"s":"\\":\\"x\\":"}`)) as { claims: Record<string, unknown> }
    assert.equal(ok.claims.s, '":"x":')
  })

  it('"__proto__" members are refused; "constructor" stays an inert own property', () => {
    for (const text of [
      `{${exp},"__proto__":{"admin":true}}`,
      `{"__proto__":{"exp":${NOW + 600}}}`,
      `{${exp},"ctx":{"__proto__":{"admin":true}}}`,
      `{${exp},"list":[{"__proto__":null}]}`,
      `{${exp},"\\u005f_proto__":{"admin":true}}`,
    ]) {
      rejects(() => verify(payload(text)), 'ERR_JWT_MALFORMED')
    }
    rejects(() => verify(header('{"alg":"HS256","typ":"at+jwt","__proto__":{"alg":"none"}}')), 'ERR_JWT_MALFORMED')
    const { claims } = verify(payload(`{${exp},"constructor":{"prototype":{"polluted":true}},"toString":1}`)) as { claims: Record<string, unknown> }
    Object.assign({}, claims)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(Object.getPrototypeOf(Object.assign({}, claims)), Object.prototype)
  })

  it('header and payload must be JSON objects in UTF-8', () => {
    for (const text of ['[]', '"at+jwt"', '1', 'null', 'true', '', ' {}', '\ufeff{}', '{', '{}}', '{"a":1,}', "{'alg':'HS256'}", '{"alg":"HS256"}x']) {
      rejects(() => verify(payload(text)), 'ERR_JWT_MALFORMED')
      if (text !== '') rejects(() => verify(header(text)), 'ERR_JWT_MALFORMED')
    }
    const latin1 = `${segment(headerFor(hmac))}.${b64(Buffer.from(`{${exp},"n":"\u00e9"}`, 'latin1'))}`
    rejects(() => verify(`${latin1}.${rawSign(hmac, latin1).toString('base64url')}`), 'ERR_JWT_MALFORMED')
    const utf16 = `${segment(headerFor(hmac))}.${b64(Buffer.from(`{${exp}}`, 'utf16le'))}`
    rejects(() => verify(`${utf16}.${rawSign(hmac, utf16).toString('base64url')}`), 'ERR_JWT_MALFORMED')
    const surrogate = `${segment(headerFor(hmac))}.${b64(Buffer.concat([Buffer.from(`{${exp},"n":"`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]))}`
    rejects(() => verify(`${surrogate}.${rawSign(hmac, surrogate).toString('base64url')}`), 'ERR_JWT_MALFORMED')
    const badHeader = `${b64(Buffer.concat([Buffer.from('{"alg":"HS256","typ":"at+jwt","x":"'), Buffer.from([0xff]), Buffer.from('"}')]))}.${segment(CLAIMS)}`
    rejects(() => verify(`${badHeader}.${rawSign(hmac, badHeader).toString('base64url')}`), 'ERR_JWT_MALFORMED')
  })
})

describe('D2: claim type confusion', () => {
  const verify = verifier(hmac)
  const token = (claims: string): string => signedBy(hmac, headerFor(hmac), claims)
  const exp = `"exp":${NOW + 600}`

  it('numeric dates must be finite JSON numbers', () => {
    for (const [claim, values] of [
      ['exp', ['"9999999999"', '"abc"', '1e400', '-1e400', 'null', 'true', '[0]', '{}', '"1e400"']],
      ['nbf', ['"0"', '[0]', 'null', 'false', '1e999']],
      ['iat', ['"1700000000"', '{"$gt":0}', 'null', '1e309']],
    ] as const) {
      for (const value of values) {
        const text = claim === 'exp' ? `{"exp":${value}}` : `{${exp},"${claim}":${value}}`
        rejects(() => verify(token(text)), 'ERR_JWT_CLAIM_INVALID', { claim, reason: 'type' })
      }
    }
    rejects(() => verify(token('{"exp":-1}')), 'ERR_JWT_EXPIRED', { claim: 'exp' })
    rejects(() => verify(token('{"exp":0}')), 'ERR_JWT_EXPIRED', { claim: 'exp' })
    rejects(() => verify(token('{"exp":-1e308}')), 'ERR_JWT_EXPIRED', { claim: 'exp' })
    rejects(() => verify(token(`{${exp},"nbf":1e308}`)), 'ERR_JWT_NOT_YET_VALID')
    rejects(() => verify(token(`{${exp},"iat":1e308}`)), 'ERR_JWT_CLAIM_INVALID', { claim: 'iat', reason: 'value' })
    assert.ok(verify(token(`{"exp":1e308,"nbf":-1,"iat":${NOW}}`)))
    // exp is required by default: a token without one would never expire.
    rejects(() => verify(token('{"sub":"a"}')), 'ERR_JWT_CLAIM_INVALID', { claim: 'exp', reason: 'missing' })
  })

  it('iss, sub, jti, sid and scope must be strings; aud a string or strings', () => {
    const strict = verifier(hmac, { issuer: 'https://issuer', audience: 'https://api' })
    for (const [claim, value] of [
      ['iss', '["evil","https://issuer"]'], ['iss', '{"$ne":null}'], ['iss', '1'], ['iss', 'null'],
      ['sub', '{"$ne":null}'], ['sub', '123'], ['sub', '["a"]'], ['jti', '123'], ['jti', 'true'],
      ['sid', '1'], ['scope', '["read"]'], ['aud', '1'], ['aud', '[1]'], ['aud', '["https://api",1]'], ['aud', '{"0":"https://api"}'], ['aud', 'null'],
    ] as const) {
      const base: Record<string, string> = { iss: '"https://issuer"', aud: '"https://api"', [claim]: value }
      const text = `{${exp},${Object.entries(base).map(([name, v]) => `"${name}":${v}`).join(',')}}`
      rejects(() => strict(token(text)), 'ERR_JWT_CLAIM_INVALID', { claim, reason: 'type' })
      rejects(() => verify(token(text)), 'ERR_JWT_CLAIM_INVALID', { claim, reason: 'type' })
    }
    rejects(() => strict(token(`{${exp},"iss":"https://issuer","aud":[]}`)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'value' })
    rejects(() => strict(token(`{${exp},"iss":"https://issuer","aud":["https://api "," https://api","HTTPS://API"]}`)), 'ERR_JWT_CLAIM_INVALID', { claim: 'aud', reason: 'value' })
    rejects(() => strict(token(`{${exp},"iss":"https://issuer/","aud":"https://api"}`)), 'ERR_JWT_CLAIM_INVALID', { claim: 'iss', reason: 'value' })
    assert.ok(strict(token(`{${exp},"iss":"https://issuer","aud":["x","https://api"],"sub":"","jti":"j"}`)))
  })
})
