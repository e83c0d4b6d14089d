// The browser (and bearer) client of `hallpass serve`: keeps the access token in memory and
// fresh, one refresh at a time for all tabs, and tells sign-outs from outages.
//
// Timing uses the server's own `expires_in`, counted from when the request was sent, so a client
// clock minutes off (in either direction) changes nothing: the client never compares the
// token's `exp` with its own clock. The server's clock is still estimated (its `Date` header and
// the token's `iat`) for pages that show server times (`serverTime()`).
import { BROWSER_HEADER, ENDPOINTS, ERROR_CODE_HEADER } from '../protocol/wire.ts'
import { HallpassClientError } from './errors.ts'
import { memoryStorage, type RefreshTokenStorage } from './storage.ts'
import { openTabs, type SharedToken } from './tabs.ts'

/** Why the client signed out. */
export type SignOutReason =
  /** `logout()`, `logoutAll()` or revoking the current session, in this tab or another. */
  | 'logout'
  /** The session was revoked elsewhere (another device, an admin, a password change). */
  | 'revoked'
  /** A refresh token was used twice: the server ended the session as stolen. */
  | 'reuse_detected'
  /** The session reached its idle or absolute deadline. */
  | 'expired'
  /** The refresh token was refused for another reason (unknown, forged, misconfigured client). */
  | 'invalid'
  /** There was no session to restore (no cookie, nothing in storage). */
  | 'no_session'

export type ClientEvent =
  | { readonly type: 'signed-in'; readonly sessionId: string; readonly expiresAt: number }
  | { readonly type: 'refreshed'; readonly sessionId: string; readonly expiresAt: number }
  | { readonly type: 'signed-out'; readonly reason: SignOutReason }

export type ClientState = 'unknown' | 'signed-in' | 'signed-out'

export interface ClientOptions {
  /** The URL `hallpass serve` answers at (its issuer), e.g. `https://auth.example.com`. */
  issuer: string
  /**
   * `cookie` (the default in browsers): the refresh token stays in the server's HttpOnly cookie.
   * `bearer` (the default elsewhere): the refresh token is kept in `storage`.
   */
  mode?: 'cookie' | 'bearer'
  /** Bearer mode: where the refresh token is kept (default: memory). */
  storage?: RefreshTokenStorage
  /** Refresh this long before expiry, plus jitter (default: a fifth of the lifetime, 5 to 60 s). */
  refreshMarginSeconds?: number
  /** How long `getAccessToken()` waits through an outage before ERR_CLIENT_UNAVAILABLE (default 10). */
  maxWaitSeconds?: number
  /** Restore the session at once (another tab's token, else a refresh). Default true. */
  restore?: boolean
  /**
   * Share tokens, refreshes and sign-outs with the other tabs of this origin (they share the
   * cookie, so they are one session). Default: true in cookie mode, false in bearer mode, where
   * each client has its own storage, and may be another user's (a server acting for several).
   */
  crossTab?: boolean
  fetch?: typeof globalThis.fetch
  now?: () => number
}

export interface SessionSummary {
  readonly id: string
  readonly current: boolean
  readonly created_at: string
  readonly last_seen_at: string
  readonly expires_at: string
  readonly device: { readonly userAgent?: string; readonly ip?: string; readonly label?: string } | null
}

export interface HallpassClient {
  readonly state: ClientState
  /** The current session's id, when signed in. */
  readonly sessionId: string | undefined
  /**
   * Signs in. `audience` narrows the session's tokens to one of the server's audiences (needed
   * when the server encrypts each token to its audience and has several).
   */
  login(username: string, password: string, options?: { deviceLabel?: string; audience?: string }): Promise<void>
  /** Ends this session on the server and signs every tab out. */
  logout(): Promise<void>
  /** Ends every session of the user (all devices). */
  logoutAll(): Promise<void>
  sessions(): Promise<SessionSummary[]>
  revokeSession(id: string): Promise<void>
  /** A valid access token, refreshed first when needed. ERR_CLIENT_SIGNED_OUT without a session. */
  getAccessToken(): Promise<string>
  /** `fetch` with the bearer token; on a 401 `invalid_token`, refreshes once and retries once. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** The current access token's claims, decoded WITHOUT verification (for display). */
  claims(): Record<string, unknown> | undefined
  /** The server's clock as this client estimates it (ms since the epoch). */
  serverTime(): number
  subscribe(listener: (event: ClientEvent) => void): () => void
  /** Stops timers and leaves the other tabs; the session itself stays. */
  close(): void
}

interface Held {
  token: string
  sid: string
  /** Expiry on this client's clock. */
  exp: number
  /** When to refresh, on this client's clock. */
  due: number
}

