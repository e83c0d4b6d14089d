/**
 * @module hallpass
 *
 * The `SessionStore` interface: everything the session layer needs from storage. Each method
 * is one atomic step, so a store on SQLite, PostgreSQL or Redis gives the same guarantees under
 * concurrent callers in several processes. Conformance: `hallpass/testing`.
 */
import type { AuditEvent, AuditEventType, DeviceInfo, RevocationEntry, SessionRecord } from './types.ts'

export interface RotateRefreshInput {
  readonly id: string
  /** The generation and hash the caller presented: the compare half of compare-and-set. */
  readonly generation: number
  readonly hash: string
  /**
   * The successor's hash; stored with `generation + 1`, `hash` becomes `previousHash`, and
   * `undeliveredHash` is cleared (it only ever names the current token).
   */
  readonly newHash: string
  readonly now: number
  /**
   * The new idle deadline. It may exceed `expiresAt`: stores check both deadlines everywhere,
   * so it needs no capping (the manager caps it when presenting a session).
   */
  readonly idleExpiresAt: number
  /** Device facts of this refresh (last-seen IP and user agent), merged into the stored device. */
  readonly device: DeviceInfo | undefined
  /** Raises the session's `maxAccessExp` to this, if higher (never lowers it). */
  readonly maxAccessExp: number
  /**
   * Written in the same atomic step as a successful rotation (nothing is written on failure).
   * The caller does not know the subject before the single round trip, so the store fills
   * `subject` from the stored session.
   */
  readonly audit: Omit<AuditEvent, 'subject'>
}

/**
 * `rotated: true` with the updated record when the compare-and-set held: the session existed,
 * was not revoked, had not expired at `now` (idle or absolute), and its current generation and
 * hash were exactly the presented ones. Otherwise `rotated: false` with the record as it is now
 * (or undefined), so the caller can classify the attempt, in the same round trip.
 */
export type RotateRefreshResult =
  | { readonly rotated: true; readonly session: SessionRecord }
  | { readonly rotated: false; readonly session: SessionRecord | undefined }

/**
 * The answer that carried a session's current refresh token was lost. `generation` and `hash`
 * are that token's: the compare half of compare-and-set.
 */
export interface MarkUndeliveredInput {
  readonly id: string
  readonly generation: number
  readonly hash: string
  /**
   * When given, only the rotation made at exactly this time (its `now`, stored as `rotatedAt`)
   * is marked: a failed rotation call's own commit, not a later retry that committed the same
   * successor (the chain is deterministic) and whose answer arrived.
   */
  readonly rotatedAt?: number
}

/** The predecessor came back for a current token whose answer was lost: issue it again. */
export interface RedeliverRefreshInput {
  readonly id: string
  /** The current generation and hash, which must also be the marked one. */
  readonly generation: number
  readonly hash: string
  readonly now: number
  /** The new idle deadline, as for a rotation. */
  readonly idleExpiresAt: number
  /** Raises the session's `maxAccessExp` to this, if higher (never lowers it). */
  readonly maxAccessExp: number
}

/** Like `RotateRefreshResult`: the updated record, or the record as it is now (or undefined). */
export type RedeliverRefreshResult =
  | { readonly redelivered: true; readonly session: SessionRecord }
  | { readonly redelivered: false; readonly session: SessionRecord | undefined }

export interface RevokeSessionInput {
  readonly id: string
  readonly now: number
  readonly reason: string
  /** Least `exp` of the feed entry (epoch seconds); the store raises it to the session's `maxAccessExp`. */
  readonly feedExp: number
  readonly audit: AuditEvent
}

export interface RevokeSubjectInput {
  readonly subject: string
  /** A session to keep (the caller's own, for "log out everywhere else"). */
  readonly exceptId: string | undefined
  readonly now: number
  readonly reason: string
  /** Least `exp` of each feed entry (epoch seconds); raised per session to its `maxAccessExp`. */
  readonly feedExp: number
}

/** Result of a single revocation: the feed entry when it took effect, else why not. */
export type RevokeSessionResult =
  | { readonly revoked: true; readonly entry: RevocationEntry }
  | { readonly revoked: false; readonly why: 'not_found' | 'already_revoked' }

/** The persisted keyring: an opaque document with a version for compare-and-set. */
export interface StoredKeyring {
  readonly version: number
  readonly data: string
}

export type RevocationListener = (entry: RevocationEntry) => void

