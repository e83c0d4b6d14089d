// GET /auth/events: a Server-Sent Events stream about the caller's own session. A page that
// holds a valid access token learns within a second that its session was revoked elsewhere
// (another device, an admin, a password reset) instead of when the token expires. The stream
// carries no token and no other session's facts: one `revoked` event, then it ends.
import type { FastifyInstance } from 'fastify'
import { ENDPOINTS } from 'hallpass/http'
import type { ServerContext } from '../context.ts'
import { HttpProblem } from '../errors.ts'
import { authenticateUser } from '../request-auth.ts'
import { SECURITY_HEADERS } from '../security-headers.ts'

const HEARTBEAT_MS = 15_000

export function registerSessionEvents(app: FastifyInstance, ctx: ServerContext): void {
  app.get(ENDPOINTS.events, { config: { errors: 'resource' } }, async (request, reply) => {
    const { claims } = await authenticateUser(ctx, request)
    // A hub that cannot read the store would hold the stream open and say nothing.
    if (!ctx.feed.healthy) throw new HttpProblem(503, 'temporarily_unavailable', 'Revocations cannot be followed right now', { 'retry-after': '5' })
    // Each stream holds a socket: bounded like the revocation feed's, per address and in all.
    const slot = ctx.feedSlots.acquire(request.ip)
    if (typeof slot === 'string') throw new HttpProblem(503, 'temporarily_unavailable', 'Too many event streams', { 'retry-after': '5' })
    const raw = reply.raw
    let ended = false
    // Set once the stream is live; `end` may run before that, so it cannot be a const declared there.
    // eslint-disable-next-line prefer-const
    let heartbeat: ReturnType<typeof setInterval> | undefined
    const end = (): void => {
      if (ended) return
      ended = true
      removeSink()
      stopWatchingHealth()
      slot.release()
      clearInterval(heartbeat)
      raw.end()
    }
    const revoked = (reason: string): void => {
      if (!ended) raw.write(`event: revoked\ndata: ${JSON.stringify({ reason })}\n\n`)
      end()
    }
    // Subscribe before looking at the session again: a revocation in between is not missed.
    const removeSink = ctx.feed.add((entry) => {
      if (entry.sid === claims.sid) revoked(entry.reason)
    })
    // The hub stopped reading the store: end the stream, the page reconnects when it is back.
    const stopWatchingHealth = ctx.feed.onHealthChange((healthy) => {
      if (!healthy) end()
    })
    raw.once('close', end)
    reply.hijack()
    // A client that went away while it was authenticated has closed already: no close event
    // will come, so its slot is given back here (else every such reset leaks one).
    if (request.raw.socket.destroyed) return end()
    raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    raw.write('retry: 1000\n\nevent: ready\ndata: {}\n\n')
    try {
      const session = await ctx.sessions.get(claims.sid)
      if (session === undefined || session.revokedAt !== null) return revoked(session?.revokeReason ?? 'revoked')
    } catch {
      return end()
    }
    // Closed, or revoked, while the session was read: no heartbeat for a stream that has ended.
    if (ended) return
    heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS)
    heartbeat.unref()
  })
}
