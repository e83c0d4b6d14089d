/**
 * @module hallpass/server
 *
 * The composition root of `hallpass serve`: opens the store named by `databaseUrl`, loads or
 * creates the operator secret, builds the session manager, the user table, the rate limiter and
 * the revocation hub, and closes them all in order on shutdown. Only this module (and the CLI)
 * reads files, the environment or opens connections.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { ConfigInvalid, SecretInvalid } from 'hallpass/errors'
import { createSessionManager, MIN_SECRET_BYTES, type SessionStore } from 'hallpass'
import type { UserStore } from 'hallpass/users'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import type { ServerConfig } from './config.ts'
import type { CredentialCheck, ServerContext } from './context.ts'
import { createFeedSlots } from './feed-slots.ts'
import { createServerMetrics } from './metrics.ts'
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate-limit.ts'
import { createRevocationHub } from './revocation-hub.ts'
import { createStoreErrorRelay } from './store-errors.ts'

export interface Runtime {
  readonly context: ServerContext
  /** What happened at start that the operator must see once (generated secret, demo user). */
  readonly notices: readonly string[]
  readonly storeKind: 'sqlite' | 'postgres' | 'redis'
  close(): Promise<void>
}

export interface OpenRuntimeOptions {
  env?: Readonly<Record<string, string | undefined>>
  /** Replace the built-in user table check (LDAP, the application's own user database, …). */
  checkCredentials?: CredentialCheck
  now?: () => number
}

export interface OpenedStore {
  store: SessionStore
  users: UserStore
  limiter: RateLimiter
  kind: Runtime['storeKind']
  close(): Promise<void>
}

/** Opens everything the server needs. The caller builds the app with `runtime.context`. */
export async function openRuntime(baseConfig: ServerConfig, options: OpenRuntimeOptions = {}): Promise<Runtime> {
  const env = options.env ?? {}
  const notices: string[] = []
  const dataDir = resolve(baseConfig.dataDir)
  const databaseUrl = baseConfig.databaseUrl || `sqlite:${resolve(dataDir, 'hallpass.db')}`
  if (databaseUrl.startsWith('sqlite:')) mkdirSync(dataDir, { recursive: true, mode: 0o700 })

  const secret = loadSecret(baseConfig, env, dataDir, notices)
  const adminApiKey = loadOptionalSecret(env.HALLPASS_ADMIN_API_KEY, env.HALLPASS_ADMIN_API_KEY_FILE, 'HALLPASS_ADMIN_API_KEY')
  const config: ServerConfig = Object.freeze({ ...baseConfig, databaseUrl, secret, adminApiKey })
  if (config.revocationFeed.access === 'clients' && Object.keys(config.clients).length === 0 && adminApiKey === undefined) {
    throw new ConfigInvalid('revocationFeed.access', 'is "clients", but no client (HALLPASS_CLIENTS) or admin key could follow the feed')
  }

  const storeErrors = createStoreErrorRelay()
  const opened = await openStore(databaseUrl, storeErrors.report)
  try {
    const sessions = await createSessionManager({
      store: opened.store,
      secret,
      issuer: config.issuer,
      ...(config.audience.length > 0 ? { audience: config.audience } : {}),
      accessToken: { ttlSeconds: config.accessTokenTtlSeconds },
      refresh: {
        reuseWindowSeconds: config.reuseWindowSeconds,
        idleTimeoutSeconds: config.refreshIdleTimeoutSeconds,
        absoluteLifetimeSeconds: config.refreshAbsoluteLifetimeSeconds,
      },
      keys: {
        algorithm: config.algorithm,
        rotationIntervalSeconds: config.keyRotationIntervalSeconds,
        publishLeadSeconds: config.keyPublishLeadSeconds,
      },
      ...(options.now !== undefined ? { now: options.now } : {}),
    })
    const checkCredentials = options.checkCredentials ?? createUserTableCheck(opened.users)
    if (config.demoUser && options.checkCredentials === undefined && (await opened.users.countUsers()) === 0) {
      const password = randomBytes(12).toString('base64url')
      const now = Date.now()
      await opened.users.createUser({ username: 'demo', passwordHash: await hashPassword(password), createdAt: now, updatedAt: now })
      notices.push(`Created the demo user once: username "demo", password "${password}". Remove it with \`hallpass users remove demo\`.`)
    }
    const feed = await createRevocationHub(opened.store, { now: options.now ?? Date.now })
    const context: ServerContext = Object.freeze({
      config,
      sessions,
      users: opened.users,
      limiter: opened.limiter,
      metrics: createServerMetrics(),
      checkCredentials,
      feed,
      now: options.now ?? Date.now,
      feedSlots: createFeedSlots(config.revocationFeed),
      storeErrors,
    })
    return {
      context,
      notices,
      storeKind: opened.kind,
      async close() {
        await feed.close()
        await opened.close()
      },
    }
  } catch (error) {
    await opened.close()
    throw error
  }
}

/** The built-in credential check: argon2id over the user table, same timing for unknown users. */
export function createUserTableCheck(users: UserStore): CredentialCheck {
  return async (username, password) => {
    const user = await users.getUser(username)
    const ok = await verifyPassword(user?.passwordHash, password)
    if (!ok || user === undefined) return undefined
    // Parameters only grow stronger: upgrade an old hash while we hold the password.
    if (needsRehash(user.passwordHash)) await users.updatePassword(user.username, await hashPassword(password), Date.now())
    return { subject: user.username }
  }
}

/**
 * Opens the session store, the user table and the matching rate limiter for a database URL.
 * `onError` receives what the store reports outside any call (SQLite and Redis).
 */
