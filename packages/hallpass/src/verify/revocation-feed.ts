/**
 * @module hallpass/verify
 *
 * The client of the issuer's revocation feed (`GET /auth/revocations`): Server-Sent Events
 * read over `fetch` streaming. Each `event: revocation` carries `{"sid","exp"}` and an `id`
 * (the feed cursor); `onRevocation` receives them, and the verifier puts them in its denylist.
 *
 * - Every connection first brings the denylist up to date, then goes live: the server sends
 *   what was missed since `Last-Event-ID`, or a snapshot of every revocation that can still
 *   matter (first connection, or a cursor it cannot resume from, announced by `event: reset`),
 *   then `event: ready`. The feed is `complete` from `ready` until the connection drops; before
 *   the first `ready` the verifier knows nothing, and its policy decides.
 *
 * - Reconnects after any failure with exponential backoff and jitter (the server's `retry:` is
 *   the base, bounded), sending `Last-Event-ID` with the last cursor seen so the server replays
 *   what was missed while disconnected (WHATWG HTML §9.2.4).
 * - A connection that stays silent longer than `idleTimeoutSeconds` is presumed dead and
 *   replaced: the server sends a comment every 15 s, so silence means a half-open TCP
 *   connection, which would otherwise look "connected" forever while revocations are lost.
 * - `complete` and `lastCompleteAt` (the last moment the feed was known to be complete) let the
 *   verifier apply its staleness policy.
 * - Bounded: a line longer than 64 KiB or an event larger than 64 KiB drops the connection;
 *   malformed events are counted and skipped; the cursor is only ever echoed back if it is
 *   short printable ASCII, so the server cannot inject headers through it.
 * - If the server refuses the cursor with a 400 (a server that cannot start over by itself), the
 *   client reconnects without one, for a snapshot, and reports `feed.cursor_rejected`.
 */
import { ConfigInvalid, JwtMalformed } from '../errors.ts'
import { checkFunction, checkKnownKeys } from '../internal/options.ts'
import { parseJsonObject } from '../internal/strict-json.ts'
import { MAX_SID_LENGTH } from './denylist.ts'
import { checkSeconds } from './internal/check.ts'
import { createFeedState } from './internal/feed-state.ts'
import { safeCall, SYSTEM_TIMERS, type FetchFunction, type VerifierIo, type VerifierTimers } from './internal/io.ts'
import { createSseParser, type SseMessage } from './internal/sse-parser.ts'
import { checkFetchUrl } from './internal/url-policy.ts'
import type { VerifierEventHook } from './types.ts'

/** One revocation as received. `exp` is epoch seconds. */
export interface FeedRevocation {
  readonly sid: string
  readonly exp: number
  readonly cursor: string | undefined
}

export interface FeedConnectionOptions {
  /**
   * Cursor to resume from on the first connection (default none: a snapshot of every
   * revocation that can still matter). One the feed cannot resume from also gets a snapshot.
   */
  initialCursor?: string
  /** First reconnect delay (default 1; the server's `retry:` replaces it). */
  minReconnectDelaySeconds?: number
  /** Longest reconnect delay (default 30). */
  maxReconnectDelaySeconds?: number
  /** Deadline to receive the response headers (default 10). */
  connectTimeoutSeconds?: number
  /** Silence after which the connection is replaced (default 45: three server heartbeats). */
  idleTimeoutSeconds?: number
}

export interface RevocationFeedOptions extends FeedConnectionOptions {
  onRevocation: (revocation: FeedRevocation) => void
  /** Extra request headers (e.g. `authorization` for a feed that requires client credentials). */
  headers?: Readonly<Record<string, string>>
  fetch?: FetchFunction
  now?: () => number
  timers?: VerifierTimers
  /** Jitter source in [0, 1) (default `Math.random`). */
  random?: () => number
  /** Allow `http://localhost` (development only; default false). */
  allowHttpLoopback?: boolean
  onEvent?: VerifierEventHook
}

export interface FeedMetrics {
  readonly connects: number
  readonly disconnects: number
  readonly events: number
  readonly invalidEvents: number
  /** Connections that started from a snapshot rather than a catch-up. */
  readonly snapshots: number
}

export interface RevocationFeed {
  readonly connected: boolean
  /** True while every revocation up to the live edge has been delivered: connected and past `ready`. */
  readonly complete: boolean
  /** Epoch ms of the last moment the feed was known complete (undefined before the first time). */
  readonly lastCompleteAt: number | undefined
  /** Epoch ms of the last revocation event. */
  readonly lastEventAt: number | undefined
  /** The last cursor seen, sent as `Last-Event-ID` on reconnect. */
  readonly cursor: string | undefined
  metrics(): FeedMetrics
  /** Disconnects and stops reconnecting. */
  close(): Promise<void>
}

