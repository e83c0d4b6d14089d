/**
 * @module hallpass/testing
 *
 * The session conformance suite: the `SessionManager` rules (rotation, reuse detection,
 * grace window, revocation, timeouts, key rotation, hostile input) run on a real store. Every
 * store runs it unchanged; each case gets a fresh store and an injected clock.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createJwtVerifier, importJwks } from '../engine/index.ts'
import { isHallpassError, StoreUnavailable, type HallpassErrorCode } from '../errors.ts'
import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../session/manager.ts'
import { issueRefreshToken, tagKeyOf } from '../session/refresh-token.ts'
import { deriveKeys } from '../session/secret.ts'
import type { RotateRefreshInput, SessionStore } from '../session/store.ts'
import type { AuditEvent, SessionRecord } from '../session/types.ts'
import type { StoreUnderTest } from './store-conformance.ts'

export type MakeStore = () => Promise<StoreUnderTest>

const SECRET = 'conformance-secret-0123456789abcdef0123456789'
const ISSUER = 'https://auth.test'
const T0 = Date.UTC(2030, 0, 1)

/** A controllable clock in epoch ms. */
export interface TestClock {
  now: () => number
  advance(seconds: number): void
}

export function createTestClock(start = T0): TestClock {
  let t = start
  return { now: () => t, advance: (seconds) => void (t += seconds * 1000) }
}

async function rejectsWith(promise: Promise<unknown>, code: HallpassErrorCode): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    assert.ok(isHallpassError(error), `expected a HallpassError with ${code}, got ${String(error)}`)
    assert.equal(error.code, code)
    return error
  }
  assert.fail(`expected rejection with ${code}`)
}

/**
 * Registers the suite under `describe(name)`.
 *
 * @example
 * import { describeSessionConformance } from 'hallpass/testing'
 * describeSessionConformance('my-store', async () => ({ store: myStore(), cleanup: async () => {} }))
 */
