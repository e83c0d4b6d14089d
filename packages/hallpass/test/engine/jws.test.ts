// Compact JWS sign/verify (RFC 7515 §5) through the public API: every algorithm, the shape and
// size checks in their order, the header policy, the allowlist and the options of verifyJws.
import assert from 'node:assert/strict'
import { createHmac, createSecretKey } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  ALGORITHMS,
  createKeyring,
  DEFAULT_MAX_TOKEN_BYTES,
  generateKey,
  importKey,
  isJwsAlgorithm,
  JWS_ALGORITHMS,
  signJws,
  verifyJws,
  type JwsAlgorithm,
  type JwsKey,
  type KeyResolver,
} from '../../src/index.ts'

const b64 = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const decodeHeader = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>
const hmacKey = generateKey('HS256', { kid: 'h1' })
const hmacSign = (input: string, key: JwsKey = hmacKey): string => `${input}.${createHmac('sha256', key.keyObject).update(input).digest('base64url')}`

const SIGNATURE_BYTES: Record<JwsAlgorithm, number> = {
  HS256: 32, HS384: 48, HS512: 64, RS256: 256, RS384: 256, RS512: 256, PS256: 256, PS384: 256, PS512: 256,
  ES256: 64, ES384: 96, ES512: 132, EdDSA: 64,
}

describe('algorithm table', () => {
  it('lists the 13 JWS algorithms, case-sensitively, and never "none"', () => {
    assert.deepEqual([...JWS_ALGORITHMS], ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])
    for (const alg of JWS_ALGORITHMS) assert.ok(isJwsAlgorithm(alg))
    for (const alg of ['none', 'hs256', 'EDDSA', 'Ed25519', 'ES256K', 'RS1', '', 'toString', '__proto__', 'constructor', undefined, null, 256]) {
      assert.equal(isJwsAlgorithm(alg), false, String(alg))
    }
    assert.ok(Object.isFrozen(ALGORITHMS) && Object.isFrozen(ALGORITHMS.ES512) && Object.isFrozen(JWS_ALGORITHMS))
    assert.deepEqual(ALGORITHMS.ES512, { family: 'ecdsa', hash: 'sha512', hashBytes: 64, curve: 'P-521', coordinateBytes: 66 })
    assert.deepEqual(ALGORITHMS.EdDSA, { family: 'eddsa', hash: undefined, hashBytes: 64 })
    assert.deepEqual(ALGORITHMS.PS384, { family: 'rsa-pss', hash: 'sha384', hashBytes: 48 })
  })
})

describe('signJws / verifyJws round trips', () => {
  for (const alg of JWS_ALGORITHMS) {
    it(alg, () => {
      const key = generateKey(alg, { kid: `k-${alg}` })
      const payload = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x7f])
      const token = signJws(payload, key)
      assert.deepEqual(decodeHeader(token), { alg, kid: `k-${alg}` })
      assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, SIGNATURE_BYTES[alg])
      const verified = verifyJws(token, key)
      assert.deepEqual(verified.payload, payload)
      assert.equal(verified.key, key)
      assert.deepEqual(verified.header, { alg, kid: `k-${alg}` })
      assert.ok(Object.isFrozen(verified.header))
      // The public half verifies; it cannot sign.
      if (key.publicKey !== undefined) {
        const publicKey = importKey(key.publicKey, { alg, kid: key.kid })
        assert.deepEqual(verifyJws(token, publicKey).payload, payload)
        assert.throws(() => signJws('x', publicKey), { code: 'ERR_KEY_INVALID' })
      }
      // Another key of the same algorithm does not.
      assert.throws(() => verifyJws(token, generateKey(alg, { kid: `k-${alg}` })), { code: 'ERR_JWS_SIGNATURE_INVALID' })
    })
  }

  it('Ed448 signs 114-byte signatures under "EdDSA"', () => {
    const key = generateKey('EdDSA', { crv: 'Ed448' })
    const token = signJws('hello', key)
    assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 114)
    assert.equal(verifyJws(token, key).payload.toString(), 'hello')
  })

  it('payloads: strings are UTF-8, an empty payload makes h..s, which verifyJws accepts (RFC 7515)', () => {
    assert.equal(verifyJws(signJws('é😀', hmacKey), hmacKey).payload.toString('utf8'), 'é😀')
    const empty = signJws('', hmacKey)
    assert.equal(empty.split('.')[1], '')
    assert.equal(verifyJws(empty, hmacKey).payload.length, 0)
    const view = new Uint8Array(Buffer.from('xxabcxx')).subarray(2, 5)
    assert.equal(verifyJws(signJws(view, hmacKey), hmacKey).payload.toString(), 'abc')
  })

  it('typ goes in the header when asked, and each header is encoded once per key and typ', () => {
    const a = signJws('a', hmacKey, { typ: 'at+jwt' })
    const b = signJws('b', hmacKey, { typ: 'at+jwt' })
    assert.deepEqual(decodeHeader(a), { alg: 'HS256', kid: 'h1', typ: 'at+jwt' })
    assert.equal(a.split('.')[0], b.split('.')[0])
    assert.deepEqual(decodeHeader(signJws('c', hmacKey, { typ: '' })), { alg: 'HS256', kid: 'h1' })
    assert.equal(verifyJws(a, hmacKey).header.typ, 'at+jwt')
  })

  it('only keys made by importKey/generateKey sign', () => {
    const handBuilt = { kid: 'x', alg: 'HS256', type: 'secret', keyObject: createSecretKey(Buffer.alloc(32)), publicKey: undefined } as unknown as JwsKey
    assert.throws(() => signJws('x', handBuilt), { code: 'ERR_KEY_INVALID' })
  })
})

