/**
 * @module hallpass/server
 *
 * Server configuration: defaults ← JSON config file ← `HALLPASS_*` environment variables,
 * checked against a JSON Schema at boot (unknown keys are errors), then deep-frozen. A bad value
 * stops the server with a message naming the field and what is allowed. Secrets are kept out
 * of `redactConfig`, which is what gets logged.
 */
import { Ajv, type ErrorObject } from 'ajv'
import { ConfigInvalid } from 'hallpass/errors'
import { JWS_ALGORITHMS, parseDuration, type JwsAlgorithm } from 'hallpass'
import { STORE_SCHEMES } from './store-drivers.ts'

export interface RateLimitRule {
  readonly max: number
  readonly windowSeconds: number
}

export interface ServerConfig {
  readonly issuer: string
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** `sqlite:<path>`, `postgres://…` or `redis://…`. */
  readonly databaseUrl: string
  /** Set by the loader from `HALLPASS_SECRET`, the secret file, or the generated one. Never logged. */
  readonly secret: string | undefined
  readonly secretFile: string | undefined
  readonly algorithm: JwsAlgorithm
  readonly audience: readonly string[]
  readonly accessTokenTtlSeconds: number
  readonly refreshIdleTimeoutSeconds: number
  readonly refreshAbsoluteLifetimeSeconds: number
  readonly reuseWindowSeconds: number
  readonly keyRotationIntervalSeconds: number
  readonly keyPublishLeadSeconds: number
  readonly jwksMaxAgeSeconds: number
  readonly cookies: { readonly enabled: boolean; readonly name: string; readonly secure: boolean }
  readonly corsOrigins: readonly string[]
  /** Proxies whose X-Forwarded-For is believed: false, true (any), a hop count, or addresses/CIDRs. */
  readonly trustProxy: boolean | number | readonly string[]
  /** Bearer key for `POST /sessions` and the OAuth endpoints (admin/trusted backends). Never logged. */
  readonly adminApiKey: string | undefined
  /** Confidential clients for introspection/revocation: client_id → secret. Never logged. */
  readonly clients: Readonly<Record<string, string>>
  readonly revocationFeed: {
    /**
     * `public`: any client may follow the feed (it carries session ids and expiry times only);
     * `clients`: HTTP Basic with one of `clients` (or the admin key as a bearer token).
     */
    readonly access: 'public' | 'clients'
    /** Subscribers at once, in total. */
    readonly maxSubscribers: number
    /** Subscribers at once from one address (an IPv6 /64 counts as one). */
    readonly maxSubscribersPerAddress: number
  }
  readonly rateLimits: {
    readonly loginPerIp: RateLimitRule
    readonly loginPerUsername: RateLimitRule
    readonly refreshPerIp: RateLimitRule
    /** Revocation-feed connections per client address (each reads the store: a snapshot or a catch-up). */
    readonly feedPerIp: RateLimitRule
  }
  readonly bodyLimitBytes: number
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Create a demo user on first start (zero-config mode). */
  readonly demoUser: boolean
  /** Serve the pages: sign-in and devices at `/`, `/admin`, `/debugger`. */
  readonly ui: boolean
  /** Access tokens signed, then encrypted (off by default). */
  readonly accessTokenEncryption: {
    readonly model: 'off' | 'shared' | 'audience'
    /** `shared`: a JWK Set of 32-byte `dir` keys with kids; the first encrypts; re-read when the file changes. */
    readonly keysFile: string | undefined
    /** `audience`: each audience → the URL of its service's encryption key set (JWKS). */
    readonly audiences: Readonly<Record<string, string>>
    /** How often each audience's key set is fetched again. */
    readonly jwksRefreshSeconds: number
  }
}

const DURATION_FIELDS = {
  accessTokenTtl: { key: 'accessTokenTtlSeconds', min: 30, max: 86_400 },
  refreshIdleTimeout: { key: 'refreshIdleTimeoutSeconds', min: 60, max: 365 * 86_400 },
  refreshAbsoluteLifetime: { key: 'refreshAbsoluteLifetimeSeconds', min: 60, max: 365 * 86_400 },
  reuseWindow: { key: 'reuseWindowSeconds', min: 0, max: 300 },
  keyRotationInterval: { key: 'keyRotationIntervalSeconds', min: 3600, max: 365 * 86_400 },
  keyPublishLead: { key: 'keyPublishLeadSeconds', min: 60, max: 30 * 86_400 },
  jwksMaxAge: { key: 'jwksMaxAgeSeconds', min: 0, max: 86_400 },
} as const
// Where a service's encryption keys may be fetched from: https, or plain http on loopback.
const KEY_SET_URL = '^(https://[^\\s#]+|http://(localhost|127\\.0\\.0\\.1|\\[::1\\])(:[0-9]{1,5})?(/[^\\s#]*)?)$'

