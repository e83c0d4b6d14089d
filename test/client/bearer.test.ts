// hallpass/client in bearer mode (Node: no `document`, so bearer is the default) against a real
// `hallpass serve` over real sockets. The scenarios of test/browser/client.test.ts that need no
// browser, and the ones only a bearer client has (the refresh token in the application's
// storage):
//
// - login: a token the server accepts, the refresh token in the given storage and nowhere else;
//   a restart restores the session from that storage.
// - one refresh for 20 concurrent callers; several clients in one process stay independent
//   (Node has a BroadcastChannel, but no tabs) unless `crossTab: true` asks for sharing.
// - clocks 5 minutes fast or slow over 10 simulated minutes: no refresh loop, no expired token.
// - a 401 invalid_token: one refresh, one retry; a revoked session: signed out, the 401 returned.
// - an outage (server stopped, 503, 429, junk): the session survives, ERR_CLIENT_UNAVAILABLE after
//   maxWaitSeconds, recovery, and only invalid_grant signs out; close() stops a backoff.
// - a replayed old refresh token (grace window 0 s) signs out as reuse.
// - logout, logoutAll, sessions, revokeSession, with their effect on the server.
// - hostile or odd input: wrong password, bad issuer, malformed answers, empty or forged storage,
//   the login rate limit, listeners that throw.
//
// Every request the client makes goes through a recording `fetch`, so a test counts refreshes
// where they leave the client; the server's metrics and session store say what it did with them.
// Simulated time: a client's `now` option, and for the clocked server the session manager's.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { after, afterEach, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildServer, openRuntime, resolveConfig, type CredentialCheck, type Runtime } from '@hallpass/server'
import { createClient, HallpassClientError, type ClientEvent, type ClientOptions, type HallpassClient, type RefreshTokenStorage, type SignOutReason } from 'hallpass/client'
import { PASSWORD, startSessionServer, type SessionServer } from '../e2e/session-server.ts'
import { freePort } from '../helpers/ports.ts'

const TTL_MS = 10 * 60_000 // the access-token lifetime of the main server

// ---------------------------------------------------------------------------------------------
// Helpers

interface Sent {
  readonly path: string
  readonly headers: Headers
  readonly body: string | undefined
  /** When it was sent, on the recorder's clock. */
  readonly at: number
  /** The response status, or 0 when the request failed (network error, or a refused one). */
  status: number
}

/** What the recording fetch does with a request instead of sending it. */
type Intercept = (path: string) => Response | Error | undefined

/** A `fetch` for the client that records every request, and can answer in the server's place. */
function recorder(now: () => number = Date.now): { readonly sent: Sent[]; fetch: typeof fetch; intercept: Intercept | undefined; count(path: string): number } {
  const sent: Sent[] = []
  const state = {
    sent,
    intercept: undefined as Intercept | undefined,
    count: (path: string): number => sent.filter((request) => request.path === path).length,
    fetch: async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
      const request: Sent = {
        path: new URL(url).pathname,
        headers: new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)),
        body: typeof init?.body === 'string' ? init.body : undefined,
        at: now(),
        status: 0,
      }
      sent.push(request)
      const instead = state.intercept?.(request.path)
      if (instead instanceof Error) throw instead
      const response = instead ?? (await fetch(input, init))
      request.status = response.status
      return response
    },
  }
  return state
}

/** A storage like a keychain's (asynchronous) that keeps every write. */
function spyStorage(initial: string | null = null): RefreshTokenStorage & { value: string | null; readonly writes: Array<string | null> } {
  const writes: Array<string | null> = []
  const storage = {
    value: initial,
    writes,
    get: () => Promise.resolve(storage.value),
    set: (token: string | null) => {
      writes.push(token)
      storage.value = token
      return Promise.resolve()
    },
  }
  return storage
}

/** A client clock that can jump, as a laptop's does when it wakes. */
function clock(skewMs = 0): { readonly now: () => number; readonly jump: (ms: number) => void } {
  let offset = skewMs
  return { now: () => Date.now() + offset, jump: (ms) => void (offset += ms) }
}

function record(client: HallpassClient): ClientEvent[] {
  const events: ClientEvent[] = []
  client.subscribe((event) => events.push(event))
  return events
}

/** A JWT's payload, unverified (the server has verified it). */
const decodeClaims = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>

const signOuts = (events: readonly ClientEvent[]): SignOutReason[] => events.flatMap((event) => (event.type === 'signed-out' ? [event.reason] : []))

/** The next event of `type`, or a failure after `timeoutMs`. */
function nextEvent(client: HallpassClient, type: ClientEvent['type'], timeoutMs = 8000): Promise<ClientEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`no ${type} event within ${timeoutMs} ms`))
    }, timeoutMs)
    const stop = client.subscribe((event) => {
      if (event.type !== type) return
      clearTimeout(timer)
      stop()
      resolve(event)
    })
  })
}

