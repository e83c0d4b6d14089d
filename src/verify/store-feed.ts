/**
 * @module hallpass/verify
 *
 * Revocations straight from the session store, for services that can reach hallpass's
 * PostgreSQL or Redis themselves: PostgreSQL `LISTEN`/`NOTIFY` or Redis pub/sub, through the
 * store's own `subscribeRevocations`, instead of the server's SSE feed. It offers the verifier
 * the same `RevocationFeed` view as the SSE client, so the denylist and the staleness policy
 * work unchanged.
 *
 * - Subscribes first, then catches up from `initialCursor` with `readRevocations` (without one
 *   it starts from the store's head): an entry seen twice is harmless to a denylist, one never
 *   seen is not.
 * - The stores reconnect their subscription and replay what was missed by themselves; what
 *   they do not expose is whether they are reachable right now. So the store is pinged every
 *   `livenessIntervalSeconds` (default 5): a failed ping makes the feed disconnected (and
 *   stale, for the policy) until a ping succeeds again. A subscription that failed (the store
 *   was down at start) is retried at each successful ping.
 */
import { ConfigInvalid } from '../errors.ts'
import type { SessionStore } from '../session/store.ts'
import type { RevocationEntry } from '../session/types.ts'
import { MAX_SID_LENGTH } from './denylist.ts'
import { safeCall, type VerifierIo } from './internal/io.ts'
import type { FeedHooks, FeedMetrics, RevocationFeed } from './revocation-feed.ts'

/** What the verifier needs of a hallpass `SessionStore` (PostgreSQL or Redis) to follow revocations. */
export type RevocationStore = Pick<SessionStore, 'subscribeRevocations' | 'readRevocations' | 'headCursor' | 'ping'>

/** @internal */
export interface StoreFeedSettings {
  readonly initialCursor: string | undefined
  readonly livenessIntervalMs: number
}

export const DEFAULT_LIVENESS_INTERVAL_SECONDS = 5
const CATCH_UP_PAGE = 1000

/** @internal Checks that `value` has the store methods the feed calls. */
export function checkRevocationStore(value: unknown, path: string): RevocationStore {
  const methods = ['subscribeRevocations', 'readRevocations', 'headCursor', 'ping'] as const
  if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw new ConfigInvalid(path, `must be a hallpass SessionStore (with ${methods.join(', ')})`)
  }
  return value as RevocationStore
}

/** @internal Follows the store's revocations until `close()`. Resolves once the first attempt settled. */
export async function openStoreFeed(store: RevocationStore, settings: StoreFeedSettings, io: VerifierIo, hooks: FeedHooks): Promise<RevocationFeed> {
  const { now, timers } = io
  let connected = false
  let lastAliveAt: number | undefined
  let lastEventAt: number | undefined
  let cursor = settings.initialCursor
  let unsubscribe: (() => Promise<void>) | undefined
  let timer: unknown
  let closed = false
  let checking: Promise<void> | undefined
  const counters = { connects: 0, disconnects: 0, events: 0, invalidEvents: 0 }

  function deliver(entry: RevocationEntry): void {
    if (closed) return
    const { sid, exp } = entry
    if (typeof sid !== 'string' || sid.length === 0 || sid.length > MAX_SID_LENGTH || typeof exp !== 'number' || !Number.isFinite(exp)) {
      counters.invalidEvents++
      safeCall(hooks.onEvent, { type: 'feed.invalid_event', reason: 'store entry is not a revocation' })
      return
    }
    cursor = entry.cursor
    counters.events++
    lastEventAt = now()
    hooks.onRevocation({ sid, exp, cursor: entry.cursor })
    safeCall(hooks.onEvent, { type: 'feed.revocation', sid, exp, cursor: entry.cursor })
  }

  // Subscribed counts only once the catch-up is done: if it fails, the subscription is dropped
  // and the next check starts over from `initialCursor`, so nothing between it and the live
  // stream can be skipped. (Once subscribed, the stores reconnect and replay by themselves.)
  async function subscribe(): Promise<void> {
    const stop = await store.subscribeRevocations(deliver)
    try {
      if (closed) return await stop()
      if (settings.initialCursor === undefined) {
        const head = await store.headCursor()
        // A live entry may already have moved the cursor past the head.
        cursor ??= head
      } else {
        // Its own position: live entries delivered meanwhile move `cursor`, not this.
        let position = settings.initialCursor
        for (;;) {
          const page = await store.readRevocations(position, CATCH_UP_PAGE)
          for (const entry of page) deliver(entry)
          if (page.length < CATCH_UP_PAGE) break
          position = page.at(-1)!.cursor
        }
      }
      unsubscribe = stop
    } catch (error) {
      await stop().catch(() => undefined)
      throw error
    }
  }

  function markDown(reason: string): void {
    if (!connected) return
    connected = false
    counters.disconnects++
    safeCall(hooks.onEvent, { type: 'feed.disconnected', reason, retryInMs: settings.livenessIntervalMs })
  }

  async function check(): Promise<void> {
    try {
      if (unsubscribe === undefined) await subscribe()
      if (!(await store.ping())) return markDown('store unreachable')
    } catch (error) {
      return markDown(error instanceof Error ? error.message : 'store unreachable')
    }
    if (closed) return
    lastAliveAt = now()
    if (!connected) {
      connected = true
      counters.connects++
      safeCall(hooks.onEvent, { type: 'feed.connected', cursor })
    }
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
      return connected
    },
    get lastAliveAt() {
      return lastAliveAt
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
