// The token debugger's logic (ui/src/token-inspector.ts): decoding, times, verification against
// the issuer's JWKS and against pasted keys (JWK, JWKS, PEM, shared secret), the code and the
// reason of every failure, and hostile input that must give `malformed` without throwing or
// polluting prototypes. Keys come from jose; the clock is fixed.
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import {
  base64url,
  CompactSign,
  EncryptJWT,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose'
import {
  inspectToken,
  KeyParseError,
  MAX_TOKEN_CHARS,
  parseKey,
  type Inspection,
  type InspectOptions,
} from '../../ui/src/token-inspector.ts'

const NOW = Date.UTC(2026, 11, 3, 10, 0, 0) // 2026-12-03T10:00:00Z
const NOW_S = NOW / 1000
const ISSUER = 'https://auth.example'
const SECRET = 'correct horse battery staple, 32+ bytes long'
const encoder = new TextEncoder()

interface Pair { publicKey: CryptoKey; privateKey: CryptoKey }
let issuerKey: Pair // ES256, kid "k1", in the JWKS
let otherIssuerKey: Pair // Ed25519, kid "k2", in the JWKS
let foreignKey: Pair // ES256, signs with kid "k1" but is not in the JWKS
let rsaKey: Pair
let jwks: { keys: JWK[] }
let issuerJwk: JWK

async function sign(key: CryptoKey | Uint8Array, options: { alg?: string; kid?: string | null; claims?: JWTPayload; iat?: number; exp?: number | null; nbf?: number; iss?: string } = {}): Promise<string> {
  const header = { alg: options.alg ?? 'ES256', ...(options.kid === null ? {} : { kid: options.kid ?? 'k1' }), typ: 'JWT' }
  const jwt = new SignJWT({ sub: 'user-42', sid: 'sess-1', ...options.claims })
    .setProtectedHeader(header)
    .setIssuer(options.iss ?? ISSUER)
    .setAudience('orders')
    .setIssuedAt(options.iat ?? NOW_S - 60)
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? NOW_S + 540)
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf)
  return jwt.sign(key)
}

/** A token over exact payload bytes, for payloads SignJWT would normalize. */
async function signRaw(payloadJson: string, key: CryptoKey, kid = 'k1'): Promise<string> {
  return new CompactSign(encoder.encode(payloadJson)).setProtectedHeader({ alg: 'ES256', kid }).sign(key)
}

const b64 = (text: string): string => base64url.encode(text)
const withIssuer = (extra: InspectOptions = {}): InspectOptions => ({ jwks, now: NOW, ...extra })

function failure(inspection: Inspection): { code: string; reason: string } {
  assert.equal(inspection.verdict.ok, false, `expected a failure, got ${JSON.stringify(inspection.verdict)}`)
  return inspection.verdict
}

