// Encrypted access tokens end to end: `hallpass serve` in each key model and both example
// services (orders on Express, billing on Hono) over real sockets. Logins give JWEs the
// services open and verify; a logout is refused by them within a second; the server's own
// endpoints and introspection read the tokens; encryption keys rotate while a client calls
// the services, with no failed request.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateEncryptionKey, type Jwk } from 'hallpass'
import { watchDecryptionKeyFile, type DecryptionKeyFile } from 'hallpass/verify'
import { startBilling } from '../../examples/billing-hono/server.ts'
import { startOrders } from '../../examples/orders-express/server.ts'
import { freePort } from '../helpers/ports.ts'
import { call, msUntilRejected, report, serviceVerifierOptions, waitFor, type Service } from './services.ts'
import { startSessionServer, type SessionServer, type Tokens } from './session-server.ts'

const CLIENT = { id: 'e2e', secret: 'an-introspection-client-secret-of-32-chars' }

function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

async function writeKeys(path: string, keys: readonly Jwk[]): Promise<void> {
  await writeFile(path, JSON.stringify({ keys }))
}

async function introspect(hallpass: SessionServer, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${hallpass.issuer}/oauth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${CLIENT.id}:${CLIENT.secret}`)}` },
    body: new URLSearchParams({ token }),
  })
  assert.equal(res.status, 200)
  return (await res.json()) as Record<string, unknown>
}

async function ownSessions(hallpass: SessionServer, token: string): Promise<number> {
  const res = await fetch(`${hallpass.issuer}/auth/sessions`, { headers: { authorization: `Bearer ${token}` } })
  await res.arrayBuffer()
  return res.status
}

interface Started {
  readonly orders: Service
  readonly billing: Service
  readonly files: { readonly orders: DecryptionKeyFile; readonly billing: DecryptionKeyFile }
}

// Both services, each reading its decryption keys from a file it re-reads within 200 ms, and
// publishing the public halves of its own keys at /.well-known/jwks.json.
async function startServices(issuer: string, paths: { orders: string; billing: string }, ports: { orders: number; billing: number }, audiences: boolean): Promise<Started> {
  const files = { orders: watchDecryptionKeyFile(paths.orders, { intervalSeconds: 0.2 }), billing: watchDecryptionKeyFile(paths.billing, { intervalSeconds: 0.2 }) }
  const ordersEvents: Service['events'] = []
  const billingEvents: Service['events'] = []
  const [o, b] = await Promise.all([
    startOrders({
      issuer, port: ports.orders, host: '127.0.0.1', encryptionJwks: files.orders.publicJwks,
      verifier: serviceVerifierOptions(ordersEvents, { decryption: { keys: files.orders.keys }, ...(audiences ? { audience: 'orders' } : {}) }),
    }),
    startBilling({
      issuer, port: ports.billing, host: '127.0.0.1', encryptionJwks: files.billing.publicJwks,
      verifier: serviceVerifierOptions(billingEvents, { decryption: { keys: files.billing.keys }, ...(audiences ? { audience: 'billing' } : {}) }),
    }),
  ])
  return {
    orders: { name: 'orders', path: '/orders', running: o, events: ordersEvents },
    billing: { name: 'billing', path: '/invoices', running: b, events: billingEvents },
    files,
  }
}

async function stopAll(started: Started | undefined, hallpass: SessionServer | undefined, dir: string | undefined): Promise<void> {
  await Promise.all([started?.orders.running.close(), started?.billing.running.close()])
  started?.files.orders.close()
  started?.files.billing.close()
  await hallpass?.destroy()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}

/**
 * Calls `services` every 20 ms with the client's current token, refreshing it every 300 ms,
 * until `stop` resolves; returns the statuses seen and the key ids of the tokens used.
 */
async function callContinuously(hallpass: SessionServer, first: Tokens, services: readonly Service[], stop: Promise<void>): Promise<{ statuses: Map<number, number>; kids: Set<unknown>; calls: number }> {
  let tokens = first
  let done = false
  void stop.then(() => (done = true))
  const statuses = new Map<number, number>()
  const kids = new Set<unknown>()
  let calls = 0
  let refreshedAt = performance.now()
  while (!done) {
    if (performance.now() - refreshedAt > 300) {
      tokens = await hallpass.refresh(tokens.refresh_token)
      refreshedAt = performance.now()
    }
    kids.add(headerOf(tokens.access_token).kid)
    for (const service of services) {
      const reply = await call(service, tokens.access_token)
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1)
      calls++
    }
    await sleep(20)
  }
  return { statuses, kids, calls }
}