export function describeSessionConformance(name: string, makeStore: MakeStore, options: { skip?: string | false } = {}): void {
  describe(`session conformance: ${name}`, { skip: options.skip ?? false }, () => {
    async function withManager(
      run: (ctx: { manager: SessionManager; store: SessionStore; clock: TestClock }) => Promise<void>,
      overrides: Partial<SessionManagerOptions> = {},
    ): Promise<void> {
      const underTest = await makeStore()
      const { store } = underTest
      const clock = createTestClock()
      try {
        const manager = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, audience: ['api', 'billing'], now: clock.now, ...overrides })
        await run({ manager, store, clock })
      } finally {
        await underTest.cleanup()
      }
    }

    it('create issues a verifiable access token and an opaque prefixed refresh token', () =>
      withManager(async ({ manager, store, clock }) => {
        const issued = await manager.create({ subject: 'user-1', claims: { role: 'admin' }, scope: 'orders:read orders:write', device: { userAgent: 'UA', ip: '203.0.113.9', label: 'laptop' } })
        assert.match(issued.refreshToken, /^hprt_[A-Za-z0-9_-]{22}\.0\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/)
        assert.equal(issued.expiresIn, 600)
        const { header, claims } = manager.verifyAccessToken(issued.accessToken)
        assert.equal(header.typ, 'at+jwt')
        assert.equal(claims.sub, 'user-1')
        assert.equal(claims.sid, issued.session.id)
        assert.equal(claims.iss, ISSUER)
        assert.deepEqual(claims.aud, ['api', 'billing'])
        assert.equal(claims.scope, 'orders:read orders:write')
        assert.equal(claims.role, 'admin')
        assert.equal(claims.exp, Math.floor(clock.now() / 1000) + 600)
        // Independent verification through the published JWKS, as a service would do it.
        const verify = createJwtVerifier({ keys: importJwks(manager.keys.publicJwks()), issuer: ISSUER, audience: 'billing', now: clock.now })
        assert.equal(verify(issued.accessToken).claims.sub, 'user-1')
        // Only a hash of the refresh token is stored.
        const stored = await store.getSession(issued.session.id)
        assert.ok(stored)
        assert.ok(!JSON.stringify(stored).includes(issued.refreshToken.split('.')[2]!))
        assert.deepEqual(stored.device, { userAgent: 'UA', ip: '203.0.113.9', label: 'laptop' })
      }))

    it('refresh rotates: a new refresh token every time, and the chain moves on', () =>
      withManager(async ({ manager, clock }) => {
        const first = await manager.create({ subject: 'user-1' })
        clock.advance(60)
        const second = await manager.refresh(first.refreshToken, { device: { ip: '198.51.100.7' } })
        assert.notEqual(second.refreshToken, first.refreshToken)
        assert.match(second.refreshToken, /\.1\./)
        assert.equal(second.replay, undefined)
        assert.equal(manager.verifyAccessToken(second.accessToken).claims.sid, first.session.id)
        clock.advance(60)
        const third = await manager.refresh(second.refreshToken)
        assert.match(third.refreshToken, /\.2\./)
        const session = await manager.get(first.session.id)
        assert.equal(session?.device.ip, '198.51.100.7')
        assert.equal(session?.lastSeenAt, clock.now())
      }))

    it('a replay of the previous token inside the grace window gets the same successor', () =>
      withManager(async ({ manager, clock }) => {
        const first = await manager.create({ subject: 'user-1' })
        const second = await manager.refresh(first.refreshToken)
        clock.advance(9)
        const replay = await manager.refresh(first.refreshToken)
        assert.equal(replay.replay, 'concurrent')
        assert.equal(replay.refreshToken, second.refreshToken)
        manager.verifyAccessToken(replay.accessToken)
        // The session still has exactly one live refresh token, and it works.
        const third = await manager.refresh(second.refreshToken)
        assert.match(third.refreshToken, /\.2\./)
        const audit = await manager.audit('user-1')
        assert.ok(audit.some((e) => e.type === 'refresh.replayed' && e.classification === 'concurrent'))
      }))

    it('50 concurrent refreshes of one token all get the same successor', () =>
      withManager(async ({ manager, store }) => {
        const first = await manager.create({ subject: 'racer' })
        const results = await Promise.all(Array.from({ length: 50 }, () => manager.refresh(first.refreshToken)))
        const successors = new Set(results.map((r) => r.refreshToken))
        assert.equal(successors.size, 1)
        assert.equal(results.filter((r) => r.replay === undefined).length, 1)
        const stored = await store.getSession(first.session.id)
        assert.equal(stored?.generation, 1)
        assert.equal(stored?.revokedAt, null)
        assert.equal((await manager.list('racer')).length, 1)
      }))

    it('the previous token after the window is reuse: the session is revoked everywhere', () =>
      withManager(async ({ manager, store, clock }) => {
        const first = await manager.create({ subject: 'victim' })
        const second = await manager.refresh(first.refreshToken)
        clock.advance(11)
        const error = (await rejectsWith(manager.refresh(first.refreshToken), 'ERR_REFRESH_REUSED')) as { classification: string }
        assert.equal(error.classification, 'previous_after_window')
        await rejectsWith(manager.refresh(second.refreshToken), 'ERR_SESSION_REVOKED')
        const session = await manager.get(first.session.id)
        assert.equal(session?.revokeReason, 'refresh_reuse')
        const feed = await store.readRevocations(undefined, 10)
        assert.deepEqual(feed.map((e) => e.sid), [first.session.id])
        assert.ok(feed[0]!.exp >= Math.floor(clock.now() / 1000) + 600)
        const audit = await manager.audit('victim')
        assert.ok(audit.some((e) => e.type === 'refresh.reuse_detected' && e.classification === 'previous_after_window'))
        assert.ok(audit.some((e) => e.type === 'refresh.replayed' && e.classification === 'after_revocation'))
      }))

    it('an older generation replayed, even inside the window, is reuse', () =>
      withManager(async ({ manager }) => {
        const g0 = await manager.create({ subject: 'victim' })
        const g1 = await manager.refresh(g0.refreshToken)
        await manager.refresh(g1.refreshToken)
        const error = (await rejectsWith(manager.refresh(g0.refreshToken), 'ERR_REFRESH_REUSED')) as { classification: string }
        assert.equal(error.classification, 'older_generation')
        assert.equal((await manager.list('victim')).length, 0)
      }))

    it('a token stolen long ago is still recognised when replayed, and every replay after the revocation is one cheap refusal', () =>
      withManager(async ({ manager, store }) => {
        const stolen = await manager.create({ subject: 'victim' })
        let current = stolen
        for (let i = 0; i < 60; i++) current = await manager.refresh(current.refreshToken)
        const error = (await rejectsWith(manager.refresh(stolen.refreshToken), 'ERR_REFRESH_REUSED')) as { classification: string }
        assert.equal(error.classification, 'older_generation')
        await rejectsWith(manager.refresh(current.refreshToken), 'ERR_SESSION_REVOKED')
        await rejectsWith(manager.refresh(stolen.refreshToken), 'ERR_SESSION_REVOKED')
        // One feed entry however often the revoked session's tokens come back.
        assert.deepEqual((await store.readRevocations(undefined, 10)).map((e) => e.sid), [stolen.session.id])
      }))

    it('the tag proves a token was issued here: altered or foreign tags are refused, current or superseded, and change nothing', () =>
      withManager(async ({ manager, store, clock }) => {
        const flip = (c: string): string => (c === 'A' ? 'B' : 'A')
        const alter = (token: string): string[] => {
          const at = token.lastIndexOf('.') + 1
          const tag = token.slice(at)
          return [
            token.slice(0, at) + flip(tag[0]!) + tag.slice(1),
            token.slice(0, -1) + flip(tag[21]!),
            token.slice(0, at) + 'A'.repeat(22),
          ]
        }
        // Another deployment (another secret) issuing a token with the same sid and secret.
        const foreignOf = (token: string): string => {
          const [, generation, secret] = token.slice(5).split('.')
          return issueRefreshToken(tagKeyOf(deriveKeys(`${SECRET}-another-deployment`).refreshTagKey), token.slice(5, 27), Number(generation), secret!)
        }
        const issued = await manager.create({ subject: 'user-1' })
        const before = await store.getSession(issued.session.id)
        for (const token of [...alter(issued.refreshToken), foreignOf(issued.refreshToken)]) {
          await rejectsWith(manager.refresh(token), 'ERR_REFRESH_INVALID')
          assert.equal((await manager.inspectRefreshToken(token)).active, false)
        }
        assert.deepEqual(await store.getSession(issued.session.id), before)
        // A superseded token with a bad tag would otherwise be reuse and revoke the session.
        const next = await manager.refresh(issued.refreshToken)
        clock.advance(11)
        for (const token of [...alter(issued.refreshToken), foreignOf(issued.refreshToken)]) await rejectsWith(manager.refresh(token), 'ERR_REFRESH_INVALID')
        assert.deepEqual(await store.readRevocations(undefined, 10), [])
        assert.equal((await manager.inspectRefreshToken(next.refreshToken)).active, true)
        await rejectsWith(manager.refresh(issued.refreshToken), 'ERR_REFRESH_REUSED')
      }))

    it('forged, malformed and unknown refresh tokens change nothing', () =>
      withManager(async ({ manager, store }) => {
        const issued = await manager.create({ subject: 'user-1' })
        const [prefixAndSid, , issuedSecret, issuedTag] = issued.refreshToken.split('.')
        const before = await store.getSession(issued.session.id)
        const forged = [
          `${prefixAndSid}.0.${'A'.repeat(43)}.${issuedTag}`, // right sid, wrong secret: must not revoke
          `${prefixAndSid}.7.${'A'.repeat(43)}.${'A'.repeat(22)}`,
          `${prefixAndSid}.1.${issuedSecret}.${issuedTag}`, // right secret, wrong generation
          `hprt_${'B'.repeat(22)}.0.${'A'.repeat(43)}.${issuedTag}`, // unknown session
          `${prefixAndSid}.0.${issuedSecret}`, // the shape before tags
        ]
        for (const token of forged) await rejectsWith(manager.refresh(token), 'ERR_REFRESH_INVALID')
        const malformed: unknown[] = [
          '', 'hprt_', issued.refreshToken.slice(0, -1), issued.refreshToken + 'A', issued.refreshToken.replace('hprt_', 'hpat_'),
          issued.refreshToken.replace('.0.', '.00.'), issued.refreshToken.replace('.0.', '.-1.'), 'x'.repeat(100_000),
          `${prefixAndSid}.0.${'A'.repeat(42)}=`, `${prefixAndSid}.0.${'A'.repeat(42)}\n`, 'hprt_%00', 42, null, { token: 1 },
        ]
        for (const token of malformed) await rejectsWith(manager.refresh(token as string), 'ERR_REFRESH_INVALID')
        assert.deepEqual(await store.getSession(issued.session.id), before)
        assert.deepEqual(await store.readRevocations(undefined, 10), [])
        // The genuine token still works after all that.
        await manager.refresh(issued.refreshToken)
      }))

    it('idle timeout and absolute lifetime end sessions; refresh never extends past the absolute deadline', () =>
      withManager(
        async ({ manager, clock }) => {
          const a = await manager.create({ subject: 'idle' })
          clock.advance(3601)
          await rejectsWith(manager.refresh(a.refreshToken), 'ERR_SESSION_EXPIRED')

          let b = await manager.create({ subject: 'long' })
          const absoluteDeadline = b.session.expiresAt
          for (let i = 0; i < 4; i++) {
            clock.advance(3000)
            b = await manager.refresh(b.refreshToken)
            assert.ok(b.refreshTokenExpiresAt <= absoluteDeadline)
            const { claims } = manager.verifyAccessToken(b.accessToken)
            assert.ok(claims.exp! * 1000 <= absoluteDeadline)
          }
          clock.advance(3000) // now past the 4 h absolute lifetime despite recent activity
          const error = (await rejectsWith(manager.refresh(b.refreshToken), 'ERR_SESSION_EXPIRED')) as { deadline: string }
          assert.equal(error.deadline, 'absolute')
          assert.equal((await manager.list('long')).length, 0)
          assert.ok((await manager.audit('idle')).some((e) => e.type === 'session.expired' && e.reason === 'idle'))
        },
        { refresh: { idleTimeoutSeconds: 3600, absoluteLifetimeSeconds: 4 * 3600 } },
      ))

    it('revoke, revokeAll and list', () =>
      withManager(async ({ manager, store }) => {
        const a = await manager.create({ subject: 'alice', device: { label: 'phone' } })
        const b = await manager.create({ subject: 'alice', device: { label: 'laptop' } })
        const c = await manager.create({ subject: 'alice' })
        const other = await manager.create({ subject: 'bob' })
        assert.deepEqual((await manager.list('alice')).map((s) => s.id).sort(), [a, b, c].map((x) => x.session.id).sort())

        const result = await manager.revoke(a.session.id, 'logout')
        assert.equal(result.revoked, true)
        assert.deepEqual(await manager.revoke(a.session.id, 'logout'), { revoked: false, why: 'already_revoked' })
        assert.deepEqual(await manager.revoke('A'.repeat(22)), { revoked: false, why: 'not_found' })
        assert.deepEqual(await manager.revoke("'; DROP TABLE sessions; --"), { revoked: false, why: 'not_found' })
        await rejectsWith(manager.refresh(a.refreshToken), 'ERR_SESSION_REVOKED')

        const entries = await manager.revokeAll('alice', { except: c.session.id })
        assert.deepEqual(entries.map((e) => e.sid), [b.session.id])
        assert.deepEqual((await manager.list('alice')).map((s) => s.id), [c.session.id])
        assert.equal((await manager.list('bob')).length, 1)
        await manager.refresh(other.refreshToken)
        const feed = await store.readRevocations(undefined, 10)
        assert.deepEqual(feed.map((e) => e.sid), [a.session.id, b.session.id])
        assert.equal((await manager.get(b.session.id))?.revokeReason, 'revoked_all')
        assert.equal(await manager.get('nonexistent'), undefined)
      }))

    it('a detected reuse revokes the session even when writing its audit event fails', async () => {
      const underTest = await makeStore()
      let failAudit = false
      // The audit event may live elsewhere than the session (another Redis Cluster shard).
      const store: SessionStore = Object.create(underTest.store, {
        appendAudit: { value: (event: AuditEvent) => (failAudit ? Promise.reject(new StoreUnavailable('audit down (simulated)')) : underTest.store.appendAudit(event)) },
      }) as SessionStore
      try {
        const clock = createTestClock()
        const manager = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now })
        const first = await manager.create({ subject: 'victim' })
        const second = await manager.refresh(first.refreshToken)
        clock.advance(11)
        failAudit = true
        await rejectsWith(manager.refresh(first.refreshToken), 'ERR_STORE_UNAVAILABLE')
        failAudit = false
        assert.equal((await store.getSession(first.session.id))?.revokeReason, 'refresh_reuse')
        await rejectsWith(manager.refresh(second.refreshToken), 'ERR_SESSION_REVOKED')
        assert.deepEqual((await store.readRevocations(undefined, 10)).map((e) => e.sid), [first.session.id])
      } finally {
        await underTest.cleanup()
      }
    })

    it('a genuine token ahead of the stored record (a restored backup) is refused and revokes nothing', async () => {
      const underTest = await makeStore()
      // The store answers with the session as an older backup held it: generation 0.
      let restored: SessionRecord | undefined
      const store: SessionStore = Object.create(underTest.store, {
        rotateRefreshToken: {
          value: async (input: Parameters<SessionStore['rotateRefreshToken']>[0]) =>
            restored === undefined ? underTest.store.rotateRefreshToken(input) : { rotated: false, session: restored },
        },
      }) as SessionStore
      try {
        const manager = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: createTestClock().now })
        const first = await manager.create({ subject: 'restored' })
        const backup = await underTest.store.getSession(first.session.id)
        const second = await manager.refresh(first.refreshToken)
        const third = await manager.refresh(second.refreshToken)
        restored = backup
        await rejectsWith(manager.refresh(third.refreshToken), 'ERR_REFRESH_INVALID')
        assert.equal((await underTest.store.getSession(first.session.id))?.revokedAt, null)
        assert.deepEqual(await underTest.store.readRevocations(undefined, 10), [])
      } finally {
        await underTest.cleanup()
      }
    })

    it('an access-token lifetime lowered since a session refreshed: its revocation still covers the longer tokens', async () => {
      const underTest = await makeStore()
      const { store } = underTest
      const clock = createTestClock()
      try {
        // Issued under a one-hour lifetime, then the operator lowers it to a minute.
        const before = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now, accessToken: { ttlSeconds: 3600 } })
        const one = await before.create({ subject: 'long' })
        const two = await before.create({ subject: 'long' })
        clock.advance(30)
        const refreshed = await before.refresh(one.refreshToken)
        const longest = Math.max(before.verifyAccessToken(refreshed.accessToken).claims.exp!, before.verifyAccessToken(two.accessToken).claims.exp!)
        const after = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now, accessToken: { ttlSeconds: 60 } })
        clock.advance(30)
        const single = await after.revoke(one.session.id, 'logout')
        assert.ok(single.revoked)
        // A verifier keeps the entry until its exp: past every token of the session, with the
        // tolerance a verifier grants, whatever the lifetime is now.
        assert.ok(single.entry.exp >= longest + 30, `entry exp ${single.entry.exp} covers the token exp ${longest}`)
        const [all] = await after.revokeAll('long', { reason: 'logout_all' })
        assert.ok(all !== undefined && all.sid === two.session.id)
        assert.ok(all.exp >= before.verifyAccessToken(two.accessToken).claims.exp! + 30, 'revokeAll too')
        // A session whose tokens are all short still gets a short entry.
        const short = await after.create({ subject: 'short' })
        const shortEntry = await after.revoke(short.session.id, 'logout')
        assert.ok(shortEntry.revoked && shortEntry.entry.exp < longest)
      } finally {
        await underTest.cleanup()
      }
    })

    it('a grace-window replay answered by an instance with a longer lifetime never outlives the session\'s bound', async () => {
      const underTest = await makeStore()
      const { store } = underTest
      const clock = createTestClock()
      try {
        // A rolling change of the lifetime: one instance already at 10 minutes, one still at an hour.
        const short = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now, accessToken: { ttlSeconds: 600 } })
        const long = await createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now, accessToken: { ttlSeconds: 3600 } })
        const first = await short.create({ subject: 'rolling' })
        const rotated = await short.refresh(first.refreshToken)
        clock.advance(5)
        const replay = await long.refresh(first.refreshToken)
        assert.equal(replay.replay, 'concurrent')
        const bound = (await store.getSession(first.session.id))!.maxAccessExp
        const exp = long.verifyAccessToken(replay.accessToken).claims.exp!
        // A revocation's entry lasts until the bound; the replayed token is dead (tolerance included) by then.
        assert.ok(exp + 30 <= bound, `replay exp ${exp} + 30 ≤ ${bound}`)
        assert.ok(exp <= short.verifyAccessToken(rotated.accessToken).claims.exp! + 10 + 5)
      } finally {
        await underTest.cleanup()
      }
    })

    it('every step is in the audit trail and reaches listeners', () =>
      withManager(async ({ manager }) => {
        const seen: string[] = []
        const stop = manager.on((event) => seen.push(event.type))
        manager.on(() => {
          throw new Error('a broken listener must not break anything')
        })
        const a = await manager.create({ subject: 'audited', device: { ip: '192.0.2.1' } })
        await manager.refresh(a.refreshToken)
        await manager.revoke(a.session.id, 'admin')
        stop()
        await manager.create({ subject: 'audited' })
        assert.deepEqual(seen, ['session.created', 'refresh.rotated', 'session.revoked'])
        const trail = await manager.audit('audited')
        assert.deepEqual(trail.map((e) => e.type), ['session.created', 'session.revoked', 'refresh.rotated', 'session.created'])
        assert.equal(trail.at(-1)?.device?.ip, '192.0.2.1')
        assert.equal(trail[1]?.reason, 'admin')
        assert.ok(trail.every((e) => e.subject === 'audited'))
      }))

    it('resolveClaims re-reads claims at refresh', () => {
      let role = 'reader'
      return withManager(
        async ({ manager }) => {
          const a = await manager.create({ subject: 'user-1', claims: { role: 'reader' } })
          role = 'editor'
          const b = await manager.refresh(a.refreshToken)
          assert.equal(manager.verifyAccessToken(b.accessToken).claims.role, 'editor')
        },
        { resolveClaims: () => ({ claims: { role } }) },
      )
    })

    it('hostile input gets a clear code and stores nothing', () =>
      withManager(async ({ manager, store }) => {
        const bad: Array<[unknown, HallpassErrorCode]> = [
          [{ subject: '' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'a\u0000b' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'x'.repeat(257) }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 42 }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { big: 'x'.repeat(5000) } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { sub: 'admin' } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { exp: 99999999999 } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { n: 10n } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: [] }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: new Map() }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', scope: 'a  b' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', scope: 'a"b' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', audience: 'not-configured' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', device: { ip: 7 } }, 'ERR_SESSION_INPUT_INVALID'],
          // Lone surrogates have no UTF-8 form: a store would fold them into one replacement character.
          [{ subject: 'user\uD800' }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: '\uDC00user' }, 'ERR_SESSION_INPUT_INVALID'],
          // JSON.stringify writes what toJSON returns: the names are checked on that.
          [{ subject: 'u', claims: { toJSON: () => ({ nbf: 9e9 }) } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { toJSON: () => ({ client_id: 'admin-console' }) } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { toJSON: () => 'text' } }, 'ERR_SESSION_INPUT_INVALID'],
          [{ subject: 'u', claims: { toJSON: () => undefined } }, 'ERR_SESSION_INPUT_INVALID'],
        ]
        for (const [input, code] of bad) await rejectsWith(manager.create(input as never), code)
        const victim = await manager.create({ subject: 'v' })
        await rejectsWith(manager.revokeAll('v', { except: 7 as never }), 'ERR_SESSION_INPUT_INVALID')
        await rejectsWith(manager.revokeAll('v', null as never), 'ERR_SESSION_INPUT_INVALID')
        await rejectsWith(manager.audit('v', null as never), 'ERR_SESSION_INPUT_INVALID')
        assert.equal((await manager.list('v')).length, 1)
        // No context, or null, is a refresh without device facts.
        const next = await manager.refresh(victim.refreshToken, null as never)
        await manager.refresh(next.refreshToken, 'not-an-object' as never)
        // Device facts are trimmed, never refused: a split surrogate pair or a lone one becomes U+FFFD.
        const emoji = await manager.create({ subject: 'w', device: { userAgent: `${'x'.repeat(511)}🙂`, label: 'a\uD800b' } })
        assert.equal(emoji.session.device.userAgent, `${'x'.repeat(511)}\uFFFD`)
        assert.equal((await store.getSession(emoji.session.id))?.device.label, 'a\uFFFDb')
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        await rejectsWith(manager.create({ subject: 'u', claims: cyclic }), 'ERR_SESSION_INPUT_INVALID')
        assert.deepEqual(await store.listSessions('u', Date.UTC(2030, 0, 1)), [])
        // Odd but valid subjects round-trip exactly.
        for (const subject of ["o'brien", 'ünïcødé 🙂', '{tag}', '%_*', 'a b', 'user@example.com']) {
          const issued = await manager.create({ subject, device: { userAgent: 'x\u0000y'.repeat(1000) } })
          assert.equal(manager.verifyAccessToken(issued.accessToken).claims.sub, subject)
          assert.deepEqual((await manager.list(subject)).map((s) => s.id), [issued.session.id])
          assert.equal(issued.session.device.userAgent?.length, 512)
        }
      }))

    it('keys: the JWKS publishes the next key before it signs, and old tokens verify until they expire', () =>
      withManager(
        async ({ manager, clock }) => {
          const before = await manager.create({ subject: 'user-1' })
          const firstKid = manager.keys.signingKey().kid
          clock.advance(23 * 3600) // the next key is due one publish lead before the rotation
          await manager.keys.maintain()
          assert.equal(manager.keys.publicJwks().keys.length, 2)
          assert.equal(manager.keys.signingKey().kid, firstKid) // published, not yet signing
          clock.advance(3600 - 60)
          const late = await manager.create({ subject: 'user-2' })
          assert.equal(manager.verifyAccessToken(late.accessToken).header.kid, firstKid)
          clock.advance(60)
          assert.notEqual(manager.keys.signingKey().kid, firstKid)
          const after = await manager.refresh(before.refreshToken)
          assert.notEqual(manager.verifyAccessToken(after.accessToken).header.kid, firstKid)
          // A token of the old key still verifies, here and in a service holding the JWKS.
          manager.verifyAccessToken(late.accessToken)
          createJwtVerifier({ keys: importJwks(manager.keys.publicJwks()), issuer: ISSUER, now: clock.now })(late.accessToken)
          // Once every token of the old key has expired, the old key leaves the JWKS.
          clock.advance(600 + 61)
          await manager.keys.maintain()
          assert.deepEqual(manager.keys.publicJwks().keys.map((k) => k.kid), [manager.keys.signingKey().kid])
        },
        { keys: { rotationIntervalSeconds: 24 * 3600, publishLeadSeconds: 3600 } },
      ))

    it('keys: two managers rotating at once agree on one active key; a wrong secret is refused', async () => {
      const underTest = await makeStore()
      const { store } = underTest
      const clock = createTestClock()
      try {
        const options = { store, secret: SECRET, issuer: ISSUER, now: clock.now }
        const [a, b] = await Promise.all([createSessionManager(options), createSessionManager(options)])
        assert.equal(a.keys.signingKey().kid, b.keys.signingKey().kid)
        clock.advance(1)
        await Promise.all([a.keys.rotate({ activateInSeconds: 0 }), b.keys.rotate({ activateInSeconds: 0 })])
        await Promise.all([a.keys.maintain(), b.keys.maintain()])
        assert.equal(a.keys.signingKey().kid, b.keys.signingKey().kid)
        assert.equal(a.keys.keyring().entries.filter((e) => e.state === 'active').length, 1)
        assert.equal(a.keys.keyring().entries.length, 2, 'two rotations at once add one key')
        await rejectsWith(createSessionManager({ ...options, secret: 'a-different-secret-0123456789abcdef0123' }), 'ERR_SECRET_INVALID')
        await rejectsWith(createSessionManager({ ...options, secret: 'short' }), 'ERR_SECRET_INVALID')
        await rejectsWith(createSessionManager({ ...options, secret: undefined as never }), 'ERR_SECRET_INVALID')
        await rejectsWith(createSessionManager({ ...options, secret: 42 as never }), 'ERR_SECRET_INVALID')
        const stored = await store.loadKeyring()
        assert.ok(stored && !stored.data.includes('"d"'), 'private keys are encrypted at rest')
      } finally {
        await underTest.cleanup()
      }
    })

    it('clock skew: decisions follow the injected clock, not the wall clock', () =>
      withManager(async ({ manager, clock }) => {
        const issued = await manager.create({ subject: 'skew' })
        clock.advance(-120) // the clock steps backwards (NTP correction)
        const next = await manager.refresh(issued.refreshToken)
        clock.advance(5)
        const replay = await manager.refresh(issued.refreshToken)
        assert.equal(replay.refreshToken, next.refreshToken)
        assert.ok(issued.session.createdAt > Date.now() + 86_400_000, 'this suite runs far from the wall clock')
      }))

    describeLostAnswers(makeStore)
  })
}

