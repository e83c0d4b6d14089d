// GET /auth/revocations under the conditions that broke it: a subscriber that arrives after the
// revocations (snapshot), clients that reset while the store is being read (slot leak), one
// address holding every slot, a subscriber that never reads, and a feed closed to anonymous
// clients. Over real sockets, on every store; second addresses are 127.0.0.2 and 127.0.0.3.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request, type IncomingMessage } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, FEED_EXP_MARGIN_SECONDS, type SessionStore } from 'hallpass'
import { assertError, CLIENT_ID, CLIENT_SECRET, metricValue, openSse, startServer, STORE_KINDS, storeSkipReason, type TestServer, resetStorm } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))

interface FeedConnection {
  readonly status: number
  readonly headers: IncomingMessage['headers']
  /** Parsed events so far, in order. */
  readonly events: Array<{ event: string | undefined; id: string | undefined; data: string }>
  /** Resolves once an event of `type` has arrived (or rejects after `timeoutMs`). */
  waitFor(type: string, timeoutMs?: number): Promise<void>
  /** Settles when the server ends the stream (read to its end, or cut). */
  readonly ended: Promise<void>
  close(): void
}

/** An SSE connection over node:http, from a chosen local address, that can stop reading. */
function openFeed(port: number, options: { localAddress?: string; headers?: Record<string, string>; read?: boolean } = {}): Promise<FeedConnection> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/auth/revocations', localAddress: options.localAddress, headers: { accept: 'text/event-stream', ...options.headers } }, (res) => {
      const events: FeedConnection['events'] = []
      let buffer = ''
      const waiters: Array<{ type: string; resolve: () => void }> = []
      if (options.read === false) res.pause()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = { event: undefined as string | undefined, id: undefined as string | undefined, data: '' }
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event.event = line.slice(7)
            else if (line.startsWith('id: ')) event.id = line.slice(4)
            else if (line.startsWith('data: ')) event.data = line.slice(6)
          }
          if (event.event !== undefined) events.push(event)
          for (const w of waiters.filter((w) => w.type === event.event)) w.resolve()
        }
      })
      res.on('error', () => undefined)
      const ended = new Promise<void>((done) => {
        res.once('end', () => done())
        res.once('close', () => done())
      })
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        waitFor(type, timeoutMs = 3000) {
          if (events.some((e) => e.event === type)) return Promise.resolve()
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs)
            waiters.push({ type, resolve: () => (clearTimeout(timer), done()) })
          })
        },
        ended,
        close: () => req.destroy(),
      })
    })
    req.on('error', reject)
    req.end()
  })
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await delay(20)
  }
}

async function logoutMany(server: TestServer, count: number): Promise<string[]> {
  const sids: string[] = []
  for (let i = 0; i < count; i++) {
    const session = await server.mint(`feed-user-${i}`)
    assert.equal((await server.request('/auth/logout', { json: { refresh_token: session.refresh_token } })).status, 204)
    sids.push(session.session_id)
  }
  return sids
}

