// A bad configuration stops `hallpass serve` before it listens: exit status 1 and one line on
// stderr that starts with the error code and names the field, without echoing a secret. A few
// cases run the real binary; the rest run serve's start-up steps in-process (a child process
// costs a second of tsx start-up each).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { reportError, type CommandContext } from 'hallpass/cli'
import { serveCommand } from '../src/cli/serve.ts'
import { loadServerConfig } from '../src/cli/server-config.ts'
import { openRuntime, resolveConfig } from '../src/index.ts'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

interface BadConfig {
  what: string
  env?: Record<string, string>
  /** Contents of a --config file (a string is written as is, anything else as JSON). */
  file?: unknown
  code: 'ERR_CONFIG_INVALID' | 'ERR_SECRET_INVALID' | 'not JSON'
  /** The field the message must name. */
  field: string
  /** A value that must not appear in the output (a secret). */
  secret?: string
}

const SPAWNED: BadConfig[] = [
  { what: 'unknown key in the config file', file: { prot: 8080 }, code: 'ERR_CONFIG_INVALID', field: '"prot"' },
  { what: 'HALLPASS_PORT=abc', env: { HALLPASS_PORT: 'abc' }, code: 'ERR_CONFIG_INVALID', field: 'HALLPASS_PORT' },
  { what: 'a short HALLPASS_SECRET', env: { HALLPASS_SECRET: 'too-short-secret-value' }, code: 'ERR_SECRET_INVALID', field: 'HALLPASS_SECRET', secret: 'too-short-secret-value' },
  { what: 'a config file that is not JSON', file: '{"port": 8080,', code: 'not JSON', field: 'is not valid JSON' },
]

