// PostgreSQL rows <-> session records and feed entries: the shared SQL row mapping of
// ../internal/rows.ts, after undoing the text escape (text-escape.ts) of every text and JSON
// member. JSON is selected as text so that no driver type parser is involved.
import type { QueryResultRow } from 'pg'
import { StoreUnavailable } from '../../errors.ts'
import { formatFeedCursor, isFeedEpoch } from '../../session/feed-cursor.ts'
import type { RevocationEntry, SessionRecord } from '../../session/types.ts'
import { revocationFromRow, sessionFromRow, type NumberLike, type SessionRow } from '../internal/rows.ts'
import { decodeJson, decodeNullableText, decodeText } from './text-escape.ts'

/** A session row as selected by SESSION_SELECT: JSON members as text, text members escaped. */
export interface PgSessionRow extends QueryResultRow {
  id: string
  subject: string
  created_at: NumberLike
  expires_at: NumberLike
  idle_expires_at: NumberLike
  last_seen_at: NumberLike
  generation: NumberLike
  refresh_hash: string
  previous_hash: string | null
  rotated_at: NumberLike
  revoked_at: NumberLike | null
  revoke_reason: string | null
  device: string
  claims: string
  scope: string | null
  audience: string | null
  max_access_exp: NumberLike
  undelivered_hash: string | null
}

/** A feed row as selected by `revocationSelect`. */
export interface PgRevocationRow extends QueryResultRow {
  cursor: string
  sid: string
  exp: NumberLike
  revoked_at: NumberLike
  reason: string
  epoch: string | null
}

export const SESSION_SELECT = `id, subject, created_at, expires_at, idle_expires_at, last_seen_at, generation,
  refresh_hash, previous_hash, rotated_at, revoked_at, revoke_reason,
  device::text AS device, claims::text AS claims, scope, audience::text AS audience, max_access_exp, undelivered_hash`

/** A feed row and the epoch of its feed, read in the same statement: never a cached epoch. */
export function revocationSelect(schemaIdent: string): string {
  return `seq::text AS cursor, sid, exp, revoked_at, reason, (SELECT value FROM ${schemaIdent}.meta WHERE key = 'feed_epoch') AS epoch`
}

export function sessionFromPg(row: PgSessionRow): SessionRecord {
  const decoded: SessionRow = {
    ...row,
    id: decodeText(row.id),
    subject: decodeText(row.subject),
    refresh_hash: decodeText(row.refresh_hash),
    previous_hash: decodeNullableText(row.previous_hash),
    revoke_reason: decodeNullableText(row.revoke_reason),
    device: decodeJson(row.device, 'session device') as object,
    claims: decodeJson(row.claims, 'session claims') as object,
    scope: decodeNullableText(row.scope),
    audience: row.audience === null ? null : (decodeJson(row.audience, 'session audience') as object),
    undelivered_hash: decodeNullableText(row.undelivered_hash),
  }
  return sessionFromRow(decoded)
}

export function revocationFromPg(row: PgRevocationRow): RevocationEntry {
  if (!isFeedEpoch(row.epoch)) throw new StoreUnavailable('postgres: the feed epoch is missing or corrupt')
  return revocationFromRow(formatFeedCursor(row.epoch, row.cursor), { ...row, sid: decodeText(row.sid), reason: decodeText(row.reason) })
}
