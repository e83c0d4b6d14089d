// `/admin`: the console for users with the admin role. Health and metrics at a glance, signing
// keys and "rotate now", users (add, disable, reset password), sessions by user, the live
// revocation feed and the audit trail. Every call carries the admin's access token; the server
// checks the role on each one.
import { ADMIN_ENDPOINTS } from 'hallpass/http'
import { describeDevice } from '../device.ts'
import { action, facts, h, main, replace, status, table, when } from '../dom.ts'
import { api, ApiError, auth, readEvents, signInForm, watchSession } from '../session.ts'

interface Key { kid: string; alg: string; state: 'next' | 'active' | 'retired'; created_at: string; activate_at: string; retire_at: string | null; drop_at: string | null }
interface Keys { algorithm: string; rotation_interval_seconds: number; publish_lead_seconds: number; next_change_at: string | null; keys: Key[] }
interface User { username: string; admin: boolean; disabled: boolean; created_at: string; updated_at: string }
interface Session { id: string; user: string; created_at: string; last_seen_at: string; expires_at: string; device: { userAgent?: string; ip?: string; label?: string } | null }
interface AuditEvent { type: string; at: string; user: string; session_id: string; reason?: string; classification?: string; ip?: string }
interface Overview { issuer: string; health: { store: boolean; feed: boolean }; users: number; admins: number; feed_subscribers: number; uptime_seconds: number; metrics: Record<string, Record<string, number>> }