export const FEED_DEFAULTS = Object.freeze({
  minReconnectDelaySeconds: 1,
  maxReconnectDelaySeconds: 30,
  connectTimeoutSeconds: 10,
  idleTimeoutSeconds: 45,
})

const MAX_LINE_LENGTH = 64 * 1024
const MAX_EVENT_LENGTH = 64 * 1024
// What may be echoed in a `Last-Event-ID` header: short, printable ASCII, no spaces.
const SAFE_CURSOR = /^[\x21-\x7e]{1,128}$/

/** @internal Checked connection settings. */
export interface FeedSettings {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly initialCursor: string | undefined
  readonly minDelayMs: number
  readonly maxDelayMs: number
  readonly connectTimeoutMs: number
  readonly idleTimeoutMs: number
}

/** @internal Checks the connection options; `prefix` is the option path (e.g. `revocation.`). */
export function checkFeedConnectionOptions(options: FeedConnectionOptions, prefix: string): Omit<FeedSettings, 'url' | 'headers'> {
  const d = FEED_DEFAULTS
  const min = checkSeconds(options.minReconnectDelaySeconds, `${prefix}minReconnectDelaySeconds`, d.minReconnectDelaySeconds)
  const max = checkSeconds(options.maxReconnectDelaySeconds, `${prefix}maxReconnectDelaySeconds`, Math.max(d.maxReconnectDelaySeconds, min))
  if (max < min) throw new ConfigInvalid(`${prefix}maxReconnectDelaySeconds`, 'must not be less than minReconnectDelaySeconds')
  const cursor = options.initialCursor
  if (cursor !== undefined && (typeof cursor !== 'string' || !SAFE_CURSOR.test(cursor))) {
    throw new ConfigInvalid(`${prefix}initialCursor`, 'must be 1-128 printable ASCII characters')
  }
  return {
    initialCursor: cursor,
    minDelayMs: min * 1000,
    maxDelayMs: max * 1000,
    connectTimeoutMs: checkSeconds(options.connectTimeoutSeconds, `${prefix}connectTimeoutSeconds`, d.connectTimeoutSeconds) * 1000,
    idleTimeoutMs: checkSeconds(options.idleTimeoutSeconds, `${prefix}idleTimeoutSeconds`, d.idleTimeoutSeconds) * 1000,
  }
}

/**
 * Connects to a revocation feed and keeps reconnecting until `close()`. Resolves once the
 * first connection has settled: complete (past `ready`) or failed (a feed that is down at start
 * is not an error, it is retried). Rejects only with `ERR_CONFIG_INVALID` for bad options.
 *
 * @example
 * import { createDenylist, createRevocationFeed } from 'hallpass/verify'
 * const denylist = createDenylist()
 * const feed = await createRevocationFeed('https://auth.example.com/auth/revocations', {
 *   onRevocation: ({ sid, exp }) => denylist.add(sid, exp, Math.floor(Date.now() / 1000)),
 * })
 */
export async function createRevocationFeed(url: string, options: RevocationFeedOptions): Promise<RevocationFeed> {
  checkKnownKeys(options, [
    'onRevocation', 'headers', 'fetch', 'now', 'timers', 'random', 'allowHttpLoopback', 'onEvent',
    'initialCursor', 'minReconnectDelaySeconds', 'maxReconnectDelaySeconds', 'connectTimeoutSeconds', 'idleTimeoutSeconds',
  ])
  const onRevocation = checkFunction<(r: FeedRevocation) => void>(options.onRevocation, 'onRevocation')
  if (onRevocation === undefined) throw new ConfigInvalid('onRevocation', 'is required')
  const settings: FeedSettings = {
    url: checkFetchUrl(url, 'url', options.allowHttpLoopback === true),
    headers: checkHeaders(options.headers, 'headers'),
    ...checkFeedConnectionOptions(options, ''),
  }
  const io: VerifierIo = {
    fetch: checkFunction<FetchFunction>(options.fetch, 'fetch') ?? ((input, init) => globalThis.fetch(input, init)),
    now: checkFunction<() => number>(options.now, 'now') ?? Date.now,
    timers: options.timers ?? SYSTEM_TIMERS,
    random: checkFunction<() => number>(options.random, 'random') ?? Math.random,
  }
  return openRevocationFeed(settings, io, { onRevocation, onEvent: checkFunction<VerifierEventHook>(options.onEvent, 'onEvent') })
}

