/**
 * @module examples/billing-hono
 *
 * "billing": a Hono service (on Node through `@hono/node-server`) that trusts the access tokens
 * of one `hallpass serve`.
 *
 *     npm run example:billing       # HALLPASS_ISSUER (default http://localhost:8080), PORT (default 3002)
 *                                   # HALLPASS_CLIENT_ID, HALLPASS_CLIENT_SECRET: for a feed closed to anonymous clients
 *                                   # HALLPASS_DECRYPTION_KEYS_FILE: a JWK Set, when hallpass encrypts access tokens
 *
 * - `GET /invoices` needs a valid access token.
 * - As in the orders example, `createVerifier({ issuer })` discovers the JWKS and the
 *   revocation feed once at start; each request is then checked locally, with no call to
 *   hallpass, and a logout anywhere is refused here within a second.
 *
 * It imports the package as your service does (`hallpass/verify`, `hallpass/hono`); in this
 * repository those names resolve to the sources (tsconfig `paths`), so it runs without a build.
 */
import { realpathSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { isHallpassError } from 'hallpass/errors'
import { hallpass } from 'hallpass/hono'
import type { JwkSet } from 'hallpass'
import { createVerifier, watchDecryptionKeyFile, type DecryptionKeyFile, type Verifier, type VerifierOptions } from 'hallpass/verify'

export const DEFAULT_ISSUER = 'http://localhost:8080'
export const DEFAULT_PORT = 3002

export interface Invoice {
  readonly id: string
  readonly amountCents: number
  readonly currency: 'EUR'
  readonly status: 'open' | 'paid'
}

/**
 * The Hono app, given a ready verifier (tests pass one with short cache settings).
 *
 * @example
 * const app = createBillingApp(await createVerifier({ issuer: 'http://localhost:8080' }))
 * serve({ fetch: app.fetch, port: 3002 })
 */
export function createBillingApp(verifier: Verifier, options: AppOptions = {}): Hono {
  const app = new Hono()

  // Where hallpass fetches the key to encrypt this service's tokens to (audience model).
  const { encryptionJwks } = options
  if (encryptionJwks !== undefined) app.get('/.well-known/jwks.json', (c) => c.json(encryptionJwks()))

  // Whether this service can verify tokens right now (keys held, revocation feed not stale).
  app.get('/healthz', (c) => {
    const health = verifier.health()
    return c.json({ ok: health.ok, feedConnected: health.feed.connected, keys: health.jwks.keys }, health.ok ? 200 : 503)
  })

  app.get('/invoices', hallpass(verifier), (c) => {
    const subject = c.get('auth')!.claims.sub!
    // Demo data: every user has the same two invoices.
    const invoices: Invoice[] = [
      { id: 'inv-1001', amountCents: 4200, currency: 'EUR', status: 'paid' },
      { id: 'inv-1002', amountCents: 1999, currency: 'EUR', status: 'open' },
    ]
    return c.json({ service: 'billing', user: subject, invoices })
  })

  app.notFound((c) => c.json({ error: 'not_found', error_description: 'Not found' }, 404))
  app.onError((_error, c) => c.json({ error: 'server_error', error_description: 'Internal server error' }, 500))
  return app
}

export interface AppOptions {
  /** Publish this service's encryption public keys at `/.well-known/jwks.json` (see `DecryptionKeyFile.publicJwks`). */
  encryptionJwks?: () => JwkSet
}

export interface StartOptions extends AppOptions {
  /** The hallpass issuer URL (default `http://localhost:8080`). */
  issuer?: string
  /** Default 3002; 0 picks a free port. */
  port?: number
  /** Default `localhost`. */
  host?: string
  /** More verifier options (audience, cache and feed settings, …). */
  verifier?: Omit<VerifierOptions, 'issuer'>
}

export interface RunningService {
  readonly url: string
  readonly verifier: Verifier
  close(): Promise<void>
}

/**
 * Builds the verifier (discovery → JWKS → revocation feed), then listens.
 *
 * @example
 * const billing = await startBilling({ issuer: 'http://localhost:8080', port: 3002 })
 * await billing.close()
 */
export async function startBilling(options: StartOptions = {}): Promise<RunningService> {
  const verifier = await createVerifier({ ...options.verifier, issuer: options.issuer ?? DEFAULT_ISSUER })
  const host = options.host ?? 'localhost'
  let server: Server
  try {
    server = await listen(createBillingApp(verifier, options), options.port ?? DEFAULT_PORT, host)
  } catch (error) {
    await verifier.close()
    throw error
  }
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    verifier,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
      await verifier.close()
    },
  }
}

