// The verifier's remote key set against a real issuer on a socket: discovery and its issuer
// check, start-up failures, failures later (the last good set is kept), timeouts, garbage,
// oversized bodies, the unknown-kid refetch budget, rotation in both directions, cache
// lifetimes and the URL policy. Time is a manual clock; only the network is real.
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { exportPublicJwk, generateKey, signJwt, createKeyring, type JwsKey } from '../../src/index.ts'
import { createRemoteJwks, createVerifier, discoverIssuer, type Verifier, type VerifierOptions } from '../../src/verify/index.ts'
import { createManualClock, type ManualClock } from './helpers/clock.ts'
import { accessClaims, startIssuer, waitFor, type TestIssuer } from './helpers/issuer.ts'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!()
})

async function issuerFixture(keys?: JwsKey[]): Promise<TestIssuer> {
  const issuer = await startIssuer(keys === undefined ? {} : { keys })
  cleanup.push(() => issuer.close())
  return issuer
}

async function verifierFor(issuer: TestIssuer, clock: ManualClock, options: Partial<VerifierOptions> = {}): Promise<Verifier> {
  const verifier = await createVerifier({ issuer: issuer.url, audience: 'orders', revocation: false, now: clock.now, timers: clock.timers, logger: false, ...options })
  cleanup.push(() => verifier.close())
  return verifier
}

async function rejectsWith(promise: Promise<unknown>, code: string, reason?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: { code?: string; reason?: string }) => {
    assert.equal(error.code, code)
    if (reason !== undefined) assert.match(error.reason ?? '', reason)
    return true
  })
}

/** A token whose header names `kid`; the signature is junk (lookup fails before it matters). */
function tokenWithKid(kid: string, issuer: string): string {
  return `${b64({ alg: 'ES256', kid, typ: 'at+jwt' })}.${b64(accessClaims(issuer, Date.now()))}.${'A'.repeat(86)}`
}

describe('discovery', () => {
  it('finds the JWKS through the issuer metadata, then verifies with no further I/O', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    assert.deepEqual(issuer.requests, { discovery: 1, jwks: 1, feed: 0, other: 0 })
    const token = issuer.sign(accessClaims(issuer.url, clock.now()))
    for (let i = 0; i < 5; i++) assert.equal(verifier.verify(token).sub, 'user-1')
    assert.deepEqual(issuer.requests, { discovery: 1, jwks: 1, feed: 0, other: 0 })
    assert.equal(verifier.health().jwks.keys, 1)
    assert.equal(verifier.health().ok, true)
  })

  it('refuses a discovery document that names another issuer, and fetches nothing it points to', async () => {
    const issuer = await issuerFixture()
    issuer.discoveryOverrides = { issuer: 'https://evil.example' }
    await assert.rejects(createVerifier({ issuer: issuer.url, revocation: false }), { code: 'ERR_CONFIG_INVALID', path: 'issuer' })
    // A trailing slash is another issuer too: the comparison is exact.
    issuer.discoveryOverrides = { issuer: `${issuer.url}/` }
    await assert.rejects(createVerifier({ issuer: issuer.url, revocation: false }), (error: Error & { code?: string; path?: string }) => {
      assert.equal(error.code, 'ERR_CONFIG_INVALID')
      assert.equal(error.path, 'issuer')
      // Both values, so the operator sees the difference.
      assert.ok(error.message.includes(`"${issuer.url}"`) && error.message.includes(`"${issuer.url}/"`), error.message)
      return true
    })
    // What the network says is quoted, cut short and kept printable.
    issuer.discoveryOverrides = { issuer: `https://x\u001b[31m\u202e${'a'.repeat(500)}` }
    await assert.rejects(createVerifier({ issuer: issuer.url, revocation: false }), (error: Error) => {
      assert.match(error.message, /^[\x20-\x7e]+$/)
      assert.ok(error.message.length < 600, String(error.message.length))
      return true
    })
    assert.equal(issuer.requests.jwks, 0)
  })

  it('discoverIssuer returns the endpoints', async () => {
    const issuer = await issuerFixture()
    const metadata = await discoverIssuer(issuer.url)
    assert.equal(metadata.jwksUri, `${issuer.url}/.well-known/jwks.json`)
    assert.equal(metadata.revocationFeedUrl, `${issuer.url}/auth/revocations`)
  })

  it('an explicit jwksUri skips discovery; local keys need no network at all', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const viaUri = await verifierFor(issuer, clock, { jwksUri: `${issuer.url}/.well-known/jwks.json` })
    assert.deepEqual(issuer.requests, { discovery: 0, jwks: 1, feed: 0, other: 0 })
    const token = issuer.sign(accessClaims(issuer.url, clock.now()))
    assert.equal(viaUri.verify(token).sub, 'user-1')

    const offline = { fetch: (): Promise<Response> => Promise.reject(new Error('no network here')) }
    const fromJwks = await verifierFor(issuer, clock, { jwks: { keys: [exportPublicJwk(issuer.keys[0]!)] }, ...offline })
    assert.equal(fromJwks.verify(token).sub, 'user-1')
    assert.equal(fromJwks.health().jwks.source, 'local')
    const fromKeyring = await verifierFor(issuer, clock, { keys: createKeyring([issuer.keys[0]!]), ...offline })
    assert.equal(fromKeyring.verify(token).sub, 'user-1')
    assert.equal(fromKeyring.health().jwks.keys, 1)
  })
})