/** Asserts that `promise` rejects with a HallpassClientError of `code` (and `details`), and returns it. */
async function rejectsWith(promise: Promise<unknown>, code: HallpassClientError['code'], details: Partial<Pick<HallpassClientError, 'status' | 'error' | 'hallpassCode'>> = {}): Promise<HallpassClientError> {
  let caught: unknown
  await promise.then(
    () => assert.fail(`expected ${code}, got a value`),
    (error: unknown) => void (caught = error),
  )
  assert.ok(caught instanceof HallpassClientError, `expected a HallpassClientError, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  for (const [key, value] of Object.entries(details)) assert.equal(caught[key as keyof typeof details], value, key)
  return caught
}

/** A metric's value on the server, summed over the series whose labels include `labels`. */
async function metric(
  counter: { get(): Promise<{ values: Array<{ value: number; labels: Partial<Record<string, string | number>> }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get()
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((sum, v) => sum + v.value, 0)
}

/** POST /auth/refresh outside any client: what the server now says of a refresh token. */
async function rawRefresh(issuer: string, refreshToken: string): Promise<{ status: number; code: string | null }> {
  const response = await fetch(`${issuer}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refreshToken }) })
  await response.arrayBuffer()
  return { status: response.status, code: response.headers.get('x-hallpass-error') }
}

async function me(client: HallpassClient, issuer: string): Promise<{ status: number; sub?: string; sid?: string }> {
  const response = await client.fetch(`${issuer}/auth/me`)
  const body = (await response.json()) as { sub?: string; sid?: string }
  return { status: response.status, ...body }
}

/**
 * A client, closed after the test (timers, channels) whatever happened. Waits on a refresh are
 * cut to 3 s (10 by default), so that a client that never settles fails a test instead of
 * stalling the file.
 */
const opened: HallpassClient[] = []
function open(options: ClientOptions): HallpassClient {
  const client = createClient({ maxWaitSeconds: 3, ...options })
  opened.push(client)
  return client
}
afterEach(() => {
  // Every one, even if one throws (a throw is still the test's failure).
  const errors: unknown[] = []
  for (const client of opened.splice(0)) {
    try {
      client.close()
    } catch (error) {
      errors.push(error)
    }
  }
  if (errors.length > 0) throw errors[0]
})

// ---------------------------------------------------------------------------------------------

