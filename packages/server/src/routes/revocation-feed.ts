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
import { ENDPOINTS } from 'hallpass/http'
import { compareFeedCursors, readFeed, type RevocationEntry } from 'hallpass'
import type { ServerContext } from '../context.ts'
import { addressGroup } from '../feed-slots.ts'
import { authenticateClient } from '../request-auth.ts'
import { SECURITY_HEADERS } from '../security-headers.ts'

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
  // A hub that cannot read the store cannot make any stream complete: end them, so that
  // verifiers count the time as stale rather than hear heartbeats over a feed that says nothing.
  const stopWatching = ctx.feed.onHealthChange((healthy) => {
    if (healthy) return
    for (const stream of streams) stream.destroy()
  })
  app.addHook('onClose', (_instance, done) => {
    stopWatching()
    done()
  })

  app.get<{ Querystring: { after?: string | string[] } }>(ENDPOINTS.revocations, { config: { errors: 'resource' } }, async (request, reply) => {
    // One cursor at most: a repeated `after` is a malformed request, not a choice to guess at.
    if (Array.isArray(request.query.after)) return reply.code(400).send({ error: 'invalid_request', error_description: 'Give at most one cursor' })
    if (ctx.config.revocationFeed.access === 'clients') {
      try {
        authenticateClient(ctx, request)
      } catch (error) {
        ctx.metrics.feedRefused.inc({ reason: 'unauthorized' })
        throw error
      }
    }
    if (!ctx.feed.healthy) {
      ctx.metrics.feedRefused.inc({ reason: 'store' })
      return reply.code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: 'The revocation feed cannot read its store' })
    }
    // Every connection reads the store (a snapshot, or a catch-up): a client reconnecting in a
    // loop is held to a rate, as logins and refreshes are.
    const decision = await ctx.limiter.consume(`feed-ip:${addressGroup(request.ip)}`, ctx.config.rateLimits.feedPerIp)
    if (!decision.allowed) {
      ctx.metrics.feedRefused.inc({ reason: 'rate' })
      return reply.code(429).header('retry-after', String(decision.retryAfterSeconds)).send({ error: 'rate_limited', error_description: 'Too many feed connections from this address' })
    }
    const slot = ctx.feedSlots.acquire(request.ip)
    if (typeof slot === 'string') {
      ctx.metrics.feedRefused.inc({ reason: slot })
      const description = slot === 'total' ? 'Too many feed subscribers' : 'Too many feed subscribers from this address'
      return reply.code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: description })
    }
    ctx.metrics.feedSubscribers.inc()

    const raw = reply.raw
    // Live entries that arrive while the store is read are held here; undefined once live.
    let backlog: RevocationEntry[] | undefined = []
    let lastSent: string | undefined
    let heartbeat: ReturnType<typeof setInterval> | undefined
    // Armed while the socket does not take more; disarmed by 'drain'.
    let stuck: ReturnType<typeof setTimeout> | undefined
    let bufferCheck: ReturnType<typeof setImmediate> | undefined
    let ended = false

    const end = (): void => {
      if (ended) return
      ended = true
      removeSink()
      slot.release()
      ctx.metrics.feedSubscribers.dec()
      if (heartbeat !== undefined) clearInterval(heartbeat)
      if (stuck !== undefined) clearTimeout(stuck)
      if (bufferCheck !== undefined) clearImmediate(bufferCheck)
      streams.delete(raw)
    }
    const drop = (reason: 'slow' | 'buffer' | 'backlog'): void => {
      if (ended) return
      ctx.metrics.feedDropped.inc({ reason })
      request.log.info({ reason }, 'revocation feed subscriber dropped')
      raw.destroy()
      end()
    }
    // A burst may sit in memory for a moment; a subscriber that stops reading may not. It is
    // dropped when it has not drained for the timeout, or when it still holds more than the
    // bound once the burst has had a turn of the event loop to leave (the socket is corked for
    // the rest of the tick, so a check in the middle of a burst would drop healthy readers).
    const write = (chunk: string): void => {
      if (ended || raw.writableEnded) return
      const accepted = raw.write(chunk)
      if (!accepted && stuck === undefined) {
        stuck = setTimeout(() => drop('slow'), limits.writeTimeoutMs)
        raw.once('drain', () => {
          clearTimeout(stuck)
          stuck = undefined
        })
      }
      if (raw.writableLength > limits.maxBufferedBytes && bufferCheck === undefined) {
        bufferCheck = setImmediate(() => {
          bufferCheck = undefined
          if (raw.writableLength > limits.maxBufferedBytes) drop('buffer')
        })
      }
    }
    const send = (entry: RevocationEntry): void => {
      if (lastSent !== undefined && (compareFeedCursors(entry.cursor, lastSent) ?? 1) <= 0) return
      lastSent = entry.cursor
      write(`id: ${entry.cursor}\nevent: revocation\ndata: ${JSON.stringify({ sid: entry.sid, exp: entry.exp })}\n\n`)
    }
    // Subscribe first, then read the store: nothing committed in between can be missed, and
    // what arrives twice is dropped by its cursor.
    const removeSink = ctx.feed.add((entry) => {
      if (backlog === undefined) return send(entry)
      backlog.push(entry)
      if (backlog.length > limits.maxBacklog) drop('backlog')
    })
    // Before the next await: a client that resets while the store is being read gives its
    // slot back at once, whatever state the reply is in. One that went away during the rate
    // check has closed already, and no close event will come.
    raw.once('close', end)
    if (request.raw.socket.destroyed) end()

    const requested = firstString(request.headers['last-event-id']) ?? firstString(request.query.after)
    try {
      const read = await readFeed(ctx.sessions.store, requested, {
        nowSeconds: Math.floor(ctx.now() / 1000),
        stopped: () => ended,
        // The first page is in: only now does the stream start, so a store that fails on the
        // first read is a plain 503.
        onStart: (start) => {
          ctx.metrics.feedStarts.inc({ mode: !start.snapshot ? 'resume' : start.reset === undefined ? 'snapshot' : `reset_${start.reset}` })
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
          if (start.snapshot && start.reset !== undefined) write(`event: reset\ndata: ${JSON.stringify({ reason: start.reset })}\n\n`)
          if (!start.snapshot) lastSent = requested
        },
        // The next page waits until the subscriber has taken this one (or `stuck` drops it).
        onPage: async (entries) => {
          entries.forEach(send)
          if (raw.writableNeedDrain) await drainedOrClosed(raw)
        },
      })
      if (ended || read.complete === undefined) return
      const held = backlog
      backlog = undefined
      held.forEach(send)
      if (ended) return
      // Resuming from here misses nothing: every entry up to it was sent, or had expired.
      if (lastSent === undefined || (compareFeedCursors(read.complete, lastSent) ?? -1) > 0) lastSent = read.complete
      write(`id: ${lastSent}\nevent: ready\ndata: ${JSON.stringify({ snapshot: read.start.snapshot, entries: read.entries })}\n\n`)
      if (ended) return
      heartbeat = setInterval(() => write(': keep-alive\n\n'), limits.heartbeatMs)
      heartbeat.unref()
    } catch (error) {
      if (!raw.headersSent && !reply.sent) {
        end()
        throw error
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