export async function openStore(databaseUrl: string, onError?: (error: unknown) => void): Promise<OpenedStore> {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length)
    if (path.length === 0) throw new ConfigInvalid('databaseUrl', 'sqlite: needs a file path, e.g. sqlite:./data/hallpass.db')
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 })
    const { default: Database } = await import('better-sqlite3')
    const { createSqliteStore } = await import('hallpass/stores/sqlite')
    const { createSqliteUserStore } = await import('hallpass/stores/sqlite')
    const database = new Database(path)
    const store = createSqliteStore({ database, ...(onError !== undefined ? { onError } : {}) })
    return {
      store,
      users: createSqliteUserStore({ database }),
      limiter: createMemoryRateLimiter(),
      kind: 'sqlite',
      async close() {
        await store.close()
        database.close()
      },
    }
  }
  if (databaseUrl.startsWith('postgres://') || databaseUrl.startsWith('postgresql://')) {
    const { default: pg } = await import('pg')
    const { createPostgresStore } = await import('hallpass/stores/postgres')
    const { createPostgresUserStore } = await import('hallpass/stores/postgres')
    const { url, value: schema } = takeQueryParameter(databaseUrl, 'schema')
    const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 })
    pool.on('error', () => undefined) // idle-client errors surface as failed queries instead
    try {
      const store = await createPostgresStore({ pool, ...(schema !== undefined ? { schema } : {}) })
      return {
        store,
        users: await createPostgresUserStore({ pool, schema: store.schema }),
        limiter: createMemoryRateLimiter(),
        kind: 'postgres',
        async close() {
          await store.close()
          await pool.end()
        },
      }
    } catch (error) {
      await pool.end()
      throw error
    }
  }
  if (databaseUrl.startsWith('redis://') || databaseUrl.startsWith('rediss://')) {
    const { Redis } = await import('ioredis')
    const { createRedisStore } = await import('hallpass/stores/redis')
    const { createRedisUserStore } = await import('hallpass/stores/redis')
    const { url, value: keyPrefix = 'hp:' } = takeQueryParameter(databaseUrl, 'prefix')
    const client = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 5000, lazyConnect: true })
    client.on('error', () => undefined)
    let store: SessionStore
    try {
      // Built before connecting, so a bad prefix is refused (by the store's own rule) at once.
      store = createRedisStore({ client, keyPrefix, ...(onError !== undefined ? { onError } : {}) })
      await client.connect()
    } catch (error) {
      client.disconnect()
      throw error
    }
    return {
      store,
      users: createRedisUserStore({ client, keyPrefix }),
      // Shared by every instance, so a burst spread over the load balancer is still counted.
      limiter: createRedisRateLimiter(client, `${keyPrefix}rl:`),
      kind: 'redis',
      async close() {
        await store.close()
        client.disconnect()
      },
    }
  }
  throw new ConfigInvalid('databaseUrl', 'must start with sqlite:, postgres://, postgresql://, redis:// or rediss://')
}

/**
 * Reads and removes one query parameter of a store URL (`?schema=` for PostgreSQL, `?prefix=`
 * for Redis): several hallpass deployments (or test runs) can then share one database server
 * without sharing tables or keys. The drivers never see the parameter.
 */
function takeQueryParameter(databaseUrl: string, name: string): { url: string; value: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(databaseUrl)
  } catch {
    // Let the driver report its own parse error, without the URL (it may hold a password).
    return { url: databaseUrl, value: undefined }
  }
  const values = parsed.searchParams.getAll(name)
  if (values.length === 0) return { url: databaseUrl, value: undefined }
  if (values.length > 1) throw new ConfigInvalid(`databaseUrl ${name}`, 'must appear at most once')
  parsed.searchParams.delete(name)
  return { url: parsed.toString(), value: values[0] }
}

// HALLPASS_SECRET, else the secret file, else (zero-config) a secret generated once in dataDir.
function loadSecret(config: ServerConfig, env: Readonly<Record<string, string | undefined>>, dataDir: string, notices: string[]): string {
  const direct = env.HALLPASS_SECRET
  if (direct !== undefined && direct !== '') return checkSecret(direct, 'HALLPASS_SECRET')
  if (config.secretFile !== undefined) return checkSecret(readSecretFile(config.secretFile, 'secretFile'), 'secretFile')
  const generated = resolve(dataDir, 'secret')
  if (existsSync(generated)) return checkSecret(readSecretFile(generated, 'secretFile'), generated)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(generated, secret + '\n', { mode: 0o600, flag: 'wx' })
  chmodSync(generated, 0o600)
  notices.push(`Generated the key-encryption secret in ${generated}. Production must set its own (HALLPASS_SECRET or HALLPASS_SECRET_FILE) and keep it safe: it decrypts the signing keys.`)
  return secret
}

function loadOptionalSecret(direct: string | undefined, file: string | undefined, name: string): string | undefined {
  const value = direct !== undefined && direct !== '' ? direct : file !== undefined && file !== '' ? readSecretFile(file, `${name}_FILE`) : undefined
  if (value !== undefined && value.length < 32) throw new ConfigInvalid(name, 'must be at least 32 characters')
  return value
}

function readSecretFile(path: string, field: string): string {
  if (!isAbsolute(path) && path.includes('\0')) throw new ConfigInvalid(field, 'is not a valid path')
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (cause) {
    throw new ConfigInvalid(field, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

function checkSecret(secret: string, source: string): string {
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) throw new SecretInvalid(`${source} must be at least ${MIN_SECRET_BYTES} bytes`)
  return secret
}