/**
 * Logs in until the server issues a token encrypted with `kid` (it re-reads its key file or
 * refetches a key set), then leaves the calling client time to refresh onto such a token
 * (it refreshes every 300 ms) before the caller drops the old key.
 */
async function loginUntilKid(kid: string, login: () => Promise<Tokens>): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    if (headerOf((await login()).access_token).kid === kid) {
      await sleep(700)
      return
    }
    await sleep(250)
  }
  assert.fail(`no token encrypted with "${kid}" after 10 s`)
}

/** Every call during the rotation succeeded, with tokens of both keys. */
function checkRotation(t: TestContext, { statuses, kids, calls }: Awaited<ReturnType<typeof callContinuously>>, expectedKids: readonly string[]): void {
  report(t, `${calls} calls during the rotation: ${JSON.stringify(Object.fromEntries(statuses))}; key ids used: ${[...kids].join(', ')}`)
  assert.deepEqual([...statuses.keys()], [200])
  for (const kid of expectedKids) assert.ok(kids.has(kid), `no call was made with a token of "${kid}"`)
}

describe('encrypted access tokens: one shared dir key', () => {
  let dir: string
  let hallpass: SessionServer
  let started: Started
  const k1 = generateEncryptionKey('dir', 'A256GCM', { kid: 'shared-1' })
  const k2 = generateEncryptionKey('dir', 'A256GCM', { kid: 'shared-2' })
  const paths = { server: '', orders: '', billing: '' }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hallpass-jwe-e2e-'))
    for (const name of ['server', 'orders', 'billing'] as const) {
      paths[name] = join(dir, `${name}.json`)
      await writeKeys(paths[name], [k1])
    }
    hallpass = await startSessionServer({
      config: { accessTokenEncryption: { model: 'shared', keysFile: paths.server }, clients: { [CLIENT.id]: CLIENT.secret } },
    })
    started = await startServices(hallpass.issuer, paths, { orders: 0, billing: 0 }, false)
  })
  after(() => stopAll(started, hallpass, dir))

  test('login gives a nested JWT both services accept; the server and introspection read it', async () => {
    const tokens = await hallpass.login()
    assert.equal(tokens.access_token.split('.').length, 5)
    assert.deepEqual(headerOf(tokens.access_token), { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'shared-1' })
    for (const service of [started.orders, started.billing]) {
      const reply = await call(service, tokens.access_token)
      assert.equal(reply.status, 200, `${service.name}: ${JSON.stringify(reply.body)}`)
      assert.equal(reply.body?.user, 'writer')
    }
    assert.equal(await ownSessions(hallpass, tokens.access_token), 200)
    const introspection = await introspect(hallpass, tokens.access_token)
    assert.equal(introspection.active, true)
    assert.equal(introspection.sid, tokens.session_id)
    // What the browser holds says nothing of the claims.
    assert.equal(/InN1YiI|"sub"|writer/.test(tokens.access_token), false)
  })

  test('logout: both services refuse the encrypted token within a second', async (t) => {
    const tokens = await hallpass.login()
    for (const service of [started.orders, started.billing]) assert.equal((await call(service, tokens.access_token)).status, 200)
    const since = performance.now()
    await hallpass.logout(tokens.refresh_token)
    const [orders, billing] = await Promise.all([
      msUntilRejected(started.orders, tokens.access_token, since),
      msUntilRejected(started.billing, tokens.access_token, since),
    ])
    report(t, `logout → refused: orders ${orders.toFixed(0)} ms, billing ${billing.toFixed(0)} ms`)
    assert.equal((await introspect(hallpass, tokens.access_token)).active, false)
  })

  test('the shared key rotates while a client calls both services: no request fails', async (t) => {
    const first = await hallpass.login()
    let finish!: () => void
    const stop = new Promise<void>((resolve) => (finish = resolve))
    const calling = callContinuously(hallpass, first, [started.orders, started.billing], stop)
    // 1. services learn the next key; 2. the server encrypts with it; 3. once every token of
    // the old key is gone (here: the client refreshed), services drop the old key.
    await writeKeys(paths.orders, [k1, k2])
    await writeKeys(paths.billing, [k1, k2])
    await waitFor('services holding both keys', () => started.files.orders.keys().length === 2 && started.files.billing.keys().length === 2, 5000)
    await writeKeys(paths.server, [k2, k1])
    await loginUntilKid('shared-2', () => hallpass.login())
    await writeKeys(paths.orders, [k2])
    await writeKeys(paths.billing, [k2])
    await waitFor('services holding the new key only', () => started.files.orders.keys().length === 1 && started.files.billing.keys().length === 1, 5000)
    finish()
    checkRotation(t, await calling, ['shared-1', 'shared-2'])
    // A token of the dropped key is refused now.
    assert.equal((await call(started.orders, first.access_token)).status, 401)
  })
})

