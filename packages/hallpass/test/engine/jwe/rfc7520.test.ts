// RFC 7520 (JOSE Cookbook) §5 JWE examples, §6 nested JWT, and the cookbook's X25519 ECDH-ES
// example (test/vectors/rfc7520/). Compact outputs decrypt to the given plaintext with the
// given key; 5.1 (RSA1_5), 5.3 (PBES2) and 5.9 (zip) are refused; the JSON serializations
// (every `output.json` / `output.json_flat`, and 5.10-5.13, which have nothing else) are refused.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import {
  createJwtVerifier,
  decryptAndVerifyJwt,
  decryptJwt,
  generateEncryptionKey,
  HallpassError,
  importKey,
  type Jwk,
  type JweAlgorithm,
} from '../../../src/index.ts'
import { decryptCompact } from '../../../src/engine/jwe/decrypt.ts'
import { VECTORS_ROOT } from '../vectors/load.ts'

const ROOT = new URL('rfc7520/', VECTORS_ROOT)
const read = <T>(relative: string): T => JSON.parse(readFileSync(fileURLToPath(new URL(relative, ROOT)), 'utf8')) as T

interface JweExample {
  title: string
  input: { plaintext: string; key?: Jwk | Jwk[]; pwd?: string; alg: string | string[]; enc: string; zip?: string }
  output: { compact?: string; json?: Record<string, unknown>; json_flat?: Record<string, unknown> }
}

const files = readdirSync(fileURLToPath(new URL('jwe/', ROOT))).filter((f) => f.endsWith('.json')).sort()
const examples = new Map(files.map((file) => [file.split('.')[0]!, { file, example: read<JweExample>(`jwe/${file}`) }]))

async function rejectsWith(run: () => Promise<unknown>, code: string, reason?: RegExp): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof HallpassError, String(error))
    assert.equal(error.code, code, error.message)
    if (reason !== undefined) assert.match((error as HallpassError & { reason: string }).reason, reason)
    return true
  })
}

/** Changes one character in the middle of segment `index` (never the last one, whose spare bits are fixed). */
function tamper(jwe: string, index: number): string {
  const segments = jwe.split('.')
  const s = segments[index]!
  const at = Math.floor(s.length / 2)
  segments[index] = s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1)
  return segments.join('.')
}

describe('RFC 7520 §5 JWE examples', () => {
  it('covers 5.1 to 5.13', () => {
    assert.deepEqual([...examples.keys()], ['5_1', '5_10', '5_11', '5_12', '5_13', '5_2', '5_3', '5_4', '5_5', '5_6', '5_7', '5_8', '5_9'])
  })

  for (const id of ['5_2', '5_4', '5_5', '5_6', '5_7', '5_8']) {
    const { file, example } = examples.get(id)!
    it(`${file}: the compact output decrypts to the plaintext; changed bits do not`, async () => {
      const key = example.input.key as Jwk
      const alg = example.input.alg as JweAlgorithm
      const jwe = example.output.compact!
      const { plaintext, header } = await decryptCompact(jwe, key, { algorithms: [alg] })
      assert.equal(new TextDecoder().decode(plaintext), example.input.plaintext)
      assert.equal(header.alg, alg)
      assert.equal(header.enc, example.input.enc)
      const encryptedKeyPresent = jwe.split('.')[1] !== ''
      for (const index of encryptedKeyPresent ? [1, 2, 3, 4] : [2, 3, 4]) {
        await rejectsWith(() => decryptCompact(tamper(jwe, index), key, { algorithms: [alg] }), 'ERR_JWE_DECRYPTION_FAILED')
      }
      // Not a nested JWT: decryptJwt refuses it (no cty "JWT", and the plaintext is not a JWS).
      await rejectsWith(() => decryptJwt(jwe, key, { algorithms: [alg] }), 'ERR_JWE_INVALID')
    })
  }

  it('5.6: the dir key is labelled with its cipher (alg "A128GCM") and works without options', async () => {
    const { example } = examples.get('5_6')!
    assert.equal((example.input.key as Jwk).alg, 'A128GCM')
    const { plaintext } = await decryptCompact(example.output.compact!, example.input.key as Jwk)
    assert.equal(new TextDecoder().decode(plaintext), example.input.plaintext)
  })

  it('5.1 RSA1_5 is refused: as an option, and by the header whatever the key is offered for', async () => {
    const { example } = examples.get('5_1')!
    const key = example.input.key as Jwk
    assert.equal(example.input.alg, 'RSA1_5')
    await rejectsWith(() => decryptCompact(example.output.compact!, key, { algorithms: ['RSA1_5' as JweAlgorithm] }), 'ERR_CONFIG_INVALID')
    await rejectsWith(() => decryptCompact(example.output.compact!, key, { algorithms: ['RSA-OAEP'] }), 'ERR_JWE_INVALID', /RSA1_5 is refused/)
    await rejectsWith(() => decryptCompact(example.output.compact!, { ...key, alg: 'RSA1_5' }), 'ERR_KEY_INVALID', /RSA1_5/)
  })

  it('5.3 PBES2 is refused: a password is not a key, and the header is refused before any derivation', async () => {
    const { example } = examples.get('5_3')!
    const password = new TextEncoder().encode(example.input.pwd)
    assert.equal(example.input.alg, 'PBES2-HS512+A256KW')
    await rejectsWith(() => decryptCompact(example.output.compact!, password, { algorithms: [example.input.alg as JweAlgorithm] }), 'ERR_CONFIG_INVALID')
    const start = performance.now()
    await rejectsWith(() => decryptCompact(example.output.compact!, new Uint8Array(32), { algorithms: ['A256KW'] }), 'ERR_JWE_INVALID', /PBES2 is refused/)
    assert.ok(performance.now() - start < 200)
  })

  it('5.9 zip is refused before decryption', async () => {
    const { example } = examples.get('5_9')!
    assert.equal(example.input.zip, 'DEF')
    await rejectsWith(() => decryptCompact(example.output.compact!, example.input.key as Jwk, { algorithms: ['A128KW'] }), 'ERR_JWE_INVALID', /"zip" is refused/)
  })

  it('every JSON serialization is refused (compact only), 5.10-5.13 included', async () => {
    let refused = 0
    // A key this policy accepts, so that the refusal is the serialization's.
    const key: Jwk = { kty: 'oct', k: Buffer.alloc(16).toString('base64url'), alg: 'A128KW' }
    for (const { example } of examples.values()) {
      for (const output of [example.output.json, example.output.json_flat]) {
        if (output === undefined) continue
        await rejectsWith(() => decryptCompact(output, key), 'ERR_JWE_INVALID', /compact/)
        await rejectsWith(() => decryptCompact(JSON.stringify(output), key), 'ERR_JWE_INVALID')
        refused++
      }
    }
    assert.equal(refused, 25)
  })
})

