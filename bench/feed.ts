/**
 * @module bench/feed
 *
 * What the revocation snapshot costs a service at start: `createVerifier({ issuer })` against a
 * real `hallpass serve` (a child process, SQLite) whose feed holds 100,000 live revocations,
 * next to the same call against a server with an empty feed. The verifier resolves only once
 * the snapshot is in its denylist, so the difference is the snapshot: the server reading and
 * streaming it, the verifier parsing it. Runs alternate between the two servers; medians.
 * Also the heap the verifier holds after start (after GC), which is the denylist's.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createSqliteStore } from 'hallpass/stores/sqlite'
import { sessionRecordFixture } from 'hallpass/testing'
import { createVerifier } from 'hallpass/verify'
import { cleanEnv, startChild, stopChild, type BenchChild } from './child-process.ts'
import type { BenchSection, ResultRow, SectionOptions, SectionResult, TargetResult } from './harness.ts'

const FULL = { revocations: 100_000, runs: 7 }
const QUICK = { revocations: 10_000, runs: 2 }
/** The start-up a snapshot of 100k may add to createVerifier. */
const TARGET_MS = 2000

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

/** A SQLite file whose feed holds `count` live revocations, written through the store's own API. */
async function seed(path: string, count: number, log: (line: string) => void): Promise<void> {
  const store = createSqliteStore({ path })
  try {
    const now = Date.now()
    const perSubject = 1000
    for (let subject = 0; subject * perSubject < count; subject++) {
      for (let i = 0; i < perSubject && subject * perSubject + i < count; i++) {
        const record = sessionRecordFixture({ subject: `bench-${subject}`, createdAt: now, expiresAt: now + 86_400_000, idleExpiresAt: now + 86_400_000 })
        await store.createSession(record, { type: 'session.created', at: now, sessionId: record.id, subject: record.subject })
      }
      await store.revokeSubjectSessions({ subject: `bench-${subject}`, exceptId: undefined, now, reason: 'bench', feedExp: Math.floor(now / 1000) + 3600 })
      if (subject % 20 === 19) log(`feed: seeded ${((subject + 1) * perSubject).toLocaleString('en-US')} revocations`)
    }
  } finally {
    await store.close()
  }
}

async function startServer(dir: string, name: string): Promise<{ child: BenchChild; issuer: string }> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const env = cleanEnv({
    HALLPASS_DATABASE_URL: `sqlite:${join(dir, `${name}.db`)}`,
    HALLPASS_DATA_DIR: dir,
    HALLPASS_SECRET: randomBytes(32).toString('base64url'),
    HALLPASS_ISSUER: issuer,
    HALLPASS_HOST: '127.0.0.1',
    HALLPASS_PORT: String(port),
    HALLPASS_DEMO_USER: 'false',
    HALLPASS_LOG_LEVEL: 'silent',
  })
  return { child: await startChild('bench/server-process.ts', env, `the ${name} server`), issuer }
}

async function run(options: SectionOptions): Promise<SectionResult> {
  const { log } = options
  const plan = options.quick ? QUICK : FULL
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  const heap = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      gc?.()
    }
    return process.memoryUsage().heapUsed
  }

  const dir = mkdtempSync(join(tmpdir(), 'hallpass-bench-feed-'))
  const servers: BenchChild[] = []
  try {
    log(`feed: seeding ${plan.revocations.toLocaleString('en-US')} live revocations (store API)`)
    await seed(join(dir, 'full.db'), plan.revocations, log)
    const empty = await startServer(dir, 'empty')
    servers.push(empty.child)
    const full = await startServer(dir, 'full')
    servers.push(full.child)

    const samples = { empty: [] as number[], full: [] as number[], heapMb: [] as number[] }
    for (let i = 0; i < plan.runs; i++) {
      for (const [which, issuer] of [['empty', empty.issuer], ['full', full.issuer]] as const) {
        const before = await heap()
        const started = process.hrtime.bigint()
        const verifier = await createVerifier({ issuer, logger: false })
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        const size = verifier.health().feed.denylistSize
        if (which === 'full' && size !== plan.revocations) throw new Error(`the snapshot held ${size} of ${plan.revocations} revocations`)
        samples[which].push(ms)
        if (which === 'full') samples.heapMb.push(((await heap()) - before) / 1024 / 1024)
        await verifier.close()
      }
      log(`feed: run ${i + 1}/${plan.runs}: empty ${samples.empty.at(-1)!.toFixed(0)} ms, ${plan.revocations.toLocaleString('en-US')} ${samples.full.at(-1)!.toFixed(0)} ms, ${samples.heapMb.at(-1)!.toFixed(1)} MB`)
    }
    const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
    const emptyMs = median(samples.empty)
    const fullMs = median(samples.full)
    const heapMb = median(samples.heapMb)
    const row = (contender: string, ms: number, count: number): ResultRow => ({
      labels: { op: 'createVerifier until complete', snapshot: count.toLocaleString('en-US') },
      contender,
      clock: 'wall',
      medianNs: ms * 1e6,
      p25Ns: ms * 1e6,
      p75Ns: ms * 1e6,
      opsPerSec: 1000 / ms,
      ratio: ms / emptyMs,
      wallMedianNs: ms * 1e6,
      cpuMedianNs: Number.NaN,
      rounds: plan.runs,
      batch: 1,
    })
    const added = fullMs - emptyMs
    const targets: TargetResult[] = [
      { name: `the snapshot of ${plan.revocations.toLocaleString('en-US')} adds ${added.toFixed(0)} ms to createVerifier ≤ ${TARGET_MS} ms (ratio = share of the budget)`, limit: 1, ratio: added / TARGET_MS, pass: added <= TARGET_MS },
      { name: `heap the verifier holds after it: ${heapMb.toFixed(1)} MB${gc === undefined ? ' (no gc)' : ' (after gc)'} (ratio = MB per 10,000 revocations)`, limit: Number.POSITIVE_INFINITY, ratio: heapMb / (plan.revocations / 10_000), pass: undefined },
    ]
    return { section: 'feed', clock: 'wall', results: [row('empty feed', emptyMs, 0), row('snapshot', fullMs, plan.revocations)], ratios: { snapshot: fullMs / emptyMs }, targets }
  } finally {
    for (const server of servers) await stopChild(server.child).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

export const feedSection: BenchSection = {
  name: 'feed',
  description: 'createVerifier against a feed of 100k live revocations (the snapshot a new service loads) vs an empty one',
  run,
}