const DURATION = { type: 'string', pattern: '^[0-9]{1,10}[smhd]$' }
const RULE = {
  type: 'object',
  additionalProperties: false,
  required: ['max', 'window'],
  properties: { max: { type: 'integer', minimum: 1, maximum: 1_000_000 }, window: DURATION },
}

/** The JSON Schema of the config file (durations as `10m` strings, as users write them). */
export const CONFIG_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    issuer: { type: 'string', pattern: '^https?://[^\\s#?]+$', maxLength: 512 },
    host: { type: 'string', minLength: 1, maxLength: 255 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    dataDir: { type: 'string', minLength: 1 },
    // The schemes of the store drivers (letters, ':' and '/': nothing a pattern must escape).
    databaseUrl: { type: 'string', pattern: `^(${STORE_SCHEMES.join('|')})` },
    secretFile: { type: 'string', minLength: 1 },
    algorithm: { enum: [...JWS_ALGORITHMS] },
    audience: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 16 },
    accessTokenTtl: DURATION,
    refreshIdleTimeout: DURATION,
    refreshAbsoluteLifetime: DURATION,
    reuseWindow: DURATION,
    keyRotationInterval: DURATION,
    keyPublishLead: DURATION,
    jwksMaxAge: DURATION,
    cookies: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        name: { type: 'string', pattern: '^__(Host|Secure)-[A-Za-z0-9_]{1,64}$' },
        secure: { type: 'boolean' },
      },
    },
    corsOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/\\s]+$' }, maxItems: 64 },
    trustProxy: {
      anyOf: [
        { type: 'boolean' },
        { type: 'integer', minimum: 0, maximum: 16 },
        { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 64 },
      ],
    },
    adminApiKeyFile: { type: 'string', minLength: 1 },
    clients: { type: 'object', additionalProperties: { type: 'string', minLength: 32, maxLength: 256 }, propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' } },
    revocationFeed: {
      type: 'object',
      additionalProperties: false,
      properties: {
        access: { enum: ['public', 'clients'] },
        maxSubscribers: { type: 'integer', minimum: 1, maximum: 1_000_000 },
        maxSubscribersPerAddress: { type: 'integer', minimum: 1, maximum: 1_000_000 },
      },
    },
    rateLimits: {
      type: 'object',
      additionalProperties: false,
      properties: { loginPerIp: RULE, loginPerUsername: RULE, refreshPerIp: RULE, feedPerIp: RULE },
    },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 1_048_576 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    demoUser: { type: 'boolean' },
    ui: { type: 'boolean' },
    accessTokenEncryption: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: { enum: ['off', 'shared', 'audience'] },
        keysFile: { type: 'string', minLength: 1 },
        audiences: {
          type: 'object',
          additionalProperties: { type: 'string', pattern: KEY_SET_URL, maxLength: 2048 },
          propertyNames: { minLength: 1, maxLength: 256 },
          maxProperties: 64,
        },
        jwksRefresh: DURATION,
      },
    },
  },
} as const

/** How an environment variable's text becomes a config value. */
type EnvKind = 'string' | 'integer' | 'boolean' | 'list' | 'trustProxy' | 'clients' | 'map'

export interface EnvironmentVariable {
  /** The config file field it sets (dotted for nested ones). */
  readonly field: string
  readonly kind: EnvKind
  /** One line for `hallpass serve --help` and the README: what it sets, and its default. */
  readonly help: string
}

