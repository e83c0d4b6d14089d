// A refresh answer its client never read: the connection closed before the server wrote it out.
// The server marks the answer undelivered, and the client's retry with its old token 30 s later
// (past the grace window) gets the same successor instead of revoking the session: once, for
// that token only. Over real sockets, on every store, with the token in the body and in the
// browser cookie. A hook holds the marked refreshes until their client has gone, so the close
// always comes before the write (docs/design.md, "A lost answer is not theft").
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { assertError, startServer, STORE_KINDS, storeSkipReason, type HttpResult, type TestServer } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const COOKIE = '__Host-hallpass_rt'
const BROWSER = { 'x-hallpass-client': 'browser' }
const ABANDON = 'x-test-abandon'

interface Transport {
  readonly name: string
  /** The headers and body of a refresh with `token`. */
  request(token: string): { headers: Record<string, string>; body: string }
  /** The refresh token an answer carries. */
  tokenOf(res: HttpResult): string
}

const TRANSPORTS: readonly Transport[] = [
  {
    name: 'body',
    request: (token) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: token }) }),
    tokenOf: (res) => res.body.refresh_token as string,
  },
  {
    name: 'cookie',
    request: (token) => ({ headers: { ...BROWSER, cookie: `${COOKIE}=${token}` }, body: '' }),
    tokenOf: (res) => {
      const [cookie] = res.headers.getSetCookie()
      return decodeURIComponent(cookie!.split(';')[0]!.slice(COOKIE.length + 1))
    },
  },
]

/** Holds a refresh that carries the test header until its connection has closed. */
function holdAbandoned(app: FastifyInstance, arrivals: Array<() => void>): void {
  app.addHook('preHandler', async (request) => {
    if (request.headers[ABANDON] === undefined) return
    const socket = request.raw.socket
    const closed = new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())))
    arrivals.shift()?.()
    await closed
  })
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

for (const kind of STORE_KINDS) {
  describe(`a lost refresh answer (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer
    const arrivals: Array<() => void> = []

    before(async () => {
      server = await startServer(kind, { beforeListen: (app) => holdAbandoned(app, arrivals) })
    })
    after(() => server?.close())

    const refresh = (transport: Transport, token: string): Promise<HttpResult> => {
      const { headers, body } = transport.request(token)
      return server.request('/auth/refresh', { method: 'POST', headers, ...(body === '' ? {} : { body }) })
    }

    // Sends the refresh and leaves before reading a byte of the answer.
    const abandon = async (transport: Transport, token: string): Promise<void> => {
      const { headers, body } = transport.request(token)
      const arrived = new Promise<void>((resolve) => arrivals.push(resolve))
      const socket = connect(server.port, '127.0.0.1')
      socket.on('error', () => undefined)
      await once(socket, 'connect')
      const lines = Object.entries({ ...headers, [ABANDON]: '1', 'content-length': String(Buffer.byteLength(body)) }).map(([k, v]) => `${k}: ${v}\r\n`)
      socket.write(`POST /auth/refresh HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('')}\r\n${body}`)
      await arrived
      socket.destroy()
    }

    for (const transport of TRANSPORTS) {
      test(`${transport.name}: the retry 30 s later gets the same successor once, and the session lives`, async () => {
        const minted = await server.mint()
        const lostBefore = await server.metric('hallpass_refresh_answers_lost_total')
        await abandon(transport, minted.refresh_token)
        // The rotation committed; the mark follows once the server saw the connection gone.
        await until(async () => (await server.ctx.sessions.store.getSession(minted.session_id))?.undeliveredHash != null, 'the mark')
        assert.equal(await server.metric('hallpass_refresh_answers_lost_total'), lostBefore + 1)
        assert.equal((await server.ctx.sessions.store.getSession(minted.session_id))?.generation, 1)

        server.advanceClock(30_000)
        const replaysBefore = await server.metric('hallpass_refreshes_total', { result: 'undelivered_replay' })
        const retry = await refresh(transport, minted.refresh_token)
        assert.equal(retry.status, 200, retry.text)
        const successor = transport.tokenOf(retry)
        assert.match(successor, /^hprt_[^.]+\.1\./)
        assert.equal(await server.metric('hallpass_refreshes_total', { result: 'undelivered_replay' }), replaysBefore + 1)

        const next = await refresh(transport, successor)
        assert.equal(next.status, 200, next.text)
        assert.match(transport.tokenOf(next), /^hprt_[^.]+\.2\./)

        // Once: the old token again, after the window, is reuse, and revokes the session.
        server.advanceClock(30_000)
        assertError(await refresh(transport, minted.refresh_token), 400, 'invalid_grant')
        assert.equal((await server.ctx.sessions.get(minted.session_id))?.revokeReason, 'refresh_reuse')
      })
    }

    test('hostile: an abandoned answer marks only that token; an older one is reuse all the same', async () => {
      const minted = await server.mint()
      const first = await refresh(TRANSPORTS[0]!, minted.refresh_token)
      assert.equal(first.status, 200, first.text)
      server.advanceClock(30_000)
      await abandon(TRANSPORTS[0]!, first.body.refresh_token as string)
      await until(async () => (await server.ctx.sessions.store.getSession(minted.session_id))?.undeliveredHash != null, 'the mark')
      server.advanceClock(30_000)
      // Generation 0 is two behind the marked token: no leniency for it.
      assertError(await refresh(TRANSPORTS[0]!, minted.refresh_token), 400, 'invalid_grant')
      assertError(await refresh(TRANSPORTS[0]!, first.body.refresh_token as string), 400, 'invalid_grant')
      assert.equal((await server.ctx.sessions.get(minted.session_id))?.revokeReason, 'refresh_reuse')
    })
  })
}