const duration = (seconds: number): string => (seconds % 86_400 === 0 ? `${seconds / 86_400} d` : seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`)
const sum = (values: Record<string, number> | undefined, label?: string): number =>
  Object.entries(values ?? {}).filter(([key]) => label === undefined || key.split(',').includes(label)).reduce((total, [, value]) => total + value, 0)

function panel(id: string, title: string, ...children: Array<Node | null>): HTMLElement {
  return h('section', { id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), ...children)
}

function overviewPanel(): HTMLElement {
  const body = h('div', {}, 'Loading…')
  const load = async (): Promise<void> => {
    const o = await api<Overview>(ADMIN_ENDPOINTS.overview)
    const m = o.metrics
    // A rotation, or the same successor again (a racing tab, a retry after a lost answer): all
    // are refreshes that worked.
    const refreshed = ['rotated', 'concurrent_replay', 'undelivered_replay'].reduce((n, result) => n + sum(m.hallpass_refreshes_total, result), 0)
    const good = (ok: boolean, text: string): HTMLElement => h('span', { class: ok ? 'ok' : 'bad' }, ok ? `● ${text}` : `● not ${text}`)
    replace(
      body,
      facts([
        ['Store', good(o.health.store, 'answering')],
        ['Revocation feed', good(o.health.feed, 'live')],
        ['Users', `${o.users} (${o.admins} admin${o.admins === 1 ? '' : 's'})`],
        ['Logins', `${sum(m.hallpass_logins_total, 'success')} ok, ${sum(m.hallpass_logins_total) - sum(m.hallpass_logins_total, 'success')} refused`],
        ['Refreshes', `${refreshed} ok, ${sum(m.hallpass_refreshes_total) - refreshed} refused`],
        ['Reuse detections', String(sum(m.hallpass_refresh_reuse_detections_total))],
        ['Revocations', String(sum(m.hallpass_revocations_total))],
        ['Feed subscribers', String(o.feed_subscribers)],
        ['Up for', duration(o.uptime_seconds)],
      ]),
      h('p', { class: 'muted' }, 'Counted by this instance since it started; all of them at ', h('a', { href: '/metrics' }, '/metrics'), '.'),
    )
  }
  void load().catch(() => replace(body, h('p', { class: 'bad' }, 'Could not load the overview.')))
  return panel('overview', 'Health and metrics', body)
}

function keysPanel(): HTMLElement {
  const body = h('div', {}, 'Loading…')
  const message = status()
  const show = (keys: Keys): void => {
    const now = Date.now()
    replace(
      body,
      facts([
        ['Algorithm', keys.algorithm],
        ['Rotation', `every ${duration(keys.rotation_interval_seconds)}, each new key published ${duration(keys.publish_lead_seconds)} before it signs`],
        ['Next change', keys.next_change_at === null ? 'none scheduled' : when(keys.next_change_at, now)],
      ]),
      table(
        ['State', 'Key id', 'Algorithm', 'Signs from', 'Retires', 'Leaves the JWKS'],
        keys.keys.map((key) => [
          h('span', { class: `badge ${key.state === 'active' ? 'ok' : key.state === 'next' ? 'warn' : 'muted'}`, 'data-state': key.state }, key.state),
          h('code', { 'data-kid': key.kid }, key.kid),
          key.alg,
          when(key.activate_at, now),
          key.retire_at === null ? '—' : when(key.retire_at, now),
          key.drop_at === null ? '—' : when(key.drop_at, now),
        ]),
        'Signing keys, oldest first',
      ),
      h(
        'div',
        { class: 'row' },
        action('Rotate now (publish first)', async () => {
          show(await api<Keys>(ADMIN_ENDPOINTS.rotate, { method: 'POST', body: { activate: 'scheduled' } }))
          replace(message, `A new key is published; it signs in ${duration(keys.publish_lead_seconds)}, once every verifier has seen it.`)
        }, message),
        action('Rotate and sign with it at once', async () => {
          show(await api<Keys>(ADMIN_ENDPOINTS.rotate, { method: 'POST', body: { activate: 'now' } }))
          replace(message, 'The new key signs from now on. Verifiers fetch the JWKS when they meet its kid; tokens of the old key stay valid until they expire.')
        }, message, { class: 'secondary' }),
      ),
    )
  }
  void api<Keys>(ADMIN_ENDPOINTS.keys).then(show, () => replace(body, h('p', { class: 'bad' }, 'Could not load the keys.')))
  return panel('keys', 'Signing keys', body, message)
}

function usersPanel(onPick: (username: string) => void): HTMLElement {
  const body = h('div', {}, 'Loading…')
  const message = status()
  const load = async (): Promise<void> => {
    const { users } = await api<{ users: User[] }>(ADMIN_ENDPOINTS.users)
    replace(
      body,
      table(
        ['User', 'Role', 'Status', 'Created', ''],
        users.map((user) => [
          h('strong', {}, user.username),
          user.admin ? 'admin' : 'user',
          user.disabled ? h('span', { class: 'bad' }, 'disabled') : h('span', { class: 'ok' }, 'active'),
          when(user.created_at),
          h(
            'div',
            { class: 'row' },
            h('button', { type: 'button', class: 'secondary', onclick: () => onPick(user.username), 'aria-label': `Sessions of ${user.username}` }, 'Sessions'),
            action(user.disabled ? 'Enable' : 'Disable', async () => {
              const result = await api<{ revoked_sessions: number }>(`${ADMIN_ENDPOINTS.users}/${encodeURIComponent(user.username)}`, { method: 'PATCH', body: { disabled: !user.disabled } })
              replace(message, user.disabled ? `${user.username} can sign in again.` : `${user.username} is disabled; ${result.revoked_sessions} session(s) revoked.`)
              await load()
            }, message, { class: 'secondary', 'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.username}` }),
            action('Reset password', async () => {
              const result = await api<{ password: string; revoked_sessions: number }>(`${ADMIN_ENDPOINTS.users}/${encodeURIComponent(user.username)}/password`, { method: 'POST', body: {} })
              replace(message, `New password for ${user.username}: `, h('code', {}, result.password), ` (shown once). ${result.revoked_sessions} session(s) revoked.`)
            }, message, { class: 'secondary', 'aria-label': `Reset password of ${user.username}` }),
          ),
        ]),
        `${users.length} user${users.length === 1 ? '' : 's'}`,
      ),
    )
  }
  const username = h('input', { name: 'new-username', required: true, autocomplete: 'off', autocapitalize: 'none' })
  const admin = h('input', { type: 'checkbox', name: 'new-admin' })
  const form = h('form', { class: 'row', 'aria-label': 'Add a user' }, h('label', {}, 'New user', username), h('label', { class: 'row' }, admin, 'admin'), h('button', { type: 'submit' }, 'Add'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    api<{ username: string; password: string }>(ADMIN_ENDPOINTS.users, { method: 'POST', body: { username: username.value, admin: admin.checked } })
      .then(async (created) => {
        replace(message, `Added ${created.username}; password `, h('code', {}, created.password), ' (shown once).')
        form.reset()
        await load()
      })
      .catch((error: unknown) => replace(message, h('span', { class: 'bad' }, error instanceof Error ? error.message : 'Could not add the user.')))
  })
  void load().catch(() => replace(body, h('p', { class: 'bad' }, 'Could not load the users.')))
  return panel('users', 'Users', body, form, message)
}

function sessionsPanel(): { element: HTMLElement; pick: (username: string) => void } {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Pick a user to see their sessions.'))
  const message = status()
  const user = h('input', { name: 'sessions-user', autocomplete: 'off', autocapitalize: 'none' })
  const load = async (username: string): Promise<void> => {
    user.value = username
    const { sessions } = await api<{ sessions: Session[] }>(`${ADMIN_ENDPOINTS.sessions}?user=${encodeURIComponent(username)}`)
    replace(
      body,
      table(
        ['Device', 'IP address', 'Signed in', 'Last used', ''],
        sessions.map((session) => [
          describeDevice(session.device?.userAgent),
          h('span', { class: 'mono' }, session.device?.ip ?? '—'),
          when(session.created_at),
          when(session.last_seen_at),
          action('Revoke', async () => {
            await api(`${ADMIN_ENDPOINTS.sessions}/${session.id}`, { method: 'DELETE' })
            replace(message, `Revoked; that browser signs out within a second.`)
            await load(username)
          }, message, { class: 'danger', 'aria-label': `Revoke session ${session.id.slice(0, 6)} of ${username}` }),
        ]),
        `${sessions.length} live session${sessions.length === 1 ? '' : 's'} of ${username}`,
      ),
    )
  }
  const pick = (username: string): void => void load(username).catch(() => replace(body, h('p', { class: 'bad' }, 'Could not load the sessions.')))
  const form = h('form', { class: 'row', 'aria-label': 'Sessions of a user' }, h('label', {}, 'User', user), h('button', { type: 'submit' }, 'Show sessions'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    pick(user.value)
  })
  return { element: panel('sessions', 'Sessions', form, body, message), pick }
}

