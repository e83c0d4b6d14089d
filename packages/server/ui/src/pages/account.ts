// `/`: sign in; then your session, live (the access token decoded, counting down and refreshing
// itself, a protected call, the events as they happen) and your devices (every session, the
// current one marked; sign out one, all others, or everywhere).
import type { ClientEvent, SessionSummary } from 'hallpass/client'
import { ENDPOINTS } from 'hallpass/http'
import { describeDevice } from '../device.ts'
import { action, facts, h, main, relative, replace, status, table, when } from '../dom.ts'
import { api, auth, signInForm, watchSession } from '../session.ts'

const REASONS: Record<string, string> = {
  logout: 'you signed out',
  revoked: 'this session was revoked from another device or by an admin',
  reuse_detected: 'a refresh token was used twice, so the session was ended as stolen',
  expired: 'the session reached its time limit',
  invalid: 'the server no longer accepts this session',
  no_session: 'there is no session in this browser',
}

const log = h('ol', { class: 'log', 'aria-label': 'Session events' })
let signedOutBecause: string | undefined

function logEvent(text: string, tone = ''): void {
  log.prepend(h('li', { class: tone }, h('span', { class: 'muted mono' }, new Date().toLocaleTimeString()), ' ', text))
}

auth.subscribe((event: ClientEvent) => {
  if (event.type === 'signed-in') logEvent('Signed in.', 'ok')
  else if (event.type === 'refreshed') logEvent(`Access token refreshed: the new one expires ${relative(event.expiresAt)}.`, 'ok')
  else {
    logEvent(`Signed out: ${REASONS[event.reason] ?? event.reason}.`, event.reason === 'logout' ? '' : 'bad')
    signedOutBecause = event.reason
  }
  render()
})

let countdown: ReturnType<typeof setInterval> | undefined

function tokenSection(): HTMLElement {
  const claims = auth.claims() ?? {}
  const token = claims as { iat?: number; exp?: number; sid?: string }
  const header = headerOf ?? {}
  const remaining = h('p', { class: 'countdown', 'aria-live': 'off' })
  const bar = h('span')
  const meter = h('div', { class: 'meter', role: 'presentation' }, bar)
  const tick = (): void => {
    if (token.exp === undefined || token.iat === undefined) return
    const left = Math.max(0, token.exp * 1000 - auth.serverTime())
    remaining.textContent = `${Math.floor(left / 60_000)}:${String(Math.floor(left / 1000) % 60).padStart(2, '0')}`
    bar.style.width = `${Math.min(100, (100 * left) / ((token.exp - token.iat) * 1000))}%`
  }
  clearInterval(countdown)
  countdown = setInterval(tick, 1000)
  tick()
  const result = status()
  const call = action(
    'Call a protected API',
    async () => {
      const started = performance.now()
      const response = await auth.fetch(ENDPOINTS.me)
      const elapsed = Math.round(performance.now() - started)
      replace(result, h('span', { class: response.ok ? 'ok' : 'bad' }, `GET ${ENDPOINTS.me} → ${response.status} ${response.ok ? 'OK' : response.statusText} in ${elapsed} ms`))
    },
    result,
  )
  return h(
    'section',
    { 'aria-labelledby': 'token-title' },
    h('h2', { id: 'token-title' }, 'Your access token'),
    h('p', { class: 'muted' }, 'Signed by this server, checked by every service on its own. It lives in this page’s memory only and renews itself before it expires.'),
    h('p', {}, 'Expires in'),
    remaining,
    meter,
    facts([
      ['Algorithm', h('code', {}, typeof header.alg === 'string' ? header.alg : '?')],
      ['Key id (kid)', h('code', {}, typeof header.kid === 'string' ? header.kid : '?')],
      ['Issued', token.iat !== undefined ? when(token.iat * 1000, auth.serverTime()) : '—'],
      ['Expires', token.exp !== undefined ? when(token.exp * 1000, auth.serverTime()) : '—'],
      ['Session', h('code', {}, String(token.sid ?? '?'))],
    ]),
    h('details', {}, h('summary', {}, 'All claims'), h('pre', {}, JSON.stringify(claims, null, 2))),
    h('div', { class: 'row' }, call, h('a', { href: '/debugger' }, 'Inspect a token in the debugger')),
    result,
  )
}

