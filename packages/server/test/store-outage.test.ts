// A store outage, through a fault proxy between the server and PostgreSQL or Redis: a partition
// first (connections open, nothing answers), then a crash (every connection reset). Throughout,
// each refresh is answered 200 or 503 with Retry-After, fast
// (never a 500, never a hang), /readyz goes 503; once the proxy passes again, the server
// recovers by itself and every session refreshes again.
//
// The reuse window is a minute here: a rotation whose answer was lost in the outage is retried
// with the previous token, which must converge on the successor rather than count as reuse.
// (Beyond the window, a lost answer is told from reuse by its mark: lost-answer.test.ts and the
// session conformance suite.)
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startFaultProxy } from '../../../test/helpers/fault-proxy.ts'
import { postgresUrl, redisUrl } from '../../../test/helpers/services.ts'
import { startServer, storeSkipReason, type StoreKind } from './harness.ts'

const SESSIONS = 4
/** The outage: a partition, then a crash, ~5 s in all. */
const BLACKHOLE_MS = 2500
const DROP_MS = 2500
/** The longest any answer may take, outage or not. */
const ANSWER_WITHIN_MS = 5000
/** How soon after the store is back every session must have refreshed again. */
const RECOVER_WITHIN_MS = 5000

function targetOf(kind: StoreKind): { host: string; port: number } {
  const url = new URL(kind === 'postgres' ? postgresUrl() : redisUrl())
  return { host: url.hostname, port: url.port === '' ? (kind === 'postgres' ? 5432 : 6379) : Number(url.port) }
}

interface Answer {
  readonly at: number
  readonly ms: number
  readonly status: number
  readonly retryAfter: string | null
}

for (const kind of ['postgres', 'redis'] as const) {
  describe(`store outage (${kind})`, async () => {
    const skip = await storeSkipReason(kind)
    const proxy = await startFaultProxy({ target: targetOf(kind) })
    after(() => proxy.close())

    test('refreshes answer 200 or 503 + Retry-After within 5 s, /readyz follows, and every session recovers', { skip, timeout: 30_000 }, async (t) => {
      const server = await startServer(kind, { storeAddress: { host: '127.0.0.1', port: proxy.port }, config: { reuseWindow: '60s' } })
      try {
        const tokens: string[] = []
        for (let i = 0; i < SESSIONS; i++) tokens.push((await server.mint()).refresh_token)

        const answers: Answer[][] = tokens.map(() => [])
        const ready: Answer[] = []
        let stop = false
        const timed = async (path: string, json?: unknown): Promise<Answer & { body: unknown }> => {
          const start = Date.now()
          const res = await server.request(path, json === undefined ? {} : { json })
          return { at: Date.now(), ms: Date.now() - start, status: res.status, retryAfter: res.headers.get('retry-after'), body: res.body }
        }
        const refresher = async (i: number): Promise<void> => {
          while (!stop) {
            const answer = await timed('/auth/refresh', { refresh_token: tokens[i] })
            answers[i]!.push(answer)
            if (answer.status === 200) tokens[i] = (answer.body as { refresh_token: string }).refresh_token
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
        const outageAt = Date.now()
        proxy.setMode('blackhole')
        await sleep(BLACKHOLE_MS)
        proxy.setMode('drop')
        await sleep(DROP_MS)
        proxy.setMode('pass')
        const backAt = Date.now()
        // Wait until every session has refreshed since the store came back (or the bound passed).
        const recovered = (i: number): Answer | undefined => answers[i]!.find((a) => a.status === 200 && a.at > backAt)
        while (Date.now() - backAt < RECOVER_WITHIN_MS + 1000 && !tokens.every((_, i) => recovered(i) !== undefined && ready.some((a) => a.status === 200 && a.at > backAt))) {
          await sleep(100)
        }
        stop = true
        await Promise.all(running)

        const all = answers.flat()
        const summary = `${kind}: ${all.length} refreshes, ${all.filter((a) => a.status === 200).length} × 200, ${all.filter((a) => a.status === 503).length} × 503, slowest ${Math.max(...all.map((a) => a.ms))} ms`
        t.diagnostic(summary)
        for (const a of [...all, ...ready]) assert.ok(a.ms <= ANSWER_WITHIN_MS, `an answer took ${a.ms} ms (${summary})`)
        for (const a of all) {
          assert.ok(a.status === 200 || a.status === 503, `refresh answered ${a.status} (${summary})`)
          if (a.status === 503) assert.match(a.retryAfter ?? '', /^[1-9][0-9]?$/, `a 503 without a small Retry-After (${summary})`)
        }
        assert.ok(all.some((a) => a.status === 503 && a.at > outageAt && a.at <= backAt + ANSWER_WITHIN_MS), `the outage was never seen (${summary})`)
        tokens.forEach((_, i) => {
          const first = recovered(i)
          assert.ok(first !== undefined && first.at - backAt <= RECOVER_WITHIN_MS, `session ${i} did not refresh within ${RECOVER_WITHIN_MS} ms of the store's return (${summary})`)
        })
        assert.ok(ready.some((a) => a.status === 503 && a.at > outageAt && a.at <= backAt + ANSWER_WITHIN_MS), '/readyz never answered 503 during the outage')
        assert.ok(ready.some((a) => a.status === 200 && a.at > backAt), '/readyz did not answer 200 again')
        for (const a of ready) assert.ok(a.status === 200 || a.status === 503, `/readyz answered ${a.status}`)
      } finally {
        await server.close()
      }
    })
  })
}