/** Environment variables and the config field each sets. Lists are comma-separated. */
export const ENVIRONMENT_VARIABLES: Readonly<Record<string, EnvironmentVariable>> = Object.freeze({
  HALLPASS_ISSUER: { field: 'issuer', kind: 'string', help: 'The URL in every token\'s iss (default http://<host>:<port>). Verifiers must use exactly this.' },
  HALLPASS_HOST: { field: 'host', kind: 'string', help: 'Address to bind (default localhost; 0.0.0.0 or :: for every interface).' },
  HALLPASS_PORT: { field: 'port', kind: 'integer', help: 'Port to listen on (default 8080; 0 picks a free one).' },
  HALLPASS_DATA_DIR: { field: 'dataDir', kind: 'string', help: 'Where zero-config keeps its SQLite file and generated secret (default ./.hallpass).' },
  HALLPASS_DATABASE_URL: { field: 'databaseUrl', kind: 'string', help: 'The store: sqlite:<path>, postgres://…[?schema=], redis://…[?prefix=] (default SQLite in the data dir).' },
  HALLPASS_SECRET_FILE: { field: 'secretFile', kind: 'string', help: 'File holding the key-encryption secret (or HALLPASS_SECRET; default: generated in the data dir).' },
  HALLPASS_ALGORITHM: { field: 'algorithm', kind: 'string', help: `Signing algorithm of new keys: ${JWS_ALGORITHMS.join(', ')} (default ES256).` },
  HALLPASS_AUDIENCE: { field: 'audience', kind: 'list', help: 'aud of every token, comma-separated (default none). Verifiers that set an audience need it here.' },
  HALLPASS_ACCESS_TOKEN_TTL: { field: 'accessTokenTtl', kind: 'string', help: 'Access-token lifetime (default 10m; 30s to 1d).' },
  HALLPASS_REFRESH_IDLE_TIMEOUT: { field: 'refreshIdleTimeout', kind: 'string', help: 'A session unused this long ends (default 7d).' },
  HALLPASS_REFRESH_ABSOLUTE_LIFETIME: { field: 'refreshAbsoluteLifetime', kind: 'string', help: 'A session ends this long after login, used or not (default 30d).' },
  HALLPASS_REUSE_WINDOW: { field: 'reuseWindow', kind: 'string', help: 'A replayed refresh token this soon after its rotation is a race, not theft (default 10s; 0s to 300s).' },
  HALLPASS_KEY_ROTATION_INTERVAL: { field: 'keyRotationInterval', kind: 'string', help: 'Signing keys rotate this often (default 30d).' },
  HALLPASS_KEY_PUBLISH_LEAD: { field: 'keyPublishLead', kind: 'string', help: 'A new key is in the JWKS this long before it signs (default 1h; at least 2 × JWKS max age).' },
  HALLPASS_JWKS_MAX_AGE: { field: 'jwksMaxAge', kind: 'string', help: 'Cache-Control max-age of the JWKS (default 5m).' },
  HALLPASS_CORS_ORIGINS: { field: 'corsOrigins', kind: 'list', help: 'Browser origins allowed to call the API with credentials, comma-separated (default none).' },
  HALLPASS_TRUST_PROXY: { field: 'trustProxy', kind: 'trustProxy', help: 'Proxies whose X-Forwarded-For is believed: true, a hop count, or addresses/CIDRs (default false).' },
  HALLPASS_ADMIN_API_KEY_FILE: { field: 'adminApiKeyFile', kind: 'string', help: 'File holding the admin key of POST /sessions (or HALLPASS_ADMIN_API_KEY; default: no admin key).' },
  HALLPASS_CLIENTS: { field: 'clients', kind: 'clients', help: 'Confidential clients of /oauth/introspect and /oauth/revoke: id:secret pairs, comma-separated.' },
  HALLPASS_FEED_ACCESS: { field: 'revocationFeed.access', kind: 'string', help: 'Who may follow the revocation feed: public (default) or clients (HTTP Basic, or the admin key).' },
  HALLPASS_FEED_MAX_SUBSCRIBERS: { field: 'revocationFeed.maxSubscribers', kind: 'integer', help: 'Revocation-feed subscribers at once (default 10000).' },
  HALLPASS_FEED_MAX_SUBSCRIBERS_PER_ADDRESS: { field: 'revocationFeed.maxSubscribersPerAddress', kind: 'integer', help: 'Feed subscribers at once from one address or IPv6 /64 (default 64).' },
  HALLPASS_BODY_LIMIT: { field: 'bodyLimitBytes', kind: 'integer', help: 'Largest request body in bytes (default 16384).' },
  HALLPASS_LOG_LEVEL: { field: 'logLevel', kind: 'string', help: 'fatal, error, warn, info (default), debug, trace or silent. Logs are JSON on stdout.' },
  HALLPASS_DEMO_USER: { field: 'demoUser', kind: 'boolean', help: 'On first start with an empty user table, create the user "demo" and print its password (default true).' },
  HALLPASS_COOKIES: { field: 'cookies.enabled', kind: 'boolean', help: 'Browser mode: the refresh token in a __Host- cookie for clients that ask (default true).' },
  HALLPASS_UI: { field: 'ui', kind: 'boolean', help: 'Serve the pages: sign-in and your devices at /, the admin console at /admin, the token debugger at /debugger (default true).' },
  HALLPASS_COOKIE_SECURE: { field: 'cookies.secure', kind: 'boolean', help: 'Mark the cookie Secure (default true; browsers accept it on http://localhost).' },
  HALLPASS_ACCESS_TOKEN_ENCRYPTION: { field: 'accessTokenEncryption.model', kind: 'string', help: 'Encrypt access tokens after signing them: off (default), shared (one dir key all services hold) or audience (each service\'s own key).' },
  HALLPASS_ACCESS_TOKEN_ENCRYPTION_KEYS_FILE: { field: 'accessTokenEncryption.keysFile', kind: 'string', help: 'shared: JWK Set file of 32-byte dir keys with kids; the first encrypts, all decrypt; re-read when it changes.' },
  HALLPASS_ACCESS_TOKEN_ENCRYPTION_AUDIENCES: { field: 'accessTokenEncryption.audiences', kind: 'map', help: 'audience: audience=URL of its encryption JWKS pairs, comma-separated.' },
  HALLPASS_ACCESS_TOKEN_ENCRYPTION_JWKS_REFRESH: { field: 'accessTokenEncryption.jwksRefresh', kind: 'string', help: 'audience: how often each service\'s key set is fetched again (default 5m).' },
})

