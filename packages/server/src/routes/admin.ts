// The admin console's API, for signed-in users with the admin role (`hallpass users add alice
// --admin`): signing keys and "rotate now", users (add, disable, reset password), sessions by
// user, the audit trail and the live revocation feed, health and metrics. The role is read from
// the user table on every request, so taking it away (or disabling the user) takes effect at
// once. With no admin at all, or no user table (a custom credential check), the API is off: 404.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuditEvent, AuditEventType, SessionInfo } from 'hallpass'
import { ADMIN_ENDPOINTS } from 'hallpass/http'
import { normalizeUsername, type UserSummary } from 'hallpass/users'
import type { ServerContext } from '../context.ts'
import { HttpProblem } from '../errors.ts'
import { checkPassword, hashPassword } from '../passwords.ts'
import { authenticateUser } from '../request-auth.ts'
import { SECURITY_HEADERS } from '../security-headers.ts'

const USERNAME = { type: 'string', minLength: 1, maxLength: 256 } as const
const SESSION_ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } as const
// Query strings arrive as strings (the server does not coerce types): a limit is 1-500 in decimal.
const AUDIT_LIMIT = { type: 'string', pattern: '^(?:[1-9][0-9]?|[1-4][0-9]{2}|500)$' } as const
const AUDIT_TYPES = ['session.created', 'refresh.rotated', 'refresh.replayed', 'refresh.reuse_detected', 'session.revoked', 'session.expired'] as const satisfies readonly AuditEventType[]
const HEARTBEAT_MS = 15_000

/** The admin behind the request, or the answer: 401 without a valid token, 404 when off, 403 for others. */
async function authenticateAdmin(ctx: ServerContext, request: FastifyRequest): Promise<string> {
  const users = ctx.users
  if (users === undefined || (await users.countAdmins()) === 0) throw new HttpProblem(404, 'not_found', 'Not found')
  const { claims } = await authenticateUser(ctx, request)
  const user = await users.getUser(claims.sub)
  if (user === undefined || !user.admin || user.disabled) throw new HttpProblem(403, 'forbidden', 'The admin role is required')
  return user.username
}

function describeUser(user: UserSummary): Record<string, unknown> {
  return { username: user.username, admin: user.admin, disabled: user.disabled, created_at: new Date(user.createdAt).toISOString(), updated_at: new Date(user.updatedAt).toISOString() }
}

function describeSession(session: SessionInfo): Record<string, unknown> {
  return {
    id: session.id,
    user: session.subject,
    created_at: new Date(session.createdAt).toISOString(),
    last_seen_at: new Date(session.lastSeenAt).toISOString(),
    expires_at: new Date(Math.min(session.expiresAt, session.idleExpiresAt)).toISOString(),
    device: session.device,
  }
}

function describeEvent(event: AuditEvent): Record<string, unknown> {
  return {
    type: event.type,
    at: new Date(event.at).toISOString(),
    user: event.subject,
    session_id: event.sessionId,
    ...(event.reason !== undefined ? { reason: event.reason } : {}),
    ...(event.classification !== undefined ? { classification: event.classification } : {}),
    ...(event.device?.ip !== undefined ? { ip: event.device.ip } : {}),
  }
}

const generatePassword = (): string => randomBytes(15).toString('base64url')