for (const kind of STORE_KINDS) {
  describe(`revocation feed at every edge (${kind})`, { skip: skips.get(kind) ?? false }, () => {
    let server: TestServer
    before(async () => {
      server = await startServer(kind, { config: { revocationFeed: { maxSubscribers: 40, maxSubscribersPerAddress: 30 } } })
    })
    after(async () => {
      await server?.close()
    })

    test('a subscriber that arrives after the logouts gets every one of them before ready; long-expired ones are left out', async () => {
      const expired = await logoutMany(server, 1)
      // Past that entry's exp (lifetime, tolerance and grace window) and the margin a verifier's
      // own tolerance may need, on the server's clock.
      const pastExp = server.config.accessTokenTtlSeconds + DEFAULT_CLOCK_TOLERANCE_SECONDS + server.config.reuseWindowSeconds
      server.advanceClock((pastExp + FEED_EXP_MARGIN_SECONDS + 5) * 1000)
      const recent = await logoutMany(server, 1)
      // Past this one's exp, but within the margin: a verifier may still accept its tokens.
      server.advanceClock((pastExp + 5) * 1000)
      const sids = [...recent, ...(await logoutMany(server, 24))]
      const feed = await openSse(`${server.url}/auth/revocations`)
      try {
        const ready = await feed.next(3000, 'ready')
        assert.ok(ready !== undefined)
        const snapshot = feed.skipped.filter((e) => e.event === 'revocation').map((e) => JSON.parse(e.data).sid as string)
        assert.deepEqual(snapshot, sids)
        assert.ok(!snapshot.includes(expired[0]!), 'an entry past its exp is not part of the snapshot')
        assert.deepEqual(JSON.parse(ready.data), { snapshot: true, entries: 25 })
        assert.equal(await server.metric('hallpass_feed_starts_total', { mode: 'snapshot' }) >= 1, true)
      } finally {
        feed.close()
      }
    })

    test('clients that reset while the store is being read give their slot back (no slot leak)', async () => {
      const cursor = await server.ctx.sessions.store.headCursor()
      const payload = `GET /auth/revocations HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: ${cursor}\r\n\r\n`
      // More resets than there are slots: a single leaked slot per reset would exhaust them.
      // Resets after a varying number of event-loop turns land inside the route's awaits.
      await resetStorm(server.port, payload, 300, 6)
      await until(() => server.ctx.feedSlots.size === 0, 'every slot given back')
      await until(async () => (await server.metric('hallpass_feed_subscribers')) === 0, 'the subscriber gauge at 0')
      assert.equal(server.ctx.feed.size, 0, 'no sink left in the hub')
      // The feed still serves.
      const feed = await openFeed(server.port)
      try {
        assert.equal(feed.status, 200)
        await feed.waitFor('ready')
      } finally {
        feed.close()
      }
    })

    test('one address cannot take every slot: a second address still subscribes', async () => {
      const held: FeedConnection[] = []
      try {
        for (let i = 0; i < 30; i++) held.push(await openFeed(server.port, { localAddress: '127.0.0.1' }))
        assert.ok(held.every((c) => c.status === 200))
        const refused = await openFeed(server.port, { localAddress: '127.0.0.1' })
        assert.equal(refused.status, 503)
        assert.equal(refused.headers['retry-after'], '5')
        refused.close()
        const other = await openFeed(server.port, { localAddress: '127.0.0.2' })
        held.push(other)
        assert.equal(other.status, 200)
        await other.waitFor('ready')
        assert.equal(await server.metric('hallpass_feed_refused_total', { reason: 'address' }), 1)
        // The total bound: 40 slots, 31 held; a third address fills them, then is refused.
        for (let i = 0; i < 9; i++) held.push(await openFeed(server.port, { localAddress: '127.0.0.3' }))
        const full = await openFeed(server.port, { localAddress: '127.0.0.3' })
        assert.equal(full.status, 503)
        full.close()
        assert.equal(await server.metric('hallpass_feed_refused_total', { reason: 'total' }), 1)
        // A slot given back is a slot for the next subscriber.
        held.shift()!.close()
        await until(() => server.ctx.feedSlots.size === 39, 'the closed slot to come back')
        const again = await openFeed(server.port, { localAddress: '127.0.0.1' })
        held.push(again)
        assert.equal(again.status, 200)
      } finally {
        for (const c of held) c.close()
        await until(() => server.ctx.feedSlots.size === 0, 'every slot given back')
      }
    })
  })
}

