// Verifier conformance: ONE behaviour table, run unchanged against every adapter
// (Express, Fastify, Hono on @hono/node-server and plain node:http, each listening on a real
// port), each backed by a real verifier talking to a real issuer on a socket. Every row asserts
// the status, the exact WWW-Authenticate header (or its absence) and whether the route handler
// ran. The attack classes of the engine (docs/security.md) are rows, so each adapter is checked
// against them over HTTP.
import assert from 'node:assert/strict'
import { createHmac, sign } from 'node:crypto'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { Hono } from 'hono'
import { serve, type ServerType } from '@hono/node-server'
import { exportPem, exportPublicJwk, generateKey, RevocationFeedStale, type JwsKey } from '../../src/index.ts'
import { createVerifier, type Verifier } from '../../src/verify/index.ts'
import { hallpass as expressHallpass, requireScope as expressRequireScope } from '../../src/middleware/express.ts'
import { hallpass as fastifyHallpass } from '../../src/middleware/fastify.ts'
import { hallpass as honoHallpass, requireScope as honoRequireScope } from '../../src/middleware/hono.ts'
import { authenticate, authenticateAsync } from '../../src/middleware/node.ts'
import { accessClaims, startIssuer, waitFor, type TestIssuer } from '../verify/helpers/issuer.ts'

// --- Tokens -----------------------------------------------------------------------------------

