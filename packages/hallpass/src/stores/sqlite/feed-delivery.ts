// Live delivery of the SQLite revocation feed to `subscribeRevocations` listeners. Subscribers
// of a store object are notified after the commit: at once for revocations made through any
// store object on the same file in this process (a module-level registry keyed by the file's
// real path), and within the poll interval for revocations made by other processes (a
// `seq > last` query on the primary key, run only while there are subscribers). Both paths read
// the table, so each subscriber sees every entry once, in feed order.
import { realpathSync } from 'node:fs'
import type Database from 'better-sqlite3'
import { SessionInputInvalid } from '../../errors.ts'
import type { RevocationListener } from '../../session/store.ts'
import { toStoreError } from './errors.ts'
import type { SqliteFeed } from './feed.ts'

const FEED_BATCH = 256

// Stores on the same file in this process wake each other after a revocation commits, so a
// subscriber hears it at once instead of at the next poll. Keyed by the file's real path.
const wakersByFile = new Map<string, Set<() => void>>()

export interface FeedDeliveryOptions {
  readonly pollIntervalMs: number
  readonly onError: ((error: unknown) => void) | undefined
}

export interface FeedDelivery {
  /** Call after a revocation committed: wakes the subscribers of every store on this file. */
  announce(): void
  subscribe(listener: RevocationListener): () => Promise<void>
  /** Drops every subscriber and leaves the file's registry. */
  close(): void
}

interface Subscription {
  readonly listener: RevocationListener
}

function fileKey(db: Database.Database): string | undefined {
  if (db.memory) return undefined
  try {
    return realpathSync(db.name)
  } catch {
    return db.name
  }
}

export function createFeedDelivery(db: Database.Database, feed: SqliteFeed, options: FeedDeliveryOptions): FeedDelivery {
  const subscriptions = new Set<Subscription>()
  let delivered = 0
  let pumpQueued = false
  let pumping = false
  let timer: ReturnType<typeof setInterval> | undefined
  let closed = false

  const report = (error: unknown): void => {
    try {
      options.onError?.(error)
    } catch {
      // An error handler that throws must not take the feed down with it.
    }
  }

  /** Delivers every committed entry after `delivered`, in seq order, to every subscriber. */
  const pump = (): void => {
    if (pumping || closed || subscriptions.size === 0) return
    pumping = true
    try {
      for (;;) {
        const rows = feed.rowsAfter(delivered, FEED_BATCH)
        for (const row of rows) {
          delivered = row.seq
          const entry = feed.entryOf(row)
          for (const subscription of [...subscriptions]) {
            if (!subscriptions.has(subscription)) continue
            try {
              subscription.listener(entry)
            } catch (error) {
              report(error)
            }
          }
        }
        if (rows.length < FEED_BATCH || subscriptions.size === 0) break
      }
    } catch (error) {
      report(toStoreError('revocation poll', error))
    } finally {
      pumping = false
    }
  }

  // Listeners run on a fresh microtask, never on the stack of the revoking call.
  const queuePump = (): void => {
    if (pumpQueued || subscriptions.size === 0) return
    pumpQueued = true
    queueMicrotask(() => {
      pumpQueued = false
      pump()
    })
  }

  const key = fileKey(db)
  if (key !== undefined) {
    let wakers = wakersByFile.get(key)
    if (wakers === undefined) wakersByFile.set(key, (wakers = new Set()))
    wakers.add(queuePump)
  }

  return {
    announce: () => {
      if (key === undefined) queuePump()
      else for (const wake of wakersByFile.get(key) ?? []) wake()
    },

    subscribe: (listener) => {
      if (typeof listener !== 'function') throw new SessionInputInvalid('listener', 'must be a function')
      if (subscriptions.size === 0) {
        // Live from here: entries committed before this call are what readRevocations is for.
        delivered = feed.lastPosition()
        timer = setInterval(pump, options.pollIntervalMs)
        timer.unref()
      } else {
        // Hand pending entries to the current subscribers first, so the newcomer starts now.
        pump()
      }
      const subscription: Subscription = { listener }
      subscriptions.add(subscription)
      return (): Promise<void> => {
        subscriptions.delete(subscription)
        if (subscriptions.size === 0 && timer !== undefined) {
          clearInterval(timer)
          timer = undefined
        }
        return Promise.resolve()
      }
    },

    close: () => {
      closed = true
      subscriptions.clear()
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      if (key !== undefined) {
        const wakers = wakersByFile.get(key)
        wakers?.delete(queuePump)
        if (wakers?.size === 0) wakersByFile.delete(key)
      }
    },
  }
}
