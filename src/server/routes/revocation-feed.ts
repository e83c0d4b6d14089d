// GET /auth/revocations: the revocation feed as Server-Sent Events. Each event is
// `id: <cursor>`, `event: revocation`, `data: {"sid","exp"}`. A verifier reconnecting with
// `Last-Event-ID` (or `?after=`) first receives everything after that cursor, then live events.
// Entries carry only session ids and expiry times; nothing in them lets anyone act on a session.
import type { FastifyInstance } from 'fastify'
import type { RevocationEntry } from '../../session/index.ts'
import type { ServerContext } from '../context.ts'
import { isHallpassError } from '../../errors.ts'
import { sendUnknownError } from '../errors.ts'
import { compareCursors, isCursor } from '../revocation-hub.ts'

const CATCH_UP_PAGE = 1000
const HEARTBEAT_MS = 15_000
const MAX_SUBSCRIBERS = 10_000

export function registerRevocationFeed(app: FastifyInstance, ctx: ServerContext): void {
  // Streams never finish on their own, so `app.close()` would wait for them until a forced
  // close: end them first (subscribers reconnect, to another instance, with Last-Event-ID).
  const streams = new Set<{ end(): void }>()
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end()
    done()
  })

  app.get<{ Querystring: { after?: string } }>('/auth/revocations', async (request, reply) => {
    const lastEventId = request.headers['last-event-id']
    const requested = typeof lastEventId === 'string' ? lastEventId : request.query.after
    if (requested !== undefined && !isCursor(requested)) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'Malformed Last-Event-ID' })
    }
    if (ctx.feed.size >= MAX_SUBSCRIBERS) return reply.code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: 'Too many feed subscribers' })

    let lastSent = requested
    let live = false
    const pending: RevocationEntry[] = []
    // Subscribe first, then catch up: nothing committed in between can be missed. (`send` is
    // defined once the stream has started, before `live` becomes true.)
    const remove = ctx.feed.add((entry) => (live ? send(entry) : pending.push(entry)))

    // The first catch-up page is read before the stream starts: a cursor of another store's
    // shape (or out of its range) is then a plain 400. Once a 200 stream had begun, the only
    // answer left would be to end it, and an EventSource would retry the same cursor forever.
    let firstPage: readonly RevocationEntry[] = []
    if (requested !== undefined) {
      try {
        firstPage = await ctx.sessions.store.readRevocations(requested, CATCH_UP_PAGE)
      } catch (error) {
        remove()
        if (isHallpassError(error) && error.code === 'ERR_SESSION_INPUT_INVALID') {
          return reply.code(400).send({ error: 'invalid_request', error_description: 'Malformed Last-Event-ID' })
        }
        return sendUnknownError(reply, error, 'resource')
      }
    }

    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    // Tell EventSource clients how long to wait before reconnecting.
    raw.write('retry: 1000\n\n')

    const send = (entry: RevocationEntry): void => {
      if (lastSent !== undefined && compareCursors(entry.cursor, lastSent) <= 0) return
      lastSent = entry.cursor
      raw.write(`id: ${entry.cursor}\nevent: revocation\ndata: ${JSON.stringify({ sid: entry.sid, exp: entry.exp })}\n\n`)
    }
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS)
    heartbeat.unref()
    streams.add(raw)
    const close = (): void => {
      clearInterval(heartbeat)
      streams.delete(raw)
      remove()
    }
    raw.on('close', close)
    raw.on('error', close)

    try {
      if (requested !== undefined) {
        let page = firstPage
        for (;;) {
          page.forEach(send)
          if (page.length < CATCH_UP_PAGE) break
          page = await ctx.sessions.store.readRevocations(page.at(-1)!.cursor, CATCH_UP_PAGE)
        }
      } else {
        // A new subscriber starts from now. Give it the feed's position as an event id, so that
        // after a disconnect its Last-Event-ID catches up on revocations made meanwhile even if
        // it had seen none (without it, a reconnect would start from "now" again and miss them).
        // Entries already buffered since subscribing follow; a duplicate is harmless to a denylist.
        const head = await ctx.sessions.store.headCursor()
        raw.write(`id: ${head}\nevent: ready\ndata: {}\n\n`)
      }
      pending.forEach(send)
      live = true
    } catch (error) {
      request.log.error({ err: error }, 'revocation feed catch-up failed')
      raw.end()
      close()
    }
  })
}
