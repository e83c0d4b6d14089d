// Brute force: login bursts per IP and per username, refresh bursts per IP, on every store
// (in-memory limiter for SQLite and PostgreSQL, the shared Redis limiter for Redis), and one
// Redis limiter counting for two server instances. A refused request is 429 with Retry-After
// and changes nothing: no password is checked, no session is created or rotated.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { assertError, CLIENT_ID, CLIENT_SECRET, startServer, STORE_KINDS, storeSkipReason, TEST_PASSWORD, TEST_USERNAME, type HttpResult, type TestServer } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))

function assertRateLimited(res: HttpResult, windowSeconds: number, message?: string): void {
  assertError(res, 429, 'rate_limited', message)
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds, `Retry-After ${res.headers.get('retry-after')}`)
  assert.equal(res.headers.get('cache-control'), 'no-store')
}

const login = (server: TestServer, username: string, password: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
  server.request('/auth/login', { json: { username, password }, headers })

for (const kind of STORE_KINDS) {
  describe(`rate limits (${kind})`, { skip: skips.get(kind) }, () => {
    let perIp: TestServer
    let perUser: TestServer

    before(async () => {
      ;[perIp, perUser] = await Promise.all([
        startServer(kind, { config: { rateLimits: { loginPerIp: { max: 4, window: '1m' }, refreshPerIp: { max: 3, window: '1m' } } } }),
        startServer(kind, { config: { rateLimits: { loginPerUsername: { max: 3, window: '5m' } } } }),
      ])
    })
    after(async () => {
      await perIp?.close()
      await perUser?.close()
    })

    test('login per IP: the burst is cut off whatever the username, and X-Forwarded-For does not help', async () => {
      const session = await perIp.login()
      for (let i = 0; i < 3; i++) assertError(await login(perIp, `guess-${i}`, 'password-guess'), 400, 'invalid_grant')
      const limitedBefore = await perIp.metric('hallpass_rate_limited_total', { route: 'login' })
      const loginsBefore = await perIp.metric('hallpass_logins_total')
      const before = await perIp.snapshot()
      assertRateLimited(await login(perIp, 'guess-4', 'password-guess'), 60)
      // Even the right password, and a spoofed client address (trustProxy is off).
      assertRateLimited(await login(perIp, TEST_USERNAME, TEST_PASSWORD), 60)
      assertRateLimited(await login(perIp, TEST_USERNAME, TEST_PASSWORD, { 'x-forwarded-for': '198.51.100.7', 'x-real-ip': '198.51.100.7' }), 60)
      assert.deepEqual(await perIp.snapshot(), before, 'no session was created')
      assert.equal(await perIp.metric('hallpass_rate_limited_total', { route: 'login' }), limitedBefore + 3)
      assert.equal(await perIp.metric('hallpass_logins_total'), loginsBefore, 'no credential was checked')
      // Other endpoints are not affected, and the server is healthy.
      assert.equal((await perIp.request('/auth/me', { bearer: session.access_token })).status, 200)
      assert.equal((await perIp.request('/healthz')).status, 200)
    })

    test('refresh per IP: a refused refresh does not rotate the token', async () => {
      const minted = await perIp.request('/sessions', { json: { subject: TEST_USERNAME }, bearer: perIp.adminKey })
      assert.equal(minted.status, 201)
      let token = minted.body.refresh_token as string
      for (let i = 0; i < 3; i++) {
        const res = await perIp.request('/auth/refresh', { json: { refresh_token: token } })
        assert.equal(res.status, 200, res.text)
        token = res.body.refresh_token
      }
      const limited = await perIp.request('/auth/refresh', { json: { refresh_token: token } })
      assertRateLimited(limited, 60)
      const inspected = await perIp.request('/oauth/introspect', { form: { token }, basic: { id: CLIENT_ID, secret: CLIENT_SECRET } })
      assert.equal(inspected.body.active, true, 'the newest token is still the live one')
      assert.equal(await perIp.metric('hallpass_rate_limited_total', { route: 'refresh' }), 1)
    })

    test('login per username: counted after normalisation, per account, and reset by a success', async () => {
      for (let i = 0; i < 3; i++) assertError(await login(perUser, TEST_USERNAME, `wrong-${i}-password`), 400, 'invalid_grant')
      assertRateLimited(await login(perUser, TEST_USERNAME, TEST_PASSWORD), 300, 'right password, locked username')
      assertRateLimited(await login(perUser, 'ＡＬＩＣＥ', TEST_PASSWORD), 300, 'full-width variant')
      // Someone else from the same address is not locked out.
      await perUser.addUser('bob')
      assert.equal((await login(perUser, 'bob', TEST_PASSWORD)).status, 200)

      // A successful login clears the username's failures.
      await perUser.addUser('carol')
      for (let i = 0; i < 2; i++) assertError(await login(perUser, 'carol', `wrong-${i}-password`), 400, 'invalid_grant')
      assert.equal((await login(perUser, 'carol', TEST_PASSWORD)).status, 200)
      for (let i = 0; i < 3; i++) assertError(await login(perUser, 'carol', `wrong-${i}-password`), 400, 'invalid_grant', `after reset ${i}`)
      assertRateLimited(await login(perUser, 'carol', TEST_PASSWORD), 300)
    })
  })
}

describe('rate limits shared by two instances on one Redis', { skip: skips.get('redis') }, () => {
  let a: TestServer
  let b: TestServer

  before(async () => {
    a = await startServer('redis', { config: { rateLimits: { loginPerUsername: { max: 4, window: '5m' } } } })
    b = await startServer('redis', { shareStoreWith: a, config: { rateLimits: { loginPerUsername: { max: 4, window: '5m' } } } })
  })
  after(async () => {
    await b?.close()
    await a?.close()
  })

  test('a burst spread over the load balancer is counted once', async () => {
    for (let i = 0; i < 4; i++) {
      const server = i % 2 === 0 ? a : b
      assertError(await login(server, TEST_USERNAME, `wrong-${i}-password`), 400, 'invalid_grant', `attempt ${i} on ${i % 2 === 0 ? 'A' : 'B'}`)
    }
    assertRateLimited(await login(a, TEST_USERNAME, TEST_PASSWORD), 300, 'A')
    assertRateLimited(await login(b, TEST_USERNAME, TEST_PASSWORD), 300, 'B')
  })
})