/** Variables read outside the config file's fields: secrets (never logged) and diagnostics. */
export const OTHER_ENVIRONMENT_VARIABLES: Readonly<Record<string, string>> = Object.freeze({
  HALLPASS_SECRET: 'The key-encryption secret itself, at least 32 bytes (prefer HALLPASS_SECRET_FILE).',
  HALLPASS_ADMIN_API_KEY: 'The admin key itself, at least 32 characters (prefer HALLPASS_ADMIN_API_KEY_FILE).',
  HALLPASS_DEBUG: 'Set to 1 to print the stack of an internal error.',
})

const ajv = new Ajv({ allErrors: false, strict: true })
const validateFile = ajv.compile(CONFIG_FILE_SCHEMA)

export interface ConfigSources {
  /** Parsed JSON of the config file, if any. */
  file?: unknown
  env?: Readonly<Record<string, string | undefined>>
}

/** Merges and validates the sources. Secrets from files are resolved later by the loader. */
export function resolveConfig(sources: ConfigSources = {}): ServerConfig {
  const env = sources.env ?? {}
  const raw: Record<string, unknown> = structuredCloneJson(sources.file ?? {}, 'config file')
  for (const [name, { field, kind }] of Object.entries(ENVIRONMENT_VARIABLES)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    setPath(raw, field, parseEnvValue(name, value, kind))
  }
  if (!validateFile(raw)) throw schemaError(validateFile.errors ?? [])
  const input = raw as Record<string, never>

  const port = (input.port as number | undefined) ?? 8080
  const durations: Record<string, number> = {}
  const durationDefaults: Record<string, string> = {
    accessTokenTtl: '10m', refreshIdleTimeout: '7d', refreshAbsoluteLifetime: '30d', reuseWindow: '10s',
    keyRotationInterval: '30d', keyPublishLead: '1h', jwksMaxAge: '5m',
  }
  const encryption = (input.accessTokenEncryption ?? {}) as { model?: 'off' | 'shared' | 'audience'; keysFile?: string; audiences?: Record<string, string>; jwksRefresh?: string }
  for (const [name, spec] of Object.entries(DURATION_FIELDS)) {
    durations[spec.key] = parseDuration((input[name]) ?? durationDefaults[name], { path: name, minSeconds: spec.min, maxSeconds: spec.max })
  }
  if (durations.refreshIdleTimeoutSeconds! > durations.refreshAbsoluteLifetimeSeconds!) {
    throw new ConfigInvalid('refreshIdleTimeout', 'must not be longer than refreshAbsoluteLifetime')
  }
  // Publish-then-use: a new key must sit in the JWKS longer than any verifier caches it.
  if (durations.keyPublishLeadSeconds! < durations.jwksMaxAgeSeconds! * 2) {
    throw new ConfigInvalid('keyPublishLead', 'must be at least twice jwksMaxAge, so verifiers see a key before it signs')
  }
  if (durations.keyPublishLeadSeconds! >= durations.keyRotationIntervalSeconds!) {
    throw new ConfigInvalid('keyPublishLead', 'must be shorter than keyRotationInterval')
  }
  const host = (input.host as string | undefined) ?? 'localhost'
  const rateLimits = (input.rateLimits ?? {}) as Record<string, { max: number; window: string } | undefined>
  const rule = (name: string, max: number, window: string): RateLimitRule => ({
    max: rateLimits[name]?.max ?? max,
    windowSeconds: parseDuration(rateLimits[name]?.window ?? window, { path: `rateLimits.${name}.window`, minSeconds: 1, maxSeconds: 86_400 }),
  })
  const cookies = (input.cookies ?? {}) as { enabled?: boolean; name?: string; secure?: boolean }
  const feed = (input.revocationFeed ?? {}) as { access?: 'public' | 'clients'; maxSubscribers?: number; maxSubscribersPerAddress?: number }
  const config: ServerConfig = {
    issuer: stripTrailingSlash((input.issuer as string | undefined) ?? `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`),
    host,
    port,
    dataDir: (input.dataDir as string | undefined) ?? '.hallpass',
    databaseUrl: (input.databaseUrl as string | undefined) ?? '',
    secret: undefined,
    secretFile: input.secretFile,
    algorithm: (input.algorithm as JwsAlgorithm | undefined) ?? 'ES256',
    audience: (input.audience as string[] | undefined) ?? [],
    accessTokenTtlSeconds: durations.accessTokenTtlSeconds!,
    refreshIdleTimeoutSeconds: durations.refreshIdleTimeoutSeconds!,
    refreshAbsoluteLifetimeSeconds: durations.refreshAbsoluteLifetimeSeconds!,
    reuseWindowSeconds: durations.reuseWindowSeconds!,
    keyRotationIntervalSeconds: durations.keyRotationIntervalSeconds!,
    keyPublishLeadSeconds: durations.keyPublishLeadSeconds!,
    jwksMaxAgeSeconds: durations.jwksMaxAgeSeconds!,
    cookies: { enabled: cookies.enabled ?? true, name: cookies.name ?? '__Host-hallpass_rt', secure: cookies.secure ?? true },
    corsOrigins: (input.corsOrigins as string[] | undefined) ?? [],
    trustProxy: (input.trustProxy as boolean | number | string[] | undefined) ?? false,
    adminApiKey: undefined,
    clients: (input.clients as Record<string, string> | undefined) ?? {},
    revocationFeed: {
      access: feed.access ?? 'public',
      maxSubscribers: feed.maxSubscribers ?? 10_000,
      maxSubscribersPerAddress: Math.min(feed.maxSubscribersPerAddress ?? 64, feed.maxSubscribers ?? 10_000),
    },
    rateLimits: {
      loginPerIp: rule('loginPerIp', 30, '1m'),
      loginPerUsername: rule('loginPerUsername', 10, '5m'),
      refreshPerIp: rule('refreshPerIp', 120, '1m'),
      feedPerIp: rule('feedPerIp', 120, '1m'),
    },
    bodyLimitBytes: (input.bodyLimitBytes as number | undefined) ?? 16_384,
    logLevel: (input.logLevel as ServerConfig['logLevel'] | undefined) ?? 'info',
    demoUser: (input.demoUser as boolean | undefined) ?? true,
    ui: (input.ui as boolean | undefined) ?? true,
    accessTokenEncryption: {
      model: encryption.model ?? 'off',
      keysFile: encryption.keysFile,
      audiences: encryption.audiences ?? {},
      jwksRefreshSeconds: parseDuration(encryption.jwksRefresh ?? '5m', { path: 'accessTokenEncryption.jwksRefresh', minSeconds: 1, maxSeconds: 86_400 }),
    },
  }
  checkEncryptionConfig(config)
  if (config.cookies.name.startsWith('__Host-') && !config.cookies.secure) {
    throw new ConfigInvalid('cookies.secure', 'must be true for a __Host- cookie (RFC 6265bis §4.1.3.2)')
  }
  return config
}

