// A tiny issuer on a real socket, controlled by the test: discovery, a JWKS (with failure
// modes) and an SSE revocation feed that numbers its events and replays after Last-Event-ID,
// as hallpass serve does. It counts requests and records the Last-Event-ID headers it saw.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportPublicJwk, generateKey, signJwt, type JwsKey, type JwtClaims } from '../../../src/index.ts'

export type JwksMode = 'ok' | 'down' | 'slow' | 'garbage' | 'huge' | 'huge-declared' | 'no-usable-keys' | 'redirect'

export interface TestIssuer {
  readonly url: string
  /** The signing keys whose public halves the JWKS publishes, in order. */
  keys: JwsKey[]
  jwksMode: JwksMode
  jwksCacheControl: string | undefined
  /** Extra members for the discovery document (e.g. another `issuer`). */
  discoveryOverrides: Record<string, unknown>
  /**
   * `ok`: as hallpass serve (snapshot or catch-up, then `ready`, then live); `down`: 503;
   * `stalled`: the stream opens but never says `ready` (a catch-up that does not finish);
   * `strict`: a cursor it does not know gets a 400 instead of a snapshot.
   */
  feedMode: 'ok' | 'down' | 'stalled' | 'strict'
  /** The Authorization header of each feed connection, in order. */
  readonly feedAuthorizations: Array<string | undefined>
  readonly requests: { discovery: number; jwks: number; feed: number; other: number }
  /** JWKS responses the client hung up on before they were complete. */
  readonly abortedResponses: number
  /** Bytes of the last huge JWKS body written before the client hung up. */
  readonly hugeBytesSent: number
  /** The Last-Event-ID header of each feed connection, in order (undefined when absent). */
  readonly lastEventIds: Array<string | undefined>
  /** Open SSE connections. */
  readonly feedConnections: number
  /** Appends a revocation to the feed log and pushes it to every open connection. */
  revoke(sid: string, exp: number): string
  /** Drops the catch-up log (cursors keep counting): memory tests measure the verifier alone. */
  forgetHistory(): void
  /** Writes raw text to every open feed connection (hostile-server tests). */
  writeRaw(text: string): void
  /** Ends every open feed connection. */
  dropFeed(): void
  /** Resolves once `n` feed connections have been made in total. */
  waitForFeedConnections(n: number): Promise<void>
  sign(claims: JwtClaims, key?: JwsKey, typ?: string): string
  close(): Promise<void>
}

