/**
 * @module hallpass
 *
 * `SessionManager`: creates sessions, rotates refresh tokens with reuse detection, revokes,
 * lists, and keeps the audit trail. It talks to storage only through `SessionStore`; time and
 * randomness are injected so every rule is testable to the millisecond.
 *
 * Refresh rotation follows the OAuth 2.0 Security BCP (RFC 9700 §4.14.2): every refresh returns
 * a new refresh token; presenting a superseded one is reuse and revokes the session, except the
 * immediately previous token inside a short grace window, which gets the very same successor
 * (see refresh-token.ts for why that needs no stored plaintext), and, once, the previous token
 * of a rotation whose answer is known to have been lost (undelivered.ts).
 */
import { createSecretKey } from 'node:crypto'
import { createRandomPool } from './random-pool.ts'
import {
  ConfigInvalid,
  isHallpassError,
  RefreshTokenInvalid,
  RefreshTokenReused,
  SessionExpired,
  SessionInputInvalid,
  SessionRevoked,
} from '../errors.ts'
import {
  createJwtVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  isJwsAlgorithm,
  signJwt,
  type JwsAlgorithm,
  type JwtClaims,
  type JwtVerifier,
} from '../engine/index.ts'
import { checkFunction, checkKnownKeys, checkPositiveInteger, checkStringList } from '../internal/options.ts'
import { createAccessTokenSealer, type AccessTokenEncryption } from './access-token-encryption.ts'
import { createKeyManager, type KeyManager } from './key-manager.ts'
import {
  deriveSuccessorSecret,
  hashesEqual,
  hashRefreshSecret,
  issueRefreshToken,
  parseRefreshToken,
  tagKeyOf,
  type ParsedRefreshToken,
} from './refresh-token.ts'
import { deriveKeys } from './secret.ts'
import type { RedeliverRefreshInput, RevokeSessionResult, RotateRefreshResult, SessionStore } from './store.ts'
import { createUndeliveredLedger } from './undelivered.ts'
import type { AuditEvent, DeviceInfo, ReplayClassification, RevocationEntry, SessionRecord } from './types.ts'
import { checkAudience, checkClaims, checkScope, checkSubject, sanitizeDevice } from './validate-input.ts'

/** Safe defaults, in one place. Durations in seconds. */
export const SESSION_DEFAULTS = Object.freeze({
  algorithm: 'ES256' satisfies JwsAlgorithm,
  accessTokenTtlSeconds: 600,
  reuseWindowSeconds: 10,
  idleTimeoutSeconds: 7 * 24 * 3600,
  absoluteLifetimeSeconds: 30 * 24 * 3600,
  keyRotationIntervalSeconds: 30 * 24 * 3600,
  keyPublishLeadSeconds: 3600,
  maxClaimsBytes: 1024,
})

export interface SessionManagerOptions {
  store: SessionStore
  /** The operator secret (HALLPASS_SECRET), at least 32 bytes: encrypts keys at rest, keys the refresh chain. */
  secret: string | Uint8Array
  /** `iss` of every access token. */
  issuer: string
  /** Default `aud` of access tokens; sessions may narrow it to a subset. */
  audience?: string | readonly string[]
  accessToken?: {
    ttlSeconds?: number
    /** Custom claim names a session may carry (default: any name that is not registered). */
    allowedClaims?: readonly string[]
    /** Size limit of a session's custom claims as JSON (default 1024). */
    maxClaimsBytes?: number
    /** Encrypt every access token after signing it (default: plain signed tokens). */
    encryption?: AccessTokenEncryption
  }
  refresh?: {
    reuseWindowSeconds?: number
    idleTimeoutSeconds?: number
    absoluteLifetimeSeconds?: number
  }
  keys?: {
    algorithm?: JwsAlgorithm
    rotationIntervalSeconds?: number
    publishLeadSeconds?: number
  }
  /**
   * Re-reads claims and scope at each refresh, so a role change reaches the next access token.
   * It runs after the rotation took effect (one store round trip per refresh), so when it throws
   * the refresh fails closed but the session has moved on: a retry with the same token inside
   * the grace window gets the same successor; a retry after it counts as reuse. Keep it fast
   * and let it fail only when no token should be issued.
   */
  resolveClaims?: (session: SessionInfo) => Promise<ResolvedClaims | undefined> | ResolvedClaims | undefined
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number
  /** Source of the random bytes of ids, secrets and `jti`s (default: a pool over `crypto.randomFillSync`). */
  randomBytes?: (size: number) => Uint8Array
}

