/**
 * @module @hallpass/server
 *
 * One store subscription per server, fanned out to every SSE client (routes/revocation-feed.ts:
 * each client subscribes here before it reads the store, so nothing committed in between is
 * missed, and drops live entries at or before the last cursor it has sent).
 *
 * A subscription can die without a word (a LISTEN connection or a Redis subscriber cut by a
 * firewall: neither driver notices), and then every stream would go on sending heartbeats to
 * verifiers that believe themselves complete. So the hub also reads the store's head every
 * `pollIntervalMs`: entries past the last one it delivered are read and fanned out (a live
 * channel that went quiet costs at most one interval), and a store it cannot read makes it
 * unhealthy: the feed route then ends every stream and refuses new ones, so verifiers count
 * the time as stale instead of being told nothing happened.
 */
import { compareFeedCursors, readFeed, type RevocationEntry, type SessionStore } from 'hallpass'

export type RevocationSink = (entry: RevocationEntry) => void

export interface RevocationHub {
  /** Adds a sink; returns a function removing it. */
  add(sink: RevocationSink): () => void
  readonly size: number
  /** False once the store could not be read twice in a row, until it can again. */
  readonly healthy: boolean
  /** Called with the new value whenever `healthy` changes; returns a function removing it. */
  onHealthChange(listener: (healthy: boolean) => void): () => void
  close(): Promise<void>
}

export interface RevocationHubOptions {
  /** How often the store's head is read (default 1000 ms). */
  readonly pollIntervalMs?: number
  /** The clock of the session manager (epoch ms). */
  readonly now?: () => number
}

const UNHEALTHY_AFTER_FAILURES = 2

export async function createRevocationHub(store: SessionStore, options: RevocationHubOptions = {}): Promise<RevocationHub> {
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const now = options.now ?? Date.now
  const sinks = new Set<RevocationSink>()
  const healthListeners = new Set<(healthy: boolean) => void>()
  // The newest cursor fanned out, from the subscription or a poll.
  let last: string | undefined
  let healthy = true
  let failures = 0
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const deliver = (entry: RevocationEntry): void => {
    if (last !== undefined && (compareFeedCursors(entry.cursor, last) ?? 1) <= 0) return
    last = entry.cursor
    for (const sink of sinks) sink(entry)
  }

  const setHealthy = (value: boolean): void => {
    if (value === healthy) return
    healthy = value
    for (const listener of healthListeners) listener(value)
  }

  const poll = async (): Promise<void> => {
    const head = await store.headCursor()
    const nowSeconds = Math.floor(now() / 1000)
    if (last === undefined) {
      // First poll, before any stream: the streams read what came before from the store.
      last = head
      return
    }
    const order = compareFeedCursors(head, last)
    if (order === undefined) {
      // Another epoch (a flushed Redis): everything of the new feed, which no stream has seen.
      last = undefined
      await readFeed(store, undefined, { nowSeconds, onPage: (entries) => entries.forEach(deliver) })
      last ??= head
    } else if (order < 0) {
      // The store went back (restored under a running server): its new positions are past its
      // head, and past every cursor given out before (feed-cursor.ts).
      last = head
    } else if (order > 0) {
      await readFeed(store, last, { nowSeconds, onPage: (entries) => entries.forEach(deliver) })
    }
  }

  const schedule = (): void => {
    if (closed) return
    timer = setTimeout(() => {
      poll().then(
        () => {
          failures = 0
          setHealthy(true)
        },
        () => {
          failures++
          if (failures >= UNHEALTHY_AFTER_FAILURES) setHealthy(false)
        },
      ).finally(schedule)
    }, pollIntervalMs)
    timer.unref()
  }

  const unsubscribe = await store.subscribeRevocations(deliver)
  await poll().catch(() => undefined)
  schedule()
  return {
    add(sink) {
      sinks.add(sink)
      return () => void sinks.delete(sink)
    },
    get size() {
      return sinks.size
    },
    get healthy() {
      return healthy
    },
    onHealthChange(listener) {
      healthListeners.add(listener)
      return () => void healthListeners.delete(listener)
    },
    async close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      await unsubscribe()
    },
  }
}