describe('encrypted access tokens: each service its own key (ECDH-ES+A256KW)', () => {
  let dir: string
  let hallpass: SessionServer
  let started: Started
  const o1 = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'orders-1' })
  const o2 = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'orders-2', crv: 'X25519' })
  const b1 = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'billing-1', crv: 'X25519' })
  const paths = { orders: '', billing: '' }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hallpass-jwe-e2e-'))
    paths.orders = join(dir, 'orders.json')
    paths.billing = join(dir, 'billing.json')
    await writeKeys(paths.orders, [o1])
    await writeKeys(paths.billing, [b1])
    // The services must know the issuer (discovery) and the issuer their key sets: ports first.
    const ports = { orders: await freePort(), billing: await freePort() }
    hallpass = await startSessionServer({
      config: {
        audience: ['orders', 'billing'],
        accessTokenEncryption: {
          model: 'audience',
          audiences: { orders: `http://127.0.0.1:${ports.orders}/.well-known/jwks.json`, billing: `http://127.0.0.1:${ports.billing}/.well-known/jwks.json` },
          jwksRefresh: '1s',
        },
        clients: { [CLIENT.id]: CLIENT.secret },
      },
    })
    started = await startServices(hallpass.issuer, paths, ports, true)
  })
  after(() => stopAll(started, hallpass, dir))

  // The server fetched the key sets before the services listened: its first login for an
  // audience may answer 503 while it fetches again.
  async function loginFor(audience: string): Promise<Tokens> {
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        return await hallpass.login('writer', { audience })
      } catch (error) {
        if (Date.now() > deadline || !String(error).includes('503')) throw error
        await sleep(100)
      }
    }
  }

  test('each login is encrypted to its audience: that service accepts it, the other cannot open it', async () => {
    const forOrders = await loginFor('orders')
    const forBilling = await loginFor('billing')
    const header = headerOf(forOrders.access_token)
    assert.equal(header.alg, 'ECDH-ES+A256KW')
    assert.equal(header.kid, 'orders-1')
    assert.equal((header.epk as { crv: string }).crv, 'P-256')
    assert.equal((headerOf(forBilling.access_token).epk as { crv: string }).crv, 'X25519')
    assert.equal((await call(started.orders, forOrders.access_token)).status, 200)
    assert.equal((await call(started.billing, forBilling.access_token)).status, 200)
    const crossed = await call(started.billing, forOrders.access_token)
    assert.equal(crossed.status, 401)
    assert.equal(crossed.body?.error, 'invalid_token')
    // The issuer reads its own tokens: its endpoints and introspection.
    assert.equal(await ownSessions(hallpass, forOrders.access_token), 200)
    assert.equal((await introspect(hallpass, forBilling.access_token)).active, true)
  })

  test('a login naming no audience, or one without a key set, is refused before any session exists', async () => {
    for (const extra of [{}, { audience: 'payroll' }]) {
      const res = await fetch(`${hallpass.issuer}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'writer', password: 'e2e password, not a secret', ...extra }),
      })
      assert.equal(res.status, 400, await res.text())
    }
  })

  test('logout: the audience service refuses the token within a second', async (t) => {
    const tokens = await loginFor('orders')
    const since = performance.now()
    await hallpass.logout(tokens.refresh_token)
    report(t, `logout → refused by orders: ${(await msUntilRejected(started.orders, tokens.access_token, since)).toFixed(0)} ms`)
  })

  test('a service rotates its key while a client calls it: no request fails', async (t) => {
    const first = await loginFor('orders')
    let finish!: () => void
    const stop = new Promise<void>((resolve) => (finish = resolve))
    const calling = callContinuously(hallpass, first, [started.orders], stop)
    // The service publishes its next key first (it can already open tokens to it); the issuer
    // picks it up at its next fetch; the old key goes once its tokens have expired.
    await writeKeys(paths.orders, [o2, o1])
    await waitFor('orders publishing its new key', () => started.files.orders.publicJwks().keys[0]!.kid === 'orders-2', 5000)
    await loginUntilKid('orders-2', () => loginFor('orders'))
    await writeKeys(paths.orders, [o2])
    await waitFor('orders holding its new key only', () => started.files.orders.keys().length === 1, 5000)
    finish()
    checkRotation(t, await calling, ['orders-1', 'orders-2'])
    assert.equal((await call(started.orders, first.access_token)).status, 401)
  })
})
