// What JWE decryption refuses, and with which code: tampering, wrong keys, algorithms the
// caller did not pin, refused algorithms (RSA1_5, PBES2), `zip`, JSON serializations, header
// parameters that would pick a key, hostile structure; and the key/option checks made before
// any token is read.
import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync, randomBytes, createCipheriv, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { CompactEncrypt } from 'jose'
import {
  decryptJwt,
  encryptJwt,
  generateEncryptionKey,
  generateKey,
  HallpassError,
  signJwt,
  type Jwk,
  type JweKeyMaterial,
} from '../../../src/index.ts'
import { decryptCompact } from '../../../src/engine/jwe/decrypt.ts'
import { VECTORS_ROOT } from '../vectors/load.ts'

const VECTORS = VECTORS_ROOT
const readVector = (relative: string): string => readFileSync(fileURLToPath(new URL(relative, VECTORS)), 'utf8')

const NOW = 1_900_000_000
const signingKey = generateKey('ES256')
const jws = signJwt({ sub: 'user-1', iat: NOW, exp: NOW + 600 }, signingKey)
const jwsBytes = new TextEncoder().encode(jws)

const b64u = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const headerOf = (jwe: string): Record<string, unknown> => JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8'))
const withHeader = (jwe: string, header: Record<string, unknown>): string => [b64u(JSON.stringify(header)), ...jwe.split('.').slice(1)].join('.')