export function registerAdminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const options = { config: { errors: 'resource' } } as const
  const users = (): NonNullable<ServerContext['users']> => ctx.users!
  const noStore = { 'cache-control': 'no-store' }

  app.get(ADMIN_ENDPOINTS.overview, options, async (request, reply) => {
    await authenticateAdmin(ctx, request)
    let store = false
    try {
      store = await ctx.sessions.store.ping()
    } catch {
      store = false
    }
    const counters: Record<string, Record<string, number>> = {}
    for (const metric of await ctx.metrics.registry.getMetricsAsJSON()) {
      if (String(metric.type) !== 'counter' && String(metric.type) !== 'gauge') continue
      const byLabel: Record<string, number> = {}
      for (const value of metric.values) byLabel[Object.values(value.labels).join(',') || 'all'] = value.value
      counters[metric.name] = byLabel
    }
    const all = await users().listUsers()
    return reply.headers(noStore).send({
      issuer: ctx.config.issuer,
      health: { store, feed: ctx.feed.healthy },
      users: all.length,
      admins: all.filter((u) => u.admin && !u.disabled).length,
      feed_subscribers: ctx.feedSlots.size,
      uptime_seconds: Math.round(process.uptime()),
      metrics: counters,
    })
  })

  const keys = () => {
    const km = ctx.sessions.keys
    return {
      algorithm: ctx.config.algorithm,
      rotation_interval_seconds: ctx.config.keyRotationIntervalSeconds,
      publish_lead_seconds: ctx.config.keyPublishLeadSeconds,
      next_change_at: Number.isFinite(km.nextChangeAt()) ? new Date(km.nextChangeAt()).toISOString() : null,
      keys: km.describe().map((key) => ({
        kid: key.kid,
        alg: key.alg,
        state: key.state,
        created_at: new Date(key.createdAt).toISOString(),
        activate_at: new Date(key.activateAt).toISOString(),
        retire_at: key.retireAt === undefined ? null : new Date(key.retireAt).toISOString(),
        drop_at: key.dropAt === undefined ? null : new Date(key.dropAt).toISOString(),
      })),
    }
  }

  app.get(ADMIN_ENDPOINTS.keys, options, async (request, reply) => {
    await authenticateAdmin(ctx, request)
    await ctx.sessions.keys.maintain()
    return reply.headers(noStore).send(keys())
  })

  app.post<{ Body: { activate: 'scheduled' | 'now' } }>(
    ADMIN_ENDPOINTS.rotate,
    { ...options, schema: { body: { type: 'object', additionalProperties: false, required: ['activate'], properties: { activate: { enum: ['scheduled', 'now'] } } } } },
    async (request, reply) => {
      const admin = await authenticateAdmin(ctx, request)
      // `scheduled`: published first, signing after the publish lead (no verifier meets an
      // unknown kid). `now`: signing at once; verifiers fetch the JWKS on the unknown kid.
      await ctx.sessions.keys.rotate({ activateInSeconds: request.body.activate === 'now' ? 0 : ctx.config.keyPublishLeadSeconds })
      request.log.info({ admin, activate: request.body.activate }, 'signing key rotated')
      return reply.headers(noStore).send(keys())
    },
  )

  app.get(ADMIN_ENDPOINTS.users, options, async (request, reply) => {
    await authenticateAdmin(ctx, request)
    return reply.headers(noStore).send({ users: (await users().listUsers()).map(describeUser) })
  })

  app.post<{ Body: { username: string; password?: string; admin?: boolean } }>(
    ADMIN_ENDPOINTS.users,
    {
      ...options,
      schema: { body: { type: 'object', additionalProperties: false, required: ['username'], properties: { username: USERNAME, password: { type: 'string', maxLength: 1024 }, admin: { type: 'boolean' } } } },
    },
    async (request, reply) => {
      const admin = await authenticateAdmin(ctx, request)
      const username = normalizeUsername(request.body.username)
      const generated = request.body.password === undefined ? generatePassword() : undefined
      const password = checkPassword(request.body.password ?? generated)
      const now = ctx.now()
      const created = await users().createUser({ username, passwordHash: await hashPassword(password), createdAt: now, updatedAt: now, admin: request.body.admin ?? false, disabled: false })
      if (!created) throw new HttpProblem(409, 'conflict', 'That username is taken')
      request.log.info({ admin, username }, 'user added')
      return reply.code(201).headers(noStore).send({ username, ...(generated !== undefined ? { password: generated } : {}) })
    },
  )

  app.patch<{ Params: { username: string }; Body: { admin?: boolean; disabled?: boolean } }>(
    `${ADMIN_ENDPOINTS.users}/:username`,
    {
      ...options,
      schema: {
        params: { type: 'object', properties: { username: USERNAME }, required: ['username'] },
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { admin: { type: 'boolean' }, disabled: { type: 'boolean' } } },
      },
    },
    async (request, reply) => {
      const admin = await authenticateAdmin(ctx, request)
      const username = normalizeUsername(request.params.username)
      // An admin cannot lock themselves out; another admin can.
      if (username === admin && (request.body.admin === false || request.body.disabled === true)) {
        throw new HttpProblem(409, 'conflict', 'You cannot take the admin role from yourself or disable yourself')
      }
      if (!(await users().updateUser(username, request.body, ctx.now()))) throw new HttpProblem(404, 'not_found', 'No such user')
      let revoked = 0
      if (request.body.disabled === true) {
        revoked = (await ctx.sessions.revokeAll(username, { reason: 'user_disabled' })).length
        ctx.metrics.revocations.inc({ reason: 'user_disabled' }, revoked)
      }
      request.log.info({ admin, username, changes: request.body }, 'user changed')
      return reply.headers(noStore).send({ username, revoked_sessions: revoked })
    },
  )

  app.post<{ Params: { username: string }; Body: { password?: string } }>(
    `${ADMIN_ENDPOINTS.users}/:username/password`,
    {
      ...options,
      schema: {
        params: { type: 'object', properties: { username: USERNAME }, required: ['username'] },
        body: { type: 'object', additionalProperties: false, properties: { password: { type: 'string', maxLength: 1024 } } },
      },
    },
    async (request, reply) => {
      const admin = await authenticateAdmin(ctx, request)
      const username = normalizeUsername(request.params.username)
      const generated = request.body?.password === undefined ? generatePassword() : undefined
      const password = checkPassword(request.body?.password ?? generated)
      if (!(await users().updatePassword(username, await hashPassword(password), ctx.now()))) throw new HttpProblem(404, 'not_found', 'No such user')
      // A reset password means the old one may be known to someone else: every session ends.
      const revoked = (await ctx.sessions.revokeAll(username, { reason: 'password_reset' })).length
      ctx.metrics.revocations.inc({ reason: 'password_reset' }, revoked)
      request.log.info({ admin, username }, 'password reset')
      return reply.headers(noStore).send({ username, revoked_sessions: revoked, ...(generated !== undefined ? { password: generated } : {}) })
    },
  )

  app.get<{ Querystring: { user: string } }>(
    ADMIN_ENDPOINTS.sessions,
    { ...options, schema: { querystring: { type: 'object', additionalProperties: false, required: ['user'], properties: { user: USERNAME } } } },
    async (request, reply) => {
      await authenticateAdmin(ctx, request)
      const sessions = await ctx.sessions.list(normalizeUsername(request.query.user))
      return reply.headers(noStore).send({ sessions: sessions.map(describeSession) })
    },
  )

  app.delete<{ Params: { id: string } }>(
    `${ADMIN_ENDPOINTS.sessions}/:id`,
    { ...options, schema: { params: { type: 'object', properties: { id: SESSION_ID }, required: ['id'] } } },
    async (request, reply) => {
      const admin = await authenticateAdmin(ctx, request)
      const result = await ctx.sessions.revoke(request.params.id, 'admin_revoked')
      if (!result.revoked && result.why === 'not_found') throw new HttpProblem(404, 'not_found', 'No such session')
      if (result.revoked) ctx.metrics.revocations.inc({ reason: 'admin_revoked' })
      request.log.info({ admin, sessionId: request.params.id }, 'session revoked by an admin')
      return reply.code(204).send()
    },
  )

  app.get<{ Querystring: { type?: string; user?: string; limit?: string; before?: string } }>(
    ADMIN_ENDPOINTS.audit,
    {
      ...options,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { type: { enum: [...AUDIT_TYPES] }, user: USERNAME, limit: AUDIT_LIMIT, before: { type: 'string', format: 'date-time' } },
        },
      },
    },
    async (request, reply) => {
      await authenticateAdmin(ctx, request)
      const { type, user, before } = request.query
      const limit = request.query.limit === undefined ? 100 : Number(request.query.limit)
      const store = ctx.sessions.store
      if (store.listRecentAudit === undefined) {
        // A store without the cross-user index still has every user's own trail: filtered before
        // the limit, as listRecentAudit does, so older events of the type asked for are not lost.
        if (user === undefined) return reply.headers(noStore).send({ events: [], partial: true })
        const until = before === undefined ? Infinity : Date.parse(before)
        const events = (await store.listAudit(normalizeUsername(user), 1000)).filter((e) => (type === undefined || e.type === type) && e.at < until).slice(0, limit)
        return reply.headers(noStore).send({ events: events.map(describeEvent) })
      }
      const events = await store.listRecentAudit({
        limit,
        ...(type !== undefined ? { types: [type as AuditEventType] } : {}),
        ...(user !== undefined ? { subject: normalizeUsername(user) } : {}),
        ...(before !== undefined ? { before: Date.parse(before) } : {}),
      })
      return reply.headers(noStore).send({ events: events.map(describeEvent) })
    },
  )

  // The live revocation feed, for the console (read with fetch: it needs the bearer header).
  app.get(ADMIN_ENDPOINTS.revocations, options, async (request, reply) => {
    await authenticateAdmin(ctx, request)
    // A hub that cannot read the store would hold the stream open and say nothing.
    if (!ctx.feed.healthy) throw new HttpProblem(503, 'temporarily_unavailable', 'Revocations cannot be followed right now', { 'retry-after': '5' })
    const slot = ctx.feedSlots.acquire(request.ip)
    if (typeof slot === 'string') throw new HttpProblem(503, 'temporarily_unavailable', 'Too many event streams', { 'retry-after': '5' })
    const raw = reply.raw
    const removeSink = ctx.feed.add((entry) => {
      raw.write(`event: revocation\ndata: ${JSON.stringify({ sid: entry.sid, reason: entry.reason, revoked_at: new Date(entry.revokedAt).toISOString() })}\n\n`)
    })
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS)
    heartbeat.unref()
    const end = (): void => {
      removeSink()
      slot.release()
      clearInterval(heartbeat)
    }
    raw.once('close', end)
    reply.hijack()
    // A client that went away while it was authenticated has closed already: no close event
    // will come, so its slot is given back here (else every such reset leaks one).
    if (request.raw.socket.destroyed) return end()
    raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    raw.write('event: ready\ndata: {}\n\n')
  })
}
