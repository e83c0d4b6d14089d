// Keyrings and JWKS import: key states (next/active/retired), kid and no-kid resolution, the
// published JWKS (public members only), and every refusal of createKeyring and importJwks.
import assert from 'node:assert/strict'
import { constants, createHmac, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  computeJwkThumbprint,
  createJwtVerifier,
  createKeyring,
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  importJwks,
  importKey,
  signJwt,
  verifyJws,
  signJws,
  type Jwk,
  type JwkSet,
  type JwsKey,
  type KeyringEntry,
} from '../../src/index.ts'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const es = (kid: string): JwsKey => generateKey('ES256', { kid })
const rsa = generateKey('RS256', { kid: 'rsa' })

describe('createKeyring', () => {
  const next = es('next')
  const active = es('active')
  const retired = es('retired')
  const keyring = createKeyring([{ key: next, state: 'next' }, { key: active, state: 'active' }, { key: retired, state: 'retired' }])

  it('keeps entries in order with their states, frozen', () => {
    assert.deepEqual(keyring.entries.map((e) => [e.key.kid, e.state]), [['next', 'next'], ['active', 'active'], ['retired', 'retired']])
    assert.ok(Object.isFrozen(keyring) && Object.isFrozen(keyring.entries) && Object.isFrozen(keyring.entries[0]))
    assert.deepEqual(keyring.rejected, [])
    assert.equal(keyring.get('retired')?.state, 'retired')
    assert.equal(keyring.get('missing'), undefined)
    assert.equal(keyring.get('constructor'), undefined)
  })

  it('signs with the active key only', () => {
    assert.equal(keyring.signingKey(), active)
    assert.throws(() => createKeyring([{ key: next, state: 'next' }, { key: retired, state: 'retired' }]).signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })
    assert.throws(() => createKeyring([]).signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })
    // An active public key verifies but cannot sign.
    const publicOnly = createKeyring([importKey(active.publicKey!, { alg: 'ES256', kid: 'pub' })])
    assert.throws(() => publicOnly.signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })
  })

  it('a bare key is an active entry', () => {
    const k = createKeyring([active])
    assert.deepEqual(k.entries.map((e) => e.state), ['active'])
    assert.equal(k.signingKey(), active)
  })

  it('verifies tokens of every state by kid', () => {
    const verify = createJwtVerifier({ keys: keyring, now: () => 0 })
    for (const key of [next, active, retired]) assert.equal(verify(signJwt({ exp: 10 }, key)).key, key)
    assert.throws(() => verify(signJwt({ exp: 10 }, es('unknown'))), { code: 'ERR_JWKS_NO_MATCHING_KEY', kid: 'unknown' })
  })

  it('without a kid: the one key of the header alg, else no key at all', () => {
    // Genuinely signed tokens whose header is just {"alg"}.
    const tokenBy = (key: JwsKey): string => resign(key, Buffer.from(JSON.stringify({ alg: key.alg })).toString('base64url'), 'eA')
    const ed = generateKey('EdDSA', { kid: 'ed' })
    const one = createKeyring([{ key: active, state: 'active' }, { key: ed, state: 'retired' }])
    assert.equal(verifyJws(tokenBy(active), one).key, active)
    assert.equal(verifyJws(tokenBy(ed), one).key, ed)
    // Two ES256 keys could apply: refused rather than guessed.
    assert.throws(() => verifyJws(tokenBy(active), keyring), { code: 'ERR_JWKS_NO_MATCHING_KEY', kid: undefined })
    // No key of the header alg.
    assert.throws(() => verifyJws(tokenBy(rsa), one), { code: 'ERR_JWKS_NO_MATCHING_KEY', kid: undefined })
  })

  it('publicJwks: every asymmetric key in any state, public members only', () => {
    const jwks = keyring.publicJwks()
    assert.deepEqual(jwks.keys.map((k) => k.kid), ['next', 'active', 'retired'])
    for (const jwk of jwks.keys) {
      for (const member of PRIVATE_MEMBERS) assert.equal(jwk[member], undefined)
      assert.equal(jwk.use, 'sig')
      assert.equal(jwk.alg, 'ES256')
    }
    const withRsa = createKeyring([{ key: rsa, state: 'active' }, { key: generateKey('EdDSA', { crv: 'Ed448', kid: 'ed448' }), state: 'retired' }])
    for (const jwk of withRsa.publicJwks().keys) for (const member of PRIVATE_MEMBERS) assert.equal(jwk[member], undefined)
    // HMAC secrets are never published.
    assert.deepEqual(createKeyring([generateKey('HS256'), { key: generateKey('HS512'), state: 'retired' }]).publicJwks(), { keys: [] })
    // The published set imports back as a verify-only keyring.
    const imported = importJwks(JSON.parse(JSON.stringify(jwks)) as JwkSet)
    assert.deepEqual(imported.entries.map((e) => [e.key.kid, e.key.type, e.state]), [['next', 'public', 'retired'], ['active', 'public', 'retired'], ['retired', 'public', 'retired']])
    assert.throws(() => imported.signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })
  })

  it('refuses duplicate kids, two active keys, mixed HMAC/asymmetric, and non-keys', () => {
    assert.throws(() => createKeyring([active, { key: es('active'), state: 'retired' }]), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => createKeyring([active, es('other')]), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => createKeyring([{ key: active, state: 'active' }, { key: retired, state: 'active' }]), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => createKeyring([active, { key: generateKey('HS256'), state: 'retired' }]), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => createKeyring([generateKey('HS256'), { key: active, state: 'retired' }]), { code: 'ERR_KEY_INVALID' })
    for (const keys of [null, undefined, 'keys', { keys: [active] }]) {
      assert.throws(() => createKeyring(keys as unknown as JwsKey[]), { code: 'ERR_KEY_INVALID' })
    }
    const handBuilt = { kid: 'x', alg: 'ES256', type: 'private', keyObject: active.keyObject, publicKey: active.publicKey }
    for (const member of [null, 1, 'key', handBuilt, { key: handBuilt, state: 'active' }, { key: null, state: 'active' }, { key: active }, { key: active, state: 'Active' }, { key: active, state: 'revoked' }]) {
      assert.throws(() => createKeyring([member as unknown as KeyringEntry]), { code: 'ERR_KEY_INVALID' }, JSON.stringify(member))
    }
  })

  it('carries the rejected list it is given', () => {
    const k = createKeyring([active], [{ kid: 'x', reason: 'why' }])
    assert.deepEqual(k.rejected, [{ kid: 'x', reason: 'why' }])
    assert.ok(Object.isFrozen(k.rejected))
  })
})

