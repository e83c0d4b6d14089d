/**
 * @module scripts/chaos/lost-answer
 *
 * Scenario 2, lost answers: the store commits a rotation and the answer never reaches the
 * session server. test/helpers/fault-proxy.ts (`loseReplyTo`) lets the rotation through (on
 * PostgreSQL the one-statement compare-and-set, cut at the ReadyForQuery that follows its
 * commit; on Redis the rotation script's EVALSHA or EVAL, cut at its reply), so the refresh is
 * answered 503 while the store moved on. The client retries its old token later than the reuse
 * window, and must get the successor the store holds (same generation, no second rotation) and
 * go on refreshing with it. Still: the same predecessor presented again after its successor was
 * used revokes the session, and a thief holding the predecessor, alternating with the owner in
 * either order, is caught (the session revoked, the thief's token refused).
 *
 * Short form: a reuse window of 1 s, one retry 2.5 s later on the real clock and one after the
 * server's clock moved 10 minutes. Full form: the default window (10 s) and the real clock, the
 * retries 30 s and 10 min after the loss.
 */
import { POSTGRES_READY_FOR_QUERY, startFaultProxy } from '../../test/helpers/fault-proxy.ts'
import { postgresUrl, redisUrl } from '../../test/helpers/services.ts'
import { startServer } from '../../packages/server/test/harness.ts'
import { rotateScript } from '../../packages/hallpass/src/stores/redis/scripts.ts'
import { Checks, makeReport, parseRefreshToken, sleep, type Report } from './common.ts'

export interface LostAnswerOptions {
  readonly store: 'postgres' | 'redis'
  readonly full: boolean
}

/** What the rotation looks like on the wire: the PostgreSQL statement, the Redis script. */
const POSTGRES_ROTATION = 'previous_hash = refresh_hash'
const CUT_TIMEOUT_MS = 10_000

interface Case {
  readonly name: string
  readonly sid: string
  /** The token whose rotation's answer was lost. */
  readonly lost: string
  /** The generation the store reached with the lost rotation. */
  committed: number | undefined
  lostStatus: number | undefined
}

type Outcome = Record<string, string | number | boolean | null>