describe('revocation feed: a subscriber that does not read is dropped (sqlite)', () => {
  let server: TestServer
  before(async () => {
    // The write timeout leaves a reader that is merely slow (a loaded CI machine) time to drain
    // a burst: only the subscriber that does not read at all may be dropped.
    server = await startServer('sqlite', { revocationFeed: { maxBufferedBytes: 1024 * 1024, writeTimeoutMs: 3000 } })
  })
  after(async () => {
    await server?.close()
  })

  /**
   * Appends `count` feed entries straight into the database, as another process would (the
   * server's store finds them by polling): thousands of logouts at once.
   */
  function appendRevocations(count: number, exp: number): void {
    const db = new Database(server.databaseUrl.slice('sqlite:'.length))
    try {
      const insert = db.prepare(
        `INSERT INTO hallpass_revocations (seq, sid, exp, revoked_at, reason)
         VALUES (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'hallpass_revocations'), 0) + 1, ?, ?, ?, 'bulk')`,
      )
      db.transaction(() => {
        for (let i = 0; i < count; i++) insert.run(`bulk-${randomBytes(8).toString('hex')}-${'x'.repeat(40)}`, exp, Date.now())
      })()
    } finally {
      db.close()
    }
  }
  const dropped = async (): Promise<number> => (await server.metric('hallpass_feed_dropped_total', { reason: 'slow' })) + (await server.metric('hallpass_feed_dropped_total', { reason: 'buffer' }))

  test('live: a subscriber that stops reading is cut off, one that reads gets every burst', async () => {
    const stalled = await openFeed(server.port, { read: false })
    const reader = await openFeed(server.port)
    const exp = Math.floor(Date.now() / 1000) + 600
    let sent = 0
    try {
      assert.equal(stalled.status, 200)
      await reader.waitFor('ready')
      // Bursts of ~0.6 MB: each fits the 1 MiB bound, and the reader drains it before the
      // next. The stalled socket fills the kernel's buffers, then the bound or the timeout.
      for (let burst = 0; burst < 60 && (await dropped()) === 0; burst++) {
        appendRevocations(5000, exp)
        sent += 5000
        await until(() => reader.events.filter((e) => e.event === 'revocation').length >= sent, 'the burst at the reader', 20_000)
        assert.equal(reader.events.filter((e) => e.event === 'revocation').length, sent, 'each entry once')
      }
      assert.equal(await dropped(), 1, 'the stalled subscriber was dropped')
      // (The stalled client itself notices nothing until it reads again: it is not reading.)
      assert.equal(reader.events.filter((e) => e.event === 'revocation').length, sent)
      await until(() => server.ctx.feedSlots.size === 1, 'the dropped slot to come back')
    } finally {
      stalled.close()
      reader.close()
    }
  })

  test('snapshot: a subscriber that does not take it within the write timeout is dropped', async () => {
    // The feed now holds ~tens of MB of live entries: far more than a socket buffers.
    const before = await dropped()
    const stalled = await openFeed(server.port, { read: false })
    try {
      assert.equal(stalled.status, 200)
      await until(async () => (await dropped()) === before + 1, 'the drop after the write timeout', 15_000)
      await until(() => server.ctx.feedSlots.size === 0, 'the slot to come back')
    } finally {
      stalled.close()
    }
  })
})

