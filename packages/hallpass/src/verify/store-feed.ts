/**
 * @module hallpass/verify
 *
 * Revocations straight from the session store, for services that can reach hallpass's
 * PostgreSQL or Redis themselves: PostgreSQL `LISTEN`/`NOTIFY` or Redis pub/sub, through the
 * store's own `subscribeRevocations`, instead of the server's SSE feed. It offers the verifier
 * the same `RevocationFeed` view as the SSE client, so the denylist and the staleness policy
 * work unchanged.
 *
 * - Complete before live, as the SSE feed: it subscribes first, then reads the store from
 *   `initialCursor`, or a snapshot of every revocation whose `exp` has not passed (no cursor, or
 *   one the store cannot resume from). An entry seen twice is harmless to a denylist, one never
 *   seen is not.
 * - The stores reconnect their subscription and replay what was missed by themselves; what
 *   they do not expose is whether they are reachable right now, or whether their live channel
 *   still delivers (a LISTEN or pub/sub connection cut by a firewall goes quiet, not down).
 *   So the store's head is read every `livenessIntervalSeconds` (default 2): a failed read
 *   makes the feed incomplete (and stale, for the policy), and the first good read after it
 *   catches up from the last cursor before the feed counts as complete again; a head past the
 *   last entry delivered is read at once; a head of another epoch (the database was replaced
 *   or re-created under the same address) starts over from a snapshot.
 */
import { ConfigInvalid } from '../errors.ts'
import { compareFeedCursors, parseFeedCursor } from '../session/feed-cursor.ts'
import { readFeed } from '../session/feed-reader.ts'
import type { SessionStore } from '../session/store.ts'
import type { RevocationEntry } from '../session/types.ts'
import { MAX_SID_LENGTH } from './denylist.ts'
import { createFeedState } from './internal/feed-state.ts'
import { safeCall, type VerifierIo } from './internal/io.ts'
import type { FeedHooks, FeedMetrics, RevocationFeed } from './revocation-feed.ts'

/** What the verifier needs of a hallpass `SessionStore` (PostgreSQL or Redis) to follow revocations. */
export type RevocationStore = Pick<SessionStore, 'subscribeRevocations' | 'readRevocations' | 'headCursor'>

/** @internal */
export interface StoreFeedSettings {
  readonly initialCursor: string | undefined
  readonly livenessIntervalMs: number
}

/** Also the longest a revocation waits when the store's live channel died silently. */
export const DEFAULT_LIVENESS_INTERVAL_SECONDS = 2

/** @internal Checks that `value` has the store methods the feed calls. */
export function checkRevocationStore(value: unknown, path: string): RevocationStore {
  const methods = ['subscribeRevocations', 'readRevocations', 'headCursor'] as const
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw new ConfigInvalid(path, `must be a hallpass SessionStore (with ${methods.join(', ')})`)
  }
  return value as RevocationStore
}