const IN_PROCESS: BadConfig[] = [
  { what: 'negative access-token TTL', env: { HALLPASS_ACCESS_TOKEN_TTL: '-5m' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenTtl' },
  { what: 'access-token TTL without a unit', env: { HALLPASS_ACCESS_TOKEN_TTL: '600' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenTtl' },
  { what: 'algorithm none', env: { HALLPASS_ALGORITHM: 'none' }, code: 'ERR_CONFIG_INVALID', field: 'algorithm' },
  { what: 'unsupported algorithm', file: { algorithm: 'HS1' }, code: 'ERR_CONFIG_INVALID', field: 'algorithm' },
  { what: 'keyPublishLead < 2 × jwksMaxAge', env: { HALLPASS_KEY_PUBLISH_LEAD: '5m', HALLPASS_JWKS_MAX_AGE: '5m' }, code: 'ERR_CONFIG_INVALID', field: 'keyPublishLead' },
  { what: 'idle timeout beyond the absolute lifetime', env: { HALLPASS_REFRESH_IDLE_TIMEOUT: '40d' }, code: 'ERR_CONFIG_INVALID', field: 'refreshIdleTimeout' },
  { what: 'unknown nested key', file: { cookies: { sameSite: 'lax' } }, code: 'ERR_CONFIG_INVALID', field: 'cookies.sameSite' },
  { what: 'a __Host- cookie without Secure', file: { cookies: { secure: false } }, code: 'ERR_CONFIG_INVALID', field: 'cookies.secure' },
  { what: 'a rate limit of zero', file: { rateLimits: { loginPerIp: { max: 0, window: '1m' } } }, code: 'ERR_CONFIG_INVALID', field: 'rateLimits.loginPerIp.max' },
  { what: 'port out of range', file: { port: 70000 }, code: 'ERR_CONFIG_INVALID', field: 'port' },
  { what: 'an issuer with a query', env: { HALLPASS_ISSUER: 'https://auth.example.com/?x=1' }, code: 'ERR_CONFIG_INVALID', field: 'issuer' },
  { what: 'an unsupported database', env: { HALLPASS_DATABASE_URL: 'mysql://db/hallpass' }, code: 'ERR_CONFIG_INVALID', field: 'databaseUrl' },
  { what: 'a boolean that is not one', env: { HALLPASS_COOKIES: 'yes' }, code: 'ERR_CONFIG_INVALID', field: 'HALLPASS_COOKIES' },
  { what: 'an introspection client secret under 32 characters', env: { HALLPASS_CLIENTS: 'rs:short-client-secret' }, code: 'ERR_CONFIG_INVALID', field: 'clients.rs', secret: 'short-client-secret' },
  { what: 'a feed for clients with no client to follow it', env: { HALLPASS_FEED_ACCESS: 'clients' }, code: 'ERR_CONFIG_INVALID', field: 'revocationFeed.access' },
  { what: 'a feed access that is not one', env: { HALLPASS_FEED_ACCESS: 'private' }, code: 'ERR_CONFIG_INVALID', field: 'revocationFeed.access' },
  { what: 'no feed subscriber at all', env: { HALLPASS_FEED_MAX_SUBSCRIBERS: '0' }, code: 'ERR_CONFIG_INVALID', field: 'revocationFeed.maxSubscribers' },
  { what: 'a short admin API key', env: { HALLPASS_ADMIN_API_KEY: 'short-admin-key' }, code: 'ERR_CONFIG_INVALID', field: 'HALLPASS_ADMIN_API_KEY', secret: 'short-admin-key' },
  { what: 'a Redis key prefix with braces', env: { HALLPASS_DATABASE_URL: 'redis://127.0.0.1:1/?prefix=%7Bbad%7D' }, code: 'ERR_CONFIG_INVALID', field: 'keyPrefix' },
  { what: 'a PostgreSQL schema that is not an identifier', env: { HALLPASS_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/db?schema=Bad-Name' }, code: 'ERR_CONFIG_INVALID', field: 'schema' },
  { what: 'the schema parameter twice', env: { HALLPASS_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/db?schema=a&schema=b' }, code: 'ERR_CONFIG_INVALID', field: 'schema' },
  { what: 'an encryption model that is not one', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'aes' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.model' },
  { what: 'shared encryption without a key file', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'shared' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.keysFile' },
  { what: 'a shared key file that does not exist', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'shared', HALLPASS_ACCESS_TOKEN_ENCRYPTION_KEYS_FILE: '/nonexistent/keys.json' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.keysFile' },
  { what: 'per-audience encryption with no audience key set', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'audience', HALLPASS_AUDIENCE: 'orders' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.audiences' },
  { what: 'an audience without its key set', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'audience', HALLPASS_AUDIENCE: 'orders,billing', HALLPASS_ACCESS_TOKEN_ENCRYPTION_AUDIENCES: 'orders=https://orders.example.com/jwks.json' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.audiences' },
  { what: 'a key set over plain http to another host', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION: 'audience', HALLPASS_AUDIENCE: 'orders', HALLPASS_ACCESS_TOKEN_ENCRYPTION_AUDIENCES: 'orders=http://orders.example.com/jwks.json' }, code: 'ERR_CONFIG_INVALID', field: 'accessTokenEncryption.audiences.orders' },
  { what: 'audience pairs without "="', env: { HALLPASS_ACCESS_TOKEN_ENCRYPTION_AUDIENCES: 'orders' }, code: 'ERR_CONFIG_INVALID', field: 'HALLPASS_ACCESS_TOKEN_ENCRYPTION_AUDIENCES' },
]

describe('hallpass serve refuses a bad configuration', () => {
  let dir: string
  let counter = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hallpass-config-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  // Each case gets its own data dir, so nothing is shared and a bad case cannot leave a secret
  // behind for another; HALLPASS_SECRET is set (valid) unless the case is about it.
  const prepare = async (bad: BadConfig): Promise<{ args: string[]; env: Record<string, string>; dataDir: string }> => {
    const n = ++counter
    const dataDir = join(dir, `data-${n}`)
    const env: Record<string, string> = { HALLPASS_DATA_DIR: dataDir, HALLPASS_SECRET: 's'.repeat(40), ...bad.env }
    const args = ['serve']
    if (bad.file !== undefined) {
      const path = join(dir, `config-${n}.json`)
      await writeFile(path, typeof bad.file === 'string' ? bad.file : JSON.stringify(bad.file))
      args.push('--config', path)
    }
    return { args, env, dataDir }
  }

  const check = (bad: BadConfig, result: Run): void => {
    assert.equal(result.code, 1, `${bad.what}: exit ${result.code}\n${result.stderr}`)
    assert.equal(result.stdout.includes('listening'), false, `${bad.what}: never listened`)
    const line = result.stderr.trim()
    assert.equal(line.split('\n').length, 1, `${bad.what}: one line, no stack trace: ${line}`)
    if (bad.code === 'not JSON') assert.match(line, /^hallpass-server: .*is not valid JSON/)
    else assert.ok(line.startsWith(`${bad.code}: `), `${bad.what}: ${line}`)
    assert.ok(line.includes(bad.field), `${bad.what}: the message names ${bad.field}: ${line}`)
    if (bad.secret !== undefined) assert.equal(line.includes(bad.secret), false, `${bad.what}: the secret is not echoed`)
  }

  test('the real binary: exit 1 with the code and the field', async () => {
    await Promise.all(
      SPAWNED.map(async (bad) => {
        const { args, env } = await prepare(bad)
        const childEnv: NodeJS.ProcessEnv = {}
        for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HALLPASS_') && key !== 'NODE_TEST_CONTEXT') childEnv[key] = value
        const result = await new Promise<Run>((resolve, reject) => {
          execFile(process.execPath, ['--import', 'tsx', 'packages/server/src/cli/main.ts', ...args], { cwd: REPO_ROOT, env: { ...childEnv, ...env }, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
            if (error === null) resolve({ code: 0, stdout, stderr })
            else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr })
            else reject(new Error(`serve did not exit (${String(error.signal)}): ${stderr}`, { cause: error }))
          })
        })
        check(bad, result)
      }),
    )
  })

  test('in-process, the steps serve takes before it listens: every other bad value', async () => {
    for (const bad of IN_PROCESS) {
      const { args, env } = await prepare(bad)
      let stdout = ''
      let stderr = ''
      const context: CommandContext = {
        stdout: (text) => void (stdout += text),
        stderr: (text) => void (stderr += text),
        readStdin: () => Promise.resolve(Buffer.alloc(0)),
        stdinIsTty: true,
        now: Date.now,
        env,
      }
      // serve.ts: loadServerConfig, then openRuntime, then listen. Stopping short of listen
      // means a case that is accidentally valid fails here instead of serving forever.
      let code: number
      try {
        const runtime = await openRuntime(await loadServerConfig(args[2], env), { env })
        await runtime.close()
        code = 0
      } catch (error) {
        code = reportError(error, context, serveCommand)
      }
      check(bad, { code, stdout, stderr })
    }
  })
})

describe('configuration values that look like object members', () => {
  test('HALLPASS_CLIENTS with an id "__proto__" or "constructor" defines those clients, nothing else', () => {
    const secret = 's'.repeat(32)
    const config = resolveConfig({ env: { HALLPASS_CLIENTS: `__proto__:${secret},constructor:${secret}` } })
    assert.deepEqual(Object.keys(config.clients).sort(), ['__proto__', 'constructor'])
    assert.equal(Object.getPrototypeOf(config.clients), Object.prototype)
    assert.equal(Object.hasOwn(config.clients, '__proto__'), true)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  test('the feed settings from the environment, per-address bound never above the total', () => {
    const config = resolveConfig({ env: { HALLPASS_FEED_ACCESS: 'clients', HALLPASS_FEED_MAX_SUBSCRIBERS: '20', HALLPASS_FEED_MAX_SUBSCRIBERS_PER_ADDRESS: '100' } })
    assert.deepEqual(config.revocationFeed, { access: 'clients', maxSubscribers: 20, maxSubscribersPerAddress: 20 })
    assert.deepEqual(resolveConfig({}).revocationFeed, { access: 'public', maxSubscribers: 10_000, maxSubscribersPerAddress: 64 })
  })
})
