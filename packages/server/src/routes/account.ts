// The signed-in user's own view: who am I, my sessions (devices), revoke one of them.
import type { FastifyInstance } from 'fastify'
import type { SessionInfo } from 'hallpass'
import type { ServerContext } from '../context.ts'
import { sendUnknownError } from '../errors.ts'
import { authenticateUser } from '../request-auth.ts'

function describeSession(session: SessionInfo, currentId: string): Record<string, unknown> {
  return {
    id: session.id,
    current: session.id === currentId,
    created_at: new Date(session.createdAt).toISOString(),
    last_seen_at: new Date(session.lastSeenAt).toISOString(),
    expires_at: new Date(Math.min(session.expiresAt, session.idleExpiresAt)).toISOString(),
    device: session.device,
  }
}

export function registerAccountRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/auth/me', async (request, reply) => {
    try {
      const auth = await authenticateUser(ctx, request, reply)
      if (auth === undefined) return reply
      const { claims } = auth
      return await reply.header('cache-control', 'no-store').send({
        sub: claims.sub,
        sid: claims.sid,
        scope: claims.scope ?? null,
        exp: claims.exp,
        claims,
      })
    } catch (error) {
      return sendUnknownError(reply, error, 'resource')
    }
  })

  app.get('/auth/sessions', async (request, reply) => {
    try {
      const auth = await authenticateUser(ctx, request, reply)
      if (auth === undefined) return reply
      const sessions = await ctx.sessions.list(auth.claims.sub)
      return await reply.header('cache-control', 'no-store').send({ sessions: sessions.map((s) => describeSession(s, auth.claims.sid)) })
    } catch (error) {
      return sendUnknownError(reply, error, 'resource')
    }
  })

  app.delete<{ Params: { id: string } }>(
    '/auth/sessions/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } }, required: ['id'] } } },
    async (request, reply) => {
      try {
        const auth = await authenticateUser(ctx, request, reply)
        if (auth === undefined) return reply
        const session = await ctx.sessions.get(request.params.id)
        // Another user's session is indistinguishable from a missing one.
        if (session === undefined || session.subject !== auth.claims.sub) {
          return await reply.code(404).send({ error: 'not_found', error_description: 'No such session' })
        }
        const result = await ctx.sessions.revoke(session.id, 'user_revoked')
        if (result.revoked) ctx.metrics.revocations.inc({ reason: 'user_revoked' })
        return await reply.code(204).send()
      } catch (error) {
        return sendUnknownError(reply, error, 'resource')
      }
    },
  )
}