/** Asserts that `run` rejects with a hallpass error of `code` (and a `reason` matching, if given). */
async function rejectsWith(run: () => Promise<unknown>, code: string, reason?: RegExp): Promise<HallpassError> {
  let caught: unknown
  try {
    await run()
  } catch (error) {
    caught = error
  }
  assert.ok(caught instanceof HallpassError, `expected ${code}, got ${caught === undefined ? 'success' : (caught as Error).name}`)
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`)
  if (reason !== undefined) assert.match((caught as HallpassError & { reason: string }).reason, reason)
  return caught
}

/** Replaces one base64url character in the middle of segment `index` (the bits it carries change, the length does not). */
function tamper(jwe: string, index: number): string {
  const segments = jwe.split('.')
  const segment = segments[index]!
  const at = Math.floor(segment.length / 2)
  segments[index] = segment.slice(0, at) + (segment[at] === 'A' ? 'B' : 'A') + segment.slice(at + 1)
  return segments.join('.')
}

async function joseEncrypt(plaintext: Uint8Array, header: Record<string, unknown>, key: unknown): Promise<string> {
  return new CompactEncrypt(plaintext).setProtectedHeader(header as never).encrypt(key as never)
}

describe('JWE tampering and wrong keys', () => {
  const cases: Array<[string, Jwk]> = [
    ['dir', generateEncryptionKey('dir', 'A128CBC-HS256')],
    ['A256KW', generateEncryptionKey('A256KW')],
    ['A128GCMKW', generateEncryptionKey('A128GCMKW')],
    ['ECDH-ES', generateEncryptionKey('ECDH-ES')],
    ['ECDH-ES+A128KW', generateEncryptionKey('ECDH-ES+A128KW', undefined, { crv: 'X25519' })],
    ['RSA-OAEP-256', generateEncryptionKey('RSA-OAEP-256')],
  ]
  for (const [alg, key] of cases) {
    it(`${alg}: any changed bit fails with ERR_JWE_DECRYPTION_FAILED, and so does another key`, async () => {
      for (const enc of ['A256GCM', 'A256CBC-HS512'] as const) {
        if (alg === 'dir' && enc !== 'A256GCM') continue
        const jwe = await encryptJwt(jws, key, alg === 'dir' ? {} : { enc })
        assert.equal(await decryptJwt(jwe, key), jws)
        const segments = alg === 'dir' || alg === 'ECDH-ES' ? [2, 3, 4] : [1, 2, 3, 4]
        for (const index of segments) await rejectsWith(() => decryptJwt(tamper(jwe, index), key), 'ERR_JWE_DECRYPTION_FAILED')
        // The protected header is the AAD (RFC 7516 §5.1 step 14): a re-encoded header with one
        // harmless extra member changes it.
        await rejectsWith(() => decryptJwt(withHeader(jwe, { ...headerOf(jwe), note: 'x' }), key), 'ERR_JWE_DECRYPTION_FAILED')
        // Two ciphertexts spliced together.
        const other = (await encryptJwt(jws, key, alg === 'dir' ? {} : { enc })).split('.')
        const spliced = [...jwe.split('.').slice(0, 3), other[3], jwe.split('.')[4]].join('.')
        await rejectsWith(() => decryptJwt(spliced, key), 'ERR_JWE_DECRYPTION_FAILED')
        // Same algorithm, another key.
        const stranger = alg === 'dir' ? generateEncryptionKey('dir', 'A128CBC-HS256') : generateEncryptionKey(key.alg as never, undefined, { crv: key.crv as never })
        if (alg === 'dir') {
          const otherJwe = await encryptJwt(jws, stranger)
          await rejectsWith(() => decryptJwt(otherJwe, key), 'ERR_JWE_DECRYPTION_FAILED')
        } else {
          await rejectsWith(() => decryptJwt(jwe, stranger), 'ERR_JWE_DECRYPTION_FAILED')
        }
      }
    })
  }

  it('errors carry no token data and no jose cause', async () => {
    const key = generateEncryptionKey('A128KW')
    const jwe = await encryptJwt(jws, key)
    const errors = [
      await rejectsWith(() => decryptJwt(tamper(jwe, 3), key), 'ERR_JWE_DECRYPTION_FAILED'),
      await rejectsWith(() => decryptJwt(jwe.replace(/\.[^.]*$/, '.AAAA'), key), 'ERR_JWE_INVALID'),
      await rejectsWith(() => decryptJwt(withHeader(jwe, { alg: 'A128KW', enc: 'A128GCM', cty: 'JWT', secret: 'p4ssw0rd' }), key), 'ERR_JWE_DECRYPTION_FAILED'),
    ]
    for (const error of errors) {
      assert.equal(error.cause, undefined)
      for (const segment of jwe.split('.')) if (segment.length > 4) assert.equal(error.message.includes(segment), false)
      assert.equal(error.message.includes('p4ssw0rd'), false)
      assert.equal(/jose|JWE Init|Compact/.test(error.message), false)
    }
  })
})

describe('JWE algorithms: the caller pins them, the header never chooses', () => {
  it('refuses an alg the key is not bound to, even with the same key bytes', async () => {
    const k = randomBytes(32)
    const key: Jwk = { kty: 'oct', k: b64u(k), alg: 'A256GCMKW' }
    const wrapped = await joseEncrypt(jwsBytes, { alg: 'A256KW', enc: 'A256GCM', cty: 'JWT' }, k)
    const direct = await joseEncrypt(jwsBytes, { alg: 'dir', enc: 'A256GCM', cty: 'JWT' }, k)
    for (const jwe of [wrapped, direct]) await rejectsWith(() => decryptJwt(jwe, key), 'ERR_JWE_INVALID', /"alg" is not allowed/)
    // Pinned by options instead of by the JWK: same answer.
    await rejectsWith(() => decryptJwt(wrapped, k, { algorithms: ['A256GCMKW'] }), 'ERR_JWE_INVALID', /"alg" is not allowed/)
    assert.equal(await decryptJwt(wrapped, k, { algorithms: ['A256KW'] }), jws)
  })

  it('an EC key pinned to ECDH-ES+A256KW refuses ECDH-ES and the other wraps', async () => {
    const key = generateEncryptionKey('ECDH-ES+A256KW')
    const { d: _d, ...pub } = key
    for (const alg of ['ECDH-ES', 'ECDH-ES+A128KW']) {
      const jwe = await joseEncrypt(jwsBytes, { alg, enc: 'A256GCM', cty: 'JWT' }, { ...pub, alg })
      await rejectsWith(() => decryptJwt(jwe, key), 'ERR_JWE_INVALID', /"alg" is not allowed/)
    }
  })

  it('refuses an enc outside the pinned list', async () => {
    const key = generateEncryptionKey('A128KW')
    const jwe = await encryptJwt(jws, key, { enc: 'A128CBC-HS256' })
    await rejectsWith(() => decryptJwt(jwe, key, { encryptions: ['A256GCM', 'A128GCM'] }), 'ERR_JWE_INVALID', /"enc" is not allowed/)
    assert.equal(await decryptJwt(jwe, key, { encryptions: ['A128CBC-HS256'] }), jws)
  })

  it('a dir key only accepts the ciphers of its length', async () => {
    const k = randomBytes(16)
    const jwe = await joseEncrypt(jwsBytes, { alg: 'dir', enc: 'A128GCM', cty: 'JWT' }, k)
    assert.equal(await decryptJwt(jwe, k, { algorithms: ['dir'] }), jws)
    const bigger = await joseEncrypt(jwsBytes, { alg: 'dir', enc: 'A256GCM', cty: 'JWT' }, randomBytes(32))
    await rejectsWith(() => decryptJwt(bigger, k, { algorithms: ['dir'] }), 'ERR_JWE_INVALID', /"enc" is not allowed/)
  })

  it('refuses alg spellings that are not exactly registered names, and none', async () => {
    const key = generateEncryptionKey('A128KW')
    const jwe = await encryptJwt(jws, key)
    for (const alg of ['a128kw', 'A128KW ', 'none', 'RSA-OAEP-384', 'ECDH-ES+A128KW', '', 7, null, ['A128KW']]) {
      await rejectsWith(() => decryptJwt(withHeader(jwe, { ...headerOf(jwe), alg }), key), 'ERR_JWE_INVALID', /"alg"/)
    }
    for (const enc of ['a128gcm', 'A128CBC-HS256 ', 'A128CBC+HS256', undefined]) {
      await rejectsWith(() => decryptJwt(withHeader(jwe, { ...headerOf(jwe), enc }), key), 'ERR_JWE_INVALID', /"enc"/)
    }
  })

  it('refuses RSA1_5 by name, before the key is used', async () => {
    const key = generateEncryptionKey('RSA-OAEP')
    const jwe = await encryptJwt(jws, key)
    await rejectsWith(() => decryptJwt(withHeader(jwe, { ...headerOf(jwe), alg: 'RSA1_5' }), key), 'ERR_JWE_INVALID', /RSA1_5 is refused/)
  })
})

describe('JWE PBES2 is refused, and fast (CVE-2023-50967, docs/security.md C1)', () => {
  const flattened = JSON.parse(readVector('latchset-jose/cve-2023-50967.jwe')) as Record<string, unknown>
  const cveJwk = JSON.parse(readVector('latchset-jose/cve-2023-50967.jwk')) as Jwk
  // The same secret, as a key the caller could legitimately hold for AES key wrap.
  const wrapKey: Jwk = { kty: 'oct', k: cveJwk.k, alg: 'A128KW' }
  const compact = [
    b64u(JSON.stringify({ alg: 'PBES2-HS256+A128KW', enc: 'A128CBC-HS256', p2c: 2_147_483_647, p2s: 'qUQQWWkyyIqculSiC93mlg', cty: 'JWT' })),
    flattened.encrypted_key,
    flattened.iv,
    flattened.ciphertext,
    flattened.tag,
  ].join('.')

  async function timed(run: () => Promise<unknown>, code: string, reason?: RegExp): Promise<void> {
    const start = performance.now()
    await rejectsWith(run, code, reason)
    const ms = performance.now() - start
    assert.ok(ms < 200, `took ${ms.toFixed(1)} ms`)
  }

  it('refuses the flattened JSON token, as an object and as text', async () => {
    assert.equal((flattened.header as Record<string, unknown>).p2c, 1_000_000_000)
    await timed(() => decryptJwt(flattened as never, wrapKey), 'ERR_JWE_INVALID', /compact/)
    await timed(() => decryptCompact(flattened, wrapKey), 'ERR_JWE_INVALID', /compact/)
    await timed(() => decryptJwt(readVector('latchset-jose/cve-2023-50967.jwe'), wrapKey), 'ERR_JWE_INVALID', /five segments/)
    const general = { ...flattened, recipients: [{ header: flattened.header, encrypted_key: flattened.encrypted_key }] }
    await timed(() => decryptCompact(general, wrapKey), 'ERR_JWE_INVALID', /compact/)
  })

  it('refuses the compact equivalent with p2c = 2^31-1 before any derivation', async () => {
    await timed(() => decryptJwt(compact, wrapKey), 'ERR_JWE_INVALID', /PBES2 is refused/)
    await timed(() => decryptCompact(compact, Buffer.from(cveJwk.k!, 'base64url'), { algorithms: ['A128KW'] }), 'ERR_JWE_INVALID', /PBES2/)
    for (const alg of ['PBES2-HS384+A192KW', 'PBES2-HS512+A256KW', 'pbes2-hs256+a128kw']) {
      await timed(() => decryptJwt(withHeader(compact, { ...headerOf(compact), alg }), wrapKey), 'ERR_JWE_INVALID', /PBES2/)
    }
  })

  it('refuses PBES2 as a key or an option', async () => {
    await timed(() => decryptJwt(compact, cveJwk), 'ERR_KEY_INVALID', /PBES2/)
    await timed(() => decryptJwt(compact, randomBytes(16), { algorithms: ['PBES2-HS256+A128KW' as never] }), 'ERR_CONFIG_INVALID')
    await timed(() => encryptJwt(jws, randomBytes(16), { alg: 'PBES2-HS256+A128KW' as never }), 'ERR_CONFIG_INVALID')
    assert.throws(() => generateEncryptionKey('PBES2-HS512+A256KW' as never), { code: 'ERR_CONFIG_INVALID' })
    assert.throws(() => generateEncryptionKey('RSA1_5' as never), { code: 'ERR_CONFIG_INVALID' })
  })
})

describe('JWE zip is refused before decryption (docs/security.md C2)', () => {
  it('refuses a genuine compressed nested JWT', async () => {
    const k = randomBytes(32)
    const jwe = await joseEncrypt(jwsBytes, { alg: 'dir', enc: 'A256GCM', cty: 'JWT', zip: 'DEF' }, k)
    await rejectsWith(() => decryptJwt(jwe, k, { algorithms: ['dir'] }), 'ERR_JWE_INVALID', /"zip" is refused/)
  })

  it('refuses a decompression bomb without decrypting it: a wrong key still gets the zip refusal', async () => {
    const key = generateEncryptionKey('ECDH-ES+A256KW')
    const { d: _d, ...pub } = key
    // 16 MiB of one byte: about 16 KiB once deflated.
    const bomb = await joseEncrypt(new Uint8Array(16 << 20), { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', zip: 'DEF', cty: 'JWT' }, pub)
    const start = performance.now()
    await rejectsWith(() => decryptCompact(bomb, generateEncryptionKey('ECDH-ES+A256KW'), { maxTokenBytes: 1 << 20 }), 'ERR_JWE_INVALID', /"zip"/)
    await rejectsWith(() => decryptCompact(bomb, key, { maxTokenBytes: 1 << 20 }), 'ERR_JWE_INVALID', /"zip"/)
    assert.ok(performance.now() - start < 200)
    for (const zip of ['DEF', 'def', 'GZIP', '', null]) {
      const k = generateEncryptionKey('A128KW')
      const jwe = await encryptJwt(jws, k)
      await rejectsWith(() => decryptJwt(withHeader(jwe, { ...headerOf(jwe), zip }), k), 'ERR_JWE_INVALID', /"zip"/)
    }
  })
})

describe('JWE header parameters and structure', () => {
  const key = generateEncryptionKey('A256KW')
  const jweP = encryptJwt(jws, key)

  it('refuses crit and every way for the token to name its own key', async () => {
    const jwe = await jweP
    const header = headerOf(jwe)
    const hostile: Record<string, unknown> = {
      crit: ['exp'],
      jwk: { kty: 'oct', k: b64u(randomBytes(32)) },
      jku: 'https://attacker.example/jwks.json',
      x5u: 'https://attacker.example/cert.pem',
      x5c: ['MIIB'],
    }
    for (const [name, value] of Object.entries(hostile)) {
      await rejectsWith(() => decryptJwt(withHeader(jwe, { ...header, [name]: value }), key), 'ERR_JWE_INVALID', new RegExp(`"${name}"`))
    }
  })

  it('header members named like Object.prototype properties are ordinary members', async () => {
    const k = randomBytes(32)
    const jwe = await joseEncrypt(jwsBytes, { alg: 'A256KW', enc: 'A256GCM', cty: 'JWT', constructor: 1, toString: 'x', hasOwnProperty: [] }, k)
    assert.equal(await decryptJwt(jwe, k, { algorithms: ['A256KW'] }), jws)
  })

  it('refuses duplicate, __proto__ or non-object headers and non-string kid/cty', async () => {
    const jwe = await jweP
    const rest = jwe.split('.').slice(1).join('.')
    const raw = (text: string): string => `${b64u(text)}.${rest}`
    const texts = [
      '{"alg":"A256KW","enc":"A256GCM","cty":"JWT","alg":"A256KW"}',
      '{"alg":"A256KW","enc":"A256GCM","cty":"JWT","__proto__":{"alg":"dir"}}',
      '["A256KW"]',
      '"A256KW"',
      '{"alg":"A256KW","enc":"A256GCM","cty":"JWT"',
      '\uFEFF{"alg":"A256KW","enc":"A256GCM","cty":"JWT"}',
      '{"alg":"A256KW","enc":"A256GCM","cty":"JWT","kid":1}',
      '{"alg":"A256KW","enc":"A256GCM","cty":["JWT"]}',
    ]
    for (const text of texts) await rejectsWith(() => decryptJwt(raw(text), key), 'ERR_JWE_INVALID')
    await rejectsWith(() => decryptJwt(`${b64u(Buffer.from([0x7b, 0xff, 0x7d]))}.${rest}`, key), 'ERR_JWE_INVALID', /UTF-8/)
  })

  it('refuses anything that is not five canonical base64url segments', async () => {
    const jwe = await jweP
    const segments = jwe.split('.')
    const inputs: unknown[] = [
      undefined, null, 42, {}, [], Buffer.from(jwe), new TextEncoder().encode(jwe), '', '....', jws,
      segments.slice(0, 4).join('.'), [...segments, 'AAAA'].join('.'),
      [segments[0] + '=', ...segments.slice(1)].join('.'),
      [segments[0], segments[1], segments[2], segments[3] + ' ', segments[4]].join('.'),
      [segments[0], segments[1], segments[2], segments[3]!.replace(/.$/, '+'), segments[4]].join('.'),
      // Non-canonical trailing bits in the 16-byte tag: same bytes under a lenient decoder.
      [...segments.slice(0, 4), segments[4]!.slice(0, -1) + String.fromCharCode(segments[4]!.charCodeAt(21) + 1)].join('.'),
      ` ${jwe}`, `${jwe}\n`,
    ]
    for (const input of inputs) await rejectsWith(() => decryptJwt(input as string, key), 'ERR_JWE_INVALID')
  })

  it('checks segment lengths fixed by the algorithms before using the key', async () => {
    const jwe = await jweP
    const s = jwe.split('.')
    const join = (...parts: string[]): string => parts.join('.')
    await rejectsWith(() => decryptJwt(join(s[0]!, '', s[2]!, s[3]!, s[4]!), key), 'ERR_JWE_INVALID', /needs an encrypted key/)
    await rejectsWith(() => decryptJwt(join(s[0]!, s[1]!, b64u(randomBytes(16)), s[3]!, s[4]!), key), 'ERR_JWE_INVALID', /initialization vector/)
    for (const tagBytes of [0, 8, 12, 15, 17, 32]) {
      const realTag = Buffer.from(s[4]!, 'base64url')
      const tag = b64u(Buffer.concat([realTag.subarray(0, tagBytes), Buffer.alloc(Math.max(0, tagBytes - 16), 0x78)]))
      assert.equal(Buffer.from(tag, 'base64url').length, tagBytes)
      await rejectsWith(() => decryptJwt(join(s[0]!, s[1]!, s[2]!, s[3]!, tag), key), 'ERR_JWE_INVALID', /authentication tag/)
    }
    const direct = generateEncryptionKey('dir')
    const d = (await encryptJwt(jws, direct)).split('.')
    await rejectsWith(() => decryptJwt(join(d[0]!, b64u(randomBytes(40)), d[2]!, d[3]!, d[4]!), direct), 'ERR_JWE_INVALID', /empty encrypted key/)
  })

  it('enforces the size limit before decoding', async () => {
    const jwe = await jweP
    await rejectsWith(() => decryptJwt(jwe + 'A'.repeat(16384), key), 'ERR_JWT_TOO_LARGE')
    await rejectsWith(() => decryptJwt(jwe, key, { maxTokenBytes: jwe.length - 1 }), 'ERR_JWT_TOO_LARGE')
    assert.equal(await decryptJwt(jwe, key, { maxTokenBytes: jwe.length }), jws)
    await rejectsWith(() => encryptJwt(jws, key, { maxTokenBytes: 100 }), 'ERR_JWT_TOO_LARGE')
  })

  it('decryptJwt requires cty "JWT" (RFC 7519 §5.2); decryptCompact does not', async () => {
    const k = randomBytes(32)
    for (const cty of ['JWT', 'jwt', 'application/jwt', 'Application/JWT']) {
      const jwe = await joseEncrypt(jwsBytes, { alg: 'A256KW', enc: 'A256GCM', cty }, k)
      assert.equal(await decryptJwt(jwe, k, { algorithms: ['A256KW'] }), jws)
    }
    for (const cty of [undefined, 'JSON', 'at+jwt', 'application/json']) {
      const jwe = await joseEncrypt(jwsBytes, { alg: 'A256KW', enc: 'A256GCM', ...(cty ? { cty } : {}) }, k)
      await rejectsWith(() => decryptJwt(jwe, k, { algorithms: ['A256KW'] }), 'ERR_JWE_INVALID', /"cty"/)
      const { plaintext } = await decryptCompact(jwe, k, { algorithms: ['A256KW'] })
      assert.equal(new TextDecoder().decode(plaintext), jws)
    }
  })
})

describe('JWE ECDH-ES ephemeral keys (docs/security.md B5)', () => {
  it('refuses an epk on another curve or of another type', async () => {
    const key = generateEncryptionKey('ECDH-ES', undefined, { crv: 'P-384' })
    const jwe = await encryptJwt(jws, key)
    const header = headerOf(jwe)
    const epk = header.epk as Record<string, unknown>
    const variants: unknown[] = [
      undefined, 'epk', [epk], { ...epk, crv: 'P-256' }, { ...epk, kty: 'OKP', crv: 'X25519' },
      { ...epk, crv: 'P-384 ' }, { ...epk, d: b64u(randomBytes(48)) },
    ]
    for (const variant of variants) {
      await rejectsWith(() => decryptJwt(withHeader(jwe, { ...header, epk: variant }), key), 'ERR_JWE_INVALID', /"epk"/)
    }
  })

  it('a P-256 token cannot be decrypted by a P-384 key pinned to the same alg', async () => {
    const p256 = generateEncryptionKey('ECDH-ES')
    const jwe = await encryptJwt(jws, p256)
    await rejectsWith(() => decryptJwt(jwe, generateEncryptionKey('ECDH-ES', undefined, { crv: 'P-384' })), 'ERR_JWE_INVALID', /"epk"/)
  })

  it('an off-curve epk point fails like any other decryption failure', async () => {
    const key = generateEncryptionKey('ECDH-ES+A128KW')
    const jwe = await encryptJwt(jws, key)
    const header = headerOf(jwe)
    const epk = header.epk as Record<string, string>
    const y = Buffer.from(epk.y!, 'base64url')
    y[31]! ^= 1
    await rejectsWith(() => decryptJwt(withHeader(jwe, { ...header, epk: { ...epk, y: b64u(y) } }), key), 'ERR_JWE_DECRYPTION_FAILED')
  })

  it('refuses a low-order X25519 epk even when the token was built for the all-zero shared secret', async () => {
    // An attacker who sends a low-order point knows the "shared" secret is all zeros, so it can
    // build a token that decrypts if the zero secret is used (RFC 7748 §6.1 says to check it).
    const key = generateEncryptionKey('ECDH-ES', undefined, { crv: 'X25519' })
    const header = { alg: 'ECDH-ES', enc: 'A128GCM', cty: 'JWT', epk: { kty: 'OKP', crv: 'X25519', x: b64u(Buffer.alloc(32)) } }
    const encodedHeader = b64u(JSON.stringify(header))
    // RFC 7518 §4.6.2 Concat KDF with Z = 32 zero bytes, AlgorithmID = "A128GCM", keydatalen 128.
    const lengthPrefixed = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes])
    const otherInfo = Buffer.concat([lengthPrefixed(Buffer.from('A128GCM')), lengthPrefixed(Buffer.alloc(0)), lengthPrefixed(Buffer.alloc(0)), Buffer.from([0, 0, 0, 128])])
    const cek = createHash('sha256').update(Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.alloc(32), otherInfo])).digest().subarray(0, 16)
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-128-gcm', cek, iv).setAAD(Buffer.from(encodedHeader))
    const ciphertext = Buffer.concat([cipher.update(jwsBytes), cipher.final()])
    const jwe = [encodedHeader, '', b64u(iv), b64u(ciphertext), b64u(cipher.getAuthTag())].join('.')
    await rejectsWith(() => decryptJwt(jwe, key), 'ERR_JWE_DECRYPTION_FAILED')
  })
})

describe('JWE keys and options are checked before any token is read', () => {
  async function refusesKey(material: unknown, options: Record<string, unknown>, code: string): Promise<void> {
    const dummy = 'e30.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA'
    await rejectsWith(() => decryptJwt(dummy, material as JweKeyMaterial, options), code)
  }

  it('refuses key material that is not an encryption key', async () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
    const rsaPss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey
    const ed = generateKeyPairSync('ed25519').privateKey
    const x448 = generateKeyPairSync('x448').privateKey
    const ecdh = generateEncryptionKey('ECDH-ES')
    const cases: Array<[unknown, Record<string, unknown>]> = [
      [signingKey, { algorithms: ['ECDH-ES'] }],
      [{ ...ecdh, use: 'sig' }, {}],
      [{ ...ecdh, key_ops: ['sign', 'verify'] }, {}],
      [{ ...ecdh, key_ops: ['encrypt'] }, {}],
      [{ ...ecdh, alg: 'ES256' }, {}],
      [{ ...ecdh, alg: 'RSA1_5' }, {}],
      [{ ...ecdh, kid: 7 }, {}],
      [{ ...ecdh, d: undefined }, {}],
      [{ ...ecdh, x: 'not-a-point' }, {}],
      [createPublicKey(rsa1024), { algorithms: ['RSA-OAEP'] }],
      [rsa1024, { algorithms: ['RSA-OAEP'] }],
      [rsaPss, { algorithms: ['RSA-OAEP-256'] }],
      [k256, { algorithms: ['ECDH-ES'] }],
      [ed, { algorithms: ['ECDH-ES'] }],
      [x448, { algorithms: ['ECDH-ES'] }],
      [randomBytes(32), { algorithms: ['ECDH-ES'] }],
      [randomBytes(32), { algorithms: ['A128KW'] }],
      [randomBytes(24), { algorithms: ['A256GCMKW'] }],
      [randomBytes(20), { algorithms: ['dir'] }],
      [randomBytes(16), { algorithms: ['dir'], encryptions: ['A256GCM'] }],
      [{ kty: 'oct', k: b64u(randomBytes(16)), alg: 'A256GCM' }, {}],
      [{ kty: 'oct', k: b64u(randomBytes(32)), alg: 'A256GCM' }, { encryptions: ['A128CBC-HS256'] }],
      [{ kty: 'oct', k: b64u(randomBytes(32)) + '=', alg: 'A256KW' }, {}],
      [{ kty: 'oct', k: '', alg: 'A256KW' }, {}],
      [{ kty: 'oct', k: b64u(randomBytes(32)), alg: 'A256KW' }, { algorithms: ['A256GCMKW'] }],
      [{ kty: 'AKP', alg: 'A256KW' }, {}],
      [new Uint8Array(0), { algorithms: ['A128KW'] }],
      ['-----BEGIN PRIVATE KEY-----', { algorithms: ['RSA-OAEP'] }],
      [null, { algorithms: ['A128KW'] }],
    ]
    for (const [material, options] of cases) await refusesKey(material, options, 'ERR_KEY_INVALID')
  })

  it('refuses options that do not fit', async () => {
    const key = randomBytes(32)
    const cases: Array<Record<string, unknown>> = [
      {},
      { algorithms: [] },
      { algorithms: 'A256KW' },
      { algorithms: ['RSA1_5'] },
      { algorithms: ['A256KW', 'PBES2-HS256+A128KW'] },
      { algorithms: ['dir', 'A256KW'] },
      { algorithms: ['A256KW'], encryptions: ['A512GCM'] },
      { algorithms: ['A256KW'], maxTokenBytes: 0 },
      { algorithms: ['A256KW'], zip: true },
      { algorithms: ['A256KW'], maxPBES2Count: 1_000_000 },
    ]
    for (const options of cases) await refusesKey(key, options, 'ERR_CONFIG_INVALID')
  })

  it('a JWK changed in place after use is read again, not served from a cache', async () => {
    const key = generateEncryptionKey('A128KW')
    const jwe = await encryptJwt(jws, key)
    assert.equal(await decryptJwt(jwe, key), jws)
    key.alg = 'A128GCMKW'
    await rejectsWith(() => decryptJwt(jwe, key), 'ERR_JWE_INVALID', /"alg" is not allowed/)
    key.alg = 'A128KW'
    assert.equal(await decryptJwt(jwe, key), jws)
    key.k = generateEncryptionKey('A128KW').k
    await rejectsWith(() => decryptJwt(jwe, key), 'ERR_JWE_DECRYPTION_FAILED')
    key.use = 'sig'
    await rejectsWith(() => decryptJwt(jwe, key), 'ERR_KEY_INVALID')
  })

  it('encryptJwt checks its key, options and input the same way', async () => {
    const ecdh = generateEncryptionKey('ECDH-ES+A256KW')
    await rejectsWith(() => encryptJwt(jws, randomBytes(16)), 'ERR_CONFIG_INVALID')
    await rejectsWith(() => encryptJwt(jws, ecdh, { alg: 'ECDH-ES' }), 'ERR_KEY_INVALID')
    await rejectsWith(() => encryptJwt(jws, ecdh, { enc: 'A512GCM' as never }), 'ERR_CONFIG_INVALID')
    await rejectsWith(() => encryptJwt(jws, ecdh, { kid: '' }), 'ERR_CONFIG_INVALID')
    await rejectsWith(() => encryptJwt(jws, ecdh, { typ: 'JWT' } as never), 'ERR_CONFIG_INVALID')
    await rejectsWith(() => encryptJwt(jws, randomBytes(16), { alg: 'dir', enc: 'A256GCM' }), 'ERR_KEY_INVALID')
    await rejectsWith(() => encryptJwt(jws, generateEncryptionKey('dir', 'A128GCM'), { enc: 'A256GCM' }), 'ERR_KEY_INVALID')
    await rejectsWith(() => encryptJwt(jws, { ...ecdh, use: 'sig' }), 'ERR_KEY_INVALID')
    await rejectsWith(() => encryptJwt(jws, signingKey as never, { alg: 'ECDH-ES' }), 'ERR_KEY_INVALID')
    await rejectsWith(() => encryptJwt(jws, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, { alg: 'RSA-OAEP' }), 'ERR_KEY_INVALID')
  })
})
