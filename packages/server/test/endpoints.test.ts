// Every endpoint of `hallpass serve` and its error paths, over a real socket, on SQLite,
// PostgreSQL and Redis. Tests inside one store's suite run in order and share one server; the
// ones that move the session manager's clock (reuse after the grace window, expiry) come last.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createJwtVerifier, generateKey, importJwks, signJwt, type JwkSet } from 'hallpass'
import {
  assertError,
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  openSse,
  SPECIAL_CLIENT_ID,
  SPECIAL_CLIENT_SECRET,
  startServer,
  STORE_KINDS,
  storeSkipReason,
  TEST_PASSWORD,
  TEST_USERNAME,
  type Json,
  type SseEvent,
  type TestServer,
  type TokenResponse,
} from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const client = { id: CLIENT_ID, secret: CLIENT_SECRET }

function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8'))
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

for (const kind of STORE_KINDS) {
  describe(`session server endpoints (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer

    before(async () => {
      server = await startServer(kind, { config: { jwksMaxAge: '5m', keyPublishLead: '10m' } })
    })
    after(() => server?.close())

    const me = (accessToken: string): ReturnType<TestServer['request']> => server.request('/auth/me', { bearer: accessToken })
    const refresh = (refreshToken: string): ReturnType<TestServer['request']> => server.request('/auth/refresh', { json: { refresh_token: refreshToken } })
    const introspect = (token: string, auth = client): ReturnType<TestServer['request']> => server.request('/oauth/introspect', { form: { token }, basic: auth })

    test('GET /healthz, /readyz answer 200 and are never cached', async () => {
      const health = await server.request('/healthz')
      assert.equal(health.status, 200)
      assert.deepEqual(health.body, { status: 'ok' })
      assert.equal(health.headers.get('cache-control'), 'no-store')
      const ready = await server.request('/readyz')
      assert.equal(ready.status, 200)
      assert.deepEqual(ready.body, { status: 'ready' })
      assert.equal(ready.headers.get('cache-control'), 'no-store')
    })

    test('POST /auth/login: RFC 6749 §5.1 token response, never cached, token verifiable with the JWKS', async () => {
      const before = await server.metric('hallpass_logins_total', { result: 'success' })
      const res = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD, device_label: 'laptop' } })
      assert.equal(res.status, 200, res.text)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.headers.get('pragma'), 'no-cache')
      assert.equal(res.headers.get('set-cookie'), null, 'no cookie outside browser mode')
      const body = res.body as TokenResponse
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'session_id', 'token_type'])
      assert.equal(body.token_type, 'Bearer')
      assert.equal(body.expires_in, 600)
      assert.match(body.session_id, /^[A-Za-z0-9_-]{22}$/)
      // The opaque token names its session (one indexed read) and carries 256 random bits.
      assert.match(body.refresh_token, /^hprt_[A-Za-z0-9_-]{22}\.[0-9]+\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/)
      assert.ok(body.refresh_token.startsWith(`hprt_${body.session_id}.`))

      const jwks = (await server.request('/.well-known/jwks.json')).body as JwkSet
      const verify = createJwtVerifier({ keys: importJwks(jwks), issuer: ISSUER })
      const { header, claims } = verify(body.access_token)
      assert.equal(header.typ, 'at+jwt')
      assert.equal(header.alg, 'ES256')
      assert.equal(claims.sub, TEST_USERNAME)
      assert.equal(claims.sid, body.session_id)
      assert.equal((claims.exp as number) - (claims.iat as number), 600)
      assert.equal(typeof claims.jti, 'string')
      assert.equal(await server.metric('hallpass_logins_total', { result: 'success' }), before + 1)
    })

    test('POST /auth/login: form-encoded with grant_type=password, and the username is normalised', async () => {
      const res = await server.request('/auth/login', { form: { grant_type: 'password', username: ' ＡＬＩＣＥ ', password: TEST_PASSWORD } })
      assert.equal(res.status, 200, res.text)
      assert.equal(decodeSegment(res.body.access_token, 1).sub, TEST_USERNAME)
      const wrongGrant = await server.request('/auth/login', { json: { grant_type: 'client_credentials', username: TEST_USERNAME, password: TEST_PASSWORD } })
      assertError(wrongGrant, 400, 'invalid_request')
    })

    test('POST /auth/login: wrong password and unknown user get the same invalid_grant, in similar time', async () => {
      const failuresBefore = await server.metric('hallpass_logins_total', { result: 'invalid_credentials' })
      const wrong: number[] = []
      const unknown: number[] = []
      let wrongBody: unknown
      let unknownBody: unknown
      for (let i = 0; i < 6; i++) {
        let started = performance.now()
        const a = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: `wrong password ${i}` } })
        wrong.push(performance.now() - started)
        started = performance.now()
        const b = await server.request('/auth/login', { json: { username: `nobody-${i}`, password: TEST_PASSWORD } })
        unknown.push(performance.now() - started)
        assertError(a, 400, 'invalid_grant')
        assertError(b, 400, 'invalid_grant')
        assert.equal(a.headers.get('cache-control'), 'no-store')
        wrongBody = a.body
        unknownBody = b.body
      }
      assert.deepEqual(wrongBody, unknownBody, 'one answer for both')
      const [mw, mu] = [median(wrong), median(unknown)]
      const ratio = Math.max(mw, mu) / Math.min(mw, mu)
      // argon2id dominates both paths (the unknown user is checked against a dummy hash).
      assert.ok(ratio < 3, `median wrong password ${mw.toFixed(1)} ms vs unknown user ${mu.toFixed(1)} ms (×${ratio.toFixed(2)})`)
      assert.ok(mu > 10, `an unknown user must cost a hash too (${mu.toFixed(1)} ms)`)
      assert.equal(await server.metric('hallpass_logins_total', { result: 'invalid_credentials' }), failuresBefore + 12)
    })

    test('POST /auth/refresh: rotates; a racing replay inside the grace window gets the same successor', async () => {
      const login = await server.login()
      const rotatedBefore = await server.metric('hallpass_refreshes_total', { result: 'rotated' })
      const first = await refresh(login.refresh_token)
      assert.equal(first.status, 200, first.text)
      assert.equal(first.headers.get('cache-control'), 'no-store')
      const next = first.body as TokenResponse
      assert.notEqual(next.refresh_token, login.refresh_token)
      assert.notEqual(next.access_token, login.access_token)
      assert.equal(next.session_id, login.session_id)
      assert.equal(next.token_type, 'Bearer')
      assert.equal((await me(next.access_token)).status, 200)

      const replay = await refresh(login.refresh_token)
      assert.equal(replay.status, 200, replay.text)
      assert.equal(replay.body.refresh_token, next.refresh_token, 'the same successor: the session does not fork')
      assert.equal(await server.metric('hallpass_refreshes_total', { result: 'rotated' }), rotatedBefore + 1)
      assert.equal(await server.metric('hallpass_refreshes_total', { result: 'concurrent_replay' }) >= 1, true)

      const form = await server.request('/auth/refresh', { form: { grant_type: 'refresh_token', refresh_token: next.refresh_token } })
      assert.equal(form.status, 200, form.text)
      assert.equal(form.body.session_id, login.session_id)
    })

    test('POST /auth/refresh: unknown, forged or missing tokens', async () => {
      const login = await server.mint()
      const forged = login.refresh_token.slice(0, -4) + (login.refresh_token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
      const bad = await refresh(forged)
      assertError(bad, 400, 'invalid_grant')
      assert.equal(bad.headers.get('x-hallpass-error'), 'ERR_REFRESH_INVALID')
      assertError(await refresh('hprt_nonsense'), 400, 'invalid_grant')
      assertError(await refresh('not-even-a-refresh-token'), 400, 'invalid_grant')
      assertError(await server.request('/auth/refresh', { json: {} }), 400, 'invalid_request')
      assertError(await server.request('/auth/refresh', { method: 'POST' }), 400, 'invalid_request')
      // The forged token changed nothing: the real one still rotates.
      assert.equal((await refresh(login.refresh_token)).status, 200)
    })

    test('POST /auth/logout by refresh token, and by bearer; an invalid token is still 204', async () => {
      const a = await server.mint()
      const out = await server.request('/auth/logout', { json: { refresh_token: a.refresh_token } })
      assert.equal(out.status, 204)
      assert.equal(out.text, '')
      assertError(await refresh(a.refresh_token), 400, 'invalid_grant')
      assertError(await me(a.access_token), 401, 'invalid_token')

      const b = await server.mint()
      assert.equal((await server.request('/auth/logout', { method: 'POST', bearer: b.access_token })).status, 204)
      const denied = await me(b.access_token)
      assertError(denied, 401, 'invalid_token')
      assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer realm="hallpass", error="invalid_token"/)
      assert.equal(denied.headers.get('x-hallpass-error'), 'ERR_SESSION_REVOKED')
      assertError(await refresh(b.refresh_token), 400, 'invalid_grant')

      assert.equal((await server.request('/auth/logout', { json: { refresh_token: 'hprt_whatever' } })).status, 204)
      assertError(await server.request('/auth/logout', { method: 'POST', bearer: 'not.a.jwt' }), 401, 'invalid_token')
      // Another scheme's credential is no bearer credential: a bare challenge (RFC 6750 §3.1).
      const basic = await server.request('/auth/logout', { method: 'POST', headers: { authorization: 'Basic Zm9vOmJhcg==' } })
      assertError(basic, 401, 'unauthorized')
      assert.equal(basic.headers.get('www-authenticate'), 'Bearer realm="hallpass"')
    })

    test('POST /auth/logout-all revokes every session of the user and no one else’s', async () => {
      const bob1 = await server.mint('bob')
      const bob2 = await server.mint('bob')
      const alice = await server.mint()
      const res = await server.request('/auth/logout-all', { method: 'POST', bearer: bob1.access_token })
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(res.body, { revoked: 2 })
      assert.equal(res.headers.get('cache-control'), 'no-store')
      for (const s of [bob1, bob2]) {
        assertError(await me(s.access_token), 401, 'invalid_token')
        assertError(await refresh(s.refresh_token), 400, 'invalid_grant')
      }
      assert.equal((await me(alice.access_token)).status, 200)
      assertError(await server.request('/auth/logout-all', { method: 'POST' }), 401, 'unauthorized')
      assertError(await server.request('/auth/logout-all', { method: 'POST', bearer: bob1.access_token }), 401, 'invalid_token')
    })

    test('GET /auth/me: identity with a valid token; RFC 6750 answers otherwise', async () => {
      const login = await server.mint()
      const res = await me(login.access_token)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.body.sub, TEST_USERNAME)
      assert.equal(res.body.sid, login.session_id)
      assert.equal(res.body.claims.iss, ISSUER)

      const none = await server.request('/auth/me')
      assertError(none, 401, 'unauthorized')
      // RFC 6750 §3.1: no credentials, no error attribute.
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="hallpass"')

      const malformed = await server.request('/auth/me', { headers: { authorization: 'Bearer a b' } })
      assertError(malformed, 400, 'invalid_request')
      assert.match(malformed.headers.get('www-authenticate') ?? '', /error="invalid_request"/)

      const foreignKey = generateKey('ES256')
      const now = Math.floor(Date.now() / 1000)
      const forged = signJwt({ iss: ISSUER, sub: TEST_USERNAME, sid: login.session_id, iat: now, exp: now + 60, jti: 'x' }, foreignKey)
      const bad = await me(forged)
      assertError(bad, 401, 'invalid_token')
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="hallpass", error="invalid_token", error_description="[^"]+"$/)

      const [h, p] = login.access_token.split('.')
      const unsigned = `${Buffer.from(JSON.stringify({ ...decodeSegment(login.access_token, 0), alg: 'none' })).toString('base64url')}.${p}.`
      assertError(await me(unsigned), 401, 'invalid_token')
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeSegment(login.access_token, 1), sub: 'bob' })).toString('base64url')}.${login.access_token.split('.')[2]}`
      const tamperedRes = await me(tampered)
      assertError(tamperedRes, 401, 'invalid_token')
      assert.equal(tamperedRes.headers.get('x-hallpass-error'), 'ERR_JWS_SIGNATURE_INVALID')
    })

    test('GET /auth/sessions and DELETE /auth/sessions/:id: only one’s own', async () => {
      const c1 = await server.mint('carol', { userAgent: 'phone-app/1.0' })
      const c2 = await server.mint('carol')
      const alice = await server.mint()

      const list = await server.request('/auth/sessions', { bearer: c1.access_token })
      assert.equal(list.status, 200)
      assert.equal(list.headers.get('cache-control'), 'no-store')
      const sessions = list.body.sessions as Array<Record<string, Json>>
      assert.deepEqual(sessions.map((s) => s.id).sort(), [c1.session_id, c2.session_id].sort())
      const current = sessions.find((s) => s.current === true)
      assert.equal(current?.id, c1.session_id)
      assert.equal(current?.device.userAgent, 'phone-app/1.0')
      for (const s of sessions) {
        for (const field of ['created_at', 'last_seen_at', 'expires_at']) assert.ok(!Number.isNaN(Date.parse(s[field])), field)
        assert.equal(JSON.stringify(s).includes('hprt_'), false, 'no refresh token material')
      }

      // Another user's session looks exactly like a missing one.
      const foreign = await server.request(`/auth/sessions/${alice.session_id}`, { method: 'DELETE', bearer: c1.access_token })
      assertError(foreign, 404, 'not_found')
      const missing = await server.request(`/auth/sessions/${'A'.repeat(22)}`, { method: 'DELETE', bearer: c1.access_token })
      assert.deepEqual(missing.body, foreign.body)
      assert.equal((await me(alice.access_token)).status, 200, 'alice is untouched')
      assertError(await server.request('/auth/sessions/short', { method: 'DELETE', bearer: c1.access_token }), 400, 'invalid_request')
      assertError(await server.request(`/auth/sessions/${c2.session_id}`, { method: 'DELETE' }), 401, 'unauthorized')

      const del = await server.request(`/auth/sessions/${c2.session_id}`, { method: 'DELETE', bearer: c1.access_token })
      assert.equal(del.status, 204)
      assertError(await refresh(c2.refresh_token), 400, 'invalid_grant')
      const after = await server.request('/auth/sessions', { bearer: c1.access_token })
      assert.deepEqual(after.body.sessions.map((s: { id: string }) => s.id), [c1.session_id])
      assertError(await server.request('/auth/sessions'), 401, 'unauthorized')
    })

    test('POST /sessions: the admin key mints a session; without it, invalid_client', async () => {
      const input = { subject: 'svc-user-1', scope: 'orders:read orders:write', claims: { tenant: 't-1' }, device: { label: 'batch job' } }
      assertError(await server.request('/sessions', { json: input }), 401, 'invalid_client')
      assertError(await server.request('/sessions', { json: input, bearer: 'wrong-admin-key-wrong-admin-key-wrong' }), 401, 'invalid_client')
      const alice = await server.mint()
      assertError(await server.request('/sessions', { json: input, bearer: alice.access_token }), 401, 'invalid_client')

      const res = await server.request('/sessions', { json: input, bearer: server.adminKey })
      assert.equal(res.status, 201, res.text)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.body.token_type, 'Bearer')
      assert.equal(res.body.scope, 'orders:read orders:write')
      assert.match(res.body.refresh_token, /^hprt_/)
      const claims = decodeSegment(res.body.access_token, 1)
      assert.equal(claims.sub, 'svc-user-1')
      assert.equal(claims.tenant, 't-1')
      assert.equal(claims.scope, 'orders:read orders:write')
      const who = await me(res.body.access_token)
      assert.equal(who.body.scope, 'orders:read orders:write')
      assert.equal((await refresh(res.body.refresh_token)).status, 200)

      // Registered claims are the server's to set.
      const reserved = await server.request('/sessions', { json: { subject: 'svc-user-1', claims: { iss: 'https://evil.example' } }, bearer: server.adminKey })
      assertError(reserved, 400, 'invalid_request')
      assertError(await server.request('/sessions', { json: { subject: 'x', scope: 'bad\u0001scope' }, bearer: server.adminKey }), 400, 'invalid_request')
    })

    test('POST /sessions is not there at all when no admin key is configured', async () => {
      const bare = await startServer(kind, { env: { HALLPASS_ADMIN_API_KEY: '' }, createUser: false })
      try {
        assertError(await bare.request('/sessions', { json: { subject: 'x' }, bearer: server.adminKey }), 404, 'not_found')
      } finally {
        await bare.close()
      }
    })

    test('GET /.well-known/jwks.json: public keys only, cached no longer than config and the next key change', async () => {
      const res = await server.request('/.well-known/jwks.json')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/jwk-set\+json/)
      assert.equal(res.headers.get('cache-control'), 'public, max-age=300')
      const keys = res.body.keys as Array<Record<string, unknown>>
      assert.equal(keys.length, 1)
      for (const key of keys) {
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(key[member], undefined, `no private member ${member}`)
        assert.equal(key.use, 'sig')
        assert.equal(key.alg, 'ES256')
      }
      const login = await server.mint()
      assert.equal(decodeSegment(login.access_token, 0).kid, keys[0]!.kid)

      // A key scheduled to sign in 120 s is published now, and the JWKS must not be cached
      // past that moment (publish-then-use).
      await server.ctx.sessions.keys.rotate({ activateInSeconds: 120 })
      const rotated = await server.request('/.well-known/jwks.json')
      const maxAge = Number(/^public, max-age=(\d+)$/.exec(rotated.headers.get('cache-control') ?? '')?.[1])
      assert.ok(maxAge <= 120 && maxAge >= 110, `max-age ${maxAge}`)
      assert.equal(rotated.body.keys.length, 2)
      assert.ok(rotated.body.keys.some((k: { kid: unknown }) => k.kid === keys[0]!.kid), 'the signing key stays published')
      assert.equal(decodeSegment((await server.mint()).access_token, 0).kid, keys[0]!.kid, 'the new key does not sign yet')
    })

    test('discovery metadata at both well-known paths', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await server.request(path)
        assert.equal(res.status, 200)
        assert.match(res.headers.get('cache-control') ?? '', /^public, max-age=\d+$/)
        assert.equal(res.body.issuer, ISSUER)
        assert.equal(res.body.jwks_uri, `${ISSUER}/.well-known/jwks.json`)
        assert.equal(res.body.introspection_endpoint, `${ISSUER}/oauth/introspect`)
        assert.equal(res.body.revocation_endpoint, `${ISSUER}/oauth/revoke`)
        assert.deepEqual(res.body.access_token_signing_alg_values_supported, ['ES256'])
        assert.equal(res.body.hallpass_revocation_feed, `${ISSUER}/auth/revocations`)
      }
    })

    test('POST /oauth/introspect (RFC 7662): client auth, active and inactive tokens', async () => {
      const login = await server.mint()
      const access = await introspect(login.access_token)
      assert.equal(access.status, 200, access.text)
      assert.equal(access.headers.get('cache-control'), 'no-store')
      assert.equal(access.body.active, true)
      assert.equal(access.body.token_type, 'access_token')
      assert.equal(access.body.sub, TEST_USERNAME)
      assert.equal(access.body.sid, login.session_id)
      assert.equal(access.body.iss, ISSUER)
      assert.equal(typeof access.body.exp, 'number')

      const rt = await server.request('/oauth/introspect', { json: { token: login.refresh_token, token_type_hint: 'refresh_token' }, basic: client })
      assert.equal(rt.status, 200)
      assert.equal(rt.body.active, true)
      assert.equal(rt.body.token_type, 'refresh_token')
      assert.equal(rt.body.sid, login.session_id)
      assert.equal(JSON.stringify(rt.body).includes('hprt_'), false)

      // An id and secret that need form-encoding inside Basic (RFC 6749 §2.3.1).
      const special = await introspect(login.access_token, { id: SPECIAL_CLIENT_ID, secret: SPECIAL_CLIENT_SECRET })
      assert.equal(special.body.active, true, special.text)
      // The admin key works as a bearer too.
      assert.equal((await server.request('/oauth/introspect', { form: { token: login.access_token }, bearer: server.adminKey })).body.active, true)

      // Introspection is read-only: the old refresh token is inactive after rotation, and
      // asking about it does not count as reuse.
      const next = (await refresh(login.refresh_token)).body as TokenResponse
      assert.deepEqual((await introspect(login.refresh_token)).body, { active: false })
      assert.equal((await introspect(next.refresh_token)).body.active, true)
      assert.equal((await me(next.access_token)).status, 200)

      for (const token of ['garbage', 'hprt_garbage', 'a.b.c', next.access_token.slice(0, -2)]) {
        assert.deepEqual((await introspect(token)).body, { active: false }, token)
      }
      await server.request('/auth/logout', { json: { refresh_token: next.refresh_token } })
      assert.deepEqual((await introspect(next.access_token)).body, { active: false })
      assert.deepEqual((await introspect(next.refresh_token)).body, { active: false })

      for (const auth of [{ id: CLIENT_ID, secret: 'wrong-secret-wrong-secret-wrong-secret' }, { id: 'nobody', secret: CLIENT_SECRET }, { id: CLIENT_ID, secret: '' }]) {
        const denied = await introspect(login.access_token, auth)
        assertError(denied, 401, 'invalid_client')
        assert.equal(denied.headers.get('www-authenticate'), 'Basic realm="hallpass"')
        assert.equal(denied.body.active, undefined)
      }
      assertError(await server.request('/oauth/introspect', { form: { token: 'x' } }), 401, 'invalid_client')
      assertError(await server.request('/oauth/introspect', { form: { token: 'x' }, bearer: login.access_token }), 401, 'invalid_client')
      assertError(await server.request('/oauth/introspect', { form: { token: 'x' }, headers: { authorization: 'Basic !!!' } }), 401, 'invalid_client')
      assertError(await server.request('/oauth/introspect', { form: {}, basic: client }), 400, 'invalid_request')
    })

    test('POST /oauth/revoke (RFC 7009): always 200, and the session is gone', async () => {
      const a = await server.mint()
      const res = await server.request('/oauth/revoke', { form: { token: a.refresh_token, token_type_hint: 'refresh_token' }, basic: client })
      assert.equal(res.status, 200)
      assert.equal(res.text, '')
      assertError(await me(a.access_token), 401, 'invalid_token')
      assertError(await refresh(a.refresh_token), 400, 'invalid_grant')

      const b = await server.mint()
      assert.equal((await server.request('/oauth/revoke', { form: { token: b.access_token }, basic: client })).status, 200)
      assertError(await me(b.access_token), 401, 'invalid_token')
      assertError(await refresh(b.refresh_token), 400, 'invalid_grant')

      for (const token of ['garbage', 'hprt_garbage', a.refresh_token, b.access_token]) {
        assert.equal((await server.request('/oauth/revoke', { form: { token }, basic: client })).status, 200, token)
      }
      const c = await server.mint()
      assertError(await server.request('/oauth/revoke', { form: { token: c.refresh_token }, basic: { id: CLIENT_ID, secret: 'nope-nope-nope-nope-nope-nope-nope' } }), 401, 'invalid_client')
      assertError(await server.request('/oauth/revoke', { form: { token: c.refresh_token } }), 401, 'invalid_client')
      assert.equal((await me(c.access_token)).status, 200, 'a refused revocation changed nothing')
      assertError(await server.request('/oauth/revoke', { form: { token_type_hint: 'access_token' }, basic: client }), 400, 'invalid_request')
    })

    test('GET /auth/revocations: a snapshot, ready, live events with ids, then exact catch-up with Last-Event-ID', async () => {
      const feed = await openSse(`${server.url}/auth/revocations`)
      assert.equal(feed.status, 200)
      assert.match(feed.headers.get('content-type') ?? '', /^text\/event-stream/)
      assert.equal(feed.headers.get('cache-control'), 'no-store')
      assert.equal(feed.headers.get('x-content-type-options'), 'nosniff')
      const sessions = [await server.mint(), await server.mint(), await server.mint(), await server.mint()]
      const revoke = async (i: number): Promise<void> => {
        assert.equal((await server.request('/auth/logout', { json: { refresh_token: sessions[i]!.refresh_token } })).status, 204)
      }
      let first: SseEvent | undefined
      try {
        const ready = await feed.next(2000, 'ready')
        assert.ok(ready !== undefined, 'the snapshot ends with ready')
        assert.equal(JSON.parse(ready.data).snapshot, true)
        const started = Date.now()
        await revoke(0)
        first = await feed.next(2000)
        assert.ok(first !== undefined, 'the revocation arrives on the feed')
        assert.ok(Date.now() - started < 1000, `within a second (${Date.now() - started} ms)`)
        assert.equal(feed.retry, 1000)
        assert.equal(first.event, 'revocation')
        assert.match(first.id ?? '', /^[0-9a-f]{16}\.[0-9]+(-[0-9]+)?$/)
        const data = JSON.parse(first.data)
        assert.deepEqual(Object.keys(data).sort(), ['exp', 'sid'])
        assert.equal(data.sid, sessions[0]!.session_id)
        assert.ok(data.exp >= Math.floor(Date.now() / 1000))
      } finally {
        feed.close()
      }

      // Missed while disconnected: exactly these two, in order, then ready, then live again.
      await revoke(1)
      await revoke(2)
      const resumed = await openSse(`${server.url}/auth/revocations`, { 'last-event-id': first.id! })
      try {
        assert.equal(resumed.status, 200)
        const missed = [await resumed.next(2000), await resumed.next(2000)]
        assert.deepEqual(missed.map((e) => JSON.parse(e!.data).sid), [sessions[1]!.session_id, sessions[2]!.session_id])
        const ready = await resumed.next(2000, 'ready')
        assert.deepEqual(JSON.parse(ready!.data), { snapshot: false, entries: 2 })
        assert.equal(await resumed.next(300), undefined, 'nothing else was missed')
        await revoke(3)
        const live = await resumed.next(2000)
        assert.equal(JSON.parse(live!.data).sid, sessions[3]!.session_id)
        assert.notEqual(live!.id, missed[1]!.id)
      } finally {
        resumed.close()
      }

      // `?after=` is the same cursor for clients that cannot set headers.
      const viaQuery = await openSse(`${server.url}/auth/revocations?after=${encodeURIComponent(first.id!)}`)
      try {
        assert.equal(viaQuery.status, 200)
        const sids = []
        for (let i = 0; i < 3; i++) sids.push(JSON.parse((await viaQuery.next(2000))!.data).sid)
        assert.deepEqual(sids, [sessions[1]!.session_id, sessions[2]!.session_id, sessions[3]!.session_id])
      } finally {
        viaQuery.close()
      }
      // A cursor it cannot resume from: a reset that says why, then a snapshot.
      const reset = await openSse(`${server.url}/auth/revocations`, { 'last-event-id': 'not-a-cursor' })
      try {
        assert.deepEqual(JSON.parse((await reset.next(2000, 'reset'))!.data), { reason: 'malformed' })
        assert.equal(JSON.parse((await reset.next(2000, 'ready'))!.data).snapshot, true)
      } finally {
        reset.close()
      }
      assertError(await server.request('/auth/revocations?after=1&after=2'), 400, 'invalid_request')
    })

    test('GET /auth/revocations: a live subscriber gets the feed position first, so it can resume having seen nothing', async () => {
      const feed = await openSse(`${server.url}/auth/revocations`)
      let ready: SseEvent | undefined
      try {
        ready = await feed.next(2000, 'ready')
        assert.ok(ready?.id !== undefined, 'a ready event carrying the head cursor')
      } finally {
        feed.close()
      }
      // Revoked while this subscriber was away: it must not be lost on reconnect.
      const session = await server.mint()
      assert.equal((await server.request('/auth/logout', { json: { refresh_token: session.refresh_token } })).status, 204)
      const resumed = await openSse(`${server.url}/auth/revocations`, { 'last-event-id': ready.id })
      try {
        assert.equal(JSON.parse((await resumed.next(2000))!.data).sid, session.session_id)
      } finally {
        resumed.close()
      }
    })

    test('GET /metrics: Prometheus text whose counters move', async () => {
      const res = await server.request('/metrics')
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
      assert.match(res.text, /^# HELP hallpass_logins_total /m)
      const logouts = await server.metric('hallpass_revocations_total', { reason: 'logout' })
      const latency = await server.metric('hallpass_http_request_duration_seconds_count', { route: '/auth/login', method: 'POST', status: '200' })
      const login = await server.login()
      await server.request('/auth/logout', { json: { refresh_token: login.refresh_token } })
      assert.equal(await server.metric('hallpass_revocations_total', { reason: 'logout' }), logouts + 1)
      assert.equal(await server.metric('hallpass_http_request_duration_seconds_count', { route: '/auth/login', method: 'POST', status: '200' }), latency + 1)
    })

    test('unknown routes and methods: 404 not_found', async () => {
      assertError(await server.request('/nope'), 404, 'not_found')
      assertError(await server.request('/auth/login'), 404, 'not_found')
      assertError(await server.request('/healthz', { method: 'DELETE' }), 404, 'not_found')
    })

    // From here on the session manager's clock moves forward.

    test('refresh reuse after the grace window: invalid_grant, and the whole session is dead', async () => {
      const login = await server.mint()
      const next = (await refresh(login.refresh_token)).body as TokenResponse
      const reusesBefore = await server.metric('hallpass_refresh_reuse_detections_total')
      server.advanceClock((server.config.reuseWindowSeconds + 1) * 1000)
      const reuse = await refresh(login.refresh_token)
      assertError(reuse, 400, 'invalid_grant')
      assert.equal(reuse.headers.get('x-hallpass-error'), 'ERR_REFRESH_REUSED')
      assert.equal(reuse.headers.get('cache-control'), 'no-store')
      // The legitimate holder's newest token dies with it, and so do its access tokens.
      assertError(await refresh(next.refresh_token), 400, 'invalid_grant')
      assertError(await me(next.access_token), 401, 'invalid_token')
      assert.deepEqual((await introspect(next.refresh_token)).body, { active: false })
      assert.equal(await server.metric('hallpass_refresh_reuse_detections_total'), reusesBefore + 1)
      assert.equal(await server.metric('hallpass_revocations_total', { reason: 'refresh_reuse' }), 1)
    })

    test('an expired access token is refused; its refresh token still works', async () => {
      const login = await server.mint()
      server.advanceClock((server.config.accessTokenTtlSeconds + 60) * 1000)
      const res = await me(login.access_token)
      assertError(res, 401, 'invalid_token')
      assert.equal(res.headers.get('x-hallpass-error'), 'ERR_JWT_EXPIRED')
      assert.deepEqual((await introspect(login.access_token)).body, { active: false })
      const next = await refresh(login.refresh_token)
      assert.equal(next.status, 200, next.text)
      assert.equal((await me(next.body.access_token)).status, 200)
    })
  })
}
