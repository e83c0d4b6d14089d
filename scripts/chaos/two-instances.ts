/**
 * @module scripts/chaos/two-instances
 *
 * Scenario 4, two session servers on one store (PostgreSQL or Redis), each in a child process
 * (scripts/chaos/server-child.ts), with a service's verifier (`createVerifier` from
 * hallpass/verify) following instance B's revocation feed and JWKS. In turn:
 * - racing refreshes: each session's current token sent to A and B at once; both must answer
 *   200 with the same successor;
 * - logouts on A reach the verifier (subscribed to B) within 1 s;
 * - automatic key rotation: both servers' clocks (and the verifier's) move to when the next
 *   key is due; their key maintenance (every second here) publishes it, then, a publish lead
 *   later, signs with it. Tokens from both instances are verified throughout: none may fail
 *   (a sync `verify` that lacked the key is counted apart: `verifyAsync`, the adapters' path,
 *   refetches once);
 * - A is killed (SIGKILL) under load: its clients move to B, and every session refreshes on B.
 *
 * The clocks jump by about an hour (the shortest rotation interval the server accepts), so the
 * verifier's fail-open window is set to 2 h: a jump of its clock must not read as a lost feed.
 * Feed liveness is what the logout checks measure instead. The publish lead (60 s of server
 * clock) lasts a few seconds of real time, so the JWKS max-age is short (10 s, short form 2 s)
 * and the verifier's cache keeps it (its floor, 30 s by default, is lowered to 1 s).
 */
import { createVerifier, type Verifier } from 'hallpass/verify'
import { freePort } from '../../test/helpers/ports.ts'
import { call, Checks, makeReport, countStatuses, createScratchStore, maxOf, randomSecret, sleep, startChildServer, type Answer, type ChildServer, type Report } from './common.ts'

export interface TwoInstancesOptions {
  readonly store: 'postgres' | 'redis'
  readonly full: boolean
}

const ROTATION_INTERVAL_S = 3600
const PUBLISH_LEAD_S = 60
const REVOKED_WITHIN_MS = 1000

function kidOf(accessToken: string): string | undefined {
  const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString('utf8')) as { kid?: string }
  return header.kid
}

