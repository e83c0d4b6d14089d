/**
 * @module bench/server-process
 *
 * The server half of the session-server benchmark (`bench/server.ts` spawns it as
 * `node --import tsx bench/server-process.ts`). It builds the runtime from `HALLPASS_*`
 * variables exactly as `hallpass serve` does (`resolveConfig` → `openRuntime` → `buildServer`),
 * with three differences that only a load test wants: the logger is off, the rate limits are
 * lifted (one load generator on one address would trip them at once), and one bench user is
 * created from `BENCH_USERNAME` / `BENCH_PASSWORD` so `/auth/login` has someone to log in.
 *
 * Protocol with the parent: one JSON line on stdout once listening (`{"port":…,"store":…}`);
 * over the IPC channel, `'cpu'` answers `{ cpu: process.cpuUsage() }` (user + system µs of the
 * whole process, the libuv threads running argon2 included) and `'stop'` closes the server and
 * the store, then exits. Losing the parent (IPC disconnect) stops it too.
 */
import { buildServer } from '../packages/server/src/app.ts'
import { resolveConfig } from '../packages/server/src/config.ts'
import { openRuntime } from '../packages/server/src/runtime.ts'
import { hashPassword } from '../packages/server/src/passwords.ts'

// The schema's ceiling, over a one-second window: no bench request is ever refused as a burst.
const UNLIMITED = { max: 1_000_000, window: '1s' }

const env = process.env
const config = resolveConfig({
  file: { rateLimits: { loginPerIp: UNLIMITED, loginPerUsername: UNLIMITED, refreshPerIp: UNLIMITED, feedPerIp: UNLIMITED } },
  env,
})
const runtime = await openRuntime(config, { env })

const username = env.BENCH_USERNAME
const password = env.BENCH_PASSWORD
if (username !== undefined && password !== undefined) {
  const users = runtime.context.users
  if (users === undefined) throw new Error('the runtime has no user table to create the bench user in')
  const now = Date.now()
  // Hashed with the server's own argon2id parameters, so a login costs what production's does.
  await users.createUser({ username, passwordHash: await hashPassword(password), createdAt: now, updatedAt: now })
}

const app = await buildServer(runtime.context, { logger: false })
try {
  await app.listen({ port: config.port, host: config.host })
} catch (error) {
  await runtime.close()
  throw error
}
const address = app.server.address()
const port = typeof address === 'object' && address !== null ? address.port : 0
process.stdout.write(`${JSON.stringify({ port, store: runtime.storeKind })}\n`)

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
