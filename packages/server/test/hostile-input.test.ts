// Hostile input on every route, on every store: malformed and oversized bodies, wrong content
// types and field types, duplicate parameters and headers, prototype keys, header injection,
// unicode usernames, and login bursts. Each gets the right status and error name, nothing
// stored changes, and the server stays healthy.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parseFeedCursor } from 'hallpass'
import { normalizeUsername } from 'hallpass/users'
import {
  assertError,
  openSse,
  CLIENT_ID,
  CLIENT_SECRET,
  rawJsonBody,
  rawRequest,
  startServer,
  STORE_KINDS,
  storeSkipReason,
  TEST_PASSWORD,
  TEST_USERNAME,
  type HttpResult,
  type RequestOptions,
  type TestServer,
  type TokenResponse,
} from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`

interface BodyRoute {
  path: string
  /** Valid credentials for the route, so that only the body is wrong. */
  auth: (server: TestServer, session: TokenResponse) => Record<string, string>
  /** A JSON body the route accepts, to derive extra-field and wrong-type variants from. */
  valid: (session: TokenResponse) => Record<string, unknown>
  /** The field to give a wrong type. */
  field: string
  /** Whether the route validates its body (logout-all takes none and ignores it). */
  hasSchema: boolean
}

const BODY_ROUTES: BodyRoute[] = [
  { path: '/auth/login', auth: () => ({}), valid: () => ({ username: TEST_USERNAME, password: TEST_PASSWORD }), field: 'username', hasSchema: true },
  { path: '/auth/refresh', auth: () => ({}), valid: (s) => ({ refresh_token: s.refresh_token }), field: 'refresh_token', hasSchema: true },
  { path: '/auth/logout', auth: () => ({}), valid: (s) => ({ refresh_token: s.refresh_token }), field: 'refresh_token', hasSchema: true },
  { path: '/auth/logout-all', auth: (_server, s) => ({ authorization: `Bearer ${s.access_token}` }), valid: () => ({}), field: 'x', hasSchema: false },
  { path: '/sessions', auth: (server) => ({ authorization: `Bearer ${server.adminKey}` }), valid: () => ({ subject: 'minted-user' }), field: 'subject', hasSchema: true },
  { path: '/oauth/introspect', auth: () => ({ authorization: BASIC }), valid: (s) => ({ token: s.access_token }), field: 'token', hasSchema: true },
  { path: '/oauth/revoke', auth: () => ({ authorization: BASIC }), valid: (s) => ({ token: s.access_token }), field: 'token', hasSchema: true },
]

function rawHttp(path: string, headers: string[], body = '', method = 'POST'): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers]
  if (body !== '' || method === 'POST') lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

for (const kind of STORE_KINDS) {
  describe(`hostile input (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer
    let session: TokenResponse

    before(async () => {
      server = await startServer(kind)
      session = await server.login()
    })
    after(() => server?.close())

    const post = (route: BodyRoute, options: RequestOptions): Promise<HttpResult> =>
      server.request(route.path, { method: 'POST', ...options, headers: { ...route.auth(server, session), ...options.headers } })

    const assertHealthy = async (): Promise<void> => {
      assert.equal((await server.request('/healthz')).status, 200)
    }
    // Runs hostile requests and asserts that the store is exactly as before, and healthy.
    const unchanged = async (attack: () => Promise<void>): Promise<void> => {
      const before = await server.snapshot([TEST_USERNAME, 'minted-user'])
      await attack()
      assert.deepEqual(await server.snapshot([TEST_USERNAME, 'minted-user']), before, 'nothing stored changed')
      await assertHealthy()
    }

    for (const route of BODY_ROUTES) {
      test(`${route.path}: malformed, mistyped and oversized bodies`, () => unchanged(async () => {
        const json = { 'content-type': 'application/json' }
        assertError(await post(route, { body: '{"username": ', headers: json }), 400, 'invalid_request', 'truncated JSON')
        assertError(await post(route, { body: "{'a': 1}", headers: json }), 400, 'invalid_request', 'not JSON')
        assertError(await post(route, { body: 'hello', headers: { 'content-type': 'text/plain' } }), 415, 'invalid_request', 'text/plain')
        const form = new FormData()
        for (const [k, v] of Object.entries(route.valid(session))) form.set(k, String(v))
        assertError(await post(route, { body: form }), 415, 'invalid_request', 'multipart')
        assertError(await post(route, { body: '<a/>', headers: { 'content-type': 'application/xml' } }), 415, 'invalid_request', 'xml')
        const limit = route.path.startsWith('/oauth/') ? server.config.bodyLimitBytes : 8 * 1024
        const huge = JSON.stringify({ ...route.valid(session), pad: 'x'.repeat(limit) })
        const tooLarge = await post(route, { body: huge, headers: json })
        assertError(tooLarge, 413, 'invalid_request', 'over bodyLimit')
        // Without Content-Length (chunked), the limit holds while streaming.
        const chunked = await rawRequest(server.port, `POST ${route.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(limit * 2).toString(16)}\r\n${'x'.repeat(limit * 2)}\r\n0\r\n\r\n`)
        assert.equal(chunked.status, 413)
        assert.equal(rawJsonBody(chunked.raw)?.error, 'invalid_request')

        // Prototype keys: refused outright, never merged into anything.
        for (const body of [`{"__proto__":{"admin":true},"x":1}`, `{"constructor":{"prototype":{"admin":true}}}`]) {
          assertError(await post(route, { body, headers: json }), 400, 'invalid_request', body)
        }
        assertError(await post(route, { form: `__proto__=x&${new URLSearchParams(route.valid(session) as Record<string, string>).toString()}` }), 400, 'invalid_request', 'form __proto__')
        assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')

        if (route.hasSchema) {
          assertError(await post(route, { json: { ...route.valid(session), extra: 'field' } }), 400, 'invalid_request', 'extra field')
          for (const wrong of [123, true, null, ['a'], { a: 1 }, '']) {
            assertError(await post(route, { json: { ...route.valid(session), [route.field]: wrong } }), 400, 'invalid_request', `${route.field}: ${JSON.stringify(wrong)}`)
          }
          assertError(await post(route, { json: [route.valid(session)] }), 400, 'invalid_request', 'array body')
          assertError(await post(route, { json: 'string' }), 400, 'invalid_request', 'string body')
          assertError(await post(route, { json: {} }), 400, 'invalid_request', 'missing fields')
          const field = Object.keys(route.valid(session))[0]!
          const value = String(route.valid(session)[field])
          assertError(await post(route, { form: `${field}=${encodeURIComponent(value)}&${field}=b` }), 400, 'invalid_request', 'duplicate form parameter')
        }
      }))
    }

    test('deeply nested and oversized values', () => unchanged(async () => {
      const deep = '{"subject":"minted-user","claims":' + '{"a":'.repeat(1000) + '1' + '}'.repeat(1000) + '}'
      assertError(await server.request('/sessions', { body: deep, headers: { 'content-type': 'application/json' }, bearer: server.adminKey }), 400, 'invalid_request')
      const deepArray = '{"username":' + '['.repeat(3000) + ']'.repeat(3000) + ',"password":"x"}'
      assertError(await server.request('/auth/login', { body: deepArray, headers: { 'content-type': 'application/json' } }), 400, 'invalid_request')
      assertError(await server.request('/auth/login', { json: { username: 'a'.repeat(129), password: TEST_PASSWORD } }), 400, 'invalid_request')
      assertError(await server.request('/auth/login', { json: { username: TEST_USERNAME, password: 'p'.repeat(1025) } }), 400, 'invalid_request')
      // `audience` narrows a session to one configured audience; none is configured here.
      for (const audience of ['orders', 'a'.repeat(257), '', ['orders'], 1, null, '__proto__']) {
        assertError(await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD, audience } }), 400, 'invalid_request', JSON.stringify(audience))
      }
      // Which audiences exist is told only to a caller whose credentials hold.
      assertError(await server.request('/auth/login', { json: { username: TEST_USERNAME, password: 'wrong password', audience: 'orders' } }), 400, 'invalid_grant')
      assertError(await server.request('/auth/refresh', { json: { refresh_token: `hprt_${'a'.repeat(300)}` } }), 400, 'invalid_request')
      // The default body limit (16 KiB) stops a token this long before the schema sees it.
      assertError(await server.request('/oauth/introspect', { json: { token: 'a'.repeat(16_385) }, headers: { authorization: BASIC } }), 413, 'invalid_request')
      assert.deepEqual((await server.request('/oauth/introspect', { json: { token: 'a'.repeat(16_000) }, headers: { authorization: BASIC } })).body, { active: false })
      // Router-level rejections answer in the same fixed form, without quoting the path.
      const longParam = await server.request(`/auth/sessions/${'a'.repeat(300)}`, { method: 'DELETE', bearer: session.access_token })
      assertError(longParam, 414, 'invalid_request')
      assert.doesNotMatch(longParam.text, /aaaa/)
      const badUrl = await server.request('/auth/sessions/%E0%A4%Azzzzzzzzzzzzzzzzzzzz', { method: 'DELETE', bearer: session.access_token })
      assertError(badUrl, 400, 'invalid_request')
      assert.doesNotMatch(badUrl.text, /zzzz/)
      assertError(await server.request('/auth/sessions/%00%00%00%00%00%00%00%00%00%00%00', { method: 'DELETE', bearer: session.access_token }), 400, 'invalid_request')
    }))

    test('unicode usernames: normalised, never confused, malformed ones refused', async () => {
      await server.addUser(normalizeUsername('Ünïcødé-🦊'))
      assert.equal((await server.request('/auth/login', { json: { username: 'ünïcødé-🦊', password: TEST_PASSWORD } })).status, 200)
      // NFD input, full-width and upper case all reach the same account.
      assert.equal((await server.request('/auth/login', { json: { username: 'U\u0308ni\u0308c\u00f8de\u0301-🦊', password: TEST_PASSWORD } })).status, 200)
      assert.equal((await server.request('/auth/login', { json: { username: 'ＡＬＩＣＥ', password: TEST_PASSWORD } })).status, 200)
      // Look-alikes are other (unknown) users, never alice.
      for (const lookalike of ['al\u200Dice', 'alice\u0301', 'аlice' /* Cyrillic а */, 'ALİCE']) {
        assertError(await server.request('/auth/login', { json: { username: lookalike, password: TEST_PASSWORD } }), 400, 'invalid_grant', lookalike)
      }
      for (const malformed of ['\uD800', 'a\uDC00b', 'ali\u0000ce', 'ali ce', '\u0085', ' ']) {
        assertError(await server.request('/auth/login', { json: { username: malformed, password: TEST_PASSWORD } }), 400, 'invalid_request', JSON.stringify(malformed))
      }
      // Raw invalid UTF-8 bytes in the JSON body.
      const bytes = Buffer.concat([Buffer.from('{"username":"al'), Buffer.from([0xff, 0xfe]), Buffer.from(`ice","password":"${TEST_PASSWORD}"}`)])
      const invalidUtf8 = await rawRequest(server.port, Buffer.concat([Buffer.from(`POST /auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`), bytes]))
      assert.ok(invalidUtf8.status === 400, `invalid UTF-8: ${invalidUtf8.status}`)
      await assertHealthy()
    })

    test('headers: duplicates, CR/LF, oversized, malformed credentials', () => unchanged(async () => {
      // Two Authorization headers: Node keeps the first, a proxy may have used the other.
      for (const [path, method, first] of [
        ['/auth/me', 'GET', `Bearer ${session.access_token}`],
        ['/auth/logout-all', 'POST', `Bearer ${session.access_token}`],
        ['/oauth/introspect', 'POST', BASIC],
        ['/sessions', 'POST', `Bearer ${server.adminKey}`],
      ] as const) {
        const body = path === '/oauth/introspect' ? `token=${session.access_token}` : path === '/sessions' ? 'subject=minted-user' : ''
        const type = body === '' ? [] : ['Content-Type: application/x-www-form-urlencoded']
        const res = await rawRequest(server.port, rawHttp(path, [`Authorization: ${first}`, 'Authorization: Bearer other', ...type], body, method))
        assert.equal(res.status, 400, `${path}: ${res.raw}`)
        assert.equal(rawJsonBody(res.raw)?.error, 'invalid_request')
      }
      // CR or LF inside a header value: the HTTP parser refuses the request; nothing is injected.
      for (const injected of [`Bearer ${session.access_token}\rX-Injected: yes`, `Bearer ${session.access_token}\nSet-Cookie: injected=1`]) {
        const res = await rawRequest(server.port, rawHttp('/auth/me', [`Authorization: ${injected}`], '', 'GET'))
        assert.equal(res.status, 400)
        assert.doesNotMatch(res.raw, /injected/i)
      }
      const viaQuery = await openSse(`${server.url}/auth/revocations?after=${encodeURIComponent('1\r\nSet-Cookie: injected=1')}`)
      try {
        assert.deepEqual(JSON.parse((await viaQuery.next(2000, 'reset'))!.data), { reason: 'malformed' })
        assert.equal(viaQuery.headers.get('set-cookie'), null)
      } finally {
        viaQuery.close()
      }
      // Quotes in a credential never make it into the challenge.
      const quoted = await server.request('/auth/me', { headers: { authorization: 'Bearer a"b, error="x' } })
      assertError(quoted, 400, 'invalid_request')
      assert.equal(quoted.headers.get('www-authenticate'), 'Bearer realm="hallpass", error="invalid_request", error_description="The request has a malformed Authorization header"')
      // Long credentials: refused by the token size limit, or by Node's header limit.
      assertError(await server.request('/auth/me', { bearer: 'a'.repeat(10_000) }), 401, 'invalid_token')
      assertError(await server.request('/oauth/introspect', { form: { token: 'x' }, headers: { authorization: `Basic ${'QUFB'.repeat(2500)}` } }), 401, 'invalid_client')
      // Client ids that name members of Object.prototype are unknown clients, not a 500.
      for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
        for (const path of ['/oauth/introspect', '/oauth/revoke']) {
          assertError(await server.request(path, { form: { token: 'x' }, basic: { id, secret: CLIENT_SECRET } }), 401, 'invalid_client', `${path} ${id}`)
        }
      }
      const huge = await rawRequest(server.port, rawHttp('/auth/me', [`Authorization: Bearer ${'a'.repeat(20_000)}`], '', 'GET'))
      assert.equal(huge.status, 431)
      for (const header of ['Bearer', 'Bearer ', 'bearer  x', 'Token abc', 'Bearer a\tb', 'Bearer ä']) {
        const res = await rawRequest(server.port, Buffer.from(rawHttp('/auth/me', [`Authorization: ${header}`], '', 'GET'), 'latin1'))
        assert.ok(res.status === 400 || res.status === 401, `${header}: ${res.status}`)
        // Another scheme ('Token abc') is no bearer credential: a bare 401 challenge.
        const expected = header === 'Token abc' ? ['unauthorized'] : ['invalid_request', 'invalid_token']
        assert.ok(expected.includes(rawJsonBody(res.raw)?.error), header)
      }
      // A JSON body declared as another content type, or a charset Fastify does not decode.
      assertError(await server.request('/auth/login', { body: JSON.stringify({ username: 'alice', password: TEST_PASSWORD }), headers: { 'content-type': 'application/jsonx' } }), 415, 'invalid_request')
    }))

    test('X-Forwarded-For is not believed without trustProxy', async () => {
      const spoofed = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: { 'x-forwarded-for': '203.0.113.9' } })
      const listed = await server.request('/auth/sessions', { bearer: spoofed.body.access_token })
      const mine = listed.body.sessions.find((s: { id: string }) => s.id === spoofed.body.session_id)
      assert.equal(mine.device.ip, '127.0.0.1')
    })

    test('SSE feed: a malformed or foreign cursor starts a snapshot (reset), echoes nothing and changes nothing', () => unchanged(async () => {
      const { epoch } = parseFeedCursor(await server.ctx.sessions.store.headCursor())!
      const foreign = kind === 'redis' ? ['5', '0', '99999999999999999999-0'] : ['1-2', '99999999999999999999', '00000000000000000001-00000000000000000000']
      const cases: Array<[string, readonly string[]]> = [
        ...['abc', '-1', '1-', '1-2-3', '1'.repeat(50), '١٢٣', 'x'.repeat(4000), '<script>', ...foreign].map((c) => [c, ['malformed']] as [string, string[]]),
        // Of this feed's epoch but not of its shape: refused, whichever way it is told.
        ...foreign.map((c) => [`${epoch}.${c}`, ['malformed', 'ahead']] as [string, string[]]),
        [`${'0'.repeat(16)}.5`, ['foreign']],
        [`${epoch}.${kind === 'redis' ? '999999999999999-00000000000000000000' : '9007199254740991'}`, ['ahead']],
      ]
      for (const [cursor, reasons] of cases) {
        // A header carries Latin-1 only: other text goes in the query, which the server reads alike.
        const latin1 = /^[\x20-\xff]*$/.test(cursor)
        const feed = latin1
          ? await openSse(`${server.url}/auth/revocations`, { 'last-event-id': cursor })
          : await openSse(`${server.url}/auth/revocations?after=${encodeURIComponent(cursor)}`)
        try {
          assert.equal(feed.status, 200, cursor)
          const { reason } = JSON.parse((await feed.next(2000, 'reset'))!.data)
          assert.ok(reasons.includes(reason), `${cursor.slice(0, 60)}: ${reason}`)
          const ready = await feed.next(2000, 'ready')
          assert.equal(JSON.parse(ready!.data).snapshot, true)
          assert.ok(!feed.skipped.some((e) => e.data.includes(cursor) || e.id === cursor), `${cursor} is never echoed`)
        } finally {
          feed.close()
        }
      }
      assertError(await server.request('/auth/revocations?after=1&after=2'), 400, 'invalid_request')
    }))

    test('after all of it, the first session still works', async () => {
      assert.equal((await server.request('/auth/me', { bearer: session.access_token })).status, 200)
      assert.equal((await server.request('/auth/refresh', { json: { refresh_token: session.refresh_token } })).status, 200)
    })
  })
}
