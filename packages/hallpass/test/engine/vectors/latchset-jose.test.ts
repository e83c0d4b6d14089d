// RFC 7515 Appendix A, RFC 7517 Appendices A/B and RFC 7638 §3.1 examples, as shipped by the
// C jose library (test/vectors/latchset-jose/, README §3), through the public API.
//
// Not run: rfc7515_A.6 (general JSON serialization, two signatures) and rfc7515_A.7 (flattened
// JSON). hallpass reads compact JWS only, since a JWT is always compact (RFC 7519 §1).
// cve-2023-50967.* is a JWE (PBES2 p2c bomb): out of scope for the JWS engine.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { test } from 'node:test'
import {
  computeJwkThumbprint,
  createJwtVerifier,
  exportPublicJwk,
  importJwks,
  importKey,
  signJws,
  verifyJws,
  type Jwk,
  type JwkSet,
  type JwsAlgorithm,
} from '../../../src/index.ts'
import { readVectorJson, readVectorText } from './load.ts'

const DIR = 'latchset-jose'

function jwk(name: string): Jwk {
  return readVectorJson<Jwk>(`${DIR}/${name}`)
}

function jwks(name: string): JwkSet {
  return readVectorJson<JwkSet>(`${DIR}/${name}`)
}

function compact(name: string): string {
  return readVectorText(`${DIR}/${name}`).trim()
}

// The A.1-A.3 claims: {"iss":"joe","exp":1300819380,"http://example.com/is_root":true}, with
// CRLFs inside the JSON (RFC 7515 §3.3). exp is 2011-03-22T18:43:00Z: verify just before it.
const BEFORE_EXP = (): number => Date.UTC(2011, 2, 22, 18, 0, 0)
const EXAMPLE_CLAIMS = { iss: 'joe', exp: 1300819380, 'http://example.com/is_root': true }

// The files' JWKs carry no `alg`; RFC 7515 Appendix A names it for each example.
const RFC7515_A: ReadonlyArray<[example: string, alg: JwsAlgorithm]> = [
  ['rfc7515_A.1', 'HS256'],
  ['rfc7515_A.2', 'RS256'],
  ['rfc7515_A.3', 'ES256'],
  ['rfc7515_A.4', 'ES512'],
]

for (const [example, alg] of RFC7515_A) {
  void test(`${example} (${alg}): the compact JWS verifies with its JWK`, () => {
    const key = importKey(jwk(`${example}.jwk`), { alg })
    const token = compact(`${example}.jwsc`)
    if (example === 'rfc7515_A.4') {
      assert.equal(verifyJws(token, key).payload.toString('utf8'), 'Payload')
      return
    }
    const verify = createJwtVerifier({ keys: key, typ: false, requiredClaims: ['iss', 'exp'], now: BEFORE_EXP })
    const { header, claims } = verify(token)
    assert.equal(header.alg, alg)
    assert.deepEqual(claims, EXAMPLE_CLAIMS)
    // The claims are checked once the signature holds: today the example is long expired.
    assert.throws(() => createJwtVerifier({ keys: key, typ: false, requiredClaims: [] })(token), { code: 'ERR_JWT_EXPIRED' })
    // A key serves the one algorithm it was imported for: the same material imported for
    // another algorithm does not verify this token, and a P-256 key is no key for ES384.
    const other = alg === 'HS256' ? 'HS512' : alg === 'RS256' ? 'PS256' : undefined
    if (other === undefined) {
      assert.throws(() => importKey(jwk(`${example}.jwk`), { alg: 'ES384' }), { code: 'ERR_KEY_INVALID' })
    } else {
      const rebound = importKey(jwk(`${example}.jwk`), { alg: other })
      assert.throws(() => createJwtVerifier({ keys: rebound, typ: false, now: BEFORE_EXP })(token), { code: 'ERR_JWS_ALG_NOT_ALLOWED' })
    }
  })
}

void test('rfc7515_A.5: the unsecured JWS (alg "none") is refused whatever key the verifier holds', () => {
  const token = compact('rfc7515_A.5.jwsc')
  for (const [example, alg] of RFC7515_A) {
    const key = importKey(jwk(`${example}.jwk`), { alg })
    const verify = createJwtVerifier({ keys: key, typ: false, requiredClaims: [], now: BEFORE_EXP })
    assert.throws(() => verify(token), { code: 'ERR_JWS_ALG_NOT_ALLOWED' }, example)
    assert.throws(() => verifyJws(token, key), { code: 'ERR_JWS_ALG_NOT_ALLOWED' }, example)
  }
})

void test('rfc7517_A.1.jwkset: the signing key is imported, the encryption key is left out', () => {
  const keyring = importJwks(jwks('rfc7517_A.1.jwkset'))
  assert.deepEqual(
    keyring.entries.map((e) => [e.key.kid, e.key.alg, e.key.type]),
    [['2011-04-29', 'RS256', 'public']],
  )
  assert.deepEqual(keyring.rejected, [{ kid: '1', reason: 'the JWK "use" is not "sig"' }])
})