function checkEncryptionConfig(config: ServerConfig): void {
  const { model, keysFile, audiences } = config.accessTokenEncryption
  if (model === 'shared' && keysFile === undefined) {
    throw new ConfigInvalid('accessTokenEncryption.keysFile', 'is required with the shared model (HALLPASS_ACCESS_TOKEN_ENCRYPTION_KEYS_FILE)')
  }
  if (model === 'audience') {
    const names = Object.keys(audiences)
    if (names.length === 0) throw new ConfigInvalid('accessTokenEncryption.audiences', 'must name at least one audience and its key set URL with the audience model')
    const unknown = config.audience.find((audience) => !names.includes(audience))
    if (unknown !== undefined) throw new ConfigInvalid('accessTokenEncryption.audiences', `has no key set for the audience "${unknown}"`)
    if (config.audience.length === 0) throw new ConfigInvalid('audience', 'must be set with the audience model: each token is encrypted to its audience')
  }
}

/** The config with every secret replaced, safe to log or print. */
export function redactConfig(config: ServerConfig): Record<string, unknown> {
  return {
    ...config,
    secret: config.secret === undefined ? undefined : '[redacted]',
    adminApiKey: config.adminApiKey === undefined ? undefined : '[redacted]',
    clients: Object.fromEntries(Object.keys(config.clients).map((id) => [id, '[redacted]'])),
    databaseUrl: config.databaseUrl.replace(/\/\/([^@/]*)@/, '//[redacted]@'),
  }
}

