// The revocation feed table of the SQLite store: entries are appended inside the revoking
// transaction, read in pages after a cursor, and purged once no verifier can still need them.
// The cursor is `<epoch>.<seq>`, seq being the AUTOINCREMENT key.
import type Database from 'better-sqlite3'
import { formatFeedCursor } from '../../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { RevocationEntry } from '../../session/types.ts'
import { checkLimit, checkMinExp, feedPositionOf, revocationFromRow, type RevocationRow } from '../internal/rows.ts'

/** A feed row with its position. */
export interface FeedRow extends RevocationRow {
  readonly seq: number
}

export interface SqliteFeed {
  /** Appends an entry; runs inside the caller's write transaction. */
  append(sid: string, exp: number, revokedAt: number, reason: string): RevocationEntry
  /** What `readRevocations` answers: entries after `cursor`, checked as client input. */
  read(cursor: string | undefined, limit: number, minExp: number | undefined): RevocationEntry[]
  /** Up to `limit` rows after position `seq`, for delivery to subscribers. */
  rowsAfter(seq: number, limit: number): FeedRow[]
  entryOf(row: FeedRow): RevocationEntry
  /** The newest position on the feed, 0 when it is empty. */
  lastPosition(): number
  headCursor(): string
  /** Deletes the entries whose access tokens have all expired; runs inside the caller's transaction. */
  purge(now: number): number
}

export function createSqliteFeed(db: Database.Database): SqliteFeed {
  // Positions from the clock (`max(last + 1, now in µs)`): sqlite_sequence holds the largest
  // position ever given out, even after purgeExpired deleted that row (AUTOINCREMENT).
  const insertRevocation = db.prepare<[number, string, number, number, string]>(
    `INSERT INTO hallpass_revocations (seq, sid, exp, revoked_at, reason)
     VALUES (max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'hallpass_revocations'), 0) + 1, ?), ?, ?, ?, ?)`,
  )
  const revocationsAfter = db.prepare<[number, number, number], FeedRow>(
    'SELECT seq, sid, exp, revoked_at, reason FROM hallpass_revocations WHERE seq > ? AND exp >= ? ORDER BY seq LIMIT ?',
  )
  const lastSeq = db.prepare<[], number>('SELECT COALESCE(MAX(seq), 0) FROM hallpass_revocations').pluck()
  const highestPosition = db.prepare<[], number>(
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'hallpass_revocations'), 0)",
  ).pluck()
  const purgeFeed = db.prepare<[number]>('DELETE FROM hallpass_revocations WHERE exp < ?')
  // Read once: the epoch of an open database never changes (migration 3 drew it).
  const epoch = db.prepare<[], string>("SELECT value FROM hallpass_meta WHERE key = 'feed_epoch'").pluck().get()!
  const cursorOf = (seq: number): string => formatFeedCursor(epoch, String(seq))
  const entryOf = (row: FeedRow): RevocationEntry => revocationFromRow(cursorOf(row.seq), row)

  return {
    append: (sid, exp, revokedAt, reason) => {
      const { lastInsertRowid } = insertRevocation.run(Date.now() * 1000, sid, exp, revokedAt, reason)
      return { cursor: cursorOf(Number(lastInsertRowid)), sid, exp, revokedAt, reason }
    },
    read: (cursor, limit, minExp) => {
      const after = feedPositionOf(cursor, epoch, () => highestPosition.get() ?? 0)
      return revocationsAfter.all(after, checkMinExp(minExp), checkLimit(limit)).map(entryOf)
    },
    rowsAfter: (seq, limit) => revocationsAfter.all(seq, Number.MIN_SAFE_INTEGER, limit),
    entryOf,
    lastPosition: () => lastSeq.get() ?? 0,
    headCursor: () => cursorOf(lastSeq.get() ?? 0),
    // Kept FEED_EXP_MARGIN_SECONDS past exp: a verifier may accept a token for its tolerance.
    purge: (now) => purgeFeed.run(now / 1000 - FEED_EXP_MARGIN_SECONDS).changes,
  }
}
