/**
 * @module scripts/chaos/sigkill
 *
 * Scenario 3, SIGKILL under refresh load: sessions refresh in a loop against a session server
 * in a child process (scripts/chaos/server-child.ts), which is killed (SIGKILL, mid-request)
 * and started again on the same store and port, `kills` times (after `downSeconds`, if given:
 * a restart slower than the reuse window). A client whose request died with the server retries
 * the token it holds once the server is back: inside the reuse window a rotation committed just
 * before the kill converges by the grace window; beyond it, on SQLite, because the restarted
 * server sees the dead one's marker (packages/server/src/crash-marker.ts) and gives the last
 * answers of its final seconds once more. What must hold: no refresh refused
 * (nothing lost), and afterwards, read straight from the store, every session live with the
 * generation of the token its client holds, which still refreshes: one chain per session.
 */
import { freePort } from '../../test/helpers/ports.ts'
import { call, Checks, makeReport, countStatuses, createScratchStore, maxOf, parseRefreshToken, randomSecret, sleep, startChildServer, type Answer, type ChildServer, type StoreKind, type Report } from './common.ts'

export interface SigkillOptions {
  readonly store: StoreKind
  readonly kills: number
  readonly sessions?: number
  /** The server's reuse window (default its own, 10 s). */
  readonly reuseWindow?: string
  /** How long the server stays down after the last kill (default: started again at once). */
  readonly downSeconds?: number
  readonly mode: 'short' | 'full'
}

export async function runSigkill(options: SigkillOptions): Promise<Report> {
  const startedAt = new Date()
  const count = options.sessions ?? 20
  const store = createScratchStore(options.store)
  const secret = randomSecret()
  const adminKey = `admin-${randomSecret()}`
  const port = await freePort()
  const env: Record<string, string> = options.reuseWindow === undefined ? {} : { HALLPASS_REUSE_WINDOW: options.reuseWindow }
  const start = (): Promise<ChildServer> => startChildServer({ store, secret, adminKey, port, issuer: `http://127.0.0.1:${port}`, env })
  let server = await start()
  const base = server.base
  const checks = new Checks()
  try {
    const minted = await Promise.all(Array.from({ length: count }, () => call(base, '/sessions', { json: { subject: 'chaos' }, bearer: adminKey })))
    if (!minted.every((m) => m.status === 201)) throw new Error(`mint failed: ${JSON.stringify(countStatuses(minted))}`)
    const tokens = minted.map((m) => m.body!.refresh_token as string)
    const sids = minted.map((m) => m.body!.session_id as string)
    const answers: Answer[] = []
    const refused: string[] = []
    let stop = false
    const refresher = async (i: number): Promise<void> => {
      while (!stop) {
        const answer = await call(base, '/auth/refresh', { json: { refresh_token: tokens[i] }, timeoutMs: 10_000 })
        answers.push(answer)
        if (answer.status === 200) tokens[i] = answer.body!.refresh_token as string
        else if (answer.status !== 0 && answer.status !== 503) {
          refused.push(`session ${i}: ${answer.status} ${String(answer.body?.error)}`)
          return
        }
        await sleep(100)
      }
    }
    const running = tokens.map((_, i) => refresher(i))
    const downtimes: number[] = []
    for (let k = 0; k < options.kills; k++) {
      await sleep(1000 + Math.random() * 2000)
      await server.kill()
      const killedAt = Date.now()
      if (k === options.kills - 1 && options.downSeconds !== undefined) await sleep(options.downSeconds * 1000)
      server = await start()
      downtimes.push(Date.now() - killedAt)
    }
    // Let every client find the last server before the end.
    const lastStart = Date.now()
    await sleep(3000)
    stop = true
    await Promise.all(running)
    const afterLast = answers.filter((a) => a.at > lastStart && a.status === 200)

    // One last refresh each: the token the client holds is the live one.
    const final = await Promise.all(tokens.map((t) => call(base, '/auth/refresh', { json: { refresh_token: t } })))
    final.forEach((f, i) => {
      if (f.status === 200) tokens[i] = f.body!.refresh_token as string
    })
    await server.stop()
    const records = await store.sessions(sids)
    const mismatched = sids.filter((sid, i) => {
      const record = records.get(sid)
      return record === undefined || record.revokedAt !== null || record.generation !== parseRefreshToken(tokens[i]!).generation
    })
    const rotations = answers.filter((a) => a.status === 200).length
    checks.add('no refresh refused (nothing lost)', refused.length === 0, refused.slice(0, 3).join('; '))
    checks.add('every session refreshed after the last restart', afterLast.length > 0 && final.every((f) => f.status === 200), JSON.stringify(countStatuses(final)))
    checks.add('one live chain per session: the store holds the generation of the client’s token, not revoked', mismatched.length === 0, `${mismatched.length} of ${count} differ`)
    return makeReport('sigkill', options.store, options.mode, startedAt, {
        sessions: count,
        kills: options.kills,
        reuseWindow: options.reuseWindow ?? '10s (default)',
        lastDownSeconds: options.downSeconds ?? null,
        refreshes: answers.length,
        statuses: countStatuses(answers),
        rotations,
        restartMsMax: maxOf(downtimes),
        restartMsMean: Math.round(downtimes.reduce((a, b) => a + b, 0) / Math.max(1, downtimes.length)),
        refused: refused.length,
        revokedOrMismatched: mismatched.length,
      }, checks)
  } finally {
    await server.stop().catch(() => undefined)
    await store.drop()
  }
}
