/**
 * @module scripts/chaos/outage
 *
 * Scenario 1, a store outage under refresh load: sessions refresh in a loop through a session
 * server (packages/server/test/harness.ts, in-process) whose PostgreSQL or Redis sits behind
 * test/helpers/fault-proxy.ts. The store goes away for `outageMs`: a partition for the first
 * half (connections open, nothing answers), a crash for the second (every connection reset).
 * What must hold: every refresh answered 200, or 503 with a small Retry-After, within 5 s;
 * /readyz 503 during the outage and 200 after; no session revoked; every session refreshed
 * again within 5 s of the store's return; the revocation feed, followed all along by a service,
 * delivers a logout made as the outage begins (it may not read it before the store is back:
 * within 5 s of the return) and one made once the store is back (within 1 s): it resumes where
 * it was, no entry lost.
 */
import { createRevocationFeed, type RevocationFeed } from 'hallpass/verify'
import { startFaultProxy } from '../../test/helpers/fault-proxy.ts'
import { postgresUrl, redisUrl } from '../../test/helpers/services.ts'
import { startServer } from '../../packages/server/test/harness.ts'
import { Checks, makeReport, countStatuses, maxOf, sleep, type Answer, type Report } from './common.ts'

export interface OutageOptions {
  readonly store: 'postgres' | 'redis'
  readonly outageMs: number
  readonly sessions?: number
  /** The server's reuse window (default: the server's own default, 10 s). */
  readonly reuseWindow?: string
  readonly mode: 'short' | 'full'
}

/** The longest any answer may take, outage or not. */
const ANSWER_WITHIN_MS = 5000
/** How soon after the store is back every session must have refreshed again. */
const RECOVER_WITHIN_MS = 5000
/** How soon a logout must reach a service following the feed (short form: slack for a loaded `npm test`). */
const FEED_WITHIN_MS = { full: 1000, short: 2000 } as const

function storeAddress(kind: 'postgres' | 'redis'): { host: string; port: number } {
  const url = new URL(kind === 'postgres' ? postgresUrl() : redisUrl())
  return { host: url.hostname, port: url.port === '' ? (kind === 'postgres' ? 5432 : 6379) : Number(url.port) }
}