export interface SessionStore {
  /** Inserts a new session and its creation audit event atomically. Session ids never collide (128 random bits). */
  createSession(record: SessionRecord, audit: AuditEvent): Promise<void>
  getSession(id: string): Promise<SessionRecord | undefined>
  rotateRefreshToken(input: RotateRefreshInput): Promise<RotateRefreshResult>
  /**
   * Marks the answer of the current refresh token lost: sets `undeliveredHash` to `hash` if the
   * session exists, is not revoked, and its current generation and hash (and `rotatedAt`, when
   * given) are exactly the input's. Nothing else changes. True when the mark is set now (also
   * when it already was), false when nothing matched.
   */
  markUndelivered(input: MarkUndeliveredInput): Promise<boolean>
  /**
   * Optional, for a store one process serves (SQLite): after that process died without closing
   * (a crash, SIGKILL), marks the answer of the current refresh token lost for every live,
   * rotated (generation > 0), unmarked session whose `rotatedAt` is within `since`…`until`, and
   * returns how many. Nobody knows which of those answers the dead process delivered, so each
   * gets one return of its predecessor, as the grace window would have given.
   */
  markRecentRotationsUndelivered?(input: { readonly since: number; readonly until: number; readonly now: number }): Promise<number>
  /**
   * Answers a lost answer once. If the session is live at `now` (not revoked, neither deadline
   * reached), its current generation and hash are the input's and `undeliveredHash` is that
   * hash: clears the mark, and sets `rotatedAt` and `lastSeenAt` to `now`, the idle deadline to
   * `idleExpiresAt` and raises `maxAccessExp`, as a rotation would (generation and hashes stay).
   * Otherwise nothing is written and the record comes back as it is now. Of concurrent callers
   * exactly one succeeds.
   */
  redeliverRefreshToken(input: RedeliverRefreshInput): Promise<RedeliverRefreshResult>
  /** Marks the session revoked, appends the feed entry and the audit event, notifies subscribers. */
  revokeSession(input: RevokeSessionInput): Promise<RevokeSessionResult>
  /** Revokes every live session of a subject (but `exceptId`), one feed entry and one audit event each. */
  revokeSubjectSessions(input: RevokeSubjectInput): Promise<RevocationEntry[]>
  /** Live sessions of a subject (not revoked, not expired at `now`), newest first. */
  listSessions(subject: string, now: number): Promise<SessionRecord[]>
  appendAudit(event: AuditEvent): Promise<void>
  /** The subject's audit trail, newest first. */
  listAudit(subject: string, limit: number): Promise<AuditEvent[]>
  /**
   * Optional (a store written before it still compiles; callers check that it is there): the
   * newest audit events of all subjects, for an admin console. Newest first, at most `limit`
   * (1-1000); only events of one of `types` (an empty list matches none), of `subject` (compared
   * exactly, as `listAudit` does), and with `at < before`. Newest first is the order the events
   * were written, which is `at` order as long as the writers' clocks agree (no store indexes
   * `at`: docs/design.md says why). To page, pass the `at` of the last event of a page as the next
   * `before`; events of that same millisecond that did not fit on the page are then skipped.
   *
   * What is kept is bounded: the SQL stores keep what `purgeExpired` leaves (the newest
   * `maxAuditEventsPerSubject` of each subject); Redis keeps the newest 10,000 events of all
   * subjects, and with `subject` reads that subject's own trail (its newest 1,000).
   *
   * Throws `ERR_SESSION_INPUT_INVALID` for a limit outside 1-1000, a type that is not an
   * `AuditEventType`, a subject that is not a string, a `before` that is not an integer, or an
   * option it does not know.
   */
  listRecentAudit?(options: { limit: number; types?: readonly AuditEventType[]; subject?: string; before?: number }): Promise<AuditEvent[]>
  /**
   * Feed entries after `cursor` (from the start of the feed when undefined), oldest first, at
   * most `limit`, leaving out those whose `exp` is before `minExp` (epoch seconds) when given.
   * `readRevocations(undefined, n, now)` pages through the snapshot of every revocation that
   * can still matter. Throws `ERR_SESSION_INPUT_INVALID` (field `cursor`) for a cursor this feed
   * cannot resume from: malformed, of another epoch (another store, or this one re-created), or
   * ahead of every position it ever gave out (a store restored from an older copy). The reader
   * must then start over from a snapshot (feed-cursor.ts).
   */
  readRevocations(cursor: string | undefined, limit: number, minExp?: number): Promise<RevocationEntry[]>
  /**
   * The feed's current position: the cursor of the newest entry, or a cursor of this epoch
   * before every future entry when the feed is empty. A reader that has read everything up to
   * here resumes from it with `readRevocations(head)` and misses nothing.
   */
  headCursor(): Promise<string>
  /** Live feed. Resolves once the subscription is active; call the returned function to stop. */
  subscribeRevocations(listener: RevocationListener): Promise<() => Promise<void>>
  loadKeyring(): Promise<StoredKeyring | undefined>
  /** Writes the keyring if the stored version is still `expectedVersion` (0 = none yet). */
  saveKeyring(expectedVersion: number, data: string): Promise<boolean>
  /** Deletes sessions past their deadlines and feed entries whose `exp` has passed (never sooner). */
  purgeExpired(now: number): Promise<number>
  /** True when the store answers (for readiness probes). */
  ping(): Promise<boolean>
  close(): Promise<void>
}