before(async () => {
  issuerKey = await generateKeyPair('ES256')
  otherIssuerKey = await generateKeyPair('EdDSA')
  foreignKey = await generateKeyPair('ES256')
  rsaKey = await generateKeyPair('RS256')
  issuerJwk = { ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
  jwks = { keys: [issuerJwk, { ...(await exportJWK(otherIssuerKey.publicKey)), kid: 'k2', alg: 'EdDSA', use: 'sig' }] }
})

describe('verifying against the issuer JWKS', () => {
  test('a valid token: ok with kid, alg and source; header, claims and times decoded', async () => {
    const result = await inspectToken(await sign(issuerKey.privateKey), withIssuer({ issuer: ISSUER, audience: 'orders' }))
    assert.deepEqual(result.verdict, { ok: true, kid: 'k1', alg: 'ES256', keySource: 'issuer' })
    assert.deepEqual(result.header, { alg: 'ES256', kid: 'k1', typ: 'JWT' })
    assert.equal(result.claims?.sub, 'user-42')
    assert.deepEqual(result.times, [
      { claim: 'iat', iso: '2026-12-03T09:59:00Z', relative: 'issued 60 s ago' },
      { claim: 'exp', iso: '2026-12-03T10:09:00Z', relative: 'expires in 9 min' },
    ])
  })

  test('an EdDSA token verifies with the second key of the set', async () => {
    const result = await inspectToken(await sign(otherIssuerKey.privateKey, { alg: 'EdDSA', kid: 'k2' }), withIssuer())
    assert.deepEqual(result.verdict, { ok: true, kid: 'k2', alg: 'EdDSA', keySource: 'issuer' })
  })

  test('a token without kid verifies when one of several fitting keys signed it', async () => {
    const second = await generateKeyPair('ES256')
    const set = { keys: [issuerJwk, { ...(await exportJWK(second.publicKey)), kid: 'k3', alg: 'ES256' }] }
    const ok = await inspectToken(await sign(second.privateKey, { kid: null }), { jwks: set, now: NOW })
    assert.deepEqual(ok.verdict, { ok: true, alg: 'ES256', keySource: 'issuer' })
    const forged = failure(await inspectToken(await sign(foreignKey.privateKey, { kid: null }), { jwks: set, now: NOW }))
    assert.equal(forged.code, 'bad_signature')
  })

  test('an expired token: code expired, the reason names the time and how long ago', async () => {
    const result = await inspectToken(await sign(issuerKey.privateKey, { iat: NOW_S - 900, exp: NOW_S - 300 }), withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'expired')
    assert.match(reason, /expired at 2026-12-03T09:55:00Z, 5 min ago \(exp\)/)
    assert.match(reason, /signature is valid/)
    assert.match(reason, /live 10 min/)
    assert.deepEqual(result.times.find((t) => t.claim === 'exp'), { claim: 'exp', iso: '2026-12-03T09:55:00Z', relative: 'expired 5 min ago' })
    assert.equal(result.claims?.sub, 'user-42', 'claims are still shown')
  })

  test('exp equal to now is already expired (no clock tolerance)', async () => {
    assert.equal(failure(await inspectToken(await sign(issuerKey.privateKey, { exp: NOW_S }), withIssuer())).code, 'expired')
    const oneSecondLeft = await inspectToken(await sign(issuerKey.privateKey, { exp: NOW_S + 1 }), withIssuer())
    assert.equal(oneSecondLeft.verdict.ok, true)
  })

  test('a foreign signature under the issuer kid: bad_signature naming the kid', async () => {
    const { code, reason } = failure(await inspectToken(await sign(foreignKey.privateKey), withIssuer()))
    assert.equal(code, 'bad_signature')
    assert.match(reason, /does not match key "k1" of this issuer/)
    assert.match(reason, /forged|another issuer/)
  })

  test('a tampered payload: bad_signature', async () => {
    const [h, , s] = (await sign(issuerKey.privateKey)).split('.')
    const payload = b64(JSON.stringify({ sub: 'admin', iss: ISSUER, exp: NOW_S + 60 }))
    const result = await inspectToken(`${h}.${payload}.${s}`, withIssuer())
    assert.equal(failure(result).code, 'bad_signature')
    assert.equal(result.claims?.sub, 'admin')
  })

  test('an unknown kid: unknown_kid naming the kid and the kids the JWKS has', async () => {
    const { code, reason } = failure(await inspectToken(await sign(issuerKey.privateKey, { kid: 'k9' }), withIssuer()))
    assert.equal(code, 'unknown_kid')
    assert.match(reason, /no key with kid "k9" \(it has "k1", "k2"\)/)
  })

  test('a known kid whose key is of another type: key_mismatch', async () => {
    const { code, reason } = failure(await inspectToken(await sign(rsaKey.privateKey, { alg: 'RS256', kid: 'k1' }), withIssuer()))
    assert.equal(code, 'key_mismatch')
    assert.match(reason, /Key "k1" .* is an EC P-256 key, but the token says alg RS256, which needs an RSA key/)
  })

  test('wrong issuer, and the right one', async () => {
    const token = await sign(issuerKey.privateKey, { iss: 'https://evil.example' })
    const { code, reason } = failure(await inspectToken(token, withIssuer({ issuer: ISSUER })))
    assert.equal(code, 'wrong_issuer')
    assert.match(reason, /"https:\/\/evil\.example", not the expected "https:\/\/auth\.example"/)
    assert.match(reason, /signature is valid/)
    assert.equal((await inspectToken(token, withIssuer())).verdict.ok, true, 'iss is checked only when an issuer is given')
    assert.equal((await inspectToken(token, withIssuer({ issuer: 'https://evil.example' }))).verdict.ok, true)
  })

  test('wrong audience', async () => {
    const { code, reason } = failure(await inspectToken(await sign(issuerKey.privateKey), withIssuer({ audience: 'billing' })))
    assert.equal(code, 'wrong_audience')
    assert.match(reason, /"orders", which does not include "billing"/)
  })

  test('nbf in the future: not_yet_valid with the time; times say so', async () => {
    const result = await inspectToken(await sign(issuerKey.privateKey, { nbf: NOW_S + 120 }), withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'not_yet_valid')
    assert.match(reason, /not valid before 2026-12-03T10:02:00Z, 2 min from now \(nbf\)/)
    assert.deepEqual(result.times.find((t) => t.claim === 'nbf'), { claim: 'nbf', iso: '2026-12-03T10:02:00Z', relative: 'not valid for another 2 min' })
    assert.equal((await inspectToken(await sign(issuerKey.privateKey, { nbf: NOW_S }), withIssuer())).verdict.ok, true, 'nbf = now is valid')
  })

  test('a claim of the wrong type: invalid_claim naming it', async () => {
    const token = await signRaw(JSON.stringify({ sub: 'u', exp: 'tomorrow' }), issuerKey.privateKey)
    const result = await inspectToken(token, withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'invalid_claim')
    assert.match(reason, /"exp" claim is "tomorrow"/)
    assert.deepEqual(result.times, [], 'a non-numeric exp is not shown as a time')
  })

  test('HS256 against the issuer JWKS: alg_not_allowed', async () => {
    const { code, reason } = failure(await inspectToken(await sign(encoder.encode(SECRET), { alg: 'HS256' }), withIssuer()))
    assert.equal(code, 'alg_not_allowed')
    assert.match(reason, /HS256, a shared-secret MAC, but this issuer signs only with public keys/)
  })

  test('an algorithm hallpass does not accept: alg_not_allowed', async () => {
    const token = `${b64(JSON.stringify({ alg: 'ES256K', kid: 'k1' }))}.${b64('{"sub":"u"}')}.c2ln`
    const { code, reason } = failure(await inspectToken(token, withIssuer()))
    assert.equal(code, 'alg_not_allowed')
    assert.match(reason, /alg "ES256K" is not an algorithm hallpass accepts/)
  })

  test('no JWKS and no pasted key: no_key, with header and claims still decoded', async () => {
    const result = await inspectToken(await sign(issuerKey.privateKey), { now: NOW })
    assert.equal(failure(result).code, 'no_key')
    assert.equal(result.header?.kid, 'k1')
    assert.equal(result.claims?.sid, 'sess-1')
    assert.equal(result.times.length, 2)
  })

  test('a JWKS that is not one: bad_key', async () => {
    const token = await sign(issuerKey.privateKey)
    assert.equal(failure(await inspectToken(token, { jwks: { keys: [42] }, now: NOW })).code, 'bad_key')
    assert.equal(failure(await inspectToken(token, { jwks: 'nope' as unknown as { keys: unknown[] }, now: NOW })).code, 'bad_key')
  })
})

describe('verifying against a pasted key', () => {
  test('a pasted JWK (public, or private with its private part dropped)', async () => {
    const token = await sign(issuerKey.privateKey)
    const key = await parseKey(JSON.stringify(issuerJwk))
    assert.equal(key.kind, 'jwk')
    assert.match(key.description, /EC P-256 public key \(JWK, kid "k1"\)/)
    assert.deepEqual((await inspectToken(token, { key, now: NOW })).verdict, { ok: true, kid: 'k1', alg: 'ES256', keySource: 'pasted' })

    const privateJwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)
    const ownKey = await parseKey(JSON.stringify(privateJwk))
    assert.match(ownKey.description, /private parts ignored/)
    assert.ok(ownKey.kind === 'jwk' && !('d' in ownKey.jwk))
    const wrong = failure(await inspectToken(token, { key: ownKey, now: NOW }))
    assert.equal(wrong.code, 'bad_signature')
    assert.match(wrong.reason, /does not match the pasted key/)
  })

  test('a pasted key takes precedence over the issuer JWKS', async () => {
    const key = await parseKey(JSON.stringify({ ...(await exportJWK(foreignKey.publicKey)), kid: 'f1' }))
    const result = await inspectToken(await sign(foreignKey.privateKey), withIssuer({ key }))
    assert.deepEqual(result.verdict, { ok: true, kid: 'k1', alg: 'ES256', keySource: 'pasted' })
  })

  test('a pasted JWKS', async () => {
    const key = await parseKey(JSON.stringify(jwks))
    assert.equal(key.kind, 'jwks')
    assert.match(key.description, /JWKS with 2 keys \(kid "k1", "k2"\)/)
    assert.deepEqual((await inspectToken(await sign(issuerKey.privateKey), { key, now: NOW })).verdict, { ok: true, kid: 'k1', alg: 'ES256', keySource: 'pasted' })
    assert.equal(failure(await inspectToken(await sign(issuerKey.privateKey, { kid: 'zz' }), { key, now: NOW })).code, 'unknown_kid')
  })

  test('a pasted PEM SPKI key (RSA, and Ed25519)', async () => {
    const pem = await exportSPKI(rsaKey.publicKey)
    const key = await parseKey(`\n${pem}\n`)
    assert.equal(key.kind, 'pem')
    assert.match(key.description, /RSA public key \(PEM SPKI\)/)
    const result = await inspectToken(await sign(rsaKey.privateKey, { alg: 'RS256', kid: 'rsa-1' }), { key, now: NOW })
    assert.deepEqual(result.verdict, { ok: true, kid: 'rsa-1', alg: 'RS256', keySource: 'pasted' })

    const edKey = await parseKey(await exportSPKI(otherIssuerKey.publicKey))
    assert.match(edKey.description, /Ed25519/)
    assert.equal((await inspectToken(await sign(otherIssuerKey.privateKey, { alg: 'EdDSA' }), { key: edKey, now: NOW })).verdict.ok, true)
  })

  test('a pasted key of the wrong type: key_mismatch', async () => {
    const key = await parseKey(await exportSPKI(rsaKey.publicKey))
    const { code, reason } = failure(await inspectToken(await sign(issuerKey.privateKey), { key, now: NOW }))
    assert.equal(code, 'key_mismatch')
    assert.match(reason, /signed with ES256, which needs an EC P-256 key, but the pasted key is an RSA key/)
  })

  test('an HS256 shared secret, right and wrong', async () => {
    const token = await sign(encoder.encode(SECRET), { alg: 'HS256', kid: null })
    const key = await parseKey(`${SECRET}\n`)
    assert.equal(key.kind, 'secret')
    assert.equal(key.description, `Shared secret (${encoder.encode(SECRET).length} bytes)`)
    assert.deepEqual((await inspectToken(token, { key, now: NOW })).verdict, { ok: true, alg: 'HS256', keySource: 'pasted' })
    const wrong = failure(await inspectToken(token, { key: await parseKey('another secret entirely'), now: NOW }))
    assert.equal(wrong.code, 'bad_signature')
  })

  test('an oct JWK is a shared secret', async () => {
    const key = await parseKey(JSON.stringify({ kty: 'oct', k: base64url.encode(SECRET) }))
    assert.equal(key.kind, 'secret')
    assert.equal((await inspectToken(await sign(encoder.encode(SECRET), { alg: 'HS256' }), { key, now: NOW })).verdict.ok, true)
  })

  test('HS256 with a pasted public key is refused (algorithm confusion)', async () => {
    const pem = await exportSPKI(rsaKey.publicKey)
    // The classic attack: the public key's PEM text used as the HMAC secret.
    const token = await sign(encoder.encode(pem), { alg: 'HS256' })
    const { code, reason } = failure(await inspectToken(token, { key: await parseKey(pem), now: NOW }))
    assert.equal(code, 'alg_not_allowed')
    assert.match(reason, /algorithm-confusion/)
    await assert.rejects(parseKey(pem, 'HS256'), (error: unknown) => error instanceof KeyParseError && /algorithm-confusion/.test(error.message))
  })
})

