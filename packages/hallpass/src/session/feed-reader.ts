/**
 * @module hallpass
 *
 * Reading the revocation feed until complete, the one way the server's SSE endpoint and a
 * verifier following the store both do it: from a cursor, or from a snapshot of every entry
 * that can still matter when there is none or the store cannot resume from it, page by page,
 * and then the position from which a reader has everything.
 */
import { isHallpassError } from '../errors.ts'
import { compareFeedCursors, parseFeedCursor } from './feed-cursor.ts'
import type { SessionStore } from './store.ts'
import type { RevocationEntry } from './types.ts'

/**
 * How long past its `exp` a feed entry is still served and kept, in seconds: the longest clock
 * tolerance a verifier may grant. A verifier accepts a token until `exp + tolerance`, so a
 * reader starting just after an entry's `exp` still needs it; the verifier refuses a larger
 * tolerance while it follows a feed.
 */
export const FEED_EXP_MARGIN_SECONDS = 300

/** Why a cursor could not be resumed from. */
export type FeedResetReason = 'malformed' | 'foreign' | 'ahead'

/** How a read started: from the cursor given, or over from a snapshot (and why, if a cursor was refused). */
export type FeedStart = { readonly snapshot: false } | { readonly snapshot: true; readonly reset: FeedResetReason | undefined }

export interface FeedReadOptions {
  /** Epoch seconds of the reader's clock: entries whose `exp` is more than the margin before it are left out. */
  readonly nowSeconds: number
  readonly pageSize?: number
  /** Called once, after the first page was read and before it is handed over. */
  readonly onStart?: (start: FeedStart) => void | Promise<void>
  /** Receives every page in feed order; the next is read once this resolves. */
  readonly onPage: (entries: readonly RevocationEntry[]) => void | Promise<void>
  /** Checked between pages: true stops the read (the reader went away). */
  readonly stopped?: () => boolean
}

export interface FeedReadResult {
  readonly start: FeedStart
  /** Entries handed over. */
  readonly entries: number
  /**
   * Where a reader that took every page has everything: the newer of the last entry and the
   * head read before the first page (entries up to the head that were not handed over had
   * expired). Undefined when the read stopped early.
   */
  readonly complete: string | undefined
}

/**
 * Reads the feed from `cursor` (undefined: a snapshot) until it is complete.
 *
 * @example
 * import { readFeed } from 'hallpass'
 * const { complete } = await readFeed(store, cursor, { nowSeconds, onPage: (entries) => entries.forEach(deliver) })
 */
export async function readFeed(store: Pick<SessionStore, 'headCursor' | 'readRevocations'>, cursor: string | undefined, options: FeedReadOptions): Promise<FeedReadResult> {
  const pageSize = options.pageSize ?? 1000
  const minExp = options.nowSeconds - FEED_EXP_MARGIN_SECONDS
  // Before the first page: an entry committed after this is past the head, so it is in a page
  // or will reach a live reader, never lost between the two.
  const head = await store.headCursor()
  let start: FeedStart = cursor === undefined ? { snapshot: true, reset: undefined } : { snapshot: false }
  let page: RevocationEntry[]
  try {
    page = await store.readRevocations(cursor, pageSize, minExp)
  } catch (error) {
    if (cursor === undefined || !isHallpassError(error, 'ERR_SESSION_INPUT_INVALID') || error.field !== 'cursor') throw error
    start = { snapshot: true, reset: whyUnresumable(cursor, head) }
    page = await store.readRevocations(undefined, pageSize, minExp)
  }
  await options.onStart?.(start)
  let last = start.snapshot ? undefined : cursor
  let entries = 0
  for (;;) {
    if (options.stopped?.() === true) return { start, entries, complete: undefined }
    await options.onPage(page)
    entries += page.length
    if (page.length > 0) last = page.at(-1)!.cursor
    if (page.length < pageSize) break
    page = await store.readRevocations(last, pageSize, minExp)
  }
  return { start, entries, complete: last === undefined || (compareFeedCursors(last, head) ?? 1) < 0 ? head : last }
}

/** Why the store could not resume from a cursor: not one, another feed's, or of this feed but not a position it made (ahead of it, after a restore). */
function whyUnresumable(cursor: string, head: string): FeedResetReason {
  const parsed = parseFeedCursor(cursor)
  if (parsed === undefined) return 'malformed'
  if (parsed.epoch !== parseFeedCursor(head)?.epoch) return 'foreign'
  return (compareFeedCursors(cursor, head) ?? 0) > 0 ? 'ahead' : 'malformed'
}
