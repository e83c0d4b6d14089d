// The session manager on the main entry: what create and refresh return, the options it takes
// (durations in seconds, unknown names refused), and the store interface results.
import {
  createSessionManager,
  SESSION_DEFAULTS,
  type AuditEvent,
  type IssuedTokens,
  type JwtVerifier,
  type KeyManager,
  type ReplayClassification,
  type RevocationEntry,
  type RevokeSessionResult,
  type RotateRefreshResult,
  type SessionInfo,
  type SessionManager,
  type SessionManagerOptions,
  type SessionRecord,
  type SessionStore,
} from 'hallpass'
import type * as main from 'hallpass'
import { expectType, use, value, type Equals, type Expect, type HasKey } from './helpers.ts'

declare const store: SessionStore

export type Results = [
  Expect<Equals<ReturnType<SessionManager['create']>, Promise<IssuedTokens>>>,
  Expect<Equals<ReturnType<SessionManager['refresh']>, Promise<IssuedTokens>>>,
  Expect<Equals<ReturnType<SessionManager['revoke']>, Promise<RevokeSessionResult>>>,
  Expect<Equals<ReturnType<SessionManager['revokeAll']>, Promise<readonly RevocationEntry[]>>>,
  Expect<Equals<ReturnType<SessionManager['get']>, Promise<SessionInfo | undefined>>>,
  Expect<Equals<SessionManager['verifyAccessToken'], JwtVerifier>>,
  Expect<Equals<SessionManager['keys'], KeyManager>>,
  Expect<Equals<Parameters<SessionManager['on']>, [listener: (event: AuditEvent) => void]>>,
  Expect<Equals<ReturnType<SessionManager['on']>, () => void>>,
  Expect<Equals<ReturnType<typeof createSessionManager>, Promise<SessionManager>>>,
  // An answer that could not be written is reported with its tokens (or just the refresh token).
  Expect<Equals<Parameters<SessionManager['markUndelivered']>, [tokens: Pick<IssuedTokens, 'refreshToken'>]>>,
  Expect<Equals<ReturnType<SessionManager['reconcileUndelivered']>, Promise<number>>>,
  Expect<Equals<SessionRecord['undeliveredHash'], string | null>>,
]

// Issued tokens: the access token, its lifetime in seconds (`expires_in`), the refresh token
// and its deadline; `replay` only on a grace-window replay. All read-only.
export type Issued = [
  Expect<
    Equals<
      IssuedTokens,
      {
        readonly session: SessionInfo
        readonly accessToken: string
        readonly expiresIn: number
        readonly refreshToken: string
        readonly refreshTokenExpiresAt: number
        readonly replay?: 'concurrent' | 'undelivered'
      }
    >
  >,
  // Callers never see refresh-token hashes: a SessionInfo is a SessionRecord without them.
  Expect<Equals<HasKey<SessionInfo, 'refreshHash'>, false>>,
  Expect<Equals<HasKey<SessionInfo, 'previousHash'>, false>>,
  Expect<Equals<HasKey<SessionRecord, 'refreshHash'>, true>>,
  Expect<Equals<SessionInfo['revokedAt'], number | null>>,
  Expect<Equals<ReplayClassification, 'concurrent' | 'undelivered' | 'previous_after_window' | 'older_generation' | 'after_revocation'>>,
  Expect<Equals<AuditEvent['type'], 'session.created' | 'refresh.rotated' | 'refresh.replayed' | 'refresh.reuse_detected' | 'session.revoked' | 'session.expired'>>,
]

// The options, by name: durations say they are seconds, and an unknown name is an error.
export type Options = [
  Expect<Equals<NonNullable<SessionManagerOptions['refresh']>, { reuseWindowSeconds?: number; idleTimeoutSeconds?: number; absoluteLifetimeSeconds?: number }>>,
  Expect<Equals<NonNullable<SessionManagerOptions['keys']>['algorithm'], main.JwsAlgorithm | undefined>>,
  Expect<Equals<(typeof SESSION_DEFAULTS)['algorithm'], 'ES256'>>,
]