describe('hallpass/client, bearer mode, against hallpass serve', () => {
  let hallpass: SessionServer
  let issuer: string

  before(async () => {
    // A 0 s grace window: any replayed refresh token counts as reuse, so a second refresh where
    // one was expected would sign the client out instead of passing unnoticed.
    hallpass = await startSessionServer({ config: { reuseWindow: '0s', accessTokenTtl: '10m' } })
    issuer = hallpass.issuer
  })
  after(async () => {
    await hallpass?.destroy()
  })

  test('login: a token the server accepts, a signed-in event, the refresh token in the given storage and nowhere else', async () => {
    const net = recorder()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, restore: false })
    const events = record(client)
    assert.equal(client.state, 'signed-out')
    await client.login('writer', PASSWORD, { deviceLabel: 'ci runner' })

    assert.equal(client.state, 'signed-in')
    assert.ok(client.sessionId !== undefined)
    assert.deepEqual(events.map((e) => e.type), ['signed-in'])
    assert.equal((events[0] as { sessionId: string }).sessionId, client.sessionId)
    const token = await client.getAccessToken()
    const { claims } = hallpass.runtime.context.sessions.verifyAccessToken(token)
    assert.equal(claims.sub, 'writer')
    assert.equal(claims.sid, client.sessionId)
    const who = await me(client, issuer)
    assert.deepEqual([who.status, who.sub, who.sid], [200, 'writer', client.sessionId])
    assert.equal(client.claims()?.sub, 'writer')

    // The refresh token: written once, to this storage, and it is the session's live one.
    assert.equal(storage.writes.length, 1)
    const refreshToken = storage.value!
    const inspected = await hallpass.runtime.context.sessions.inspectRefreshToken(refreshToken)
    assert.ok(inspected.active && inspected.session.id === client.sessionId)
    // ...and nowhere else: not in events, claims or the access token, never sent except to the
    // refresh and logout endpoints, and never as a cookie (bearer mode does not ask for one).
    assert.ok(!JSON.stringify(events).includes(refreshToken))
    assert.ok(!JSON.stringify(client.claims()).includes(refreshToken) && token !== refreshToken)
    for (const request of net.sent) {
      assert.equal(request.headers.get('x-hallpass-client'), null, 'bearer mode is the default without a document')
      const carries = (request.body ?? '').includes(refreshToken) || [...request.headers.values()].some((v) => v.includes(refreshToken))
      assert.ok(!carries || ['/auth/refresh', '/auth/logout'].includes(request.path), `${request.path} carried the refresh token`)
    }
    assert.equal(net.count('/auth/refresh'), 0, 'a fresh login needs no refresh')
  })

  test('a restart restores the session from storage: one refresh, same session, the token rotated in storage', async () => {
    const storage = spyStorage()
    const first = open({ issuer, storage, restore: false })
    await first.login('writer', PASSWORD)
    const sessionId = first.sessionId
    const before = storage.value
    first.close()

    const net = recorder()
    const second = open({ issuer, storage, fetch: net.fetch }) // restore: the default
    const event = await nextEvent(second, 'signed-in')
    assert.equal(second.sessionId, sessionId)
    assert.equal((event as { sessionId: string }).sessionId, sessionId)
    assert.equal(net.count('/auth/refresh'), 1)
    assert.notEqual(storage.value, before, 'the refresh token rotated')
    assert.equal((await me(second, issuer)).status, 200)
  })

  test('20 concurrent getAccessToken() calls on an expired token: one POST /auth/refresh, one token for all', async () => {
    const net = recorder()
    const time = clock()
    const client = open({ issuer, fetch: net.fetch, now: time.now, restore: false })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const first = await client.getAccessToken()
    const rotatedBefore = await metric(hallpass.runtime.context.metrics.refreshes, { result: 'rotated' })

    // The process slept past expiry (no timer ran): all 20 callers find the token wanting at once.
    time.jump(TTL_MS + 1000)
    const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getAccessToken()))
    assert.equal(net.count('/auth/refresh'), 1)
    assert.equal(new Set(tokens).size, 1)
    assert.notEqual(tokens[0], first)
    assert.equal(await metric(hallpass.runtime.context.metrics.refreshes, { result: 'rotated' }), rotatedBefore + 1)
    assert.equal(await metric(hallpass.runtime.context.metrics.reuseDetections), 0)
    assert.deepEqual(signOuts(events), [])

    // The same through client.fetch: 20 calls, one more refresh, every call accepted.
    time.jump(TTL_MS + 1000)
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await me(client, issuer)).status))
    assert.deepEqual(statuses, Array<number>(20).fill(200))
    assert.equal(net.count('/auth/refresh'), 2)
    assert.equal(client.state, 'signed-in')
  })

  test('refreshMarginSeconds longer than the token lives: no refresh loop', async () => {
    const net = recorder()
    // 15 minutes ahead of a 10-minute token: taken literally, every token is due the moment it
    // arrives, and each refresh schedules the next at once.
    const client = open({ issuer, fetch: net.fetch, restore: false, refreshMarginSeconds: 900 })
    await client.login('writer', PASSWORD)
    await sleep(300)
    assert.ok(net.count('/auth/refresh') <= 1, `${net.count('/auth/refresh')} refreshes in 300 ms`)
    assert.equal((await me(client, issuer)).status, 200)
  })

  test('two clients in one process are independent by default: no shared tokens, no shared sign-out', async () => {
    // Node 20 has a global BroadcastChannel that reaches every channel of the same name in the
    // process. Tabs share one refresh cookie; bearer clients in one process need not share
    // anything, here not even the user.
    assert.equal(typeof BroadcastChannel, 'function')
    const readerStorage = spyStorage()
    const reader = open({ issuer, storage: readerStorage, restore: false })
    const readerEvents = record(reader)
    await reader.login('reader', PASSWORD)
    const writer = open({ issuer, restore: false })
    await writer.login('writer', PASSWORD) // a newer token than the reader's
    await sleep(50) // time for a broadcast to arrive, if there were one

    assert.equal((await me(reader, issuer)).sub, 'reader')
    assert.notEqual(reader.sessionId, writer.sessionId)
    await writer.logout()
    await sleep(50)
    assert.equal(reader.state, 'signed-in')
    assert.ok(readerStorage.value !== null, "the reader's refresh token is still stored")
    assert.deepEqual(signOuts(readerEvents), [])
    assert.equal((await me(reader, issuer)).sub, 'reader')
  })

  test('crossTab: true in Node shares as tabs do: a second client takes the token without a refresh and follows the logout', async () => {
    const storage = spyStorage()
    const first = open({ issuer, storage, restore: false, crossTab: true })
    await first.login('writer', PASSWORD)
    const net = recorder()
    const second = open({ issuer, storage, fetch: net.fetch, crossTab: true })
    await nextEvent(second, 'signed-in')
    assert.equal(second.sessionId, first.sessionId)
    assert.equal(await second.getAccessToken(), await first.getAccessToken())
    assert.equal(net.sent.length, 0, 'the token came from the other client, not the server')

    const out = nextEvent(second, 'signed-out', 1000)
    await first.logout()
    assert.deepEqual(await out, { type: 'signed-out', reason: 'logout' })

    // Closing leaves the channel; closing again is harmless (the channel is already closed).
    first.close()
    assert.doesNotThrow(() => first.close())
  })

  test('a session revoked on the server: the 401 makes one refresh, invalid_grant signs out (revoked), the 401 is returned', async () => {
    const net = recorder()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, restore: false })
    const events = record(client)
    await client.login('writer', PASSWORD)
    assert.equal((await hallpass.runtime.context.sessions.revoke(client.sessionId!, 'admin')).revoked, true)

    const response = await client.fetch(`${issuer}/auth/me`)
    assert.equal(response.status, 401)
    assert.match(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
    assert.equal(net.count('/auth/me'), 1, 'no retry without a new token')
    assert.equal(net.count('/auth/refresh'), 1)
    assert.deepEqual(signOuts(events), ['revoked'])
    assert.equal(client.state, 'signed-out')
    assert.equal(client.sessionId, undefined)
    assert.equal(storage.value, null, 'the dead refresh token is dropped')

    const sent = net.sent.length
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')
    await rejectsWith(client.fetch(`${issuer}/auth/me`), 'ERR_CLIENT_SIGNED_OUT')
    assert.equal(net.sent.length, sent, 'nothing more is sent once signed out')
  })

  test('a resource server that keeps refusing: one refresh, one retry, then its 401; other refusals are not retried', async () => {
    const api = await startResourceServer()
    try {
      const net = recorder()
      const client = open({ issuer, fetch: net.fetch, restore: false })
      const events = record(client)
      await client.login('writer', PASSWORD)
      const first = await client.getAccessToken()

      const refused = await client.fetch(`${api.url}/stale`)
      assert.equal(refused.status, 401)
      assert.equal(net.count('/stale'), 2)
      assert.equal(net.count('/auth/refresh'), 1)
      const second = await client.getAccessToken()
      assert.deepEqual(api.bearers, [first, second], 'the retry carried the new token')
      assert.equal(client.state, 'signed-in', "a service's refusal is not a sign-out")

      // No token error (a bare challenge) and a scope error: the token is not the problem.
      assert.equal((await client.fetch(`${api.url}/anonymous`)).status, 401)
      assert.equal((await client.fetch(`${api.url}/scope`)).status, 403)
      assert.equal(net.count('/anonymous') + net.count('/scope'), 2)
      assert.equal(net.count('/auth/refresh'), 1)
      assert.deepEqual(signOuts(events), [])
    } finally {
      await api.close()
    }
  })

  test('a 401 invalid_token while the server is unreachable: client.fetch gives up after maxWaitSeconds with the 401', async () => {
    const api = await startResourceServer()
    try {
      const net = recorder()
      const client = open({ issuer, fetch: net.fetch, restore: false, maxWaitSeconds: 0.5 })
      await client.login('writer', PASSWORD)
      net.intercept = (path) => (path === '/auth/refresh' ? new TypeError('fetch failed') : undefined)
      const started = performance.now()
      const response = await Promise.race([client.fetch(`${api.url}/stale`), sleep(3000, 'still waiting')])
      assert.ok(response instanceof Response, 'client.fetch settles within maxWaitSeconds')
      assert.equal(response.status, 401)
      assert.ok(performance.now() - started < 1500, `${Math.round(performance.now() - started)} ms`)
      assert.equal(net.count('/stale'), 1, 'no retry without a new token')
      assert.equal(client.state, 'signed-in', 'an outage is not a sign-out')
    } finally {
      await api.close()
    }
  })

  test('the server stopped during a refresh: the session survives, ERR_CLIENT_UNAVAILABLE after maxWaitSeconds, recovery; then invalid_grant signs out', async () => {
    const net = recorder()
    const time = clock()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, now: time.now, restore: false, maxWaitSeconds: 1 })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const sessionId = client.sessionId
    const refreshToken = storage.value

    await hallpass.stop()
    try {
      time.jump(TTL_MS + 1000)
      const started = performance.now()
      await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_UNAVAILABLE')
      const waited = performance.now() - started
      assert.ok(waited >= 950 && waited < 2500, `gave up after ${Math.round(waited)} ms`)
      assert.ok(net.sent.filter((r) => r.path === '/auth/refresh').every((r) => r.status === 0), 'nothing reached a server')
      assert.equal(client.state, 'signed-in')
      assert.equal(client.sessionId, sessionId)
      assert.equal(storage.value, refreshToken, 'the refresh token is kept through the outage')
      assert.deepEqual(signOuts(events), [])
    } finally {
      await hallpass.start()
    }

    // The client retries on its own (backoff: 1 s doubling; a keep-alive socket the stopped
    // server closed can cost one more round); once back, the next call works.
    await nextEvent(client, 'refreshed', 15_000)
    assert.equal(client.sessionId, sessionId)
    assert.equal((await me(client, issuer)).status, 200)
    assert.equal(await metric(hallpass.runtime.context.metrics.refreshes, { result: 'rotated' }), 1)
    assert.deepEqual(signOuts(events), [])

    // Revoked meanwhile (another device, an admin): the next refresh is invalid_grant.
    await hallpass.runtime.context.sessions.revoke(sessionId!, 'admin')
    time.jump(TTL_MS + 1000)
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')
    assert.deepEqual(signOuts(events), ['revoked'])
    assert.equal(storage.value, null)
  })

  test('refreshes answered 429 (Retry-After: 2), then 503: the session is kept, and recovers once the server answers', async () => {
    const net = recorder()
    const time = clock()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, now: time.now, restore: false, maxWaitSeconds: 0.3 })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const refreshToken = storage.value
    const answers = [
      new Response('{"error":"rate_limited"}', { status: 429, headers: { 'retry-after': '2' } }),
      new Response('{"error":"temporarily_unavailable"}', { status: 503 }),
    ]
    net.intercept = (path) => (path === '/auth/refresh' ? answers.shift() : undefined)

    time.jump(TTL_MS + 1000)
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_UNAVAILABLE')
    await nextEvent(client, 'refreshed')
    assert.deepEqual(net.sent.filter((r) => r.path === '/auth/refresh').map((r) => r.status), [429, 503, 200])
    // The first backoff is 0.5 to 1 s: the 2 s between the first two attempts are the server's.
    const [limited, unavailable] = net.sent.filter((r) => r.path === '/auth/refresh')
    assert.ok(unavailable!.at - limited!.at >= 1990, `Retry-After: 2 honoured (${unavailable!.at - limited!.at} ms)`)
    assert.equal(client.state, 'signed-in')
    assert.notEqual(storage.value, refreshToken)
    assert.deepEqual(signOuts(events), [])
    assert.equal((await me(client, issuer)).status, 200)
  })

  test('a junk 200 to a refresh: nothing adopted, the session kept; close() during the backoff: no refresh after it', async () => {
    const net = recorder()
    const time = clock()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, now: time.now, restore: false, maxWaitSeconds: 5 })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const token = await client.getAccessToken()
    const refreshToken = storage.value
    // A proxy's page where the token response should be (the server never saw the request).
    net.intercept = (path) => (path === '/auth/refresh' ? new Response('<html>502</html>', { status: 200, headers: { 'content-type': 'text/html' } }) : undefined)

    time.jump(TTL_MS + 1000)
    const pending = client.getAccessToken()
    await sleep(50) // the first attempt has failed; the retry waits 0.5 to 1 s
    assert.equal(net.count('/auth/refresh'), 1)
    assert.equal(client.state, 'signed-in')
    assert.deepEqual(client.claims(), decodeClaims(token), 'the junk was not adopted')
    assert.equal(storage.value, refreshToken)
    assert.deepEqual(events.map((e) => e.type), ['signed-in'])
    client.close()
    const started = performance.now()
    const outcome = await pending.then(
      () => 'token',
      (error: unknown) => (error instanceof HallpassClientError ? error.code : String(error)),
    )
    assert.ok(performance.now() - started < 500, 'close() ends the wait at once')
    assert.equal(outcome, 'ERR_CLIENT_SIGNED_OUT')
    await sleep(1200) // past any retry the backoff had scheduled
    assert.equal(net.count('/auth/refresh'), 1, 'a closed client refreshes no more')
  })

  test('a replayed old refresh token (grace window 0 s) signs out as reuse, and ends the session on the server', async () => {
    const time = clock()
    const storage = spyStorage()
    const client = open({ issuer, storage, now: time.now, restore: false })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const original = storage.value!
    time.jump(TTL_MS + 1000)
    await client.getAccessToken()
    const rotated = storage.value!
    assert.notEqual(rotated, original)
    const reusesBefore = await metric(hallpass.runtime.context.metrics.reuseDetections, { classification: 'previous_after_window' })

    // The storage comes back from an older copy (a backup, a thief's replay): the old token.
    storage.value = original
    time.jump(TTL_MS + 1000)
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')
    assert.deepEqual(signOuts(events), ['reuse_detected'])
    assert.equal(storage.value, null)
    assert.equal(await metric(hallpass.runtime.context.metrics.reuseDetections, { classification: 'previous_after_window' }), reusesBefore + 1)
    // The whole session ended: the newer token is refused too.
    assert.deepEqual(await rawRefresh(issuer, rotated), { status: 400, code: 'ERR_SESSION_REVOKED' })
  })

  test('sessions() and revokeSession(): the current flag, another device revoked, another user untouchable', async () => {
    const laptop = open({ issuer, restore: false })
    const phoneStorage = spyStorage()
    const phone = open({ issuer, storage: phoneStorage, restore: false })
    const phoneEvents = record(phone)
    const reader = open({ issuer, restore: false })
    await laptop.login('writer', PASSWORD, { deviceLabel: 'laptop' })
    await phone.login('writer', PASSWORD, { deviceLabel: 'phone' })
    await reader.login('reader', PASSWORD)

    const listed = await laptop.sessions()
    const byId = new Map(listed.map((s) => [s.id, s]))
    assert.equal(byId.get(laptop.sessionId!)?.current, true)
    assert.equal(byId.get(laptop.sessionId!)?.device?.label, 'laptop')
    assert.equal(byId.get(phone.sessionId!)?.current, false)
    assert.equal(byId.get(phone.sessionId!)?.device?.label, 'phone')
    assert.equal(listed.filter((s) => s.current).length, 1)
    assert.ok(!byId.has(reader.sessionId!), "another user's sessions are not listed")

    const phoneRefresh = phoneStorage.value!
    await laptop.revokeSession(phone.sessionId!)
    assert.equal((await hallpass.runtime.context.sessions.inspectRefreshToken(phoneRefresh)).active, false)
    assert.equal((await me(phone, issuer)).status, 401)
    assert.deepEqual(signOuts(phoneEvents), ['revoked'])
    assert.equal(laptop.state, 'signed-in')

    // Another user's session answers 404, which changes nothing for anyone.
    await laptop.revokeSession(reader.sessionId!)
    assert.equal((await me(reader, issuer)).status, 200)

    // Revoking the current session is a logout.
    const laptopEvents = record(laptop)
    await laptop.revokeSession(laptop.sessionId!)
    assert.deepEqual(signOuts(laptopEvents), ['logout'])
  })

  test('logout(): the session ends on the server, storage is cleared, signed-out (logout)', async () => {
    const storage = spyStorage()
    const client = open({ issuer, storage, restore: false })
    const events = record(client)
    await client.login('writer', PASSWORD)
    const refreshToken = storage.value!
    const accessToken = await client.getAccessToken()
    const sessionId = client.sessionId!

    await client.logout()
    assert.deepEqual(signOuts(events), ['logout'])
    assert.equal(client.state, 'signed-out')
    assert.equal(storage.value, null)
    assert.deepEqual(await rawRefresh(issuer, refreshToken), { status: 400, code: 'ERR_SESSION_REVOKED' })
    const stale = await fetch(`${issuer}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } })
    assert.equal(stale.status, 401, 'the access token is refused at once too')
    assert.notEqual((await hallpass.runtime.context.sessions.get(sessionId))?.revokedAt ?? null, null)
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')
  })

  test("logoutAll(): every session of the user ends, other users' stay", async () => {
    const here = open({ issuer, storage: spyStorage(), restore: false })
    const hereEvents = record(here)
    const elsewhere = open({ issuer, restore: false })
    const elsewhereEvents = record(elsewhere)
    const reader = open({ issuer, restore: false })
    await here.login('writer', PASSWORD)
    await elsewhere.login('writer', PASSWORD)
    await reader.login('reader', PASSWORD)

    await here.logoutAll()
    assert.deepEqual(signOuts(hereEvents), ['logout'])
    assert.deepEqual(await hallpass.runtime.context.sessions.list('writer'), [])
    assert.equal((await me(elsewhere, issuer)).status, 401)
    assert.deepEqual(signOuts(elsewhereEvents), ['revoked'])
    assert.equal((await me(reader, issuer)).status, 200)
  })

  test('wrong credentials: ERR_CLIENT_CREDENTIALS, one answer for wrong password and unknown user, nothing stored', async () => {
    const storage = spyStorage()
    const client = open({ issuer, storage, restore: false })
    const events = record(client)
    const failedBefore = await metric(hallpass.runtime.context.metrics.logins, { result: 'invalid_credentials' })
    const wrong = await rejectsWith(client.login('writer', 'not the password'), 'ERR_CLIENT_CREDENTIALS', { status: 400, error: 'invalid_grant' })
    const unknown = await rejectsWith(client.login('nobody', PASSWORD), 'ERR_CLIENT_CREDENTIALS', { status: 400, error: 'invalid_grant' })
    assert.equal(wrong.message, unknown.message)
    assert.equal(await metric(hallpass.runtime.context.metrics.logins, { result: 'invalid_credentials' }), failedBefore + 2)
    assert.deepEqual(storage.writes, [])
    assert.deepEqual(events, [])
    assert.equal(client.state, 'signed-out')
  })

  test('an issuer that is not an http(s) URL: TypeError', () => {
    for (const bad of ['ftp://auth.example.com', 'javascript:alert(1)', 'auth.example.com', '//auth.example.com', 'http://', 'https:///path', '']) {
      assert.throws(() => createClient({ issuer: bad }), TypeError, bad)
    }
  })

  test('a malformed token response to login: rejected as ERR_CLIENT_UNAVAILABLE, nothing adopted, nothing stored', async () => {
    const net = recorder()
    const storage = spyStorage()
    const client = open({ issuer, storage, fetch: net.fetch, restore: false })
    const events = record(client)
    const junk = ['{"access_token": ', 'null', '[]', '"token"', '{"access_token":"a.b.c"}', '{"access_token":"a.b.c","expires_in":"600","session_id":"x"}']
    for (const body of junk) {
      net.intercept = (path) => (path === '/auth/login' ? new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }) : undefined)
      await rejectsWith(client.login('writer', PASSWORD), 'ERR_CLIENT_UNAVAILABLE')
    }
    // Error answers with odd bodies keep their status.
    net.intercept = (path) => (path === '/auth/login' ? new Response('null', { status: 400 }) : undefined)
    await rejectsWith(client.login('writer', PASSWORD), 'ERR_CLIENT_REQUEST', { status: 400 })
    net.intercept = (path) => (path === '/auth/login' ? new Response('<html>Bad gateway</html>', { status: 502 }) : undefined)
    await rejectsWith(client.login('writer', PASSWORD), 'ERR_CLIENT_UNAVAILABLE', { status: 502 })
    assert.equal(client.state, 'signed-out')
    assert.equal(client.sessionId, undefined)
    assert.deepEqual(storage.writes, [])
    assert.deepEqual(events, [])
    net.intercept = undefined
    await client.login('writer', PASSWORD)
    assert.equal((await me(client, issuer)).status, 200)
  })

  test('restore with empty storage: signed-out (no_session) without a request; a forged token: signed-out (invalid), dropped', async () => {
    const net = recorder()
    const empty = open({ issuer, storage: spyStorage(), fetch: net.fetch })
    assert.equal(empty.state, 'unknown')
    assert.deepEqual(await nextEvent(empty, 'signed-out'), { type: 'signed-out', reason: 'no_session' })
    assert.equal(net.sent.length, 0)
    await rejectsWith(empty.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')

    const forgedStorage = spyStorage('hp1.forged.refresh-token')
    const forged = open({ issuer, storage: forgedStorage })
    assert.deepEqual(await nextEvent(forged, 'signed-out'), { type: 'signed-out', reason: 'invalid' })
    assert.equal(forgedStorage.value, null)
  })

  test('listeners that throw do not break the client', async () => {
    const client = open({ issuer, restore: false })
    client.subscribe(() => {
      throw new Error('a broken listener')
    })
    const events = record(client)
    const unsubscribe = client.subscribe(() => {
      throw new TypeError('another')
    })
    await client.login('writer', PASSWORD)
    unsubscribe()
    assert.equal((await me(client, issuer)).status, 200)
    await client.logout()
    assert.deepEqual(events.map((e) => e.type), ['signed-in', 'signed-out'])
  })
})

describe('hallpass/client against a server with a tight login rate limit', () => {
  let hallpass: SessionServer

  before(async () => {
    hallpass = await startSessionServer({ config: { rateLimits: { loginPerUsername: { max: 3, window: '1m' } } } })
  })
  after(async () => {
    await hallpass?.destroy()
  })

  test('many wrong logins: ERR_CLIENT_RATE_LIMITED with retryAfterSeconds, even for the right password; nothing stored', async () => {
    const storage = spyStorage()
    const client = open({ issuer: hallpass.issuer, storage, restore: false })
    for (let i = 0; i < 3; i++) await rejectsWith(client.login('writer', 'wrong'), 'ERR_CLIENT_CREDENTIALS')
    const limited = await rejectsWith(client.login('writer', PASSWORD), 'ERR_CLIENT_RATE_LIMITED', { status: 429 })
    assert.ok(limited.retryAfterSeconds !== undefined && limited.retryAfterSeconds > 0 && limited.retryAfterSeconds <= 60, String(limited.retryAfterSeconds))
    assert.equal(await metric(hallpass.runtime.context.metrics.rateLimited, { route: 'login' }), 1)
    assert.deepEqual(storage.writes, [])
    assert.equal(client.state, 'signed-out')
  })
})

describe('hallpass/client against a server whose clock the test moves (30 s tokens)', () => {
  let server: ClockedServer

  before(async () => {
    server = await startClockedServer()
  })
  after(async () => {
    await server?.close()
  })

  for (const skewMinutes of [5, -5]) {
    test(`a client clock ${Math.abs(skewMinutes)} minutes ${skewMinutes > 0 ? 'fast' : 'slow'}, over 10 simulated minutes: a refresh per token lifetime, no expired token sent`, async () => {
      const net = recorder(server.now)
      // The client's clock follows the server's, off by more than a token's whole lifetime.
      const now = (): number => server.now() + skewMinutes * 60_000
      const client = open({ issuer: server.issuer, fetch: net.fetch, now, restore: false })
      const events = record(client)
      await client.login('writer', PASSWORD)
      const signedIn = events[0] as { expiresAt: number }
      assert.ok(Math.abs(signedIn.expiresAt - now() - 30_000) < 1000, `expires in ${signedIn.expiresAt - now()} ms on the client's clock`)
      assert.ok(Math.abs(client.serverTime() - server.now()) < 1500, `server time estimated ${client.serverTime() - server.now()} ms off`)

      // A call every 5 simulated seconds.
      const spanMs = 10 * 60_000
      for (let at = 0; at < spanMs; at += 5000) {
        server.advance(5000)
        assert.equal((await client.fetch(`${server.issuer}/auth/me`)).status, 200)
      }
      const refused = net.sent.filter((r) => r.path === '/auth/me' && r.status !== 200)
      assert.equal(refused.length, 0, 'the server refused a token the client sent')
      // Stricter than the server, which allows 30 s of clock tolerance: every token sent was
      // unexpired by the server's clock.
      for (const request of net.sent.filter((r) => r.path === '/auth/me')) {
        const exp = Number(decodeClaims(request.headers.get('authorization')!.slice('Bearer '.length)).exp) * 1000
        assert.ok(exp > request.at, `a token ${request.at - exp} ms past its exp was sent`)
      }
      // One refresh each time a token runs out (every 30 s): not one per call.
      const refreshes = net.count('/auth/refresh')
      assert.ok(refreshes >= spanMs / 30_000 - 1 && refreshes <= spanMs / 30_000 + 1, `${refreshes} refreshes`)
      assert.ok(Math.abs(client.serverTime() - server.now()) < 1500, `server time estimated ${client.serverTime() - server.now()} ms off`)
      assert.deepEqual(signOuts(events), [])
    })
  }

  test('a token the server already holds expired (the client could not know): one refresh, one retry, 200', async () => {
    const net = recorder()
    const client = open({ issuer: server.issuer, fetch: net.fetch, restore: false }) // the real clock
    const events = record(client)
    await client.login('writer', PASSWORD)
    server.advance(61_000) // past the 30 s lifetime and the server's 30 s clock tolerance
    assert.equal((await client.fetch(`${server.issuer}/auth/me`)).status, 200)
    assert.deepEqual(net.sent.filter((r) => r.path === '/auth/me').map((r) => r.status), [401, 200])
    assert.equal(net.count('/auth/refresh'), 1)
    assert.deepEqual(signOuts(events), [])
  })

  test('a session idle past its timeout: the refresh signs out (expired)', async () => {
    const client = open({ issuer: server.issuer, now: server.now, restore: false })
    const events = record(client)
    await client.login('writer', PASSWORD)
    server.advance(121_000) // refreshIdleTimeout: 2m
    await rejectsWith(client.getAccessToken(), 'ERR_CLIENT_SIGNED_OUT')
    assert.deepEqual(signOuts(events), ['expired'])
  })
})

