// Browser mode (`X-Hallpass-Client: browser`): the refresh token lives only in a `__Host-`
// HttpOnly Secure SameSite=Strict cookie, and every request that cookie would authenticate
// must carry the custom header and come from the issuer's origin or a configured CORS origin.
// A refused cross-site request changes nothing: the cookie's token still works afterwards.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { assertError, ISSUER, startServer, STORE_KINDS, storeSkipReason, TEST_PASSWORD, TEST_USERNAME, type HttpResult, type TestServer } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const COOKIE = '__Host-hallpass_rt'
const APP_ORIGIN = 'https://app.hallpass.test'
const BROWSER = { 'x-hallpass-client': 'browser' }

interface ParsedCookie {
  name: string
  value: string
  attributes: Map<string, string>
}

function refreshCookieOf(res: HttpResult): ParsedCookie {
  const cookies = res.headers.getSetCookie()
  assert.equal(cookies.length, 1, `one Set-Cookie: ${JSON.stringify(cookies)}`)
  const [pair, ...attrs] = cookies[0]!.split(';').map((part) => part.trim())
  const eq = pair!.indexOf('=')
  const attributes = new Map(attrs.map((a) => {
    const i = a.indexOf('=')
    return i === -1 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)]
  }))
  return { name: pair!.slice(0, eq), value: decodeURIComponent(pair!.slice(eq + 1)), attributes }
}

function assertRefreshCookie(res: HttpResult): string {
  const cookie = refreshCookieOf(res)
  assert.equal(cookie.name, COOKIE)
  assert.match(cookie.value, /^hprt_/)
  // RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain.
  assert.ok(cookie.attributes.has('httponly'), 'HttpOnly')
  assert.ok(cookie.attributes.has('secure'), 'Secure')
  assert.equal(cookie.attributes.get('samesite'), 'Strict')
  assert.equal(cookie.attributes.get('path'), '/')
  assert.equal(cookie.attributes.has('domain'), false)
  assert.ok(Date.parse(cookie.attributes.get('expires') ?? '') > Date.now(), 'expires in the future')
  return cookie.value
}