describe('start-up failures are clear', () => {
  it('JWKS down at start: ERR_JWKS_UNAVAILABLE', async () => {
    const issuer = await issuerFixture()
    issuer.jwksMode = 'down'
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /HTTP 500/)
  })

  it('issuer not listening: ERR_JWKS_UNAVAILABLE', async () => {
    const issuer = await startIssuer()
    await issuer.close()
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /discovery document request failed/)
  })

  it('a slow JWKS times out (the deadline covers the body)', async () => {
    const issuer = await issuerFixture()
    issuer.jwksMode = 'slow'
    const started = Date.now()
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false, fetchTimeoutSeconds: 0.2 }), 'ERR_JWKS_UNAVAILABLE', /timed out/)
    assert.ok(Date.now() - started < 3000)
  })

  it('a body that is not JSON, or holds no usable key, is refused', async () => {
    const issuer = await issuerFixture()
    issuer.jwksMode = 'garbage'
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /not a valid JSON object/)
    issuer.jwksMode = 'no-usable-keys'
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /no usable key/)
  })

  it('a 10 MB body is abandoned at the size cap, never buffered whole', async () => {
    const issuer = await issuerFixture()
    for (const mode of ['huge', 'huge-declared'] as const) {
      issuer.jwksMode = mode
      await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /larger than 524288 bytes/)
    }
    await waitFor(() => issuer.abortedResponses === 2, 'the issuer to see both responses abandoned')
    // Backpressure: the client stopped reading, so the server could not push the whole body.
    assert.ok(issuer.hugeBytesSent < 10 * 1024 * 1024, `sent ${issuer.hugeBytesSent} bytes`)
  })

  it('redirects are not followed', async () => {
    const issuer = await issuerFixture()
    issuer.jwksMode = 'redirect'
    await rejectsWith(createVerifier({ issuer: issuer.url, revocation: false }), 'ERR_JWKS_UNAVAILABLE', /request failed/)
  })
})

