/**
 * @module scripts/chaos/server-child
 *
 * A session server in a child process, for the scenarios that kill it or watch its memory
 * (`node --import tsx scripts/chaos/server-child.ts`, started through bench/child-process.ts).
 * A server built as `hallpass serve` builds one, logger off and rate limits lifted
 * (bench/load-server.ts), with the user `CHAOS_USERNAME` / `CHAOS_PASSWORD`, running the same
 * periodic key maintenance and purge (their periods from `CHAOS_MAINTAIN_MS` and
 * `CHAOS_PURGE_MS`, default serve's 1 min and 1 h).
 *
 * Protocol with the parent: one JSON line on stdout once listening (`{"port":…}`); over IPC,
 * `{ op: 'stats' }` answers memory and event-loop figures, `{ op: 'advance', ms }` moves the
 * session manager's clock forward, `{ op: 'maintain' }` runs key maintenance now, `{ op: 'purge',
 * aheadMs }` purges as if `aheadMs` had passed, `{ op: 'heap-snapshot', path }` writes one, and
 * `'stop'` closes everything and exits (as does losing the parent). Answers carry the `op`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapCodeStatistics, getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8'
import { startLoadServer } from '../../bench/load-server.ts'

const env = process.env
let skewMs = 0
const now = (): number => Date.now() + skewMs
const user = env.CHAOS_USERNAME !== undefined && env.CHAOS_PASSWORD !== undefined ? { username: env.CHAOS_USERNAME, password: env.CHAOS_PASSWORD } : undefined
const { runtime, app } = await startLoadServer({ env, now, ...(user !== undefined ? { user } : {}) })
const { sessions } = runtime.context

const errors: string[] = []
const noteError = (what: string) => (error: unknown): void => {
  errors.push(`${what}: ${(error as Error).message}`)
}
let purged = 0
const purge = async (aheadMs: number): Promise<number> => {
  const removed = await sessions.store.purgeExpired(now() + aheadMs)
  purged += removed
  return removed
}
const maintenance = setInterval(() => void sessions.keys.maintain().catch(noteError('maintain')), Number(env.CHAOS_MAINTAIN_MS ?? 60_000))
const purging = setInterval(() => void purge(0).catch(noteError('purge')), Number(env.CHAOS_PURGE_MS ?? 3_600_000))
const delay = monitorEventLoopDelay({ resolution: 10 })
delay.enable()

/** Memory and event-loop delay since the last call (the histogram restarts each time). */
function stats(): Record<string, unknown> {
  const memory = process.memoryUsage()
  const heap = getHeapStatistics()
  const code = getHeapCodeStatistics()
  const loop = { meanMs: delay.mean / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 }
  delay.reset()
  return {
    memory,
    heap: { used: heap.used_heap_size, total: heap.total_heap_size, malloced: heap.malloced_memory, peakMalloced: heap.peak_malloced_memory, external: heap.external_memory },
    code: { codeAndMetadata: code.code_and_metadata_size, bytecodeAndMetadata: code.bytecode_and_metadata_size, externalScript: code.external_script_source_size },
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])),
    loop,
    purged,
    errors: errors.splice(0),
  }
}

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  clearInterval(maintenance)
  clearInterval(purging)
  app.server.closeAllConnections()
  try {
    await runtime.context.feed.close()
    await app.close()
    await runtime.close()
  } catch (error) {
    process.stderr.write(`server-child: shutdown failed: ${String(error)}\n`)
    process.exitCode = 1
  }
  if (process.connected) process.disconnect()
  setTimeout(() => process.exit(), 2000).unref()
}

type Message = 'stop' | { op: 'stats' } | { op: 'advance'; ms: number } | { op: 'maintain' } | { op: 'purge'; aheadMs: number } | { op: 'heap-snapshot'; path: string }

process.on('message', (message: Message) => {
  if (message === 'stop') return void stop()
  const answer = (value: Record<string, unknown>): void => void process.send?.({ op: message.op, ...value })
  const fail = (error: unknown): void => answer({ error: (error as Error).message })
  switch (message.op) {
    case 'stats':
      return answer(stats())
    case 'advance':
      skewMs += message.ms
      return answer({ skewMs })
    case 'maintain':
      return void sessions.keys.maintain().then(() => answer({}), fail)
    case 'purge':
      return void purge(message.aheadMs).then((removed) => answer({ removed }), fail)
    case 'heap-snapshot':
      return answer({ path: writeHeapSnapshot(message.path) })
  }
})
process.on('disconnect', () => void stop())
