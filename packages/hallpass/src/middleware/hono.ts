/**
 * @module hallpass/hono
 *
 * Hono middleware over a `hallpass/verify` verifier: `c.get('auth')` is `{ claims, token }`
 * once the bearer token has verified. Failures are answered with RFC 6750 responses (401 with
 * a bare `Bearer realm` challenge when credentials are missing, 400 `invalid_request`, 401
 * `invalid_token`, 403 `insufficient_scope`, 503 when revocation state is unknown) and the
 * handler is never reached.
 *
 * `ContextVariableMap` is extended with `auth`, so `c.get('auth')` is typed everywhere.
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import {
  authenticateHeaderOrWait,
  checkAuthOptions,
  checkVerifier,
  DEFAULT_REALM,
  type AuthFailure,
  type AuthOptions,
  type HallpassAuth,
  type TokenVerifier,
} from './internal/authenticate.ts'
import { bearerFailure, resourceErrorFailure } from '../http/resource-failure.ts'
import { checkScopeOption, requireScopes } from '../verify/scope.ts'

export type { AuthOptions, HallpassAuth, TokenVerifier } from './internal/authenticate.ts'

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by the hallpass middleware; undefined on an optional route without credentials. */
    auth: HallpassAuth | undefined
  }
}

// The realm a request was authenticated under, so `requireScope` answers in the same realm.
const realms = new WeakMap<object, string>()

function respond(c: Context, failure: AuthFailure): Response {
  // The mapping only produces statuses with a body (400, 401, 403, 500, 503).
  return c.json(failure.body, failure.status as 400, failure.headers)
}

/**
 * Authenticates requests through `verifier`.
 *
 * @example
 * import { Hono } from 'hono'
 * import { createVerifier } from 'hallpass/verify'
 * import { hallpass, requireScope } from 'hallpass/hono'
 * const verifier = await createVerifier({ issuer: 'https://auth.example.com' })
 * const app = new Hono()
 * app.use('/api/*', hallpass(verifier))
 * app.post('/api/orders', requireScope('orders:write'), (c) => c.json({ user: c.get('auth')!.claims.sub }))
 */
export function hallpass(verifier: TokenVerifier, options?: AuthOptions): MiddlewareHandler {
  const checked = checkVerifier(verifier)
  const settings = checkAuthOptions(options)
  return async (c: Context, next: Next): Promise<Response | void> => {
    // Fetch Headers join several Authorization headers with ", ", which the bearer grammar
    // refuses: two credentials are a 400, as RFC 6750 §2 wants.
    const outcome = await authenticateHeaderOrWait(checked, c.req.header('authorization'), settings)
    if (!outcome.ok) return respond(c, outcome.failure)
    if (outcome.auth !== undefined) {
      c.set('auth', outcome.auth)
      realms.set(c, settings.realm)
    }
    await next()
  }
}

/**
 * Requires scopes of a request authenticated by `hallpass(...)`.
 *
 * @example
 * import { requireScope } from 'hallpass/hono'
 * app.delete('/api/orders/:id', requireScope('orders:write'), handler)
 */
export function requireScope(...scopes: string[]): MiddlewareHandler {
  // Throws ERR_CONFIG_INVALID for no scope at all or a malformed one.
  const required = checkScopeOption(scopes, 'scopes')!
  return async (c: Context, next: Next): Promise<Response | void> => {
    const realm = realms.get(c) ?? DEFAULT_REALM
    const auth = c.get('auth')
    if (auth === undefined) return respond(c, bearerFailure({ kind: 'none' }, realm))
    try {
      requireScopes(auth.claims, required)
    } catch (error) {
      return respond(c, resourceErrorFailure(error, realm))
    }
    await next()
  }
}