describe('verifyJws: shape and size, in that order', () => {
  const token = signJws('payload', hmacKey)

  it('a token must be a string', () => {
    for (const value of [undefined, null, 1, Buffer.from(token), { toString: () => token }, [token]]) {
      assert.throws(() => verifyJws(value as unknown as string, hmacKey), { code: 'ERR_JWT_MALFORMED' })
    }
  })

  it('exactly three segments, none of header or signature empty', () => {
    for (const bad of ['', '.', '..', '...', 'abc', 'a.b', 'a.b.c.d', `${token}.`, `.${token}`, `.${token.split('.').slice(1).join('.')}`, `${token.slice(0, token.lastIndexOf('.'))}.`, `${token}.sig`]) {
      assert.throws(() => verifyJws(bad, hmacKey), { code: 'ERR_JWT_MALFORMED' }, JSON.stringify(bad))
    }
  })

  it('the size limit applies before anything else, default 8192 characters', () => {
    assert.equal(DEFAULT_MAX_TOKEN_BYTES, 8192)
    assert.throws(() => verifyJws('x'.repeat(8193), hmacKey), { code: 'ERR_JWT_TOO_LARGE', limit: 8192 })
    assert.throws(() => verifyJws('x'.repeat(8192), hmacKey), { code: 'ERR_JWT_MALFORMED' })
    assert.throws(() => verifyJws(token, hmacKey, { maxTokenBytes: token.length - 1 }), { code: 'ERR_JWT_TOO_LARGE', limit: token.length - 1 })
    assert.ok(verifyJws(token, hmacKey, { maxTokenBytes: token.length }))
    // Unusable keys are reported before the size: a configuration error outranks a bad token.
    assert.throws(() => verifyJws('x'.repeat(9000), null as unknown as JwsKey), { code: 'ERR_KEY_INVALID' })
  })

  it('payload and signature segments must be canonical base64url', () => {
    const [h, p, s] = token.split('.') as [string, string, string]
    assert.throws(() => verifyJws(`${h}.${p}=.${s}`, hmacKey), { code: 'ERR_JWT_MALFORMED' })
    assert.throws(() => verifyJws(`${h}.${p}.${s}=`, hmacKey), { code: 'ERR_JWT_MALFORMED' })
    assert.equal(s.length, 43)
    assert.throws(() => verifyJws(`${h}.${p}.${s}AA`, hmacKey), { code: 'ERR_JWT_MALFORMED' }) // 45 ≡ 1 (mod 4)
    assert.throws(() => verifyJws(`${h}.${p}.${s}A`, hmacKey), { code: 'ERR_JWS_SIGNATURE_INVALID' }) // 33 bytes
  })

  it('signatures must have the exact length for the key', () => {
    for (const alg of ['HS512', 'ES384', 'EdDSA'] as const) {
      const key = generateKey(alg)
      const good = signJws('x', key)
      const sig = Buffer.from(good.split('.')[2]!, 'base64url')
      for (const wrong of [sig.subarray(0, -1), Buffer.concat([sig, Buffer.from([0])])]) {
        assert.throws(() => verifyJws(`${good.slice(0, good.lastIndexOf('.'))}.${b64(wrong)}`, key), { code: 'ERR_JWS_SIGNATURE_INVALID' })
      }
    }
  })
})

