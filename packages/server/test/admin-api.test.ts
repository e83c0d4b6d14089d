// The admin console's API (/admin/api/*) on every store: off (404) while no user holds the
// admin role or there is no user table, RFC 6750 answers without a valid token, 403 for
// everyone else (read from the user table on every call, so a role taken away or a disabled
// admin is refused at the next call with the same token), and what each endpoint does to
// the store: signing keys and rotation, users (add, disable, promote, reset password),
// sessions, the audit trail and the live revocation stream. Hostile input changes nothing.
import assert from 'node:assert/strict'
import { createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../src/index.ts'
import {
  assertError,
  ISSUER,
  openSse,
  startServer,
  STORE_KINDS,
  storeSkipReason,
  testPasswordHash,
  TEST_PASSWORD,
  TEST_USERNAME,
  type HttpResult,
  type Json,
  type RequestOptions,
  type TestServer,
  type TokenResponse, resetStorm } from './harness.ts'

const skips = new Map(await Promise.all(STORE_KINDS.map(async (kind) => [kind, await storeSkipReason(kind)] as const)))
const ADMIN = 'root'
const API = '/admin/api'
const API_CSP = "default-src 'none'; frame-ancestors 'none'"

/** Every endpoint of the admin API, with a request each would accept from an admin. */
const ENDPOINTS: ReadonlyArray<{ path: string; options: RequestOptions }> = [
  { path: `${API}/overview`, options: {} },
  { path: `${API}/keys`, options: {} },
  { path: `${API}/keys/rotate`, options: { json: { activate: 'now' } } },
  { path: `${API}/users`, options: {} },
  { path: `${API}/users`, options: { json: { username: 'intruder', password: 'intruder password 1' } } },
  { path: `${API}/users/${TEST_USERNAME}`, options: { method: 'PATCH', json: { admin: true } } },
  { path: `${API}/users/${TEST_USERNAME}/password`, options: { json: { password: 'taken over password' } } },
  { path: `${API}/sessions?user=${TEST_USERNAME}`, options: {} },
  { path: `${API}/sessions/${'A'.repeat(22)}`, options: { method: 'DELETE' } },
  { path: `${API}/audit?user=${TEST_USERNAME}`, options: {} },
  { path: `${API}/revocations`, options: {} },
]

const decodeSegment = (jwt: string, index: number): Json => JSON.parse(Buffer.from(jwt.split('.')[index]!, 'base64url').toString('utf8'))

/** Verifies a compact JWS against one public JWK (the algorithms hallpass signs with). */
function verifyJws(jwt: string, jwk: JsonWebKey & { alg?: string }): boolean {
  const [header, payload, signature] = jwt.split('.') as [string, string, string]
  const data = Buffer.from(`${header}.${payload}`)
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  const sig = Buffer.from(signature, 'base64url')
  const alg = decodeSegment(jwt, 0).alg as string
  if (alg === 'EdDSA') return verify(null, data, key, sig)
  const hash = `sha${alg.slice(2)}`
  if (alg.startsWith('ES')) return verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig)
  if (alg.startsWith('PS')) return verify(hash, data, { key, padding: 6, saltLength: Number(alg.slice(2)) / 8 }, sig)
  return verify(hash, data, key, sig)
}

/** Closes a second app on the server's context; as the harness does, connections left open do not hold it. */
async function closeApp(app: FastifyInstance): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), 500)
  try {
    await app.close()
  } finally {
    clearTimeout(force)
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await delay(20)
  }
}

