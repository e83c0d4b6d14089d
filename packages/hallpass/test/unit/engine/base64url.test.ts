// Internals: strict base64url (RFC 7515 §2, RFC 4648 §5): alphabet, no padding, canonical bits.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { decodeBase64url, encodeBase64url, isCanonicalBase64url } from '../../../src/internal/base64url.ts'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('isCanonicalBase64url', () => {
  it('accepts exactly what Buffer encodes, for every length', () => {
    for (let n = 0; n < 70; n++) {
      const text = randomBytes(n).toString('base64url')
      assert.ok(isCanonicalBase64url(text), text)
      assert.deepEqual(decodeBase64url(text, 'x').length, n)
    }
    assert.ok(isCanonicalBase64url(''))
    assert.ok(isCanonicalBase64url(ALPHABET))
  })

  it('refuses foreign characters, padding and whitespace', () => {
    for (const text of ['AA==', 'AAA=', 'A+B/', 'AB C', 'AB\n', ' AB', 'AB\t', 'A.B', 'AB#', 'AB?', 'AB!', 'AB%', 'AB*', 'AB\\', 'Ａ', 'AB\u00a0', 'AB\u200b', 'é', '\u0000']) {
      assert.equal(isCanonicalBase64url(text), false, JSON.stringify(text))
      assert.throws(() => decodeBase64url(text, 'signature'), { code: 'ERR_JWT_MALFORMED', reason: 'signature is not canonical base64url' })
    }
  })

  it('refuses lengths of 1 mod 4', () => {
    for (const text of ['A', 'AAAAA', 'AAAAAAAAA']) assert.equal(isCanonicalBase64url(text), false)
  })

  it('refuses non-zero unused trailing bits (4 bits after 2 characters, 2 after 3)', () => {
    for (const [index, char] of [...ALPHABET].entries()) {
      assert.equal(isCanonicalBase64url(`A${char}`), (index & 0x0f) === 0, `A${char}`)
      assert.equal(isCanonicalBase64url(`AA${char}`), (index & 0x03) === 0, `AA${char}`)
      assert.equal(isCanonicalBase64url(`AAA${char}`), true)
    }
    // Every non-canonical spelling decodes to the same bytes as the canonical one: why it matters.
    assert.deepEqual(Buffer.from('AB', 'base64url'), Buffer.from('AA', 'base64url'))
  })
})

describe('encodeBase64url', () => {
  it('encodes strings as UTF-8 and respects Uint8Array views', () => {
    assert.equal(encodeBase64url('é'), Buffer.from('é').toString('base64url'))
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9])
    assert.equal(encodeBase64url(backing.subarray(2, 5)), Buffer.from([1, 2, 3]).toString('base64url'))
    assert.equal(encodeBase64url(new Uint8Array(0)), '')
    for (let n = 0; n < 40; n++) assert.ok(isCanonicalBase64url(encodeBase64url(randomBytes(n))))
  })
})