const es = generateKey('ES256', { kid: 'es' })
const rs = generateKey('RS256', { kid: 'rs' })
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A genuine ES256 signature by `key` over an arbitrary header and payload text: what a key holder can make. */
function es256(key: JwsKey, header: Record<string, unknown>, payload: unknown, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input), { key: key.keyObject, dsaEncoding }).toString('base64url')}`
}

function hs256WithSecret(secret: string, header: Record<string, unknown>, payload: unknown): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** Swaps the payload of a signed token, keeping its header and signature. */
function tamperPayload(token: string, payload: unknown): string {
  const [header, , signature] = token.split('.')
  return `${header}.${b64(payload)}.${signature}`
}

// --- The table --------------------------------------------------------------------------------

interface Row {
  name: string
  path: string
  /** Authorization header values; several entries are several header lines. */
  authorization: (tokens: Tokens) => string[]
  status: number
  /** The exact WWW-Authenticate header, or null when there must be none. */
  challenge: string | null
  reached: boolean
  error?: string
  sub?: string | null
}

type Tokens = Record<
  | 'valid' | 'expired' | 'wrongAud' | 'wrongIss' | 'revoked' | 'none' | 'noneMixedCase' | 'confusion' | 'confusionJwk' | 'embeddedJwk'
  | 'jku' | 'unknownKid' | 'kidTraversal' | 'otherValid' | 'derSignature' | 'zeroSignature' | 'tampered' | 'expAsString'
  | 'refreshTyp' | 'oversize' | 'deeplyNested' | 'duplicateMember',
  string
>

const REALM = 'Bearer realm="hallpass"'
const MALFORMED = 'Bearer realm="hallpass", error="invalid_request", error_description="The request has a malformed Authorization header"'
const invalidToken = (description: string): string => `Bearer realm="hallpass", error="invalid_token", error_description="${description}"`

const ROWS: Row[] = [
  { name: 'valid token', path: '/orders', authorization: (t) => [`Bearer ${t.valid}`], status: 200, challenge: null, reached: true, sub: 'user-1' },
  // The issuer publishes a key after the verifier loaded its JWKS (a store switched, a server
  // restarted on new keys): its first token waits for one refetch and passes.
  { name: 'a key published a moment ago: accepted on its first presentation', path: '/orders', authorization: () => [`Bearer ${freshKeyToken()}`], status: 200, challenge: null, reached: true, sub: 'user-1' },
  { name: 'scheme is case-insensitive', path: '/orders', authorization: (t) => [`bEARER ${t.valid}`], status: 200, challenge: null, reached: true, sub: 'user-1' },
  { name: 'missing header: no error code', path: '/orders', authorization: () => [], status: 401, challenge: REALM, reached: false, error: 'unauthorized' },
  // RFC 6750 §3.1: a credential of another scheme is no bearer credential: a bare challenge.
  { name: 'Basic scheme: a bare Bearer challenge', path: '/orders', authorization: () => ['Basic dXNlcjpwYXNz'], status: 401, challenge: REALM, reached: false, error: 'unauthorized' },
  { name: 'a scheme name alone', path: '/orders', authorization: () => ['Negotiate'], status: 401, challenge: REALM, reached: false, error: 'unauthorized' },
  { name: '"Bearer" with no token', path: '/orders', authorization: () => ['Bearer'], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'not a credential at all', path: '/orders', authorization: () => ['{"token":"x"}'], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'two Authorization headers', path: '/orders', authorization: (t) => [`Bearer ${t.valid}`, `Bearer ${t.otherValid}`], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'malformed b64token', path: '/orders', authorization: () => ['Bearer abc def!'], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'empty bearer', path: '/orders', authorization: () => ['Bearer '], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'expired', path: '/orders', authorization: (t) => [`Bearer ${t.expired}`], status: 401, challenge: invalidToken('The token has expired'), reached: false, error: 'invalid_token' },
  { name: 'wrong aud', path: '/orders', authorization: (t) => [`Bearer ${t.wrongAud}`], status: 401, challenge: invalidToken('The token claims are invalid'), reached: false, error: 'invalid_token' },
  { name: 'wrong iss', path: '/orders', authorization: (t) => [`Bearer ${t.wrongIss}`], status: 401, challenge: invalidToken('The token claims are invalid'), reached: false, error: 'invalid_token' },
  { name: 'revoked sid (after a feed event)', path: '/orders', authorization: (t) => [`Bearer ${t.revoked}`], status: 401, challenge: invalidToken('The session has been revoked'), reached: false, error: 'invalid_token' },
  { name: 'alg none', path: '/orders', authorization: (t) => [`Bearer ${t.none}`], status: 401, challenge: invalidToken('The token algorithm is not allowed'), reached: false, error: 'invalid_token' },
  { name: 'RS256 key used as an HS256 secret', path: '/orders', authorization: (t) => [`Bearer ${t.confusion}`], status: 401, challenge: invalidToken('The token algorithm is not allowed'), reached: false, error: 'invalid_token' },
  { name: 'embedded jwk header', path: '/orders', authorization: (t) => [`Bearer ${t.embeddedJwk}`], status: 401, challenge: invalidToken('The token header is not supported'), reached: false, error: 'invalid_token' },
  { name: 'unknown kid', path: '/orders', authorization: (t) => [`Bearer ${t.unknownKid}`], status: 401, challenge: invalidToken('The token signing key is unknown'), reached: false, error: 'invalid_token' },
  { name: 'alg "nOnE" (case variant)', path: '/orders', authorization: (t) => [`Bearer ${t.noneMixedCase}`], status: 401, challenge: invalidToken('The token algorithm is not allowed'), reached: false, error: 'invalid_token' },
  { name: 'RS256 public JWK used as an HS256 secret', path: '/orders', authorization: (t) => [`Bearer ${t.confusionJwk}`], status: 401, challenge: invalidToken('The token algorithm is not allowed'), reached: false, error: 'invalid_token' },
  { name: 'jku header', path: '/orders', authorization: (t) => [`Bearer ${t.jku}`], status: 401, challenge: invalidToken('The token header is not supported'), reached: false, error: 'invalid_token' },
  { name: 'kid path traversal', path: '/orders', authorization: (t) => [`Bearer ${t.kidTraversal}`], status: 401, challenge: invalidToken('The token signing key is unknown'), reached: false, error: 'invalid_token' },
  { name: 'DER-encoded ECDSA signature', path: '/orders', authorization: (t) => [`Bearer ${t.derSignature}`], status: 401, challenge: invalidToken('The token signature is invalid'), reached: false, error: 'invalid_token' },
  { name: 'ECDSA r = s = 0 ("psychic signature")', path: '/orders', authorization: (t) => [`Bearer ${t.zeroSignature}`], status: 401, challenge: invalidToken('The token signature is invalid'), reached: false, error: 'invalid_token' },
  { name: 'tampered payload', path: '/orders', authorization: (t) => [`Bearer ${t.tampered}`], status: 401, challenge: invalidToken('The token signature is invalid'), reached: false, error: 'invalid_token' },
  { name: 'exp as a string', path: '/orders', authorization: (t) => [`Bearer ${t.expAsString}`], status: 401, challenge: invalidToken('The token claims are invalid'), reached: false, error: 'invalid_token' },
  { name: 'a refresh-token typ as an access token', path: '/orders', authorization: (t) => [`Bearer ${t.refreshTyp}`], status: 401, challenge: invalidToken('The token claims are invalid'), reached: false, error: 'invalid_token' },
  { name: 'duplicate member in the payload', path: '/orders', authorization: (t) => [`Bearer ${t.duplicateMember}`], status: 401, challenge: invalidToken('The token is malformed'), reached: false, error: 'invalid_token' },
  { name: 'deeply nested payload', path: '/orders', authorization: (t) => [`Bearer ${t.deeplyNested}`], status: 401, challenge: invalidToken('The token is malformed'), reached: false, error: 'invalid_token' },
  { name: 'oversize token (9 KiB)', path: '/orders', authorization: (t) => [`Bearer ${t.oversize}`], status: 401, challenge: invalidToken('The token is too large'), reached: false, error: 'invalid_token' },
  {
    name: 'insufficient scope',
    path: '/orders/write',
    authorization: (t) => [`Bearer ${t.valid}`],
    status: 403,
    challenge: 'Bearer realm="hallpass", error="insufficient_scope", error_description="The token does not grant the required scope", scope="orders:write"',
    reached: false,
    error: 'insufficient_scope',
  },
  { name: 'missing header on a scoped route', path: '/orders/write', authorization: () => [], status: 401, challenge: REALM, reached: false, error: 'unauthorized' },
  { name: 'optional route without a token', path: '/optional', authorization: () => [], status: 200, challenge: null, reached: true, sub: null },
  { name: 'optional route with a valid token', path: '/optional', authorization: (t) => [`Bearer ${t.valid}`], status: 200, challenge: null, reached: true, sub: 'user-1' },
  { name: 'optional route with a bad token', path: '/optional', authorization: (t) => [`Bearer ${t.expired}`], status: 401, challenge: invalidToken('The token has expired'), reached: false, error: 'invalid_token' },
  { name: 'optional route with a malformed header', path: '/optional', authorization: () => ['Bearer a b'], status: 400, challenge: MALFORMED, reached: false, error: 'invalid_request' },
  { name: 'optional route with another scheme: anonymous', path: '/optional', authorization: () => ['Basic dXNlcjpwYXNz'], status: 200, challenge: null, reached: true, sub: null },
  { name: 'revocation state unknown: 503, no challenge', path: '/infra', authorization: (t) => [`Bearer ${t.valid}`], status: 503, challenge: null, reached: false, error: 'temporarily_unavailable' },
]

// --- Adapters under test ----------------------------------------------------------------------

interface Reply {
  status: number
  challenge: string | null
  body: Record<string, unknown>
}

interface Adapter {
  name: string
  start(verifier: Verifier, stale: Verifier, reached: () => void): Promise<void>
  send(path: string, authorization: string[]): Promise<Reply>
  stop(): Promise<void>
}

/** Real socket: fetch for one header at most; two header lines need node:http (fetch joins them). */
async function overSocket(base: string, path: string, authorization: string[]): Promise<Reply> {
  if (authorization.length <= 1) {
    const response = await fetch(base + path, { headers: authorization.length === 1 ? { authorization: authorization[0]! } : {} })
    return { status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as Record<string, unknown> }
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path)
    req.setHeader('authorization', authorization)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, challenge: (res.headers['www-authenticate']) ?? null, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function expressAdapter(): Adapter {
  let server: Server
  let base = ''
  return {
    name: 'Express',
    async start(verifier, stale, reached) {
      const app = express()
      const ok = (req: express.Request, res: express.Response): void => {
        reached()
        res.json({ sub: req.auth?.claims.sub ?? null })
      }
      app.get('/orders', expressHallpass(verifier), ok)
      app.get('/orders/write', expressHallpass(verifier), expressRequireScope('orders:write'), ok)
      app.get('/optional', expressHallpass(verifier, { optional: true }), ok)
      app.get('/infra', expressHallpass(stale), ok)
      server = createServer(app)
      base = await listen(server)
    },
    send: (path, authorization) => overSocket(base, path, authorization),
    stop: () => closeServer(server),
  }
}

function fastifyAdapter(): Adapter {
  let app: FastifyInstance
  let base = ''
  return {
    name: 'Fastify',
    async start(verifier, stale, reached) {
      app = Fastify()
      const ok = (request: { auth: { claims: { sub?: string } } | null }): { sub: string | null } => {
        reached()
        return { sub: request.auth?.claims.sub ?? null }
      }
      // Two sibling scopes with their own verifier, as a service with two audiences would have.
      await app.register(async (scope) => {
        await scope.register(fastifyHallpass, { verifier })
        scope.get('/orders', ok)
        scope.get('/orders/write', { config: { hallpass: { scope: 'orders:write' } } }, ok)
        scope.get('/optional', { config: { hallpass: { optional: true } } }, ok)
      })
      await app.register(async (scope) => {
        await scope.register(fastifyHallpass, { verifier: stale })
        scope.get('/infra', ok)
      })
      base = await app.listen({ port: 0, host: '127.0.0.1' })
    },
    send: (path, authorization) => overSocket(base, path, authorization),
    stop: () => app.close(),
  }
}

function honoAdapter(): Adapter {
  let server: ServerType
  let base = ''
  return {
    name: 'Hono',
    async start(verifier, stale, reached) {
      const app = new Hono()
      const ok = (c: { get(key: 'auth'): { claims: { sub?: string } } | undefined; json(body: unknown): Response }): Response => {
        reached()
        return c.json({ sub: c.get('auth')?.claims.sub ?? null })
      }
      app.get('/orders', honoHallpass(verifier), ok)
      app.get('/orders/write', honoHallpass(verifier), honoRequireScope('orders:write'), ok)
      app.get('/optional', honoHallpass(verifier, { optional: true }), ok)
      app.get('/infra', honoHallpass(stale), ok)
      base = await new Promise<string>((resolve) => {
        server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`))
      })
    },
    send: (path, authorization) => overSocket(base, path, authorization),
    stop: () => closeServer(server as Server),
  }
}

