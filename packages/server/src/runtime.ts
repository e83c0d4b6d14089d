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
import { isAbsolute, resolve } from 'node:path'
import { ConfigInvalid, SecretInvalid } from 'hallpass/errors'
import { createSessionManager, MIN_SECRET_BYTES } from 'hallpass'
import type { UserStore } from 'hallpass/users'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { openEncryptionKeys, type EncryptionKeys } from './access-token-encryption.ts'
import { CRASH_MARKER_HEARTBEAT_MS, openCrashMarker, type CrashMarker } from './crash-marker.ts'
import type { ServerConfig } from './config.ts'
import type { CredentialCheck, ServerContext } from './context.ts'
import { createFeedSlots } from './feed-slots.ts'
import { createServerMetrics } from './metrics.ts'
import { createRevocationHub } from './revocation-hub.ts'
import { openStore, type StoreKind } from './store-drivers.ts'
import { createStoreErrorRelay } from './store-errors.ts'

export interface Runtime {
  readonly context: ServerContext
  /** What happened at start that the operator must see once (generated secret, demo user). */
  readonly notices: readonly string[]
  readonly storeKind: StoreKind
  /** Logins are checked against the built-in user table (no `checkCredentials` was given). */
  readonly usesUserTable: boolean
  close(): Promise<void>
}

export interface OpenRuntimeOptions {
  env?: Readonly<Record<string, string | undefined>>
  /** Replace the built-in user table check (LDAP, the application's own user database, …). */
  checkCredentials?: CredentialCheck
  now?: () => number
}

/** Opens everything the server needs. The caller builds the app with `runtime.context`. */
export async function openRuntime(baseConfig: ServerConfig, options: OpenRuntimeOptions = {}): Promise<Runtime> {
  const env = options.env ?? {}
  const notices: string[] = []
  const dataDir = resolve(baseConfig.dataDir)
  const databaseUrl = baseConfig.databaseUrl || `sqlite:${resolve(dataDir, 'hallpass.db')}`

  const secret = loadSecret(baseConfig, env, dataDir, notices)
  const adminApiKey = loadOptionalSecret(env.HALLPASS_ADMIN_API_KEY, env.HALLPASS_ADMIN_API_KEY_FILE, 'HALLPASS_ADMIN_API_KEY')
  const config: ServerConfig = Object.freeze({ ...baseConfig, databaseUrl, secret, adminApiKey })
  if (config.revocationFeed.access === 'clients' && Object.keys(config.clients).length === 0 && adminApiKey === undefined) {
    throw new ConfigInvalid('revocationFeed.access', 'is "clients", but no client (HALLPASS_CLIENTS) or admin key could follow the feed')
  }

  const storeErrors = createStoreErrorRelay()
  const opened = await openStore(databaseUrl, { onError: storeErrors.report })
  let encryptionKeys: EncryptionKeys | undefined
  let crashMarker: CrashMarker | undefined
  try {
    if (opened.file !== undefined) crashMarker = openCrashMarker(opened.file)
    encryptionKeys = await openEncryptionKeys(config.accessTokenEncryption, { report: storeErrors.report })
    if (encryptionKeys.option !== undefined) notices.push(describeEncryption(encryptionKeys))
    const sessions = await createSessionManager({
      store: opened.store,
      secret,
      issuer: config.issuer,
      ...(config.audience.length > 0 ? { audience: config.audience } : {}),
      accessToken: { ttlSeconds: config.accessTokenTtlSeconds, ...(encryptionKeys.option !== undefined ? { encryption: encryptionKeys.option } : {}) },
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
    const deadAt = crashMarker?.deadLastAliveAt
    if (deadAt !== undefined) {
      // The dead process's final seconds: from well before its last heartbeat to the latest it
      // can have lived after it.
      const recovered = await sessions.recoverAfterCrash({ since: deadAt - 5 * CRASH_MARKER_HEARTBEAT_MS, until: deadAt + 2 * CRASH_MARKER_HEARTBEAT_MS })
      notices.push(`The previous server on this store stopped without closing (a crash or a kill). The answers to the last refreshes it made may never have arrived: ${recovered} session(s) may each fetch theirs once more with their previous refresh token.`)
    }
    const checkCredentials = options.checkCredentials ?? createUserTableCheck(opened.users)
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
      usesUserTable: options.checkCredentials === undefined,
      async close() {
        encryptionKeys?.close()
        crashMarker?.close()
        await feed.close()
        await opened.close()
      },
    }
  } catch (error) {
    encryptionKeys?.close()
    crashMarker?.close()
    await opened.close()
    throw error
  }
}

/**
 * Zero-config convenience: when `demoUser` is on, the server checks its own user table and that
 * table is empty, creates the user "demo" with a random password and returns the password (to
 * be shown once). `hallpass serve` calls it only once it listens, so a start that failed never
 * leaves behind a user whose password nobody saw.
 */
export async function createDemoUserOnce(runtime: Runtime): Promise<string | undefined> {
  const { config, users } = runtime.context
  if (!config.demoUser || !runtime.usesUserTable || users === undefined || (await users.countUsers()) > 0) return undefined
  const password = randomBytes(12).toString('base64url')
  const now = Date.now()
  const created = await users.createUser({ username: 'demo', passwordHash: await hashPassword(password), createdAt: now, updatedAt: now })
  return created ? password : undefined
}

/**
 * The built-in credential check: argon2id over the user table. An unknown user, a wrong password
 * and a disabled user get the same answer after the same work: the hash is verified every time (a
 * dummy one for unknown users) and `disabled` is looked at only afterwards, so neither the answer
 * nor its timing tells an attacker that a password they hold is right but the account is off.
 * A disabled user's hash is not upgraded either: that write would be a difference in timing, and
 * a change made for someone refused. `admin` is not looked at: what an admin may do is for the
 * routes that need it to decide, with the user table, on every request.
 */
export function createUserTableCheck(users: UserStore): CredentialCheck {
  return async (username, password) => {
    const user = await users.getUser(username)
    const ok = await verifyPassword(user?.passwordHash, password)
    if (!ok || user === undefined || user.disabled) return undefined
    // Parameters only grow stronger: upgrade an old hash while we hold the password.
    if (needsRehash(user.passwordHash)) await users.updatePassword(user.username, await hashPassword(password), Date.now())
    return { subject: user.username }
  }
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

function describeEncryption(keys: EncryptionKeys): string {
  const { model, kids } = keys.describe()
  const named = Object.entries(kids).map(([name, kid]) => `${name}: ${kid ?? 'not fetched yet'}`).join(', ')
  return model === 'shared'
    ? `Access tokens are encrypted with a shared dir key (${named}); services need the same key file (hallpass/verify decryption.keys).`
    : `Access tokens are encrypted to each audience's own key (${named}).`
}