export async function runOutage(options: OutageOptions): Promise<Report> {
  const startedAt = new Date()
  const count = options.sessions ?? 20
  const proxy = await startFaultProxy({ target: storeAddress(options.store) })
  const server = await startServer(options.store, {
    storeAddress: { host: '127.0.0.1', port: proxy.port },
    ...(options.reuseWindow !== undefined ? { config: { reuseWindow: options.reuseWindow } } : {}),
  })
  const checks = new Checks()
  let feed: RevocationFeed | undefined
  try {
    const sessions = await Promise.all(Array.from({ length: count }, () => server.mint()))
    // A service following the feed over SSE from the start, and two sessions to log out.
    const delivered = new Map<string, number>()
    feed = await createRevocationFeed(`${server.url}/auth/revocations`, {
      onRevocation: ({ sid }) => void (delivered.has(sid) || delivered.set(sid, Date.now())),
      allowHttpLoopback: true,
      minReconnectDelaySeconds: 0.1,
      maxReconnectDelaySeconds: 0.5,
    })
    const [beforeOutage, afterOutage] = await Promise.all([server.mint('logout-before'), server.mint('logout-after')])
    const tokens = sessions.map((s) => s.refresh_token)
    const answers: Answer[][] = tokens.map(() => [])
    const ready: Answer[] = []
    let stop = false
    const timed = async (path: string, json?: unknown): Promise<Answer> => {
      const start = Date.now()
      const res = await server.request(path, json === undefined ? {} : { json })
      return { at: Date.now(), ms: Date.now() - start, status: res.status, retryAfter: res.headers.get('retry-after'), body: res.body as Record<string, unknown> | undefined }
    }
    const refresher = async (i: number): Promise<void> => {
      while (!stop) {
        const answer = await timed('/auth/refresh', { refresh_token: tokens[i] })
        answers[i]!.push(answer)
        if (answer.status === 200) tokens[i] = answer.body!.refresh_token as string
        if (answer.status === 400) return // refused: the session is over, and the checks say so
        await sleep(100)
      }
    }
    const prober = async (): Promise<void> => {
      while (!stop) {
        ready.push(await timed('/readyz'))
        await sleep(200)
      }
    }
    const running = [...tokens.map((_, i) => refresher(i)), prober()]

    await sleep(1000)
    const beforeAt = Date.now()
    await server.ctx.sessions.revoke(beforeOutage.session_id, 'logout')
    const outageAt = Date.now()
    proxy.setMode('blackhole')
    await sleep(options.outageMs / 2)
    proxy.setMode('drop')
    await sleep(options.outageMs / 2)
    proxy.setMode('pass')
    const backAt = Date.now()
    // The first logout the store takes once it is back (the pool reconnects on demand).
    let afterAt = 0
    for (let tries = 0; afterAt === 0 && tries < 50; tries++) {
      try {
        await server.ctx.sessions.revoke(afterOutage.session_id, 'logout')
        afterAt = Date.now()
      } catch {
        await sleep(100)
      }
    }
    const recovered = (i: number): Answer | undefined => answers[i]!.find((a) => a.status === 200 && a.at > backAt)
    while (Date.now() - backAt < RECOVER_WITHIN_MS + 1000 && !(tokens.every((_, i) => recovered(i) !== undefined) && ready.some((a) => a.status === 200 && a.at > backAt))) {
      await sleep(100)
    }
    while (Date.now() - backAt < RECOVER_WITHIN_MS && !(delivered.has(beforeOutage.session_id) && delivered.has(afterOutage.session_id))) await sleep(50)
    await sleep(500)
    stop = true
    await Promise.all(running)

    const all = answers.flat()
    const during = all.filter((a) => a.at > outageAt && a.at <= backAt)
    const recoveries = tokens.map((_, i) => recovered(i)?.at)
    const records = await Promise.all(sessions.map((s) => server.ctx.sessions.store.getSession(s.session_id)))
    const revoked = records.filter((r) => r === undefined || r.revokedAt !== null)
    const readyDown = ready.find((a) => a.status === 503 && a.at > outageAt)
    const readyUp = ready.find((a) => a.status === 200 && a.at > backAt)
    const badRetryAfter = all.filter((a) => a.status === 503 && !/^[1-9][0-9]?$/.test(a.retryAfter ?? ''))

    checks.add('every refresh answered 200 or 503', all.every((a) => a.status === 200 || a.status === 503), JSON.stringify(countStatuses(all)))
    checks.add('every 503 carries a small Retry-After', badRetryAfter.length === 0, `${badRetryAfter.length} without`)
    checks.add(`every answer within ${ANSWER_WITHIN_MS} ms`, maxOf([...all, ...ready].map((a) => a.ms)) <= ANSWER_WITHIN_MS, `slowest ${maxOf([...all, ...ready].map((a) => a.ms))} ms`)
    checks.add('the outage was seen (503s)', during.some((a) => a.status === 503))
    checks.add('/readyz went 503 during the outage', readyDown !== undefined && readyDown.at <= backAt + ANSWER_WITHIN_MS, readyDown === undefined ? 'never' : `${readyDown.at - outageAt} ms after it began`)
    checks.add('/readyz back to 200', readyUp !== undefined, readyUp === undefined ? 'never' : `${readyUp.at - backAt} ms after the store returned`)
    checks.add('no session revoked', revoked.length === 0, `${revoked.length} of ${count} revoked`)
    const feedLag = (sid: string, at: number): number => (delivered.get(sid) ?? Infinity) - at
    const beforeDelivered = delivered.get(beforeOutage.session_id) ?? Infinity
    checks.add(`the feed delivered the logout made as the outage began, at the latest ${RECOVER_WITHIN_MS} ms after the store's return`, beforeDelivered <= backAt + RECOVER_WITHIN_MS, `${feedLag(beforeOutage.session_id, beforeAt)} ms after the logout`)
    checks.add(`the feed delivered the logout made after the store's return within ${FEED_WITHIN_MS[options.mode]} ms`, afterAt > 0 && feedLag(afterOutage.session_id, afterAt) <= FEED_WITHIN_MS[options.mode], afterAt === 0 ? 'the logout never went through' : `${feedLag(afterOutage.session_id, afterAt)} ms`)
    checks.add(`every session refreshed within ${RECOVER_WITHIN_MS} ms of the store's return`, recoveries.every((at) => at !== undefined && at - backAt <= RECOVER_WITHIN_MS), `slowest ${maxOf(recoveries.map((at) => (at ?? Infinity) - backAt))} ms`)

    const sorted = all.map((a) => a.ms).sort((x, y) => x - y)
    return makeReport(`outage-${Math.round(options.outageMs / 1000)}s`, options.store, options.mode, startedAt, {
        sessions: count,
        outageMs: options.outageMs,
        refreshes: all.length,
        statuses: countStatuses(all),
        statusesDuringOutage: countStatuses(during),
        p50Ms: sorted[Math.floor(sorted.length / 2)] ?? 0,
        p99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
        slowestMs: maxOf(sorted),
        readyzDownAfterMs: readyDown === undefined ? null : readyDown.at - outageAt,
        readyzUpAfterMs: readyUp === undefined ? null : readyUp.at - backAt,
        revoked: revoked.length,
        recoveryMs: maxOf(recoveries.map((at) => (at ?? Infinity) - backAt)),
        feedBeforeOutageMs: feedLag(beforeOutage.session_id, beforeAt),
        feedAfterReturnMs: afterAt === 0 ? null : feedLag(afterOutage.session_id, afterAt),
      }, checks)
  } finally {
    await feed?.close()
    await server.close()
    await proxy.close()
  }
}
