/**
 * @module hallpass/server
 *
 * GET /auth/revocations: the revocation feed as Server-Sent Events.
 *
 * Every stream is complete before it is live. A subscriber that sends `Last-Event-ID` (or
 * `?after=`) first receives what it missed; one that sends none, or a cursor this store cannot
 * resume from (another store's epoch, ahead of the feed after a restore, malformed), receives a
 * snapshot of every revocation whose `exp` has not passed, after an `event: reset` that says
 * why. Then comes `event: ready`, whose `id` is where to resume, then live entries:
 *
 *     retry: 1000
 *
 *     event: reset                     (only when a cursor could not be resumed from)
 *     data: {"reason":"foreign"}
 *
 *     id: <epoch>.<position>
 *     event: revocation
 *     data: {"sid":"…","exp":1767225600}
 *
 *     id: <epoch>.<position>
 *     event: ready
 *     data: {"snapshot":true,"entries":1}
 *
 * Entries carry only session ids and expiry times: nothing in them lets anyone act on a
 * session. What an anonymous feed reveals is when sessions end and how many (docs/design.md,
 * "The feed endpoint cannot be exhausted"); `revocationFeed.access: 'clients'` closes it to
 * HALLPASS_CLIENTS.
 *
 * The endpoint cannot be exhausted: subscribers are bounded in total and per address
 * (feed-slots.ts), a slot is given back on every path that ends a stream (the close listener is
 * attached before the first await), and a subscriber that does not read is dropped rather than
 * buffered without bound.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { isHallpassError } from 'hallpass/errors'
import { compareFeedCursors, parseFeedCursor, type RevocationEntry } from 'hallpass'
import type { ServerContext } from '../context.ts'
import { sendUnknownError } from '../errors.ts'
import { authenticateClient } from '../request-auth.ts'
import { SECURITY_HEADERS } from '../security-headers.ts'

const PAGE = 1000

/**
 * How a stream treats a subscriber that does not keep up. A dropped subscriber loses nothing:
 * it reconnects with its cursor and catches up, page by page, at the pace it reads.
 */
export interface FeedStreamLimits {
  /** Comment sent this often so that proxies and verifiers see a live connection. */
  readonly heartbeatMs: number
  /** Bytes a stream may hold unsent, bursts included, before the subscriber is dropped. */
  readonly maxBufferedBytes: number
  /** How long the stream may stay unable to take more before the subscriber is dropped. */
  readonly writeTimeoutMs: number
  /** Live entries held while a subscriber catches up before it is dropped instead. */
  readonly maxBacklog: number
}

export const FEED_STREAM_DEFAULTS: FeedStreamLimits = Object.freeze({
  heartbeatMs: 15_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  writeTimeoutMs: 30_000,
  maxBacklog: 100_000,
})

