// End to end, over real sockets: one `hallpass serve` (SQLite in a temp dir) and the two
// example services that trust it, `orders` (Express) and `billing` (Hono), each with its own
// `createVerifier({ issuer })` (discovery → JWKS → revocation feed).
//
// - A token from one login is accepted by both; scopes and missing credentials answer per
//   RFC 6750.
// - Logout reaches both within a second: measured from the logout response to the first
//   rejection at each service, over 20 logouts, p50/p99 printed.
// - Keys rotate while a client calls both every 20 ms: not one request fails, because the new
//   key is published before it signs and the verifiers' background refresh picks it up.
// - hallpass stopped: valid tokens still verify (last good JWKS); restarted on the same data
//   dir: a session revoked meanwhile is refused once the feed has reconnected and caught up.
// - The examples run as programs with the command their npm scripts name.
//
// The services get short cache and reconnect settings (half a second instead of 30 s), and
// the server a 1 s JWKS max-age, so that each scenario takes seconds.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { ERROR_DESCRIPTIONS } from 'hallpass/http'
import { assertRevoked, call, kidOf, msUntilRejected, percentile, POLL_MS, report, startServices, waitFor, within, type Service } from './services.ts'
import { startSessionServer, type SessionServer, type Tokens } from './session-server.ts'

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LOGOUTS = 20

