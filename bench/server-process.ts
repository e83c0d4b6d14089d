/**
 * @module bench/server-process
 *
 * The server half of the session-server benchmark (`bench/server.ts` spawns it as
 * `node --import tsx bench/server-process.ts`): a server built as `hallpass serve` builds one,
 * logger off and rate limits lifted (bench/load-server.ts), with the bench user
 * `BENCH_USERNAME` / `BENCH_PASSWORD`.
 *
 * Protocol with the parent: one JSON line on stdout once listening (`{"port":…,"store":…}`);
 * over the IPC channel, `'cpu'` answers `{ cpu: process.cpuUsage() }` (user + system µs of the
 * whole process, the libuv threads running argon2 included) and `'stop'` closes the server and
 * the store, then exits. Losing the parent (IPC disconnect) stops it too.
 */
import { startLoadServer } from './load-server.ts'

const env = process.env
const username = env.BENCH_USERNAME
const password = env.BENCH_PASSWORD
const { runtime, app } = await startLoadServer({ env, ...(username !== undefined && password !== undefined ? { user: { username, password } } : {}) })

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  // Load-generator connections may still be open (keep-alive): do not wait on them.
  app.server.closeAllConnections()
  try {
    await app.close()
    await runtime.close()
  } catch (error) {
    process.stderr.write(`server-process: shutdown failed: ${String(error)}\n`)
    process.exitCode = 1
  }
  if (process.connected) process.disconnect()
  // Everything is closed; a driver's lingering timer must not keep the bench waiting.
  setTimeout(() => process.exit(), 2000).unref()
}

process.on('message', (message) => {
  if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() })
  if (message === 'stop') void stop()
})
process.on('disconnect', () => void stop())
