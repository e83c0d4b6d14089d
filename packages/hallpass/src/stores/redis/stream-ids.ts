/*
 * Feed positions of the Redis store: stream ids. A position is the stream id with both parts
 * zero-padded to a fixed width, so positions also sort as plain strings in feed order ("1-10"
 * would sort before "1-9"); the store parses them back. A cursor is `<epoch>.<position>`
 * (../../session/feed-cursor.ts).
 */
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import { formatFeedCursor, isFeedEpoch, parseFeedCursor } from '../../session/feed-cursor.ts'
import type { RevocationEntry } from '../../session/types.ts'
import { parseJsonString, required } from './codec.ts'
import { asArray, asString } from './commands.ts'

const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/
const MAX_U64 = 2n ** 64n - 1n

/** Raw stream id as two unsigned integers, for comparisons. */
export interface StreamId {
  readonly ms: bigint
  readonly seq: bigint
}

/** A feed entry with the stream id it was read at. */
export type StreamEntry = RevocationEntry & { id: StreamId }

function matchStreamId(id: string): RegExpExecArray {
  const match = STREAM_ID.exec(id)
  if (match === null) throw new StoreUnavailable('redis feed entry is corrupt')
  return match
}

export function formatPosition(id: string): string {
  const match = matchStreamId(id)
  return `${match[1]!.padStart(15, '0')}-${match[2]!.padStart(20, '0')}`
}

export function toStreamId(id: string): StreamId {
  const match = matchStreamId(id)
  return { ms: BigInt(match[1]!), seq: BigInt(match[2]!) }
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`
}

export function compareIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1
}

/** The epoch and raw stream id of a cursor; anything else is refused as input. */
export function parseCursor(cursor: string): { epoch: string; id: string } {
  const parsed = parseFeedCursor(cursor)
  const match = parsed === undefined ? null : STREAM_ID.exec(parsed.position)
  if (parsed === undefined || match === null) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  const ms = BigInt(match[1]!)
  const seq = BigInt(match[2]!)
  if (ms > MAX_U64 || seq > MAX_U64) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  return { epoch: parsed.epoch, id: `${ms}-${seq}` }
}

export function asEpoch(value: unknown): string {
  const epoch = asString(value)
  if (!isFeedEpoch(epoch)) throw new StoreUnavailable('redis feed epoch is corrupt')
  return epoch
}

/** An XRANGE item of the feed stream. */
export function parseStreamEntry(epoch: string, item: readonly unknown[]): StreamEntry {
  const id = asString(item[0])
  const fields = asArray(item[1])
  const f = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(asString(fields[i]), asString(fields[i + 1]))
  return {
    cursor: formatFeedCursor(epoch, formatPosition(id)),
    sid: parseJsonString(required(f, 'sid')),
    exp: Number(required(f, 'exp')),
    revokedAt: Number(required(f, 'revokedAt')),
    reason: parseJsonString(required(f, 'reason')),
    id: toStreamId(id),
  }
}

// A message on the live channel; anything malformed (another publisher?) is ignored.
export function parseLiveMessage(payload: string): StreamEntry | undefined {
  try {
    const m = JSON.parse(payload) as Record<string, unknown>
    if (!isFeedEpoch(m.epoch) || typeof m.id !== 'string' || typeof m.sid !== 'string' || typeof m.reason !== 'string') return undefined
    if (typeof m.exp !== 'number' || typeof m.revokedAt !== 'number') return undefined
    return { cursor: formatFeedCursor(m.epoch, formatPosition(m.id)), sid: m.sid, exp: m.exp, revokedAt: m.revokedAt, reason: m.reason, id: toStreamId(m.id) }
  } catch {
    return undefined
  }
}

export function stripId(entry: StreamEntry): RevocationEntry {
  return { cursor: entry.cursor, sid: entry.sid, exp: entry.exp, revokedAt: entry.revokedAt, reason: entry.reason }
}