export async function manager(): Promise<void> {
  const sessions = await createSessionManager({
    store,
    secret: 'x'.repeat(32),
    issuer: 'https://auth.example.com',
    audience: ['orders'],
    accessToken: { ttlSeconds: 600, allowedClaims: ['tenant'], maxClaimsBytes: 1024 },
    refresh: { reuseWindowSeconds: 10, idleTimeoutSeconds: 3600, absoluteLifetimeSeconds: 86400 },
    keys: { algorithm: 'EdDSA', rotationIntervalSeconds: 86400, publishLeadSeconds: 3600 },
    resolveClaims: (session) => ({ claims: { tenant: session.subject }, scope: null }),
    now: () => 0,
    randomBytes: (size) => new Uint8Array(size),
  })
  // @ts-expect-error `store`, `secret` and `issuer` are required
  use(await createSessionManager({ store }))
  // @ts-expect-error durations are seconds and say so: `reuseWindowSeconds`
  use(await createSessionManager({ store, secret: '', issuer: '', refresh: { reuseWindow: 10 } }))
  // @ts-expect-error a duration is a number of seconds, not a string such as '15m'
  use(await createSessionManager({ store, secret: '', issuer: '', accessToken: { ttlSeconds: '15m' } }))
  // @ts-expect-error `none` is not an algorithm
  use(await createSessionManager({ store, secret: '', issuer: '', keys: { algorithm: 'none' } }))
  // @ts-expect-error the secret is text or bytes
  use(await createSessionManager({ store, secret: 32, issuer: '' }))
  // @ts-expect-error unknown top-level option
  use(await createSessionManager({ store, secret: '', issuer: '', clock: () => 0 }))

  const issued = await sessions.create({ subject: 'user-1', claims: { tenant: 'acme' }, scope: 'orders:read', audience: 'orders', device: { userAgent: 'ua', ip: '::1', label: 'laptop' } })
  expectType<Equals<typeof issued.accessToken, string>>()
  expectType<Equals<typeof issued.expiresIn, number>>()
  expectType<Equals<typeof issued.replay, 'concurrent' | 'undelivered' | undefined>>()
  // @ts-expect-error `subject` is required
  use(await sessions.create({ scope: 'a' }))
  // @ts-expect-error device facts are userAgent, ip and label
  use(await sessions.create({ subject: 'u', device: { os: 'linux' } }))
  // @ts-expect-error issued tokens are read-only
  issued.refreshToken = ''

  const refreshed = await sessions.refresh(issued.refreshToken, { device: { ip: '::1' } })
  expectType<Equals<typeof refreshed, IssuedTokens>>()
  expectType<Equals<typeof refreshed.session.id, string>>()
  // @ts-expect-error refresh takes the refresh token string
  use(await sessions.refresh({ refreshToken: issued.refreshToken }))

  const revoked = await sessions.revoke(refreshed.session.id, 'logout')
  if (revoked.revoked) expectType<Equals<typeof revoked.entry, RevocationEntry>>()
  else expectType<Equals<typeof revoked.why, 'not_found' | 'already_revoked'>>()
  // @ts-expect-error `entry` exists only once narrowed to `revoked: true`
  use(revoked.entry)

  const inspected = await sessions.inspectRefreshToken(refreshed.refreshToken)
  if (inspected.active) expectType<Equals<typeof inspected.session, SessionInfo>>()
  // @ts-expect-error an inactive token has no session
  use(inspected.session)

  use(await sessions.revokeAll('user-1', { except: refreshed.session.id, reason: 'password_changed' }))
  // @ts-expect-error the defaults are frozen
  SESSION_DEFAULTS.reuseWindowSeconds = 0
  const stop = sessions.on((event) => use(event.type, event.sessionId))
  stop()
}

/** What a store's compare-and-set answers, narrowed by `rotated`. */
export async function storeResults(): Promise<void> {
  const result: RotateRefreshResult = await store.rotateRefreshToken(value())
  if (result.rotated) expectType<Equals<typeof result.session, SessionRecord>>()
  else expectType<Equals<typeof result.session, SessionRecord | undefined>>()
  expectType<Equals<Awaited<ReturnType<SessionStore['readRevocations']>>, RevocationEntry[]>>()
  expectType<Equals<Awaited<ReturnType<SessionStore['subscribeRevocations']>>, () => Promise<void>>>()
}
