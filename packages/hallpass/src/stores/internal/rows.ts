// Shared mapping between the session records and the flat rows of a SQL store (snake_case
// columns, JSON kept as text or as a driver-parsed value). Generic on purpose: SQLite hands back
// numbers and JSON text, PostgreSQL may hand back int8 as strings and json(b) already parsed, so
// every reader accepts both. Never exported from a public entry.
import { randomBytes } from 'node:crypto'
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import { parseFeedCursor } from '../../session/feed-cursor.ts'
import type { RotateRefreshInput } from '../../session/store.ts'
import type { AuditEvent, DeviceInfo, RevocationEntry, SessionRecord } from '../../session/types.ts'

/** A stored integer as a driver may return it. */
export type NumberLike = number | bigint | string
/** A stored JSON value: text, or already parsed by the driver. */
export type JsonLike = string | object

/** The columns of a session row, in the order `sessionToColumns` lists them. */
export const SESSION_COLUMNS = [
  'id',
  'subject',
  'created_at',
  'expires_at',
  'idle_expires_at',
  'last_seen_at',
  'generation',
  'refresh_hash',
  'previous_hash',
  'rotated_at',
  'revoked_at',
  'revoke_reason',
  'device',
  'claims',
  'scope',
  'audience',
  'max_access_exp',
  'undelivered_hash',
] as const

export type SessionColumn = (typeof SESSION_COLUMNS)[number]

/** A session row as read back from a driver. */
export interface SessionRow {
  readonly id: string
  readonly subject: string
  readonly created_at: NumberLike
  readonly expires_at: NumberLike
  readonly idle_expires_at: NumberLike
  readonly last_seen_at: NumberLike
  readonly generation: NumberLike
  readonly refresh_hash: string
  readonly previous_hash: string | null
  readonly rotated_at: NumberLike
  readonly revoked_at: NumberLike | null
  readonly revoke_reason: string | null
  readonly device: JsonLike
  readonly claims: JsonLike
  readonly scope: string | null
  readonly audience: JsonLike | null
  readonly max_access_exp: NumberLike
  readonly undelivered_hash: string | null
}

/** A session as bindable parameters: numbers stay numbers, JSON members become JSON text. */
export interface SessionColumns {
  readonly id: string
  readonly subject: string
  readonly created_at: number
  readonly expires_at: number
  readonly idle_expires_at: number
  readonly last_seen_at: number
  readonly generation: number
  readonly refresh_hash: string
  readonly previous_hash: string | null
  readonly rotated_at: number
  readonly revoked_at: number | null
  readonly revoke_reason: string | null
  readonly device: string
  readonly claims: string
  readonly scope: string | null
  readonly audience: string | null
  readonly max_access_exp: number
  readonly undelivered_hash: string | null
}

/** A corrupt row is an infrastructure fault (fail closed), never a credential verdict. */
function corrupt(what: string): StoreUnavailable {
  return new StoreUnavailable(`a stored ${what} is corrupt`)
}

export function readNumber(value: NumberLike, what: string): number {
  if (typeof value === 'number') return value
  const n = Number(value)
  if (!Number.isFinite(n) || (typeof value === 'string' && value.trim() === '')) throw corrupt(what)
  return n
}

function readNullableNumber(value: NumberLike | null, what: string): number | null {
  return value === null ? null : readNumber(value, what)
}

export function readJson(value: JsonLike, what: string): unknown {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value) as unknown
  } catch (cause) {
    throw new StoreUnavailable(`a stored ${what} is corrupt`, { cause })
  }
}

function readObject(value: JsonLike, what: string): Record<string, unknown> {
  const parsed = readJson(value, what)
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw corrupt(what)
  return parsed as Record<string, unknown>
}

function readAudience(value: JsonLike | null): string[] | null {
  const audience = value === null ? null : readJson(value, 'session audience')
  if (audience !== null && !(Array.isArray(audience) && audience.every((a) => typeof a === 'string'))) {
    throw corrupt('session audience')
  }
  return audience
}

export function sessionToColumns(record: SessionRecord): SessionColumns {
  return {
    id: record.id,
    subject: record.subject,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    idle_expires_at: record.idleExpiresAt,
    last_seen_at: record.lastSeenAt,
    generation: record.generation,
    refresh_hash: record.refreshHash,
    previous_hash: record.previousHash,
    rotated_at: record.rotatedAt,
    revoked_at: record.revokedAt,
    revoke_reason: record.revokeReason,
    device: JSON.stringify(record.device),
    claims: JSON.stringify(record.claims),
    scope: record.scope,
    audience: record.audience === null ? null : JSON.stringify(record.audience),
    max_access_exp: record.maxAccessExp,
    undelivered_hash: record.undeliveredHash,
  }
}

export function sessionFromRow(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    subject: row.subject,
    createdAt: readNumber(row.created_at, 'session'),
    expiresAt: readNumber(row.expires_at, 'session'),
    idleExpiresAt: readNumber(row.idle_expires_at, 'session'),
    lastSeenAt: readNumber(row.last_seen_at, 'session'),
    generation: readNumber(row.generation, 'session'),
    refreshHash: row.refresh_hash,
    previousHash: row.previous_hash,
    rotatedAt: readNumber(row.rotated_at, 'session'),
    revokedAt: readNullableNumber(row.revoked_at, 'session'),
    revokeReason: row.revoke_reason,
    device: readObject(row.device, 'session device'),
    claims: readObject(row.claims, 'session claims'),
    scope: row.scope,
    audience: readAudience(row.audience),
    maxAccessExp: readNumber(row.max_access_exp, 'session'),
    undeliveredHash: row.undelivered_hash,
  }
}

