// Browser mode: the refresh token lives only in an HttpOnly, Secure, SameSite=Strict cookie
// with the `__Host-` prefix (RFC 6265bis §4.1.3.2: Secure, no Domain, Path=/ — so no subdomain
// can plant or read it), and the access token travels in the response body for the SPA to keep
// in memory. A client opts in with the `X-Hallpass-Client: browser` header.
//
// CSRF: every request that the refresh cookie authenticates must carry that custom header
// (a cross-site form or image cannot set headers; cross-site fetch needs a CORS preflight we
// only grant to configured origins), and any `Origin` / `Sec-Fetch-Site` it carries must be
// same-origin or a configured CORS origin.
import type {} from '@fastify/cookie' // request.cookies / reply.setCookie typings
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BROWSER_HEADER } from 'hallpass/http'
import type { ServerConfig } from './config.ts'
import { HttpProblem } from './errors.ts'


declare module 'fastify' {
  interface FastifyRequest {
    /** The client asked for browser mode (and cookies are on): set before any route runs. */
    browserMode: boolean
  }
}

/** Decorates every request with `browserMode`. */
export function registerBrowserMode(app: FastifyInstance, config: ServerConfig): void {
  app.decorateRequest('browserMode', false)
  if (!config.cookies.enabled) return
  app.addHook('onRequest', (request, _reply, done) => {
    request.browserMode = request.headers[BROWSER_HEADER] === 'browser'
    done()
  })
}

/** Rejects cross-site requests; call before trusting the refresh cookie. */
export function assertSameSiteRequest(config: ServerConfig, request: FastifyRequest): void {
  if (request.headers[BROWSER_HEADER] !== 'browser') {
    throw new HttpProblem(403, 'forbidden', 'Cookie-authenticated requests need the X-Hallpass-Client header')
  }
  const fetchSite = request.headers['sec-fetch-site']
  const origin = request.headers.origin
  if (origin !== undefined) {
    const allowed = origin === new URL(config.issuer).origin || config.corsOrigins.includes(origin)
    if (!allowed) throw new HttpProblem(403, 'forbidden', 'Cross-site request refused')
    return
  }
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') {
    throw new HttpProblem(403, 'forbidden', 'Cross-site request refused')
  }
}

export function readRefreshCookie(config: ServerConfig, request: FastifyRequest): string | undefined {
  const value = request.cookies[config.cookies.name]
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

export function setRefreshCookie(config: ServerConfig, reply: FastifyReply, token: string, expiresAt: number): void {
  void reply.setCookie(config.cookies.name, token, {
    httpOnly: true,
    secure: config.cookies.secure,
    sameSite: 'strict',
    path: '/',
    expires: new Date(expiresAt),
  })
}

export function clearRefreshCookie(config: ServerConfig, reply: FastifyReply): void {
  void reply.clearCookie(config.cookies.name, { httpOnly: true, secure: config.cookies.secure, sameSite: 'strict', path: '/' })
}
