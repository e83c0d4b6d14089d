/**
 * @module hallpass
 *
 * Revocation feed cursors, the same for every store: `<epoch>.<position>`.
 *
 * - The epoch (16 lowercase hex digits) names one feed: it is drawn at random when a store's
 *   schema is created, so a cursor of another store, or of this store before it was re-created,
 *   is recognised as foreign instead of being read as a position of this one.
 * - The position is the store's own, increasing in feed order: a decimal number (SQLite,
 *   PostgreSQL) or a Redis stream id (`<ms>-<seq>`, both parts zero-padded). Stores make
 *   positions from the clock (`max(last + 1, now in µs)`, or Redis's own ms ids), so a store
 *   restored from an older copy never hands out a position again that a reader may already hold.
 *
 * A reader resumes with the last cursor it saw. A cursor the store cannot resume from (foreign
 * epoch, malformed, or ahead of every position the store ever gave out) makes it start over from
 * a snapshot of the revocations that can still matter.
 */

export interface FeedCursor {
  readonly epoch: string
  readonly position: string
}

const EPOCH = /^[0-9a-f]{16}$/
const CURSOR = /^([0-9a-f]{16})\.([0-9]{1,20}(?:-[0-9]{1,20})?)$/

/** True for a well-formed epoch (16 lowercase hex digits). */
export function isFeedEpoch(value: unknown): value is string {
  return typeof value === 'string' && EPOCH.test(value)
}

/** `<epoch>.<position>`. */
export function formatFeedCursor(epoch: string, position: string): string {
  return `${epoch}.${position}`
}

/** The parts of a well-formed cursor, or undefined (a cursor may come from a client: never guess). */
export function parseFeedCursor(cursor: unknown): FeedCursor | undefined {
  if (typeof cursor !== 'string') return undefined
  const match = CURSOR.exec(cursor)
  return match === null ? undefined : { epoch: match[1]!, position: match[2]! }
}

/** Orders two positions of one feed: numerically, part by part (`<ms>-<seq>` has two parts). */
export function comparePositions(a: string, b: string): number {
  const pa = a.split('-')
  const pb = b.split('-')
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(pa[i] ?? '0')
    const y = BigInt(pb[i] ?? '0')
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * Orders two cursors of the same feed by position. Cursors of different epochs are not
 * ordered: this returns undefined for them (and for malformed ones).
 */
export function compareFeedCursors(a: string, b: string): number | undefined {
  const x = parseFeedCursor(a)
  const y = parseFeedCursor(b)
  if (x === undefined || y === undefined || x.epoch !== y.epoch) return undefined
  return comparePositions(x.position, y.position)
}
