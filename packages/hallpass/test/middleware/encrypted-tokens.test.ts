// Encrypted access tokens over HTTP: one table of hostile JWEs, run unchanged against every
// adapter (Express, Fastify, Hono, node authenticate and authenticateAsync), each on a real
// port, each backed by real verifiers (`decryption` option) that get their signing keys and
// revocations from a real issuer on a socket. Every row asserts the status, the exact
// WWW-Authenticate header and whether the route handler ran; the engine's own refusals are
// in test/engine/jwe/token-encryption.test.ts. The verified-token cache is checked too: a
// cached encrypted token is forgotten when the decryption keys change.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { getRequestListener } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { CompactEncrypt } from 'jose'
import { createJwtEncrypter, generateEncryptionKey, generateKey, signJwt, type Jwk, type JwtClaims } from '../../src/index.ts'
import { createVerifier, type Verifier } from '../../src/verify/index.ts'
import { hallpass as expressHallpass } from '../../src/middleware/express.ts'
import { hallpass as fastifyHallpass } from '../../src/middleware/fastify.ts'
import { hallpass as honoHallpass } from '../../src/middleware/hono.ts'
import { authenticate, authenticateAsync } from '../../src/middleware/node.ts'
import { accessClaims, startIssuer, waitFor, type TestIssuer } from '../verify/helpers/issuer.ts'

// --- Keys and tokens --------------------------------------------------------------------------

const signingKey = generateKey('ES256', { kid: 'es' })
const dirKey = generateEncryptionKey('dir', 'A256GCM', { kid: 'svc-dir' })
const dirBytes = new Uint8Array(Buffer.from(dirKey.k!, 'base64url'))
const ecdhKey = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'svc-ecdh' })
const { d: _d, ...ecdhPublic } = ecdhKey
const encryptDir = createJwtEncrypter(dirKey)
const encryptEcdh = createJwtEncrypter(ecdhPublic)

const b64u = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const headerOf = (jwe: string): Record<string, unknown> => JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>

/** Replaces segment `index` of a compact token. */
function replaceSegment(token: string, index: number, value: string): string {
  return token.split('.').map((segment, i) => (i === index ? value : segment)).join('.')
}

/** What anyone holding (or encrypting to) a key can make: jose encrypts any plaintext under any header. */
function joseSeal(plaintext: string, header: Record<string, unknown>, key: unknown): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header as never).encrypt(key as never)
}

/** Five well-formed segments under `header`, with junk where the key material would be. */
function junkJwe(header: Record<string, unknown>, encryptedKeyBytes: number): string {
  return [b64u(JSON.stringify(header)), b64u(randomBytes(encryptedKeyBytes)), b64u(randomBytes(12)), b64u(randomBytes(300)), b64u(randomBytes(16))].join('.')
}

