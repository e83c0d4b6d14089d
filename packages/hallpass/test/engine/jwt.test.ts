// JWT signing and verification through the public API: option checks (each naming its path),
// the typ check, and every claim rule at its exact boundary with an injected clock.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  ACCESS_TOKEN_TYP,
  createJwtVerifier,
  createKeyring,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  generateKey,
  importKey,
  signJwt,
  verifyJwt,
  type JwtClaims,
  type JwtVerifierOptions,
} from '../../src/index.ts'

const NOW = 1_800_000_000
const key = generateKey('ES256', { kid: 'k1' })
const secret = generateKey('HS256', { kid: 'h1' })
const b64 = (value: string): string => Buffer.from(value).toString('base64url')
const headerOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>
const signRaw = (header: string, payload: string): string => {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret.keyObject).update(input).digest('base64url')}`
}

/** A verifier at a fixed clock (milliseconds: NOW seconds plus `offsetMs`). */
const at = (options: Partial<JwtVerifierOptions> = {}, offsetMs = 0): ((token: string) => JwtClaims) => {
  const verify = createJwtVerifier({ keys: key, now: () => NOW * 1000 + offsetMs, ...options })
  return (token) => verify(token).claims
}

describe('signJwt', () => {
  it('signs {alg, kid, typ: at+jwt} over the JSON claims', () => {
    assert.equal(ACCESS_TOKEN_TYP, 'at+jwt')
    const token = signJwt({ sub: 'u', exp: NOW + 60 }, key)
    assert.deepEqual(headerOf(token), { alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()), { sub: 'u', exp: NOW + 60 })
    assert.deepEqual(headerOf(signJwt({}, key, { typ: 'rt+jwt' })), { alg: 'ES256', kid: 'k1', typ: 'rt+jwt' })
    assert.deepEqual(headerOf(signJwt({}, key, { typ: '' })), { alg: 'ES256', kid: 'k1' })
  })

  it('claims must be an object and numeric dates finite numbers', () => {
    for (const claims of [null, undefined, 'claims', 1, [], [{ sub: 'a' }]]) {
      assert.throws(() => signJwt(claims as unknown as JwtClaims, key), { code: 'ERR_CONFIG_INVALID', path: 'claims' })
    }
    for (const claim of ['exp', 'nbf', 'iat']) {
      for (const value of ['1700000000', Number.NaN, Infinity, -Infinity, null, true, [1], { n: 1 }]) {
        assert.throws(() => signJwt({ [claim]: value }, key), { code: 'ERR_JWT_CLAIM_INVALID', claim, reason: 'type' })
      }
    }
    assert.ok(signJwt({ exp: NOW + 0.5, nbf: -1, iat: 0 }, key))
  })

  it('never mints a token over the size limit verifiers enforce', () => {
    assert.throws(() => signJwt({ pad: 'x'.repeat(8192) }, key), { code: 'ERR_JWT_TOO_LARGE', limit: 8192 })
    assert.throws(() => signJwt({ pad: 'x'.repeat(100) }, key, { maxTokenBytes: 100 }), { code: 'ERR_JWT_TOO_LARGE', limit: 100 })
    assert.ok(signJwt({ pad: 'x'.repeat(8192) }, key, { maxTokenBytes: 20_000 }).length > 8192)
  })

  it('needs a private or secret key', () => {
    assert.throws(() => signJwt({}, importKey(key.publicKey!, { alg: 'ES256' })), { code: 'ERR_KEY_INVALID' })
  })
})

describe('createJwtVerifier options', () => {
  const invalid: Array<[Record<string, unknown>, string]> = [
    [{ keys: undefined }, 'keys'], [{ keys: null }, 'keys'], [{ keys: 'secret' }, 'keys'], [{ keys: {} }, 'keys'], [{ keys: { resolveVerifyKey: 1 } }, 'keys'],
    [{ typ: '' }, 'typ'], [{ typ: true }, 'typ'], [{ typ: 1 }, 'typ'], [{ typ: null }, 'typ'],
    [{ algorithms: [] }, 'algorithms'], [{ algorithms: 'ES256' }, 'algorithms'], [{ algorithms: ['none'] }, 'algorithms'], [{ algorithms: ['ES256', 'es256'] }, 'algorithms'],
    [{ maxTokenBytes: 0 }, 'maxTokenBytes'], [{ maxTokenBytes: -5 }, 'maxTokenBytes'], [{ maxTokenBytes: 10.5 }, 'maxTokenBytes'], [{ maxTokenBytes: '8192' }, 'maxTokenBytes'], [{ maxTokenBytes: Number.NaN }, 'maxTokenBytes'],
    [{ issuer: '' }, 'issuer'], [{ issuer: [] }, 'issuer'], [{ issuer: [1] }, 'issuer'], [{ issuer: ['a', ''] }, 'issuer'], [{ issuer: 7 }, 'issuer'], [{ issuer: null }, 'issuer'],
    [{ audience: '' }, 'audience'], [{ audience: [] }, 'audience'], [{ audience: [null] }, 'audience'], [{ audience: { a: 1 } }, 'audience'],
    [{ requiredClaims: 'exp' }, 'requiredClaims'], [{ requiredClaims: [1] }, 'requiredClaims'], [{ requiredClaims: null }, 'requiredClaims'],
    [{ clockToleranceSeconds: -1 }, 'clockToleranceSeconds'], [{ clockToleranceSeconds: Number.NaN }, 'clockToleranceSeconds'], [{ clockToleranceSeconds: Infinity }, 'clockToleranceSeconds'], [{ clockToleranceSeconds: '30' }, 'clockToleranceSeconds'],
    [{ maxTokenAgeSeconds: -0.5 }, 'maxTokenAgeSeconds'], [{ maxTokenAgeSeconds: Infinity }, 'maxTokenAgeSeconds'], [{ maxTokenAgeSeconds: '60' }, 'maxTokenAgeSeconds'],
    [{ now: Date.now() }, 'now'], [{ now: 'now' }, 'now'],
    [{ audiences: 'api' }, 'audiences'], [{ clockTolerance: 30 }, 'clockTolerance'], [{ maxTokenAge: 60 }, 'maxTokenAge'], [{ currentDate: new Date() }, 'currentDate'],
  ]
  for (const [options, path] of invalid) {
    it(`${Object.keys(options).join(',')} = ${String(JSON.stringify(Object.values(options)[0]))} → ERR_CONFIG_INVALID at "${path}"`, () => {
      assert.throws(() => createJwtVerifier({ keys: key, ...options }), { code: 'ERR_CONFIG_INVALID', path })
    })
  }

  it('options must be an object', () => {
    for (const options of [undefined, null, 'key', [key]]) {
      assert.throws(() => createJwtVerifier(options as unknown as JwtVerifierOptions), { code: 'ERR_CONFIG_INVALID', path: 'options' })
    }
  })

  it('accepts every option at a legal edge value', () => {
    const verify = createJwtVerifier({
      keys: createKeyring([key]), issuer: ['a', 'b'], audience: 'c', typ: false, requiredClaims: [], clockToleranceSeconds: 0,
      maxTokenAgeSeconds: 0, maxTokenBytes: 1, algorithms: ['ES256'], now: () => 0,
    })
    assert.equal(typeof verify, 'function')
    assert.equal(DEFAULT_CLOCK_TOLERANCE_SECONDS, 30)
  })

  it('a clock that returns something other than a finite number fails closed', () => {
    const token = signJwt({ exp: 1 }, key)
    for (const now of [() => Number.NaN, () => Infinity, () => undefined, () => 'soon']) {
      assert.throws(() => createJwtVerifier({ keys: key, now: now as () => number })(token), { code: 'ERR_CONFIG_INVALID', path: 'now' })
    }
  })

  it('verifyJwt checks the options on each call and verifies once', () => {
    const token = signJwt({ exp: NOW + 60 }, key)
    assert.equal(verifyJwt(token, { keys: key, now: () => NOW * 1000 }).claims.exp, NOW + 60)
    assert.throws(() => verifyJwt(token, { keys: key, clockToleranceSeconds: -1 }), { code: 'ERR_CONFIG_INVALID' })
  })
})

describe('verification result and the typ header', () => {
  it('returns the header, the claims and the key that verified', () => {
    const other = generateKey('ES256', { kid: 'k2' })
    const keyring = createKeyring([{ key, state: 'active' }, { key: other, state: 'retired' }])
    const token = signJwt({ sub: 'u', exp: NOW + 60, nested: { a: [1, 'b'] } }, other)
    const result = createJwtVerifier({ keys: keyring, now: () => NOW * 1000 })(token)
    assert.equal(result.key, other)
    assert.deepEqual(result.header, { alg: 'ES256', kid: 'k2', typ: 'at+jwt' })
    assert.deepEqual(result.claims, { sub: 'u', exp: NOW + 60, nested: { a: [1, 'b'] } })
  })

  it('typ: the configured one, compared as a media type; false skips the check', () => {
    const noTyp = signJwt({ exp: NOW + 60 }, key, { typ: '' })
    const jwt = signJwt({ exp: NOW + 60 }, key, { typ: 'JWT' })
    assert.throws(() => at()(noTyp), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'typ', reason: 'missing' })
    assert.throws(() => at()(jwt), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'typ', reason: 'value' })
    assert.ok(at({ typ: false })(noTyp))
    assert.ok(at({ typ: false })(jwt))
    assert.ok(at({ typ: 'jwt' })(jwt))
    assert.ok(at({ typ: 'application/JWT' })(jwt))
    assert.ok(at({ typ: 'dpop+jwt' })(signJwt({ exp: NOW + 60 }, key, { typ: 'application/DPoP+JWT' })))
    assert.throws(() => at({ typ: 'jwt' })(signJwt({ exp: NOW + 60 }, key, { typ: 'application/jwt/x' })), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'typ' })
  })

  it('the allowlist and the size limit apply', () => {
    const token = signJwt({ exp: NOW + 60 }, key)
    assert.throws(() => at({ algorithms: ['ES384'] })(token), { code: 'ERR_JWS_ALG_NOT_ALLOWED' })
    assert.throws(() => at({ maxTokenBytes: token.length - 1 })(token), { code: 'ERR_JWT_TOO_LARGE' })
    assert.ok(at({ maxTokenBytes: token.length, algorithms: ['ES256'] })(token))
  })

  it('the payload must be a UTF-8 JSON object without duplicates, and not empty', () => {
    const verify = createJwtVerifier({ keys: secret, typ: false, requiredClaims: [], now: () => NOW * 1000 })
    for (const payload of ['', '[]', '{"a":1,"a":2}', '{"__proto__":{}}', 'null', '{"a":']) {
      assert.throws(() => verify(signRaw('{"alg":"HS256"}', payload)), { code: 'ERR_JWT_MALFORMED' }, payload)
    }
    assert.deepEqual(verify(signRaw('{"alg":"HS256"}', '{}')).claims, {})
  })
})

describe('claims at their exact boundaries', () => {
  // now = NOW seconds (+ up to 999 ms: the clock is floored to whole seconds, as jose does).
  for (const ms of [0, 999]) {
    describe(`clock at NOW + ${ms} ms`, () => {
      it('exp: valid while exp > now - tolerance', () => {
        for (const tolerance of [0, 30, 120]) {
          const verify = at({ clockToleranceSeconds: tolerance }, ms)
          assert.ok(verify(signJwt({ exp: NOW - tolerance + 1 }, key)))
          assert.ok(verify(signJwt({ exp: NOW - tolerance + 0.001 }, key)))
          assert.throws(() => verify(signJwt({ exp: NOW - tolerance }, key)), { code: 'ERR_JWT_EXPIRED', claim: 'exp' })
          assert.throws(() => verify(signJwt({ exp: NOW - tolerance - 1 }, key)), { code: 'ERR_JWT_EXPIRED', claim: 'exp' })
        }
      })

      it('nbf: valid while nbf <= now + tolerance', () => {
        for (const tolerance of [0, 30]) {
          const verify = at({ clockToleranceSeconds: tolerance }, ms)
          assert.ok(verify(signJwt({ exp: NOW + 600, nbf: NOW + tolerance }, key)))
          assert.throws(() => verify(signJwt({ exp: NOW + 600, nbf: NOW + tolerance + 1 }, key)), { code: 'ERR_JWT_NOT_YET_VALID', claim: 'nbf' })
          assert.throws(() => verify(signJwt({ exp: NOW + 600, nbf: NOW + tolerance + 0.5 }, key)), { code: 'ERR_JWT_NOT_YET_VALID' })
        }
      })

      it('iat: not after now + tolerance', () => {
        const verify = at({ clockToleranceSeconds: 10 }, ms)
        assert.ok(verify(signJwt({ exp: NOW + 600, iat: NOW + 10 }, key)))
        assert.throws(() => verify(signJwt({ exp: NOW + 600, iat: NOW + 11 }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'iat', reason: 'value' })
      })

      it('maxTokenAgeSeconds: now - iat <= max + tolerance, and iat required', () => {
        for (const tolerance of [0, 30]) {
          const verify = at({ clockToleranceSeconds: tolerance, maxTokenAgeSeconds: 300 }, ms)
          assert.ok(verify(signJwt({ exp: NOW + 600, iat: NOW - 300 - tolerance }, key)))
          assert.ok(verify(signJwt({ exp: NOW + 600, iat: NOW }, key)))
          assert.throws(() => verify(signJwt({ exp: NOW + 600, iat: NOW - 301 - tolerance }, key)), { code: 'ERR_JWT_EXPIRED', claim: 'iat' })
          assert.throws(() => verify(signJwt({ exp: NOW + 600 }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'iat', reason: 'missing' })
        }
        const zero = at({ clockToleranceSeconds: 0, maxTokenAgeSeconds: 0 }, ms)
        assert.ok(zero(signJwt({ exp: NOW + 600, iat: NOW }, key)))
        assert.throws(() => zero(signJwt({ exp: NOW + 600, iat: NOW - 1 }, key)), { code: 'ERR_JWT_EXPIRED', claim: 'iat' })
      })
    })
  }

  it('the default tolerance is 30 seconds', () => {
    const verify = at()
    assert.ok(verify(signJwt({ exp: NOW - 29 }, key)))
    assert.throws(() => verify(signJwt({ exp: NOW - 30 }, key)), { code: 'ERR_JWT_EXPIRED' })
    assert.ok(verify(signJwt({ exp: NOW + 60, nbf: NOW + 30 }, key)))
    assert.throws(() => verify(signJwt({ exp: NOW + 60, nbf: NOW + 31 }, key)), { code: 'ERR_JWT_NOT_YET_VALID' })
  })

  it('the clock is read per token, never cached', () => {
    let now = NOW * 1000
    const verify = createJwtVerifier({ keys: key, clockToleranceSeconds: 0, now: () => now })
    const token = signJwt({ exp: NOW + 10 }, key)
    assert.ok(verify(token))
    now += 10_000
    assert.throws(() => verify(token), { code: 'ERR_JWT_EXPIRED' })
  })

  it('required claims: exp by default, configurable, checked for presence', () => {
    assert.throws(() => at()(signJwt({ sub: 'u' }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'exp', reason: 'missing' })
    assert.ok(at({ requiredClaims: [] })(signJwt({ sub: 'u' }, key)))
    const verify = at({ requiredClaims: ['exp', 'sub', 'jti', 'custom'] })
    assert.throws(() => verify(signJwt({ exp: NOW + 60, sub: 'u', jti: 'j' }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'custom', reason: 'missing' })
    assert.ok(verify(signJwt({ exp: NOW + 60, sub: 'u', jti: 'j', custom: false }, key)))
    // A present null is not missing (it then fails its type where one is defined).
    assert.ok(verify(signJwt({ exp: NOW + 60, sub: 'u', jti: 'j', custom: null }, key)))
  })

  it('issuer: one string or any of several, exact match, required when configured', () => {
    const claims = { exp: NOW + 60 }
    for (const issuer of ['https://a', ['https://b', 'https://a']]) {
      const verify = at({ issuer })
      assert.ok(verify(signJwt({ ...claims, iss: 'https://a' }, key)))
      assert.throws(() => verify(signJwt({ ...claims, iss: 'https://a/' }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'iss', reason: 'value' })
      assert.throws(() => verify(signJwt({ ...claims, iss: 'HTTPS://A' }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'iss', reason: 'value' })
      assert.throws(() => verify(signJwt(claims, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'iss', reason: 'missing' })
    }
    // Without an issuer option any string iss is accepted, but it must be a string.
    assert.ok(at()(signJwt({ ...claims, iss: 'anything' }, key)))
  })

  it('audience: string or array, in the token and in the options; one match suffices', () => {
    const claims = { exp: NOW + 60 }
    const cases: Array<[string | string[], unknown, boolean]> = [
      ['api', 'api', true], ['api', ['x', 'api'], true], ['api', ['x'], false], ['api', 'API', false], ['api', [], false],
      [['a', 'api'], 'api', true], [['a', 'b'], ['c', 'b'], true], [['a', 'b'], ['c'], false], [['a', 'b'], 'ab', false],
    ]
    for (const [audience, aud, ok] of cases) {
      const verify = at({ audience })
      const token = signJwt({ ...claims, aud } as JwtClaims, key)
      if (ok) assert.ok(verify(token), JSON.stringify([audience, aud]))
      else assert.throws(() => verify(token), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'aud', reason: 'value' }, JSON.stringify([audience, aud]))
    }
    assert.throws(() => at({ audience: 'api' })(signJwt(claims, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'aud', reason: 'missing' })
    for (const aud of [1, [1], ['api', 2], { api: true }, null, true]) {
      assert.throws(() => at()(signJwt({ ...claims, aud } as JwtClaims, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim: 'aud', reason: 'type' })
    }
    assert.ok(at()(signJwt({ ...claims, aud: [] }, key)))
  })

  it('typed string claims: iss, sub, jti, sid, scope', () => {
    for (const claim of ['iss', 'sub', 'jti', 'sid', 'scope']) {
      for (const value of [1, null, true, ['x'], { x: 1 }]) {
        assert.throws(() => at()(signJwt({ exp: NOW + 60, [claim]: value }, key)), { code: 'ERR_JWT_CLAIM_INVALID', claim, reason: 'type' })
      }
      assert.ok(at()(signJwt({ exp: NOW + 60, [claim]: '' }, key)))
    }
  })
})
