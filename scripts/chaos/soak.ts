/**
 * @module scripts/chaos/soak
 *
 * Scenario 5, a soak: mixed load on one session server in a child process
 * (scripts/chaos/server-child.ts) for `durationMs`. Each worker logs in (argon2id, as
 * production), then refreshes ten times, each new access token verified by a service's verifier
 * (`createVerifier`, following the server's feed) and by the server (`GET /auth/me`), then logs
 * out. Every 10 s (short form: 2 s) the server's memory (`process.memoryUsage()`, V8 heap and
 * code statistics), its event-loop delay and the store's table sizes are sampled.
 *
 * What must hold: no error (every answer the expected one, every verification passing); RSS
 * flat within ±10 % after the warm-up (the first fifth); the event-loop delay's p99 no worse at
 * the end than after the warm-up (±10 %, or 2 ms for small delays); the store bounded: the
 * purge (every minute here instead of hourly) keeps revocation-feed entries to those whose
 * access tokens may live (30 s tokens + the 5-minute margin) and the audit to 1000 per subject,
 * and a purge a day later leaves no session (they are all logged out and expired by then:
 * expired sessions are kept a day by design, so within the soak that table grows with logins).
 */
import { createVerifier, type Verifier } from 'hallpass/verify'
import { call, CHAOS_PASSWORD, CHAOS_USERNAME, Checks, makeReport, countStatuses, createScratchStore, maxOf, randomSecret, sleep, startChildServer, type ChildServer, type ChildStats, type StoreKind, type Report } from './common.ts'
import { freePort } from '../../test/helpers/ports.ts'

export interface SoakOptions {
  readonly store: StoreKind
  readonly durationMs: number
  readonly full: boolean
  readonly workers?: number
  /** Write a heap snapshot of the server here at the end. */
  readonly heapSnapshot?: string
}

interface Sample {
  readonly t: number
  readonly rssMb: number
  readonly heapUsedMb: number
  readonly heapTotalMb: number
  readonly externalMb: number
  readonly arrayBuffersMb: number
  readonly loopP99Ms: number
  readonly loopMaxMs: number
  readonly ops: number
  readonly sizes: Record<string, number>
}

const MB = 1024 * 1024
/** The purge runs this often (serve: hourly), so that it runs within the soak. */
const PURGE_MS = (full: boolean): number => (full ? 60_000 : 5000)
const round1 = (n: number): number => Math.round(n * 10) / 10

