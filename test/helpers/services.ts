// Where the external test services are, and whether they answer. A suite that needs one calls
// `checkX()` and passes the result as `skip`: a visible reason when the service is unreachable,
// undefined when it is there. With HALLPASS_REQUIRE_SERVICES=1 (CI) an unreachable service is a
// failure instead, thrown here, so a broken service container cannot turn into a green run.
import { connect } from 'node:net'
import pg from 'pg'

const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
const PROBE_TIMEOUT_MS = 2000

export function postgresUrl(): string {
  return process.env.HALLPASS_TEST_POSTGRES_URL ?? DEFAULT_POSTGRES_URL
}

export function redisUrl(): string {
  return process.env.HALLPASS_TEST_REDIS_URL ?? DEFAULT_REDIS_URL
}

export function servicesRequired(): boolean {
  return process.env.HALLPASS_REQUIRE_SERVICES === '1'
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable URL>'
  }
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.message : String(error)
}

function unreachable(service: string, url: string, error: unknown): string {
  const reason = `${service} not reachable at ${redactUrl(url)} (${describeError(error)})`
  if (servicesRequired()) throw new Error(`${reason}, and HALLPASS_REQUIRE_SERVICES=1`, { cause: error })
  return reason
}

/** Undefined when PostgreSQL answers `SELECT 1`, else the reason to skip (or a throw in CI). */
export async function checkPostgres(): Promise<string | undefined> {
  const url = postgresUrl()
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (error) {
    return unreachable('PostgreSQL', url, error)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Undefined when Redis answers a RESP `PING` (any reply, even `-NOAUTH`), else the reason to skip. */
export async function checkRedis(): Promise<string | undefined> {
  const url = redisUrl()
  try {
    const parsed = new URL(url)
    const port = parsed.port === '' ? 6379 : Number(parsed.port)
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: parsed.hostname, port })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }))
      }, PROBE_TIMEOUT_MS)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (data) => {
        clearTimeout(timer)
        socket.destroy()
        const first = data.toString('latin1', 0, 1)
        if (first === '+' || first === '-') resolve()
        else reject(new Error('not a Redis server'))
      })
    })
    return undefined
  } catch (error) {
    return unreachable('Redis', url, error)
  }
}