export interface ResolvedClaims {
  claims?: Record<string, unknown>
  scope?: string | null
}

export interface CreateSessionInput {
  subject: string
  claims?: Record<string, unknown>
  scope?: string
  audience?: string | readonly string[]
  device?: DeviceInfo
}

/** A session as callers see it: no hashes. Times in epoch ms. */
export interface SessionInfo {
  readonly id: string
  readonly subject: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly idleExpiresAt: number
  readonly lastSeenAt: number
  readonly revokedAt: number | null
  readonly revokeReason: string | null
  readonly device: DeviceInfo
  readonly claims: Readonly<Record<string, unknown>>
  readonly scope: string | null
  readonly audience: readonly string[] | null
}

export interface IssuedTokens {
  readonly session: SessionInfo
  readonly accessToken: string
  /** Seconds until the access token expires (RFC 6749 §5.1 `expires_in`). */
  readonly expiresIn: number
  readonly refreshToken: string
  /** When the refresh token stops working unless used (the idle or absolute deadline), epoch ms. */
  readonly refreshTokenExpiresAt: number
  /**
   * Set when a refresh was answered with the same successor as before: a replay inside the grace
   * window (`concurrent`), or the predecessor back for an answer known to be lost (`undelivered`).
   */
  readonly replay?: 'concurrent' | 'undelivered'
}

export type SessionEventListener = (event: AuditEvent) => void

export interface SessionManager {
  create(input: CreateSessionInput): Promise<IssuedTokens>
  refresh(refreshToken: string, context?: { device?: DeviceInfo }): Promise<IssuedTokens>
  revoke(sessionId: string, reason?: string): Promise<RevokeSessionResult>
  revokeAll(subject: string, options?: { except?: string; reason?: string }): Promise<readonly RevocationEntry[]>
  list(subject: string): Promise<SessionInfo[]>
  get(sessionId: string): Promise<SessionInfo | undefined>
  /**
   * Read-only check of a refresh token (RFC 7662 introspection): active only when it is the
   * session's current token and the session is live. Never rotates, never revokes.
   */
  inspectRefreshToken(refreshToken: string): Promise<{ active: false } | { active: true; session: SessionInfo }>
  /**
   * Reports that the answer carrying these tokens never reached its client (the connection
   * closed before the response was written out): the first later presentation of the
   * predecessor gets the same refresh token again instead of counting as reuse. Marks only a
   * refresh token that is still its session's current one. Resolves to true when the store
   * holds the mark; false when there is nothing to mark, or when the store could not be reached
   * (then `reconcileUndelivered` writes it later).
   */
  markUndelivered(tokens: Pick<IssuedTokens, 'refreshToken'>): Promise<boolean>
  /**
   * Tells the store about the rotations whose store call failed here and that committed all the
   * same (their answers were lost). Runs by itself after the store answers a refresh; call it
   * every few seconds too, so an instance with no traffic settles them. Resolves to the number
   * marked; rejects while the store is unreachable (the rest is kept for the next call).
   */
  reconcileUndelivered(): Promise<number>
  /**
   * After a process that served this store died without closing: marks the answers of the
   * rotations it made between `since` and `until` (epoch ms) lost, each good for one return of
   * its predecessor (`SessionStore.markRecentRotationsUndelivered`). Resolves to how many; 0
   * on a store without it (PostgreSQL, Redis: several instances share them, and one instance's
   * crash says nothing of the others' answers).
   */
  recoverAfterCrash(range: { since: number; until: number }): Promise<number>
  audit(subject: string, options?: { limit?: number }): Promise<AuditEvent[]>
  /** Verifies an access token this manager issued (signature, claims; no store lookup). */
  verifyAccessToken: JwtVerifier
  /** Listens to every audit event as it happens. Returns a function that stops listening. */
  on(listener: SessionEventListener): () => void
  readonly keys: KeyManager
  readonly store: SessionStore
  readonly options: ResolvedSessionOptions
}