export async function runTwoInstances(options: TwoInstancesOptions): Promise<Report> {
  const startedAt = new Date()
  const count = options.full ? 20 : 8
  const store = createScratchStore(options.store)
  const secret = randomSecret()
  const adminKey = `admin-${randomSecret()}`
  // The publish lead (60 s of server clock) lasts a few seconds of real time here: the JWKS
  // max-age is short enough for the verifier to refresh within them.
  const jwksMaxAgeS = options.full ? 10 : 2
  const env = {
    HALLPASS_KEY_ROTATION_INTERVAL: `${ROTATION_INTERVAL_S}s`,
    HALLPASS_KEY_PUBLISH_LEAD: `${PUBLISH_LEAD_S}s`,
    HALLPASS_JWKS_MAX_AGE: `${jwksMaxAgeS}s`,
    CHAOS_MAINTAIN_MS: '1000',
  }
  const checks = new Checks()
  const figures: Record<string, unknown> = { sessions: count }
  const servers: ChildServer[] = []
  let verifier: Verifier | undefined
  try {
    // One issuer for both, as behind a load balancer: B's address (a verifier accepts plain
    // http only from a loopback issuer).
    const portB = await freePort()
    const issuer = `http://127.0.0.1:${portB}`
    const a = await startChildServer({ store, secret, adminKey, issuer, env })
    servers.push(a)
    const b = await startChildServer({ store, secret, adminKey, issuer, port: portB, env })
    servers.push(b)
    let skewMs = 0
    verifier = await createVerifier({
      issuer,
      jwksUri: `${b.base}/.well-known/jwks.json`,
      // The servers' short max-age as is (the verifier's floor is 30 s by default).
      jwksCache: { minMaxAgeSeconds: 1 },
      revocation: { feedUrl: `${b.base}/auth/revocations`, failOpenForSeconds: 7200 },
      now: () => Date.now() + skewMs,
      logger: false,
    })
    const v = verifier
    const mint = async (on: ChildServer): Promise<{ refresh: string; access: string; sid: string }> => {
      const res = await call(on.base, '/sessions', { json: { subject: 'chaos' }, bearer: adminKey })
      if (res.status !== 201) throw new Error(`mint failed: ${res.status}`)
      return { refresh: res.body!.refresh_token as string, access: res.body!.access_token as string, sid: res.body!.session_id as string }
    }
    const sessions = await Promise.all(Array.from({ length: count }, () => mint(a)))

    // 1. Racing refreshes across the instances.
    const rounds = options.full ? 20 : 3
    let converged = 0
    const diverged: string[] = []
    for (let r = 0; r < rounds; r++) {
      await Promise.all(
        sessions.map(async (s) => {
          const [onA, onB] = await Promise.all([a, b].map((on) => call(on.base, '/auth/refresh', { json: { refresh_token: s.refresh } })))
          if (onA!.status === 200 && onB!.status === 200 && onA!.body!.refresh_token === onB!.body!.refresh_token) {
            converged++
            s.refresh = onA!.body!.refresh_token as string
          } else diverged.push(`${onA!.status}/${onB!.status}`)
        }),
      )
    }
    figures.racingRefreshes = { pairs: rounds * count, converged, diverged: diverged.length }
    checks.add('racing refreshes on A and B converge on one successor', diverged.length === 0, diverged.slice(0, 3).join(', '))

    // 2. A logout on A reaches the verifier that follows B.
    /** ms from a logout on `on` (of a session started on `startOn`) to the verifier's refusal. */
    const logoutReaches = async (startOn: ChildServer, on: ChildServer): Promise<number | undefined> => {
      const s = await mint(startOn)
      v.verify(s.access)
      const started = performance.now()
      const res = await call(on.base, '/auth/logout', { json: { refresh_token: s.refresh } })
      if (res.status !== 204) throw new Error(`logout answered ${res.status}`)
      for (;;) {
        const elapsed = performance.now() - started
        try {
          v.verify(s.access)
        } catch (error) {
          if ((error as { code?: string }).code === 'ERR_SESSION_REVOKED') return elapsed
          throw error
        }
        if (elapsed > 5000) return undefined
        await sleep(5)
      }
    }
    const logouts = options.full ? 20 : 5
    const latencies: (number | undefined)[] = []
    for (let i = 0; i < logouts; i++) latencies.push(await logoutReaches(b, a))
    const reached = latencies.filter((l): l is number => l !== undefined).sort((x, y) => x - y)
    figures.logoutToVerifierMs = { logouts, p50: Math.round(reached[Math.floor(reached.length / 2)] ?? -1), max: Math.round(maxOf(reached)), missed: logouts - reached.length }
    checks.add(`a logout on A reaches B's verifier within ${REVOKED_WITHIN_MS} ms`, reached.length === logouts && maxOf(reached) < REVOKED_WITHIN_MS, JSON.stringify(figures.logoutToVerifierMs))

    // 3. Automatic key rotation under load on both instances.
    let paused = false
    let inFlight = 0
    let stopLoad = false
    const verifications = { ok: 0, syncMisses: 0, failed: [] as string[] }
    const kids = { a: new Set<string>(), b: new Set<string>() }
    const answers: Answer[] = []
    const load = async (i: number): Promise<void> => {
      const s = sessions[i]!
      let onA = i % 2 === 0
      while (!stopLoad) {
        if (paused) {
          await sleep(20)
          continue
        }
        inFlight++
        const on = onA ? a : b
        const res = await call(on.base, '/auth/refresh', { json: { refresh_token: s.refresh }, timeoutMs: 10_000 })
        answers.push(res)
        if (res.status === 200) {
          s.refresh = res.body!.refresh_token as string
          const access = res.body!.access_token as string
          const kid = kidOf(access)
          if (kid !== undefined) (on === a ? kids.a : kids.b).add(kid)
          try {
            v.verify(access)
            verifications.ok++
          } catch (error) {
            if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') verifications.failed.push(String((error as { code?: string }).code))
            else {
              verifications.syncMisses++
              await v.verifyAsync(access).then(() => verifications.ok++, (e: unknown) => verifications.failed.push(String((e as { code?: string }).code)))
            }
          }
        }
        // Alternate while A lives; a request that died with A is sent again to B.
        onA = !onA && a.child.exitCode === null && a.child.signalCode === null
        inFlight--
        await sleep(50)
      }
    }
    const pause = async (): Promise<void> => {
      paused = true
      while (inFlight > 0) await sleep(5)
    }
    const advance = async (ms: number): Promise<void> => {
      await pause()
      await Promise.all([a.ask({ op: 'advance', ms }), b.ask({ op: 'advance', ms })])
      skewMs += ms
      paused = false
    }
    const jwksKids = async (on: ChildServer): Promise<string[]> => {
      const res = await call(on.base, '/.well-known/jwks.json')
      return ((res.body?.keys as { kid: string }[] | undefined) ?? []).map((k) => k.kid).sort()
    }
    const running = sessions.map((_, i) => load(i))
    const rotations = options.full ? 2 : 1
    const rotationFigures: Record<string, unknown>[] = []
    for (let r = 0; r < rotations; r++) {
      await sleep(options.full ? 2000 : 500)
      const before = await jwksKids(b)
      const signingBefore = new Set([...kids.a, ...kids.b])
      await advance((ROTATION_INTERVAL_S - PUBLISH_LEAD_S + 1) * 1000)
      // Maintenance runs every second on both: the next key is published within a few.
      let published = false
      for (let t = 0; t < 100 && !published; t++) {
        await sleep(100)
        const [ka, kb] = await Promise.all([jwksKids(a), jwksKids(b)])
        // A new kid on both (the oldest key may leave the set at the same maintenance).
        published = ka.some((kid) => !before.includes(kid)) && JSON.stringify(ka) === JSON.stringify(kb)
      }
      // The verifier refreshes its JWKS per max-age: give it that, then activate.
      await sleep((jwksMaxAgeS + 1) * 1000)
      await advance((PUBLISH_LEAD_S + 1) * 1000)
      kids.a.clear()
      kids.b.clear()
      let activated = false
      for (let t = 0; t < 100 && !activated; t++) {
        await sleep(100)
        activated = [...kids.a].some((k) => !signingBefore.has(k)) && [...kids.b].some((k) => !signingBefore.has(k))
      }
      await sleep(options.full ? 2000 : 500)
      rotationFigures.push({ published, activatedOnBoth: activated, jwksKeys: (await jwksKids(b)).length })
      checks.add(`rotation ${r + 1}: the next key published on both, then signing on both`, published && activated)
    }
    figures.keyRotation = { rotations: rotationFigures, verifications: { ok: verifications.ok, syncMisses: verifications.syncMisses, failed: verifications.failed.length } }
    checks.add('no failed verification across the rotations', verifications.failed.length === 0, verifications.failed.slice(0, 3).join(', '))
    checks.add('the verifier held each key before it signed (no sync verify lacked it)', verifications.syncMisses === 0, `${verifications.syncMisses} misses`)

    // 4. A is killed under load; B carries on.
    const beforeKill = answers.length
    await a.kill()
    servers.splice(0, 1)
    const killedAt = Date.now()
    await sleep(options.full ? 10_000 : 2000)
    stopLoad = true
    await Promise.all(running)
    const afterKill = answers.slice(beforeKill)
    const final = await Promise.all(sessions.map((s) => call(b.base, '/auth/refresh', { json: { refresh_token: s.refresh } })))
    const latencyAfterKill = await logoutReaches(b, b)
    figures.kill = {
      answersAfterKill: countStatuses(afterKill),
      finalRefreshOnB: countStatuses(final),
      logoutOnBToVerifierMs: latencyAfterKill === undefined ? null : Math.round(latencyAfterKill),
      secondsAfterKill: Math.round((Date.now() - killedAt) / 1000),
    }
    figures.refreshes = countStatuses(answers)
    checks.add('after A was killed, no refresh refused', afterKill.every((x) => x.status === 200 || x.status === 0), JSON.stringify(countStatuses(afterKill)))
    checks.add('after A was killed, every session refreshes on B', final.every((f) => f.status === 200), JSON.stringify(countStatuses(final)))
    checks.add('after A was killed, logouts still reach the verifier within 1 s', latencyAfterKill !== undefined && latencyAfterKill < REVOKED_WITHIN_MS)
    checks.add('no refresh ever refused', answers.every((x) => x.status === 200 || x.status === 0), JSON.stringify(countStatuses(answers)))
    return makeReport('two-instances', options.store, options.full ? 'full' : 'short', startedAt, figures, checks)
  } finally {
    await verifier?.close()
    for (const s of servers) await s.stop().catch(() => undefined)
    await store.drop()
  }
}
