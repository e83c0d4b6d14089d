// The signed-in user's own view: who am I, my sessions (devices), revoke one of them.
import type { FastifyInstance } from 'fastify'
import { ENDPOINTS } from 'hallpass/http'
import type { SessionInfo } from 'hallpass'
import type { ServerContext } from '../context.ts'
import { HttpProblem } from '../errors.ts'
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
  const bearerProtected = { config: { errors: 'resource' } } as const

  app.get(ENDPOINTS.me, bearerProtected, async (request, reply) => {
    const { claims } = await authenticateUser(ctx, request)
    return reply.header('cache-control', 'no-store').send({
      sub: claims.sub,
      sid: claims.sid,
      scope: claims.scope ?? null,
      exp: claims.exp,
      claims,
    })
  })

  app.get(ENDPOINTS.sessions, bearerProtected, async (request, reply) => {
    const auth = await authenticateUser(ctx, request)
    const sessions = await ctx.sessions.list(auth.claims.sub)
    return reply.header('cache-control', 'no-store').send({ sessions: sessions.map((s) => describeSession(s, auth.claims.sid)) })
  })

  app.delete<{ Params: { id: string } }>(
    `${ENDPOINTS.sessions}/:id`,
    {
      ...bearerProtected,
      schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } }, required: ['id'] } },
    },
    async (request, reply) => {
      const auth = await authenticateUser(ctx, request)
      const session = await ctx.sessions.get(request.params.id)
      // Another user's session is indistinguishable from a missing one.
      if (session === undefined || session.subject !== auth.claims.sub) throw new HttpProblem(404, 'not_found', 'No such session')
      const result = await ctx.sessions.revoke(session.id, 'user_revoked')
      if (result.revoked) ctx.metrics.revocations.inc({ reason: 'user_revoked' })
      return reply.code(204).send()
    },
  )
}
