// The token endpoints: login, refresh, logout, logout-all, and the trusted-backend mint.
// Responses follow RFC 6749 §5.1 (`access_token`, `token_type`, `expires_in`, `refresh_token`)
// and errors §5.2. In browser mode the refresh token is in the `__Host-` cookie instead.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ENDPOINTS } from 'hallpass/http'
import { isHallpassError, SessionInputInvalid } from 'hallpass/errors'
import type { DeviceInfo, IssuedTokens } from 'hallpass'
import { normalizeUsername } from 'hallpass/users'
import { assertSameSiteRequest, clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../browser-transport.ts'
import type { ServerContext } from '../context.ts'
import { HttpProblem, sendTokenError } from '../errors.ts'
import { authenticateUser, requireAdmin } from '../request-auth.ts'

const TOKEN_BODY_LIMIT = 8 * 1024

const loginSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 128 },
      password: { type: 'string', minLength: 1, maxLength: 1024 },
      device_label: { type: 'string', maxLength: 128 },
      // One of the configured audiences, to narrow the session's tokens to it (required when
      // each token is encrypted to its audience and several are configured).
      audience: { type: 'string', minLength: 1, maxLength: 256 },
      grant_type: { const: 'password' },
    },
  },
}

const refreshSchema = {
  body: {
    anyOf: [
      { type: 'null' },
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          refresh_token: { type: 'string', minLength: 1, maxLength: 256 },
          grant_type: { const: 'refresh_token' },
        },
      },
    ],
  },
}

const mintSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['subject'],
    properties: {
      subject: { type: 'string', minLength: 1, maxLength: 256 },
      claims: { type: 'object' },
      scope: { type: 'string', maxLength: 1024 },
      audience: { anyOf: [{ type: 'string', maxLength: 256 }, { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: 16 }] },
      device: {
        type: 'object',
        additionalProperties: false,
        properties: { userAgent: { type: 'string', maxLength: 2048 }, ip: { type: 'string', maxLength: 64 }, label: { type: 'string', maxLength: 128 } },
      },
    },
  },
}

export function deviceOf(request: FastifyRequest, label?: string): DeviceInfo {
  const userAgent = request.headers['user-agent']
  return { ...(typeof userAgent === 'string' ? { userAgent } : {}), ip: request.ip, ...(label !== undefined ? { label } : {}) }
}

function sendTokens(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, tokens: IssuedTokens, status = 200): FastifyReply {
  const body: Record<string, unknown> = {
    access_token: tokens.accessToken,
    token_type: 'Bearer',
    expires_in: tokens.expiresIn,
    session_id: tokens.session.id,
  }
  if (tokens.session.scope !== null) body.scope = tokens.session.scope
  if (request.browserMode) {
    setRefreshCookie(ctx.config, reply, tokens.refreshToken, tokens.refreshTokenExpiresAt)
  } else {
    body.refresh_token = tokens.refreshToken
  }
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
}

// An answer whose connection closed before it was written out never reached its client: the
// session is told, so that the client's retry with its old token (in the body or the cookie)
// gets the same successor instead of counting as reuse (docs/design.md, "A lost answer is not
// theft"). An answer handed to the kernel counts as delivered: a connection that dies silently
// afterwards looks like one that delivered, and only the grace window covers its retry.
function reportIfUndelivered(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, tokens: IssuedTokens): void {
  const response = reply.raw
  const report = (): void => {
    ctx.metrics.lostAnswers.inc()
    void ctx.sessions.markUndelivered(tokens).catch((error: unknown) => request.log.error({ err: error }, 'could not record a lost refresh answer'))
  }
  // Closed while the refresh ran: its 'close' has been emitted already.
  if (response.destroyed) {
    report()
    return
  }
  response.once('close', () => {
    if (!response.writableFinished) report()
  })
}

async function rateLimit(ctx: ServerContext, key: string, rule: { max: number; windowSeconds: number }, route: string): Promise<void> {
  const decision = await ctx.limiter.consume(key, rule)
  if (!decision.allowed) {
    ctx.metrics.rateLimited.inc({ route })
    throw new HttpProblem(429, 'rate_limited', 'Too many requests', { 'retry-after': String(decision.retryAfterSeconds) })
  }
}