describe('verifyJws: header policy', () => {
  const payload = b64('p')
  const sign = (header: unknown): string => hmacSign(`${b64(typeof header === 'string' ? header : JSON.stringify(header))}.${payload}`)

  it('alg must be one of the 13, exactly', () => {
    for (const alg of ['none', 'HS256 ', 'hs256', '', 1, null, ['HS256']]) {
      assert.throws(() => verifyJws(sign({ alg, kid: 'h1' }), hmacKey), { code: 'ERR_JWS_ALG_NOT_ALLOWED' })
    }
    // A long or non-string alg is never echoed into the error.
    assert.throws(() => verifyJws(sign({ alg: 'A'.repeat(100) }), hmacKey), (e: Error & { alg?: string }) => e.alg === 'string' && !e.message.includes('AAAA'))
    assert.throws(() => verifyJws(sign({ alg: ['x'] }), hmacKey), (e: Error & { alg?: string }) => e.alg === 'object')
  })

  it('refused parameters name themselves', () => {
    for (const parameter of ['crit', 'b64', 'jwk', 'jku', 'x5u', 'x5c', 'zip', 'enc']) {
      assert.throws(() => verifyJws(sign({ alg: 'HS256', [parameter]: 'x' }), hmacKey), { code: 'ERR_JWS_HEADER_UNSUPPORTED', parameter })
    }
  })

  it('other parameters pass through: x5t, cty, custom names, and names of Object.prototype', () => {
    const header = { alg: 'HS256', kid: 'h1', typ: 'JOSE', cty: 'text/plain', x5t: 'abc', 'x-custom': [1, 2], nested: { a: 1 } }
    assert.deepEqual(verifyJws(sign(header), hmacKey).header, header)
  })

  it('kid, typ and cty must be strings; kid 1-256 characters', () => {
    for (const header of [{ kid: 1 }, { kid: '' }, { kid: 'k'.repeat(257) }, { kid: null }, { typ: 1 }, { typ: null }, { cty: {} }, { cty: false }]) {
      assert.throws(() => verifyJws(sign({ alg: 'HS256', ...header }), hmacKey), { code: 'ERR_JWT_MALFORMED' }, JSON.stringify(header))
    }
    assert.equal(verifyJws(sign({ alg: 'HS256', kid: 'k'.repeat(256) }), hmacKey).header.kid, 'k'.repeat(256))
  })

  it('the header must be a canonical, UTF-8 JSON object without duplicates', () => {
    for (const text of ['[]', 'null', '"HS256"', ' {"alg":"HS256"}', '{"alg":"HS256"', '{"alg":"HS256","alg":"HS256"}']) {
      assert.throws(() => verifyJws(sign(text), hmacKey), { code: 'ERR_JWT_MALFORMED' }, text)
    }
    const header = b64('{"alg":"HS256"}')
    assert.throws(() => verifyJws(hmacSign(`${header}=.${payload}`), hmacKey), { code: 'ERR_JWT_MALFORMED' })
    assert.throws(() => verifyJws(hmacSign(`${b64(Buffer.from([0x7b, 0xff, 0x7d]))}.${payload}`), hmacKey), { code: 'ERR_JWT_MALFORMED' })
  })

  it('many distinct headers (beyond the header cache) verify and fail exactly as the first time', () => {
    const tokens = Array.from({ length: 300 }, (_, i) => sign({ alg: 'HS256', kid: 'h1', n: i }))
    for (const t of tokens) assert.ok(verifyJws(t, hmacKey))
    for (const t of tokens) assert.ok(verifyJws(t, hmacKey))
    const forged = `${tokens[0]!.slice(0, tokens[0]!.lastIndexOf('.'))}.${tokens[1]!.split('.')[2]!}`
    assert.throws(() => verifyJws(forged, hmacKey), { code: 'ERR_JWS_SIGNATURE_INVALID' })
  })
})