async function makeTokens(issuer: TestIssuer): Promise<Tokens> {
  const claims = accessClaims(issuer.url, Date.now())
  const plain = issuer.sign(claims)
  const nowSeconds = Math.floor(Date.now() / 1000)
  const ecdh = encryptEcdh(plain)
  const epk = headerOf(ecdh).epk as Record<string, string>
  const offCurveY = Buffer.from(epk.y!, 'base64url')
  offCurveY[31]! ^= 1
  const dir = encryptDir(plain)
  const tag = Buffer.from(dir.split('.')[4]!, 'base64url')
  const ciphertext = Buffer.from(dir.split('.')[3]!, 'base64url')
  ciphertext[0]! ^= 0x80
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
  const attacker = generateKey('ES256', { kid: 'es' })
  return {
    claims,
    plain,
    dir,
    ecdh,
    a128gcm: await joseSeal(plain, { alg: 'dir', enc: 'A128GCM', cty: 'JWT', kid: 'svc-dir' }, randomBytes(16)),
    cbc: await joseSeal(plain, { alg: 'dir', enc: 'A256CBC-HS512', cty: 'JWT', kid: 'svc-dir' }, randomBytes(64)),
    a256kw: await joseSeal(plain, { alg: 'A256KW', enc: 'A256GCM', cty: 'JWT', kid: 'svc-dir' }, dirBytes),
    rsaOaep: await joseSeal(plain, { alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' }, rsa),
    ecdhDirect: await joseSeal(plain, { alg: 'ECDH-ES', enc: 'A256GCM', cty: 'JWT', kid: 'svc-ecdh' }, { ...ecdhPublic, alg: 'ECDH-ES' }),
    zip: await joseSeal(plain, { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'svc-dir', zip: 'DEF' }, dirBytes),
    pbes2: junkJwe({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'JWT', p2c: 2 ** 31, p2s: b64u(randomBytes(16)) }, 40),
    rsa15: junkJwe({ alg: 'RSA1_5', enc: 'A256GCM', cty: 'JWT' }, 256),
    invalidCurve: replaceSegment(ecdh, 0, b64u(JSON.stringify({ ...headerOf(ecdh), epk: { ...epk, y: b64u(offCurveY) } }))),
    epkPrivate: replaceSegment(ecdh, 0, b64u(JSON.stringify({ ...headerOf(ecdh), epk: { ...epk, d: b64u(randomBytes(32)) } }))),
    truncatedTag: replaceSegment(dir, 4, b64u(tag.subarray(0, 15))),
    flippedCiphertext: replaceSegment(dir, 3, b64u(ciphertext)),
    // Sign/encrypt confusion (docs/security.md A9): the attacker holds the key, the issuer signed nothing.
    unsignedInner: await joseSeal(`${b64u('{"alg":"none","typ":"at+jwt"}')}.${b64u(JSON.stringify(claims))}.`, { alg: 'dir', enc: 'A256GCM', cty: 'JWT' }, dirBytes),
    rawClaims: await joseSeal(JSON.stringify(claims), { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT' }, ecdhPublic),
    untrustedSigner: encryptDir(signJwt(claims, attacker)),
    expired: encryptDir(issuer.sign({ ...claims, iat: nowSeconds - 7200, exp: nowSeconds - 3600 })),
    wrongAud: encryptDir(issuer.sign({ ...claims, aud: 'billing' })),
    revoked: encryptDir(issuer.sign({ ...claims, sid: 'sid-revoked' })),
    // A JWT over the verifier's 8 KiB limit, in a JWE under the 16 KiB bearer header limit.
    oversizeInner: encryptDir(signJwt({ ...claims, pad: 'x'.repeat(6.5 * 1024) }, signingKey, { maxTokenBytes: 20_000 })),
    wrongKey: createJwtEncrypter(generateEncryptionKey('dir', 'A256GCM', { kid: 'svc-dir' }))(plain),
  }
}

// --- The table --------------------------------------------------------------------------------

type Tokens = { claims: JwtClaims } & Record<
  | 'plain' | 'dir' | 'ecdh' | 'a128gcm' | 'cbc' | 'a256kw' | 'rsaOaep' | 'ecdhDirect' | 'zip' | 'pbes2' | 'rsa15' | 'invalidCurve'
  | 'epkPrivate' | 'truncatedTag' | 'flippedCiphertext' | 'unsignedInner' | 'rawClaims' | 'untrustedSigner' | 'expired' | 'wrongAud'
  | 'revoked' | 'oversizeInner' | 'wrongKey',
  string
>

/** Verifiers by route: `decryption: { keys: [dirKey] }`, `[ecdhKey]`, dir keys with plain tokens allowed, and none. */
type Path = '/dir' | '/ecdh' | '/mixed' | '/plain'

interface Row {
  name: string
  path: Path
  token: (tokens: Tokens) => string
  /** 200 with the token's claims, or 401 with this error_description. */
  refused?: string
}

const INVALID = 'The encrypted token is invalid'
const UNDECRYPTABLE = 'The encrypted token could not be decrypted'
const challengeOf = (description: string): string => `Bearer realm="hallpass", error="invalid_token", error_description="${description}"`

const ROWS: Row[] = [
  { name: 'a valid encrypted token (dir)', path: '/dir', token: (t) => t.dir },
  { name: 'a valid encrypted token (ECDH-ES+A256KW)', path: '/ecdh', token: (t) => t.ecdh },
  { name: 'a plain valid token where only encrypted ones are accepted', path: '/dir', token: (t) => t.plain, refused: INVALID },
  { name: 'allowPlainTokens: a plain valid token', path: '/mixed', token: (t) => t.plain },
  { name: 'allowPlainTokens: an encrypted token', path: '/mixed', token: (t) => t.dir },
  { name: 'allowPlainTokens: still no unsigned inner token', path: '/mixed', token: (t) => t.unsignedInner, refused: INVALID },
  { name: 'enc A128GCM', path: '/dir', token: (t) => t.a128gcm, refused: INVALID },
  { name: 'enc A256CBC-HS512', path: '/dir', token: (t) => t.cbc, refused: INVALID },
  { name: 'alg A256KW under the dir key bytes', path: '/dir', token: (t) => t.a256kw, refused: INVALID },
  { name: 'alg RSA-OAEP-256', path: '/dir', token: (t) => t.rsaOaep, refused: INVALID },
  { name: 'alg ECDH-ES (direct) to the ECDH key', path: '/ecdh', token: (t) => t.ecdhDirect, refused: INVALID },
  { name: 'a dir token at an ECDH-only verifier', path: '/ecdh', token: (t) => t.dir, refused: INVALID },
  { name: 'zip: "DEF"', path: '/dir', token: (t) => t.zip, refused: INVALID },
  { name: 'PBES2 with p2c = 2^31', path: '/dir', token: (t) => t.pbes2, refused: INVALID },
  { name: 'RSA1_5', path: '/dir', token: (t) => t.rsa15, refused: INVALID },
  { name: 'invalid-curve epk (a point off P-256)', path: '/ecdh', token: (t) => t.invalidCurve, refused: UNDECRYPTABLE },
  { name: 'epk carrying a private key', path: '/ecdh', token: (t) => t.epkPrivate, refused: INVALID },
  { name: 'tag truncated to 15 bytes', path: '/dir', token: (t) => t.truncatedTag, refused: INVALID },
  { name: 'a flipped ciphertext bit', path: '/dir', token: (t) => t.flippedCiphertext, refused: UNDECRYPTABLE },
  { name: 'a JWE at a verifier without decryption keys', path: '/plain', token: (t) => t.dir, refused: INVALID },
  { name: 'a plain token at a verifier without decryption keys', path: '/plain', token: (t) => t.plain },
  { name: 'unsigned inner token (alg none), correctly encrypted', path: '/dir', token: (t) => t.unsignedInner, refused: INVALID },
  { name: 'raw claims JSON inside', path: '/ecdh', token: (t) => t.rawClaims, refused: INVALID },
  { name: 'inner token signed by an untrusted key under the issuer\'s kid', path: '/dir', token: (t) => t.untrustedSigner, refused: 'The token signature is invalid' },
  { name: 'expired inner token', path: '/dir', token: (t) => t.expired, refused: 'The token has expired' },
  { name: 'inner token for another audience', path: '/dir', token: (t) => t.wrongAud, refused: 'The token claims are invalid' },
  { name: 'a revoked session\'s encrypted token (denylist)', path: '/dir', token: (t) => t.revoked, refused: 'The session has been revoked' },
  { name: 'inner token over 8 KiB', path: '/dir', token: (t) => t.oversizeInner, refused: 'The token is too large' },
  { name: 'encrypted under another key with the same kid', path: '/dir', token: (t) => t.wrongKey, refused: UNDECRYPTABLE },
]

// --- Adapters under test ----------------------------------------------------------------------

type Routes = Readonly<Record<string, Verifier>>

interface Listening {
  readonly url: string
  close(): Promise<void>
}

interface Adapter {
  readonly name: string
  /** Mounts one route per verifier, each answering `{ claims }` once authenticated. */
  listen(routes: Routes, reached: () => void): Promise<Listening>
}

async function onSocket(listener: RequestListener): Promise<Listening> {
  const server = createServer(listener).listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  }
}

const ADAPTERS: Adapter[] = [
  {
    name: 'Express',
    listen(routes, reached) {
      const app = express()
      for (const [path, verifier] of Object.entries(routes)) {
        app.get(path, expressHallpass(verifier), (req, res) => {
          reached()
          res.json({ claims: req.auth?.claims })
        })
      }
      return onSocket(app)
    },
  },
  {
    name: 'Fastify',
    async listen(routes, reached) {
      const app = Fastify()
      for (const [path, verifier] of Object.entries(routes)) {
        // One encapsulated scope per verifier, as a service with several audiences would have.
        await app.register(async (scope) => {
          await scope.register(fastifyHallpass, { verifier })
          scope.get(path, (request) => {
            reached()
            return { claims: request.auth?.claims }
          })
        })
      }
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { url, close: () => app.close() }
    },
  },
  {
    name: 'Hono',
    listen(routes, reached) {
      const app = new Hono()
      for (const [path, verifier] of Object.entries(routes)) {
        app.get(path, honoHallpass(verifier), (c) => {
          reached()
          return c.json({ claims: c.get('auth')?.claims })
        })
      }
      // What @hono/node-server's serve() mounts on its node:http server.
      const listener = getRequestListener(app.fetch)
      return onSocket((req, res) => void listener(req, res))
    },
  },
  ...([['node authenticate', authenticate], ['node authenticateAsync', authenticateAsync]] as const).map(([name, authenticateWith]): Adapter => ({
    name,
    listen(routes, reached) {
      return onSocket((req, res) => {
        void Promise.resolve(authenticateWith(req, res, routes[req.url!]!)).then((claims) => {
          if (claims === undefined) return
          reached()
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ claims }))
        })
      })
    },
  })),
]