/** @internal */
export interface FeedHooks {
  readonly onRevocation: (revocation: FeedRevocation) => void
  readonly onEvent?: VerifierEventHook | undefined
  /** Called whenever `connected` or `complete` changes. */
  readonly onStateChange?: (() => void) | undefined
  /** The feed starts over from a snapshot because its position was lost (another store, a restore). */
  readonly onReset?: ((reason: string) => void) | undefined
}

/** @internal Checks extra request headers: names and values a fetch would accept, nothing that could split a request. */
export function checkHeaders(value: unknown, path: string): Readonly<Record<string, string>> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigInvalid(path, 'must be an object of header names and values')
  const out: Record<string, string> = {}
  for (const [name, header] of Object.entries(value)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(name) || typeof header !== 'string' || !/^[\t\x20-\x7e]{0,4096}$/.test(header)) {
      throw new ConfigInvalid(`${path}.${name}`, 'must be a header name with a printable ASCII value')
    }
    out[name.toLowerCase()] = header
  }
  return Object.freeze(out)
}

class FeedFailure extends Error {}

/** @internal Starts the connection loop on checked settings. Resolves once the first connection is complete or has failed. */
export async function openRevocationFeed(settings: FeedSettings, io: VerifierIo, hooks: FeedHooks): Promise<RevocationFeed> {
  const { now, timers } = io
  const state = createFeedState(now, hooks.onStateChange)
  let lastEventAt: number | undefined
  let cursor = settings.initialCursor
  let closed = false
  let attempts = 0
  let serverRetryMs: number | undefined
  let active: AbortController | undefined
  let sleepTimer: unknown
  let wake: (() => void) | undefined
  const counters = { connects: 0, disconnects: 0, events: 0, invalidEvents: 0, snapshots: 0 }

  let settleFirstAttempt: () => void = () => undefined
  const firstAttempt = new Promise<void>((resolve) => {
    settleFirstAttempt = resolve
  })

  function invalid(reason: string): void {
    counters.invalidEvents++
    safeCall(hooks.onEvent, { type: 'feed.invalid_event', reason })
  }

  function onMessage(message: SseMessage): void {
    // The cursor moves with every event the server numbered, valid or not: replaying an
    // invalid event would not make it valid.
    if (message.id !== undefined && SAFE_CURSOR.test(message.id)) cursor = message.id
    if (message.type === 'ready') return onReady(message)
    if (message.type === 'reset') return onReset(message)
    if (message.type !== 'revocation') return
    let entry: Record<string, unknown>
    try {
      entry = parseJsonObject(message.data, 'revocation event')
    } catch (error) {
      if (!(error instanceof JwtMalformed)) throw error
      return invalid('data is not a JSON object')
    }
    const { sid, exp } = entry
    if (typeof sid !== 'string' || sid.length === 0 || sid.length > MAX_SID_LENGTH) return invalid('"sid" is not a session id')
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return invalid('"exp" is not a number')
    counters.events++
    lastEventAt = now()
    hooks.onRevocation({ sid, exp, cursor: message.id })
    safeCall(hooks.onEvent, { type: 'feed.revocation', sid, exp, cursor: message.id })
  }

  function onReady(message: SseMessage): void {
    let snapshot = false
    let entries = 0
    try {
      const data = parseJsonObject(message.data, 'ready event')
      snapshot = data.snapshot === true
      entries = typeof data.entries === 'number' && Number.isSafeInteger(data.entries) ? data.entries : 0
    } catch {
      // A ready without readable data is still the end of the catch-up.
    }
    if (snapshot) counters.snapshots++
    safeCall(hooks.onEvent, { type: 'feed.ready', snapshot, entries, cursor })
    state.set(true, true)
    settleFirstAttempt()
  }

  function onReset(message: SseMessage): void {
    let reason = 'unknown'
    try {
      const data = parseJsonObject(message.data, 'reset event')
      if (typeof data.reason === 'string' && /^[a-z_]{1,32}$/.test(data.reason)) reason = data.reason
    } catch {
      // The reason is only informative.
    }
    safeCall(hooks.onEvent, { type: 'feed.reset', reason })
    hooks.onReset?.(reason)
  }

  async function connectAndRead(): Promise<void> {
    const controller = new AbortController()
    active = controller
    let timedOut: string | undefined
    let idleTimer: unknown
    const armIdle = (): void => {
      if (idleTimer !== undefined) timers.clearTimeout(idleTimer)
      idleTimer = timers.setTimeout(() => {
        timedOut = 'idle timeout'
        controller.abort()
      }, settings.idleTimeoutMs)
    }
    try {
      const headers: Record<string, string> = { ...settings.headers, accept: 'text/event-stream', 'cache-control': 'no-store' }
      if (cursor !== undefined) headers['last-event-id'] = cursor
      const connectTimer = timers.setTimeout(() => {
        timedOut = 'connect timeout'
        controller.abort()
      }, settings.connectTimeoutMs)
      let response: Response
      try {
        response = await io.fetch(settings.url, { method: 'GET', headers, redirect: 'error', signal: controller.signal })
      } catch (error) {
        throw new FeedFailure(timedOut ?? 'request failed', { cause: error })
      } finally {
        timers.clearTimeout(connectTimer)
      }
      if (response.status === 400 && cursor !== undefined) {
        safeCall(hooks.onEvent, { type: 'feed.cursor_rejected', cursor })
        cursor = undefined
        throw new FeedFailure('cursor rejected')
      }
      if (response.status === 401 || response.status === 403) throw new FeedFailure(`HTTP ${response.status}: the feed requires client credentials (revocation.client)`)
      if (response.status !== 200) throw new FeedFailure(`HTTP ${response.status}`)
      // A 200 that is not an event stream (a proxy's HTML page, say) would look connected
      // while delivering nothing: refuse it, as EventSource does.
      const type = response.headers.get('content-type') ?? ''
      if (!/^text\/event-stream\s*(;|$)/i.test(type)) throw new FeedFailure('not an event stream')
      if (response.body === null) throw new FeedFailure('no body')

      attempts = 0
      counters.connects++
      state.set(true, false)
      safeCall(hooks.onEvent, { type: 'feed.connected', cursor })

      const parser = createSseParser(
        { onMessage, onRetry: (ms) => void (serverRetryMs = ms) },
        { maxLineLength: MAX_LINE_LENGTH, maxEventLength: MAX_EVENT_LENGTH },
      )
      // Non-fatal decoding, as the spec asks: a bad byte spoils one event, not the stream.
      const decoder = new TextDecoder('utf-8')
      const reader = response.body.getReader()
      // undici does not always settle a pending read when its request is aborted (seen with a
      // large backlog on the socket): the abort races every read, or an idle timeout or
      // close() could leave the loop waiting forever on a dead connection.
      const aborted = new Promise<never>((_, reject) => {
        const fail = (): void => reject(new Error('aborted'))
        if (controller.signal.aborted) fail()
        else controller.signal.addEventListener('abort', fail, { once: true })
      })
      aborted.catch(() => undefined)
      armIdle()
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>
        try {
          chunk = await Promise.race([reader.read(), aborted])
        } catch (error) {
          reader.cancel().catch(() => undefined)
          throw new FeedFailure(timedOut ?? 'connection lost', { cause: error })
        }
        if (chunk.done) return
        state.alive()
        armIdle()
        parser.push(decoder.decode(chunk.value as Uint8Array, { stream: true }))
      }
    } finally {
      if (idleTimer !== undefined) timers.clearTimeout(idleTimer)
      // Releases the connection whatever ended the read (end, error, limit, close()).
      controller.abort()
      active = undefined
    }
  }

  function nextDelayMs(): number {
    const base = serverRetryMs === undefined ? settings.minDelayMs : Math.min(Math.max(serverRetryMs, 250), settings.maxDelayMs)
    const ceiling = Math.min(settings.maxDelayMs, base * 2 ** Math.min(attempts, 20))
    attempts++
    // "Equal jitter": between half and all of the ceiling, so a fleet of verifiers that lost
    // the feed together does not reconnect together.
    return Math.round(ceiling / 2 + io.random() * (ceiling / 2))
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      wake = resolve
      sleepTimer = timers.setTimeout(() => {
        sleepTimer = undefined
        wake = undefined
        resolve()
      }, ms)
    })
  }

  async function run(): Promise<void> {
    while (!closed) {
      let reason = 'stream ended'
      try {
        await connectAndRead()
      } catch (error) {
        reason = error instanceof FeedFailure ? error.message : error instanceof Error ? error.name : 'failed'
      }
      if (state.connected) counters.disconnects++
      state.set(false, false)
      settleFirstAttempt()
      if (closed) return
      const delay = nextDelayMs()
      safeCall(hooks.onEvent, { type: 'feed.disconnected', reason, retryInMs: delay })
      await sleep(delay)
    }
  }

  const loop = run()
  await firstAttempt

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
    metrics: () => ({ ...counters }),
    async close(): Promise<void> {
      closed = true
      if (sleepTimer !== undefined) timers.clearTimeout(sleepTimer)
      sleepTimer = undefined
      wake?.()
      active?.abort()
      await loop
    },
  }
}