export interface ResolvedSessionOptions {
  readonly issuer: string
  readonly audience: readonly string[] | undefined
  readonly algorithm: JwsAlgorithm
  readonly accessTokenTtlSeconds: number
  readonly reuseWindowSeconds: number
  readonly idleTimeoutSeconds: number
  readonly absoluteLifetimeSeconds: number
  readonly keyRotationIntervalSeconds: number
  readonly keyPublishLeadSeconds: number
}

const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/
/**
 * How long a failed rotation call is left to settle before the background pass checks whether it
 * committed: a statement whose caller gave up can still commit a moment later (the server bounds
 * its statements at 2 s), and an entry checked before that would be dropped as "not committed".
 */
const UNDELIVERED_SETTLE_MS = 5_000
/** Uncertain rotations remembered at most (~200 bytes each); beyond, the oldest are forgotten. */
const MAX_UNDELIVERED_ENTRIES = 10_000

/**
 * The least `exp` of the feed entry of a session revoked at `revokedAtMs` (epoch seconds): every
 * access token issued until then under `accessTokenTtlSeconds` has expired, clock tolerance
 * included. The store raises it to the session's `maxAccessExp`, which remembers tokens issued
 * under an earlier, longer lifetime. For tools that revoke through the store directly.
 *
 * @example
 * import { revocationExpAt } from 'hallpass'
 * await store.revokeSubjectSessions({ subject, exceptId: undefined, now, reason: 'admin', feedExp: revocationExpAt(now, 600) })
 */
export function revocationExpAt(revokedAtMs: number, accessTokenTtlSeconds: number): number {
  return Math.ceil(revokedAtMs / 1000) + accessTokenTtlSeconds + DEFAULT_CLOCK_TOLERANCE_SECONDS
}

/**
 * Creates a session manager on a store, loading (or creating) the signing keys.
 *
 * @example
 * import { createSessionManager } from 'hallpass'
 * import { createSqliteStore } from 'hallpass/stores/sqlite'
 * const sessions = await createSessionManager({
 *   store: createSqliteStore({ path: './sessions.db' }),
 *   secret: process.env.HALLPASS_SECRET!,
 *   issuer: 'https://auth.example.com',
 * })
 * const { accessToken, refreshToken } = await sessions.create({ subject: 'user-42' })
 */
