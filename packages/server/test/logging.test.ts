// The server's logs at their most verbose (trace), captured through a pino destination stream
// while every kind of secret crosses the wire: passwords (right, wrong, in malformed JSON),
// access and refresh tokens (body, cookie, bearer), the admin key, a client secret, and store
// failures. None of them may appear in any log line.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { StoreUnavailable } from 'hallpass/errors'
import { REDACTED_LOG_PATHS } from '../src/index.ts'
import { CLIENT_ID, CLIENT_SECRET, openSse, rawRequest, startServer, TEST_PASSWORD, TEST_USERNAME, type TestServer } from './harness.ts'

describe('logs never contain a secret', () => {
  const lines: string[] = []
  let server: TestServer
  const secrets = new Set<string>([TEST_PASSWORD, CLIENT_SECRET])

  before(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''))
        callback()
      },
    })
    // The server's own logger settings (buildServer's default), at trace level, into memory.
    server = await startServer('sqlite', { logger: { level: 'trace', redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }, stream } })
    secrets.add(server.adminKey)
    secrets.add(server.secret)
  })
  after(() => server?.close())

  test('a full session lifecycle, browser mode, clients, admin and garbage', async () => {
    const wrongPassword = 'wrong-password-that-must-not-be-logged'
    secrets.add(wrongPassword)
    const first = await server.login()
    secrets.add(first.access_token).add(first.refresh_token)
    await server.request('/auth/login', { json: { username: TEST_USERNAME, password: wrongPassword } })
    await server.request('/auth/login', { json: { username: 'nobody-at-all', password: wrongPassword } })
    await server.request('/auth/login', { form: { username: TEST_USERNAME, password: wrongPassword } })

    const refreshed = await server.request('/auth/refresh', { json: { refresh_token: first.refresh_token } })
    secrets.add(refreshed.body.access_token).add(refreshed.body.refresh_token)
    // Reuse after the window (the refresh token is echoed nowhere, even in the error path).
    server.advanceClock(11_000)
    await server.request('/auth/refresh', { json: { refresh_token: first.refresh_token } })

    const browser = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD }, headers: { 'x-hallpass-client': 'browser' } })
    const cookie = /__Host-hallpass_rt=([^;]+)/.exec(browser.headers.get('set-cookie') ?? '')![1]!
    secrets.add(decodeURIComponent(cookie)).add(browser.body.access_token)
    const cookieRefresh = await server.request('/auth/refresh', { method: 'POST', headers: { 'x-hallpass-client': 'browser', cookie: `__Host-hallpass_rt=${cookie}` } })
    secrets.add(decodeURIComponent(/__Host-hallpass_rt=([^;]+)/.exec(cookieRefresh.headers.get('set-cookie') ?? '')![1]!))
    await server.request('/auth/refresh', { method: 'POST', headers: { 'x-hallpass-client': 'browser', origin: 'https://evil.example', cookie: `__Host-hallpass_rt=${cookie}` } })

    const minted = await server.request('/sessions', { json: { subject: 'svc', claims: { tenant: 't' } }, bearer: server.adminKey })
    secrets.add(minted.body.access_token).add(minted.body.refresh_token)
    await server.request('/sessions', { json: { subject: 'svc' }, bearer: 'a-wrong-admin-key-that-is-long-enough' })
    const session = await server.login()
    secrets.add(session.access_token).add(session.refresh_token)
    await server.request('/auth/me', { bearer: session.access_token })
    await server.request('/auth/sessions', { bearer: session.access_token })
    await server.request('/auth/me', { bearer: `${session.access_token}x` })
    await server.request('/oauth/introspect', { form: { token: session.refresh_token }, basic: { id: CLIENT_ID, secret: CLIENT_SECRET } })
    await server.request('/oauth/introspect', { form: { token: session.access_token }, basic: { id: CLIENT_ID, secret: `${CLIENT_SECRET}-wrong` } })
    // Garbage carrying secrets: malformed JSON, a duplicate form field, two Authorization headers.
    await server.request('/auth/login', { body: `{"username":"alice","password":"${TEST_PASSWORD}"`, headers: { 'content-type': 'application/json' } })
    await server.request('/auth/logout', { form: `refresh_token=${session.refresh_token}&refresh_token=${session.refresh_token}` })
    await rawRequest(server.port, `GET /auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${session.access_token}\r\nAuthorization: Bearer ${session.refresh_token}\r\n\r\n`)
    const feed = await openSse(`${server.url}/auth/revocations`)
    await server.request('/oauth/revoke', { form: { token: session.access_token }, basic: { id: CLIENT_ID, secret: CLIENT_SECRET } })
    assert.notEqual(await feed.next(2000), undefined, 'the revocation reached the feed')
    feed.close()
    await server.request('/auth/logout', { json: { refresh_token: minted.body.refresh_token } })

    assert.ok(lines.length > 40, `the capture works (${lines.length} lines)`)
    assert.ok(lines.some((line) => line.includes('"msg":"incoming request"')))
    assert.ok(lines.some((line) => line.includes('credential rejected')), 'credential failures are logged, by code')
    for (const line of lines) {
      for (const secret of secrets) assert.equal(line.includes(secret), false, `a secret in the log: ${line.slice(0, 200)}`)
    }
  })

  test('what a store reports outside a request reaches the log as an error', () => {
    const before = lines.length
    server.ctx.storeErrors?.report(new StoreUnavailable('redis audit append failed; the session change it records took effect'))
    const fresh = lines.slice(before).map((line) => JSON.parse(line) as { level: number; msg: string; err?: { code?: string } })
    assert.ok(fresh.some((entry) => entry.level >= 50 && entry.msg === 'store error outside a request' && entry.err?.code === 'ERR_STORE_UNAVAILABLE'))
  })

  test('a store failure is logged as an error, still without secrets', async () => {
    const live = await server.login()
    secrets.add(live.access_token).add(live.refresh_token)
    const before = lines.length
    // The store goes away under the running server (the harness's close tolerates it).
    await server.ctx.sessions.store.close()
    const res = await server.request('/auth/refresh', { json: { refresh_token: live.refresh_token } })
    assert.ok(res.status >= 500, `status ${res.status}`)
    const login = await server.request('/auth/login', { json: { username: TEST_USERNAME, password: TEST_PASSWORD } })
    assert.ok(login.status >= 500, `status ${login.status}`)
    assert.equal((await server.request('/readyz')).status, 503)
    assert.equal((await server.request('/healthz')).status, 200)
    const fresh = lines.slice(before)
    assert.ok(fresh.some((line) => JSON.parse(line).level >= 50), 'an error-level line')
    for (const line of fresh) {
      for (const secret of secrets) assert.equal(line.includes(secret), false, `a secret in the log: ${line.slice(0, 200)}`)
    }
  })
})