interface Reply {
  status: number
  challenge: string | null
  body: { claims?: JwtClaims; error?: string }
}

async function send(url: string, token: string): Promise<Reply> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as Reply['body'] }
}

// --- Run --------------------------------------------------------------------------------------

describe('encrypted access tokens: one table, every adapter', () => {
  let issuer: TestIssuer
  let tokens: Tokens
  let routes: Record<Path, Verifier>

  before(async () => {
    issuer = await startIssuer({ keys: [signingKey] })
    const verifierWith = (decryption?: Parameters<typeof createVerifier>[0]['decryption']): Promise<Verifier> =>
      createVerifier({ issuer: issuer.url, audience: 'orders', logger: false, ...(decryption === undefined ? {} : { decryption }) })
    routes = {
      '/dir': await verifierWith({ keys: [dirKey] }),
      '/ecdh': await verifierWith({ keys: [ecdhKey] }),
      '/mixed': await verifierWith({ keys: [dirKey], allowPlainTokens: true }),
      '/plain': await verifierWith(),
    }
    tokens = await makeTokens(issuer)
    issuer.revoke('sid-revoked', Math.floor(Date.now() / 1000) + 600)
    await waitFor(() => Object.values(routes).every((v) => v.health().feed.denylistSize === 1), 'the revocation to reach every denylist')
  })

  after(async () => {
    await Promise.all(Object.values(routes).map((v) => v.close()))
    await issuer.close()
  })

  for (const adapter of ADAPTERS) {
    describe(adapter.name, () => {
      let server: Listening
      let reached = 0
      // The cache test's own verifier: its keys are a function the test changes.
      let rotatingKeys: readonly Jwk[] = [dirKey]
      let rotating: Verifier

      before(async () => {
        rotating = await createVerifier({ issuer: issuer.url, audience: 'orders', logger: false, revocation: false, decryption: { keys: () => rotatingKeys } })
        server = await adapter.listen({ ...routes, '/rotating': rotating }, () => reached++)
      })
      after(async () => {
        await server.close()
        await rotating.close()
      })

      for (const row of ROWS) {
        it(row.name, async () => {
          const before = reached
          const reply = await send(server.url + row.path, row.token(tokens))
          if (row.refused === undefined) {
            assert.equal(reply.status, 200, `status (body ${JSON.stringify(reply.body)})`)
            assert.equal(reply.challenge, null)
            assert.deepEqual(reply.body.claims, tokens.claims)
          } else {
            assert.equal(reply.status, 401, `status (body ${JSON.stringify(reply.body)})`)
            assert.equal(reply.challenge, challengeOf(row.refused), 'WWW-Authenticate')
            assert.equal(reply.body.error, 'invalid_token')
          }
          assert.equal(reached - before, row.refused === undefined ? 1 : 0, row.refused === undefined ? 'handler reached' : 'handler not reached')
        })
      }

      it('cache: a repeated encrypted token hits; once the keys function drops its key, it is refused', async () => {
        const token = encryptDir(issuer.sign(accessClaims(issuer.url, Date.now())))
        const start = rotating.metrics().cache!
        // Admission (token-cache.ts): a token is cached on its second verification, a hit from the third.
        for (let i = 0; i < 3; i++) assert.equal((await send(`${server.url}/rotating`, token)).status, 200)
        const warm = rotating.metrics().cache!
        assert.equal(warm.misses - start.misses, 2)
        assert.equal(warm.hits - start.hits, 1)
        assert.equal(warm.size, start.size + 1)

        const otherKey = generateEncryptionKey('dir', 'A256GCM', { kid: 'svc-dir-2' })
        rotatingKeys = [otherKey]
        const before = reached
        const reply = await send(`${server.url}/rotating`, token)
        assert.equal(reply.status, 401)
        assert.equal(reply.challenge, challengeOf(UNDECRYPTABLE))
        assert.equal(reached, before, 'handler not reached')
        assert.equal(rotating.metrics().cache!.size, 0, 'the cache was emptied')
        // The new key is in use at once.
        assert.equal((await send(`${server.url}/rotating`, createJwtEncrypter(otherKey)(issuer.sign(accessClaims(issuer.url, Date.now()))))).status, 200)
      })
    })
  }
})
