/**
 * @module hallpass/fastify
 *
 * A Fastify plugin over a `hallpass/verify` verifier. It authenticates in `onRequest`, before
 * the body is even read (an unauthenticated client cannot make the server parse a large body),
 * decorates `request.auth` with `{ claims, token }` (or `null`), and answers failures itself
 * with RFC 6750 responses: the route handler is never reached.
 *
 * The plugin applies to the scope it is registered in and every route there (it is not
 * encapsulated, as with fastify-plugin). A route adjusts it through its config:
 * `{ config: { hallpass: { optional: true } } }`, `{ config: { hallpass: { scope: 'orders:write' } } }`,
 * or `{ config: { hallpass: false } }` for a public route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { ConfigInvalid } from '../errors.ts'
import {
  authenticateHeaderOrWait,
  checkAuthOptions,
  checkVerifier,
  nodeAuthorization,
  type AuthOptions,
  type AuthOutcome,
  type AuthSettings,
  type HallpassAuth,
  type TokenVerifier,
} from './internal/authenticate.ts'

export type { AuthOptions, HallpassAuth, TokenVerifier } from './internal/authenticate.ts'

export interface HallpassPluginOptions extends AuthOptions {
  verifier: TokenVerifier
}

/** Per-route settings; `false` turns authentication off for the route. */
export type HallpassRouteConfig = false | { optional?: boolean; scope?: string | readonly string[] }

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token, or null when the route is public or the request anonymous. */
    auth: HallpassAuth | null
  }
  interface FastifyContextConfig {
    hallpass?: HallpassRouteConfig
  }
}

// Options Fastify itself passes to every plugin along with the user's.
const FASTIFY_REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers']

function hallpassPlugin(fastify: FastifyInstance, options: HallpassPluginOptions, done: (error?: Error) => void): void {
  const verifier = checkVerifier(options?.verifier)
  const base = checkAuthOptions(options, '', ['verifier', ...FASTIFY_REGISTER_OPTIONS])
  // Route settings are checked once per route (at registration) and then looked up by the
  // identity of the route's config object.
  const perRoute = new WeakMap<object, AuthSettings | null>()

  function settingsFor(config: { hallpass?: unknown } | undefined): AuthSettings | null {
    const route = config?.hallpass
    if (route === undefined) return base
    const cached = perRoute.get(config!)
    if (cached !== undefined) return cached
    const settings = routeSettings(route)
    perRoute.set(config!, settings)
    return settings
  }

  function routeSettings(route: unknown): AuthSettings | null {
    if (route === false) return null
    if (typeof route !== 'object' || route === null || Array.isArray(route)) throw new ConfigInvalid('config.hallpass', 'must be false or an object')
    const { optional, scope, ...rest } = route as { optional?: unknown; scope?: unknown }
    for (const key of Object.keys(rest)) throw new ConfigInvalid(`config.hallpass.${key}`, 'is not a known option')
    // The route's own choice wins; an optional route does not inherit the plugin's scopes.
    return checkAuthOptions(
      {
        realm: base.realm,
        optional: optional ?? base.optional,
        scope: scope ?? (optional === true ? undefined : base.scopes),
      },
      'config.hallpass.',
    )
  }

  // Registered again in a child scope (another verifier for some routes): the decorator is inherited.
  if (!fastify.hasRequestDecorator('auth')) fastify.decorateRequest('auth', null)
  // Bad route config fails at startup, not on the first request.
  fastify.addHook('onRoute', (route) => {
    const config = route.config as { hallpass?: unknown } | undefined
    if (config?.hallpass !== undefined) routeSettings(config.hallpass)
  })
  const apply = (request: FastifyRequest, reply: FastifyReply, next: (error?: Error) => void, outcome: AuthOutcome): void => {
    if (!outcome.ok) {
      // Answering from a hook: send, and do not call next (Fastify Hooks, "Respond to a
      // request from a hook").
      void reply.code(outcome.failure.status).headers(outcome.failure.headers).send(outcome.failure.body)
      return
    }
    request.auth = outcome.auth ?? null
    next()
  }
  const onRequest: onRequestHookHandler = (request: FastifyRequest, reply: FastifyReply, next) => {
    try {
      const settings = settingsFor(request.routeOptions.config)
      if (settings === null) return next()
      const outcome = authenticateHeaderOrWait(verifier, nodeAuthorization(request.raw), settings)
      // A promise only for a token of a key not yet fetched (see authenticateHeaderOrWait).
      if (outcome instanceof Promise) outcome.then((settled) => apply(request, reply, next, settled), (error: unknown) => next(error as Error))
      else apply(request, reply, next, outcome)
    } catch (error) {
      next(error as Error)
    }
  }
  fastify.addHook('onRequest', onRequest)
  done()
}

/**
 * The plugin. Register it before the routes it protects.
 *
 * @example
 * import Fastify from 'fastify'
 * import { createVerifier } from 'hallpass/verify'
 * import { hallpass } from 'hallpass/fastify'
 * const app = Fastify()
 * await app.register(hallpass, { verifier: await createVerifier({ issuer: 'https://auth.example.com' }) })
 * app.get('/me', (request) => ({ sub: request.auth!.claims.sub }))
 * app.post('/orders', { config: { hallpass: { scope: 'orders:write' } } }, handler)
 * app.get('/health', { config: { hallpass: false } }, () => 'ok')
 */
export const hallpass = Object.assign(hallpassPlugin, {
  // What fastify-plugin sets: no encapsulation (the hook and decorator reach the parent scope).
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'hallpass',
  [Symbol.for('plugin-meta')]: { name: 'hallpass', fastify: '5.x' },
})