export async function createSessionManager(options: SessionManagerOptions): Promise<SessionManager> {
  const config = resolveOptions(options)
  const { store } = options
  const derived = deriveKeys(options.secret)
  const { keyEncryptionKey } = derived
  const refreshChainKey = createSecretKey(derived.refreshChainKey)
  const refreshTagKey = tagKeyOf(derived.refreshTagKey)
  const now = checkFunction<() => number>(options.now, 'now') ?? Date.now
  const random = checkFunction<(size: number) => Uint8Array>(options.randomBytes, 'randomBytes') ?? createRandomPool()
  const resolveClaims = checkFunction<NonNullable<SessionManagerOptions['resolveClaims']>>(options.resolveClaims, 'resolveClaims')
  const allowedClaims = options.accessToken?.allowedClaims === undefined ? undefined : new Set(checkStringList(options.accessToken.allowedClaims, 'accessToken.allowedClaims'))
  const maxClaimsBytes = checkPositiveInteger(options.accessToken?.maxClaimsBytes, 'accessToken.maxClaimsBytes') ?? SESSION_DEFAULTS.maxClaimsBytes
  const listeners = new Set<SessionEventListener>()
  const sealer = createAccessTokenSealer(options.accessToken?.encryption, derived.accessTokenContentKey)

  const keys = await createKeyManager({
    store,
    keyEncryptionKey,
    algorithm: config.algorithm,
    rotationIntervalSeconds: config.keyRotationIntervalSeconds,
    publishLeadSeconds: config.keyPublishLeadSeconds,
    retainSeconds: config.accessTokenTtlSeconds + DEFAULT_CLOCK_TOLERANCE_SECONDS * 2,
    now,
  })

  // Encoded at once: the default source hands out views of a pool that the next call reuses.
  const randomId = (bytes: number): string => {
    const value = random(bytes)
    return (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)).toString('base64url')
  }
  const feedExpAt = (at: number): number => revocationExpAt(at, config.accessTokenTtlSeconds)
  // The `maxAccessExp` of a session whose current refresh token was issued at `at`: its access
  // token, and those of grace-window replays answered until `at + reuseWindow`, are dead by then.
  const maxAccessExpAt = (at: number): number => feedExpAt(at) + config.reuseWindowSeconds

  // Rotations whose store call failed here and that may have committed (undelivered.ts).
  const undelivered = createUndeliveredLedger({
    store,
    now,
    settleMs: UNDELIVERED_SETTLE_MS,
    maxAgeMs: config.idleTimeoutSeconds * 1000,
    maxEntries: MAX_UNDELIVERED_ENTRIES,
  })
  // The store answered, so it can be told what this instance knows. A failure changes nothing
  // for the request at hand: the entries stay for the next answer or call.
  const reconcileSoon = (): void => {
    if (undelivered.size > 0) void undelivered.reconcile().catch(() => undefined)
  }
  // The current token issued again: the grace window restarts for its racers, and a fresh
  // access token needs the bound raised as a rotation would.
  const redelivery = (session: SessionRecord, at: number): RedeliverRefreshInput => ({
    id: session.id,
    generation: session.generation,
    hash: session.refreshHash,
    now: at,
    idleExpiresAt: at + config.idleTimeoutSeconds * 1000,
    maxAccessExp: maxAccessExpAt(at),
  })

  const emit = (event: AuditEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event)
      } catch {
        // A listener's bug must not fail a login or a refresh that already committed.
      }
    }
  }

  const record = async (event: AuditEvent): Promise<void> => {
    await store.appendAudit(event)
    emit(event)
  }

  const issue = async (session: SessionRecord, refreshToken: string, at: number, replay?: 'concurrent'): Promise<IssuedTokens> => {
    let claims = session.claims
    let scope = session.scope
    const info = toInfo(session)
    if (resolveClaims !== undefined) {
      const fresh = await resolveClaims(info)
      if (fresh?.claims !== undefined) claims = checkClaims(fresh.claims, allowedClaims, maxClaimsBytes)
      if (fresh?.scope !== undefined) scope = checkScope(fresh.scope)
    }
    const iat = Math.floor(at / 1000)
    // An access token never outlives its session's absolute deadline, nor the bound a feed
    // entry of the session will last until: a grace-window replay answered by an instance with
    // a longer lifetime than the one that rotated must not outlive a revocation's entry.
    const bound = session.maxAccessExp > 0 ? session.maxAccessExp - DEFAULT_CLOCK_TOLERANCE_SECONDS : Number.POSITIVE_INFINITY
    const exp = Math.min(iat + config.accessTokenTtlSeconds, Math.floor(session.expiresAt / 1000), bound)
    const accessClaims: JwtClaims = { ...claims, iss: config.issuer, sub: session.subject, iat, exp, jti: randomId(16), sid: session.id }
    if (session.audience !== null) accessClaims.aud = session.audience.length === 1 ? session.audience[0]! : [...session.audience]
    if (scope !== null) accessClaims.scope = scope
    const accessToken = sealer.seal(signJwt(accessClaims, keys.signingKey()), session.audience)
    const tokens: IssuedTokens = {
      session: info,
      accessToken,
      expiresIn: Math.max(0, exp - iat),
      refreshToken,
      refreshTokenExpiresAt: Math.min(session.idleExpiresAt, session.expiresAt),
    }
    return replay === undefined ? tokens : { ...tokens, replay }
  }

  const revokeRecord = async (session: SessionRecord, at: number, reason: string): Promise<RevokeSessionResult> => {
    const audit: AuditEvent = { type: 'session.revoked', at, sessionId: session.id, subject: session.subject, reason }
    const result = await store.revokeSession({ id: session.id, now: at, reason, feedExp: feedExpAt(at), audit })
    if (result.revoked) emit(audit)
    return result
  }

  // The store's compare-and-set did not rotate: find out why, from the record it returned. The
  // token's tag was proven before: this server issued it, for this sid.
  const classifyFailedRotation = async (
    token: ParsedRefreshToken,
    hash: string,
    successor: string,
    successorHash: string,
    session: SessionRecord | undefined,
    at: number,
    mayRedeliver = true,
  ): Promise<IssuedTokens> => {
    if (session === undefined) throw new RefreshTokenInvalid('unknown session')
    const { sid, generation } = token
    const isCurrent = generation === session.generation && hashesEqual(session.refreshHash, hash)
    const isPrevious = generation === session.generation - 1 && hashesEqual(session.previousHash, hash)
    // Issued here but unknown to the record: a generation ahead of it (a store restored from a
    // backup, or rolled back by a power cut). That says nothing about reuse, so it changes nothing.
    if (!isCurrent && !isPrevious && generation >= session.generation - 1) throw new RefreshTokenInvalid('not a token of this session')
    const base = { at, sessionId: sid, subject: session.subject, generation }
    if (session.revokedAt !== null) {
      // The revocation again: the store refuses it as done, and a store whose feed entry is a
      // separate write (Redis) appends it if a fault lost it, so the session's access tokens
      // still reach every verifier's denylist.
      await revokeRecord(session, at, session.revokeReason ?? 'revoked')
      await record({ ...base, type: 'refresh.replayed', classification: 'after_revocation', reason: session.revokeReason ?? undefined })
      throw new SessionRevoked(sid)
    }
    if (session.expiresAt <= at || session.idleExpiresAt <= at) {
      const deadline = session.expiresAt <= at ? 'absolute' : 'idle'
      await record({ ...base, type: 'session.expired', reason: deadline })
      throw new SessionExpired(sid, deadline)
    }
    if (isCurrent) {
      // Live, current and unexpired, yet not rotated: only a store fault can get here.
      throw new RefreshTokenInvalid('rotation did not take effect')
    }
    if (isPrevious && at - session.rotatedAt <= config.reuseWindowSeconds * 1000) {
      // Racing tabs or a retried request: the successor of the presented token is the current
      // token (the chain is deterministic), so every racer gets the same one and the session
      // keeps exactly one live refresh token.
      if (!hashesEqual(session.refreshHash, successorHash)) throw new RefreshTokenInvalid('not a token of this session')
      // This answer delivers the successor: a lost-answer mark for it is spent (else it would
      // serve one more presentation after the window), and this instance's entry is moot.
      undelivered.forget(sid)
      if (session.undeliveredHash !== null) await store.redeliverRefreshToken(redelivery(session, at))
      await record({ ...base, type: 'refresh.replayed', classification: 'concurrent' })
      return issue(session, issueRefreshToken(refreshTagKey, sid, session.generation, successor), at, 'concurrent')
    }
    if (isPrevious && mayRedeliver && hashesEqual(session.refreshHash, successorHash)) {
      // After the window, with the successor unused: if its answer is known to be lost (marked
      // in the store, or known here and written there first), the predecessor gets it once
      // more. The store clears the mark in the same compare-and-set, so this works once per lost
      // answer; anything else is classified again from the record as it is now, the mark aside.
      // docs/design.md, "A lost answer is not theft".
      await undelivered.settle(sid, successorHash)
      const result = await store.redeliverRefreshToken(redelivery(session, at))
      if (!result.redelivered) return classifyFailedRotation(token, hash, successor, successorHash, result.session, at, false)
      try {
        await record({ ...base, type: 'refresh.replayed', classification: 'undelivered' })
      } catch (error) {
        // The mark is spent and this answer is lost as well (a 503): known again, like any other.
        undelivered.remember({ id: sid, generation: session.generation, hash: successorHash })
        throw error
      }
      const tokens = await issue(result.session, issueRefreshToken(refreshTagKey, sid, session.generation, successor), at)
      return { ...tokens, replay: 'undelivered' }
    }
    const classification: Extract<ReplayClassification, 'previous_after_window' | 'older_generation'> = isPrevious ? 'previous_after_window' : 'older_generation'
    // Revoke first: no other write (the audit event below may live elsewhere, on another Redis
    // Cluster shard) may fail between a detected reuse and the revocation.
    await revokeRecord(session, at, 'refresh_reuse')
    await record({ ...base, type: 'refresh.reuse_detected', classification })
    throw new RefreshTokenReused(sid, classification)
  }

  // The issuer's own check of its access tokens (its endpoints, introspection): an encrypted
  // one is opened first, and the signed JWT inside checked exactly as a plain one.
  const verifySignedAccessToken = createJwtVerifier({
    keys: { resolveVerifyKey: (header) => keys.keyring().resolveVerifyKey(header) },
    issuer: config.issuer,
    ...(config.audience !== undefined ? { audience: config.audience } : {}),
    requiredClaims: ['exp', 'iat', 'sub', 'sid', 'jti'],
    now,
  })

  const manager: SessionManager = {
    async create(input) {
      if (typeof input !== 'object' || input === null) throw new ConfigInvalid('input', 'must be an object')
      const subject = checkSubject(input.subject)
      const claims = checkClaims(input.claims, allowedClaims, maxClaimsBytes)
      const scope = checkScope(input.scope)
      const audience = checkAudience(input.audience, config.audience)
      sealer.checkAudience(audience)
      const device = sanitizeDevice(input.device) ?? {}
      const at = now()
      const id = randomId(16)
      const secret = randomId(32)
      const expiresAt = at + config.absoluteLifetimeSeconds * 1000
      const session: SessionRecord = {
        id,
        subject,
        createdAt: at,
        expiresAt,
        idleExpiresAt: Math.min(at + config.idleTimeoutSeconds * 1000, expiresAt),
        lastSeenAt: at,
        generation: 0,
        refreshHash: hashRefreshSecret(secret),
        previousHash: null,
        rotatedAt: at,
        revokedAt: null,
        revokeReason: null,
        device,
        claims,
        scope,
        audience,
        maxAccessExp: maxAccessExpAt(at),
        undeliveredHash: null,
      }
      const audit: AuditEvent = { type: 'session.created', at, sessionId: id, subject, device }
      await store.createSession(session, audit)
      emit(audit)
      return issue(session, issueRefreshToken(refreshTagKey, id, 0, secret), at)
    },

    async refresh(refreshToken, context) {
      const token = parseRefreshToken(refreshToken, refreshTagKey)
      const device = sanitizeDevice(context?.device)
      const at = now()
      const hash = hashRefreshSecret(token.secret)
      const successor = deriveSuccessorSecret(refreshChainKey, token.sid, token.generation + 1, token.secret)
      const successorHash = hashRefreshSecret(successor)
      const audit = { type: 'refresh.rotated' as const, at, sessionId: token.sid, generation: token.generation + 1, device }
      let result: RotateRefreshResult
      try {
        result = await store.rotateRefreshToken({
          id: token.sid,
          generation: token.generation,
          hash,
          newHash: successorHash,
          now: at,
          idleExpiresAt: at + config.idleTimeoutSeconds * 1000,
          device,
          maxAccessExp: maxAccessExpAt(at),
          audit,
        })
      } catch (error) {
        // A failed call (a timeout, a dropped connection) may have committed with only its
        // answer lost: remembered, to be marked undelivered if exactly this rotation committed.
        if (!isHallpassError(error) || error.family === 'infrastructure') {
          undelivered.remember({ id: token.sid, generation: token.generation + 1, hash: successorHash, rotatedAt: at })
        }
        throw error
      }
      if (undelivered.size > 0) {
        // A rotation that took effect here supersedes (or redid) an uncertain one of its session.
        if (result.rotated) undelivered.forget(token.sid)
        reconcileSoon()
      }
      if (!result.rotated) return classifyFailedRotation(token, hash, successor, successorHash, result.session, at)
      if (listeners.size > 0) emit({ ...audit, subject: result.session.subject })
      return issue(result.session, issueRefreshToken(refreshTagKey, token.sid, token.generation + 1, successor), at)
    },

    async revoke(sessionId, reason = 'revoked') {
      const cleanReason = checkReason(reason)
      if (typeof sessionId !== 'string' || !SESSION_ID_PATTERN.test(sessionId)) return { revoked: false, why: 'not_found' }
      const session = await store.getSession(sessionId)
      if (session === undefined) return { revoked: false, why: 'not_found' }
      // Even when the record says revoked: the store answers `already_revoked`, and one whose
      // feed entry is a separate write (Redis) appends it if a fault lost it, so a retried
      // logout repairs what the first attempt left half done.
      return revokeRecord(session, now(), cleanReason)
    },

    async revokeAll(subject, revokeOptions = {}) {
      checkOptionsObject(revokeOptions, 'options')
      const cleanReason = checkReason(revokeOptions.reason ?? 'revoked_all')
      const except: unknown = revokeOptions.except
      if (except !== undefined && typeof except !== 'string') throw new SessionInputInvalid('except', 'must be a session id')
      const at = now()
      const entries = await store.revokeSubjectSessions({
        subject: checkSubject(subject),
        exceptId: except,
        now: at,
        reason: cleanReason,
        feedExp: feedExpAt(at),
      })
      for (const entry of entries) emit({ type: 'session.revoked', at, sessionId: entry.sid, subject, reason: cleanReason })
      return entries
    },

    async list(subject) {
      return (await store.listSessions(checkSubject(subject), now())).map(toInfo)
    },

    async get(sessionId) {
      if (typeof sessionId !== 'string' || !SESSION_ID_PATTERN.test(sessionId)) return undefined
      const session = await store.getSession(sessionId)
      return session === undefined ? undefined : toInfo(session)
    },

    async inspectRefreshToken(refreshToken) {
      let token
      try {
        token = parseRefreshToken(refreshToken, refreshTagKey)
      } catch {
        return { active: false }
      }
      const session = await store.getSession(token.sid)
      const at = now()
      if (
        session === undefined ||
        session.revokedAt !== null ||
        session.expiresAt <= at ||
        session.idleExpiresAt <= at ||
        session.generation !== token.generation ||
        !hashesEqual(session.refreshHash, hashRefreshSecret(token.secret))
      ) {
        return { active: false }
      }
      return { active: true, session: toInfo(session) }
    },

    async markUndelivered(tokens) {
      if (typeof tokens !== 'object' || tokens === null) throw new SessionInputInvalid('tokens', 'must be the tokens of an answer')
      const token = parseRefreshToken(tokens.refreshToken, refreshTagKey)
      // Generation 0 has no predecessor that could come back for it.
      if (token.generation === 0) return false
      const input = { id: token.sid, generation: token.generation, hash: hashRefreshSecret(token.secret) }
      try {
        return await store.markUndelivered(input)
      } catch (error) {
        if (isHallpassError(error) && error.family !== 'infrastructure') throw error
        undelivered.remember(input)
        return false
      }
    },

    reconcileUndelivered: () => undelivered.reconcile(),

    async recoverAfterCrash({ since, until }) {
      if (store.markRecentRotationsUndelivered === undefined) return 0
      if (!Number.isFinite(since) || !Number.isFinite(until) || since > until) throw new ConfigInvalid('range', 'must be { since, until } in epoch ms, since ≤ until')
      return store.markRecentRotationsUndelivered({ since, until, now: now() })
    },

    async audit(subject, auditOptions = {}) {
      checkOptionsObject(auditOptions, 'options')
      const limit = checkPositiveInteger(auditOptions.limit, 'limit') ?? 100
      return store.listAudit(checkSubject(subject), Math.min(limit, 1000))
    },

    verifyAccessToken: (token) => verifySignedAccessToken(sealer.open(token)),

    on(listener) {
      if (typeof listener !== 'function') throw new ConfigInvalid('listener', 'must be a function')
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    keys,
    store,
    options: config,
  }
  return Object.freeze(manager)
}

