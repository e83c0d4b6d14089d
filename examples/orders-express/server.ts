/**
 * @module examples/orders-express
 *
 * "orders": an Express service that trusts the access tokens of one `hallpass serve`.
 *
 *     npm run example:orders        # HALLPASS_ISSUER (default http://localhost:8080), PORT (default 3001)
 *                                   # HALLPASS_CLIENT_ID, HALLPASS_CLIENT_SECRET: for a feed closed to anonymous clients
 *                                   # HALLPASS_DECRYPTION_KEYS_FILE: a JWK Set, when hallpass encrypts access tokens
 *
 * - `GET /orders` needs a valid access token; `POST /orders` also needs the scope `orders:write`.
 * - The service never calls hallpass per request. At start `createVerifier({ issuer })` reads
 *   the issuer's discovery document, loads its JWKS and connects to its revocation feed; after
 *   that every token is checked locally (signature, claims, denylist of revoked sessions), and
 *   keys and revocations are kept current in the background.
 *
 * It imports the package as your service does (`hallpass/verify`, `hallpass/express`); in this
 * repository those names resolve to the sources (tsconfig `paths`), so it runs without a build.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import express, { type ErrorRequestHandler, type Express } from 'express'
import { isHallpassError } from 'hallpass/errors'
import { hallpass } from 'hallpass/express'
import type { JwkSet } from 'hallpass'
import { createVerifier, watchDecryptionKeyFile, type DecryptionKeyFile, type Verifier, type VerifierOptions } from 'hallpass/verify'

export const DEFAULT_ISSUER = 'http://localhost:8080'
export const DEFAULT_PORT = 3001

export interface Order {
  readonly id: number
  readonly item: string
  readonly quantity: number
  readonly createdAt: string
}

// A demo keeps orders in memory: bounded, so a client cannot grow the process without limit.
const MAX_ORDERS_PER_USER = 100
const MAX_USERS = 10_000

/**
 * The Express app, given a ready verifier (tests pass one with short cache settings).
 *
 * @example
 * const app = createOrdersApp(await createVerifier({ issuer: 'http://localhost:8080' }))
 * app.listen(3001)
 */
export function createOrdersApp(verifier: Verifier, options: AppOptions = {}): Express {
  // Keyed by `sub` in a Map: a subject such as "__proto__" is just another key.
  const orders = new Map<string, Order[]>()
  let nextId = 1
  const app = express()
  app.disable('x-powered-by')

  // Whether this service can verify tokens right now (keys held, revocation feed not stale).
  app.get('/healthz', (_req, res) => {
    const health = verifier.health()
    res.status(health.ok ? 200 : 503).json({ ok: health.ok, feedConnected: health.feed.connected, keys: health.jwks.keys })
  })

  // Where hallpass fetches the key to encrypt this service's tokens to (audience model).
  const { encryptionJwks } = options
  if (encryptionJwks !== undefined) app.get('/.well-known/jwks.json', (_req, res) => void res.json(encryptionJwks()))

  app.get('/orders', hallpass(verifier), (req, res) => {
    const subject = req.auth!.claims.sub!
    res.json({ service: 'orders', user: subject, orders: orders.get(subject) ?? [] })
  })

  // Authenticate (and check the scope) before reading the body: an anonymous client cannot
  // make the service parse anything.
  app.post('/orders', hallpass(verifier, { scope: 'orders:write' }), express.json({ limit: '4kb' }), (req, res) => {
    const subject = req.auth!.claims.sub!
    const body: unknown = req.body
    const item = isRecord(body) ? body.item : undefined
    const quantity = isRecord(body) ? (body.quantity ?? 1) : undefined
    if (typeof item !== 'string' || item.length === 0 || item.length > 100 || !Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 1000) {
      res.status(400).json({ error: 'invalid_request', error_description: 'Send {"item": "<1-100 characters>", "quantity": <1-1000>}' })
      return
    }
    const list = orders.get(subject) ?? []
    if (list.length >= MAX_ORDERS_PER_USER || (list.length === 0 && orders.size >= MAX_USERS)) {
      res.status(409).json({ error: 'limit_reached', error_description: 'This demo keeps a bounded number of orders' })
      return
    }
    const order: Order = { id: nextId++, item, quantity: quantity as number, createdAt: new Date().toISOString() }
    orders.set(subject, [...list, order])
    res.status(201).json(order)
  })

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', error_description: 'Not found' })
  })
  // Body-parser failures (bad JSON, too large, wrong type) as JSON, with nothing of the input.
  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    const status = isRecord(error) && typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500
    res.status(status).json(status === 500 ? { error: 'server_error', error_description: 'Internal server error' } : { error: 'invalid_request', error_description: 'The request body is invalid' })
  }
  app.use(onError)
  return app
}

export interface AppOptions {
  /** Publish this service's encryption public keys at `/.well-known/jwks.json` (see `DecryptionKeyFile.publicJwks`). */
  encryptionJwks?: () => JwkSet
}

export interface StartOptions extends AppOptions {
  /** The hallpass issuer URL (default `http://localhost:8080`). */
  issuer?: string
  /** Default 3001; 0 picks a free port. */
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
 * const orders = await startOrders({ issuer: 'http://localhost:8080', port: 3001 })
 * await orders.close()
 */
export async function startOrders(options: StartOptions = {}): Promise<RunningService> {
  const verifier = await createVerifier({ ...options.verifier, issuer: options.issuer ?? DEFAULT_ISSUER })
  const host = options.host ?? 'localhost'
  let server: Server
  try {
    server = await listen(createOrdersApp(verifier, options), options.port ?? DEFAULT_PORT, host)
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

function listen(app: Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host)
    server.once('listening', () => resolve(server))
    server.once('error', reject)
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

async function main(): Promise<void> {
  const issuer = process.env.HALLPASS_ISSUER || DEFAULT_ISSUER
  const port = process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error('orders: PORT must be a port number')
    process.exitCode = 1
    return
  }
  let service: RunningService
  try {
    const keyFile = decryptionKeyFileFromEnvironment()
    service = await startOrders({
      issuer,
      port,
      host: 'localhost',
      verifier: { ...verifierFromEnvironment(), ...(keyFile !== undefined ? { decryption: { keys: keyFile.keys } } : {}) },
      ...(keyFile !== undefined ? { encryptionJwks: keyFile.publicJwks } : {}),
    })
  } catch (error) {
    const code = isRecord(error) && typeof error.code === 'string' ? `${error.code}: ` : ''
    console.error(`orders: cannot start: ${code}${error instanceof Error ? error.message : String(error)}`)
    // Only a server that cannot be reached means hallpass may not be running; any other error
    // (an issuer that differs, a bad option) says what to change in its message.
    if (isHallpassError(error) && error.code === 'ERR_JWKS_UNAVAILABLE') console.error(`(is hallpass running at ${issuer}? Start it with \`npm start\`, or set HALLPASS_ISSUER.)`)
    process.exitCode = 1
    return
  }
  console.log(`orders (Express) listening on ${service.url}, trusting tokens of ${issuer}`)
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
      info: (_details, message) => console.log(`orders: ${message}`),
      warn: (_details, message) => console.warn(`orders: ${message}`),
      error: (_details, message) => console.error(`orders: ${message}`),
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
  return watchDecryptionKeyFile(path, { onError: (error) => console.error(`orders: ${path} changed but cannot be used (${error instanceof Error ? error.message : String(error)}); keeping the previous keys`) })
}

// Run when started as a program (`npm run example:orders`), not when imported by a test.
function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}
if (isMainModule()) await main()
