// What the end-to-end suites share: the two example services (orders on Express, billing on
// Hono) started in-process against one issuer, calls to them, and the measurements quoted in
// the closing notes (logout → first refusal, percentiles).
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { startBilling } from '../../examples/billing-hono/server.ts'
import { startOrders, type RunningService } from '../../examples/orders-express/server.ts'
import { ERROR_DESCRIPTIONS } from 'hallpass/http'
import type { VerifierEvent, VerifierOptions } from 'hallpass/verify'

export const POLL_MS = 10

export interface Service {
  readonly name: 'orders' | 'billing'
  /** The protected GET route. */
  readonly path: string
  readonly running: RunningService
  readonly events: { at: number; event: VerifierEvent }[]
}

export interface Reply {
  status: number
  body: { error?: string; error_description?: string; user?: string } | undefined
  challenge: string | null
}

export async function call(service: Service, token: string | undefined, init: { method?: string; path?: string; json?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(service.running.url + (init.path ?? service.path), {
    method: init.method ?? 'GET',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), challenge: res.headers.get('www-authenticate') }
}

/** The rejection of a token whose session was revoked (the fixed description is per code). */
export function assertRevoked(reply: Reply, where: string): void {
  assert.equal(reply.status, 401, `${where}: ${JSON.stringify(reply.body)}`)
  assert.equal(reply.body?.error, 'invalid_token', where)
  assert.equal(reply.body?.error_description, ERROR_DESCRIPTIONS.ERR_SESSION_REVOKED, where)
  assert.match(reply.challenge ?? '', /^Bearer realm="hallpass", error="invalid_token"/, where)
}

/** Polls every POLL_MS until the token is refused; returns the ms elapsed since `since`. */
export async function msUntilRejected(service: Service, token: string, since: number, timeoutMs = 3000): Promise<number> {
  for (;;) {
    const reply = await call(service, token)
    const elapsed = performance.now() - since
    if (reply.status !== 200) {
      assertRevoked(reply, service.name)
      return elapsed
    }
    assert.ok(elapsed < timeoutMs, `${service.name} still accepts the token ${Math.round(elapsed)} ms later`)
    await sleep(POLL_MS)
  }
}

/** Nearest-rank percentile. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export function kidOf(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')).kid
}

export async function waitFor(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for: ${what}`)
    await sleep(20)
  }
}

/** The promise's value, or a rejection after `ms` (a child that never exits must not hang the run). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  const timeout = new AbortController()
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: timeout.signal }).then(() => Promise.reject(new Error(`no result within ${ms} ms`)))])
  } finally {
    timeout.abort()
  }
}

/** Figures worth quoting go to the test's diagnostics (the spec reporter prints them with ℹ). */
export function report(t: TestContext, line: string): void {
  t.diagnostic(line)
}

/**
 * Verifier options for services under test: short cache, cooldown and reconnect settings (half a
 * second instead of 30 s) so that each scenario takes seconds, events recorded with their time,
 * and the log kept (not printed) for assertions.
 */
export function serviceVerifierOptions(events: Service['events'], extra: Omit<VerifierOptions, 'issuer'> = {}): Omit<VerifierOptions, 'issuer'> {
  return {
    jwksCache: { minMaxAgeSeconds: 0.5, cooldownSeconds: 0.5 },
    ...extra,
    revocation: { minReconnectDelaySeconds: 0.1, maxReconnectDelaySeconds: 0.5, ...(extra.revocation === false ? {} : extra.revocation) },
    onEvent: (event) => events.push({ at: Date.now(), event }),
    logger: false,
  }
}

/** Both example services, trusting `issuer`; the verifier start (discovery, JWKS, snapshot) timed. */
export async function startServices(issuer: string, extra: Omit<VerifierOptions, 'issuer'> = {}): Promise<{ orders: Service; billing: Service; startedInMs: number }> {
  const ordersEvents: Service['events'] = []
  const billingEvents: Service['events'] = []
  const common = { issuer, port: 0, host: '127.0.0.1' }
  const started = performance.now()
  const [o, b] = await Promise.all([
    startOrders({ ...common, verifier: serviceVerifierOptions(ordersEvents, extra) }),
    startBilling({ ...common, verifier: serviceVerifierOptions(billingEvents, extra) }),
  ])
  return {
    orders: { name: 'orders', path: '/orders', running: o, events: ordersEvents },
    billing: { name: 'billing', path: '/invoices', running: b, events: billingEvents },
    startedInMs: performance.now() - started,
  }
}
