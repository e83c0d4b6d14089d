// Two server instances on one store, as behind a load balancer: a session started on A is
// refreshed on B and ended on A, and B's revocation feed reports it within a second (through
// the store: PostgreSQL LISTEN/NOTIFY, Redis pub/sub, SQLite polling). They publish the same
// keys and agree on rotation and on racing refreshes.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { assertError, openSse, startServer, STORE_KINDS, storeSkipReason, type TestServer, type TokenResponse } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))

for (const kind of STORE_KINDS) {
  describe(`two instances on one ${kind} store`, { skip: skips.get(kind) }, () => {
    let a: TestServer
    let b: TestServer

    before(async () => {
      a = await startServer(kind)
      b = await startServer(kind, { shareStoreWith: a })
    })
    after(async () => {
      await b?.close()
      await a?.close()
    })

    test('log in on A, refresh on B, log out on A: B’s feed reports it within a second', async () => {
      const feedB = await openSse(`${b.url}/auth/revocations`)
      try {
        assert.equal(feedB.status, 200)
        const session = await a.login()
        assert.equal((await b.request('/auth/me', { bearer: session.access_token })).status, 200, 'B accepts A’s token')
        const refreshed = await b.request('/auth/refresh', { json: { refresh_token: session.refresh_token } })
        assert.equal(refreshed.status, 200, refreshed.text)
        const next = refreshed.body as TokenResponse
        assert.equal(next.session_id, session.session_id)
        assert.equal((await a.request('/auth/me', { bearer: next.access_token })).status, 200, 'A accepts B’s token')

        const started = Date.now()
        assert.equal((await a.request('/auth/logout', { json: { refresh_token: next.refresh_token } })).status, 204)
        const event = await feedB.next(2000)
        const elapsed = Date.now() - started
        assert.ok(event !== undefined, 'B’s feed reports the revocation')
        assert.ok(elapsed < 1000, `within a second (${elapsed} ms)`)
        assert.equal(event.event, 'revocation')
        assert.equal(JSON.parse(event.data).sid, session.session_id)
        assertError(await b.request('/auth/me', { bearer: next.access_token }), 401, 'invalid_token')
        assertError(await b.request('/auth/refresh', { json: { refresh_token: next.refresh_token } }), 400, 'invalid_grant')

        // A feed reader that reconnects to the other instance resumes from the same cursor.
        const other = await a.mint()
        await b.request('/auth/logout', { method: 'POST', bearer: other.access_token })
        const resumed = await openSse(`${a.url}/auth/revocations`, { 'last-event-id': event.id! })
        try {
          assert.equal(resumed.status, 200)
          const caught = await resumed.next(2000)
          assert.equal(JSON.parse(caught!.data).sid, other.session_id)
          assert.equal(await resumed.next(300), undefined)
        } finally {
          resumed.close()
        }
      } finally {
        feedB.close()
      }
    })

    test('the same token refreshed on A and B at once: one successor, no revocation', async () => {
      const session = await a.mint()
      const [onA, onB] = await Promise.all([
        a.request('/auth/refresh', { json: { refresh_token: session.refresh_token } }),
        b.request('/auth/refresh', { json: { refresh_token: session.refresh_token } }),
      ])
      assert.equal(onA.status, 200, onA.text)
      assert.equal(onB.status, 200, onB.text)
      assert.equal(onA.body.refresh_token, onB.body.refresh_token)
      assert.equal((await b.request('/auth/refresh', { json: { refresh_token: onA.body.refresh_token } })).status, 200)
    })

    test('both publish the same keys, and a rotation on A reaches B at its next maintenance', async () => {
      const [jwksA, jwksB] = await Promise.all([a.request('/.well-known/jwks.json'), b.request('/.well-known/jwks.json')])
      assert.deepEqual(jwksA.body, jwksB.body)
      await a.ctx.sessions.keys.rotate({ activateInSeconds: 300 })
      await b.ctx.sessions.keys.maintain()
      const after = await b.request('/.well-known/jwks.json')
      assert.equal(after.body.keys.length, 2)
      assert.deepEqual(after.body, (await a.request('/.well-known/jwks.json')).body)
    })
  })
}