/** @internal Follows the store's revocations until `close()`. Resolves once the first attempt settled. */
export async function openStoreFeed(store: RevocationStore, settings: StoreFeedSettings, io: VerifierIo, hooks: FeedHooks): Promise<RevocationFeed> {
  const { now, timers } = io
  const state = createFeedState(now, hooks.onStateChange)
  let lastEventAt: number | undefined
  // The newest cursor delivered, from the subscription or a catch-up.
  let cursor = settings.initialCursor
  // The epoch the denylist is complete on.
  let epoch: string | undefined
  let unsubscribe: (() => Promise<void>) | undefined
  let timer: unknown
  let closed = false
  let checking: Promise<void> | undefined
  const counters = { connects: 0, disconnects: 0, events: 0, invalidEvents: 0, snapshots: 0 }

  function deliver(entry: RevocationEntry): void {
    if (closed) return
    const { sid, exp } = entry
    if (typeof sid !== 'string' || sid.length === 0 || sid.length > MAX_SID_LENGTH || typeof exp !== 'number' || !Number.isFinite(exp)) {
      counters.invalidEvents++
      safeCall(hooks.onEvent, { type: 'feed.invalid_event', reason: 'store entry is not a revocation' })
      return
    }
    // Live entries and catch-up pages interleave: the cursor only moves forward.
    if (cursor === undefined || (compareFeedCursors(entry.cursor, cursor) ?? 1) > 0) cursor = entry.cursor
    counters.events++
    lastEventAt = now()
    hooks.onRevocation({ sid, exp, cursor: entry.cursor })
    safeCall(hooks.onEvent, { type: 'feed.revocation', sid, exp, cursor: entry.cursor })
  }

  // Reads from `from` (its own position: live entries delivered meanwhile move `cursor`, not
  // this), or a snapshot when there is none or the store cannot resume from it.
  async function catchUp(from: string | undefined): Promise<void> {
    const read = await readFeed(store, from, {
      nowSeconds: Math.floor(now() / 1000),
      stopped: () => closed,
      onStart: (start) => {
        if (!start.snapshot || start.reset === undefined) return
        safeCall(hooks.onEvent, { type: 'feed.reset', reason: start.reset })
        hooks.onReset?.(start.reset)
      },
      onPage: (entries) => entries.forEach(deliver),
    })
    if (read.complete === undefined) return
    if (read.start.snapshot) counters.snapshots++
    epoch = parseFeedCursor(read.complete)?.epoch
    if (cursor === undefined || (compareFeedCursors(read.complete, cursor) ?? 1) > 0) cursor = read.complete
    safeCall(hooks.onEvent, { type: 'feed.ready', snapshot: read.start.snapshot, entries: read.entries, cursor })
  }

  // Subscribed counts only once the catch-up is done: if it fails, the subscription is dropped
  // and the next check starts over, so nothing between it and the live stream can be skipped.
  async function subscribe(): Promise<void> {
    const stop = await store.subscribeRevocations(deliver)
    try {
      if (closed) return await stop()
      await catchUp(cursor)
      unsubscribe = stop
    } catch (error) {
      await stop().catch(() => undefined)
      throw error
    }
  }

  function markDown(reason: string): void {
    if (!state.connected && !state.complete) return
    if (state.connected) counters.disconnects++
    state.set(false, false)
    safeCall(hooks.onEvent, { type: 'feed.disconnected', reason, retryInMs: settings.livenessIntervalMs })
  }

  async function check(): Promise<void> {
    try {
      if (unsubscribe === undefined) await subscribe()
      // After a gap the store's own replay may still be running: prove the catch-up here.
      else if (!state.complete) await catchUp(cursor)
      const head = await store.headCursor()
      if (epoch !== undefined && parseFeedCursor(head)?.epoch !== epoch) {
        // Another database answers at the same address: its feed is not the one we followed.
        await catchUp(undefined)
      } else if (cursor !== undefined && (compareFeedCursors(head, cursor) ?? 0) > 0) {
        // The store has entries the subscription did not bring: it may have died without a
        // word (a cut LISTEN or pub/sub connection). Read them; the delay is one interval.
        await catchUp(cursor)
      }
    } catch (error) {
      return markDown(error instanceof Error ? error.message : 'store unreachable')
    }
    if (closed) return
    if (!state.connected) {
      counters.connects++
      safeCall(hooks.onEvent, { type: 'feed.connected', cursor })
    }
    state.set(true, true)
  }

  function schedule(): void {
    if (closed) return
    timer = timers.setTimeout(() => {
      checking = check().finally(schedule)
    }, settings.livenessIntervalMs)
  }

  await check()
  schedule()

  return {
    get connected() {
      return state.connected
    },
    get complete() {
      return state.complete
    },
    get lastCompleteAt() {
      return state.lastCompleteAt
    },
    get lastEventAt() {
      return lastEventAt
    },
    get cursor() {
      return cursor
    },
    metrics: (): FeedMetrics => ({ ...counters }),
    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (timer !== undefined) timers.clearTimeout(timer)
      await checking
      await unsubscribe?.()
    },
  }
}
