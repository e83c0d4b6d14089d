// GET /auth/events on every store: a Server-Sent Events stream about the caller's own session.
// It needs a valid access token of a live session; it says `ready`, then `revoked` (with the
// reason) within a second of that session being revoked anywhere (another device, logout-all,
// the admin API, a disabled user, a password reset), and ends. Another session's revocation
// sends it nothing. Streams hold feed slots: bounded per address, and given back on disconnect
// (also by clients that go away before the stream has started).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { buildServer } from '../src/index.ts'
import { assertError, openSse, startServer, STORE_KINDS, storeSkipReason, testPasswordHash, type SseClient, type TestServer, type TokenResponse, resetStorm } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const EVENTS = '/auth/events'
const PER_ADDRESS = 3
const HEARTBEAT_MS = 15_000

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await delay(20)
  }
}

/** Asserts that the server ends the stream now (not after a timeout). */
async function assertEnded(sse: SseClient): Promise<void> {
  const start = Date.now()
  assert.equal(await sse.next(3000, 'no-such-event'), undefined)
  assert.ok(Date.now() - start < 2000, 'the server ended the stream')
}

for (const kind of STORE_KINDS) {
  describe(`session events (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer
    let admin: TokenResponse

    before(async () => {
      server = await startServer(kind, { config: { revocationFeed: { maxSubscribers: 100, maxSubscribersPerAddress: PER_ADDRESS } } })
      const now = Date.now()
      assert.equal(await server.ctx.users!.createUser({ username: 'root', passwordHash: await testPasswordHash(), createdAt: now, updatedAt: now, admin: true }), true)
      admin = await server.mint('root')
    })
    after(() => server?.close())

    const open = (token: string): Promise<SseClient> => openSse(`${server.url}${EVENTS}`, { authorization: `Bearer ${token}` })
    const slotsFree = (): Promise<void> => until(() => server.ctx.feedSlots.size === 0 && server.ctx.feed.size === 0, 'every slot and sink given back')

    /** Opens a stream for `session`, runs `revoke`, and asserts `revoked` with `reason` within a second, then the end. */
    async function expectRevoked(session: TokenResponse, reason: string, revoke: () => Promise<void>): Promise<void> {
      const sse = await open(session.access_token)
      try {
        assert.equal(sse.status, 200)
        assert.ok(await sse.next(1000, 'ready'), 'ready')
        const start = Date.now()
        await revoke()
        const event = await sse.next(1000, 'revoked')
        assert.ok(event !== undefined, `revoked (${reason}) within a second`)
        assert.ok(Date.now() - start < 1000)
        assert.deepEqual(JSON.parse(event.data), { reason }, 'the reason, and nothing else')
        await assertEnded(sse)
      } finally {
        sse.close()
      }
      await slotsFree()
      assertError(await server.request('/auth/me', { bearer: session.access_token }), 401, 'invalid_token')
    }

    test('401 without a token, with a bad one, and with a revoked session\'s; no slot is taken', async () => {
      const none = await server.request(EVENTS)
      assertError(none, 401, 'unauthorized')
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="hallpass"')
      const bad = await server.request(EVENTS, { bearer: 'not-a-jwt' })
      assertError(bad, 401, 'invalid_token')
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="hallpass", error="invalid_token"/)
      assertError(await server.request(EVENTS, { bearer: server.adminKey }), 401, 'invalid_token', 'the admin API key is not a session')
      assertError(await server.request(EVENTS, { headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401, 'unauthorized')

      const session = await server.mint()
      assert.equal((await server.request('/auth/logout', { json: { refresh_token: session.refresh_token } })).status, 204)
      const revoked = await server.request(EVENTS, { bearer: session.access_token })
      assertError(revoked, 401, 'invalid_token', 'a revoked session\'s token')
      assert.equal(revoked.headers.get('x-hallpass-error'), 'ERR_SESSION_REVOKED')
      assert.equal(server.ctx.feedSlots.size, 0)
    })

    test('a stream: SSE headers, retry, ready; revoked by another session of the user (DELETE /auth/sessions/:id), then it ends', async () => {
      const mine = await server.mint()
      const other = await server.mint()
      const sse = await open(mine.access_token)
      try {
        assert.equal(sse.status, 200)
        assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/)
        assert.equal(sse.headers.get('cache-control'), 'no-store')
        assert.equal(sse.headers.get('x-content-type-options'), 'nosniff')
        assert.equal(sse.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'")
        const ready = await sse.next(1000, 'ready')
        assert.ok(ready !== undefined)
        assert.equal(ready.data, '{}')
        assert.equal(sse.retry, 1000)
        assert.equal(server.ctx.feedSlots.size, 1, 'the stream holds a slot')
        const start = Date.now()
        assert.equal((await server.request(`/auth/sessions/${mine.session_id}`, { method: 'DELETE', bearer: other.access_token })).status, 204)
        const event = await sse.next(1000, 'revoked')
        assert.ok(event !== undefined && Date.now() - start < 1000, 'revoked within a second')
        assert.deepEqual(JSON.parse(event.data), { reason: 'user_revoked' })
        assert.equal(sse.skipped.filter((e) => e.event !== 'ready').length, 0, 'nothing else was sent')
        await assertEnded(sse)
      } finally {
        sse.close()
      }
      await slotsFree()
      assert.equal((await server.request('/auth/me', { bearer: other.access_token })).status, 200, 'the other session lives')
    })

    test('revoked by logout-all from another device', async () => {
      const mine = await server.mint()
      const other = await server.mint()
      await expectRevoked(mine, 'logout_all', async () => {
        const res = await server.request('/auth/logout-all', { method: 'POST', bearer: other.access_token })
        assert.equal(res.status, 200, res.text)
        assert.ok(res.body.revoked >= 2)
      })
    })

    test('revoked by its own logout', async () => {
      const mine = await server.mint()
      await expectRevoked(mine, 'logout', async () => {
        assert.equal((await server.request('/auth/logout', { json: { refresh_token: mine.refresh_token } })).status, 204)
      })
    })

    test('revoked through the admin API: a session revoked, a user disabled, a password reset', async () => {
      const mine = await server.mint()
      await expectRevoked(mine, 'admin_revoked', async () => {
        assert.equal((await server.request(`/admin/api/sessions/${mine.session_id}`, { method: 'DELETE', bearer: admin.access_token })).status, 204)
      })
      await server.addUser('dora')
      const dora = await server.mint('dora')
      await expectRevoked(dora, 'user_disabled', async () => {
        const res = await server.request('/admin/api/users/dora', { method: 'PATCH', json: { disabled: true }, bearer: admin.access_token })
        assert.equal(res.status, 200, res.text)
      })
      await server.addUser('eli')
      const eli = await server.mint('eli')
      await expectRevoked(eli, 'password_reset', async () => {
        const res = await server.request('/admin/api/users/eli/password', { json: {}, bearer: admin.access_token })
        assert.equal(res.status, 200, res.text)
      })
    })

    test('another session\'s revocation (the same user\'s or another user\'s) sends nothing', async () => {
      const mine = await server.mint()
      const sibling = await server.mint()
      const stranger = await server.mint('fay')
      const sse = await open(mine.access_token)
      try {
        assert.ok(await sse.next(1000, 'ready'))
        assert.equal((await server.request(`/auth/sessions/${sibling.session_id}`, { method: 'DELETE', bearer: mine.access_token })).status, 204)
        assert.equal((await server.request('/auth/logout', { json: { refresh_token: stranger.refresh_token } })).status, 204)
        assert.equal(await sse.next(1200, 'revoked'), undefined, 'no revoked event')
        assert.deepEqual(sse.skipped, [], 'no event of any kind')
        assert.equal(server.ctx.feedSlots.size, 1, 'still open')
        // And it is still listening.
        assert.equal((await server.request(`/admin/api/sessions/${mine.session_id}`, { method: 'DELETE', bearer: admin.access_token })).status, 204)
        const event = await sse.next(1000, 'revoked')
        assert.deepEqual(JSON.parse(event!.data), { reason: 'admin_revoked' })
      } finally {
        sse.close()
      }
      await slotsFree()
    })

    test('bounded by the feed slots per address: 503 with retry-after, and a closed stream gives its slot back', async () => {
      const session = await server.mint()
      const held: SseClient[] = []
      try {
        for (let i = 0; i < PER_ADDRESS; i++) {
          const sse = await open(session.access_token)
          held.push(sse)
          assert.equal(sse.status, 200)
          assert.ok(await sse.next(1000, 'ready'))
        }
        assert.equal(server.ctx.feedSlots.size, PER_ADDRESS)
        const refused = await server.request(EVENTS, { bearer: session.access_token })
        assertError(refused, 503, 'temporarily_unavailable')
        assert.equal(refused.headers.get('retry-after'), '5')
        assert.equal(server.ctx.feedSlots.size, PER_ADDRESS, 'a refusal takes no slot')
        // The revocation feed shares the slots.
        assert.equal((await server.request('/auth/revocations')).status, 503)

        held.shift()!.close()
        await until(() => server.ctx.feedSlots.size === PER_ADDRESS - 1, 'the closed stream\'s slot to come back')
        const again = await open(session.access_token)
        held.push(again)
        assert.equal(again.status, 200)
        assert.ok(await again.next(1000, 'ready'))
      } finally {
        for (const sse of held) sse.close()
      }
      await slotsFree()
      assert.equal((await server.request('/auth/me', { bearer: session.access_token })).status, 200, 'disconnecting revokes nothing')
    })

    test('clients that reset before the stream starts give their slot back (no slot leak)', async () => {
      const session = await server.mint()
      const payload = `GET ${EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${session.access_token}\r\n\r\n`
      // Far more resets than the address has slots: one leaked slot per reset would exhaust them.
      // Resets after a varying number of event-loop turns land inside the route's awaits.
      await resetStorm(server.port, payload, PER_ADDRESS * 20, 10)
      await slotsFree()
      const sse = await open(session.access_token)
      try {
        assert.equal(sse.status, 200)
        assert.ok(await sse.next(1000, 'ready'))
      } finally {
        sse.close()
      }
      await slotsFree()
    })

    test('a client gone while its session is read leaves no heartbeat timer behind', async () => {
      const session = await server.mint()
      // The same context, with the stream's own read of the session (the second one: the first
      // authenticates the request) held until the client has gone.
      let reads = 0
      let release: () => void = () => undefined
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const sessions = Object.create(server.ctx.sessions, {
        get: {
          value: async (id: string) => {
            if (id === session.session_id && ++reads === 2) await held
            return server.ctx.sessions.get(id)
          },
        },
      }) as typeof server.ctx.sessions
      const app = await buildServer({ ...server.ctx, sessions }, { logger: false })
      const intervals: number[] = []
      const originalSetInterval = globalThis.setInterval
      try {
        await app.listen({ port: 0, host: '127.0.0.1' })
        const address = app.server.address()
        assert.ok(typeof address === 'object' && address !== null)
        const sse = await openSse(`http://127.0.0.1:${address.port}${EVENTS}`, { authorization: `Bearer ${session.access_token}` })
        assert.equal(sse.status, 200)
        assert.ok(await sse.next(1000, 'ready'))
        await until(() => reads === 2, 'the stream to read the session')
        sse.close()
        await until(() => server.ctx.feedSlots.size === 0, 'the gone client\'s slot to come back')
        globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
          intervals.push(Number(args[1]))
          return originalSetInterval(...args)
        })
        release()
        await delay(100)
      } finally {
        globalThis.setInterval = originalSetInterval
        release()
        // As the harness does: a connection the client left behind would hold close() for the keep-alive timeout.
        const force = setTimeout(() => app.server.closeAllConnections(), 500)
        await app.close()
        clearTimeout(force)
      }
      assert.equal(intervals.includes(HEARTBEAT_MS), false, 'no heartbeat was started for the ended stream')
      assert.equal(server.ctx.feed.size, 0)
      assert.equal((await server.request('/auth/me', { bearer: session.access_token })).status, 200)
    })
  })
}