/** Freezes an object and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

function parseEnvValue(name: string, value: string, kind: string): unknown {
  switch (kind) {
    case 'integer':
      if (!/^[0-9]{1,9}$/.test(value)) throw new ConfigInvalid(name, 'must be a whole number')
      return Number(value)
    case 'boolean':
      if (value === 'true' || value === '1') return true
      if (value === 'false' || value === '0') return false
      throw new ConfigInvalid(name, 'must be true or false')
    case 'list':
      return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0)
    case 'trustProxy':
      if (value === 'true' || value === 'false') return value === 'true'
      if (/^[0-9]{1,2}$/.test(value)) return Number(value)
      return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0)
    case 'clients':
      return parsePairs(name, value, ':', 'must be id:secret pairs separated by commas')
    case 'map':
      return parsePairs(name, value, '=', 'must be name=value pairs separated by commas')
    default:
      return value
  }
}

function parsePairs(name: string, value: string, separator: string, expectation: string): Record<string, string> {
  const pairs: Record<string, string> = {}
  for (const pair of value.split(',')) {
    const at = pair.indexOf(separator)
    if (at <= 0) throw new ConfigInvalid(name, expectation)
    // Defined, not assigned: a name "__proto__" is a name like any other.
    Object.defineProperty(pairs, pair.slice(0, at).trim(), { value: pair.slice(at + 1).trim(), enumerable: true, writable: true, configurable: true })
  }
  return pairs
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    const child = node[part]
    if (typeof child !== 'object' || child === null || Array.isArray(child)) node[part] = {}
    node = node[part] as Record<string, unknown>
  }
  node[parts.at(-1)!] = value
}

function structuredCloneJson(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigInvalid(what, 'must be a JSON object')
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>
}

function schemaError(errors: ErrorObject[]): ConfigInvalid {
  const error = errors[0]
  if (error === undefined) return new ConfigInvalid('config', 'is invalid')
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'config'
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty
    return new ConfigInvalid(path === 'config' ? extra : `${path}.${extra}`, 'is not a known setting')
  }
  if (error.keyword === 'enum') {
    return new ConfigInvalid(path, `must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`)
  }
  if (error.keyword === 'pattern' && (error.params as { pattern: string }).pattern === DURATION.pattern) {
    return new ConfigInvalid(path, 'must be a duration like 30s, 10m, 1h or 7d')
  }
  if (error.keyword === 'pattern' && (error.params as { pattern: string }).pattern === KEY_SET_URL) {
    return new ConfigInvalid(path, 'must be an https URL (plain http only on localhost or a loopback address)')
  }
  return new ConfigInvalid(path, error.message ?? 'is invalid')
}

function stripTrailingSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url
}