/**
 * The columns a rotation does not set itself (or sets from what was stored), so a store reads
 * them back with it.
 */
export const ROTATION_RETURNED_COLUMNS = ['subject', 'created_at', 'expires_at', 'device', 'claims', 'scope', 'audience', 'max_access_exp'] as const

export type RotationRow = Pick<SessionRow, (typeof ROTATION_RETURNED_COLUMNS)[number]>

/**
 * The session as a successful rotation left it: what the compare-and-set wrote comes from its
 * input (the new hash, the presented one as previous, the times, no undelivered mark, and live,
 * since only a live session rotates), the rest from the returned row. Cheaper than reading back and converting
 * every column, which is measurable on the refresh path.
 */
export function sessionAfterRotation(input: RotateRefreshInput, row: RotationRow): SessionRecord {
  return {
    id: input.id,
    subject: row.subject,
    createdAt: readNumber(row.created_at, 'session'),
    expiresAt: readNumber(row.expires_at, 'session'),
    idleExpiresAt: input.idleExpiresAt,
    lastSeenAt: input.now,
    generation: input.generation + 1,
    refreshHash: input.newHash,
    previousHash: input.hash,
    rotatedAt: input.now,
    revokedAt: null,
    revokeReason: null,
    device: readObject(row.device, 'session device'),
    claims: readObject(row.claims, 'session claims'),
    scope: row.scope,
    audience: readAudience(row.audience),
    maxAccessExp: readNumber(row.max_access_exp, 'session'),
    undeliveredHash: null,
  }
}

/**
 * The device members a rotation merges into the stored device: only its string members, so a
 * member the refresh did not send keeps its stored value and nothing can delete one (a `null`
 * in an RFC 7396 merge patch would) or nest an object. Every store merges exactly these.
 * Members are defined, never assigned, so a hostile `__proto__` member stays a plain member
 * instead of swapping the prototype.
 */
export function deviceUpdate(fresh: DeviceInfo | undefined): DeviceInfo {
  if (fresh === undefined || fresh === null) return {}
  const update: Record<string, string> = {}
  for (const name of Object.keys(fresh)) {
    const value = (fresh as Record<string, unknown>)[name]
    if (typeof value === 'string') Object.defineProperty(update, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return update
}

/** The audit event as stored: the whole event as JSON, so optional members round-trip exactly. */
export function auditToJson(event: AuditEvent): string {
  return JSON.stringify(event)
}

export function auditFromJson(value: JsonLike): AuditEvent {
  const event = readObject(value, 'audit event')
  if (typeof event.type !== 'string' || typeof event.at !== 'number' || typeof event.sessionId !== 'string' || typeof event.subject !== 'string') {
    throw corrupt('audit event')
  }
  return event as unknown as AuditEvent
}

/** A feed row as read back; the cursor format belongs to the store. */
export interface RevocationRow {
  readonly sid: string
  readonly exp: NumberLike
  readonly revoked_at: NumberLike
  readonly reason: string
}

export function revocationFromRow(cursor: string, row: RevocationRow): RevocationEntry {
  return {
    cursor,
    sid: row.sid,
    exp: readNumber(row.exp, 'revocation'),
    revokedAt: readNumber(row.revoked_at, 'revocation'),
    reason: row.reason,
  }
}

const DECIMAL_POSITION = /^(?:0|[1-9][0-9]{0,15})$/

/**
 * The position of a cursor of the SQL stores' feed: `<epoch>.<decimal>` with this store's
 * epoch. Undefined means "from the start" (0). Anything else is refused rather than guessed at:
 * a cursor can arrive from a client (SSE `Last-Event-ID`), and a misread one would skip entries.
 * `head` is the largest position the store ever gave out: a cursor beyond it comes from a copy
 * of the store that has since been restored to an older state.
 */
export function feedPositionOf(cursor: string | undefined, epoch: string, head: () => number): number {
  if (cursor === undefined) return 0
  const parsed = parseFeedCursor(cursor)
  if (parsed === undefined || !DECIMAL_POSITION.test(parsed.position)) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  if (parsed.epoch !== epoch) throw new SessionInputInvalid('cursor', 'belongs to another revocation feed (another store, or this one re-created)')
  const position = Number(parsed.position)
  if (!Number.isSafeInteger(position)) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  if (position > head()) throw new SessionInputInvalid('cursor', 'is ahead of this revocation feed (a store restored from an older copy)')
  return position
}

/** Checks the `limit` of a feed or audit read: a non-negative safe integer. */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new SessionInputInvalid('limit', 'must be a non-negative integer')
  return limit
}

/** Checks the `minExp` of a feed read: undefined (no bound) or a finite number of epoch seconds. */
export function checkMinExp(minExp: number | undefined): number {
  if (minExp === undefined) return Number.MIN_SAFE_INTEGER
  if (typeof minExp !== 'number' || !Number.isFinite(minExp)) throw new SessionInputInvalid('minExp', 'must be a finite number of epoch seconds')
  return minExp
}

/** A fresh feed epoch: 16 hex digits from 64 random bits. */
export function newFeedEpoch(): string {
  return randomBytes(8).toString('hex')
}

