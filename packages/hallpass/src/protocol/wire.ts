/**
 * @module hallpass
 *
 * The session server's HTTP surface as the browser client and the server both name it, so the
 * two cannot drift apart. Runs anywhere: no Node built-in.
 */

/** The endpoints of `hallpass serve`, relative to its issuer URL. */
export const ENDPOINTS = Object.freeze({
  login: '/auth/login',
  refresh: '/auth/refresh',
  logout: '/auth/logout',
  logoutAll: '/auth/logout-all',
  sessions: '/auth/sessions',
  me: '/auth/me',
  revocations: '/auth/revocations',
  /** Server-Sent Events about the caller's own session (`revoked`), for pages that must sign out at once. */
  events: '/auth/events',
})

/** The admin console's API (bearer token of a user with the admin role). */
export const ADMIN_ENDPOINTS = Object.freeze({
  overview: '/admin/api/overview',
  keys: '/admin/api/keys',
  rotate: '/admin/api/keys/rotate',
  users: '/admin/api/users',
  sessions: '/admin/api/sessions',
  audit: '/admin/api/audit',
  revocations: '/admin/api/revocations',
})

/** Sent as `X-Hallpass-Client: browser`: refresh token in the `__Host-` cookie, not the body. */
export const BROWSER_HEADER = 'x-hallpass-client'

/** The stable hallpass error code of an error response (`ERR_…`), next to its OAuth error. */
export const ERROR_CODE_HEADER = 'x-hallpass-error'

/**
 * Response headers a cross-origin page must be able to read (CORS `Access-Control-Expose-Headers`):
 * the server's clock, the error code, the bearer challenge and when to retry.
 */
export const EXPOSED_HEADERS: readonly string[] = Object.freeze(['date', ERROR_CODE_HEADER, 'www-authenticate', 'retry-after'])