describe('verifyJws: keys and resolvers', () => {
  it('a key verifies only its own algorithm; the allowlist narrows further', () => {
    const secret = new Uint8Array(64).fill(9)
    const token = signJws('x', importKey(secret, { alg: 'HS256', kid: 'same' }))
    assert.throws(() => verifyJws(token, importKey(secret, { alg: 'HS384', kid: 'same' })), { code: 'ERR_JWS_ALG_NOT_ALLOWED', alg: 'HS256' })
    assert.throws(() => verifyJws(token, importKey(secret, { alg: 'HS512', kid: 'same' })), { code: 'ERR_JWS_ALG_NOT_ALLOWED', alg: 'HS256' })
    assert.ok(verifyJws(token, importKey(secret, { alg: 'HS256', kid: 'other' })))
    const own = signJws('x', hmacKey)
    assert.throws(() => verifyJws(own, hmacKey, { algorithms: ['HS384', 'HS512'] }), { code: 'ERR_JWS_ALG_NOT_ALLOWED', alg: 'HS256' })
    assert.ok(verifyJws(own, hmacKey, { algorithms: ['HS512', 'HS256'] }))
  })

  it('a resolver picks among trusted keys; what it returns must be a key', () => {
    const other = generateKey('HS256', { kid: 'h2' })
    const keyring = createKeyring([{ key: hmacKey, state: 'active' }, { key: other, state: 'retired' }])
    assert.equal(verifyJws(signJws('x', other), keyring).key, other)
    const seen: unknown[] = []
    const resolver: KeyResolver = { resolveVerifyKey: (header) => (seen.push(header), hmacKey) }
    assert.ok(verifyJws(signJws('x', hmacKey), resolver))
    assert.deepEqual(seen, [{ alg: 'HS256', kid: 'h1' }])
    assert.throws(() => verifyJws(signJws('x', other), resolver), { code: 'ERR_JWS_SIGNATURE_INVALID' })
    for (const result of [undefined, null, {}, hmacKey.keyObject]) {
      assert.throws(() => verifyJws(signJws('x', hmacKey), { resolveVerifyKey: () => result } as unknown as KeyResolver), { code: 'ERR_JWKS_NO_MATCHING_KEY', kid: 'h1' })
    }
  })

  it('anything else as keys is ERR_KEY_INVALID', () => {
    const token = signJws('x', hmacKey)
    for (const keys of [undefined, null, 'secret', 42, {}, { resolveVerifyKey: true }, createSecretKey(Buffer.alloc(32))]) {
      assert.throws(() => verifyJws(token, keys as unknown as JwsKey), { code: 'ERR_KEY_INVALID' })
    }
  })
})

describe('verifyJws options', () => {
  const token = signJws('x', hmacKey)
  it('are checked on every call, naming the option', () => {
    for (const [options, path] of [
      [{ maxTokenBytes: 0 }, 'maxTokenBytes'], [{ maxTokenBytes: -1 }, 'maxTokenBytes'], [{ maxTokenBytes: 1.5 }, 'maxTokenBytes'],
      [{ maxTokenBytes: Number.NaN }, 'maxTokenBytes'], [{ maxTokenBytes: '8192' }, 'maxTokenBytes'], [{ maxTokenBytes: Infinity }, 'maxTokenBytes'],
      [{ algorithms: 'HS256' }, 'algorithms'], [{ algorithms: [] }, 'algorithms'], [{ algorithms: ['none'] }, 'algorithms'], [{ algorithms: ['HS256', 'hs256'] }, 'algorithms'],
      [{ maxtokenbytes: 1 }, 'maxtokenbytes'], [{ typ: 'at+jwt' }, 'typ'],
    ] as const) {
      assert.throws(() => verifyJws(token, hmacKey, options as never), { code: 'ERR_CONFIG_INVALID', path }, JSON.stringify(options))
    }
    for (const options of [null, 'x', []]) {
      assert.throws(() => verifyJws(token, hmacKey, options as never), { code: 'ERR_CONFIG_INVALID', path: 'options' })
    }
    assert.ok(verifyJws(token, hmacKey, { maxTokenBytes: undefined, algorithms: undefined }))
  })
})