function feedPanel(): HTMLElement {
  const list = h('ol', { class: 'log', 'aria-label': 'Revocations as they happen' })
  const state = h('p', { class: 'muted' }, 'Connecting…')
  const follow = async (): Promise<void> => {
    const response = await auth.fetch(ADMIN_ENDPOINTS.revocations)
    if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`)
    replace(state, h('span', { class: 'ok' }, '● live'))
    for await (const event of readEvents(response.body)) {
      if (event.type !== 'revocation') continue
      const entry = JSON.parse(event.data) as { sid: string; reason: string; revoked_at: string }
      list.prepend(h('li', {}, h('span', { class: 'mono muted' }, new Date(entry.revoked_at).toLocaleTimeString()), ' session ', h('code', {}, entry.sid), ` revoked (${entry.reason})`))
    }
  }
  const run = (): void =>
    void follow()
      .catch(() => undefined)
      .finally(() => {
        if (auth.state !== 'signed-in') return
        replace(state, h('span', { class: 'warn' }, '● reconnecting'))
        setTimeout(run, 3000)
      })
  run()
  return panel('feed', 'Revocation feed (live)', state, list)
}

function auditPanel(): HTMLElement {
  const body = h('div', {}, 'Loading…')
  const type = h(
    'select',
    { name: 'audit-type' },
    h('option', { value: '' }, 'every event'),
    ...['session.created', 'refresh.rotated', 'refresh.replayed', 'refresh.reuse_detected', 'session.revoked', 'session.expired'].map((value) => h('option', { value }, value)),
  )
  const user = h('input', { name: 'audit-user', autocomplete: 'off', autocapitalize: 'none' })
  const load = async (): Promise<void> => {
    const query = new URLSearchParams({ limit: '100' })
    if (type.value !== '') query.set('type', type.value)
    if (user.value !== '') query.set('user', user.value)
    const { events } = await api<{ events: AuditEvent[] }>(`${ADMIN_ENDPOINTS.audit}?${query.toString()}`)
    replace(
      body,
      table(
        ['When', 'Event', 'User', 'Session', 'Details'],
        events.map((event) => [
          when(event.at),
          h('span', { class: event.type === 'refresh.reuse_detected' ? 'bad' : '' }, event.type),
          event.user,
          h('code', {}, event.session_id.slice(0, 8)),
          [event.reason, event.classification, event.ip].filter(Boolean).join(' · '),
        ]),
        `${events.length} most recent event${events.length === 1 ? '' : 's'}`,
      ),
    )
  }
  const reload = (): void => void load().catch(() => replace(body, h('p', { class: 'bad' }, 'Could not load the audit events.')))
  const form = h('form', { class: 'row', 'aria-label': 'Filter audit events' }, h('label', {}, 'Event', type), h('label', {}, 'User', user), h('button', { type: 'submit' }, 'Filter'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    reload()
  })
  reload()
  return panel('audit', 'Audit events', form, body)
}

async function render(): Promise<void> {
  const root = main()
  if (auth.state === 'unknown') return
  if (auth.state === 'signed-out') {
    replace(root, signInForm('The admin console is for users with the admin role (hallpass users add alice --admin).'))
    return
  }
  try {
    await api(ADMIN_ENDPOINTS.overview)
  } catch (error) {
    const text =
      error instanceof ApiError && error.status === 404
        ? 'The admin console is off: no user has the admin role. Give one the role with `hallpass users add alice --admin` or `hallpass users set demo --admin`.'
        : error instanceof ApiError && error.status === 403
          ? `${String(auth.claims()?.sub)} does not have the admin role.`
          : 'The admin API could not be reached.'
    replace(root, h('h1', {}, 'Admin console'), h('p', { class: 'notice bad', role: 'alert' }, text), action('Sign out', () => auth.logout(), root, { class: 'secondary' }))
    return
  }
  const sessions = sessionsPanel()
  replace(
    root,
    h('div', { class: 'row' }, h('h1', {}, 'Admin console'), h('span', { class: 'muted' }, `signed in as ${String(auth.claims()?.sub)}`), action('Sign out', () => auth.logout(), root, { class: 'secondary' })),
    h('div', { class: 'grid' }, overviewPanel(), feedPanel()),
    keysPanel(),
    usersPanel(sessions.pick),
    sessions.element,
    auditPanel(),
  )
}

auth.subscribe((event) => {
  if (event.type !== 'refreshed') void render()
})
watchSession()
