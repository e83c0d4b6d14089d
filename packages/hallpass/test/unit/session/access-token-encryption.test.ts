// The session manager issuing encrypted access tokens (accessToken.encryption): both key
// models on a real SQLite store, the manager's own check of what it issued, the audience rule
// of the per-audience model, and refused options.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  createJwtDecrypter,
  createJwtVerifier,
  createSessionManager,
  generateEncryptionKey,
  type Jwk,
  type SessionManager,
  type SessionManagerOptions,
} from '../../../src/index.ts'
import { createSqliteStore } from '../../../src/stores/sqlite/index.ts'

const ISSUER = 'https://auth.example.com'

function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

async function withManager(options: Partial<SessionManagerOptions>, run: (sessions: SessionManager) => Promise<void>): Promise<void> {
  const store = createSqliteStore({ path: ':memory:' })
  try {
    await run(await createSessionManager({ store, secret: randomBytes(32), issuer: ISSUER, ...options }))
  } finally {
    await store.close()
  }
}

describe('access-token encryption: shared dir keys', () => {
  const k1 = generateEncryptionKey('dir', 'A256GCM', { kid: 'k1' })
  const k2 = generateEncryptionKey('dir', 'A256GCM', { kid: 'k2' })

  test('login and refresh give nested JWTs a service opens with the key; the manager verifies them', async () => {
    let keys: readonly Jwk[] = [k1]
    await withManager({ accessToken: { encryption: { model: 'shared', keys: () => keys } } }, async (sessions) => {
      const login = await sessions.create({ subject: 'user-1' })
      assert.deepEqual(headerOf(login.accessToken), { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'k1' })
      const inner = createJwtDecrypter({ keys: [k1] })(login.accessToken)
      // The signed JWT inside is the issuer's, checked with its published keys.
      const verify = createJwtVerifier({ keys: sessions.keys.keyring(), issuer: ISSUER })
      assert.equal(verify(inner).claims.sub, 'user-1')
      assert.equal(sessions.verifyAccessToken(login.accessToken).claims.sid, login.session.id)

      // Rotation: the next key first; tokens of the previous one still pass at the issuer.
      keys = [k2, k1]
      const refreshed = await sessions.refresh(login.refreshToken)
      assert.equal(headerOf(refreshed.accessToken).kid, 'k2')
      assert.equal(sessions.verifyAccessToken(login.accessToken).claims.sub, 'user-1')
      keys = [k2]
      assert.throws(() => sessions.verifyAccessToken(login.accessToken), { code: 'ERR_JWE_DECRYPTION_FAILED' })
      assert.equal(sessions.verifyAccessToken(refreshed.accessToken).claims.sub, 'user-1')
    })
  })

  test('a key list that turns bad at run time fails the issue with a config error, not a plain token', async () => {
    let keys: unknown = [k1]
    await withManager({ accessToken: { encryption: { model: 'shared', keys: () => keys as Jwk[] } } }, async (sessions) => {
      const login = await sessions.create({ subject: 'user-1' })
      keys = []
      await assert.rejects(sessions.refresh(login.refreshToken), { code: 'ERR_CONFIG_INVALID' })
    })
  })
})

describe('access-token encryption: each audience its own key', () => {
  const orders = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'orders-1' })
  const billing = generateEncryptionKey('ECDH-ES+A256KW', undefined, { kid: 'billing-1', crv: 'X25519' })
  const published: Record<string, Jwk> = {
    orders: { ...orders, d: undefined },
    billing: { ...billing, d: undefined },
  }
  const keyFor = (audience: string): Jwk => {
    if (!Object.hasOwn(published, audience)) throw new Error(`no key for ${audience}`)
    return published[audience]!
  }

  test('each token opens with its audience\'s key only, and the issuer reads it through its own secret', async () => {
    await withManager({ audience: ['orders', 'billing'], accessToken: { encryption: { model: 'audience', keyFor } } }, async (sessions) => {
      const forOrders = await sessions.create({ subject: 'user-1', audience: 'orders' })
      const forBilling = await sessions.create({ subject: 'user-1', audience: ['billing'] })
      assert.equal(headerOf(forOrders.accessToken).kid, 'orders-1')
      assert.equal((headerOf(forBilling.accessToken).epk as { crv: string }).crv, 'X25519')
      assert.ok(createJwtDecrypter({ keys: [orders] })(forOrders.accessToken).split('.').length === 3)
      assert.throws(() => createJwtDecrypter({ keys: [billing] })(forOrders.accessToken), { code: 'ERR_JWE_DECRYPTION_FAILED' })
      assert.equal(sessions.verifyAccessToken(forOrders.accessToken).claims.aud, 'orders')
      assert.equal(sessions.verifyAccessToken(forBilling.accessToken).claims.aud, 'billing')
    })
  })

  test('a session for several audiences, or for none, is refused before anything is stored', async () => {
    await withManager({ audience: ['orders', 'billing'], accessToken: { encryption: { model: 'audience', keyFor } } }, async (sessions) => {
      for (const audience of [undefined, ['orders', 'billing']]) {
        await assert.rejects(sessions.create({ subject: 'user-2', ...(audience !== undefined ? { audience } : {}) }), { code: 'ERR_SESSION_INPUT_INVALID', field: 'audience' })
      }
      assert.deepEqual(await sessions.list('user-2'), [])
    })
  })

  test('another issuer secret cannot read the tokens', async () => {
    let token = ''
    await withManager({ audience: ['orders'], accessToken: { encryption: { model: 'audience', keyFor } } }, async (sessions) => {
      token = (await sessions.create({ subject: 'user-3' })).accessToken
    })
    await withManager({ audience: ['orders'], accessToken: { encryption: { model: 'audience', keyFor } } }, (other) => {
      assert.throws(() => other.verifyAccessToken(token), { code: 'ERR_JWE_DECRYPTION_FAILED' })
      return Promise.resolve()
    })
  })
})

describe('access-token encryption: refused options', () => {
  const cases: Array<[string, unknown, string]> = [
    ['an unknown model', { model: 'rsa' }, 'ERR_CONFIG_INVALID'],
    ['shared with no keys', { model: 'shared', keys: [] }, 'ERR_CONFIG_INVALID'],
    ['shared with a 16-byte key', { model: 'shared', keys: [generateEncryptionKey('dir', 'A128GCM')] }, 'ERR_KEY_INVALID'],
    ['shared with an ECDH key first', { model: 'shared', keys: [generateEncryptionKey('ECDH-ES+A256KW')] }, 'ERR_KEY_INVALID'],
    ['audience without keyFor', { model: 'audience' }, 'ERR_CONFIG_INVALID'],
    ['an extra member', { model: 'shared', keys: [generateEncryptionKey('dir')], zip: 'DEF' }, 'ERR_CONFIG_INVALID'],
    ['not an object', 'dir', 'ERR_CONFIG_INVALID'],
  ]
  for (const [what, encryption, code] of cases) {
    test(what, async () => {
      const store = createSqliteStore({ path: ':memory:' })
      try {
        await assert.rejects(
          createSessionManager({ store, secret: randomBytes(32), issuer: ISSUER, accessToken: { encryption: encryption as never } }),
          (error: { code?: string }) => error.code === code,
        )
      } finally {
        await store.close()
      }
    })
  }
})