describe('RFC 7520 §6 nesting signatures and encryption', () => {
  interface Nested {
    sign: { input: { payload: string; key: Jwk; alg: string }; output: { compact: string } }
    encrypt: { input: { plaintext: string; key: Jwk; alg: string; enc: string }; output: { compact: string } }
  }
  const nested = read<Nested>('6.nesting_signatures_and_encryption.json')
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...signerPublicJwk } = nested.sign.input.key
  const signerKey = importKey(signerPublicJwk, { alg: 'PS256', publicOnly: true })
  const exp = (JSON.parse(nested.sign.input.payload) as { exp: number }).exp

  it('decrypts the outer JWE to the inner JWT, which verifies as PS256', async () => {
    assert.equal(nested.encrypt.input.plaintext, nested.sign.output.compact)
    const inner = await decryptJwt(nested.encrypt.output.compact, nested.encrypt.input.key)
    assert.equal(inner, nested.sign.output.compact)
    for (const typ of ['JWT', false] as const) {
      const verifier = createJwtVerifier({ keys: signerKey, typ, issuer: 'hobbiton.example', now: () => (exp - 60) * 1000 })
      const { header, claims } = verifier(inner)
      assert.equal(header.alg, 'PS256')
      assert.deepEqual(claims, JSON.parse(nested.sign.input.payload))
      const verified = await decryptAndVerifyJwt(nested.encrypt.output.compact, nested.encrypt.input.key, verifier)
      assert.deepEqual(verified.claims, claims)
    }
  })

  it('the inner JWT is still checked: expiry, issuer, access-token typ, signer key', async () => {
    const jwe = nested.encrypt.output.compact
    const key = nested.encrypt.input.key
    const late = createJwtVerifier({ keys: signerKey, typ: 'JWT', now: () => (exp + 3600) * 1000 })
    await rejectsWith(() => decryptAndVerifyJwt(jwe, key, late), 'ERR_JWT_EXPIRED')
    const otherIssuer = createJwtVerifier({ keys: signerKey, typ: 'JWT', issuer: 'mordor.example', now: () => (exp - 60) * 1000 })
    await rejectsWith(() => decryptAndVerifyJwt(jwe, key, otherIssuer), 'ERR_JWT_CLAIM_INVALID')
    // hallpass's default typ is at+jwt (RFC 9068): a plain JWT is not an access token.
    const accessTokens = createJwtVerifier({ keys: signerKey, now: () => (exp - 60) * 1000 })
    await rejectsWith(() => decryptAndVerifyJwt(jwe, key, accessTokens), 'ERR_JWT_CLAIM_INVALID')
    const wrongSigner = createJwtVerifier({ keys: importKey(signerPublicJwk, { alg: 'PS384' }), typ: 'JWT', now: () => (exp - 60) * 1000 })
    await rejectsWith(() => decryptAndVerifyJwt(jwe, key, wrongSigner), 'ERR_JWS_ALG_NOT_ALLOWED')
  })

  it('refuses the JSON serializations of the same token', async () => {
    const { output } = read<{ encrypt: { output: JweExample['output'] } }>('6.nesting_signatures_and_encryption.json').encrypt
    for (const serialization of [output.json, output.json_flat]) {
      assert.equal(typeof serialization, 'object')
      await rejectsWith(() => decryptJwt(serialization as never, nested.encrypt.input.key), 'ERR_JWE_INVALID', /compact/)
    }
  })
})

describe('RFC 8037-style ECDH-ES with X25519 (cookbook curve25519/ecdh-es.json)', () => {
  const example = read<JweExample & { encrypting_key: { epk: Jwk } }>('curve25519/ecdh-es.json')

  it('decrypts output.compact with input.key', async () => {
    const key = example.input.key as Jwk
    assert.equal(key.crv, 'X25519')
    const { plaintext, header } = await decryptCompact(example.output.compact!, key, { algorithms: ['ECDH-ES'] })
    assert.equal(new TextDecoder().decode(plaintext), example.input.plaintext)
    assert.equal((header.epk as Jwk).crv, 'X25519')
    await rejectsWith(() => decryptCompact(tamper(example.output.compact!, 3), key, { algorithms: ['ECDH-ES'] }), 'ERR_JWE_DECRYPTION_FAILED')
    // A P-256 key pinned to the same alg refuses the X25519 epk before deriving anything.
    await rejectsWith(() => decryptCompact(example.output.compact!, generateEncryptionKey('ECDH-ES')), 'ERR_JWE_INVALID', /"epk"/)
  })
})
