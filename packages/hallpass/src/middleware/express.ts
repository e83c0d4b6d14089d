/**
 * @module hallpass/express
 *
 * Express middleware over a `hallpass/verify` verifier. `hallpass(verifier)` authenticates the
 * request's bearer token and sets `req.auth = { claims, token }`; on failure it answers
 * itself, following RFC 6750, and the route handler is never reached:
 * - no credentials: 401, `WWW-Authenticate: Bearer realm="…"` with no error (§3.1);
 * - another scheme's credential (`Basic …`): the same 401 as none;
 * - malformed header or several credentials: 400 `invalid_request`;
 * - bad, expired or revoked token: 401 `invalid_token` with a fixed `error_description`;
 * - missing scope: 403 `insufficient_scope` with the required `scope`;
 * - revocation state unknown (feed stale): 503, no challenge.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import {
  authenticateHeaderOrWait,
  checkAuthOptions,
  checkVerifier,
  DEFAULT_REALM,
  nodeAuthorization,
  type AuthFailure,
  type AuthOptions,
  type AuthOutcome,
  type HallpassAuth,
  type TokenVerifier,
} from './internal/authenticate.ts'
import { bearerFailure, resourceErrorFailure } from '../http/resource-failure.ts'
import { checkScopeOption, requireScopes } from '../verify/scope.ts'

export type { AuthOptions, HallpassAuth, TokenVerifier } from './internal/authenticate.ts'

declare global {
  // Express's own extension point for request properties (@types/express-serve-static-core).
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the hallpass middleware once the bearer token has verified. */
      auth?: HallpassAuth
    }
  }
}

// The realm a request was authenticated under, so `requireScope` answers in the same realm.
const realms = new WeakMap<object, string>()

function send(res: Response, failure: AuthFailure): void {
  res.status(failure.status).set(failure.headers).json(failure.body)
}

/**
 * Authenticates every request through `verifier`.
 *
 * @example
 * import express from 'express'
 * import { createVerifier } from 'hallpass/verify'
 * import { hallpass, requireScope } from 'hallpass/express'
 * const verifier = await createVerifier({ issuer: 'https://auth.example.com', audience: 'orders' })
 * const app = express()
 * app.use(hallpass(verifier))
 * app.post('/orders', requireScope('orders:write'), (req, res) => res.json({ user: req.auth!.claims.sub }))
 */
export function hallpass(verifier: TokenVerifier, options?: AuthOptions): RequestHandler {
  const checked = checkVerifier(verifier)
  const settings = checkAuthOptions(options)
  const apply = (req: Request, res: Response, next: NextFunction, outcome: AuthOutcome): void => {
    if (!outcome.ok) return send(res, outcome.failure)
    if (outcome.auth !== undefined) {
      req.auth = outcome.auth
      realms.set(req, settings.realm)
    }
    next()
  }
  return (req: Request, res: Response, next: NextFunction): void => {
    const outcome = authenticateHeaderOrWait(checked, nodeAuthorization(req), settings)
    // A promise only for a token of a key not yet fetched (see authenticateHeaderOrWait).
    if (outcome instanceof Promise) outcome.then((settled) => apply(req, res, next, settled), next)
    else apply(req, res, next, outcome)
  }
}

/**
 * Requires scopes of an already authenticated request (after `hallpass(...)`): 403
 * `insufficient_scope` when one is missing, 401 when the request is not authenticated.
 *
 * @example
 * import { requireScope } from 'hallpass/express'
 * app.delete('/orders/:id', requireScope('orders:write', 'orders:delete'), handler)
 */
export function requireScope(...scopes: string[]): RequestHandler {
  // Throws ERR_CONFIG_INVALID for no scope at all or a malformed one.
  const required = checkScopeOption(scopes, 'scopes')!
  return (req: Request, res: Response, next: NextFunction): void => {
    const realm = realms.get(req) ?? DEFAULT_REALM
    if (req.auth === undefined) return send(res, bearerFailure({ kind: 'none' }, realm))
    try {
      requireScopes(req.auth.claims, required)
    } catch (error) {
      return send(res, resourceErrorFailure(error, realm))
    }
    next()
  }
}
