// Live delivery of the Redis revocation feed to `subscribeRevocations` listeners: pub/sub on a
// second connection for speed, the stream for order and completeness. Each subscription
// replays the stream after the last id it delivered whenever it may have missed a message (at
// the start, after a reconnect), and takes live messages directly only in between.
import { ConfigInvalid, StoreUnavailable } from '../../errors.ts'
import type { RevocationListener } from '../../session/store.ts'
import type { RevocationEntry } from '../../session/types.ts'
import type { RedisFeed } from './feed.ts'
import { compareIds, formatStreamId, parseLiveMessage, stripId, type StreamId } from './stream-ids.ts'

const FEED_PAGE = 500
const CATCH_UP_RETRY_MS = 1000

type SubscriberEvent = 'message' | 'ready' | 'error' | 'end'

/** The pub/sub surface of an ioredis connection used here. */
export interface Subscriber {
  readonly status: string
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  connect(): Promise<void>
  disconnect(): void
  on(event: SubscriberEvent, listener: (...args: never[]) => void): unknown
  off(event: SubscriberEvent, listener: (...args: never[]) => void): unknown
}

export function isSubscriber(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { subscribe?: unknown }).subscribe === 'function' && typeof (value as { on?: unknown }).on === 'function'
}

interface Subscription {
  readonly listener: RevocationListener
  last: StreamId
  active: boolean
  /** Live messages are held back while the stream is being replayed. */
  catchingUp: boolean
  /** A live message arrived (or a reconnect happened) during the replay: replay again. */
  dirty: boolean
  running: boolean
  retry: ReturnType<typeof setTimeout> | undefined
}

export interface FeedSubscriptionsOptions {
  readonly feed: RedisFeed
  readonly channel: string
  /** The caller's pub/sub connection (left open), or undefined to open `duplicate()` on first use. */
  readonly subscriber: Subscriber | undefined
  readonly duplicate: () => Subscriber
  readonly isClosed: () => boolean
}

export interface FeedSubscriptions {
  subscribe(listener: RevocationListener): Promise<() => Promise<void>>
  /** Ends every subscription and lets go of the pub/sub connection (the store is closing). */
  close(): Promise<void>
}

