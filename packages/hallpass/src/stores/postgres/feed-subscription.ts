// Live delivery of the PostgreSQL revocation feed to `subscribeRevocations` listeners.
//
// A dedicated connection LISTENs on the channel. A notification is only a wake-up: the
// subscriber reads the feed table after the last cursor it delivered, and delivers what it
// finds, in cursor order. Reading the table rather than trusting the payload costs one indexed
// read per burst, and buys two things: NOTIFY can be sent by any role that can connect to the
// database (no table privilege needed), so a forged payload could otherwise inject entries or
// push the cursor past real ones; and live delivery and post-reconnect catch-up are the same
// code path, so they agree on order and never lose or repeat an entry. A payload cursor at or
// below the last delivered one is skipped without a read (already covered).
//
// When the connection fails (server restart, pg_terminate_backend, network), the subscriber
// reconnects with capped exponential backoff and jitter, LISTENs again, then catches up from
// its last cursor: anything revoked while it was away is delivered, nothing twice.
import type { Notification, Pool } from 'pg'
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import { parseFeedCursor } from '../../session/feed-cursor.ts'
import type { RevocationListener } from '../../session/store.ts'
import type { RevocationEntry } from '../../session/types.ts'
import { unavailable } from './errors.ts'
import { payloadCursor, type PostgresFeed } from './feed.ts'
import type { PostgresListenClient } from './options.ts'
import { quoteIdent } from './schema.ts'

const FEED_PAGE = 500
const RECONNECT_BASE_MS = 100
const RECONNECT_MAX_MS = 5000

export interface FeedSubscriptionsOptions {
  readonly pool: Pool
  readonly listenClient: (() => Promise<PostgresListenClient>) | undefined
  readonly channel: string
  readonly feed: PostgresFeed
  readonly isClosed: () => boolean
}

export interface FeedSubscriptions {
  subscribe(listener: RevocationListener): Promise<() => Promise<void>>
  /** Stops every live subscription (the store is closing). */
  stopAll(): Promise<void>
}

export function createFeedSubscriptions({ pool, listenClient, channel, feed, isClosed }: FeedSubscriptionsOptions): FeedSubscriptions {
  const subscriptions = new Set<() => Promise<void>>()

  async function subscribe(listener: RevocationListener): Promise<() => Promise<void>> {
    if (isClosed()) throw new StoreUnavailable('postgres subscribeRevocations: the store is closed')
    if (typeof listener !== 'function') throw new SessionInputInvalid('listener', 'must be a function')
    let client: PostgresListenClient | undefined
    let connection = 0 // bumped per connection and on stop: events of older connections are ignored
    let stopped = false
    let started = false
    let last = 0
    let attempt = 0
    let retryTimer: NodeJS.Timeout | undefined
    let readQueued = false
    let chain: Promise<void> = Promise.resolve()

    // Every read and delivery runs through one promise chain, in order, never concurrently.
    function enqueue(owner: number, task: () => Promise<void>): Promise<void> {
      const step = chain.then(() => (owner === connection && !stopped ? task() : undefined))
      chain = step.catch((error: unknown) => lost(owner, error))
      return step
    }

    function deliver(entry: RevocationEntry): void {
      const seq = Number(parseFeedCursor(entry.cursor)!.position)
      if (stopped || seq <= last) return
      last = seq
      try {
        listener(entry)
      } catch {
        // A throwing listener must not stall the feed for everyone after it.
      }
    }

    async function catchUp(c: PostgresListenClient): Promise<void> {
      for (;;) {
        const entries = await feed.readAfter(c, last, FEED_PAGE)
        for (const entry of entries) deliver(entry)
        if (entries.length < FEED_PAGE || stopped) return
      }
    }

    function onNotification(owner: number, c: PostgresListenClient, message: Notification): void {
      if (message.channel !== channel || owner !== connection) return
      const announced = payloadCursor(message.payload)
      if (announced !== undefined && announced <= last) return
      if (readQueued) return // the queued read will see this entry too
      readQueued = true
      void enqueue(owner, async () => {
        readQueued = false
        await catchUp(c)
      }).catch(() => undefined)
    }

    function release(c: PostgresListenClient, error: unknown): void {
      // Late errors from a dead connection must not become unhandled 'error' events.
      c.on('error', () => undefined)
      if ('release' in c && typeof c.release === 'function') {
        // Destroy rather than return to the pool: the connection is LISTENing (or broken).
        c.release(error instanceof Error ? error : true)
      } else {
        c.end().catch(() => undefined)
      }
    }

    function lost(owner: number, error: unknown): void {
      if (owner !== connection || stopped) return
      connection++
      readQueued = false
      const c = client
      client = undefined
      if (c !== undefined) release(c, error ?? true)
      if (started) scheduleReconnect()
    }

    function scheduleReconnect(): void {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt) * (0.5 + Math.random() / 2)
      attempt = Math.min(attempt + 1, 16)
      retryTimer = setTimeout(() => {
        retryTimer = undefined
        connect().catch(() => {
          if (!stopped && client === undefined) scheduleReconnect()
        })
      }, delay)
    }

    async function openClient(): Promise<PostgresListenClient> {
      try {
        return listenClient !== undefined ? await listenClient() : await pool.connect()
      } catch (error) {
        throw unavailable('subscribeRevocations', error)
      }
    }

    async function connect(): Promise<void> {
      const c = await openClient()
      if (stopped) {
        release(c, true)
        return
      }
      const owner = ++connection
      client = c
      c.on('error', (error) => lost(owner, error))
      c.on('end', () => lost(owner, undefined))
      c.on('notification', (message) => onNotification(owner, c, message))
      // Queue the LISTEN and the first read on the connection before any notification can be
      // handled: the sync step is first in the chain, so notifications are processed after it.
      const listening = c.query(`LISTEN ${quoteIdent(channel)}`)
      listening.catch(() => undefined)
      const synced = enqueue(owner, async () => {
        await listening
        if (!started) {
          // The subscription starts at the current end of the feed.
          last = await feed.readLastPosition(c)
        } else {
          await catchUp(c)
        }
        attempt = 0
      })
      if (!started) await synced
      else synced.catch(() => undefined) // lost() already scheduled the next attempt
    }

    async function stop(): Promise<void> {
      if (stopped) return
      stopped = true
      connection++
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      const c = client
      client = undefined
      subscriptions.delete(stop)
      if (c !== undefined) {
        c.on('error', () => undefined)
        if ('release' in c && typeof c.release === 'function') c.release(true)
        else await c.end().catch(() => undefined)
      }
    }

    try {
      await connect()
    } catch (error) {
      await stop()
      throw unavailable('subscribeRevocations', error)
    }
    started = true
    subscriptions.add(stop)
    return stop
  }

  return {
    subscribe,
    stopAll: async () => {
      await Promise.all([...subscriptions].map((stop) => stop()))
    },
  }
}