describe('failures later keep the last good set', () => {
  for (const mode of ['down', 'garbage', 'no-usable-keys', 'huge'] as const) {
    it(`JWKS ${mode} at a refresh`, async () => {
      const issuer = await issuerFixture()
      const clock = createManualClock(Date.now())
      const verifier = await verifierFor(issuer, clock)
      const token = issuer.sign(accessClaims(issuer.url, clock.now()))
      issuer.jwksMode = mode
      clock.advance(240_000) // max-age 300 s: the background refresh runs at 80 %
      await waitFor(() => verifier.health().jwks.lastFailure !== undefined, 'the failed refresh')
      assert.equal(issuer.requests.jwks, 2)
      assert.equal(verifier.verify(token).sub, 'user-1')
      assert.equal(verifier.health().jwks.keys, 1)
      assert.equal(verifier.metrics().jwks!.fetchFailures, 1)
      // The retry comes after the cooldown, not in a tight loop.
      assert.deepEqual(clock.pending(), [30_000])
    })
  }

  it('a slow refresh is cut off by the deadline', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    issuer.jwksMode = 'slow'
    clock.advance(240_000)
    await waitFor(() => issuer.requests.jwks === 2, 'the refresh request')
    clock.advance(5_000)
    await waitFor(() => verifier.health().jwks.lastFailure !== undefined, 'the timeout')
    assert.match(verifier.health().jwks.lastFailure!.reason, /timed out/)
    assert.equal(verifier.verify(issuer.sign(accessClaims(issuer.url, clock.now()))).sub, 'user-1')
  })

  it('members that fail import are dropped from an otherwise good set', async () => {
    const good = generateKey('ES256', { kid: 'good' })
    const issuer = await issuerFixture([good])
    const encKey = { ...exportPublicJwk(generateKey('ES256', { kid: 'enc' })), use: 'enc' }
    const weak = { kty: 'RSA', kid: 'weak', alg: 'RS256', n: 'AQAB', e: 'AQAB' }
    const fetchWithExtras = async (input: string, init: RequestInit): Promise<Response> => {
      const response = await fetch(input, init)
      if (!input.endsWith('jwks.json')) return response
      const body = (await response.json()) as { keys: unknown[] }
      return new Response(JSON.stringify({ keys: [...body.keys, encKey, weak] }), { status: 200 })
    }
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock, { fetch: fetchWithExtras })
    assert.equal(verifier.health().jwks.keys, 1)
    assert.equal(verifier.verify(issuer.sign(accessClaims(issuer.url, clock.now()))).sub, 'user-1')
  })
})