describe('parseKey errors', () => {
  const rejects = (text: string, pattern: RegExp, alg?: string) =>
    assert.rejects(parseKey(text, alg), (error: unknown) => {
      assert.ok(error instanceof KeyParseError, `not a KeyParseError: ${String(error)}`)
      assert.match(error.message, pattern)
      return true
    })

  test('empty, broken JSON, arrays, JSON that is no key', async () => {
    await rejects('  \n', /No key was pasted/)
    await rejects('{"kty": "EC",', /looks like JSON but does not parse/)
    await rejects('[{"kty":"EC"}]', /JSON array/)
    await rejects('{"foo": 1}', /neither "kty" \(a JWK\) nor "keys" \(a JWKS\)/)
    await rejects('{"keys": []}', /JWKS has no keys/)
    await rejects('{"keys": [{"kty": "EC", "crv": "secp256k1"}]}', /Key 1 of the JWKS cannot verify: its EC curve "secp256k1"/)
  })

  test('JWKs that are not usable keys', async () => {
    await rejects('{"kty": "X"}', /kty "X" is not RSA, EC, OKP or oct/)
    await rejects(JSON.stringify({ ...issuerJwk, x: 'AAAA' }), /not a valid EC P-256 public key/)
    await rejects(JSON.stringify(issuerJwk), /signed with ES384, which needs an EC P-384 key, but the pasted JWK is an EC P-256 key/, 'ES384')
    await rejects(JSON.stringify({ ...(await exportJWK(rsaKey.publicKey)), alg: 'RS256' }), /JWK is for alg "RS256" but the token uses PS256/, 'PS256')
    await rejects(JSON.stringify(issuerJwk), /needs an RSA key, but the pasted JWK is an EC P-256 key/, 'RS256')
    await rejects('{"kty": "oct"}', /no usable "k"/)
  })

  test('PEM blocks that are not public keys', async () => {
    const pkcs8 = await exportPKCS8((await generateKeyPair('ES256', { extractable: true })).privateKey)
    await rejects(pkcs8, /private key; paste the public key/)
    await rejects('-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----', /PKCS#1/)
    await rejects('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /not an RSA, EC .* or Ed25519 public key/)
    await rejects(await exportSPKI(rsaKey.publicKey), /PEM key is not an EC P-256 key usable with ES256/, 'ES256')
  })

  test('a plain string for an asymmetric alg, an unknown alg, and oversized input', async () => {
    await rejects('hunter2', /signed with ES256, which needs an EC P-256 key \(a JWK, a JWKS or a PEM/, 'ES256')
    await rejects('hunter2', /alg "none" is not one this page verifies/, 'none')
    await rejects('x'.repeat(70_000), /at most 64 KB/)
  })
})

describe('tokens that cannot be verified at all', () => {
  test('alg "none" (any case): unsigned, claims still shown', async () => {
    const payload = b64(JSON.stringify({ sub: 'admin', iss: ISSUER, exp: NOW_S + 60 }))
    const result = await inspectToken(`eyJhbGciOiJub25lIn0.${payload}.`, withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'unsigned')
    assert.equal(reason, 'alg is "none": the token is not signed. hallpass and every safe verifier refuse unsigned tokens.')
    assert.deepEqual(result.header, { alg: 'none' })
    assert.equal(result.claims?.sub, 'admin')
    for (const alg of ['None', 'NONE', 'nOnE']) {
      const variant = failure(await inspectToken(`${b64(JSON.stringify({ alg }))}.${payload}.c2ln`, withIssuer()))
      assert.equal(variant.code, 'unsigned', alg)
      assert.match(variant.reason, new RegExp(`^alg is "${alg}": the token is not signed`))
    }
  })

  test('a signed alg with an empty signature: unsigned', async () => {
    const [h, p] = (await sign(issuerKey.privateKey)).split('.')
    const { code, reason } = failure(await inspectToken(`${h}.${p}.`, withIssuer()))
    assert.equal(code, 'unsigned')
    assert.match(reason, /signature \(part 3\) is empty/)
  })

  test('a 5-part JWE: encrypted, with its header and no claims', async () => {
    const jwe = await new EncryptJWT({ sub: 'u' }).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(new Uint8Array(32).fill(7))
    assert.equal(jwe.split('.').length, 5)
    const result = await inspectToken(jwe, withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'encrypted')
    assert.match(reason, /encrypted token \(JWE, alg "dir", enc "A256GCM"\): its claims cannot be read without the decryption key/)
    assert.equal(result.header?.enc, 'A256GCM')
    assert.equal(result.claims, undefined)
  })

  test('"Bearer " and surrounding whitespace are accepted', async () => {
    const result = await inspectToken(`  Bearer ${await sign(issuerKey.privateKey)}\n`, withIssuer())
    assert.equal(result.verdict.ok, true)
  })
})

describe('hostile input', () => {
  const malformed = async (input: string, pattern: RegExp) => {
    const result = await inspectToken(input, withIssuer())
    const { code, reason } = failure(result)
    assert.equal(code, 'malformed', `${JSON.stringify(input.slice(0, 40))}: ${reason}`)
    assert.match(reason, pattern)
    return result
  }

  test('empty, whitespace, random text', async () => {
    const empty = await malformed('', /Nothing to inspect/)
    assert.equal(empty.header, undefined)
    assert.deepEqual(empty.times, [])
    await malformed(' \n\t ', /Nothing to inspect/)
    await malformed('hello world', /" " at position 6/)
    await malformed('{"alg":"ES256"}', /"\{" at position 1; a JWT holds only base64url characters/)
    await malformed('eyJhbGciOiJFUzI1NiJ9.eyJ9=.sig', /"=" at position/)
  })

  test('a 1 MB string is refused by size, quickly', async () => {
    const big = `${'a'.repeat(1 << 19)}.${'b'.repeat(1 << 19)}.c`
    const started = performance.now()
    const result = await malformed(big, /1024 KB; a token this large is not inspected \(the limit is 16 KB/)
    assert.ok(performance.now() - started < 50, 'the size check comes first')
    assert.equal(result.header, undefined)
    await malformed('a'.repeat(MAX_TOKEN_CHARS + 1), /not inspected/)
  })

  test('wrong number of parts', async () => {
    await malformed('abc', /1 part separated by dots; a signed JWT has 3/)
    await malformed('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0', /2 parts/)
    await malformed('a.b.c.d', /4 parts/)
    await malformed('a.b.c.d.e.f', /6 parts/)
    await malformed('a.b.c.d.e', /5 parts like an encrypted JWE, but: The header \(part 1\) is not valid base64url/)
  })

  test('a.b.c and other undecodable segments', async () => {
    await malformed('a.b.c', /header \(part 1\) is not valid base64url/)
    await malformed(`.${b64('{}')}.c2ln`, /header \(part 1\) is empty/)
    await malformed(`${b64('not json')}.${b64('{}')}.c2ln`, /header \(part 1\) is not JSON \(it decodes to "not json"\)/)
    await malformed(`${base64url.encode(new Uint8Array([0xff, 0xfe, 0x7b]))}.${b64('{}')}.c2ln`, /not UTF-8/)
    await malformed(`${b64('[1,2]')}.${b64('{}')}.c2ln`, /header \(part 1\) is JSON array, not a JSON object/)
    await malformed(`${b64('null')}.${b64('{}')}.c2ln`, /JSON null/)
    await malformed(`${b64('"ES256"')}.${b64('{}')}.c2ln`, /JSON string/)
    const payloadBad = await malformed(`${b64('{"alg":"ES256"}')}.${b64('[]')}.c2ln`, /payload \(part 2\) is JSON array/)
    assert.deepEqual(payloadBad.header, { alg: 'ES256' }, 'the header is shown when only the payload is bad')
    await malformed(`${b64('{"typ":"JWT"}')}.${b64('{}')}.c2ln`, /no "alg" string/)
    await malformed(`${b64('{"alg":"ES256","kid":7}')}.${b64('{}')}.c2ln`, /"kid" is 7, not a string/)
  })

  test('a deeply nested payload does not throw', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`
    await malformed(`${b64('{"alg":"ES256"}')}.${b64(deep)}.c2ln`, /payload \(part 2\) is JSON array/)
  })

  test('__proto__ and constructor keys stay data and pollute nothing', async () => {
    const payload = '{"sub":"u","__proto__":{"polluted":"yes","isAdmin":true},"constructor":{"prototype":{"polluted":"yes"}},"exp":' + String(NOW_S + 60) + '}'
    const header = '{"alg":"ES256","kid":"k1","__proto__":{"polluted":"yes"}}'
    const signed = await signRaw(payload, issuerKey.privateKey)
    for (const token of [signed, `${b64(header)}.${b64(payload)}.`]) {
      const result = await inspectToken(token, withIssuer())
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined)
      assert.equal(Object.getPrototypeOf(result.claims), Object.prototype)
      assert.ok(Object.hasOwn(result.claims!, '__proto__'), '__proto__ is an own data property')
      assert.equal(result.claims!.isAdmin, undefined)
      assert.equal(result.claims!.sub, 'u')
    }
    assert.deepEqual((await inspectToken(signed, withIssuer())).verdict, { ok: true, kid: 'k1', alg: 'ES256', keySource: 'issuer' })
    const key = await parseKey(JSON.stringify(issuerJwk).replace(/^\{/, '{"__proto__":{"polluted":"yes"},'))
    assert.ok(key.kind === 'jwk')
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(Object.getPrototypeOf(key.jwk), Object.prototype, 'the copied JWK keeps its prototype')
    assert.equal((key.jwk as Record<string, unknown>).polluted, undefined)
    assert.equal((await inspectToken(signed, { key, now: NOW })).verdict.ok, true)
  })

  test('claims with absurd times: no throw, "(out of range)"', async () => {
    const payload = b64(JSON.stringify({ iat: 1e300, nbf: -1e20, exp: 8.64e12 + 1 }))
    const result = await inspectToken(`${b64('{"alg":"ES256","kid":"k1"}')}.${payload}.c2ln`, withIssuer())
    assert.deepEqual(result.times.map((t) => t.iso), ['(out of range)', '(out of range)', '(out of range)'])
    assert.notEqual(result.verdict.ok, true)
  })

  test('mutations of a valid token never throw and always give a well-formed verdict', async () => {
    const token = await sign(issuerKey.privateKey)
    const alphabet = 'ABCabc019-_.=+/ \u0000é'
    let seed = 12345
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let i = 0; i < 300; i++) {
      const at = random(token.length)
      const mutated = random(4) === 0 ? token.slice(0, at) : token.slice(0, at) + alphabet[random(alphabet.length)] + token.slice(at + 1)
      const result = await inspectToken(mutated, withIssuer())
      assert.ok(Array.isArray(result.times))
      if (!result.verdict.ok) {
        assert.equal(typeof result.verdict.code, 'string')
        assert.ok(result.verdict.reason.length > 10)
      }
    }
  })
})