for (const kind of STORE_KINDS) {
  describe(`admin API (${kind})`, { skip: skips.get(kind) }, () => {
    let server: TestServer
    /** The admin's session (root, minted: no argon2 cost). */
    let root: TokenResponse
    /** An ordinary signed-in user's session. */
    let alice: TokenResponse

    before(async () => {
      server = await startServer(kind)
      alice = await server.mint()
    })
    after(() => server?.close())

    const asAdmin = (path: string, options: RequestOptions = {}): Promise<HttpResult> => server.request(path, { ...options, bearer: root.access_token })
    const login = (username: string, password: string): Promise<HttpResult> => server.request('/auth/login', { json: { username, password } })
    const refresh = (token: string): Promise<HttpResult> => server.request('/auth/refresh', { json: { refresh_token: token } })
    const userOf = async (username: string): Promise<Json> => (await asAdmin(`${API}/users`)).body.users.find((u: Json) => u.username === username)
    const addAdmin = async (username: string): Promise<void> => {
      const now = Date.now()
      assert.equal(await server.ctx.users!.createUser({ username, passwordHash: await testPasswordHash(), createdAt: now, updatedAt: now, admin: true }), true)
    }
    /** Runs `attack` and asserts that the store (users, these subjects' sessions, revocations, keyring) is as before. */
    const unchanged = async (subjects: readonly string[], attack: () => Promise<void>): Promise<void> => {
      const snapshot = await server.snapshot(subjects)
      await attack()
      assert.deepEqual(await server.snapshot(subjects), snapshot, 'nothing stored changed')
    }

    test('off (404) while no user is an enabled admin: with a valid token, without one, and for a disabled admin', async () => {
      await server.addUser(ADMIN)
      // An admin who is disabled cannot use the role: the API stays off.
      const now = Date.now()
      assert.equal(await server.ctx.users!.createUser({ username: 'ghost', passwordHash: await testPasswordHash(), createdAt: now, updatedAt: now, admin: true, disabled: true }), true)
      assert.equal(await server.ctx.users!.countAdmins(), 0)
      const rootSession = await server.mint(ADMIN)
      await unchanged([TEST_USERNAME, ADMIN], async () => {
        for (const { path, options } of ENDPOINTS) {
          for (const bearer of [alice.access_token, rootSession.access_token, undefined]) {
            const res = await server.request(path, { ...options, ...(bearer !== undefined ? { bearer } : {}) })
            assertError(res, 404, 'not_found', `${options.method ?? (options.json ? 'POST' : 'GET')} ${path}`)
            assert.equal(res.headers.get('www-authenticate'), null, 'no challenge: the API is not there')
          }
        }
      })
    })

    test('on once a user is made admin (updateUser): the admin gets 200', async () => {
      assert.equal(await server.ctx.users!.updateUser(ADMIN, { admin: true }, Date.now()), true)
      root = await server.mint(ADMIN)
      const res = await asAdmin(`${API}/overview`)
      assert.equal(res.status, 200, res.text)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.headers.get('content-security-policy'), API_CSP)
    })

    test('off (404) without a user table (a custom credential check), even for an admin', async () => {
      const app = await buildServer({ ...server.ctx, users: undefined }, { logger: false })
      try {
        await app.listen({ port: 0, host: '127.0.0.1' })
        const address = app.server.address()
        assert.ok(typeof address === 'object' && address !== null)
        for (const { path, options } of ENDPOINTS.filter((e) => e.options.json === undefined && e.options.method === undefined)) {
          const res = await fetch(`http://127.0.0.1:${address.port}${path}`, { headers: { authorization: `Bearer ${root.access_token}` } })
          assert.equal(res.status, 404, `${path} ${JSON.stringify(options)}`)
          assert.equal(((await res.json()) as Json).error, 'not_found')
        }
        // The same token is an admin's on the server that has the table.
        assert.equal((await asAdmin(`${API}/users`)).status, 200)
      } finally {
        await closeApp(app)
      }
    })

    test('401 with an RFC 6750 challenge without a token, with a bad one, and with a revoked session\'s', async () => {
      const revoked = await server.mint(ADMIN)
      assert.equal((await server.request('/auth/logout', { json: { refresh_token: revoked.refresh_token } })).status, 204)
      const [h, p, s] = root.access_token.split('.') as [string, string, string]
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...decodeSegment(root.access_token, 1), sub: 'someone-else' })).toString('base64url')}.${s}`
      await unchanged([TEST_USERNAME, ADMIN], async () => {
        for (const { path, options } of ENDPOINTS) {
          const none = await server.request(path, options)
          assertError(none, 401, 'unauthorized', `no token: ${path}`)
          assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="hallpass"')
          for (const [what, token] of [['garbage', 'not-a-jwt'], ['forged', forged], ['revoked session', revoked.access_token], ['admin API key', server.adminKey]] as const) {
            const bad = await server.request(path, { ...options, bearer: token })
            assertError(bad, 401, 'invalid_token', `${what}: ${path}`)
            assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="hallpass", error="invalid_token"/)
          }
        }
        // A token without its signature part for good measure.
        assertError(await server.request(`${API}/overview`, { bearer: `${h}.${p}` }), 401, 'invalid_token')
      })
    })

    test('403 for a signed-in user who is not an admin; nothing they ask for happens', async () => {
      await unchanged([TEST_USERNAME, ADMIN], async () => {
        for (const { path, options } of ENDPOINTS) {
          const res = await server.request(path, { ...options, bearer: alice.access_token })
          assertError(res, 403, 'forbidden', path)
        }
      })
      assert.equal(await server.ctx.users!.getUser('intruder'), undefined)
      assert.equal((await userOf(TEST_USERNAME)).admin, false)
      assert.equal((await login(TEST_USERNAME, TEST_PASSWORD)).status, 200, 'alice\'s password is unchanged')
    })

    test('the role is read on every call: a demoted or disabled admin is refused at once, with the same token', async () => {
      await addAdmin('ops')
      const ops = await server.mint('ops')
      const overview = (): Promise<HttpResult> => server.request(`${API}/overview`, { bearer: ops.access_token })
      assert.equal((await overview()).status, 200)
      assert.equal(await server.ctx.users!.updateUser('ops', { admin: false }, Date.now()), true)
      assertError(await overview(), 403, 'forbidden', 'demoted')
      assert.equal(await server.ctx.users!.updateUser('ops', { admin: true }, Date.now()), true)
      assert.equal((await overview()).status, 200, 'promoted again')
      assert.equal(await server.ctx.users!.updateUser('ops', { disabled: true }, Date.now()), true)
      assertError(await overview(), 403, 'forbidden', 'disabled')
      assertError(await server.request(`${API}/keys/rotate`, { json: { activate: 'now' }, bearer: ops.access_token }), 403, 'forbidden', 'disabled: rotate')
      assert.equal(await server.ctx.users!.updateUser('ops', { disabled: false }, Date.now()), true)
      assert.equal((await overview()).status, 200, 'enabled again')

      // With every admin disabled there is no admin at all: the API is off again.
      assert.equal(await server.ctx.users!.updateUser('ops', { disabled: true }, Date.now()), true)
      assert.equal(await server.ctx.users!.updateUser(ADMIN, { disabled: true }, Date.now()), true)
      try {
        assertError(await asAdmin(`${API}/overview`), 404, 'not_found')
      } finally {
        assert.equal(await server.ctx.users!.updateUser(ADMIN, { disabled: false }, Date.now()), true)
      }
      assert.equal((await asAdmin(`${API}/overview`)).status, 200)
    })

    test('overview: issuer, health, user and admin counts, feed subscribers, uptime, counters', async () => {
      assert.equal((await login(TEST_USERNAME, TEST_PASSWORD)).status, 200)
      const res = await asAdmin(`${API}/overview`)
      assert.equal(res.status, 200, res.text)
      const body = res.body
      assert.equal(body.issuer, ISSUER)
      assert.deepEqual(body.health, { store: true, feed: true })
      const users = await server.ctx.users!.listUsers()
      assert.equal(body.users, users.length)
      assert.equal(body.admins, users.filter((u) => u.admin && !u.disabled).length)
      assert.equal(body.admins, 1, 'root only: ops and ghost are disabled')
      assert.equal(body.feed_subscribers, 0)
      assert.ok(Number.isInteger(body.uptime_seconds) && body.uptime_seconds >= 0)
      assert.ok(body.metrics.hallpass_logins_total.success >= 1, JSON.stringify(body.metrics.hallpass_logins_total))
      assert.equal(JSON.stringify(body).includes(server.secret), false)
      assert.equal(JSON.stringify(body).includes(server.adminKey), false)

      // A stream open now is counted.
      const sse = await openSse(`${server.url}${API}/revocations`, { authorization: `Bearer ${root.access_token}` })
      try {
        assert.equal(sse.status, 200)
        assert.equal((await asAdmin(`${API}/overview`)).body.feed_subscribers, 1)
      } finally {
        sse.close()
      }
      await until(() => server.ctx.feedSlots.size === 0, 'the stream\'s slot to come back')
    })

    test('keys: one active key; rotate now makes a new active key that the next login signs with, published in the JWKS', async () => {
      const res = await asAdmin(`${API}/keys`)
      assert.equal(res.status, 200, res.text)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.body.algorithm, server.config.algorithm)
      assert.equal(res.body.rotation_interval_seconds, server.config.keyRotationIntervalSeconds)
      assert.equal(res.body.publish_lead_seconds, server.config.keyPublishLeadSeconds)
      const keys = res.body.keys as Json[]
      assert.equal(keys.length, 1, res.text)
      const [first] = keys
      assert.equal(first.state, 'active')
      assert.equal(first.alg, server.config.algorithm)
      assert.equal(first.retire_at, null)
      assert.equal(decodeSegment(root.access_token, 0).kid, first.kid, 'tokens are signed with the active key')
      assert.equal(JSON.stringify(res.body).match(/"(d|k|p|q)":/), null, 'no private key material')

      const version = (await server.snapshot()).keyringVersion
      const rotated = await asAdmin(`${API}/keys/rotate`, { json: { activate: 'now' } })
      assert.equal(rotated.status, 200, rotated.text)
      assert.equal(rotated.headers.get('cache-control'), 'no-store')
      const after = rotated.body.keys as Json[]
      assert.equal(after.length, 2, rotated.text)
      const old = after.find((k) => k.kid === first.kid)
      const fresh = after.find((k) => k.kid !== first.kid)
      assert.equal(old.state, 'retired')
      assert.equal(fresh.state, 'active')
      assert.ok(Date.parse(old.retire_at) <= Date.now() && Date.parse(old.drop_at) > Date.now())
      assert.notEqual((await server.snapshot()).keyringVersion, version, 'the keyring is stored')
      assert.deepEqual((await asAdmin(`${API}/keys`)).body.keys.map((k: Json) => [k.kid, k.state]), after.map((k) => [k.kid, k.state]))

      const next = await login(TEST_USERNAME, TEST_PASSWORD)
      assert.equal(next.status, 200)
      const token = next.body.access_token as string
      assert.equal(decodeSegment(token, 0).kid, fresh.kid, 'the next login signs with the new key')
      const jwks = await server.request('/.well-known/jwks.json')
      const published = jwks.body.keys as Array<JsonWebKey & { kid: string }>
      assert.deepEqual(published.map((k) => k.kid).sort(), [first.kid, fresh.kid].sort(), 'both keys are published')
      assert.ok(verifyJws(token, published.find((k) => k.kid === fresh.kid)!), 'the new token verifies with the published key')
      assert.equal(verifyJws(token, published.find((k) => k.kid === first.kid)!), false, 'and not with the old one')
      assert.ok(verifyJws(root.access_token, published.find((k) => k.kid === first.kid)!), 'the old token still verifies')
      assert.equal((await server.request('/auth/me', { bearer: root.access_token })).status, 200, 'tokens of the retired key stay valid')

      // Scheduled: published now, signing after the publish lead.
      const scheduled = await asAdmin(`${API}/keys/rotate`, { json: { activate: 'scheduled' } })
      assert.equal(scheduled.status, 200, scheduled.text)
      const upcoming = (scheduled.body.keys as Json[]).filter((k) => k.state === 'next')
      assert.equal(upcoming.length, 1, scheduled.text)
      const lead = Date.parse(upcoming[0].activate_at) - Date.now()
      assert.ok(lead > (server.config.keyPublishLeadSeconds - 60) * 1000 && lead <= server.config.keyPublishLeadSeconds * 1000, `activates after the lead (${lead} ms)`)
      assert.equal((scheduled.body.keys as Json[]).find((k) => k.state === 'active').kid, fresh.kid, 'the current key still signs')
      assert.ok(Date.parse(scheduled.body.next_change_at) <= Date.parse(upcoming[0].activate_at), 'the next change is no later than the next key')
      const later = await server.mint()
      assert.equal(decodeSegment(later.access_token, 0).kid, fresh.kid)
      assert.ok((await server.request('/.well-known/jwks.json')).body.keys.some((k: Json) => k.kid === upcoming[0].kid), 'the next key is published before it signs')
    })

    test('POST /keys/rotate: hostile bodies are refused, and no key is made', async () => {
      const keys = (await asAdmin(`${API}/keys`)).body.keys
      await unchanged([ADMIN], async () => {
        for (const body of [{}, { activate: 'later' }, { activate: 'NOW' }, { activate: 0 }, { activate: null }, { activate: ['now'] }, { activate: 'now', extra: 1 }, [], 'now']) {
          assertError(await asAdmin(`${API}/keys/rotate`, { json: body }), 400, 'invalid_request', JSON.stringify(body))
        }
        assertError(await asAdmin(`${API}/keys/rotate`, { body: '{"activate":"now","__proto__":{"x":1}}', headers: { 'content-type': 'application/json' } }), 400, 'invalid_request', '__proto__')
        assertError(await asAdmin(`${API}/keys/rotate`, { body: 'activate=now', headers: { 'content-type': 'text/plain' } }), 415, 'invalid_request')
      })
      assert.deepEqual((await asAdmin(`${API}/keys`)).body.keys, keys)
    })

    test('users: list, add with a generated password shown once, the new user signs in, a taken name is 409', async () => {
      const list = await asAdmin(`${API}/users`)
      assert.equal(list.status, 200)
      assert.equal(list.headers.get('cache-control'), 'no-store')
      const listed = list.body.users as Json[]
      assert.deepEqual(listed.map((u) => u.username), (await server.ctx.users!.listUsers()).map((u) => u.username))
      assert.deepEqual(Object.keys(listed[0]).sort(), ['admin', 'created_at', 'disabled', 'updated_at', 'username'])
      assert.equal(list.text.includes('$argon2'), false, 'no password hash')
      assert.equal(listed.find((u) => u.username === ADMIN).admin, true)

      const added = await asAdmin(`${API}/users`, { json: { username: 'Bob' } })
      assert.equal(added.status, 201, added.text)
      assert.equal(added.headers.get('cache-control'), 'no-store')
      assert.equal(added.body.username, 'bob', 'normalised')
      const generated = added.body.password as string
      assert.match(generated, /^[A-Za-z0-9_-]{20}$/)
      assert.equal((await login('bob', generated)).status, 200, 'the generated password works')
      assertError(await login('bob', TEST_PASSWORD), 400, 'invalid_grant')
      const bob = await userOf('bob')
      assert.equal(bob.admin, false)
      assert.equal(bob.disabled, false)
      assert.equal(JSON.stringify((await asAdmin(`${API}/users`)).body).includes(generated), false, 'shown once: not in the list')

      await unchanged([ADMIN, 'bob'], async () => {
        for (const username of ['bob', 'BOB', 'ｂｏｂ', ' bob ']) {
          assertError(await asAdmin(`${API}/users`, { json: { username, password: 'another password 1' } }), 409, 'conflict', username)
        }
      })
      assert.equal((await login('bob', generated)).status, 200, 'the first password still works')

      const chosen = await asAdmin(`${API}/users`, { json: { username: 'carol', password: 'carol chose this one', admin: true } })
      assert.equal(chosen.status, 201, chosen.text)
      assert.deepEqual(chosen.body, { username: 'carol' }, 'no password echoed back when one was given')
      assert.equal((await login('carol', 'carol chose this one')).status, 200)
      assert.equal((await userOf('carol')).admin, true)
      assert.equal((await server.request(`${API}/overview`, { bearer: (await server.mint('carol')).access_token })).status, 200, 'carol is an admin')
    })

    test('users: hostile usernames, passwords and bodies are refused (400) and nothing is stored', async () => {
      const bodies: unknown[] = [
        {},
        { username: '' },
        { username: ' ' },
        { username: 'a b' },
        { username: 'tab\tname' },
        { username: 'nul\u0000name' },
        { username: 'del\u007fname' },
        { username: '\ud800' },
        { username: 'x'.repeat(129) },
        { username: 'x'.repeat(257) },
        { username: 123 },
        { username: null },
        { username: ['dave'] },
        { username: { name: 'dave' } },
        { username: 'dave', password: '' },
        { username: 'dave', password: 'short' },
        { username: 'dave', password: 'x'.repeat(1025) },
        { username: 'dave', password: 12345678 },
        { username: 'dave', password: null },
        { username: 'dave', admin: 'true' },
        { username: 'dave', admin: 1 },
        { username: 'dave', disabled: true },
        { username: 'dave', role: 'admin' },
        [{ username: 'dave' }],
        'dave',
      ]
      await unchanged([ADMIN, 'dave'], async () => {
        for (const body of bodies) {
          assertError(await asAdmin(`${API}/users`, { json: body }), 400, 'invalid_request', JSON.stringify(body))
        }
        const json = { 'content-type': 'application/json' }
        for (const raw of ['{"username":"dave","__proto__":{"admin":true}}', '{"username":"dave","constructor":{"prototype":{"admin":true}}}', '{"username": "dave"', 'null']) {
          assertError(await asAdmin(`${API}/users`, { body: raw, headers: json }), 400, 'invalid_request', raw)
        }
        assertError(await asAdmin(`${API}/users`, { body: JSON.stringify({ username: 'dave', pad: 'x'.repeat(server.config.bodyLimitBytes) }), headers: json }), 413, 'invalid_request')
      })
      assert.equal(await server.ctx.users!.getUser('dave'), undefined)
      assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')
    })

    test('PATCH disable: every session is revoked, and login is refused exactly as a wrong password is', async () => {
      await server.addUser('eve')
      const first = await login('eve', TEST_PASSWORD)
      assert.equal(first.status, 200)
      const second = await server.mint('eve')
      const revocationsBefore = await server.metric('hallpass_revocations_total', { reason: 'user_disabled' })
      const res = await asAdmin(`${API}/users/eve`, { method: 'PATCH', json: { disabled: true } })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.deepEqual(res.body, { username: 'eve', revoked_sessions: 2 })
      assert.equal(await server.metric('hallpass_revocations_total', { reason: 'user_disabled' }), revocationsBefore + 2)
      assert.equal((await userOf('eve')).disabled, true)
      assert.deepEqual(await server.ctx.sessions.list('eve'), [])
      for (const session of [first.body as TokenResponse, second]) {
        assertError(await refresh(session.refresh_token), 400, 'invalid_grant', 'refresh of a disabled user\'s session')
        assertError(await server.request('/auth/me', { bearer: session.access_token }), 401, 'invalid_token')
      }

      const right = await login('eve', TEST_PASSWORD)
      const wrong = await login('eve', 'not the password at all')
      const unknown = await login('nobody-at-all', TEST_PASSWORD)
      assertError(right, 400, 'invalid_grant', 'a disabled user\'s right password')
      for (const other of [wrong, unknown]) {
        assert.equal(right.status, other.status)
        assert.deepEqual(right.body, other.body)
        assert.equal(right.headers.get('x-hallpass-error'), other.headers.get('x-hallpass-error'))
        assert.equal(right.headers.get('cache-control'), other.headers.get('cache-control'))
      }
      assert.deepEqual(await server.ctx.sessions.list('eve'), [], 'no session was made')

      const enabled = await asAdmin(`${API}/users/eve`, { method: 'PATCH', json: { disabled: false } })
      assert.deepEqual(enabled.body, { username: 'eve', revoked_sessions: 0 })
      assert.equal((await login('eve', TEST_PASSWORD)).status, 200, 'enabled again: login works')
      assertError(await refresh((first.body as TokenResponse).refresh_token), 400, 'invalid_grant', 'old sessions stay revoked')

      // Promote and demote, by a name as typed.
      assert.deepEqual((await asAdmin(`${API}/users/EVE`, { method: 'PATCH', json: { admin: true } })).body, { username: 'eve', revoked_sessions: 0 })
      assert.equal((await userOf('eve')).admin, true)
      assert.equal((await asAdmin(`${API}/users/eve`, { method: 'PATCH', json: { admin: false } })).status, 200)
      assert.equal((await userOf('eve')).admin, false)
    })

    test('PATCH: an admin cannot demote or disable themself (409); unknown users 404; hostile bodies 400', async () => {
      await unchanged([ADMIN, TEST_USERNAME], async () => {
        for (const name of [ADMIN, 'ROOT', 'ｒｏｏｔ']) {
          for (const body of [{ disabled: true }, { admin: false }, { admin: false, disabled: false }, { admin: true, disabled: true }]) {
            assertError(await asAdmin(`${API}/users/${encodeURIComponent(name)}`, { method: 'PATCH', json: body }), 409, 'conflict', `${name} ${JSON.stringify(body)}`)
          }
        }
        assertError(await asAdmin(`${API}/users/nobody-here`, { method: 'PATCH', json: { disabled: true } }), 404, 'not_found')
        for (const body of [{}, { admin: 'false' }, { disabled: 0 }, { disabled: null }, { admin: true, role: 'x' }, { password: 'new password 1' }, [], 'x']) {
          assertError(await asAdmin(`${API}/users/${TEST_USERNAME}`, { method: 'PATCH', json: body }), 400, 'invalid_request', JSON.stringify(body))
        }
        for (const name of ['a%20b', '%00', 'x'.repeat(129), '%ED%A0%80']) {
          assertError(await asAdmin(`${API}/users/${name}`, { method: 'PATCH', json: { disabled: true } }), 400, 'invalid_request', name)
        }
      })
      assert.equal((await asAdmin(`${API}/overview`)).status, 200, 'still an admin')
      const self = await userOf(ADMIN)
      assert.equal(self.admin, true)
      assert.equal(self.disabled, false)
    })

    test('password reset: the generated password works, the old one fails, every session is revoked', async () => {
      await server.addUser('frank')
      const session = await login('frank', TEST_PASSWORD)
      assert.equal(session.status, 200)
      const res = await asAdmin(`${API}/users/frank/password`, { json: {} })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.body.username, 'frank')
      assert.equal(res.body.revoked_sessions, 1)
      const generated = res.body.password as string
      assert.match(generated, /^[A-Za-z0-9_-]{20}$/)
      assertError(await refresh((session.body as TokenResponse).refresh_token), 400, 'invalid_grant')
      assertError(await server.request('/auth/me', { bearer: (session.body as TokenResponse).access_token }), 401, 'invalid_token')
      assertError(await login('frank', TEST_PASSWORD), 400, 'invalid_grant', 'the old password')
      const fresh = await login('frank', generated)
      assert.equal(fresh.status, 200, 'the generated password')

      // A chosen password: not echoed back; the session of the generated one ends too.
      const chosen = await asAdmin(`${API}/users/FRANK/password`, { json: { password: 'frank\'s chosen password' } })
      assert.deepEqual(chosen.body, { username: 'frank', revoked_sessions: 1 })
      assertError(await login('frank', generated), 400, 'invalid_grant')
      assert.equal((await login('frank', 'frank\'s chosen password')).status, 200)

      await unchanged(['frank', ADMIN], async () => {
        assertError(await asAdmin(`${API}/users/nobody-here/password`, { json: {} }), 404, 'not_found')
        for (const body of [{ password: 'short' }, { password: '' }, { password: 'x'.repeat(1025) }, { password: 12345678 }, { password: 'long enough 1', extra: 1 }, []]) {
          assertError(await asAdmin(`${API}/users/frank/password`, { json: body }), 400, 'invalid_request', JSON.stringify(body))
        }
      })
    })

    test('sessions: listed by user, DELETE revokes (204), unknown id 404, malformed id 400', async () => {
      const s1 = await server.mint('gina', { userAgent: 'phone/1.0', label: 'phone' })
      const s2 = await server.mint('gina')
      const list = await asAdmin(`${API}/sessions?user=gina`)
      assert.equal(list.status, 200, list.text)
      assert.equal(list.headers.get('cache-control'), 'no-store')
      const sessions = list.body.sessions as Json[]
      assert.deepEqual(sessions.map((s) => s.id).sort(), [s1.session_id, s2.session_id].sort())
      const phone = sessions.find((s) => s.id === s1.session_id)
      assert.equal(phone.user, 'gina')
      assert.equal(phone.device.label, 'phone')
      for (const field of ['created_at', 'last_seen_at', 'expires_at']) assert.ok(!Number.isNaN(Date.parse(phone[field])), field)
      assert.equal(list.text.includes('hprt_'), false, 'no refresh token material')
      assert.deepEqual((await asAdmin(`${API}/sessions?user=GINA`)).body.sessions.map((s: Json) => s.id).sort(), sessions.map((s) => s.id).sort(), 'the name is normalised')
      assert.deepEqual((await asAdmin(`${API}/sessions?user=nobody-here`)).body, { sessions: [] })

      const before = await server.metric('hallpass_revocations_total', { reason: 'admin_revoked' })
      const del = await asAdmin(`${API}/sessions/${s1.session_id}`, { method: 'DELETE' })
      assert.equal(del.status, 204, del.text)
      assert.equal(await server.metric('hallpass_revocations_total', { reason: 'admin_revoked' }), before + 1)
      assertError(await refresh(s1.refresh_token), 400, 'invalid_grant')
      assertError(await server.request('/auth/me', { bearer: s1.access_token }), 401, 'invalid_token')
      assert.equal((await server.request('/auth/me', { bearer: s2.access_token })).status, 200, 'the other session lives')
      assert.deepEqual((await asAdmin(`${API}/sessions?user=gina`)).body.sessions.map((s: Json) => s.id), [s2.session_id])
      assert.equal((await asAdmin(`${API}/sessions/${s1.session_id}`, { method: 'DELETE' })).status, 204, 'again: still 204')
      assert.equal(await server.metric('hallpass_revocations_total', { reason: 'admin_revoked' }), before + 1, 'counted once')

      await unchanged(['gina'], async () => {
        assertError(await asAdmin(`${API}/sessions/${randomBytes(16).toString('base64url').slice(0, 22)}`, { method: 'DELETE' }), 404, 'not_found')
        for (const id of ['short', 'A'.repeat(21), 'A'.repeat(23), `${'A'.repeat(21)}.`, `${'A'.repeat(21)}%00`, encodeURIComponent(`${s2.session_id.slice(0, 21)}é`)]) {
          assertError(await asAdmin(`${API}/sessions/${id}`, { method: 'DELETE' }), 400, 'invalid_request', id)
        }
        for (const query of ['', '?user=', '?user=a%20b', '?user=gina&user=bob', '?user=gina&limit=5', `?user=${'x'.repeat(257)}`]) {
          assertError(await asAdmin(`${API}/sessions${query}`), 400, 'invalid_request', query)
        }
      })
    })

    test('audit: a user\'s login, refresh and revocation, newest first, filtered by type, user, limit and before', async () => {
      const created = await login('eve', TEST_PASSWORD)
      assert.equal(created.status, 200)
      const tokens = created.body as TokenResponse
      // Events are ordered by time: keep them a few milliseconds apart.
      await delay(5)
      const refreshed = await refresh(tokens.refresh_token)
      assert.equal(refreshed.status, 200)
      await delay(5)
      assert.equal((await asAdmin(`${API}/sessions/${tokens.session_id}`, { method: 'DELETE' })).status, 204)

      const mine = (events: Json[]): Json[] => events.filter((e) => e.session_id === tokens.session_id)
      const all = await asAdmin(`${API}/audit?user=eve`)
      assert.equal(all.status, 200, all.text)
      assert.equal(all.headers.get('cache-control'), 'no-store')
      const events = all.body.events as Json[]
      assert.ok(events.every((e) => e.user === 'eve'))
      for (let i = 1; i < events.length; i++) assert.ok(Date.parse(events[i - 1].at) >= Date.parse(events[i].at), 'newest first')
      assert.deepEqual(mine(events).map((e) => e.type), ['session.revoked', 'refresh.rotated', 'session.created'])
      assert.equal(mine(events)[0].reason, 'admin_revoked')
      assert.equal(mine(events)[2].ip, '127.0.0.1')
      assert.ok(events.some((e) => e.type === 'session.revoked' && e.reason === 'user_disabled'), 'the sessions ended by disabling eve')

      const byType = async (type: string, extra = ''): Promise<Json[]> => {
        const res = await asAdmin(`${API}/audit?user=eve&type=${type}${extra}`)
        assert.equal(res.status, 200, res.text)
        assert.ok((res.body.events as Json[]).every((e) => e.type === type && e.user === 'eve'), res.text)
        return res.body.events as Json[]
      }
      assert.equal(mine(await byType('session.created')).length, 1)
      assert.equal(mine(await byType('refresh.rotated')).length, 1)
      // The newest event of that type, even though newer events of other types exist.
      assert.deepEqual((await byType('refresh.rotated', '&limit=1')).map((e) => e.session_id), [tokens.session_id])
      assert.deepEqual((await byType('session.created', '&limit=1')).map((e) => e.session_id), [tokens.session_id])
      assert.deepEqual(await byType('refresh.reuse_detected'), [])
      const limited = await asAdmin(`${API}/audit?user=eve&limit=2`)
      assert.deepEqual(limited.body.events, events.slice(0, 2))
      // Paging: events before the refresh are the login and what came before it.
      const rotatedAt = mine(events)[1].at as string
      const older = (await asAdmin(`${API}/audit?user=eve&before=${encodeURIComponent(rotatedAt)}`)).body.events as Json[]
      assert.ok(older.length > 0 && older.every((e) => Date.parse(e.at) < Date.parse(rotatedAt)), JSON.stringify(older))
      assert.deepEqual(mine(older).map((e) => e.type), ['session.created'])
      assert.deepEqual((await asAdmin(`${API}/audit?user=eve&before=2000-01-01T00:00:00Z`)).body.events, [])

      // Without a user: every user's events, or (a store without the cross-user index) none, marked partial.
      const everyone = await asAdmin(`${API}/audit?type=session.revoked`)
      assert.equal(everyone.status, 200, everyone.text)
      if (everyone.body.partial === true) {
        assert.equal(typeof server.ctx.sessions.store.listRecentAudit, 'undefined')
        assert.deepEqual(everyone.body.events, [])
      } else {
        const revoked = everyone.body.events as Json[]
        assert.ok(revoked.every((e) => e.type === 'session.revoked'))
        assert.ok(revoked.some((e) => e.session_id === tokens.session_id))
        assert.ok(revoked.some((e) => e.user !== 'eve'), 'other users\' events too')
      }
    })

    test('audit on a store without listRecentAudit: the user\'s own trail, filtered before the limit, before honoured; else partial', async () => {
      // The same store and sessions, seen through a store object without the optional method.
      const store = Object.create(server.ctx.sessions.store, { listRecentAudit: { value: undefined } }) as typeof server.ctx.sessions.store
      const sessions = Object.create(server.ctx.sessions, { store: { value: store } }) as typeof server.ctx.sessions
      const app = await buildServer({ ...server.ctx, sessions }, { logger: false })
      try {
        await app.listen({ port: 0, host: '127.0.0.1' })
        const address = app.server.address()
        assert.ok(typeof address === 'object' && address !== null)
        const get = async (query: string): Promise<Json> => {
          const res = await fetch(`http://127.0.0.1:${address.port}${API}/audit?${query}`, { headers: { authorization: `Bearer ${root.access_token}` } })
          assert.equal(res.status, 200, query)
          return res.json()
        }
        const reference = (await asAdmin(`${API}/audit?user=eve&limit=500`)).body.events as Json[]
        assert.ok(reference.length >= 4, 'eve has a trail')
        assert.deepEqual((await get('user=eve&limit=500')).events, reference, 'the same trail as the store\'s own index gives')
        // The newest session.created is older than newer events of other types: still found with limit=1.
        const newestCreated = reference.find((e) => e.type === 'session.created')
        assert.notEqual(reference[0].type, 'session.created')
        assert.deepEqual((await get('user=eve&type=session.created&limit=1')).events, [newestCreated])
        const cut = reference[1].at as string
        assert.deepEqual((await get(`user=eve&before=${encodeURIComponent(cut)}`)).events, reference.filter((e) => Date.parse(e.at) < Date.parse(cut)))
        assert.deepEqual(await get('type=session.revoked'), { events: [], partial: true })
      } finally {
        await closeApp(app)
      }
    })

    test('audit: hostile query values are refused (400)', async () => {
      const queries = [
        'limit=0',
        'limit=501',
        'limit=-1',
        'limit=1.5',
        'limit=1e2',
        'limit=abc',
        'limit=',
        'limit=99999999999999999999',
        'limit=1&limit=2',
        'before=yesterday',
        'before=2020-13-45T00:00:00Z',
        'before=1700000000000',
        'before=',
        'type=session.bogus',
        'type=',
        'type=session.created&type=session.revoked',
        'user=',
        'user=a%20b',
        'user=%00',
        `user=${'x'.repeat(257)}`,
        'subject=eve',
        'foo=1',
        '__proto__=1',
      ]
      for (const query of queries) {
        assertError(await asAdmin(`${API}/audit?${query}`), 400, 'invalid_request', query)
      }
      assert.equal((await asAdmin(`${API}/audit?user=eve&limit=500`)).status, 200, 'the largest limit')
      assert.equal((await asAdmin(`${API}/audit?user=eve&limit=1`)).body.events.length, 1, 'the smallest limit')
    })

    test('revocations: an admin\'s live stream gets each revocation within a second', async () => {
      const victim = await server.mint('hank')
      const sse = await openSse(`${server.url}${API}/revocations`, { authorization: `Bearer ${root.access_token}` })
      try {
        assert.equal(sse.status, 200)
        assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/)
        assert.equal(sse.headers.get('cache-control'), 'no-store')
        assert.equal(sse.headers.get('content-security-policy'), API_CSP)
        assert.ok(await sse.next(1000, 'ready'), 'ready')
        assert.equal(server.ctx.feedSlots.size, 1)
        const start = Date.now()
        assert.equal((await server.request('/auth/logout', { json: { refresh_token: victim.refresh_token } })).status, 204)
        const event = await sse.next(1000, 'revocation')
        assert.ok(event !== undefined, 'a revocation within a second')
        assert.ok(Date.now() - start < 1000)
        const data = JSON.parse(event.data)
        assert.equal(data.sid, victim.session_id)
        assert.equal(data.reason, 'logout')
        assert.ok(Math.abs(Date.parse(data.revoked_at) - Date.now()) < 5000)
        // An admin's revocation comes through too.
        const other = await server.mint('hank')
        assert.equal((await asAdmin(`${API}/sessions/${other.session_id}`, { method: 'DELETE' })).status, 204)
        const second = await sse.next(1000, 'revocation')
        assert.deepEqual(JSON.parse(second!.data).sid, other.session_id)
        assert.equal(JSON.parse(second!.data).reason, 'admin_revoked')
      } finally {
        sse.close()
      }
      await until(() => server.ctx.feedSlots.size === 0 && server.ctx.feed.size === 0, 'the slot and the sink to be given back')

      // Not a stream for anyone else.
      assertError(await server.request(`${API}/revocations`, { bearer: alice.access_token }), 403, 'forbidden')
      assertError(await server.request(`${API}/revocations`), 401, 'unauthorized')
      assert.equal(server.ctx.feedSlots.size, 0)
    })

    test('revocations: clients that reset while being authenticated give their slot back (no slot leak)', async () => {
      const payload = `GET ${API}/revocations HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${root.access_token}\r\n\r\n`
      // More resets than an address has slots: one leaked slot per reset would exhaust them.
      // Resets after a varying number of event-loop turns land inside the route's awaits.
      await resetStorm(server.port, payload, server.config.revocationFeed.maxSubscribersPerAddress + 36, 10)
      await until(() => server.ctx.feedSlots.size === 0, 'every slot given back')
      assert.equal(server.ctx.feed.size, 0, 'no sink left in the hub')
      const sse = await openSse(`${server.url}${API}/revocations`, { authorization: `Bearer ${root.access_token}` })
      try {
        assert.equal(sse.status, 200)
        assert.ok(await sse.next(1000, 'ready'))
      } finally {
        sse.close()
      }
    })
  })
}