void test('rfc7517_A.2.jwkset: private keys only with allowPrivate, and the keyring still only verifies', () => {
  const set = jwks('rfc7517_A.2.jwkset')
  // By default a JWKS is a set of public keys: the private RSA key is refused too.
  const publicOnly = importJwks(set)
  assert.equal(publicOnly.entries.length, 0)
  assert.deepEqual(publicOnly.rejected.map((r) => r.kid), ['1', '2011-04-29'])
  assert.match(publicOnly.rejected[1]!.reason, /public key was expected/)

  const keyring = importJwks(set, { allowPrivate: true })
  assert.deepEqual(
    keyring.entries.map((e) => [e.key.kid, e.key.alg, e.key.type]),
    [['2011-04-29', 'RS256', 'private']],
  )
  assert.deepEqual(keyring.rejected, [{ kid: '1', reason: 'the JWK "use" is not "sig"' }])
  assert.throws(() => keyring.signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })

  // The A.2 private key pairs with the A.1 public key of the same kid.
  const signer = importKey(set.keys[1]!, {})
  const token = signJws('paired', signer)
  assert.equal(verifyJws(token, importJwks(jwks('rfc7517_A.1.jwkset'))).payload.toString(), 'paired')
})

void test('rfc7517_A.3.jwkset: symmetric keys need allowPrivate and an explicit HMAC alg', () => {
  const set = jwks('rfc7517_A.3.jwkset')
  assert.throws(() => importJwks(set), { code: 'ERR_KEY_INVALID' })
  const keyring = importJwks(set, { allowPrivate: true })
  // A128KW is a key-wrapping key, and an `oct` key without `alg` fits HS256, HS384 and HS512
  // alike: hallpass never guesses an HMAC algorithm.
  assert.equal(keyring.entries.length, 0)
  assert.deepEqual(
    keyring.rejected.map((r) => [r.kid, r.reason]),
    [
      [undefined, 'the JWK "alg" is not a supported JWS algorithm'],
      ['HMACkeyusedinJWSspecAppendixA.1example', 'a JWK without "alg" must be EC or OKP'],
    ],
  )
  // Imported with its algorithm named, the same secret verifies RFC 7515 A.1.
  const hmac = importKey(set.keys[1]!, { alg: 'HS256' })
  assert.equal(hmac.kid, 'HMACkeyusedinJWSspecAppendixA.1example')
  const verify = createJwtVerifier({ keys: hmac, typ: false, requiredClaims: [], now: BEFORE_EXP })
  assert.deepEqual(verify(compact('rfc7515_A.1.jwsc')).claims, EXAMPLE_CLAIMS)
})

void test('rfc7517_B.jwk: "x5c" is ignored; the key is its n/e, and the vector is self-consistent', () => {
  // Decision: a JWK's x5c is neither trusted nor validated. hallpass trusts keys because they
  // were configured, never because of a certificate chain, so the chain adds nothing and is not
  // parsed; the key is what n/e say, and exports carry no x5c.
  const material = jwk('rfc7517_B.jwk')
  const key = importKey(material, { alg: 'RS256' })
  assert.equal(key.kid, '1b94c')
  const exported = exportPublicJwk(key)
  assert.equal(exported.n, material.n)
  assert.equal(exported.e, material.e)
  assert.equal(exported.x5c, undefined)
  // RFC 7517 §4.7 says the first certificate's key must match n/e; it does here, so ignoring
  // x5c loses nothing for this vector.
  const certificate = new X509Certificate(Buffer.from((material.x5c as string[])[0]!, 'base64'))
  assert.ok(certificate.publicKey.equals(key.keyObject))

  // Without `alg`, an RSA JWK from a JWKS has no single algorithm unless the caller names one.
  const set = { keys: [material] }
  assert.deepEqual(importJwks(set).rejected, [{ kid: '1b94c', reason: 'an RSA JWK without "alg" has no single algorithm' }])
  assert.deepEqual(importJwks(set, { defaultRsaAlgorithm: 'PS256' }).entries.map((e) => [e.key.kid, e.key.alg]), [['1b94c', 'PS256']])
})

void test('rfc7638_3.1: the thumbprint matches, and is the default kid', () => {
  const material = jwk('rfc7638_3.1.jwk')
  const expected = readVectorText(`${DIR}/rfc7638_3.1.thp`).trim()
  assert.equal(expected, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  assert.equal(computeJwkThumbprint(material), expected)
  // Members outside the required set (alg, kid) do not change it.
  assert.equal(computeJwkThumbprint({ kty: material.kty, n: material.n, e: material.e }), expected)
  const { kid: _kid, ...withoutKid } = material
  assert.equal(importKey(withoutKid, {}).kid, expected)
})