export async function runSoak(options: SoakOptions): Promise<Report> {
  const startedAt = new Date()
  const sampleEveryMs = options.full ? 10_000 : 2000
  const store = createScratchStore(options.store)
  const secret = randomSecret()
  const adminKey = `admin-${randomSecret()}`
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const checks = new Checks()
  let server: ChildServer | undefined
  let verifier: Verifier | undefined
  try {
    server = await startChildServer({
      store,
      secret,
      adminKey,
      port,
      issuer,
      env: {
        HALLPASS_ACCESS_TOKEN_TTL: '30s',
        HALLPASS_REFRESH_IDLE_TIMEOUT: '5m',
        CHAOS_PURGE_MS: String(PURGE_MS(options.full)),
      },
    })
    const s = server
    verifier = await createVerifier({ issuer, logger: false })
    const v = verifier
    const counts = { logins: 0, refreshes: 0, verifications: 0, serverChecks: 0, logouts: 0 }
    const errors: string[] = []
    const statuses: number[] = []
    const logoutTimes: number[] = []
    let stop = false
    const expect = (what: string, status: number, wanted: number): boolean => {
      statuses.push(status)
      if (status !== wanted) errors.push(`${what}: ${status}`)
      return status === wanted
    }
    const worker = async (): Promise<void> => {
      while (!stop) {
        const login = await call(s.base, '/auth/login', { json: { username: CHAOS_USERNAME, password: CHAOS_PASSWORD } })
        if (!expect('login', login.status, 200)) continue
        counts.logins++
        let refresh = login.body!.refresh_token as string
        for (let i = 0; i < 10 && !stop; i++) {
          await sleep(50)
          const next = await call(s.base, '/auth/refresh', { json: { refresh_token: refresh } })
          if (!expect('refresh', next.status, 200)) break
          counts.refreshes++
          refresh = next.body!.refresh_token as string
          const access = next.body!.access_token as string
          try {
            v.verify(access)
            counts.verifications++
          } catch (error) {
            errors.push(`verify: ${String((error as { code?: string }).code)}`)
          }
          const me = await call(s.base, '/auth/me', { bearer: access })
          if (expect('me', me.status, 200)) counts.serverChecks++
        }
        const out = await call(s.base, '/auth/logout', { json: { refresh_token: refresh } })
        if (expect('logout', out.status, 204)) {
          counts.logouts++
          logoutTimes.push(Date.now())
        }
      }
    }
    const workers = Array.from({ length: options.workers ?? 6 }, () => worker())
    const samples: Sample[] = []
    const t0 = Date.now()
    const opsNow = (): number => counts.logins + counts.refreshes + counts.serverChecks + counts.logouts
    const childErrors: string[] = []
    await s.stats() // starts the loop histogram afresh
    while (Date.now() - t0 < options.durationMs) {
      await sleep(Math.min(sampleEveryMs, Math.max(0, t0 + options.durationMs - Date.now())))
      const [stats, sizes] = await Promise.all([s.stats(), store.sizes()])
      childErrors.push(...stats.errors)
      samples.push(toSample(Date.now() - t0, stats, sizes, opsNow()))
    }
    stop = true
    await Promise.all(workers)
    const beforeDayLater = await store.sizes()
    const dayLater = (await s.ask({ op: 'purge', aheadMs: 25 * 3600_000 })) as { removed?: number; error?: string }
    const afterDayLater = await store.sizes()
    if (options.heapSnapshot !== undefined) await s.ask({ op: 'heap-snapshot', path: options.heapSnapshot })
    const finalStats = await s.stats()
    childErrors.push(...finalStats.errors)

    const warm = samples.slice(Math.max(1, Math.floor(samples.length / 5)))
    const rss = warm.map((x) => x.rssMb)
    const meanRss = rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length)
    const rssSpread = rss.length === 0 ? 0 : Math.max(maxOf(rss) - meanRss, meanRss - Math.min(...rss)) / meanRss
    const third = Math.max(1, Math.floor(warm.length / 3))
    const loopFirst = warm.slice(0, third).map((x) => x.loopP99Ms)
    const loopLast = warm.slice(-third).map((x) => x.loopP99Ms)
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    const feedTable = Object.keys(afterDayLater).find((k) => /revocation|feed/.test(k))
    const auditTable = Object.keys(beforeDayLater).find((k) => /^audit/.test(k) && (beforeDayLater[k] ?? 0) > 0)
    const sessionTable = Object.keys(afterDayLater).find((k) => k === 'sessions' || k === 'session')
    const lastPurgeWindow = Date.now() - (330 + PURGE_MS(options.full) / 1000 + 30) * 1000
    const liveRevocations = logoutTimes.filter((t) => t > lastPurgeWindow).length

    checks.add('no error', errors.length === 0 && childErrors.length === 0, [...errors, ...childErrors].slice(0, 5).join('; '))
    if (options.full) {
      checks.add('RSS flat within ±10 % after the warm-up', rssSpread <= 0.1, `mean ${round1(meanRss)} MB, spread ±${round1(rssSpread * 100)} %`)
      checks.add('event-loop delay p99 not growing (±10 % or 2 ms)', mean(loopLast) <= Math.max(mean(loopFirst) * 1.1, mean(loopFirst) + 2), `${round1(mean(loopFirst))} → ${round1(mean(loopLast))} ms`)
      checks.add('revocation-feed entries bounded by the purge', feedTable === undefined || (beforeDayLater[feedTable] ?? 0) <= liveRevocations, `${feedTable}: ${beforeDayLater[feedTable ?? '']} held, ${liveRevocations} logouts in the last ${Math.round((Date.now() - lastPurgeWindow) / 1000)} s`)
    }
    // Each operation writes at most one audit event; the purge trims to 1000 per subject.
    const purgeMs = PURGE_MS(options.full)
    const recentOps = opsNow() - (samples.filter((x) => x.t * 1000 < Date.now() - t0 - purgeMs - sampleEveryMs).at(-1)?.ops ?? 0)
    if (options.store !== 'redis') checks.add('audit bounded by the purge (1000 per subject, one subject here)', auditTable === undefined || (beforeDayLater[auditTable] ?? 0) <= 1000 + recentOps, `${auditTable}: ${beforeDayLater[auditTable ?? '']}, ${recentOps} operations since the purge before last`)
    checks.add('a purge a day later leaves no session', dayLater.error === undefined && (sessionTable === undefined || afterDayLater[sessionTable] === 0), `${sessionTable}: ${beforeDayLater[sessionTable ?? '']} → ${afterDayLater[sessionTable ?? '']}`)

    return makeReport('soak', options.store, options.full ? 'full' : 'short', startedAt, {
        durationS: Math.round(options.durationMs / 1000),
        counts,
        statuses: countStatuses(statuses.map((status) => ({ status, at: 0, ms: 0, retryAfter: null, body: undefined }))),
        errors: errors.length + childErrors.length,
        rssMb: { mean: round1(meanRss), min: round1(Math.min(...rss)), max: round1(maxOf(rss)), spreadPct: round1(rssSpread * 100) },
        loopP99Ms: { afterWarmUp: round1(mean(loopFirst)), atEnd: round1(mean(loopLast)) },
        sizes: { atEnd: beforeDayLater, afterPurgeADayLater: afterDayLater },
        purgedDuringSoak: finalStats.purged - (dayLater.removed ?? 0),
        finalMemory: { ...Object.fromEntries(Object.entries(finalStats.memory).map(([k, n]) => [k, round1(n / MB)])), heap: Object.fromEntries(Object.entries(finalStats.heap).map(([k, n]) => [k, round1(n / MB)])), code: Object.fromEntries(Object.entries(finalStats.code).map(([k, n]) => [k, round1(n / MB)])) },
        samples,
      }, checks)
  } finally {
    await verifier?.close()
    await server?.stop().catch(() => undefined)
    await store.drop()
  }
}

function toSample(t: number, stats: ChildStats, sizes: Record<string, number>, ops: number): Sample {
  return {
    t: Math.round(t / 1000),
    rssMb: round1(stats.memory.rss / MB),
    heapUsedMb: round1(stats.memory.heapUsed / MB),
    heapTotalMb: round1(stats.memory.heapTotal / MB),
    externalMb: round1(stats.memory.external / MB),
    arrayBuffersMb: round1(stats.memory.arrayBuffers / MB),
    loopP99Ms: round1(stats.loop.p99Ms),
    loopMaxMs: round1(stats.loop.maxMs),
    ops,
    sizes,
  }
}
