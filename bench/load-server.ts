/**
 * @module bench/load-server
 *
 * A session server for load in a child process, shared by the session-server benchmark
 * (`bench/server-process.ts`) and the fault scenarios (`scripts/chaos/server-child.ts`). It is
 * built from `HALLPASS_*` variables exactly as `hallpass serve` builds one (`resolveConfig` →
 * `openRuntime` → `buildServer`), with what only a load test wants: the logger off, the rate
 * limits lifted (one load generator on one address would trip them at once), and one user
 * created unless it exists (a restart on the same store), so `/auth/login` has someone to log
 * in. Once it listens, `{"port":…,"store":…}` is written on stdout, the parent's handshake.
 */
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../packages/server/src/app.ts'
import { resolveConfig, type ServerConfig } from '../packages/server/src/config.ts'
import { hashPassword } from '../packages/server/src/passwords.ts'
import { openRuntime, type Runtime } from '../packages/server/src/runtime.ts'

// The schema's ceiling, over a one-second window: no request is ever refused as a burst.
const UNLIMITED = { max: 1_000_000, window: '1s' }

export interface LoadServer {
  readonly config: ServerConfig
  readonly runtime: Runtime
  readonly app: FastifyInstance
}

export async function startLoadServer(options: {
  env: NodeJS.ProcessEnv
  /** The user to create, hashed with the server's own argon2id parameters (a login costs what production's does). */
  user?: { username: string; password: string }
  now?: () => number
}): Promise<LoadServer> {
  const { env } = options
  const config = resolveConfig({
    file: { rateLimits: { loginPerIp: UNLIMITED, loginPerUsername: UNLIMITED, refreshPerIp: UNLIMITED, feedPerIp: UNLIMITED } },
    env,
  })
  const runtime = await openRuntime(config, { env, ...(options.now !== undefined ? { now: options.now } : {}) })
  const users = runtime.context.users
  if (options.user !== undefined) {
    if (users === undefined) throw new Error('the runtime has no user table to create the user in')
    const { username, password } = options.user
    if ((await users.getUser(username)) === undefined) {
      const at = Date.now()
      await users.createUser({ username, passwordHash: await hashPassword(password), createdAt: at, updatedAt: at })
    }
  }
  const app = await buildServer(runtime.context, { logger: false })
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    await runtime.close()
    throw error
  }
  const address = app.server.address()
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0, store: runtime.storeKind })}\n`)
  return { config, runtime, app }
}
