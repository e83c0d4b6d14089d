// Authentication of requests to the server itself: end users by access token (checked against
// the store too, so a revoked session is refused at once here), trusted backends by the admin
// API key, confidential clients (RFC 7662/7009) by HTTP Basic. Secrets compare in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { JwtClaims } from 'hallpass'
import { isHallpassError, SessionRevoked } from 'hallpass/errors'
import { bearerFailure, parseBearerHeader } from 'hallpass/http'
import type { ServerContext } from './context.ts'
import { HttpProblem, REALM } from './errors.ts'

export interface AuthenticatedRequest {
  readonly claims: JwtClaims & { sub: string; sid: string }
}

/** Compares two secrets in constant time (hashing first so lengths do not leak either). */
export function secretsEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b) && presented.length === expected.length
}

/**
 * Verifies the request's access token, or throws what the route answers (RFC 6750): a route
 * that calls this declares `config: { errors: 'resource' }`.
 */
export async function authenticateUser(ctx: ServerContext, request: FastifyRequest): Promise<AuthenticatedRequest> {
  const bearer = parseBearerHeader(request.headers.authorization)
  if (bearer.kind !== 'token') throw HttpProblem.of(bearerFailure(bearer, REALM))
  try {
    const { claims } = ctx.sessions.verifyAccessToken(bearer.token)
    const session = await ctx.sessions.get(claims.sid!)
    if (session === undefined || session.revokedAt !== null) throw new SessionRevoked(claims.sid!)
    return { claims: claims as AuthenticatedRequest['claims'] }
  } catch (error) {
    if (isHallpassError(error)) ctx.metrics.verifyFailures.inc({ code: error.code })
    throw error
  }
}

/** Requires `Authorization: Bearer <admin API key>`. */
export function requireAdmin(ctx: ServerContext, request: FastifyRequest): void {
  const key = ctx.config.adminApiKey
  if (key === undefined) throw new HttpProblem(404, 'not_found', 'Not found')
  const bearer = parseBearerHeader(request.headers.authorization)
  if (bearer.kind !== 'token' || !secretsEqual(bearer.token, key)) {
    throw new HttpProblem(401, 'invalid_client', 'Client authentication failed')
  }
}

/**
 * RFC 6749 §2.3.1 client authentication by HTTP Basic (or the admin key as a bearer), for the
 * introspection and revocation endpoints: the client's id, or a thrown 401 `invalid_client`.
 */
export function authenticateClient(ctx: ServerContext, request: FastifyRequest): string {
  const header = request.headers.authorization
  if (typeof header === 'string' && header.slice(0, 6).toLowerCase() === 'basic ') {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) {
      // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
      const id = safeDecode(decoded.slice(0, colon))
      const secret = safeDecode(decoded.slice(colon + 1))
      // Own members only: an id such as "constructor" or "__proto__" names no client, not a
      // member of Object.prototype.
      const expected = id !== undefined && Object.hasOwn(ctx.config.clients, id) ? ctx.config.clients[id] : undefined
      // Compare against something even for unknown ids, so timing does not tell them apart.
      const ok = secretsEqual(secret ?? '', expected ?? 'hallpass-unknown-client-placeholder-secret')
      if (ok && expected !== undefined && id !== undefined) return id
    }
  } else {
    const bearer = parseBearerHeader(header)
    if (bearer.kind === 'token' && ctx.config.adminApiKey !== undefined && secretsEqual(bearer.token, ctx.config.adminApiKey)) return 'admin'
  }
  throw new HttpProblem(401, 'invalid_client', 'Client authentication failed', { 'www-authenticate': `Basic realm="${REALM}"` })
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