describe('revocation feed: bursts, rates and a store that cannot be read (sqlite)', () => {
  let server: TestServer
  before(async () => {
    server = await startServer('sqlite', {
      config: { rateLimits: { feedPerIp: { max: 25, window: '1m' } } },
      revocationFeed: { maxBufferedBytes: 2000 },
    })
  })
  after(async () => {
    await server?.close()
  })

  test('a burst larger than the buffer bound does not drop subscribers that read it', async () => {
    await logoutMany(server, 30) // a snapshot of ~3 kB, written in one go
    const readers = await Promise.all(Array.from({ length: 20 }, () => openFeed(server.port)))
    try {
      await Promise.all(readers.map((r) => r.waitFor('ready')))
      assert.ok(readers.every((r) => r.events.filter((e) => e.event === 'revocation').length === 30))
      assert.equal(await server.metric('hallpass_feed_dropped_total'), 0)
    } finally {
      for (const r of readers) r.close()
    }
  })

  test('each connection reads the store: past the per-address rate, 429 with Retry-After', async () => {
    // 20 connections above, these bring it to the limit of 25.
    const held = await Promise.all(Array.from({ length: 5 }, () => openFeed(server.port)))
    try {
      const refused = await openFeed(server.port)
      assert.equal(refused.status, 429)
      assert.ok(Number(refused.headers['retry-after']) > 0)
      refused.close()
      // Another address has its own count.
      const other = await openFeed(server.port, { localAddress: '127.0.0.2' })
      assert.equal(other.status, 200)
      other.close()
    } finally {
      for (const c of held) c.close()
    }
  })

  test('a store the hub cannot read: every stream ends, new ones get 503; readable again, streams come back', async () => {
    const store = server.ctx.sessions.store
    const headCursor = store.headCursor.bind(store)
    const feed = await openFeed(server.port, { localAddress: '127.0.0.3' })
    await feed.waitFor('ready')
    let ended = false
    feed.ended.then(() => (ended = true), () => (ended = true))
    ;(store as { headCursor: SessionStore['headCursor'] }).headCursor = () => Promise.reject(new Error('connection refused'))
    try {
      await until(() => ended, 'the stream to end when the hub turns unhealthy')
      const refused = await openFeed(server.port, { localAddress: '127.0.0.3' })
      assert.equal(refused.status, 503)
      refused.close()
    } finally {
      ;(store as { headCursor: SessionStore['headCursor'] }).headCursor = headCursor
    }
    await until(() => server.ctx.feed.healthy, 'the hub healthy again')
    const back = await openFeed(server.port, { localAddress: '127.0.0.3' })
    try {
      assert.equal(back.status, 200)
      await back.waitFor('ready')
    } finally {
      back.close()
    }
  })
})

describe('revocation feed closed to anonymous clients (revocationFeed.access: clients)', () => {
  let server: TestServer
  before(async () => {
    server = await startServer('sqlite', { config: { revocationFeed: { access: 'clients' } } })
  })
  after(async () => {
    await server?.close()
  })

  test('no, wrong or prototype-named credentials: 401 invalid_client with a Basic challenge; a client or the admin key: the stream', async () => {
    for (const options of [{}, { basic: { id: CLIENT_ID, secret: 'wrong' } }, { basic: { id: 'constructor', secret: 'x' } }, { bearer: 'not-the-admin-key' }]) {
      const res = await server.request('/auth/revocations', options)
      assertError(res, 401, 'invalid_client')
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="hallpass"')
    }
    assert.equal(await server.metric('hallpass_feed_refused_total', { reason: 'unauthorized' }), 4)
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`
    for (const authorization of [basic, `Bearer ${server.adminKey}`]) {
      const feed = await openSse(`${server.url}/auth/revocations`, { authorization })
      try {
        assert.equal(feed.status, 200)
        assert.ok(await feed.next(2000, 'ready'))
      } finally {
        feed.close()
      }
    }
  })
})

describe('every response carries the security headers', () => {
  let server: TestServer
  before(async () => {
    server = await startServer('sqlite', { config: { corsOrigins: ['https://app.example.com'] } })
  })
  after(async () => {
    await server?.close()
  })

  test('JSON, errors, the router\'s own rejections, CORS preflights and the event stream', async () => {
    const expected = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" }
    const responses = [
      await server.request('/healthz'),
      await server.request('/nope'),
      await server.request('/auth/login', { body: '{bad json', headers: { 'content-type': 'application/json' } }),
      await server.request('/auth/me'),
      await server.request('/%E0%A4%A'),
      await server.request('/auth/login', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } }),
    ]
    for (const res of responses) {
      for (const [name, value] of Object.entries(expected)) assert.equal(res.headers.get(name), value, `${res.status} ${name}`)
    }
    const feed = await openFeed(server.port)
    try {
      for (const [name, value] of Object.entries(expected)) assert.equal(feed.headers[name], value, `stream ${name}`)
    } finally {
      feed.close()
    }
    assert.equal(metricValue((await server.request('/metrics')).text, 'hallpass_feed_subscribers') >= 0, true)
  })
})