// ---------------------------------------------------------------------------------------------
// Servers

interface ClockedServer {
  readonly issuer: string
  /** The server's clock (epoch ms): the real one plus what `advance` added. */
  readonly now: () => number
  readonly advance: (ms: number) => void
  close(): Promise<void>
}


/**
 * `hallpass serve` in-process with the session manager on a clock the test moves, so minutes of
 * token lifetimes pass in milliseconds (startSessionServer has no clock to give it).
 */
async function startClockedServer(): Promise<ClockedServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hallpass-client-'))
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  let advanced = 0
  const now = (): number => Date.now() + advanced
  const checkCredentials: CredentialCheck = (username, password) => Promise.resolve(username === 'writer' && password === PASSWORD ? { subject: 'writer' } : undefined)
  const config = resolveConfig({
    file: {
      issuer, host: '127.0.0.1', port, dataDir, databaseUrl: `sqlite:${join(dataDir, 'hallpass.db')}`, demoUser: false, logLevel: 'silent',
      accessTokenTtl: '30s', refreshIdleTimeout: '2m',
      rateLimits: { loginPerIp: { max: 100_000, window: '1m' }, loginPerUsername: { max: 100_000, window: '1m' }, refreshPerIp: { max: 100_000, window: '1m' } },
    },
    env: {},
  })
  const runtime: Runtime = await openRuntime(config, { env: { HALLPASS_SECRET: randomBytes(32).toString('base64url') }, checkCredentials, now })
  let app: FastifyInstance
  try {
    app = await buildServer(runtime.context, { logger: false })
    await app.listen({ port, host: '127.0.0.1' })
  } catch (error) {
    await runtime.close()
    throw error
  }
  return {
    issuer,
    now,
    advance: (ms) => void (advanced += ms),
    async close() {
      await runtime.context.feed.close()
      const closing = app.close()
      app.server.closeAllConnections()
      await closing
      await runtime.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * A resource server that trusts nothing: `/stale` refuses every token as invalid_token, `/anonymous`
 * answers a bare challenge (no token error), `/scope` insufficient_scope.
 */
async function startResourceServer(): Promise<{ url: string; bearers: string[]; close(): Promise<void> }> {
  const bearers: string[] = []
  const server: Server = createHttpServer((request, response) => {
    if (request.url === '/stale') bearers.push((request.headers.authorization ?? '').replace(/^Bearer /, ''))
    const [status, challenge] =
      request.url === '/stale' ? [401, 'Bearer realm="api", error="invalid_token"']
        : request.url === '/scope' ? [403, 'Bearer realm="api", error="insufficient_scope", scope="orders:write"']
          : [401, 'Bearer realm="api"']
    response.writeHead(status, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    bearers,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
