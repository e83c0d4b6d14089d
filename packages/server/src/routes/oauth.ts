// RFC 7662 token introspection and RFC 7009 token revocation, for confidential clients.
// Bodies are form-encoded (the RFCs' wire format) or JSON.
import type { FastifyInstance } from 'fastify'
import { isHallpassError } from 'hallpass/errors'
import { REFRESH_TOKEN_PREFIX } from 'hallpass'
import type { ServerContext } from '../context.ts'
import { authenticateClient } from '../request-auth.ts'

const tokenSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['token'],
    properties: {
      token: { type: 'string', minLength: 1, maxLength: 16_384 },
      token_type_hint: { type: 'string', maxLength: 64 },
    },
  },
}

export function registerOAuthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: { token: string; token_type_hint?: string } }>('/oauth/introspect', { schema: tokenSchema }, async (request, reply) => {
    authenticateClient(ctx, request)
    reply.header('cache-control', 'no-store')
    const { token } = request.body
    if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
      const inspected = await ctx.sessions.inspectRefreshToken(token)
      if (!inspected.active) return reply.send({ active: false })
      const s = inspected.session
      return reply.send({
        active: true,
        token_type: 'refresh_token',
        sub: s.subject,
        sid: s.id,
        iss: ctx.config.issuer,
        exp: Math.floor(Math.min(s.expiresAt, s.idleExpiresAt) / 1000),
        iat: Math.floor(s.createdAt / 1000),
        ...(s.scope !== null ? { scope: s.scope } : {}),
      })
    }
    try {
      const { claims } = ctx.sessions.verifyAccessToken(token)
      const session = await ctx.sessions.get(claims.sid!)
      if (session === undefined || session.revokedAt !== null) return reply.send({ active: false })
      return reply.send({ ...claims, active: true, token_type: 'access_token' })
    } catch (error) {
      if (!isHallpassError(error) || error.family !== 'credential') throw error
      // RFC 7662 §2.2: any invalid token is just inactive, with no reason given.
      return reply.send({ active: false })
    }
  })

  app.post<{ Body: { token: string; token_type_hint?: string } }>('/oauth/revoke', { schema: tokenSchema }, async (request, reply) => {
    authenticateClient(ctx, request)
    const { token } = request.body
    let sessionId: string | undefined
    if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
      const inspected = await ctx.sessions.inspectRefreshToken(token)
      if (inspected.active) sessionId = inspected.session.id
    } else {
      try {
        sessionId = ctx.sessions.verifyAccessToken(token).claims.sid
      } catch (error) {
        if (!isHallpassError(error) || error.family !== 'credential') throw error
      }
    }
    if (sessionId !== undefined) {
      const result = await ctx.sessions.revoke(sessionId, 'oauth_revoke')
      if (result.revoked) ctx.metrics.revocations.inc({ reason: 'oauth_revoke' })
    }
    // RFC 7009 §2.2: 200 whether or not the token was valid, so it cannot be probed.
    return reply.code(200).header('cache-control', 'no-store').send()
  })
}