// The header of the token in memory (alg, kid): the first part of what the client hands out.
let headerOf: Record<string, unknown> | undefined

async function loadHeader(): Promise<void> {
  try {
    const token = await auth.getAccessToken()
    const part = token.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/')
    headerOf = JSON.parse(atob(part)) as Record<string, unknown>
  } catch {
    headerOf = undefined
  }
}

function devicesSection(): HTMLElement {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading your devices…'))
  const message = status()
  const load = async (): Promise<void> => {
    const { sessions } = await api<{ sessions: SessionSummary[] }>(ENDPOINTS.sessions)
    const others = sessions.filter((s) => !s.current)
    const now = auth.serverTime()
    replace(
      body,
      table(
        ['Device', 'IP address', 'Signed in', 'Last used', ''],
        sessions.map((session) => [
          h('span', {}, describeDevice(session.device?.userAgent), session.current ? h('span', { class: 'badge ok', title: 'This browser' }, ' this device ') : null, session.device?.label !== undefined ? h('div', { class: 'muted' }, session.device.label) : null),
          h('span', { class: 'mono' }, session.device?.ip ?? '—'),
          when(session.created_at, now),
          when(session.last_seen_at, now),
          session.current
            ? h('span', { class: 'muted' }, 'current')
            : action('Sign out', async () => {
                await auth.revokeSession(session.id)
                replace(message, 'Signed that device out.')
                await load()
              }, message, { class: 'secondary', 'aria-label': `Sign out ${describeDevice(session.device?.userAgent)} (${session.id.slice(0, 6)})` }),
        ]),
        `${sessions.length} active session${sessions.length === 1 ? '' : 's'}`,
      ),
      h(
        'div',
        { class: 'row' },
        others.length > 0
          ? action('Sign out all other devices', async () => {
              for (const session of others) await auth.revokeSession(session.id)
              replace(message, `Signed ${others.length} other device${others.length === 1 ? '' : 's'} out.`)
              await load()
            }, message, { class: 'secondary' })
          : null,
        action('Sign out everywhere', () => auth.logoutAll(), message, { class: 'danger' }),
      ),
    )
  }
  void load().catch(() => replace(body, h('p', { class: 'bad' }, 'Your devices could not be loaded.')))
  const refresh = setInterval(() => {
    if (auth.state === 'signed-in' && document.visibilityState === 'visible') void load().catch(() => undefined)
    else clearInterval(refresh)
  }, 15_000)
  return h('section', { 'aria-labelledby': 'devices-title' }, h('h2', { id: 'devices-title' }, 'Your devices'), body, message)
}

function render(): void {
  const root = main()
  clearInterval(countdown)
  if (auth.state === 'unknown') return
  if (auth.state === 'signed-out') {
    const reason = signedOutBecause !== undefined && signedOutBecause !== 'no_session' ? h('p', { class: 'notice', role: 'alert' }, `You were signed out: ${REASONS[signedOutBecause] ?? signedOutBecause}.`) : null
    replace(root, reason, signInForm('Sign in to see your session refresh itself and the devices you are signed in on. A fresh `hallpass serve` prints the demo user’s password once, at its first start.'), eventsSection())
    return
  }
  void loadHeader().then(() => {
    if (auth.state !== 'signed-in') return
    const sub = auth.claims()?.sub
    const user = typeof sub === 'string' ? sub : ''
    replace(
      root,
      h('div', { class: 'row' }, h('h1', {}, `Signed in as ${user}`), action('Sign out', () => auth.logout(), log, { class: 'secondary' })),
      h('div', { class: 'grid' }, tokenSection(), eventsSection()),
      devicesSection(),
    )
  })
}

function eventsSection(): HTMLElement {
  return h('section', { 'aria-labelledby': 'events-title' }, h('h2', { id: 'events-title' }, 'Events'), log)
}

watchSession((reason) => logEvent(`The server says this session was revoked (${reason}).`, 'bad'))