export async function startIssuer(options: { keys?: JwsKey[] } = {}): Promise<TestIssuer> {
  let log: Array<{ cursor: string; sid: string; exp: number }> = []
  let lastCursor = 0
  const clients = new Set<ServerResponse>()
  const waiters: Array<{ n: number; resolve: () => void }> = []
  let url = ''
  let aborted = 0
  let hugeSent = 0

  const issuer: TestIssuer = {
    get url() {
      return url
    },
    keys: options.keys ?? [generateKey('ES256', { kid: 'k1' })],
    jwksMode: 'ok',
    jwksCacheControl: 'public, max-age=300',
    discoveryOverrides: {},
    feedMode: 'ok',
    requests: { discovery: 0, jwks: 0, feed: 0, other: 0 },
    get abortedResponses() {
      return aborted
    },
    get hugeBytesSent() {
      return hugeSent
    },
    lastEventIds: [],
    feedAuthorizations: [],
    get feedConnections() {
      return clients.size
    },
    revoke(sid, exp) {
      const cursor = String(++lastCursor)
      log.push({ cursor, sid, exp })
      for (const res of clients) res.write(event(cursor, sid, exp))
      return cursor
    },
    forgetHistory() {
      log = []
    },
    writeRaw(text) {
      for (const res of clients) res.write(text)
    },
    dropFeed() {
      for (const res of clients) res.destroy()
      clients.clear()
    },
    waitForFeedConnections(n) {
      if (issuer.requests.feed >= n) return Promise.resolve()
      return new Promise((resolve) => waiters.push({ n, resolve }))
    },
    sign(claims, key = issuer.keys[0]!, typ) {
      return signJwt(claims, key, typ === undefined ? {} : { typ })
    },
    close() {
      issuer.dropFeed()
      return new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }

  const event = (cursor: string, sid: string, exp: number): string => `id: ${cursor}\nevent: revocation\ndata: ${JSON.stringify({ sid, exp })}\n\n`

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/.well-known/openid-configuration') {
      issuer.requests.discovery++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({
        issuer: url,
        jwks_uri: `${url}/.well-known/jwks.json`,
        hallpass_revocation_feed: `${url}/auth/revocations`,
        ...issuer.discoveryOverrides,
      }))
      return
    }
    if (path === '/.well-known/jwks.json') {
      issuer.requests.jwks++
      res.on('close', () => {
        if (!res.writableFinished) aborted++
      })
      serveJwks(res)
      return
    }
    if (path === '/auth/revocations') {
      issuer.requests.feed++
      serveFeed(req, res)
      for (const w of waiters.filter((w) => issuer.requests.feed >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
      return
    }
    issuer.requests.other++
    res.writeHead(404).end()
  }

  function serveJwks(res: ServerResponse): void {
    const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' }
    if (issuer.jwksCacheControl !== undefined) headers['cache-control'] = issuer.jwksCacheControl
    switch (issuer.jwksMode) {
      case 'ok':
        res.writeHead(200, headers).end(JSON.stringify({ keys: issuer.keys.map((k) => exportPublicJwk(k)) }))
        return
      case 'down':
        res.writeHead(500).end('internal error')
        return
      case 'slow':
        // Headers, then nothing: the body never completes.
        res.writeHead(200, headers)
        res.write('{"keys":[')
        return
      case 'garbage':
        res.writeHead(200, headers).end('<html>not json</html>')
        return
      case 'no-usable-keys':
        res.writeHead(200, headers).end(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'bad' }] }))
        return
      case 'redirect':
        res.writeHead(302, { location: 'https://attacker.example/jwks.json' }).end()
        return
      case 'huge':
      case 'huge-declared': {
        // 10 MB of valid-looking JSON, chunked (or with its length declared up front).
        const chunk = Buffer.alloc(64 * 1024, 0x20)
        const total = 10 * 1024 * 1024
        if (issuer.jwksMode === 'huge-declared') headers['content-length'] = String(total)
        res.writeHead(200, headers)
        let sent = 0
        const pump = (): void => {
          while (sent < total) {
            if (res.destroyed) return
            sent += chunk.length
            hugeSent = sent
            if (!res.write(chunk)) {
              res.once('drain', pump)
              return
            }
          }
          res.end()
        }
        res.on('error', () => undefined)
        pump()
        return
      }
    }
  }

  function serveFeed(req: IncomingMessage, res: ServerResponse): void {
    const header = req.headers['last-event-id']
    const lastEventId = typeof header === 'string' ? header : undefined
    issuer.lastEventIds.push(lastEventId)
    issuer.feedAuthorizations.push(req.headers.authorization)
    if (issuer.feedMode === 'down') {
      res.writeHead(503, { 'retry-after': '1' }).end()
      return
    }
    const resumable = lastEventId !== undefined && /^[0-9]+$/.test(lastEventId) && Number(lastEventId) <= lastCursor
    if (lastEventId !== undefined && !resumable && issuer.feedMode === 'strict') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_request"}')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' })
    res.write('retry: 1000\n\n')
    clients.add(res)
    res.on('close', () => clients.delete(res))
    if (issuer.feedMode === 'stalled') return
    if (lastEventId !== undefined && !resumable) res.write('event: reset\ndata: {"reason":"foreign"}\n\n')
    const nowSeconds = Math.floor(Date.now() / 1000)
    const entries = resumable ? log.filter((e) => Number(e.cursor) > Number(lastEventId)) : log.filter((e) => e.exp >= nowSeconds)
    for (const e of entries) res.write(event(e.cursor, e.sid, e.exp))
    res.write(`id: ${lastCursor}\nevent: ready\ndata: ${JSON.stringify({ snapshot: !resumable, entries: entries.length })}\n\n`)
  }

  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return issuer
}

/** Standard claims of a valid access token for `issuer`, `exp` relative to `nowMs`. */
export function accessClaims(issuer: string, nowMs: number, extra: JwtClaims = {}): JwtClaims {
  const now = Math.floor(nowMs / 1000)
  return { iss: issuer, sub: 'user-1', aud: 'orders', iat: now, exp: now + 600, jti: `j${Math.random()}`, sid: 'sid-1', scope: 'orders:read', ...extra }
}

/** Polls `condition` (real time) until it holds, or fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
