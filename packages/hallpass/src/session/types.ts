/**
 * @module hallpass
 *
 * The session records and events shared by the session manager and every store.
 * Times are epoch milliseconds unless a name says seconds.
 */

/** Where a session was created from and last used. Every field is optional and bounded. */
export interface DeviceInfo {
  readonly userAgent?: string
  readonly ip?: string
  readonly label?: string
}

/** A session as stored. Refresh tokens are never stored, only their SHA-256 (base64url). */
export interface SessionRecord {
  readonly id: string
  readonly subject: string
  readonly createdAt: number
  /** Absolute deadline: refresh never extends past it. */
  readonly expiresAt: number
  /** Idle deadline: moves forward at each refresh, never past `expiresAt`. */
  readonly idleExpiresAt: number
  readonly lastSeenAt: number
  /** Generation of the current refresh token (0 at creation, +1 per rotation). */
  readonly generation: number
  readonly refreshHash: string
  /** Hash of the generation before the current one, for the grace window. */
  readonly previousHash: string | null
  /** When the current generation was issued (or last issued again: a redelivery). */
  readonly rotatedAt: number
  /**
   * `refreshHash` while the answer that carried the current token is known to have been lost
   * (its rotation committed but its reply did not arrive, or the response could not be written),
   * else null. The first presentation of the predecessor after that gets the current token again
   * and clears it (`redeliverRefreshToken`); a rotation clears it too.
   */
  readonly undeliveredHash: string | null
  readonly revokedAt: number | null
  readonly revokeReason: string | null
  readonly device: DeviceInfo
  /** Custom claims carried into every access token of the session. */
  readonly claims: Readonly<Record<string, unknown>>
  readonly scope: string | null
  readonly audience: readonly string[] | null
  /**
   * Epoch seconds after which no access token of this session is valid any more: the latest
   * `exp` issued, plus the grace window's replays and the clock tolerance (0 when unknown). A
   * revocation feed entry of the session lasts at least until then, whatever the access-token
   * lifetime is now: a lifetime lowered since the last refresh must not revive longer tokens.
   */
  readonly maxAccessExp: number
}

export type AuditEventType =
  | 'session.created'
  | 'refresh.rotated'
  | 'refresh.replayed'
  | 'refresh.reuse_detected'
  | 'session.revoked'
  | 'session.expired'

/**
 * How a presented refresh token that is not the current one was classified:
 * - `concurrent`: the immediately previous token inside the grace window (tabs, retries):
 *   answered with the same successor, the session is unharmed;
 * - `undelivered`: the immediately previous token after the window, while its successor is
 *   unused and known never to have reached the client (a lost answer): answered with the same
 *   successor once, the session is unharmed;
 * - `previous_after_window`: the previous token after the window: reuse, the session is revoked;
 * - `older_generation`: a genuine token two or more generations old: reuse, revoked;
 * - `after_revocation`: any genuine token of an already revoked session.
 */
export type ReplayClassification = 'concurrent' | 'undelivered' | 'previous_after_window' | 'older_generation' | 'after_revocation'

/** One entry of the audit trail. */
export interface AuditEvent {
  readonly type: AuditEventType
  readonly at: number
  readonly sessionId: string
  readonly subject: string
  readonly reason?: string
  readonly classification?: ReplayClassification
  readonly generation?: number
  readonly device?: DeviceInfo
}

/** One revocation on the feed. `exp` (epoch seconds) bounds every access token of the session. */
export interface RevocationEntry {
  /**
   * `<epoch>.<position>` (feed-cursor.ts): increasing in feed order; pass the last one seen to
   * catch up after a reconnect.
   */
  readonly cursor: string
  readonly sid: string
  readonly exp: number
  readonly revokedAt: number
  readonly reason: string
}
