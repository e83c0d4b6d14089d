// A `hallpass serve` for the end-to-end tests, in-process over a real socket, that can be
// stopped and started again on the same data directory, secret and port (the issuer URL, and
// so every verifier's configuration, stays valid across the restart). Users come from a small
// credential check instead of the argon2 user table: logins cost a few milliseconds, and a
// user can be granted scopes.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { freePort } from '../helpers/ports.ts'
import { buildServer, openRuntime, resolveConfig, type CredentialCheck, type Runtime } from '@hallpass/server'

export const PASSWORD = 'e2e password, not a secret'
/** Users and the scopes their sessions carry. */
export const USERS: Readonly<Record<string, string | undefined>> = Object.freeze({ writer: 'orders:write', reader: undefined })

export interface Tokens {
  access_token: string
  refresh_token: string
  session_id: string
  expires_in: number
  scope?: string
}

export interface SessionServer {
  /** The issuer URL (`http://127.0.0.1:<port>`), also where the server listens. */
  readonly issuer: string
  /** The current runtime (replaced by `start()` after a `stop()`). */
  readonly runtime: Runtime
  readonly running: boolean
  /** POST /auth/login as `username` (default "writer"), with `extra` body members (e.g. `audience`). */
  login(username?: string, extra?: Record<string, unknown>): Promise<Tokens>
  refresh(refreshToken: string): Promise<Tokens>
  /** POST /auth/logout with the refresh token; resolves once the 204 has arrived. */
  logout(refreshToken: string): Promise<void>
  /** Where the store is: `sqlite:…` in the data directory unless a test switched it. */
  readonly databaseUrl: string
  /** The SQLite file of the default store. */
  readonly sqlitePath: string
  /** Stops listening and closes the store, keeping the data directory. */
  stop(): Promise<void>
  /**
   * Starts again on the same secret and port, on the same store or on another one (the
   * operator switched the server to another database, or restored a backup under it).
   */
  start(options?: { databaseUrl?: string }): Promise<void>
  /**
   * Revokes a session while the server is stopped, through the store (as an operator's tool
   * would): the revocation is in the store's feed, but no running server has announced it.
   */
  revokeWhileStopped(sessionId: string): Promise<void>
  /** Stops and removes the data directory. */
  destroy(): Promise<void>
}

export interface SessionServerOptions {
  /** Config-file fields over the defaults below. */
  config?: Record<string, unknown>
}

const checkCredentials: CredentialCheck = (username, password) => {
  if (!Object.hasOwn(USERS, username) || password !== PASSWORD) return Promise.resolve(undefined)
  const scope = USERS[username]
  return Promise.resolve({ subject: username, ...(scope !== undefined ? { scope } : {}) })
}


export async function startSessionServer(options: SessionServerOptions = {}): Promise<SessionServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hallpass-e2e-'))
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const secret = randomBytes(32).toString('base64url')
  const sqlitePath = join(dataDir, 'hallpass.db')
  const file = {
      issuer,
      host: '127.0.0.1',
      port,
      dataDir,
      databaseUrl: `sqlite:${sqlitePath}`,
      demoUser: false,
      logLevel: 'silent',
      rateLimits: {
        loginPerIp: { max: 100_000, window: '1m' },
        loginPerUsername: { max: 100_000, window: '5m' },
        refreshPerIp: { max: 100_000, window: '1m' },
        feedPerIp: { max: 100_000, window: '1m' },
      },
      ...options.config,
  }
  let config = resolveConfig({ file, env: {} })

  let runtime: Runtime | undefined
  let app: FastifyInstance | undefined

  const start = async (startOptions: { databaseUrl?: string } = {}): Promise<void> => {
    assert.equal(app, undefined, 'already running')
    if (startOptions.databaseUrl !== undefined) config = resolveConfig({ file: { ...file, databaseUrl: startOptions.databaseUrl }, env: {} })
    const opened = await openRuntime(config, { env: { HALLPASS_SECRET: secret }, checkCredentials })
    try {
      const built = await buildServer(opened.context, { logger: false })
      await built.listen({ port, host: '127.0.0.1' })
      app = built
      runtime = opened
    } catch (error) {
      await opened.close()
      throw error
    }
  }

  const stop = async (): Promise<void> => {
    if (app === undefined) return
    const stopping = app
    app = undefined
    // Open SSE streams (the services' revocation feeds) would hold close() forever: cut every
    // connection, as a crashed or restarted server would.
    await runtime!.context.feed.close()
    const closing = stopping.close()
    stopping.server.closeAllConnections()
    await closing
    await runtime!.close()
  }

  // After a restart on the same port, fetch's pool may still hold a keep-alive connection the
  // old server closed: a request sent on it fails before the new server sees it. Once more.
  const post = async (path: string, body: unknown): Promise<Response> => {
    const send = (): Promise<Response> => fetch(issuer + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    try {
      return await send()
    } catch (error) {
      if ((error as { cause?: { code?: unknown } }).cause?.code !== 'UND_ERR_SOCKET') throw error
      return send()
    }
  }

  await start()
  return {
    issuer,
    get runtime() {
      assert.ok(runtime !== undefined)
      return runtime
    },
    get running() {
      return app !== undefined
    },
    get databaseUrl() {
      return config.databaseUrl
    },
    sqlitePath,
    async login(username = 'writer', extra = {}) {
      const res = await post('/auth/login', { ...extra, username, password: PASSWORD })
      const text = await res.text()
      assert.equal(res.status, 200, `login: ${text}`)
      return JSON.parse(text) as Tokens
    },
    async refresh(refreshToken) {
      const res = await post('/auth/refresh', { refresh_token: refreshToken })
      const text = await res.text()
      assert.equal(res.status, 200, `refresh: ${text}`)
      return JSON.parse(text) as Tokens
    },
    async logout(refreshToken) {
      const res = await post('/auth/logout', { refresh_token: refreshToken })
      assert.equal(res.status, 204, `logout: ${await res.text()}`)
    },
    stop,
    start,
    async revokeWhileStopped(sessionId) {
      assert.equal(app, undefined, 'the server must be stopped')
      const offline = await openRuntime(config, { env: { HALLPASS_SECRET: secret }, checkCredentials })
      try {
        assert.equal((await offline.context.sessions.revoke(sessionId, 'admin')).revoked, true)
      } finally {
        await offline.close()
      }
    },
    async destroy() {
      await stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