// Signs `headerSegment.payloadSegment` with the key's own algorithm (signJws writes its own header).
function resign(key: JwsKey, headerSegment: string, payloadSegment: string): string {
  const input = `${headerSegment}.${payloadSegment}`
  const data = Buffer.from(input)
  const bits = key.alg.slice(2)
  let signature: Buffer
  switch (key.alg.slice(0, 2)) {
    case 'HS': signature = createHmac(`sha${bits}`, key.keyObject).update(data).digest(); break
    case 'RS': signature = sign(`sha${bits}`, data, { key: key.keyObject, padding: constants.RSA_PKCS1_PADDING }); break
    case 'ES': signature = sign(`sha${bits}`, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }); break
    default: signature = sign(null, data, key.keyObject)
  }
  return `${input}.${signature.toString('base64url')}`
}

describe('importJwks', () => {
  const ec = es('ec')
  const ed = generateKey('EdDSA', { kid: 'ed' })

  it('imports public keys as a verify-only keyring', () => {
    const keyring = importJwks({ keys: [exportPublicJwk(ec), exportPublicJwk(ed), exportPublicJwk(rsa)] })
    assert.deepEqual(keyring.entries.map((e) => [e.key.kid, e.key.alg, e.key.type, e.state]), [
      ['ec', 'ES256', 'public', 'retired'], ['ed', 'EdDSA', 'public', 'retired'], ['rsa', 'RS256', 'public', 'retired'],
    ])
    assert.equal(verifyJws(signJws('x', rsa), keyring).key.kid, 'rsa')
    assert.deepEqual(importJwks({ keys: [] }).entries, [])
  })

  it('infers the algorithm of EC and OKP keys without "alg"', () => {
    const strip = (jwk: Jwk): Jwk => ({ ...jwk, alg: undefined })
    const keys = [es('p256'), generateKey('ES384', { kid: 'p384' }), generateKey('ES512', { kid: 'p521' }), ed, generateKey('EdDSA', { kid: 'ed448', crv: 'Ed448' })]
    const keyring = importJwks({ keys: keys.map((k) => strip(exportPublicJwk(k))) })
    assert.deepEqual(keyring.entries.map((e) => e.key.alg), ['ES256', 'ES384', 'ES512', 'EdDSA', 'EdDSA'])
  })

  it('RSA keys without "alg" need defaultRsaAlgorithm', () => {
    const jwk = { ...exportPublicJwk(rsa), alg: undefined }
    const refused = importJwks({ keys: [jwk] })
    assert.deepEqual(refused.rejected, [{ kid: 'rsa', reason: 'an RSA JWK without "alg" has no single algorithm' }])
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const) {
      assert.equal(importJwks({ keys: [jwk] }, { defaultRsaAlgorithm: alg }).entries[0]!.key.alg, alg)
    }
    // The default applies to RSA keys without alg only.
    assert.equal(importJwks({ keys: [exportPublicJwk(rsa)] }, { defaultRsaAlgorithm: 'PS512' }).entries[0]!.key.alg, 'RS256')
  })

  it('leaves out unusable keys and says why', () => {
    const ecJwk = exportPublicJwk(ec)
    const keyring = importJwks({
      keys: [
        { ...ecJwk, kid: 'enc', use: 'enc' },
        { ...ecJwk, kid: 'ops', key_ops: ['encrypt'] },
        { ...ecJwk, kid: 'bad-alg', alg: 'ES256K' },
        { ...ecJwk, kid: 'rsa-oaep', alg: 'RSA-OAEP' },
        { ...ecJwk, kid: 'curve', alg: undefined, crv: 'secp256k1' },
        { kid: 'okp-x25519', kty: 'OKP', crv: 'X25519', x: ecJwk.x },
        { kid: 'unknown-kty', kty: 'DSA' },
        { kid: 'no-kty' },
        { ...ecJwk, kid: 'off-curve', y: ecJwk.x },
        { ...exportPrivateJwk(ec), kid: 'private' },
        { ...ecJwk, kid: 'wrong-kty-for-alg', alg: 'RS256' },
        { ...ecJwk, kid: 'good' },
        { ...ecJwk, kid: undefined, alg: 'none' },
      ],
    })
    assert.deepEqual(keyring.entries.map((e) => e.key.kid), ['good'])
    assert.deepEqual(keyring.rejected.map((r) => r.kid), ['enc', 'ops', 'bad-alg', 'rsa-oaep', 'curve', 'okp-x25519', 'unknown-kty', 'no-kty', 'off-curve', 'private', 'wrong-kty-for-alg', undefined])
    for (const { reason } of keyring.rejected) assert.equal(typeof reason, 'string')
    assert.equal(keyring.rejected.find((r) => r.kid === 'private')!.reason, 'a public key was expected')
  })

  it('private and oct keys only with allowPrivate', () => {
    const secret = generateKey('HS256', { kid: 'hs' })
    const octSet = { keys: [exportPrivateJwk(secret)] }
    assert.throws(() => importJwks(octSet), { code: 'ERR_KEY_INVALID' })
    const keyring = importJwks(octSet, { allowPrivate: true })
    assert.equal(keyring.entries[0]!.key.type, 'secret')
    assert.equal(verifyJws(signJws('x', secret), keyring).key.kid, 'hs')
    const withPrivate = importJwks({ keys: [exportPrivateJwk(ec)] }, { allowPrivate: true })
    assert.equal(withPrivate.entries[0]!.key.type, 'private')
    // Still verify-only: every key enters as retired.
    assert.throws(() => withPrivate.signingKey(), { code: 'ERR_KEYRING_NO_SIGNING_KEY' })
  })

  it('refuses a whole set that is malformed, too large, ambiguous or mixed', () => {
    const ecJwk = exportPublicJwk(ec)
    for (const jwks of [null, undefined, [], {}, { keys: {} }, { keys: 'x' }, 'jwks']) {
      assert.throws(() => importJwks(jwks as unknown as JwkSet), { code: 'ERR_KEY_INVALID' }, JSON.stringify(jwks))
    }
    for (const member of [null, 'jwk', 1, [ecJwk]]) {
      assert.throws(() => importJwks({ keys: [ecJwk, member as unknown as Jwk] }), { code: 'ERR_KEY_INVALID' })
    }
    assert.throws(() => importJwks({ keys: Array.from({ length: 101 }, (_, i) => ({ ...ecJwk, kid: `k${i}` })) }), { code: 'ERR_KEY_INVALID' })
    assert.equal(importJwks({ keys: Array.from({ length: 100 }, (_, i) => ({ ...ecJwk, kid: `k${i}` })) }).entries.length, 100)
    // Duplicate kids, even when one of them would be rejected anyway.
    assert.throws(() => importJwks({ keys: [ecJwk, { ...exportPublicJwk(ed), kid: 'ec' }] }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importJwks({ keys: [ecJwk, { ...ecJwk, use: 'enc' }] }), { code: 'ERR_KEY_INVALID' })
    // A kid-less key whose thumbprint equals another key's kid is a duplicate too.
    assert.throws(() => importJwks({ keys: [{ ...ecJwk, kid: undefined }, { ...exportPublicJwk(ed), kid: computeJwkThumbprint(ecJwk) }] }), { code: 'ERR_KEY_INVALID' })
    const oct = { kty: 'oct', kid: 'oct', alg: 'HS256', k: Buffer.alloc(32, 1).toString('base64url') }
    assert.throws(() => importJwks({ keys: [oct, ecJwk] }, { allowPrivate: true }), { code: 'ERR_KEY_INVALID' })
    assert.throws(() => importJwks({ keys: [ecJwk, oct] }, { allowPrivate: true }), { code: 'ERR_KEY_INVALID' })
  })

  it('options are checked, naming the option', () => {
    const jwks = { keys: [exportPublicJwk(ec)] }
    for (const [options, path] of [
      [{ allowPrivate: 'yes' }, 'allowPrivate'], [{ allowPrivate: 1 }, 'allowPrivate'],
      [{ defaultRsaAlgorithm: 'ES256' }, 'defaultRsaAlgorithm'], [{ defaultRsaAlgorithm: 'bogus' }, 'defaultRsaAlgorithm'], [{ defaultRsaAlgorithm: 'HS256' }, 'defaultRsaAlgorithm'],
      [{ defaultRsaAlgorithm: 'toString' }, 'defaultRsaAlgorithm'], [{ allowprivate: true }, 'allowprivate'], [{ publicOnly: true }, 'publicOnly'],
    ] as const) {
      assert.throws(() => importJwks(jwks, options as never), { code: 'ERR_CONFIG_INVALID', path }, JSON.stringify(options))
    }
    assert.throws(() => importJwks(jwks, null as never), { code: 'ERR_CONFIG_INVALID', path: 'options' })
    assert.equal(importJwks(jwks, { allowPrivate: false, defaultRsaAlgorithm: undefined }).entries.length, 1)
  })

  it('errors other than key refusals propagate instead of being listed', () => {
    const boom = new Error('getter failed')
    const hostile = { kty: 'EC', kid: 'hostile', get alg(): string { throw boom } }
    assert.throws(() => importJwks({ keys: [hostile] }), (e) => e === boom)
  })
})
