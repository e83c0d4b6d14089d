/**
 * @module hallpass/server
 *
 * `buildServer()` assembles the Fastify application from a ready `ServerContext`. It never
 * listens and never reads the environment: `hallpass serve` (the composition root) does that.
 */
import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { ServerContext } from './context.ts'
import { bearerFailure, BROWSER_HEADER, EXPOSED_HEADERS } from 'hallpass/http'
import { handleError, REALM, sendTokenError } from './errors.ts'
import { registerAccountRoutes } from './routes/account.ts'
import { registerAdminRoutes } from './routes/admin.ts'
import { registerDiscoveryRoutes } from './routes/discovery.ts'
import { registerHealthRoutes } from './routes/health.ts'
import { registerOAuthRoutes } from './routes/oauth.ts'
import { FEED_STREAM_DEFAULTS, registerRevocationFeed, type FeedStreamLimits } from './routes/revocation-feed.ts'
import { registerSessionEvents } from './routes/session-events.ts'
import { registerTokenEndpoints } from './routes/token-endpoints.ts'
import { registerPages } from './pages.ts'
import { registerBrowserMode } from './browser-transport.ts'
import { SECURITY_HEADERS } from './security-headers.ts'

export interface BuildServerOptions {
  /** A pino logger config or `false`. Default: JSON logs at the configured level, secrets redacted. */
  logger?: FastifyServerOptions['logger']
  /** How the revocation feed treats subscribers that do not keep up (defaults: FEED_STREAM_DEFAULTS). */
  revocationFeed?: Partial<FeedStreamLimits>
}

/** Headers and body fields that must never reach a log line. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hallpass-client"]',
  'res.headers["set-cookie"]',
  'body.password',
  'body.refresh_token',
  'body.token',
]

/**
 * @example
 * import { buildServer } from '@hallpass/server'
 * const app = await buildServer(context)
 * await app.listen({ port: 8080 })
 */
export async function buildServer(ctx: ServerContext, options: BuildServerOptions = {}): Promise<FastifyInstance> {
  const { config } = ctx
  const fastifyOptions: FastifyServerOptions = {
    logger: options.logger ?? { level: config.logLevel, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } },
    // Fastify accepts a hop count at runtime though its typings omit it.
    trustProxy: config.trustProxy as boolean | string[],
    bodyLimit: config.bodyLimitBytes,
    // Bounded URL parameters; slow clients are cut off.
    routerOptions: { maxParamLength: 256 },
    requestTimeout: 30_000,
    return503OnClosing: true,
    // Router-level rejections (an undecodable URL, an over-long parameter) skip the error
    // handler, and Fastify's own answer quotes the path back: answer them like any other 4xx.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
      reply.headers(SECURITY_HEADERS)
      void sendTokenError(reply, status, 'invalid_request', status === 414 ? 'The request URL is too long' : 'The request is malformed')
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }
  const app = Fastify(fastifyOptions)
  // The first hook of all (before CORS answers a preflight), so that every answer carries them.
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS)
  })
  if (ctx.storeErrors !== undefined) {
    const detach = ctx.storeErrors.attach((error, message) => app.log.error({ err: error }, message))
    app.addHook('onClose', (_instance, done) => {
      detach()
      done()
    })
  }

  await app.register(cookie)
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...config.corsOrigins],
      credentials: true,
      allowedHeaders: ['authorization', 'content-type', BROWSER_HEADER],
      // The client reads the server's clock, the error code and when to retry.
      exposedHeaders: [...EXPOSED_HEADERS],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      maxAge: 600,
    })
  }

  // Bodies are JSON or forms. Fastify would also parse text/plain into a string, which no
  // route accepts: refuse it as the unsupported media type it is (415).
  app.removeContentTypeParser('text/plain')

  // RFC 6749 endpoints take form bodies. Every parameter must appear at most once (§3.1).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const params = new URLSearchParams(body as string)
    const out: Record<string, string> = {}
    for (const [key, value] of params) {
      // `out.__proto__ = …` would silently drop the parameter; JSON bodies refuse it too.
      if (key === '__proto__' || Object.hasOwn(out, key)) {
        done(Object.assign(new Error('duplicate parameter'), { statusCode: 400, code: 'HP_DUPLICATE_PARAMETER' }), undefined)
        return
      }
      out[key] = value
    }
    done(null, out)
  })

  // Node keeps only the first of several Authorization headers and drops the rest, while a
  // proxy in front may have looked at another one. Several credentials are a malformed
  // request (RFC 6750 §2): refuse them before any route reads the header.
  app.addHook('onRequest', async (request, reply) => {
    const raw = request.raw.rawHeaders
    let count = 0
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') count++
    if (count > 1) {
      const failure = bearerFailure({ kind: 'invalid', reason: 'several Authorization headers' }, REALM)
      return sendTokenError(reply.headers(failure.headers), failure.status, failure.body.error, failure.body.error_description)
    }
  })
  registerBrowserMode(app, config)

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    ctx.metrics.requestDuration.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  app.setErrorHandler(handleError)
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', error_description: 'Not found' }))

  registerTokenEndpoints(app, ctx)
  registerAccountRoutes(app, ctx)
  registerDiscoveryRoutes(app, ctx)
  registerOAuthRoutes(app, ctx)
  registerRevocationFeed(app, ctx, { ...FEED_STREAM_DEFAULTS, ...options.revocationFeed })
  registerHealthRoutes(app, ctx)
  registerSessionEvents(app, ctx)
  registerAdminRoutes(app, ctx)
  if (config.ui && !registerPages(app)) app.log.warn('the pages are not built (npm run build): /, /admin and /debugger answer 404')
  return app
}
