/**
 * @module bench/verify-process
 *
 * The service half of the `verify` benchmark (`bench/verify.ts` spawns it as
 * `node --import tsx bench/verify-process.ts`): one Fastify or Express app with a trivial
 * route four times over, each behind a different guard, so every contender runs in the same
 * process with the same JIT and heap and the bench can interleave them round by round.
 *
 * - `GET /open`: no authentication (the baseline).
 * - `GET /bare`: only the bare signature check, as a guard: take the token after `Bearer `,
 *   one HMAC (+ `timingSafeEqual`) or one ECDSA `crypto.verify` over its signing input, 401 if
 *   it fails; no header or payload parsing, no claims. The floor any verifier pays per token.
 * - `GET /hallpass`: hallpass's adapter over `createVerifier` with local keys (`keys` for
 *   HS256, `jwks` for ES256) and `revocation: false`.
 * - `GET /hallpass-rev`: the same with revocation on: the verifier follows an SSE revocation
 *   feed served by this process (below), which lists `BENCH_REVOKED` sessions (none of them
 *   the bench's), so every request checks a populated denylist and the feed policy.
 * - `GET /hallpass-dir`, `GET /hallpass-ecdh`: `hallpass` for encrypted tokens (signed, then
 *   encrypted with a shared `dir` key, or to this service's ECDH-ES+A256KW P-256 key), with the
 *   keys of `BENCH_DECRYPTION_KEYS` and no plain token accepted.
 * - `GET /peer`: `@fastify/jwt` (its defaults: no verified-token cache) on Fastify;
 *   `express-jwt` on Express, with a static secret for HS256 and `jwks-rsa` (cache on, no
 *   rate limit) fetching the JWKS from this process for ES256.
 *
 * Every route answers `{"sub":…}` (the token's `sub` behind a guard, `"anonymous"` at `/open`).
 * A small second HTTP server, the "issuer", serves the JWKS (`/jwks.json`) and the feed
 * (`/revocations`: every listed revocation on connect and `ready`, then a comment every 15 s).
 *
 * Configuration (environment): `BENCH_FRAMEWORK` (`fastify` | `express`), `BENCH_ALG`
 * (`HS256` | `ES256`), `BENCH_KEY` (the HMAC secret as base64url, or the public JWK as JSON),
 * `BENCH_KID`, `BENCH_ISSUER`, `BENCH_AUDIENCE`, `BENCH_REVOKED`, `BENCH_DECRYPTION_KEYS` (JSON:
 * `{ dir, ecdh }`, two private JWKs).
 *
 * Protocol with the parent: one JSON line on stdout once listening and once the feed is
 * loaded (`{"port":…}`); over IPC, `'cpu'` answers `{ cpu: process.cpuUsage() }`, `'metrics'`
 * answers `{ metrics: { hallpass, hallpassRev, hallpassDir, hallpassEcdh } }` (each verifier's `metrics()`), `'stop'`
 * closes everything and exits. Losing the parent (IPC disconnect) stops it too.
 */
import { createHmac, createPublicKey, createSecretKey, randomBytes, timingSafeEqual, verify as cryptoVerify } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { expressjwt } from 'express-jwt'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import jwksRsa from 'jwks-rsa'
import { importKey, type Jwk } from 'hallpass'
import { createVerifier, type Verifier, type VerifierOptions } from 'hallpass/verify'
import { hallpass as expressHallpass } from 'hallpass/express'
import { hallpass as fastifyHallpass } from 'hallpass/fastify'