// Another tab's token is adopted rather than refreshed when it has at least this long left.
const SAFETY_MS = 2000
const STARTUP_ASK_MS = 60
const LOCK_ASK_MS = 150

export function createClient(options: ClientOptions): HallpassClient {
  const issuer = String(options.issuer).replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]/.test(issuer)) throw new TypeError('issuer must be an http(s) URL')
  type Target = { addEventListener?: (type: string, listener: () => void) => void }
  const scope = globalThis as unknown as Target & { document?: Target & { visibilityState?: string } }
  const cookies = (options.mode ?? (scope.document === undefined ? 'bearer' : 'cookie')) === 'cookie'
  const storage = options.storage ?? memoryStorage()
  const send = options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init))
  const now = options.now ?? Date.now
  const maxWaitMs = (options.maxWaitSeconds ?? 10) * 1000
  const listeners = new Set<(event: ClientEvent) => void>()

  let held: Held | undefined
  let state: ClientState = 'unknown'
  let inflight: Promise<string> | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let wake: (() => void) | undefined
  let offset = 0
  let closed = false

  const emit = (event: ClientEvent): void => {
    for (const listener of [...listeners]) {
      try {
        listener(event)
      } catch {
        // One listener's failure is not the session's.
      }
    }
  }

  const fresh = (): string | undefined => (held !== undefined && held.exp - now() > SAFETY_MS ? held.token : undefined)
  const shared = (): SharedToken | undefined => (fresh() === undefined ? undefined : { token: held!.token, sid: held!.sid, ttl: held!.exp - now() })

  /** Takes `token` (with `ttl` ms left) as the session's, from a response or another tab. */
  function adopt(token: string, sid: string, ttl: number, share: boolean): void {
    // A margin is at most half the lifetime: one as long as the token lives would make every
    // token due on arrival, and each refresh schedule the next at once.
    const margin = options.refreshMarginSeconds !== undefined ? Math.min(options.refreshMarginSeconds * 1000, ttl / 2) : Math.min(60_000, Math.max(5000, ttl / 5))
    const at = now()
    const event = state === 'signed-in' && held?.sid === sid ? 'refreshed' : 'signed-in'
    held = { token, sid, exp: at + ttl, due: at + ttl - margin - Math.random() * margin * 0.5 }
    state = 'signed-in'
    clearTimeout(timer)
    if (!closed) {
      timer = setTimeout(() => void refresh(held?.token).catch(() => undefined), Math.max(0, held.due - at))
      // In Node, a pending refresh alone does not keep the process alive (browsers have no unref).
      ;(timer as { unref?: () => void }).unref?.()
    }
    if (share) tabs?.share({ token, sid, ttl })
    emit({ type: event, sessionId: sid, expiresAt: held.exp })
  }

  function signOut(reason: SignOutReason, share: boolean): void {
    const was = state
    held = undefined
    state = 'signed-out'
    clearTimeout(timer)
    if (!cookies) void storage.set(null)
    if (share) tabs?.signOut(reason)
    if (was !== 'signed-out') emit({ type: 'signed-out', reason })
  }

  const tabs =
    !(options.crossTab ?? cookies)
      ? undefined
      : openTabs(`hallpass:${issuer}`, {
          // Only a newer token: one that lives longer than this tab's.
          onToken: (token) => {
            if (token.ttl > SAFETY_MS && (held === undefined || token.ttl > held.exp - now())) adopt(token.token, token.sid, token.ttl, false)
          },
          onSignOut: (reason) => signOut(reason as SignOutReason, false),
          current: shared,
        })

  async function post(path: string, body?: unknown, bearer?: string): Promise<Response> {
    const headers: Record<string, string> = {}
    if (cookies) headers[BROWSER_HEADER] = 'browser'
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`
    return send(issuer + path, { method: 'POST', headers, credentials: cookies ? 'include' : 'same-origin', body: body === undefined ? null : JSON.stringify(body) })
  }

  async function failure(response: Response): Promise<HallpassClientError> {
    const body = ((await response.json().catch(() => null)) ?? {}) as { error?: unknown }
    const retry = Number(response.headers.get('retry-after'))
    const details = {
      status: response.status,
      ...(typeof body.error === 'string' ? { error: body.error } : {}),
      ...(response.headers.has(ERROR_CODE_HEADER) ? { hallpassCode: response.headers.get(ERROR_CODE_HEADER)! } : {}),
      ...(retry > 0 ? { retryAfterSeconds: retry } : {}),
    }
    if (response.status === 429) return new HallpassClientError('ERR_CLIENT_RATE_LIMITED', details)
    if (response.status >= 500) return new HallpassClientError('ERR_CLIENT_UNAVAILABLE', details)
    return new HallpassClientError('ERR_CLIENT_REQUEST', details)
  }

  /** Reads a token response (RFC 6749 §5.1) of a request sent at `sentAt`, and adopts it. */
  async function accept(response: Response, sentAt: number): Promise<string> {
    if (!response.ok) throw await failure(response)
    // Not JSON, or JSON `null` (a proxy's page, a truncated answer): no token, as in an outage.
    const body = ((await response.json().catch(() => null)) ?? {}) as { access_token?: unknown; expires_in?: unknown; session_id?: unknown; refresh_token?: unknown }
    const { access_token: token, expires_in: lifetime, session_id: sid } = body
    if (typeof token !== 'string' || typeof lifetime !== 'number' || typeof sid !== 'string') throw new HallpassClientError('ERR_CLIENT_UNAVAILABLE')
    if (!cookies && typeof body.refresh_token === 'string') await storage.set(body.refresh_token)
    // The server's clock: no earlier than the token's iat, and about its Date header.
    const date = Date.parse(response.headers.get('date') ?? '')
    const iat = Number(decode(token)?.iat) * 1000
    offset = Math.max(Number.isNaN(date) ? -Infinity : date + 500, Number.isNaN(iat) ? -Infinity : iat) - (sentAt + now()) / 2
    if (!Number.isFinite(offset)) offset = 0
    adopt(token, sid, lifetime * 1000 - (now() - sentAt), true)
    return token
  }

  /** One refresh, inside the tabs' lock: unless another tab has just done it. */
  async function attempt(stale: string | undefined): Promise<string> {
    // A token that is not the one found wanting, and not due: another tab's refresh, shared.
    const current = (): string | undefined => (held !== undefined && held.token !== stale && held.due > now() ? held.token : undefined)
    let token = current()
    if (token !== undefined) return token
    const other = await tabs?.ask(state === 'unknown' ? STARTUP_ASK_MS : LOCK_ASK_MS, state !== 'unknown')
    if (other !== undefined && (held === undefined || other.ttl > held.exp - now())) adopt(other.token, other.sid, other.ttl, false)
    if ((token = current()) !== undefined) return token
    let refreshToken: string | null | undefined
    if (!cookies && !(refreshToken = await storage.get())) throw new HallpassClientError('ERR_CLIENT_SIGNED_OUT')
    const sentAt = now()
    return accept(await post(ENDPOINTS.refresh, cookies ? undefined : { refresh_token: refreshToken }), sentAt)
  }

  /** The reason a refresh failure ends the session; undefined when it is worth retrying. */
  function ending(error: unknown): SignOutReason | undefined {
    if (!(error instanceof HallpassClientError)) return undefined // the network: retry
    if (error.code === 'ERR_CLIENT_SIGNED_OUT') return 'no_session'
    if (error.code !== 'ERR_CLIENT_REQUEST') return undefined
    if (error.error === 'invalid_request') return 'no_session'
    const code = error.hallpassCode
    return code === 'ERR_REFRESH_REUSED' ? 'reuse_detected' : code === 'ERR_SESSION_REVOKED' ? 'revoked' : code === 'ERR_SESSION_EXPIRED' ? 'expired' : 'invalid'
  }

  /** Refreshes until it works or the session ends: one flight per tab, one tab at a time. */
  function refresh(stale: string | undefined): Promise<string> {
    inflight ??= (async () => {
      for (let failures = 0; ; failures++) {
        try {
          return await (tabs === undefined ? attempt(stale) : tabs.exclusive(() => attempt(stale)))
        } catch (error) {
          const reason = ending(error)
          if (reason !== undefined) signOut(reason, true)
          if (state === 'signed-out' || closed) throw new HallpassClientError('ERR_CLIENT_SIGNED_OUT')
          // An outage is not a logout: back off (1 s doubling to 30 s, jittered), keep the session.
          const retryAfter = error instanceof HallpassClientError ? (error.retryAfterSeconds ?? 0) * 1000 : 0
          const delay = Math.max(retryAfter, Math.min(30_000, 1000 * 2 ** failures) * (0.5 + Math.random() / 2))
          await new Promise<void>((resolve) => {
            const backoff = setTimeout(resolve, delay)
            wake = () => {
              clearTimeout(backoff)
              resolve()
            }
          })
          // Closed while waiting: no timer left behind, no refresh after close().
          if (closed) throw new HallpassClientError('ERR_CLIENT_SIGNED_OUT')
        }
      }
    })().finally(() => {
      inflight = undefined
    })
    return inflight
  }

  /** A refresh, waited for at most maxWaitSeconds (ERR_CLIENT_UNAVAILABLE); it goes on meanwhile. */
  async function bounded(stale: string | undefined): Promise<string> {
    let timeout: ReturnType<typeof setTimeout> | undefined
    const outage = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => reject(new HallpassClientError('ERR_CLIENT_UNAVAILABLE')), maxWaitMs)
    })
    try {
      return await Promise.race([refresh(stale), outage])
    } finally {
      clearTimeout(timeout)
    }
  }

  async function getAccessToken(): Promise<string> {
    const token = fresh()
    if (token !== undefined) return token
    if (state === 'signed-out') throw new HallpassClientError('ERR_CLIENT_SIGNED_OUT')
    return bounded(undefined)
  }

  async function authorized(input: string | URL | Request, init: RequestInit = {}, token?: string): Promise<Response> {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined))
    headers.set('authorization', `Bearer ${token ?? (await getAccessToken())}`)
    return send(input, { ...init, headers })
  }

  async function clientFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const token = await getAccessToken()
    // A Request's body can be read once: keep a copy for the retry.
    const retryInput = input instanceof Request ? input.clone() : input
    const response = await authorized(input, init, token)
    if (response.status !== 401 || !/error="invalid_token"/.test(response.headers.get('www-authenticate') ?? '')) return response
    // Bounded too: through an outage, the 401 after maxWaitSeconds rather than never an answer.
    const next = await bounded(token).catch(() => undefined)
    return next === undefined ? response : authorized(retryInput, init, next)
  }

  // A tab that slept, or a network that came back: refresh now if the token is due, and cut
  // any backoff short.
  const revive = (): void => {
    if (scope.document?.visibilityState === 'hidden') return
    wake?.()
    if (held !== undefined && held.due <= now()) void refresh(held.token).catch(() => undefined)
  }
  for (const type of ['online', 'pageshow']) scope.addEventListener?.(type, revive)
  scope.document?.addEventListener?.('visibilitychange', revive)

  if (options.restore !== false) void Promise.resolve().then(() => refresh(undefined)).catch(() => undefined)
  else state = 'signed-out'

  return {
    get state() {
      return state
    },
    get sessionId() {
      return held?.sid
    },
    async login(username, password, loginOptions = {}) {
      const sentAt = now()
      const response = await post(ENDPOINTS.login, {
        username,
        password,
        ...(loginOptions.deviceLabel !== undefined ? { device_label: loginOptions.deviceLabel } : {}),
        ...(loginOptions.audience !== undefined ? { audience: loginOptions.audience } : {}),
      })
      if (response.status === 400) {
        const error = await failure(response)
        throw error.error === 'invalid_grant' ? new HallpassClientError('ERR_CLIENT_CREDENTIALS', error) : error
      }
      await accept(response, sentAt)
    },
    async logout() {
      try {
        const refreshToken = cookies ? undefined : await storage.get()
        if (cookies || refreshToken) await post(ENDPOINTS.logout, cookies ? undefined : { refresh_token: refreshToken })
      } finally {
        signOut('logout', true)
      }
    },
    async logoutAll() {
      const response = await clientFetch(issuer + ENDPOINTS.logoutAll, { method: 'POST', headers: cookies ? { [BROWSER_HEADER]: 'browser' } : {}, credentials: cookies ? 'include' : 'same-origin' })
      if (!response.ok) throw await failure(response)
      signOut('logout', true)
    },
    async sessions() {
      const response = await clientFetch(issuer + ENDPOINTS.sessions)
      if (!response.ok) throw await failure(response)
      return ((await response.json()) as { sessions: SessionSummary[] }).sessions
    },
    async revokeSession(id) {
      const response = await clientFetch(`${issuer}${ENDPOINTS.sessions}/${encodeURIComponent(id)}`, { method: 'DELETE' })
      if (!response.ok && response.status !== 404) throw await failure(response)
      if (id === held?.sid) signOut('logout', true)
    },
    getAccessToken,
    fetch: clientFetch,
    claims: () => (held === undefined ? undefined : decode(held.token)),
    serverTime: () => now() + offset,
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    close() {
      // Twice is once: a second `bye` on the closed channel would throw.
      if (closed) return
      closed = true
      clearTimeout(timer)
      wake?.()
      listeners.clear()
      tabs?.close()
    },
  }
}

/** The payload of a compact JWS, decoded without any check; undefined when it is not one. */
function decode(token: string): Record<string, unknown> | undefined {
  try {
    const base64 = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>
  } catch {
    return undefined
  }
}
