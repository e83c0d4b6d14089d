// The revocation feed of the Redis store: a stream on the `{feed}` slot, appended to after a
// session was marked revoked (deduplicated by session id, so an append is safe to retry), read
// in pages after a cursor, and purged once no verifier can still need an entry.
import { SessionInputInvalid } from '../../errors.ts'
import { formatFeedCursor } from '../../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { RevocationEntry } from '../../session/types.ts'
import { checkLimit, newFeedEpoch } from '../internal/rows.ts'
import { checkNumbers, json, num, parseJsonString } from './codec.ts'
import { asArray, asString, evalScript, type Commands } from './commands.ts'
import type { RedisKeys } from './keys.ts'
import { feedAppendScript, feedReadScript, purgeFeedScript } from './scripts.ts'
import { asEpoch, formatPosition, parseCursor, parseStreamEntry, stripId, toStreamId, type StreamEntry, type StreamId } from './stream-ids.ts'

const PURGE_BATCH = 500
/** The most entries one read returns, whatever the caller asks for. */
const MAX_READ = 10_000

/** One feed read: the epoch, the newest id given out, a status and a page of entries. */
export interface FeedPage {
  readonly epoch: string
  readonly head: string
  /** 'ok', or why the cursor cannot be resumed from: 'foreign' or 'ahead'. */
  readonly status: string
  readonly entries: StreamEntry[]
}

export interface RedisFeed {
  append(sid: string, exp: number, revokedAt: number, reason: string): Promise<RevocationEntry>
  /**
   * Re-appends the feed entry of an already revoked session, from the revoke script's reply,
   * in case a crash lost it; pointless once every access token of the session has expired.
   */
  repair(sid: string, already: readonly unknown[], now: number): Promise<void>
  /** Up to `limit` entries after the raw stream id `after` (undefined: from the start). */
  readPage(after: string | undefined, limit: number, options?: { minExp?: number; cursorEpoch?: string }): Promise<FeedPage>
  /** What `readRevocations` answers: entries after `cursor`, checked as client input. */
  read(cursor: string | undefined, limit: number, minExp: number | undefined): Promise<RevocationEntry[]>
  headCursor(): Promise<string>
  /** The newest stream id given out. */
  headId(): Promise<StreamId>
  /** Deletes the entries whose access tokens have all expired; returns how many. */
  purge(now: number): Promise<number>
}

export function createRedisFeed(client: Commands, keys: RedisKeys): RedisFeed {
  const feedKeys = [keys.feed, keys.feedSids, keys.feedExp]
  const feedReadKeys = [keys.feed, keys.feedEpoch, keys.feedHead]

  const append = async (sid: string, exp: number, revokedAt: number, reason: string): Promise<RevocationEntry> => {
    const reply = asArray(
      await evalScript(client, feedAppendScript, [...feedKeys, keys.feedEpoch, keys.feedHead], [json(sid), num(exp), num(revokedAt), json(reason), keys.channel, newFeedEpoch()]),
    )
    return { cursor: formatFeedCursor(asEpoch(reply[2]), formatPosition(asString(reply[1]))), sid, exp, revokedAt, reason }
  }

  // One script call: the epoch, the newest id given out, and a page of entries (or the reason
  // the cursor cannot be resumed from).
  const readPage = async (after: string | undefined, limit: number, options: { minExp?: number; cursorEpoch?: string } = {}): Promise<FeedPage> => {
    const reply = asArray(
      await evalScript(client, feedReadScript, feedReadKeys, [newFeedEpoch(), after ?? '', limit, options.minExp === undefined ? '' : num(options.minExp), options.cursorEpoch ?? '']),
    )
    const epoch = asEpoch(reply[0])
    return { epoch, head: asString(reply[1]), status: asString(reply[2]), entries: reply.slice(3).map((item) => parseStreamEntry(epoch, asArray(item))) }
  }

  return {
    append,

    repair: async (sid, already, now) => {
      const feedExp = asString(already[3])
      if (feedExp === '' || Number(feedExp) <= now / 1000) return
      await append(sid, Number(feedExp), Number(asString(already[1])), parseJsonString(asString(already[2])))
    },

    readPage,

    read: async (cursor, limit, minExp) => {
      checkLimit(limit)
      if (minExp !== undefined) checkNumbers({ minExp })
      const parsed = cursor === undefined ? undefined : parseCursor(cursor)
      const count = Math.min(limit, MAX_READ)
      const read = await readPage(parsed?.id, count, { ...(minExp !== undefined ? { minExp } : {}), ...(parsed !== undefined ? { cursorEpoch: parsed.epoch } : {}) })
      if (read.status === 'foreign') throw new SessionInputInvalid('cursor', 'belongs to another revocation feed (another store, or this one re-created)')
      if (read.status === 'ahead') throw new SessionInputInvalid('cursor', 'is ahead of this revocation feed (a store restored from an older copy)')
      return read.entries.map(stripId)
    },

    headCursor: async () => {
      const { epoch, head } = await readPage(undefined, 0)
      return formatFeedCursor(epoch, formatPosition(head))
    },

    headId: async () => toStreamId((await readPage(undefined, 0)).head),

    purge: async (now) => {
      let removed = 0
      // Entries whose exp (seconds) has passed: every access token they covered has expired.
      for (;;) {
        // Kept FEED_EXP_MARGIN_SECONDS past exp: a verifier may accept a token for its tolerance.
        const [examined, deleted] = asArray(await evalScript(client, purgeFeedScript, feedKeys, [num(now / 1000 - FEED_EXP_MARGIN_SECONDS), PURGE_BATCH]))
        removed += Number(deleted)
        if (Number(examined) < PURGE_BATCH) break
      }
      return removed
    },
  }
}