/** A store whose next rotation calls fail on demand, after committing (the answer is lost) or before. */
interface LossyStore {
  readonly store: SessionStore
  /** The next rotation call commits, then fails as if the connection dropped before its answer. */
  loseNextAnswer(): void
  /** The next rotation call fails without reaching the store. */
  failNext(): void
  /** The next audit append fails. */
  failNextAudit(): void
}

function lossy(inner: SessionStore): LossyStore {
  const faults: Array<'after' | 'before'> = []
  let failAudit = false
  const store = Object.create(inner, {
    appendAudit: {
      value: (event: AuditEvent) => {
        if (!failAudit) return inner.appendAudit(event)
        failAudit = false
        return Promise.reject(new StoreUnavailable('audit down (simulated)'))
      },
    },
    rotateRefreshToken: {
      value: async (input: RotateRefreshInput) => {
        const fault = faults.shift()
        if (fault === 'before') throw new StoreUnavailable('the store is unreachable (simulated)')
        const result = await inner.rotateRefreshToken(input)
        if (fault === 'after') throw new StoreUnavailable('the answer was lost (simulated)')
        return result
      },
    },
  }) as SessionStore
  return { store, loseNextAnswer: () => void faults.push('after'), failNext: () => void faults.push('before'), failNextAudit: () => void (failAudit = true) }
}