function nodeAdapter(): Adapter {
  let server: Server
  let base = ''
  return {
    name: 'node:http',
    async start(verifier, stale, reached) {
      const routes: Record<string, [typeof verifier, Parameters<typeof authenticate>[3]]> = {
        '/orders': [verifier, undefined],
        '/orders/write': [verifier, { scope: 'orders:write' }],
        '/optional': [verifier, { optional: true }],
        '/infra': [stale, undefined],
      }
      server = createServer((req, res) => {
        const [v, options] = routes[req.url!]!
        void authenticateAsync(req, res, v, options).then((claims) => {
          if (claims === undefined) return
          reached()
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: claims?.sub ?? null }))
        })
      })
      base = await listen(server)
    },
    send: (path, authorization) => overSocket(base, path, authorization),
    stop: () => closeServer(server),
  }
}

// --- Run --------------------------------------------------------------------------------------

let freshKeyToken: () => string = () => {
  throw new Error('the issuer is not started')
}

describe('verifier conformance: one table, every adapter', () => {
  let issuer: TestIssuer
  let verifier: Verifier
  let tokens: Tokens
  // A verifier whose revocation state is unknown: every verification is an infrastructure error.
  const stale = { verify: (): never => { throw new RevocationFeedStale(120) } } as unknown as Verifier

  before(async () => {
    issuer = await startIssuer({ keys: [es, rs] })
    // Unknown kids may refetch at once here: every adapter's row publishes a key of its own.
    verifier = await createVerifier({ issuer: issuer.url, audience: 'orders', logger: false, jwksCache: { cooldownSeconds: 0.001 } })
    const now = Date.now()
    let published = 0
    freshKeyToken = () => {
      const key = generateKey('ES256', { kid: `published-later-${++published}` })
      issuer.keys.push(key)
      return issuer.sign(accessClaims(issuer.url, Date.now()), key)
    }
    const claims = accessClaims(issuer.url, now)
    const attacker = generateKey('ES256', { kid: 'es' })
    const hsHeader = { alg: 'HS256', kid: 'rs', typ: 'at+jwt' }
    const hsInput = `${b64(hsHeader)}.${b64(claims)}`
    tokens = {
      valid: issuer.sign(claims),
      otherValid: issuer.sign({ ...claims, sub: 'user-2' }),
      expired: issuer.sign({ ...claims, iat: Math.floor(now / 1000) - 7200, exp: Math.floor(now / 1000) - 3600 }),
      wrongAud: issuer.sign({ ...claims, aud: 'billing' }),
      wrongIss: issuer.sign({ ...claims, iss: 'https://evil.example' }),
      revoked: issuer.sign({ ...claims, sid: 'sid-revoked' }),
      none: `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`,
      // docs/security.md A2: the RSA public key's PEM text as an HMAC secret.
      confusion: `${hsInput}.${createHmac('sha256', exportPem(rs).publicPem).update(hsInput).digest('base64url')}`,
      // docs/security.md A5: the attacker's own key in the header, under the victim's kid.
      embeddedJwk: es256(attacker, { alg: 'ES256', kid: 'es', typ: 'at+jwt', jwk: exportPublicJwk(attacker) }, claims),
      unknownKid: issuer.sign(claims, generateKey('ES256', { kid: 'nobody-knows' })),
      noneMixedCase: `${b64({ alg: 'nOnE', typ: 'at+jwt' })}.${b64(claims)}.`,
      // docs/security.md A2 again, with the public key as a JWK (its JSON text) for the secret.
      confusionJwk: hs256WithSecret(JSON.stringify(exportPublicJwk(rs)), hsHeader, claims),
      jku: es256(attacker, { alg: 'ES256', kid: 'es', typ: 'at+jwt', jku: `${issuer.url}/attacker-jwks.json` }, claims),
      kidTraversal: issuer.sign(claims, generateKey('ES256', { kid: '../../../../dev/null' })),
      derSignature: es256(es, { alg: 'ES256', kid: 'es', typ: 'at+jwt' }, claims, 'der'),
      zeroSignature: `${b64({ alg: 'ES256', kid: 'es', typ: 'at+jwt' })}.${b64(claims)}.${Buffer.alloc(64).toString('base64url')}`,
      tampered: tamperPayload(issuer.sign(claims), { ...claims, sub: 'admin' }),
      expAsString: es256(es, { alg: 'ES256', kid: 'es', typ: 'at+jwt' }, { ...claims, exp: String(claims.exp) }),
      refreshTyp: issuer.sign(claims, es, 'rt+jwt'),
      duplicateMember: es256(es, { alg: 'ES256', kid: 'es', typ: 'at+jwt' }, `${JSON.stringify(claims).slice(0, -1)},"sub":"admin"}`),
      deeplyNested: es256(es, { alg: 'ES256', kid: 'es', typ: 'at+jwt' }, `${JSON.stringify(claims).slice(0, -1)},"x":${'['.repeat(1000)}${']'.repeat(1000)}}`),
      oversize: es256(es, { alg: 'ES256', kid: 'es', typ: 'at+jwt' }, { ...claims, pad: 'x'.repeat(9 * 1024) }),
    }
    issuer.revoke('sid-revoked', Math.floor(now / 1000) + 600)
    await waitFor(() => verifier.health().feed.denylistSize === 1, 'the revocation to reach the denylist')
  })

  after(async () => {
    await verifier.close()
    await issuer.close()
  })

  for (const adapter of [expressAdapter(), fastifyAdapter(), honoAdapter(), nodeAdapter()]) {
    describe(adapter.name, () => {
      let reached = 0
      before(() => adapter.start(verifier, stale, () => reached++))
      after(() => adapter.stop())

      for (const row of ROWS) {
        it(row.name, async () => {
          const before = reached
          const reply = await adapter.send(row.path, row.authorization(tokens))
          assert.equal(reply.status, row.status, `status (body ${JSON.stringify(reply.body)})`)
          assert.equal(reply.challenge, row.challenge, 'WWW-Authenticate')
          assert.equal(reached - before, row.reached ? 1 : 0, row.reached ? 'handler reached' : 'handler not reached')
          if (row.error !== undefined) assert.equal(reply.body.error, row.error)
          if (row.sub !== undefined) assert.deepEqual(reply.body, { sub: row.sub })
        })
      }
    })
  }
})