export function registerTokenEndpoints(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: { username: string; password: string; device_label?: string; audience?: string } }>(
    ENDPOINTS.login,
    {
      schema: loginSchema,
      bodyLimit: TOKEN_BODY_LIMIT,
      onError: async (_request, _reply, error) => {
        if (!(error instanceof HttpProblem)) ctx.metrics.logins.inc({ result: 'error' })
      },
    },
    async (request, reply) => {
      if (request.browserMode) assertSameSiteRequest(ctx.config, request) // no login CSRF
      let username: string
      try {
        username = normalizeUsername(request.body.username)
      } catch {
        throw new HttpProblem(400, 'invalid_request', 'The username is malformed')
      }
      await rateLimit(ctx, `login-ip:${request.ip}`, ctx.config.rateLimits.loginPerIp, 'login')
      await rateLimit(ctx, `login-user:${username}`, ctx.config.rateLimits.loginPerUsername, 'login')
      const user = await ctx.checkCredentials(username, request.body.password)
      if (user === undefined) {
        ctx.metrics.logins.inc({ result: 'invalid_credentials' })
        // One answer for unknown users and wrong passwords (RFC 6749 §5.2 invalid_grant).
        return sendTokenError(reply, 400, 'invalid_grant', 'Invalid username or password')
      }
      await ctx.limiter.reset(`login-user:${username}`)
      // Only a configured audience may be asked for: with none configured, a client could
      // otherwise write any `aud` it likes into its tokens. Checked once the credentials are: the
      // configured audiences are nobody else's business.
      const { audience } = request.body
      if (audience !== undefined && !ctx.config.audience.includes(audience)) {
        throw new HttpProblem(400, 'invalid_request', 'The audience is not one of this server\'s audiences')
      }
      const tokens = await ctx.sessions.create({
        subject: user.subject,
        ...(user.claims !== undefined ? { claims: user.claims } : {}),
        ...(user.scope !== undefined ? { scope: user.scope } : {}),
        ...(audience !== undefined ? { audience } : {}),
        device: deviceOf(request, request.body.device_label),
      })
      ctx.metrics.logins.inc({ result: 'success' })
      return sendTokens(ctx, request, reply, tokens)
    },
  )

  app.post<{ Body: { refresh_token?: string } | null }>(
    ENDPOINTS.refresh,
    {
      schema: refreshSchema,
      bodyLimit: TOKEN_BODY_LIMIT,
      onError: async (request, reply, error) => {
        if (!isHallpassError(error)) return
        ctx.metrics.refreshes.inc({ result: error.code })
        if (error.code === 'ERR_REFRESH_REUSED') {
          ctx.metrics.reuseDetections.inc({ classification: error.classification })
          ctx.metrics.revocations.inc({ reason: 'refresh_reuse' })
        }
        // A cookie that can no longer refresh is taken back from the browser.
        if (request.browserMode && error.family === 'credential') clearRefreshCookie(ctx.config, reply)
      },
    },
    async (request, reply) => {
      await rateLimit(ctx, `refresh-ip:${request.ip}`, ctx.config.rateLimits.refreshPerIp, 'refresh')
      const token = refreshTokenOf(ctx, request)
      const tokens = await ctx.sessions.refresh(token, { device: deviceOf(request) })
      ctx.metrics.refreshes.inc({ result: tokens.replay === undefined ? 'rotated' : `${tokens.replay}_replay` })
      reportIfUndelivered(ctx, request, reply, tokens)
      return sendTokens(ctx, request, reply, tokens)
    },
  )

  // Logout of this session: by its refresh token (body or cookie) or by an access token. A bad
  // access token is answered as a resource server would (RFC 6750); a bad refresh token is
  // not an error at all.
  app.post<{ Body: { refresh_token?: string } | null }>(
    ENDPOINTS.logout,
    { schema: refreshSchema, bodyLimit: TOKEN_BODY_LIMIT, config: { errors: 'resource' } },
    async (request, reply) => {
      let sessionId: string | undefined
      if (request.headers.authorization !== undefined) {
        sessionId = (await authenticateUser(ctx, request)).claims.sid
      } else {
        const inspected = await ctx.sessions.inspectRefreshToken(refreshTokenOf(ctx, request))
        // RFC 7009 §2.2 spirit: logging out with an invalid token is not an error worth leaking.
        if (inspected.active) sessionId = inspected.session.id
      }
      if (sessionId !== undefined) {
        const result = await ctx.sessions.revoke(sessionId, 'logout')
        if (result.revoked) ctx.metrics.revocations.inc({ reason: 'logout' })
      }
      if (request.browserMode) clearRefreshCookie(ctx.config, reply)
      return reply.code(204).header('cache-control', 'no-store').send()
    },
  )

  app.post(ENDPOINTS.logoutAll, { bodyLimit: TOKEN_BODY_LIMIT, config: { errors: 'resource' } }, async (request, reply) => {
    const auth = await authenticateUser(ctx, request)
    const entries = await ctx.sessions.revokeAll(auth.claims.sub, { reason: 'logout_all' })
    ctx.metrics.revocations.inc({ reason: 'logout_all' }, entries.length)
    if (request.browserMode) clearRefreshCookie(ctx.config, reply)
    return reply.code(200).header('cache-control', 'no-store').send({ revoked: entries.length })
  })

  // A trusted backend that authenticated the user itself mints a session (admin API key).
  app.post<{ Body: { subject: string; claims?: Record<string, unknown>; scope?: string; audience?: string | string[]; device?: DeviceInfo } }>(
    '/sessions',
    { schema: mintSchema, bodyLimit: TOKEN_BODY_LIMIT },
    async (request, reply) => {
      requireAdmin(ctx, request)
      const tokens = await ctx.sessions.create({
        subject: request.body.subject,
        ...(request.body.claims !== undefined ? { claims: request.body.claims } : {}),
        ...(request.body.scope !== undefined ? { scope: request.body.scope } : {}),
        ...(request.body.audience !== undefined ? { audience: request.body.audience } : {}),
        device: request.body.device ?? deviceOf(request),
      })
      return sendTokens(ctx, request, reply, tokens, 201)
    },
  )
}

function refreshTokenOf(ctx: ServerContext, request: FastifyRequest<{ Body: { refresh_token?: string } | null }>): string {
  const fromBody = request.body?.refresh_token
  if (fromBody !== undefined) return fromBody
  const fromCookie = ctx.config.cookies.enabled ? readRefreshCookie(ctx.config, request) : undefined
  // The browser attaches the cookie to cross-site requests too (a form post from another
  // site): a request the cookie would authenticate without the custom header is refused with
  // 403, like any other cross-site one, instead of being treated as "no token".
  if (fromCookie !== undefined || request.browserMode) assertSameSiteRequest(ctx.config, request)
  if (fromCookie !== undefined) return fromCookie
  throw new SessionInputInvalid('refresh_token', 'is required')
}