export function registerRevocationFeed(app: FastifyInstance, ctx: ServerContext, limits: FeedStreamLimits = FEED_STREAM_DEFAULTS): void {
  // Streams never finish on their own, so `app.close()` would wait for them until a forced
  // close: end them first (subscribers reconnect, to another instance, with Last-Event-ID).
  const streams = new Set<ServerResponse>()
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end()
    done()
  })

  app.get<{ Querystring: { after?: string | string[] } }>('/auth/revocations', async (request, reply) => {
    // One cursor at most: a repeated `after` is a malformed request, not a choice to guess at.
    if (Array.isArray(request.query.after)) return reply.code(400).send({ error: 'invalid_request', error_description: 'Give at most one cursor' })
    if (ctx.config.revocationFeed.access === 'clients' && (await authenticateClient(ctx, request, reply)) === undefined) {
      ctx.metrics.feedRefused.inc({ reason: 'unauthorized' })
      return reply
    }
    const slot = ctx.feedSlots.acquire(request.ip)
    if (typeof slot === 'string') {
      ctx.metrics.feedRefused.inc({ reason: slot })
      const description = slot === 'total' ? 'Too many feed subscribers' : 'Too many feed subscribers from this address'
      return reply.code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: description })
    }
    ctx.metrics.feedSubscribers.inc()

    const raw = reply.raw
    const store = ctx.sessions.store
    // Live entries that arrive while the store is read are held here; undefined once live.
    let backlog: RevocationEntry[] | undefined = []
    let lastSent: string | undefined
    let heartbeat: ReturnType<typeof setInterval> | undefined
    // Armed while the socket does not take more; disarmed by 'drain'.
    let stuck: ReturnType<typeof setTimeout> | undefined
    let ended = false

    const end = (): void => {
      if (ended) return
      ended = true
      removeSink()
      slot.release()
      ctx.metrics.feedSubscribers.dec()
      if (heartbeat !== undefined) clearInterval(heartbeat)
      if (stuck !== undefined) clearTimeout(stuck)
      streams.delete(raw)
    }
    const drop = (reason: 'slow' | 'buffer' | 'backlog'): void => {
      if (ended) return
      ctx.metrics.feedDropped.inc({ reason })
      request.log.info({ reason }, 'revocation feed subscriber dropped')
      raw.destroy()
      end()
    }
    // A burst may sit in memory for a moment; a subscriber that stops reading may not: it is
    // dropped when it holds more than the bound, or when it has not drained for the timeout.
    const write = (chunk: string): void => {
      if (ended) return
      if (raw.write(chunk) || stuck !== undefined) {
        if (raw.writableLength > limits.maxBufferedBytes) drop('buffer')
        return
      }
      stuck = setTimeout(() => drop('slow'), limits.writeTimeoutMs)
      raw.once('drain', () => {
        clearTimeout(stuck)
        stuck = undefined
      })
      if (raw.writableLength > limits.maxBufferedBytes) drop('buffer')
    }
    const writeEntry = (entry: RevocationEntry): void => {
      lastSent = entry.cursor
      write(`id: ${entry.cursor}\nevent: revocation\ndata: ${JSON.stringify({ sid: entry.sid, exp: entry.exp })}\n\n`)
    }
    // Subscribe first, then read the store: nothing committed in between can be missed, and
    // what arrives twice is dropped by its cursor.
    const removeSink = ctx.feed.add((entry) => {
      if (backlog === undefined) {
        if (lastSent === undefined || (compareFeedCursors(entry.cursor, lastSent) ?? 1) > 0) writeEntry(entry)
        return
      }
      backlog.push(entry)
      if (backlog.length > limits.maxBacklog) drop('backlog')
    })
    // Before the first await: a client that resets while the store is being read gives its
    // slot back at once, whatever state the reply is in.
    raw.once('close', end)

    try {
      const requested = firstString(request.headers['last-event-id']) ?? firstString(request.query.after)
      const nowSeconds = Math.floor(ctx.now() / 1000)
      const head = await store.headCursor()
      let mode = 'snapshot'
      let page: RevocationEntry[] | undefined
      if (requested !== undefined) {
        try {
          page = await store.readRevocations(requested, PAGE, nowSeconds)
          mode = 'resume'
          lastSent = requested
        } catch (error) {
          if (!isHallpassError(error, 'ERR_SESSION_INPUT_INVALID') || error.field !== 'cursor') throw error
          mode = `reset_${whyUnresumable(requested, head)}`
        }
      }
      page ??= await store.readRevocations(undefined, PAGE, nowSeconds)
      ctx.metrics.feedStarts.inc({ mode })
      reply.hijack()
      if (ended) return
      raw.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      streams.add(raw)
      // Tell EventSource clients how long to wait before reconnecting.
      write('retry: 1000\n\n')
      if (mode.startsWith('reset_')) write(`event: reset\ndata: ${JSON.stringify({ reason: mode.slice('reset_'.length) })}\n\n`)

      let entries = 0
      for (;;) {
        for (const entry of page) writeEntry(entry)
        entries += page.length
        if (page.length < PAGE) break
        // The next page waits until the subscriber has taken this one (or `stuck` drops it).
        if (raw.writableNeedDrain) await drainedOrClosed(raw)
        if (ended) return
        page = await store.readRevocations(page.at(-1)!.cursor, PAGE, nowSeconds)
        if (ended) return
      }
      const held = backlog
      backlog = undefined
      for (const entry of held) {
        if (lastSent === undefined || (compareFeedCursors(entry.cursor, lastSent) ?? 1) > 0) writeEntry(entry)
      }
      // Resuming from here misses nothing: every entry up to the head was sent, or had expired.
      lastSent = newer(lastSent, head)
      write(`id: ${lastSent}\nevent: ready\ndata: ${JSON.stringify({ snapshot: mode !== 'resume', entries })}\n\n`)
      heartbeat = setInterval(() => write(': keep-alive\n\n'), limits.heartbeatMs)
      heartbeat.unref()
    } catch (error) {
      if (!raw.headersSent && !reply.sent) {
        end()
        return sendUnknownError(reply, error, 'resource')
      }
      request.log.error({ err: error }, 'revocation feed catch-up failed')
      raw.destroy()
      end()
    }
  })
}

function firstString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** Why the store could not resume from a cursor, for the `reset` event and the metrics. */
function whyUnresumable(cursor: string, head: string): 'malformed' | 'foreign' | 'ahead' {
  const parsed = parseFeedCursor(cursor)
  if (parsed === undefined) return 'malformed'
  if (parsed.epoch !== parseFeedCursor(head)?.epoch) return 'foreign'
  // Of this feed, yet refused: past the head (a restored store), or not a position it makes.
  return (compareFeedCursors(cursor, head) ?? 0) > 0 ? 'ahead' : 'malformed'
}

/** The later of two cursors of one feed (`a` when they cannot be compared: it was sent last). */
function newer(a: string | undefined, b: string): string {
  if (a === undefined) return b
  return (compareFeedCursors(a, b) ?? 1) >= 0 ? a : b
}

/** Resolves when the stream can take more, or has closed (a dropped subscriber never drains). */
function drainedOrClosed(raw: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done)
      raw.off('close', done)
      resolve()
    }
    raw.on('drain', done)
    raw.on('close', done)
  })
}
