// The revocation feed table of the PostgreSQL store: the SQL with which revocations append to it
// and announce it (`feedLock`, `notifyFeed`, spliced into the revoking statements), and its reads.
// A cursor is `<epoch>.<seq>`.
import { StoreUnavailable } from '../../errors.ts'
import { formatFeedCursor, isFeedEpoch } from '../../session/feed-cursor.ts'
import type { RevocationEntry } from '../../session/types.ts'
import { checkLimit, checkMinExp, feedPositionOf } from '../internal/rows.ts'
import { revocationFromPg, revocationSelect, type PgRevocationRow } from './codec.ts'
import type { PostgresListenClient } from './options.ts'
import type { PostgresQueries } from './query.ts'

/** NOTIFY payloads must stay under 8000 bytes; a larger entry is announced by its cursor alone. */
const MAX_FULL_PAYLOAD_BYTES = 4000

// Feed writers take this lock before touching the feed, and hold it to commit. `seq` comes
// from a sequence, and sequences hand out numbers in call order, not commit order: without
// the lock, seq 6 could commit before seq 5, a reader could catch up to 6, and 5 would be
// skipped forever. Serialised, seq order is commit order (and NOTIFY order), so
// `readRevocations(lastCursor)` never misses an entry. Revocations are rare; the lock is held
// for one short statement and its commit. It is taken before any session row lock (the
// UPDATE joins it), so two revocations can never deadlock on it.
export function feedLock(keyParam: string): string {
  return `lk AS (SELECT pg_advisory_xact_lock(hashtextextended(${keyParam}, 0)) AS locked)`
}

// pg_notify is queued in the transaction and delivered at commit: a revocation that rolls
// back is never announced. The payload is the feed entry, or only its cursor when the entry
// would not fit comfortably under the 8000-byte NOTIFY limit (a long reason).
export function notifyFeed(channelParam: string): string {
  return `sent AS (
    SELECT f.seq, f.sid, f.exp, f.revoked_at, f.reason,
      pg_notify(${channelParam}, CASE WHEN octet_length(p.full_payload) <= ${MAX_FULL_PAYLOAD_BYTES} THEN p.full_payload
                                 ELSE json_build_object('cursor', f.seq::text)::text END) AS notified
    FROM feed f
    CROSS JOIN LATERAL (SELECT json_build_object('cursor', f.seq::text, 'sid', f.sid, 'exp', f.exp,
      'revokedAt', f.revoked_at, 'reason', f.reason)::text AS full_payload) p
  )`
}

const PAYLOAD_CURSOR = /^\{"cursor" ?: ?"(0|[1-9][0-9]{0,15})"/

/** The cursor a payload announces (`notifyFeed` writes it first), if it has one. */
export function payloadCursor(payload: string | undefined): number | undefined {
  const match = payload === undefined ? null : PAYLOAD_CURSOR.exec(payload)
  return match === null ? undefined : Number(match[1])
}

/** The pool, or the subscription's own connection. */
export interface FeedRunner {
  query(text: string, values: unknown[]): Promise<{ rows: PgRevocationRow[] }>
}

interface FeedHead {
  readonly epoch: string
  readonly seq: string
  readonly highest: number
}

export interface PostgresFeed {
  /** What `readRevocations` answers: entries after `cursor`, checked as client input. */
  read(cursor: string | undefined, limit: number, minExp: number | undefined): Promise<RevocationEntry[]>
  headCursor(): Promise<string>
  /** Up to `limit` entries after position `after`, read on `runner`. */
  readAfter(runner: FeedRunner, after: number, limit: number): Promise<RevocationEntry[]>
  /** The newest position on the feed, read on the subscription's connection. */
  readLastPosition(client: PostgresListenClient): Promise<number>
}

/** The feed of the tables in `schemaIdent`: reads run on `pool`, the head through `queries`. */
export function createPostgresFeed(schemaIdent: string, pool: FeedRunner, { query }: PostgresQueries): PostgresFeed {
  const S = schemaIdent
  const readSql = `SELECT ${revocationSelect(S)} FROM ${S}.revocations WHERE seq > $1 AND exp >= $2 ORDER BY seq LIMIT $3`
  // The epoch as it is now, the newest position on the feed, and the largest position ever
  // given out (sequences are not transactional: `last_value` is the latest, committed or not).
  const headSql = `SELECT (SELECT value FROM ${S}.meta WHERE key = 'feed_epoch') AS epoch,
      (SELECT coalesce(max(seq), 0)::text FROM ${S}.revocations) AS seq,
      (SELECT last_value::text FROM ${S}.revocations_seq_seq) AS highest`

  // The epoch is read with every head and every row, never cached: a schema dropped and
  // created again under a running store has another one, and its cursors must say so.
  async function readHead(): Promise<FeedHead> {
    const [row] = await query<{ epoch: string | null; seq: string; highest: string }>(headSql, [])
    if (row === undefined || !isFeedEpoch(row.epoch)) throw new StoreUnavailable('postgres: the feed epoch is missing or corrupt')
    return { epoch: row.epoch, seq: row.seq, highest: Number(row.highest) }
  }

  async function readAfter(runner: FeedRunner, after: number, limit: number, minExp = Number.MIN_SAFE_INTEGER): Promise<RevocationEntry[]> {
    return (await runner.query(readSql, [after, minExp, limit])).rows.map(revocationFromPg)
  }

  return {
    read: async (cursor, limit, minExp) => {
      checkLimit(limit)
      const bound = checkMinExp(minExp)
      if (cursor === undefined) return readAfter(pool, 0, limit, bound)
      const head = await readHead()
      return readAfter(pool, feedPositionOf(cursor, head.epoch, () => head.highest), limit, bound)
    },
    headCursor: async () => {
      const head = await readHead()
      return formatFeedCursor(head.epoch, head.seq)
    },
    readAfter: (runner, after, limit) => readAfter(runner, after, limit),
    readLastPosition: async (client) => {
      const rows = (await client.query<{ seq: string }>(headSql)).rows
      return Number(rows[0]?.seq ?? 0)
    },
  }
}