export function createFeedSubscriptions({ feed, channel, subscriber: given, duplicate, isClosed }: FeedSubscriptionsOptions): FeedSubscriptions {
  let subscriber = given
  const ownsSubscriber = given === undefined
  let subscriberWired = false
  const subscriptions = new Set<Subscription>()

  const deliver = (s: Subscription, entry: RevocationEntry): void => {
    try {
      s.listener(entry)
    } catch {
      // A listener's bug must not stop delivery to it or to the other listeners.
    }
  }

  // Replays the stream after `s.last` until a pass completes with no live message arriving in
  // the meantime; only then are live messages delivered directly again. Messages that arrive
  // during a replay are dropped, because the next pass reads them from the stream in order.
  const catchUp = (s: Subscription): void => {
    s.catchingUp = true
    s.dirty = true
    if (s.running || !s.active) return
    s.running = true
    const loop = async (): Promise<void> => {
      try {
        while (s.dirty && s.active) {
          s.dirty = false
          for (;;) {
            const { entries: page } = await feed.readPage(formatStreamId(s.last), FEED_PAGE)
            for (const entry of page) {
              if (!s.active) return
              if (compareIds(entry.id, s.last) > 0) {
                s.last = entry.id
                deliver(s, stripId(entry))
              }
            }
            if (page.length < FEED_PAGE) break
          }
        }
        // No await between the last check of `dirty` and this line: no message can slip through.
        s.catchingUp = false
      } catch {
        // Redis unreachable: try again later (a reconnect also triggers a replay).
        if (s.active && s.retry === undefined) {
          s.retry = setTimeout(() => {
            s.retry = undefined
            catchUp(s)
          }, CATCH_UP_RETRY_MS)
          s.retry.unref()
        }
      } finally {
        s.running = false
      }
    }
    void loop()
  }

  const onMessage = (messageChannel: string, payload: string): void => {
    if (messageChannel !== channel) return
    const entry = parseLiveMessage(payload)
    if (entry === undefined) return
    for (const s of subscriptions) {
      if (s.catchingUp) s.dirty = true
      else if (compareIds(entry.id, s.last) > 0) {
        s.last = entry.id
        deliver(s, stripId(entry))
      }
    }
  }

  // After a reconnect ioredis re-subscribes by itself, but whatever was published while the
  // connection was down is lost to pub/sub: replay it from the stream, once the subscription is
  // confirmed active again (our own SUBSCRIBE is answered after the automatic one).
  const onReady = (): void => {
    if (subscriptions.size === 0 || subscriber === undefined) return
    for (const s of subscriptions) s.catchingUp = true
    const sub = subscriber
    sub.subscribe(channel).then(
      () => subscriptions.forEach(catchUp),
      () => subscriptions.forEach(catchUp), // a failed replay schedules its own retry
    )
  }
  const ignoreError = (): void => {}

  const ensureSubscriber = async (): Promise<Subscriber> => {
    if (subscriber === undefined) subscriber = duplicate()
    const sub = subscriber
    if (!subscriberWired) {
      sub.on('message', onMessage)
      sub.on('ready', onReady)
      // ioredis reports each failed reconnect as an 'error' event; ours only retries.
      if (ownsSubscriber) sub.on('error', ignoreError)
      subscriberWired = true
    }
    await waitReady(sub)
    return sub
  }

  return {
    subscribe: async (listener) => {
      if (typeof listener !== 'function') throw new ConfigInvalid('listener', 'must be a function')
      // The replay starts at the newest id as of now, read before subscribing, so whatever is
      // appended while the subscription is being set up is replayed rather than missed.
      const last = await feed.headId()
      const s: Subscription = { listener, last, active: true, catchingUp: true, dirty: true, running: false, retry: undefined }
      subscriptions.add(s)
      try {
        const sub = await ensureSubscriber()
        await sub.subscribe(channel)
      } catch (error) {
        subscriptions.delete(s)
        s.active = false
        throw error
      }
      catchUp(s)
      let stopped = false
      return async () => {
        if (stopped) return
        stopped = true
        s.active = false
        if (s.retry !== undefined) clearTimeout(s.retry)
        subscriptions.delete(s)
        if (subscriptions.size === 0 && subscriber !== undefined && !isClosed()) {
          // Best effort: a dead connection has no subscription left to cancel anyway.
          await subscriber.unsubscribe(channel).catch(ignoreError)
        }
      }
    },

    close: async () => {
      for (const s of subscriptions) {
        s.active = false
        if (s.retry !== undefined) clearTimeout(s.retry)
      }
      subscriptions.clear()
      if (subscriber !== undefined && subscriberWired) {
        subscriber.off('message', onMessage)
        subscriber.off('ready', onReady)
        if (ownsSubscriber) subscriber.disconnect()
        else await subscriber.unsubscribe(channel).catch(ignoreError)
      }
    },
  }
}

// Resolves when the connection is ready; rejects on its first error instead of waiting for
// reconnects (a subscription must not hang on an unreachable server).
async function waitReady(sub: Subscriber): Promise<void> {
  if (sub.status === 'ready') return
  if (sub.status === 'end') throw new StoreUnavailable('redis subscriber connection is closed')
  await new Promise<void>((resolve, reject) => {
    const done = (error?: unknown): void => {
      sub.off('ready', onReady)
      sub.off('error', onError)
      sub.off('end', onEnd)
      if (error === undefined) resolve()
      else reject(error instanceof Error ? error : new Error('redis subscriber failed'))
    }
    const onReady = (): void => done()
    const onError = (error: unknown): void => done(error)
    const onEnd = (): void => done(new Error('redis subscriber connection ended'))
    sub.on('ready', onReady)
    sub.on('error', onError)
    sub.on('end', onEnd)
    if (sub.status === 'wait') sub.connect().catch(onError)
  })
}