async function rejectsAsReuse(promise: Promise<unknown>, classification: string): Promise<void> {
  const error = (await rejectsWith(promise, 'ERR_REFRESH_REUSED')) as { classification: string }
  assert.equal(error.classification, classification)
}

// docs/design.md, "A lost answer is not theft": a rotation whose answer is known to be lost is
// answered again, once, to the first return of its predecessor; everything else is as before.
function describeLostAnswers(makeStore: MakeStore): void {
  describe('a lost answer is not theft', () => {
    interface LostAnswerContext {
      /** A manager on the store through `lossy`. */
      manager: SessionManager
      /** The store itself, to read records and to run other instances on. */
      store: SessionStore
      lossy: LossyStore
      /** Refreshes with `token` through `manager`: the rotation commits, its answer is lost (a 503). */
      lose: (token: string) => Promise<void>
      clock: TestClock
      /** Another instance on the same store (and clock), whose calls never fail. */
      other: () => Promise<SessionManager>
    }
    async function withLossyStore(run: (ctx: LostAnswerContext) => Promise<void>): Promise<void> {
      const underTest = await makeStore()
      const clock = createTestClock()
      const faulty = lossy(underTest.store)
      const open = (store: SessionStore) => createSessionManager({ store, secret: SECRET, issuer: ISSUER, now: clock.now })
      try {
        const manager = await open(faulty.store)
        const lose = async (token: string): Promise<void> => {
          faulty.loseNextAnswer()
          await rejectsWith(manager.refresh(token), 'ERR_STORE_UNAVAILABLE')
        }
        await run({ manager, store: underTest.store, lossy: faulty, lose, clock, other: () => open(underTest.store) })
      } finally {
        await underTest.cleanup()
      }
    }

    for (const seconds of [30, 600]) {
      it(`the rotation committed but its answer was lost: the retry ${seconds} s later gets the same successor, and the session lives`, () =>
        withLossyStore(async ({ manager, store, lose, clock }) => {
          const first = await manager.create({ subject: 'owner' })
          await lose(first.refreshToken)
          assert.equal((await store.getSession(first.session.id))?.generation, 1, 'the rotation committed')
          clock.advance(seconds)
          const retry = await manager.refresh(first.refreshToken)
          assert.equal(retry.replay, 'undelivered')
          assert.match(retry.refreshToken, /\.1\./)
          // A fresh access token of the full lifetime, not one bounded by the lost rotation's time.
          assert.equal(manager.verifyAccessToken(retry.accessToken).claims.exp, Math.floor(clock.now() / 1000) + 600)
          const stored = await store.getSession(first.session.id)
          assert.equal(stored?.generation, 1)
          assert.equal(stored?.undeliveredHash, null)
          assert.equal(stored?.rotatedAt, clock.now())
          const next = await manager.refresh(retry.refreshToken)
          assert.equal(next.replay, undefined)
          assert.match(next.refreshToken, /\.2\./)
          const audit = await manager.audit('owner')
          assert.ok(audit.some((e) => e.type === 'refresh.replayed' && e.classification === 'undelivered'))
          assert.ok(!audit.some((e) => e.type === 'refresh.reuse_detected'))
        }))
    }

    it('it works once: the predecessor again within the window is a racer, after it reuse', () =>
      withLossyStore(async ({ manager, lose, clock }) => {
        const first = await manager.create({ subject: 'owner' })
        await lose(first.refreshToken)
        clock.advance(30)
        const retry = await manager.refresh(first.refreshToken)
        assert.equal(retry.replay, 'undelivered')
        // The answer again is an issue like a rotation: its racers share it for the grace window.
        clock.advance(5)
        const racer = await manager.refresh(first.refreshToken)
        assert.equal(racer.replay, 'concurrent')
        assert.equal(racer.refreshToken, retry.refreshToken)
        clock.advance(11)
        await rejectsAsReuse(manager.refresh(first.refreshToken), 'previous_after_window')
        await rejectsWith(manager.refresh(retry.refreshToken), 'ERR_SESSION_REVOKED')
      }))

    it('the predecessor after its successor was used still revokes the session, and a mark never outlives that use', () =>
      withLossyStore(async ({ manager, store, lose, clock }) => {
        const first = await manager.create({ subject: 'owner' })
        await lose(first.refreshToken)
        clock.advance(30)
        const retry = await manager.refresh(first.refreshToken)
        await manager.refresh(retry.refreshToken)
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(first.refreshToken), 'older_generation')

        // Marked, then used before its predecessor came back: the rotation spent the mark.
        const other = await manager.create({ subject: 'owner' })
        const second = await manager.refresh(other.refreshToken)
        assert.equal(await manager.markUndelivered(second), true)
        clock.advance(30)
        await manager.refresh(second.refreshToken)
        assert.equal((await store.getSession(other.session.id))?.undeliveredHash, null)
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(second.refreshToken), 'previous_after_window')
        assert.equal((await manager.list('owner')).length, 0)
      }))

    it('a thief and the owner alternating are caught: the leniency serves one of them, once', async () => {
      await withLossyStore(async ({ manager, lose, clock }) => {
        // Both hold T1; one's refresh with it commits T2 but its answer is lost. Whichever comes
        // back first with T1 gets T2, once; the other, coming back after the window, revokes.
        const t0 = await manager.create({ subject: 'victim' })
        const t1 = await manager.refresh(t0.refreshToken)
        clock.advance(60)
        await lose(t1.refreshToken)
        clock.advance(30)
        const served = await manager.refresh(t1.refreshToken)
        assert.equal(served.replay, 'undelivered')
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(t1.refreshToken), 'previous_after_window')
        await rejectsWith(manager.refresh(served.refreshToken), 'ERR_SESSION_REVOKED')
        assert.equal((await manager.get(t0.session.id))?.revokeReason, 'refresh_reuse')
      })
      // Without a lost answer, nothing changed: the second of the two to come back revokes.
      await withLossyStore(async ({ manager, clock }) => {
        const t0 = await manager.create({ subject: 'victim' })
        const stolen = await manager.refresh(t0.refreshToken)
        clock.advance(60)
        await manager.refresh(stolen.refreshToken)
        clock.advance(60)
        await rejectsAsReuse(manager.refresh(stolen.refreshToken), 'previous_after_window')
      })
    })

    it('a rotation that never reached the store: the retry simply rotates, and no leniency is left behind', () =>
      withLossyStore(async ({ manager, store, lossy, clock }) => {
        const first = await manager.create({ subject: 'owner' })
        lossy.failNext()
        await rejectsWith(manager.refresh(first.refreshToken), 'ERR_STORE_UNAVAILABLE')
        assert.equal((await store.getSession(first.session.id))?.generation, 0)
        clock.advance(30)
        const next = await manager.refresh(first.refreshToken)
        assert.equal(next.replay, undefined)
        assert.match(next.refreshToken, /\.1\./)
        assert.equal(await manager.reconcileUndelivered(), 0)
        assert.equal((await store.getSession(first.session.id))?.undeliveredHash, null)
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(first.refreshToken), 'previous_after_window')
      }))

    const failedRetries = [
      ['the store still failing at the first retry', (lossy: LossyStore) => lossy.failNext()],
      ['the answer given again lost too (its audit write fails)', (lossy: LossyStore) => lossy.failNextAudit()],
    ] as const
    for (const [what, fail] of failedRetries) {
      it(`${what}: a later retry gets the successor`, () =>
        withLossyStore(async ({ manager, lose, lossy, clock }) => {
          const first = await manager.create({ subject: 'owner' })
          await lose(first.refreshToken)
          clock.advance(30)
          fail(lossy)
          await rejectsWith(manager.refresh(first.refreshToken), 'ERR_STORE_UNAVAILABLE')
          clock.advance(30)
          assert.equal((await manager.refresh(first.refreshToken)).replay, 'undelivered')
        }))
    }

    it('another instance honours a lost answer once this one has told the store, and only the rotation that was lost', () =>
      withLossyStore(async ({ manager, lose, store, lossy, clock, other }) => {
        const second = await other()
        const first = await manager.create({ subject: 'owner' })
        await lose(first.refreshToken)
        // The same rotation made again elsewhere, after this instance's attempt never arrived:
        // that answer was delivered, so it must not be marked.
        const elsewhere = await manager.create({ subject: 'owner' })
        lossy.failNext()
        await rejectsWith(manager.refresh(elsewhere.refreshToken), 'ERR_STORE_UNAVAILABLE')
        clock.advance(1)
        await second.refresh(elsewhere.refreshToken)
        clock.advance(6)
        assert.equal(await manager.reconcileUndelivered(), 1)
        const stored = await store.getSession(first.session.id)
        assert.equal(stored?.undeliveredHash, stored?.refreshHash)
        assert.equal((await store.getSession(elsewhere.session.id))?.undeliveredHash, null)
        clock.advance(30)
        assert.equal((await second.refresh(first.refreshToken)).replay, 'undelivered')
        await rejectsAsReuse(second.refresh(elsewhere.refreshToken), 'previous_after_window')
      }))

    it('markUndelivered: an answer the server could not write is answered again to its predecessor', () =>
      withLossyStore(async ({ manager, store, clock }) => {
        const first = await manager.create({ subject: 'owner' })
        const second = await manager.refresh(first.refreshToken)
        assert.equal(await manager.markUndelivered(second), true)
        const stored = await store.getSession(first.session.id)
        assert.equal(stored?.undeliveredHash, stored?.refreshHash)
        clock.advance(30)
        const again = await manager.refresh(first.refreshToken)
        assert.equal(again.replay, 'undelivered')
        assert.equal(again.refreshToken, second.refreshToken)
        // Nothing to mark: a login's token (no predecessor), a superseded one.
        assert.equal(await manager.markUndelivered(first), false)
        await manager.refresh(second.refreshToken)
        assert.equal(await manager.markUndelivered(second), false)
        await rejectsWith(manager.markUndelivered({ refreshToken: `${second.refreshToken.slice(0, -1)}A` }), 'ERR_REFRESH_INVALID')
        await rejectsWith(manager.markUndelivered({ refreshToken: 'hprt_x' }), 'ERR_REFRESH_INVALID')
        await rejectsWith(manager.markUndelivered(null as never), 'ERR_SESSION_INPUT_INVALID')
      }))

    it('a grace-window answer spends a mark: a later return of the predecessor is reuse', () =>
      withLossyStore(async ({ manager, lose, clock }) => {
        const first = await manager.create({ subject: 'owner' })
        await lose(first.refreshToken)
        clock.advance(6)
        assert.equal(await manager.reconcileUndelivered(), 1)
        clock.advance(2)
        assert.equal((await manager.refresh(first.refreshToken)).replay, 'concurrent')
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(first.refreshToken), 'previous_after_window')
      }))

    it('hostile: a mark yields the same successor to its predecessor and nothing else', () =>
      withLossyStore(async ({ manager, store, lose, clock }) => {
        const g0 = await manager.create({ subject: 'victim' })
        const g1 = await manager.refresh(g0.refreshToken)
        clock.advance(60)
        await lose(g1.refreshToken)
        clock.advance(6)
        assert.equal(await manager.reconcileUndelivered(), 1)
        const before = await store.getSession(g0.session.id)
        // A forged or altered token changes nothing, mark included.
        const tampered = `${g1.refreshToken.slice(0, -2)}${g1.refreshToken.endsWith('AA') ? 'BB' : 'AA'}`
        await rejectsWith(manager.refresh(tampered), 'ERR_REFRESH_INVALID')
        assert.deepEqual(await store.getSession(g0.session.id), before)
        // An older generation is reuse, mark or not.
        clock.advance(30)
        await rejectsAsReuse(manager.refresh(g0.refreshToken), 'older_generation')
        await rejectsWith(manager.refresh(g1.refreshToken), 'ERR_SESSION_REVOKED')
      }))
  })
}