export async function runLostAnswer(options: LostAnswerOptions): Promise<Report> {
  const startedAt = new Date()
  const url = new URL(options.store === 'postgres' ? postgresUrl() : redisUrl())
  const proxy = await startFaultProxy({ target: { host: url.hostname, port: url.port === '' ? (options.store === 'postgres' ? 5432 : 6379) : Number(url.port) } })
  const server = await startServer(options.store, {
    storeAddress: { host: '127.0.0.1', port: proxy.port },
    config: options.full ? {} : { reuseWindow: '1s' },
  })
  const checks = new Checks()
  const refresh = (token: string): Promise<{ status: number; error: string | undefined; token: string | undefined }> =>
    server.request('/auth/refresh', { json: { refresh_token: token } }).then((res) => {
      const body = res.body as { error?: string; refresh_token?: string } | undefined
      return { status: res.status, error: body?.error, token: body?.refresh_token }
    })
  // After a cut the store's client reconnects (Redis: at once, refusing commands meanwhile).
  const getSession = async (sid: string): ReturnType<typeof server.ctx.sessions.store.getSession> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await server.ctx.sessions.store.getSession(sid)
      } catch (error) {
        if (attempt >= 50) throw error
        await sleep(100)
      }
    }
  }
  const revokedOf = async (sid: string): Promise<boolean> => {
    const record = await getSession(sid)
    return record === undefined || record.revokedAt !== null
  }

  /** A session whose second rotation's answer is lost: returns the token it was asked with. */
  const loseOne = async (name: string): Promise<Case> => {
    const minted = await server.mint()
    const first = await refresh(minted.refresh_token)
    if (first.status !== 200 || first.token === undefined) throw new Error(`a plain refresh failed (${first.status})`)
    const cut = options.store === 'postgres' ? proxy.loseReplyTo(POSTGRES_ROTATION, { until: POSTGRES_READY_FOR_QUERY }) : proxy.loseReplyTo([rotateScript.sha, rotateScript.lua])
    const answer = refresh(first.token)
    const happened = await Promise.race([cut.then(() => true), sleep(CUT_TIMEOUT_MS).then(() => false)])
    if (!happened) throw new Error('the fault proxy never saw the rotation (has the statement or script changed?)')
    const lostStatus = (await answer).status
    const record = await getSession(minted.session_id)
    return { name, sid: minted.session_id, lost: first.token, committed: record?.generation, lostStatus }
  }

  /** The owner retries, gets the successor, uses it; then the predecessor comes back once more. */
  const ownerRetries = async (c: Case): Promise<Outcome> => {
    const retry = await refresh(c.lost)
    const successor = retry.token === undefined ? undefined : parseRefreshToken(retry.token).generation
    const afterRetry = (await getSession(c.sid))?.generation
    const used = retry.token === undefined ? undefined : await refresh(retry.token)
    const replay = await refresh(c.lost)
    return {
      retryStatus: retry.status,
      retryError: retry.error ?? null,
      sameSuccessor: successor !== undefined && successor === c.committed && afterRetry === c.committed,
      successorUsed: used?.status ?? null,
      predecessorAgain: replay.status,
      revokedAfterReplay: await revokedOf(c.sid),
    }
  }

  /** Owner and thief both hold the predecessor; `ownerFirst` says who comes back first. */
  const thiefAlternates = async (c: Case, ownerFirst: boolean): Promise<Outcome> => {
    const firstComer = await refresh(c.lost)
    const firstNext = firstComer.token === undefined ? undefined : await refresh(firstComer.token)
    const secondComer = await refresh(c.lost)
    const firstAgain = firstNext?.token === undefined ? undefined : await refresh(firstNext.token)
    // The thief's last attempt: the predecessor after the owner, or its own successor after
    // the owner's retry (or, when its first retry was already refused, that one).
    const thief = ownerFirst ? secondComer : (firstAgain ?? firstComer)
    return {
      firstRetry: firstComer.status,
      firstUsesSuccessor: firstNext?.status ?? null,
      secondRetry: secondComer.status,
      firstAfterSecond: firstAgain?.status ?? null,
      thiefRefused: thief.status === 400,
      revoked: await revokedOf(c.sid),
    }
  }

  const figures: Record<string, unknown> = { reuseWindow: options.full ? '10s (default)' : '1s' }
  try {
    // Every loss first (the proxy arms one at a time), then the waits.
    const waits = options.full ? [{ label: '30s', ms: 30_000 }, { label: '10min', ms: 600_000 }] : [{ label: '2.5s', ms: 2500 }, { label: '10min (server clock moved)', ms: 0 }]
    const sets: Case[][] = []
    for (const wait of waits) sets.push([await loseOne(`owner ${wait.label}`), await loseOne(`thief after owner ${wait.label}`), await loseOne(`owner after thief ${wait.label}`)])
    const lostAt = Date.now()
    for (const c of sets.flat()) {
      checks.add(`${c.name}: the lost rotation was committed`, c.committed === parseRefreshToken(c.lost).generation + 1, `store generation ${c.committed}, token ${parseRefreshToken(c.lost).generation}`)
      checks.add(`${c.name}: the lost answer was a 503`, c.lostStatus === 503, String(c.lostStatus))
    }
    for (const [i, wait] of waits.entries()) {
      if (wait.ms > 0) await sleep(Math.max(0, lostAt + wait.ms - Date.now()))
      else server.advanceClock(600_000)
      const [owner, thiefAfterOwner, ownerAfterThief] = sets[i]!
      const retried = await ownerRetries(owner!)
      const afterOwner = await thiefAlternates(thiefAfterOwner!, true)
      const afterThief = await thiefAlternates(ownerAfterThief!, false)
      figures[wait.label] = { owner: retried, thiefAfterOwner: afterOwner, ownerAfterThief: afterThief }
      checks.add(`${wait.label}: the retry gets the same successor`, retried.retryStatus === 200 && retried.sameSuccessor === true, JSON.stringify(retried))
      checks.add(`${wait.label}: the session lives on with it`, retried.successorUsed === 200)
      checks.add(`${wait.label}: the predecessor again, after its successor was used, revokes`, retried.predecessorAgain === 400 && retried.revokedAfterReplay === true)
      checks.add(`${wait.label}: a thief coming after the owner is caught`, afterOwner.thiefRefused === true && afterOwner.revoked === true, JSON.stringify(afterOwner))
      checks.add(`${wait.label}: a thief coming before the owner is caught`, afterThief.thiefRefused === true && afterThief.revoked === true, JSON.stringify(afterThief))
    }
    return makeReport('lost-answer', options.store, options.full ? 'full' : 'short', startedAt, figures, checks)
  } finally {
    await server.close()
    await proxy.close()
  }
}
