// The verified-token cache on its own: admission on the second offer, bounded, second chance
// for tokens seen again, FIFO for tokens seen once, slots reused after delete, entries of a
// dropped key evicted.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKey, type JwsKey } from '../../src/index.ts'
import { createTokenCache, type CachedToken, type TokenCache } from '../../src/verify/index.ts'

const k1 = generateKey('ES256', { kid: 'k1' })
const k2 = generateKey('ES256', { kid: 'k2' })
const entry = (sub: string, key: JwsKey = k1): CachedToken => ({ claims: { sub }, key, exp: undefined, nbf: undefined, sid: undefined })

/** Offers a token twice, as two verifications of it would: it is then admitted. */
function put(cache: TokenCache, token: string, value: CachedToken): void {
  cache.set(token, value)
  cache.set(token, value)
}

describe('token cache', () => {
  it('admits a token on its second offer, so tokens that never come back are never held', () => {
    const cache = createTokenCache({ maxEntries: 4 })
    for (let i = 0; i < 100; i++) cache.set(`once-${i}`, entry(String(i)))
    assert.equal(cache.size, 0)
    cache.set('t1', entry('a'))
    assert.equal(cache.get('t1'), undefined)
    cache.set('t1', entry('a'))
    assert.equal(cache.get('t1')?.claims.sub, 'a')
    assert.equal(cache.get('t2'), undefined)
    cache.set('t1', entry('b'))
    assert.equal(cache.get('t1')?.claims.sub, 'b')
    assert.equal(cache.size, 1)
  })

  it('never holds more than maxEntries; tokens seen once leave in arrival order', () => {
    const cache = createTokenCache({ maxEntries: 1000 })
    for (let i = 0; i < 25_000; i++) put(cache, `token-${i}`, entry(String(i)))
    assert.equal(cache.size, 1000)
    for (let i = 24_000; i < 25_000; i++) assert.equal(cache.get(`token-${i}`)?.claims.sub, String(i))
    assert.equal(cache.get('token-23999'), undefined)
  })

  it('a token seen again gets a second chance over one seen once', () => {
    const cache = createTokenCache({ maxEntries: 3 })
    put(cache, 'a', entry('a'))
    put(cache, 'b', entry('b'))
    put(cache, 'c', entry('c'))
    assert.ok(cache.get('a'))
    put(cache, 'd', entry('d')) // a is spared once; b, the next unreferenced, leaves
    assert.deepEqual(['a', 'b', 'c', 'd'].map((t) => cache.get(t) !== undefined), [true, false, true, true])
    assert.equal(cache.size, 3)
  })

  it('a hot token survives a flood of tokens seen once', () => {
    const cache = createTokenCache({ maxEntries: 100 })
    put(cache, 'hot', entry('hot'))
    for (let i = 0; i < 10_000; i++) {
      assert.ok(cache.get('hot'), `still cached after ${i} others`)
      put(cache, `cold-${i}`, entry(String(i)))
    }
  })

  it('delete frees the slot for the next token; retainKeys drops entries of a removed key', () => {
    const cache = createTokenCache({ maxEntries: 3 })
    put(cache, 'a', entry('a', k1))
    put(cache, 'b', entry('b', k2))
    put(cache, 'c', entry('c', k1))
    cache.delete('b')
    cache.delete('missing')
    assert.equal(cache.size, 2)
    put(cache, 'd', entry('d', k2)) // takes b's slot: nothing evicted
    assert.deepEqual(['a', 'c', 'd'].map((t) => cache.get(t)?.claims.sub), ['a', 'c', 'd'])
    assert.equal(cache.retainKeys(new Set([k2])), 2)
    assert.deepEqual(['a', 'c', 'd'].map((t) => cache.get(t)?.claims.sub), [undefined, undefined, 'd'])
    for (const t of ['e', 'f', 'g']) put(cache, t, entry(t))
    assert.equal(cache.size, 3)
  })

  it('refuses bad options', () => {
    assert.throws(() => createTokenCache({ maxEntries: 0 }), { code: 'ERR_CONFIG_INVALID' })
    assert.throws(() => createTokenCache({ maxEntries: 1.5 }), { code: 'ERR_CONFIG_INVALID' })
    assert.throws(() => createTokenCache({ size: 3 } as never), { code: 'ERR_CONFIG_INVALID' })
  })
})