describe('unknown kids', () => {
  it('a flood of random kids costs the issuer at most one fetch per cooldown', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    const flood = (n: number): void => {
      for (let i = 0; i < n; i++) {
        assert.throws(() => verifier.verify(tokenWithKid(`random-${Math.random()}`, issuer.url)), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
      }
    }
    // The first unknown kid refetches at once (a key may have appeared since the initial fetch);
    // the rest of the flood joins that fetch or waits out the cooldown.
    flood(500)
    await waitFor(() => verifier.metrics().jwks!.fetches === 2 && issuer.requests.jwks === 2, 'one refetch')
    await new Promise((resolve) => setTimeout(resolve, 50))
    flood(500)
    clock.advance(29_000)
    flood(500)
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(issuer.requests.jwks, 2)

    clock.advance(1_000)
    flood(500)
    await waitFor(() => issuer.requests.jwks === 3, 'the next cooldown')
    assert.equal(verifier.metrics().jwks!.unknownKid, 2000)
    assert.equal(verifier.metrics().jwks!.unknownKidRefetches, 2)
  })

  it('rotation: a new key verifies after one refetch; a removed key stops verifying, cached tokens too', async () => {
    const k1 = generateKey('ES256', { kid: 'k1' })
    const k2 = generateKey('ES256', { kid: 'k2' })
    const issuer = await issuerFixture([k1])
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    const old = issuer.sign(accessClaims(issuer.url, clock.now()), k1)
    // Twice: the cache admits a token on its second verification.
    assert.equal(verifier.verify(old).sub, 'user-1')
    assert.equal(verifier.verify(old).sub, 'user-1') // now cached

    clock.advance(31_000)
    issuer.keys = [k1, k2]
    const fresh = issuer.sign(accessClaims(issuer.url, clock.now()), k2)
    assert.throws(() => verifier.verify(fresh), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
    await waitFor(() => verifier.health().jwks.keys === 2, 'the refetch to land')
    assert.equal(issuer.requests.jwks, 2)
    assert.equal(verifier.verify(fresh).sub, 'user-1')
    assert.equal(verifier.verify(fresh).sub, 'user-1') // now cached
    assert.equal(verifier.verify(old).sub, 'user-1') // k1 is still published: its cache entry stayed
    assert.equal(verifier.metrics().cache!.size, 2)

    issuer.keys = [k2]
    clock.advance(240_000)
    await waitFor(() => verifier.health().jwks.keys === 1, 'the background refresh')
    assert.equal(verifier.metrics().cache!.size, 1, 'the entry verified by k1 was evicted')
    assert.throws(() => verifier.verify(old), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
    assert.equal(verifier.verify(fresh).sub, 'user-1')
  })

  it('a jku header never makes the verifier fetch anything', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    const key = issuer.keys[0]!
    for (const header of ['jku', 'x5u']) {
      const forged = `${b64({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', [header]: `${issuer.url}/attacker-jwks` })}.${b64(accessClaims(issuer.url, clock.now()))}.${'A'.repeat(86)}`
      assert.throws(() => verifier.verify(forged), { code: 'ERR_JWS_HEADER_UNSUPPORTED' })
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(issuer.requests.other, 0)
    assert.equal(issuer.requests.jwks, 1)
  })
})

describe('required claims', () => {
  it('by default the RFC 9068 claims hallpass always issues are required; requiredClaims relaxes them, never sid with revocation', async () => {
    const issuer = await issuerFixture()
    const clock = createManualClock(Date.now())
    const verifier = await verifierFor(issuer, clock)
    for (const claim of ['exp', 'iat', 'iss', 'sub', 'jti']) {
      const claims = accessClaims(issuer.url, clock.now())
      delete claims[claim]
      // A missing issuer is a claim check too: `iss` must be present to equal the issuer.
      assert.throws(() => verifier.verify(issuer.sign(claims)), { code: 'ERR_JWT_CLAIM_INVALID', claim }, claim)
    }
    const relaxed = await verifierFor(issuer, clock, { requiredClaims: ['exp', 'sub'] })
    const noJti = accessClaims(issuer.url, clock.now())
    delete noJti.jti
    delete noJti.iat
    assert.equal(relaxed.verify(issuer.sign(noJti)).sub, 'user-1')
    for (const bad of ['exp', [1], 'exp sub']) {
      await assert.rejects(createVerifier({ issuer: issuer.url, revocation: false, requiredClaims: bad as never }), { code: 'ERR_CONFIG_INVALID', path: 'requiredClaims' })
    }
  })
})

describe('cache lifetime follows Cache-Control, within bounds', () => {
  const cases: Array<[string | undefined, number]> = [
    ['public, max-age=600', 480_000],
    ['max-age=1', 24_000], // raised to the 30 s floor
    ['no-store', 24_000],
    ['max-age=99999999', 86_400_000 * 0.8], // capped at one day
    [undefined, 240_000], // default 300 s
  ]
  for (const [header, refreshIn] of cases) {
    it(`${header ?? 'no header'} → background refresh in ${refreshIn / 1000} s`, async () => {
      const issuer = await issuerFixture()
      issuer.jwksCacheControl = header
      const clock = createManualClock(Date.now())
      await verifierFor(issuer, clock)
      assert.deepEqual(clock.pending(), [refreshIn])
      clock.advance(refreshIn)
      await waitFor(() => issuer.requests.jwks === 2, 'the refresh')
    })
  }
})

describe('URL policy and options', () => {
  it('https only, except loopback URLs for a localhost issuer', async () => {
    await assert.rejects(createVerifier({ issuer: 'http://auth.example.com' }), { code: 'ERR_CONFIG_INVALID', path: 'issuer' })
    await assert.rejects(createVerifier({ issuer: 'https://auth.example.com', jwksUri: 'http://auth.example.com/jwks' }), { code: 'ERR_CONFIG_INVALID', path: 'jwksUri' })
    await assert.rejects(createVerifier({ issuer: 'http://127.0.0.1:1', jwksUri: 'http://evil.example/jwks' }), { code: 'ERR_CONFIG_INVALID', path: 'jwksUri' })
    await assert.rejects(createVerifier({ issuer: 'https://auth.example.com', jwksUri: 'https://user:pw@auth.example.com/jwks' }), { code: 'ERR_CONFIG_INVALID', path: 'jwksUri' })
    await assert.rejects(createVerifier({ issuer: 'https://auth.example.com?x=1' }), { code: 'ERR_CONFIG_INVALID', path: 'issuer' })
    await assert.rejects(createRemoteJwks('http://127.0.0.1:1/jwks'), { code: 'ERR_CONFIG_INVALID', path: 'url' })
  })

  it('a discovery document cannot downgrade the JWKS or the feed to plain http', async () => {
    const metadata = { issuer: 'https://auth.example.com', jwks_uri: 'http://auth.example.com/jwks', hallpass_revocation_feed: 'https://auth.example.com/feed' }
    const fetchFn = (): Promise<Response> => Promise.resolve(new Response(JSON.stringify(metadata), { status: 200 }))
    await assert.rejects(createVerifier({ issuer: 'https://auth.example.com', fetch: fetchFn, revocation: false }), { code: 'ERR_CONFIG_INVALID', path: 'discovery "jwks_uri"' })
    metadata.jwks_uri = 'https://auth.example.com/jwks'
    metadata.hallpass_revocation_feed = 'http://auth.example.com/feed'
    await assert.rejects(createVerifier({ issuer: 'https://auth.example.com', fetch: fetchFn }), { code: 'ERR_CONFIG_INVALID', path: 'discovery "hallpass_revocation_feed"' })
  })

  it('options are checked before any I/O', async () => {
    let fetched = 0
    const fetchFn = (): Promise<Response> => {
      fetched++
      return Promise.reject(new Error('unused'))
    }
    const base = { issuer: 'https://auth.example.com', fetch: fetchFn }
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ surprise: 1 }, 'surprise'],
      [{ jwksUri: 'https://a.example/j', jwks: { keys: [] } }, 'jwks'],
      [{ algorithms: ['none'] }, 'algorithms'],
      [{ typ: '' }, 'typ'],
      [{ clockToleranceSeconds: -1 }, 'clockToleranceSeconds'],
      [{ requiredScopes: 'a "b' }, 'requiredScopes'],
      [{ revocation: { policy: 'sometimes' } }, 'revocation.policy'],
      [{ revocation: { failOpenForSeconds: Number.NaN } }, 'revocation.failOpenForSeconds'],
      [{ revocation: { feedUrl: 'http://a.example/feed' } }, 'revocation.feedUrl'],
      [{ revocation: { initialCursor: 'a\r\nb' } }, 'revocation.initialCursor'],
      [{ revocation: { extra: true } }, 'revocation.extra'],
      [{ cache: { maxEntries: 0 } }, 'cache.maxEntries'],
      [{ jwksCache: { cooldownSeconds: 0 } }, 'jwksCache.cooldownSeconds'],
      [{ jwksCache: { minMaxAgeSeconds: 100, maxMaxAgeSeconds: 10 } }, 'jwksCache.maxMaxAgeSeconds'],
      [{ timers: {} }, 'timers'],
      [{ fetchTimeoutSeconds: 0 }, 'fetchTimeoutSeconds'],
    ]
    for (const [options, path] of bad) {
      await assert.rejects(createVerifier({ ...base, ...options }), { code: 'ERR_CONFIG_INVALID', path }, path)
    }
    await assert.rejects(createVerifier({ ...base, jwks: { keys: [{ kty: 'oct', k: 'AAAA' }] } }), { code: 'ERR_KEY_INVALID' })
    assert.equal(fetched, 0)
  })

  it('a feed is required when revocation is on and discovery names none', async () => {
    const issuer = await issuerFixture()
    issuer.discoveryOverrides = { hallpass_revocation_feed: undefined }
    await assert.rejects(createVerifier({ issuer: issuer.url }), { code: 'ERR_CONFIG_INVALID', path: 'revocation.feedUrl' })
  })

  it('createRemoteJwks works as a KeyResolver on its own', async () => {
    const issuer = await issuerFixture()
    const jwks = await createRemoteJwks(`${issuer.url}/.well-known/jwks.json`, { allowHttpLoopback: true })
    cleanup.push(() => Promise.resolve(jwks.close()))
    const token = signJwt({ exp: Math.floor(Date.now() / 1000) + 60 }, issuer.keys[0]!)
    const { verifyJws } = await import('../../src/index.ts')
    assert.ok(verifyJws(token, jwks).payload.length > 0)
    assert.equal(jwks.health().keys, 1)
    await jwks.refresh()
    assert.equal(jwks.metrics().fetches, 2)
  })
})