function toInfo(session: SessionRecord): SessionInfo {
  return Object.freeze({
    id: session.id,
    subject: session.subject,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    idleExpiresAt: Math.min(session.idleExpiresAt, session.expiresAt),
    lastSeenAt: session.lastSeenAt,
    revokedAt: session.revokedAt,
    revokeReason: session.revokeReason,
    device: session.device,
    claims: session.claims,
    scope: session.scope,
    audience: session.audience,
  })
}

function checkOptionsObject(value: unknown, name: string): void {
  if (typeof value !== 'object' || value === null) throw new SessionInputInvalid(name, 'must be an object')
}

function checkReason(reason: unknown): string {
  if (typeof reason !== 'string' || !/^[a-z0-9_.:-]{1,64}$/i.test(reason)) {
    throw new ConfigInvalid('reason', 'must be 1-64 characters of letters, digits, "_", ".", ":" or "-"')
  }
  return reason
}

const TOP_LEVEL_OPTIONS = ['store', 'secret', 'issuer', 'audience', 'accessToken', 'refresh', 'keys', 'resolveClaims', 'now', 'randomBytes']

function resolveOptions(options: SessionManagerOptions): ResolvedSessionOptions {
  checkKnownKeys(options, TOP_LEVEL_OPTIONS)
  const store = options.store as unknown
  if (typeof store !== 'object' || store === null || typeof (store as SessionStore).rotateRefreshToken !== 'function') {
    throw new ConfigInvalid('store', 'must be a SessionStore')
  }
  if (typeof options.issuer !== 'string' || options.issuer.length === 0 || options.issuer.length > 512) {
    throw new ConfigInvalid('issuer', 'must be a non-empty string (normally the server URL)')
  }
  const access = options.accessToken ?? {}
  const refresh = options.refresh ?? {}
  const keys = options.keys ?? {}
  checkKnownKeys(access, ['ttlSeconds', 'allowedClaims', 'maxClaimsBytes', 'encryption'], 'accessToken.')
  checkKnownKeys(refresh, ['reuseWindowSeconds', 'idleTimeoutSeconds', 'absoluteLifetimeSeconds'], 'refresh.')
  checkKnownKeys(keys, ['algorithm', 'rotationIntervalSeconds', 'publishLeadSeconds'], 'keys.')
  const algorithm = keys.algorithm ?? SESSION_DEFAULTS.algorithm
  if (!isJwsAlgorithm(algorithm)) throw new ConfigInvalid('keys.algorithm', 'must be a supported JWS algorithm')
  const reuseWindow = refresh.reuseWindowSeconds ?? SESSION_DEFAULTS.reuseWindowSeconds
  if (typeof reuseWindow !== 'number' || !Number.isInteger(reuseWindow) || reuseWindow < 0 || reuseWindow > 300) {
    throw new ConfigInvalid('refresh.reuseWindowSeconds', 'must be an integer from 0 to 300')
  }
  const resolved: ResolvedSessionOptions = {
    issuer: options.issuer,
    audience: checkStringList(options.audience, 'audience'),
    algorithm,
    accessTokenTtlSeconds: checkPositiveInteger(access.ttlSeconds, 'accessToken.ttlSeconds') ?? SESSION_DEFAULTS.accessTokenTtlSeconds,
    reuseWindowSeconds: reuseWindow,
    idleTimeoutSeconds: checkPositiveInteger(refresh.idleTimeoutSeconds, 'refresh.idleTimeoutSeconds') ?? SESSION_DEFAULTS.idleTimeoutSeconds,
    absoluteLifetimeSeconds: checkPositiveInteger(refresh.absoluteLifetimeSeconds, 'refresh.absoluteLifetimeSeconds') ?? SESSION_DEFAULTS.absoluteLifetimeSeconds,
    keyRotationIntervalSeconds: checkPositiveInteger(keys.rotationIntervalSeconds, 'keys.rotationIntervalSeconds') ?? SESSION_DEFAULTS.keyRotationIntervalSeconds,
    keyPublishLeadSeconds: checkPositiveInteger(keys.publishLeadSeconds, 'keys.publishLeadSeconds') ?? SESSION_DEFAULTS.keyPublishLeadSeconds,
  }
  if (resolved.accessTokenTtlSeconds > 24 * 3600) throw new ConfigInvalid('accessToken.ttlSeconds', 'must be at most 86400 (access tokens are short-lived)')
  if (resolved.idleTimeoutSeconds > resolved.absoluteLifetimeSeconds) {
    throw new ConfigInvalid('refresh.idleTimeoutSeconds', 'must not exceed refresh.absoluteLifetimeSeconds')
  }
  if (resolved.keyPublishLeadSeconds >= resolved.keyRotationIntervalSeconds) {
    throw new ConfigInvalid('keys.publishLeadSeconds', 'must be shorter than keys.rotationIntervalSeconds')
  }
  return Object.freeze(resolved)
}