for (const kind of STORE_KINDS) {
  describe(`browser mode (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer

    before(async () => {
      server = await startServer(kind, { config: { corsOrigins: [APP_ORIGIN] } })
    })
    after(() => server?.close())

    const browserLogin = async (headers: Record<string, string> = {}): Promise<{ accessToken: string; cookie: string }> => {
      const res = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: { ...BROWSER, ...headers } })
      assert.equal(res.status, 200, res.text)
      return { accessToken: res.body.access_token, cookie: assertRefreshCookie(res) }
    }
    const cookieRefresh = (cookie: string, headers: Record<string, string> = BROWSER): Promise<HttpResult> =>
      server.request('/auth/refresh', { method: 'POST', headers: { cookie: `${COOKIE}=${cookie}`, ...headers } })

    test('login: the refresh token is only in the __Host- cookie, the access token in the body', async () => {
      const res = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: { ...BROWSER, origin: ISSUER } })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.body.refresh_token, undefined)
      assert.equal(res.text.includes('hprt_'), false, 'no refresh token anywhere in the body')
      assert.equal(res.body.token_type, 'Bearer')
      assert.equal(res.headers.get('cache-control'), 'no-store')
      const cookie = assertRefreshCookie(res)
      assert.ok(cookie.startsWith(`hprt_${res.body.session_id}.`))
      assert.equal((await server.request('/auth/me', { bearer: res.body.access_token })).status, 200)
    })

    test('refresh via the cookie rotates it; the body still carries no refresh token', async () => {
      const { cookie } = await browserLogin({ 'sec-fetch-site': 'same-origin' })
      const res = await cookieRefresh(cookie, { ...BROWSER, origin: ISSUER, 'sec-fetch-site': 'same-origin' })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.body.refresh_token, undefined)
      const next = assertRefreshCookie(res)
      assert.notEqual(next, cookie)
      assert.equal((await server.request('/auth/me', { bearer: res.body.access_token })).status, 200)
      // A configured CORS origin is same-party too.
      assert.equal((await cookieRefresh(next, { ...BROWSER, origin: APP_ORIGIN })).status, 200)
    })

    test('cross-site or header-less cookie requests: 403, and nothing changes', async () => {
      const { cookie } = await browserLogin()
      const before = await server.snapshot()
      const attempts: Array<[string, Record<string, string>]> = [
        ['foreign Origin', { ...BROWSER, origin: 'https://evil.example' }],
        ['null Origin', { ...BROWSER, origin: 'null' }],
        ['issuer look-alike', { ...BROWSER, origin: `${ISSUER}.evil.example` }],
        ['other scheme', { ...BROWSER, origin: ISSUER.replace('https:', 'http:') }],
        ['Sec-Fetch-Site: cross-site', { ...BROWSER, 'sec-fetch-site': 'cross-site' }],
        ['Sec-Fetch-Site: same-site', { ...BROWSER, 'sec-fetch-site': 'same-site' }],
        ['no custom header', {}],
        ['no custom header, same origin', { origin: ISSUER, 'sec-fetch-site': 'same-origin' }],
        ['wrong custom header value', { 'x-hallpass-client': 'Browser' }],
      ]
      for (const [what, headers] of attempts) {
        const res = await cookieRefresh(cookie, headers)
        assertError(res, 403, 'forbidden', what)
        assert.equal(res.headers.getSetCookie().length, 0, `${what}: the cookie is left alone`)
        const logout = await server.request('/auth/logout', { method: 'POST', headers: { cookie: `${COOKIE}=${cookie}`, ...headers } })
        assertError(logout, 403, 'forbidden', `${what} (logout)`)
      }
      assert.deepEqual(await server.snapshot(), before, 'no session rotated or revoked')
      // The token still works for the real page.
      const ok = await cookieRefresh(cookie)
      assert.equal(ok.status, 200, ok.text)
    })

    test('login CSRF: a cross-site browser login is refused before the password is checked', async () => {
      const failures = await server.metric('hallpass_logins_total')
      for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Array<Record<string, string>>) {
        const res = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: { ...BROWSER, ...headers } })
        assertError(res, 403, 'forbidden')
        assert.equal(res.headers.getSetCookie().length, 0)
      }
      assert.equal(await server.metric('hallpass_logins_total'), failures, 'no login attempt was counted')
    })

    test('logout via the cookie clears it and ends the session', async () => {
      const { accessToken, cookie } = await browserLogin()
      const res = await server.request('/auth/logout', { method: 'POST', headers: { ...BROWSER, origin: ISSUER, cookie: `${COOKIE}=${cookie}` } })
      assert.equal(res.status, 204)
      const cleared = refreshCookieOf(res)
      assert.equal(cleared.name, COOKIE)
      assert.equal(cleared.value, '')
      assert.ok(Date.parse(cleared.attributes.get('expires') ?? '') <= Date.now() || cleared.attributes.get('max-age') === '0', 'expired')
      assertError(await server.request('/auth/me', { bearer: accessToken }), 401, 'invalid_token')
      const dead = await cookieRefresh(cookie)
      assertError(dead, 400, 'invalid_grant')
      assert.equal(refreshCookieOf(dead).value, '', 'a dead cookie is cleared')
    })

    test('logout-all in browser mode clears the cookie too', async () => {
      const { accessToken } = await browserLogin()
      const res = await server.request('/auth/logout-all', { method: 'POST', bearer: accessToken, headers: BROWSER })
      assert.equal(res.status, 200)
      assert.equal(refreshCookieOf(res).value, '')
    })

    test('CORS: only the configured origin is granted, with credentials', async () => {
      const preflight = await server.request('/auth/refresh', {
        method: 'OPTIONS',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-hallpass-client, content-type' },
      })
      assert.ok(preflight.status === 204 || preflight.status === 200, `preflight ${preflight.status}`)
      assert.equal(preflight.headers.get('access-control-allow-origin'), APP_ORIGIN)
      assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true')
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-hallpass-client/)
      const foreign = await server.request('/auth/refresh', {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-hallpass-client' },
      })
      assert.equal(foreign.headers.get('access-control-allow-origin'), null)
      assert.equal(foreign.headers.get('access-control-allow-credentials') === 'true' && foreign.headers.get('access-control-allow-origin') !== null, false)
    })

    test('with cookies disabled, the browser header changes nothing', async () => {
      const plain = await startServer(kind, { config: { cookies: { enabled: false } } })
      try {
        const res = await plain.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: BROWSER })
        assert.equal(res.status, 200)
        assert.match(res.body.refresh_token, /^hprt_/)
        assert.equal(res.headers.getSetCookie().length, 0)
        // A cookie is not a credential there at all.
        assertError(await plain.request('/auth/refresh', { method: 'POST', headers: { ...BROWSER, cookie: `${COOKIE}=${res.body.refresh_token}` } }), 400, 'invalid_request')
        assert.equal((await plain.request('/auth/refresh', { json: { refresh_token: res.body.refresh_token } })).status, 200)
      } finally {
        await plain.close()
      }
    })
  })
}