describe('two services trusting one hallpass serve', () => {
  let hallpass: SessionServer
  let services: Service[] = []
  let orders: Service
  let billing: Service

  before(async () => {
    // Verifiers refresh a JWKS at 80% of its max-age: 1 s here (5 min by default).
    hallpass = await startSessionServer({ config: { jwksMaxAge: '1s' } })
    ;({ orders, billing } = await startServices(hallpass.issuer))
    services = [orders, billing]
  })

  after(async () => {
    await Promise.all(services.map((s) => s.running.close()))
    await hallpass?.destroy()
  })

  test('one login is accepted by both services; scopes and missing tokens answer per RFC 6750', async () => {
    const writer = await hallpass.login('writer')
    const reader = await hallpass.login('reader')
    for (const service of services) {
      const ok = await call(service, writer.access_token)
      assert.equal(ok.status, 200, service.name)
      assert.equal(ok.body?.user, 'writer')
      // No credentials: a bare challenge, no error code (RFC 6750 §3.1).
      const anonymous = await call(service, undefined)
      assert.equal(anonymous.status, 401)
      assert.equal(anonymous.challenge, 'Bearer realm="hallpass"')
      // A token of another issuer's making (here: a forged signature) is refused.
      const [header, payload] = writer.access_token.split('.')
      const forged = await call(service, `${header}.${payload}.${Buffer.alloc(64, 1).toString('base64url')}`)
      assert.equal(forged.status, 401)
      assert.equal(forged.body?.error_description, ERROR_DESCRIPTIONS.ERR_JWS_SIGNATURE_INVALID)
    }
    // POST /orders needs orders:write: the reader's token is fine but does not reach that far.
    const denied = await call(orders, reader.access_token, { method: 'POST', json: { item: 'tea', quantity: 2 } })
    assert.equal(denied.status, 403)
    assert.equal(denied.body?.error, 'insufficient_scope')
    assert.match(denied.challenge ?? '', /error="insufficient_scope".*scope="orders:write"/)
    const created = await call(orders, writer.access_token, { method: 'POST', json: { item: 'tea', quantity: 2 } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const listed = await fetch(`${orders.running.url}/orders`, { headers: { authorization: `Bearer ${writer.access_token}` } })
    assert.deepEqual(((await listed.json()) as { orders: { item: string }[] }).orders.map((o) => o.item), ['tea'])
    // The body is read only once the token and scope have passed.
    const malformed = await call(orders, writer.access_token, { method: 'POST', json: { item: '' } })
    assert.equal(malformed.status, 400)
    const anonymousPost = await fetch(`${orders.running.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' })
    assert.equal(anonymousPost.status, 401, 'an anonymous body is never parsed')
    await hallpass.logout(writer.refresh_token)
    await hallpass.logout(reader.refresh_token)
  })

  test(`logout is refused by both services within a second (p99 over ${LOGOUTS} logouts)`, async (t) => {
    const latencies: Record<Service['name'], number[]> = { orders: [], billing: [] }
    for (let i = 0; i < LOGOUTS; i++) {
      const session = await hallpass.login()
      for (const service of services) assert.equal((await call(service, session.access_token)).status, 200, `${service.name} accepts the new token`)
      await hallpass.logout(session.refresh_token)
      // The clock starts when the logout response has arrived; the same, still unexpired
      // token is then presented to both services every 10 ms until each refuses it.
      const loggedOutAt = performance.now()
      const [o, b] = await Promise.all([msUntilRejected(orders, session.access_token, loggedOutAt), msUntilRejected(billing, session.access_token, loggedOutAt)])
      latencies.orders.push(o)
      latencies.billing.push(b)
    }
    for (const service of services) {
      const samples = latencies[service.name]
      const p50 = percentile(samples, 50)
      const p99 = percentile(samples, 99)
      report(t, `revocation latency at ${service.name} (logout response → first 401, n=${samples.length}, polled every ${POLL_MS} ms): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...samples).toFixed(1)} ms`)
      assert.ok(p99 < 1000, `${service.name}: p99 ${p99} ms`)
    }
  })

  test('keys rotate while a client calls both services every 20 ms: no request fails', async (t) => {
    const { keys } = hallpass.runtime.context.sessions
    const oldKid = keys.signingKey().kid
    let tokens: Tokens = await hallpass.login()
    let running = true
    const calls: { service: string; status: number; kid: string; at: number }[] = []

    const client = (async () => {
      while (running) {
        const token = tokens.access_token
        const replies = await Promise.all(services.map(async (service) => ({ service: service.name, reply: await call(service, token) })))
        for (const { service, reply } of replies) calls.push({ service, status: reply.status, kid: kidOf(token), at: Date.now() })
        await sleep(20)
      }
    })()
    // Access tokens live 10 minutes; refreshing every 200 ms brings a token signed with the
    // new key into use right after it starts signing.
    const refresher = (async () => {
      while (running) {
        await sleep(200)
        tokens = await hallpass.refresh(tokens.refresh_token)
      }
    })()

    let newKid: string
    let activatesAt: number
    try {
      await sleep(300)
      // Publish-then-use: the new key is in the JWKS at once and signs 2 s later; the
      // verifiers refetch the JWKS at least every 0.8 s, so they hold it before its first token.
      const requestedAt = Date.now()
      await keys.rotate({ activateInSeconds: 2 })
      // The server adds the 2 s to its own clock reading, taken after `requestedAt`.
      activatesAt = requestedAt + 2000
      const next = keys.keyring().entries.find((entry) => entry.state === 'next')
      assert.ok(next !== undefined, 'the new key is published as next')
      newKid = next.key.kid
      assert.notEqual(newKid, oldKid)
      // Run until tokens of the new key have been in use for a second and 50 calls (counted,
      // not timed: a CPU-starved run makes fewer calls a second).
      await waitFor('a second and 50 calls with the new key', () => calls.some((c) => c.kid === newKid && Date.now() - c.at >= 1000) && calls.filter((c) => c.kid === newKid).length >= 50, 20_000)
    } finally {
      running = false
      await Promise.all([client, refresher])
    }

    const failed = calls.filter((c) => c.status !== 200)
    const withNewKey = calls.filter((c) => c.kid === newKid).length
    report(t, `key rotation: ${calls.length} calls (${calls.length - withNewKey} with the old key, ${withNewKey} with the new), ${failed.length} non-2xx`)
    assert.deepEqual(failed, [], 'no request fails across the rotation')
    // About 150 calls a second; a CPU-starved run (other suites at once) makes fewer.
    assert.ok(calls.length >= 100, `enough calls (${calls.length})`)
    assert.ok(withNewKey >= 50, `the new key was used (${withNewKey} calls)`)
    assert.ok(calls.some((c) => c.kid === oldKid), 'the old key was used')
    for (const service of services) {
      // The new key arrived through the background refresh, before it signed anything, not
      // through an unknown-kid refetch (which only happens after a token has failed).
      const added = service.events.find(({ event }) => event.type === 'jwks.updated' && event.added.includes(newKid))
      assert.ok(added !== undefined, `${service.name} loaded the new key`)
      assert.ok(added.at < activatesAt, `${service.name} held the new key ${activatesAt - added.at} ms before it signed`)
      assert.equal(service.running.verifier.metrics().jwks?.unknownKid, 0, service.name)
    }
    await hallpass.logout(tokens.refresh_token)
  })

  test('hallpass stopped: valid tokens still verify; restarted: a revocation made meanwhile reaches both', async (t) => {
    // A revocation seen before the outage gives each feed a cursor to resume from.
    const earlier = await hallpass.login()
    await hallpass.logout(earlier.refresh_token)
    const since = performance.now()
    for (const service of services) await msUntilRejected(service, earlier.access_token, since)
    for (const service of services) assert.ok(service.running.verifier.health().feed.cursor !== undefined, `${service.name} has a feed cursor`)

    // Neither token is presented before the outage: no verified-token cache can help, the
    // signature has to check against the JWKS the services already hold.
    const keeps = await hallpass.login()
    const revokedMeanwhile = await hallpass.login()
    const failuresBefore = services.map((s) => s.running.verifier.metrics().jwks?.fetchFailures ?? 0)

    await hallpass.stop()
    const stoppedAt = performance.now()
    try {
      await waitFor('both feeds to notice the outage', () => services.every((s) => !s.running.verifier.health().feed.connected))
      for (const service of services) {
        assert.equal((await call(service, keeps.access_token)).status, 200, `${service.name} accepts a valid token while hallpass is down`)
        assert.equal((await call(service, revokedMeanwhile.access_token)).status, 200, `${service.name}: not revoked yet`)
        assertRevoked(await call(service, earlier.access_token), `${service.name} still refuses a token revoked before the outage`)
      }
      // Let a JWKS refresh fail at each service: the last good set stays in use.
      await waitFor('a failed JWKS refresh at each service', () => services.every((s, i) => (s.running.verifier.metrics().jwks?.fetchFailures ?? 0) > failuresBefore[i]!))
      for (const service of services) {
        assert.equal((await call(service, keeps.access_token)).status, 200, `${service.name} keeps the last good JWKS`)
        assert.equal(service.running.verifier.health().ok, true, `${service.name} is within its fail-open window`)
      }
      // An operator revokes a session while the server is down.
      await hallpass.revokeWhileStopped(revokedMeanwhile.session_id)
    } finally {
      if (!hallpass.running) await hallpass.start()
    }
    const restartedAt = performance.now()
    const [o, b] = await Promise.all(services.map((service) => msUntilRejected(service, revokedMeanwhile.access_token, restartedAt, 5000)))
    report(t, `outage of ${Math.round(restartedAt - stoppedAt)} ms: a revocation made during it was refused ${o!.toFixed(0)} ms (orders) and ${b!.toFixed(0)} ms (billing) after the restart`)
    for (const service of services) {
      assert.equal((await call(service, keeps.access_token)).status, 200, `${service.name} still accepts the valid token`)
      const health = service.running.verifier.health()
      assert.equal(health.feed.connected, true)
      assert.equal(health.ok, true)
      // The feed resumed from its cursor (Last-Event-ID), which is how it caught up.
      const reconnect = service.events.findLast(({ event }) => event.type === 'feed.connected')
      assert.ok(reconnect?.event.type === 'feed.connected' && reconnect.event.cursor !== undefined, `${service.name} resumed with a cursor`)
    }
    await hallpass.logout(keeps.refresh_token)
  })

  test('the examples run as programs with the commands of their npm scripts', async () => {
    const scripts = (JSON.parse(readFileSync(new URL('package.json', `file://${REPO_ROOT}`), 'utf8')) as { scripts: Record<string, string> }).scripts
    const session = await hallpass.login('writer')
    for (const [script, path] of [['example:orders', '/orders'], ['example:billing', '/invoices']] as const) {
      const command = scripts[script]
      assert.ok(command !== undefined, `package.json has ${script}`)
      const [node, ...args] = command.split(' ')
      assert.equal(node, 'node')
      const child = spawn(process.execPath, args, {
        cwd: REPO_ROOT,
        env: { ...process.env, HALLPASS_ISSUER: hallpass.issuer, PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      try {
        let output = ''
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
        await waitFor(`the banner of ${script}`, () => /listening on http:\/\/localhost:\d+/.test(output), 15_000)
        const url = /listening on (http:\/\/localhost:\d+)/.exec(output)![1]!
        assert.match(output, new RegExp(`trusting tokens of ${hallpass.issuer.replaceAll('.', '\\.')}`))
        const res = await fetch(url + path, { headers: { authorization: `Bearer ${session.access_token}` } })
        assert.equal(res.status, 200, `${script}: ${await res.text()}`)
        child.kill('SIGTERM')
        assert.equal(await within(exited, 10_000), 0, `${script} exits cleanly on SIGTERM: ${output}`)
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
    }
    await hallpass.logout(session.refresh_token)

    // Without a hallpass to trust, a service refuses to start, and says why.
    const child = spawn(process.execPath, scripts['example:orders']!.split(' ').slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, HALLPASS_ISSUER: 'http://127.0.0.1:9', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const code = await within(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), 15_000).finally(() => child.kill('SIGKILL'))
    assert.equal(code, 1)
    assert.match(stderr, /orders: cannot start: ERR_/)
  })
})