function listen(app: Hono, port: number, hostname: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Plain HTTP/1.1 (the default of `serve`), so the server is a node:http Server.
    const server = serve({ fetch: app.fetch, port, hostname }) as Server
    server.once('listening', () => resolve(server))
    server.once('error', reject)
  })
}

async function main(): Promise<void> {
  const issuer = process.env.HALLPASS_ISSUER || DEFAULT_ISSUER
  const port = process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error('billing: PORT must be a port number')
    process.exitCode = 1
    return
  }
  let service: RunningService
  try {
    const keyFile = decryptionKeyFileFromEnvironment()
    service = await startBilling({
      issuer,
      port,
      host: 'localhost',
      verifier: { ...verifierFromEnvironment(), ...(keyFile !== undefined ? { decryption: { keys: keyFile.keys } } : {}) },
      ...(keyFile !== undefined ? { encryptionJwks: keyFile.publicJwks } : {}),
    })
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : ''
    console.error(`billing: cannot start: ${code}${error instanceof Error ? error.message : String(error)}`)
    // Only a server that cannot be reached means hallpass may not be running; any other error
    // (an issuer that differs, a bad option) says what to change in its message.
    if (isHallpassError(error) && error.code === 'ERR_JWKS_UNAVAILABLE') console.error(`(is hallpass running at ${issuer}? Start it with \`npm start\`, or set HALLPASS_ISSUER.)`)
    process.exitCode = 1
    return
  }
  console.log(`billing (Hono) listening on ${service.url}, trusting tokens of ${issuer}`)
  const stop = (): void => void service.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/**
 * What a deployment sets: the verifier says what happens to it (feed lost and back, failing
 * closed, key fetches failing) as one line each, and, for a hallpass whose revocation feed is
 * closed to anonymous clients (HALLPASS_FEED_ACCESS=clients), presents one of its clients.
 */
function verifierFromEnvironment(): Omit<VerifierOptions, 'issuer'> {
  const id = process.env.HALLPASS_CLIENT_ID
  const secret = process.env.HALLPASS_CLIENT_SECRET
  return {
    logger: {
      info: (_details, message) => console.log(`billing: ${message}`),
      warn: (_details, message) => console.warn(`billing: ${message}`),
      error: (_details, message) => console.error(`billing: ${message}`),
    },
    ...(id !== undefined && id !== '' ? { revocation: { client: { id, secret: secret ?? '' } } } : {}),
  }
}

/**
 * When hallpass encrypts access tokens: this service's decryption keys (the shared `dir` keys,
 * or its own ECDH-ES+A256KW keys, whose public halves it then publishes), read again when the
 * file changes.
 */
function decryptionKeyFileFromEnvironment(): DecryptionKeyFile | undefined {
  const path = process.env.HALLPASS_DECRYPTION_KEYS_FILE
  if (path === undefined || path === '') return undefined
  return watchDecryptionKeyFile(path, { onError: (error) => console.error(`billing: ${path} changed but cannot be used (${error instanceof Error ? error.message : String(error)}); keeping the previous keys`) })
}

// Run when started as a program (`npm run example:billing`), not when imported by a test.
function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}
if (isMainModule()) await main()