const env = process.env
const framework = env.BENCH_FRAMEWORK
const alg = env.BENCH_ALG
const kid = env.BENCH_KID ?? 'bench'
const issuer = env.BENCH_ISSUER ?? 'http://localhost'
const audience = env.BENCH_AUDIENCE ?? 'https://api.example.com'
const revokedCount = Number(env.BENCH_REVOKED ?? '0')
if ((framework !== 'fastify' && framework !== 'express') || (alg !== 'HS256' && alg !== 'ES256') || env.BENCH_KEY === undefined || env.BENCH_DECRYPTION_KEYS === undefined) {
  throw new Error('BENCH_FRAMEWORK, BENCH_ALG, BENCH_KEY and BENCH_DECRYPTION_KEYS must be set')
}
const decryptionKeys = JSON.parse(env.BENCH_DECRYPTION_KEYS) as { dir: Jwk; ecdh: Jwk }
const secret = alg === 'HS256' ? Buffer.from(env.BENCH_KEY, 'base64url') : undefined
const publicJwk = alg === 'ES256' ? (JSON.parse(env.BENCH_KEY) as Jwk) : undefined

// ---------------------------------------------------------------------------------------------
// The issuer: JWKS and revocation feed, on its own loopback port.

const feedConnections = new Set<ServerResponse>()
const revokedExp = Math.floor(Date.now() / 1000) + 7200
const revocationEvents = Array.from({ length: revokedCount }, (_, i) =>
  `id: ${i + 1}\nevent: revocation\ndata: ${JSON.stringify({ sid: randomBytes(16).toString('base64url'), exp: revokedExp })}\n\n`,
).join('')
const issuerServer = createServer((req, res) => {
  if (req.url === '/jwks.json' && publicJwk !== undefined) {
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: [publicJwk] }))
    return
  }
  if (req.url === '/revocations') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    // The snapshot, then `ready`: the verifier is complete from here on.
    res.write(`retry: 1000\n\n${revocationEvents}event: ready\ndata: {"snapshot":true}\n\n`)
    feedConnections.add(res)
    res.on('close', () => feedConnections.delete(res))
    return
  }
  res.writeHead(404).end()
})
await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve))
const issuerBase = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`
const heartbeat = setInterval(() => {
  for (const res of feedConnections) res.write(': heartbeat\n\n')
}, 15_000)

// ---------------------------------------------------------------------------------------------
// The verifiers.

const keyOptions: Pick<VerifierOptions, 'keys' | 'jwks'> =
  secret !== undefined ? { keys: importKey(secret, { alg: 'HS256', kid }) } : { jwks: { keys: [publicJwk!] } }
const hallpass = await createVerifier({ issuer, audience, ...keyOptions, revocation: false })
const hallpassRev = await createVerifier({ issuer, audience, ...keyOptions, revocation: { feedUrl: `${issuerBase}/revocations` }, logger: false })
const hallpassDir = await createVerifier({ issuer, audience, ...keyOptions, revocation: false, decryption: { keys: [decryptionKeys.dir] } })
const hallpassEcdh = await createVerifier({ issuer, audience, ...keyOptions, revocation: false, decryption: { keys: [decryptionKeys.ecdh] } })
const verifiers: readonly Verifier[] = [hallpass, hallpassRev, hallpassDir, hallpassEcdh]
// Ready only once the whole feed is in the denylist: the rows must measure a populated one.
for (const started = Date.now(); ;) {
  const feed = hallpassRev.health().feed
  if (feed.connected && feed.denylistSize === revokedCount) break
  if (Date.now() - started > 60_000) throw new Error(`the revocation feed did not load (${feed.denylistSize}/${revokedCount})`)
  await new Promise((resolve) => setTimeout(resolve, 20))
}

// ---------------------------------------------------------------------------------------------
// The bare signature check (the /bare route's guard).

const bareKey = secret !== undefined ? createSecretKey(secret) : createPublicKey({ key: publicJwk!, format: 'jwk' })
function bareCheck(authorization: string | undefined): boolean {
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return false
  const dot = authorization.lastIndexOf('.')
  const input = authorization.slice(7, dot)
  const signature = Buffer.from(authorization.slice(dot + 1), 'base64url')
  if (secret !== undefined) {
    const mac = createHmac('sha256', bareKey).update(input).digest()
    return mac.length === signature.length && timingSafeEqual(mac, signature)
  }
  return cryptoVerify('sha256', Buffer.from(input, 'latin1'), { key: bareKey, dsaEncoding: 'ieee-p1363' }, signature)
}
const bareAnswer = { sub: 'signature-ok' }

// ---------------------------------------------------------------------------------------------
// The app.

const anonymous = { sub: 'anonymous' }
let close: () => Promise<void>
let port: number

if (framework === 'fastify') {
  const app = Fastify({ logger: false })
  app.get('/open', () => anonymous)
  await app.register((scope, _options, done) => {
    scope.addHook('onRequest', (request, reply, next) => {
      if (bareCheck(request.headers.authorization)) return next()
      void reply.code(401).send({ error: 'invalid_token' })
    })
    scope.get('/bare', () => bareAnswer)
    done()
  })
  // One encapsulated scope per guard: each hook applies to its own route only.
  for (const [path, verifier] of [['/hallpass', hallpass], ['/hallpass-rev', hallpassRev], ['/hallpass-dir', hallpassDir], ['/hallpass-ecdh', hallpassEcdh]] as const) {
    await app.register(async (scope) => {
      await scope.register(fastifyHallpass, { verifier })
      scope.get(path, (request) => ({ sub: request.auth!.claims.sub }))
    })
  }
  await app.register(async (scope) => {
    await scope.register(fastifyJwt, {
      secret: secret ?? { public: createPublicKey({ key: publicJwk!, format: 'jwk' }).export({ format: 'pem', type: 'spki' }) },
      verify: { algorithms: [alg], allowedIss: issuer, allowedAud: audience },
    })
    scope.addHook('onRequest', async (request) => {
      await request.jwtVerify()
    })
    scope.get('/peer', (request) => ({ sub: (request.user as { sub?: string }).sub }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  port = (app.server.address() as AddressInfo).port
  close = async () => {
    app.server.closeAllConnections()
    await app.close()
  }
} else {
  const app = express()
  app.get('/open', (_req, res) => {
    res.json(anonymous)
  })
  app.get(
    '/bare',
    (req, res, next) => {
      if (bareCheck(req.headers.authorization)) return next()
      res.status(401).json({ error: 'invalid_token' })
    },
    (_req, res) => {
      res.json(bareAnswer)
    },
  )
  app.get('/hallpass', expressHallpass(hallpass), (req, res) => {
    res.json({ sub: req.auth!.claims.sub })
  })
  for (const [path, verifier] of [['/hallpass-rev', hallpassRev], ['/hallpass-dir', hallpassDir], ['/hallpass-ecdh', hallpassEcdh]] as const) {
    app.get(path, expressHallpass(verifier), (req, res) => {
      res.json({ sub: req.auth!.claims.sub })
    })
  }
  const peerSecret =
    secret ?? jwksRsa.expressJwtSecret({ jwksUri: `${issuerBase}/jwks.json`, cache: true, rateLimit: false })
  app.get('/peer', expressjwt({ secret: peerSecret, algorithms: [alg], issuer, audience, requestProperty: 'jwtPayload' }), (req, res) => {
    res.json({ sub: (req as unknown as { jwtPayload: { sub?: string } }).jwtPayload.sub })
  })
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  port = (server.address() as AddressInfo).port
  close = () =>
    new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
}
process.stdout.write(`${JSON.stringify({ port, framework, alg })}\n`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  clearInterval(heartbeat)
  try {
    await close()
    await Promise.all(verifiers.map((v) => v.close()))
    for (const res of feedConnections) res.destroy()
    issuerServer.closeAllConnections()
    issuerServer.close()
  } catch (error) {
    process.stderr.write(`verify-process: shutdown failed: ${String(error)}\n`)
    process.exitCode = 1
  }
  if (process.connected) process.disconnect()
  setTimeout(() => process.exit(), 2000).unref()
}

process.on('message', (message) => {
  if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() })
  if (message === 'metrics') process.send?.({ metrics: { hallpass: hallpass.metrics(), hallpassRev: hallpassRev.metrics(), hallpassDir: hallpassDir.metrics(), hallpassEcdh: hallpassEcdh.metrics() } })
  if (message === 'stop') void stop()
})
process.on('disconnect', () => void stop())
