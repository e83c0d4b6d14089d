/**
 * @module hallpass/stores/redis
 *
 * A `SessionStore` on Redis (standalone or Cluster) through an injected ioredis client. Every
 * multi-key step is a Lua script on one hash slot; steps that span slots are ordered so that a
 * crash between them loses at most an audit entry or delays a feed entry, never a rotation or a
 * revocation.
 *
 * Key design (prefix `hp:` by default; `<…>` parts are always encoded, never raw input):
 *
 * | key                              | type       | slot        | holds                                   |
 * | -------------------------------- | ---------- | ----------- | --------------------------------------- |
 * | `hp:{s:<sid>}`                   | hash       | the session | one session record                      |
 * | `hp:{u:<subj>}:sessions`         | sorted set | the subject | session ids by `createdAt`              |
 * | `hp:{u:<subj>}:audit`            | list       | the subject | audit events, newest first, capped 1000 |
 * | `hp:{feed}:revocations`          | stream     | the feed    | revocation feed; position = stream id   |
 * | `hp:{feed}:sids`, `hp:{feed}:exp` | hash, zset | the feed    | sid → stream id (dedup), sid by `exp`   |
 * | `hp:{feed}:epoch`, `hp:{feed}:head` | strings  | the feed    | feed epoch; newest stream id given out  |
 * | `hp:{gc}:sessions`               | sorted set | purge index | sessions by their earlier deadline      |
 * | `hp:{keyring}`                   | hash       | the keyring | `version`, `data`                       |
 *
 * Live revocations are published on the channel `hp:{feed}:revocations:live`.
 *
 * Encodings, so that no input can break a hash tag (Redis hashes only the text between the
 * first `{` and the next `}`) or make two inputs share a key:
 * - `<subj>` is `u:` + base64url(UTF-8 subject) when that is at most 96 bytes, else `uh:` +
 *   base64url(SHA-256) (of the UTF-8, or of the JSON text for strings with lone surrogates, under
 *   distinct domain bytes). Base64url has no `{` or `}`, and the `u:`/`uh:` split keeps raw and
 *   hashed forms apart.
 * - `<sid>` is `s:` + the id when it is 1-128 base64url characters (every id the manager mints),
 *   else `sx:`/`sxh:` + the same encoding as subjects.
 *
 * TTLs: a session hash expires (`PEXPIREAT`) at its earlier deadline plus the one-day retention
 * margin, moved at each rotation and kept on revocation, and never sooner than the margin from the
 * server's clock (caller clocks may be skewed or injected). The earlier deadline, not the later:
 * a session is dead once either has passed (rotation refuses it and cannot revive it), and that
 * is exactly when `purgeExpired` may remove it too. Subject index entries of sessions
 * that no longer exist are pruned by `listSessions`, `revokeSubjectSessions` and `purgeExpired`.
 *
 * Cross-slot steps and their failure modes (a cluster has no transaction across slots):
 * - rotation: the compare-and-set is one script on the session's slot, then the audit entry is
 *   appended on the subject's slot. The audit append depends on the outcome and on the subject,
 *   which the script returns, so it follows in a second round trip; a crash in between can lose
 *   that audit entry, never the rotation. (Appending it speculatively in the same round trip
 *   would leave rotations that never happened in the audit trail when the CAS fails.)
 * - revocation: the session is marked revoked (script), then the feed entry and the audit entry
 *   are appended together. The feed append is deduplicated by session id, so it is safe to retry:
 *   `revokeSession` and `revokeSubjectSessions` re-append the feed entry of an already revoked
 *   session whose access tokens may still be alive, which repairs a crash in between (the
 *   manager calls `revokeSession` again for a retried logout and for every replayed token of a
 *   revoked session, for this reason).
 * - An audit append that follows a change which took effect never fails the call: it is
 *   reported to `onError` (a caller told "failed" would retry a rotation that happened, and be
 *   revoked for reuse). So a fault between the two steps loses an audit entry, never a change.
 * - creation: index first, then the session, then the audit entry, so a session is never
 *   missing from its subject's index (which `revokeSubjectSessions` relies on); an index entry
 *   left by a crash points nowhere and is pruned.
 */
import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { checkFunction } from '../../internal/options.ts'
import { ConfigInvalid, HallpassError, SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type {
  RevocationListener,
  RevokeSessionInput,
  RevokeSessionResult,
  RevokeSubjectInput,
  RotateRefreshInput,
  RotateRefreshResult,
  SessionStore,
  StoredKeyring,
} from '../../session/store.ts'
import { compareFeedCursors, formatFeedCursor, isFeedEpoch, parseFeedCursor } from '../../session/feed-cursor.ts'
import { FEED_EXP_MARGIN_SECONDS } from '../../session/feed-reader.ts'
import type { AuditEvent, DeviceInfo, RevocationEntry, SessionRecord } from '../../session/types.ts'
import {
  auditAppendScript,
  createSessionScript,
  feedAppendScript,
  feedReadScript,
  getSessionScript,
  listIndexScript,
  purgeFeedScript,
  purgeSessionScript,
  revokeScript,
  rotateScript,
  saveKeyringScript,
  type RedisScript,
} from './scripts.ts'
import { deviceUpdate, newFeedEpoch } from '../internal/rows.ts'

/** An ioredis client: a standalone `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /** The connection for commands. The store never closes it. */
  readonly client: RedisClient
  /**
   * A second connection for pub/sub (a subscribed connection can run nothing else). Default:
   * `client.duplicate()`, opened at the first `subscribeRevocations` and closed by `close()`;
   * a connection passed here is left open.
   */
  readonly subscriber?: RedisClient
  /** Prefix of every key and channel. Default `hp:`. Must not contain `{` or `}` (hash tags). */
  readonly keyPrefix?: string
  /**
   * Receives the failures that do not fail the call (the store never logs): an audit entry
   * that could not be appended after its session change had taken effect (see the module note).
   */
  readonly onError?: (error: unknown) => void
}

/** Sessions stay this long past their deadlines, so a recently expired session can still be revoked. */
const RETENTION_MARGIN_MS = 86_400_000
/** Audit events kept per subject (a list has no cheap age-based cleanup). */
const AUDIT_CAP = 1000
/**
 * An index entry whose session hash is missing is pruned only when the session was created at
 * least this long before `now`: the index is written before the hash, so a younger one may be
 * a creation in flight. (A real session cannot disappear sooner than the retention margin.)
 */
const PRUNE_GRACE_MS = 600_000
/** Sessions fetched concurrently when listing or revoking a subject's sessions. */
const FETCH_BATCH = 256
const PURGE_BATCH = 500
const FEED_PAGE = 500
const CATCH_UP_RETRY_MS = 1000

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/
const MAX_U64 = 2n ** 64n - 1n

/** The minimal command surface used here; both `Redis` and `Cluster` provide it. */
interface Commands {
  call(command: string, ...args: (string | number)[]): Promise<unknown>
}

type SubscriberEvent = 'message' | 'ready' | 'error' | 'end'
interface Subscriber {
  readonly status: string
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  connect(): Promise<void>
  disconnect(): void
  on(event: SubscriberEvent, listener: (...args: never[]) => void): unknown
  off(event: SubscriberEvent, listener: (...args: never[]) => void): unknown
}

/** Raw stream id as two unsigned integers, for comparisons. */
interface StreamId {
  readonly ms: bigint
  readonly seq: bigint
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

/**
 * Creates a `SessionStore` on Redis through an injected ioredis client (standalone or Cluster).
 * Subpath: `hallpass/stores/redis`. The store opens no connection except the pub/sub duplicate
 * it creates (and closes) when `subscriber` is not given.
 *
 * @example
 * import { Redis } from 'ioredis'
 * import { createRedisStore } from 'hallpass/stores/redis'
 *
 * const client = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 2 })
 * const store = createRedisStore({ client, keyPrefix: 'auth:' })
 * const manager = await createSessionManager({ store, secret, issuer })
 */
export function createRedisStore(options: RedisStoreOptions): SessionStore {
  if (typeof options !== 'object' || options === null) throw new ConfigInvalid('options', 'must be an object')
  for (const key of Object.keys(options)) {
    if (key !== 'client' && key !== 'subscriber' && key !== 'keyPrefix' && key !== 'onError') throw new ConfigInvalid(key, 'is not an option of createRedisStore')
  }
  const onError = checkFunction<(error: unknown) => void>(options.onError, 'onError')
  if (!isCommands(options.client)) throw new ConfigInvalid('client', 'must be an ioredis client')
  if (options.subscriber !== undefined && !isSubscriber(options.subscriber)) throw new ConfigInvalid('subscriber', 'must be an ioredis client')
  const prefix = options.keyPrefix ?? 'hp:'
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    throw new ConfigInvalid('keyPrefix', 'must be a string of at most 64 characters without "{" or "}"')
  }
  const client = options.client as unknown as Commands & { duplicate(): unknown }

  const keys = {
    session: (id: string): string => `${prefix}{${sessionTag(id)}}`,
    index: (subject: string): string => `${prefix}{${subjectTag(subject)}}:sessions`,
    indexByTag: (tag: string): string => `${prefix}{${tag}}:sessions`,
    audit: (subject: string): string => `${prefix}{${subjectTag(subject)}}:audit`,
    feed: `${prefix}{feed}:revocations`,
    feedSids: `${prefix}{feed}:sids`,
    feedExp: `${prefix}{feed}:exp`,
    feedEpoch: `${prefix}{feed}:epoch`,
    feedHead: `${prefix}{feed}:head`,
    gc: `${prefix}{gc}:sessions`,
    keyring: `${prefix}{keyring}`,
  }
  const channel = `${prefix}{feed}:revocations:live`
  const feedKeys = [keys.feed, keys.feedSids, keys.feedExp]
  const feedReadKeys = [keys.feed, keys.feedEpoch, keys.feedHead]

  let closed = false
  let subscriber: Subscriber | undefined = options.subscriber as Subscriber | undefined
  const ownsSubscriber = options.subscriber === undefined
  let subscriberWired = false
  const subscriptions = new Set<Subscription>()

  // Every driver failure becomes StoreUnavailable: fail closed without blaming the credential.
  const guard = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    if (closed) throw new StoreUnavailable(`redis store is closed (${operation})`)
    try {
      return await run()
    } catch (error) {
      if (error instanceof HallpassError) throw error
      throw new StoreUnavailable(`redis ${operation} failed`, { cause: scrub(error) })
    }
  }

  // EVALSHA, and EVAL when the server does not have the script (first use, restart, SCRIPT FLUSH,
  // a failover to a replica that never saw it); EVAL also caches it for the next EVALSHA.
  const run = async (s: RedisScript, scriptKeys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => {
    try {
      return await client.call('EVALSHA', s.sha, scriptKeys.length, ...scriptKeys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return client.call('EVAL', s.lua, scriptKeys.length, ...scriptKeys, ...args)
    }
  }

  const appendAuditEvents = async (subject: string, events: readonly AuditEvent[]): Promise<void> => {
    if (events.length === 0) return
    await run(auditAppendScript, [keys.audit(subject)], [AUDIT_CAP, ...events.map((e) => JSON.stringify(e))])
  }

  // The audit entries of a session change that has already taken effect on another slot. A
  // failure must not fail the call: a caller told "failed" would retry a rotation that happened
  // (and be revoked for reuse) or lose the tokens of a session that exists. It is reported.
  const appendAuditAfterChange = async (subject: string, events: readonly AuditEvent[]): Promise<void> => {
    try {
      await appendAuditEvents(subject, events)
    } catch (error) {
      try {
        onError?.(new StoreUnavailable('redis audit append failed; the session change it records took effect', { cause: scrub(error) }))
      } catch {
        // A throwing error handler must not turn a done change into a failure either.
      }
    }
  }

  const appendFeed = async (sid: string, exp: number, revokedAt: number, reason: string): Promise<RevocationEntry> => {
    const reply = asArray(
      await run(feedAppendScript, [...feedKeys, keys.feedEpoch, keys.feedHead], [json(sid), num(exp), num(revokedAt), json(reason), channel, newFeedEpoch()]),
    )
    return { cursor: formatFeedCursor(asEpoch(reply[2]), formatPosition(asString(reply[1]))), sid, exp, revokedAt, reason }
  }

  // The feed entry of an already revoked session, re-appended if a crash lost it (the append is
  // deduplicated); pointless once every access token of the session has expired.
  const repairFeed = async (sid: string, already: readonly unknown[], now: number): Promise<void> => {
    const feedExp = asString(already[3])
    if (feedExp === '' || Number(feedExp) <= now / 1000) return
    await appendFeed(sid, Number(feedExp), Number(asString(already[1])), parseJsonString(asString(already[2])))
  }

  const fetchSessions = async (sids: readonly string[]): Promise<Array<SessionRecord | undefined>> => {
    const out: Array<SessionRecord | undefined> = []
    for (let i = 0; i < sids.length; i += FETCH_BATCH) {
      const batch = sids.slice(i, i + FETCH_BATCH)
      const replies = await Promise.all(batch.map((sid) => run(getSessionScript, [keys.session(sid)], [])))
      for (const reply of replies) out.push(parseRecord(asArray(reply)))
    }
    return out
  }

  const readIndex = async (subject: string): Promise<Array<{ sid: string; createdAt: number }>> => {
    const flat = asArray(await run(listIndexScript, [keys.index(subject)], []))
    const out: Array<{ sid: string; createdAt: number }> = []
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push({ sid: parseJsonString(asString(flat[i])), createdAt: Number(asString(flat[i + 1])) })
    }
    return out
  }

  const prune = async (subject: string, entries: ReadonlyArray<{ sid: string; createdAt: number }>, now: number): Promise<void> => {
    const stale = entries.filter((e) => e.createdAt < now - PRUNE_GRACE_MS).map((e) => json(e.sid))
    if (stale.length > 0) await client.call('ZREM', keys.index(subject), ...stale)
  }

  // One script call: the epoch, the newest id given out, and a page of entries (or the reason
  // the cursor cannot be resumed from). `after` is a raw stream id.
  const readFeed = async (
    after: string | undefined,
    limit: number,
    options: { minExp?: number; cursorEpoch?: string } = {},
  ): Promise<{ epoch: string; head: string; status: string; entries: Array<RevocationEntry & { id: StreamId }> }> => {
    const reply = asArray(
      await run(feedReadScript, feedReadKeys, [newFeedEpoch(), after ?? '', limit, options.minExp === undefined ? '' : num(options.minExp), options.cursorEpoch ?? '']),
    )
    const epoch = asEpoch(reply[0])
    return { epoch, head: asString(reply[1]), status: asString(reply[2]), entries: reply.slice(3).map((item) => parseStreamEntry(epoch, asArray(item))) }
  }

  // ---- live feed ------------------------------------------------------------------------------

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
            const { entries: page } = await readFeed(`${s.last.ms}-${s.last.seq}`, FEED_PAGE)
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
    if (subscriber === undefined) subscriber = client.duplicate() as Subscriber
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

  const store: SessionStore = {
    createSession: (record, audit) =>
      guard('createSession', async () => {
        checkRecord(record)
        const deadline = Math.min(record.expiresAt, record.idleExpiresAt)
        await Promise.all([
          client.call('ZADD', keys.index(record.subject), num(record.createdAt), json(record.id)),
          client.call('ZADD', keys.gc, num(deadline), gcMember(record.subject, record.id)),
        ])
        const created = await run(createSessionScript, [keys.session(record.id)], [
          String(Math.ceil(deadline) + RETENTION_MARGIN_MS),
          RETENTION_MARGIN_MS,
          ...serializeRecord(record),
        ])
        if (created !== 1) throw new StoreUnavailable('redis createSession failed: the session id already exists')
        await appendAuditAfterChange(record.subject, [audit])
      }),

    getSession: (id) => guard('getSession', async () => parseRecord(asArray(await run(getSessionScript, [keys.session(id)], [])))),

    rotateRefreshToken: (input: RotateRefreshInput): Promise<RotateRefreshResult> =>
      guard('rotateRefreshToken', async () => {
        checkNumbers({ generation: input.generation, now: input.now, idleExpiresAt: input.idleExpiresAt, maxAccessExp: input.maxAccessExp })
        const reply = asArray(
          await run(rotateScript, [keys.session(input.id)], [
            String(input.generation),
            json(input.hash),
            json(input.newHash),
            num(input.now),
            num(input.idleExpiresAt),
            String(input.generation + 1),
            RETENTION_MARGIN_MS,
            num(input.maxAccessExp),
            ...deviceFields(deviceUpdate(input.device)),
          ]),
        )
        const session = parseRecord(asArray(reply[1]))
        if (reply[0] !== 1 || session === undefined) return { rotated: false, session }
        // The subject comes from the record: the caller of a refresh only knows the session id.
        await appendAuditAfterChange(session.subject, [{ ...input.audit, subject: session.subject }])
        return { rotated: true, session }
      }),

    revokeSession: (input: RevokeSessionInput): Promise<RevokeSessionResult> =>
      guard('revokeSession', async () => {
        checkNumbers({ now: input.now, feedExp: input.feedExp })
        const reply = asArray(await run(revokeScript, [keys.session(input.id)], [num(input.now), json(input.reason), num(input.feedExp), '']))
        if (reply[0] === 0) return { revoked: false, why: 'not_found' }
        if (reply[0] === 2) {
          await repairFeed(input.id, reply, input.now)
          return { revoked: false, why: 'already_revoked' }
        }
        const [entry] = await Promise.all([
          appendFeed(input.id, Number(asString(reply[1])), input.now, input.reason),
          appendAuditAfterChange(input.audit.subject, [input.audit]),
        ])
        return { revoked: true, entry }
      }),

    revokeSubjectSessions: (input: RevokeSubjectInput) =>
      guard('revokeSubjectSessions', async () => {
        checkNumbers({ now: input.now, feedExp: input.feedExp })
        const indexed = await readIndex(input.subject)
        const targets = indexed.filter((e) => e.sid !== input.exceptId)
        const revoked: Array<{ sid: string; exp: number }> = []
        const missing: typeof targets = []
        for (let i = 0; i < targets.length; i += FETCH_BATCH) {
          const batch = targets.slice(i, i + FETCH_BATCH)
          const replies = await Promise.all(
            batch.map(async (e) => asArray(await run(revokeScript, [keys.session(e.sid)], [num(input.now), json(input.reason), num(input.feedExp), json(input.subject)]))),
          )
          await Promise.all(
            replies.map(async (reply, j) => {
              const target = batch[j]!
              if (reply[0] === 1) revoked.push({ sid: target.sid, exp: Number(asString(reply[1])) })
              else if (reply[0] === 0) missing.push(target)
              else await repairFeed(target.sid, reply, input.now)
            }),
          )
        }
        const events: AuditEvent[] = revoked.map(({ sid }) => ({ type: 'session.revoked', at: input.now, sessionId: sid, subject: input.subject, reason: input.reason }))
        const [entries] = await Promise.all([
          Promise.all(revoked.map(({ sid, exp }) => appendFeed(sid, exp, input.now, input.reason))),
          appendAuditAfterChange(input.subject, events),
          prune(input.subject, missing, input.now),
        ])
        return entries.sort((a, b) => compareFeedCursors(a.cursor, b.cursor) ?? 0)
      }),

    listSessions: (subject, now) =>
      guard('listSessions', async () => {
        const indexed = await readIndex(subject)
        const records = await fetchSessions(indexed.map((e) => e.sid))
        const live: SessionRecord[] = []
        const missing: typeof indexed = []
        records.forEach((record, i) => {
          if (record === undefined) missing.push(indexed[i]!)
          else if (record.subject === subject && record.revokedAt === null && record.expiresAt > now && record.idleExpiresAt > now) live.push(record)
        })
        await prune(subject, missing, now)
        // The index is ordered by createdAt already; the sort settles ties and stays stable.
        return live.sort((a, b) => b.createdAt - a.createdAt)
      }),

    appendAudit: (event) => guard('appendAudit', () => appendAuditEvents(event.subject, [event])),

    listAudit: (subject, limit) =>
      guard('listAudit', async () => {
        const count = Math.min(Math.floor(limit), AUDIT_CAP)
        if (!(count > 0)) return []
        const reply = asArray(await client.call('LRANGE', keys.audit(subject), 0, count - 1))
        return reply.map((item) => JSON.parse(asString(item)) as AuditEvent)
      }),

    readRevocations: (cursor, limit, minExp) =>
      guard('readRevocations', async () => {
        if (!Number.isSafeInteger(limit) || limit < 0) throw new SessionInputInvalid('limit', 'must be a non-negative integer')
        if (minExp !== undefined) checkNumbers({ minExp })
        const parsed = cursor === undefined ? undefined : parseCursor(cursor)
        const count = Math.min(limit, 10_000)
        const read = await readFeed(parsed?.id, count, { ...(minExp !== undefined ? { minExp } : {}), ...(parsed !== undefined ? { cursorEpoch: parsed.epoch } : {}) })
        if (read.status === 'foreign') throw new SessionInputInvalid('cursor', 'belongs to another revocation feed (another store, or this one re-created)')
        if (read.status === 'ahead') throw new SessionInputInvalid('cursor', 'is ahead of this revocation feed (a store restored from an older copy)')
        return read.entries.map(stripId)
      }),

    headCursor: () =>
      guard('headCursor', async () => {
        const { epoch, head } = await readFeed(undefined, 0)
        return formatFeedCursor(epoch, formatPosition(head))
      }),

    subscribeRevocations: (listener) =>
      guard('subscribeRevocations', async () => {
        if (typeof listener !== 'function') throw new ConfigInvalid('listener', 'must be a function')
        // The replay starts at the newest id as of now, read before subscribing, so whatever is
        // appended while the subscription is being set up is replayed rather than missed.
        const last = toStreamId((await readFeed(undefined, 0)).head)
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
          if (subscriptions.size === 0 && subscriber !== undefined && !closed) {
            // Best effort: a dead connection has no subscription left to cancel anyway.
            await subscriber.unsubscribe(channel).catch(ignoreError)
          }
        }
      }),

    loadKeyring: () =>
      guard('loadKeyring', async (): Promise<StoredKeyring | undefined> => {
        const [version, data] = asArray(await client.call('HMGET', keys.keyring, 'version', 'data'))
        if (version === null || version === undefined || data === null || data === undefined) return undefined
        return { version: Number(asString(version)), data: parseJsonString(asString(data)) }
      }),

    saveKeyring: (expectedVersion, data) =>
      guard('saveKeyring', async () => {
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) return false
        if (typeof data !== 'string') throw new SessionInputInvalid('data', 'must be a string')
        const reply = await run(saveKeyringScript, [keys.keyring], [String(expectedVersion), String(expectedVersion + 1), json(data)])
        return reply === 1
      }),

    purgeExpired: (now) =>
      guard('purgeExpired', async () => {
        checkNumbers({ now })
        const cutoff = now - RETENTION_MARGIN_MS
        let removed = 0
        // Sessions: the purge index may hold an earlier deadline than the session has now (the
        // idle deadline moves at each rotation); the script re-checks and the entry is re-filed.
        for (;;) {
          const members = asArray(await client.call('ZRANGEBYSCORE', keys.gc, '-inf', `(${num(cutoff)}`, 'LIMIT', 0, PURGE_BATCH)).map(asString)
          if (members.length === 0) break
          await Promise.all(
            members.map(async (member) => {
              const { subjectTagValue, sid } = parseGcMember(member)
              const reply = asArray(await run(purgeSessionScript, [keys.session(sid)], [num(cutoff)]))
              if (reply[0] === 2) {
                await client.call('ZADD', keys.gc, asString(reply[1]), member)
                return
              }
              if (reply[0] === 1) removed += 1
              await Promise.all([client.call('ZREM', keys.indexByTag(subjectTagValue), json(sid)), client.call('ZREM', keys.gc, member)])
            }),
          )
          if (members.length < PURGE_BATCH) break
        }
        // Feed entries whose exp (seconds) has passed: every access token they covered has expired.
        for (;;) {
          // Kept FEED_EXP_MARGIN_SECONDS past exp: a verifier may accept a token for its tolerance.
          const [examined, deleted] = asArray(await run(purgeFeedScript, feedKeys, [num(now / 1000 - FEED_EXP_MARGIN_SECONDS), PURGE_BATCH]))
          removed += Number(deleted)
          if (Number(examined) < PURGE_BATCH) break
        }
        return removed
      }),

    ping: async () => {
      if (closed) return false
      try {
        return (await client.call('PING')) === 'PONG'
      } catch {
        return false
      }
    },

    close: async () => {
      if (closed) return
      closed = true
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
  return store
}

// ---- encoding -------------------------------------------------------------------------------

function json(value: string): string {
  return JSON.stringify(value)
}

function parseJsonString(text: string): string {
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'string') throw new StoreUnavailable('redis record is corrupt')
  return value
}

function num(value: number): string {
  return String(value)
}

function encodeTag(kind: string, value: string): string {
  if (!LONE_SURROGATE.test(value)) {
    const bytes = Buffer.from(value, 'utf8')
    if (bytes.length <= 96) return `${kind}:${bytes.toString('base64url')}`
    return `${kind}h:${createHash('sha256').update(Buffer.of(0)).update(bytes).digest('base64url')}`
  }
  // UTF-8 cannot carry a lone surrogate (it would become U+FFFD and collide); JSON text can.
  return `${kind}h:${createHash('sha256').update(Buffer.of(1)).update(JSON.stringify(value), 'utf8').digest('base64url')}`
}

export function subjectTag(subject: string): string {
  return encodeTag('u', subject)
}

function sessionTag(id: string): string {
  return SAFE_ID.test(id) ? `s:${id}` : encodeTag('sx', id)
}

// Purge index member: the subject's tag (no spaces in it) and the JSON-encoded session id.
function gcMember(subject: string, id: string): string {
  return `${subjectTag(subject)} ${json(id)}`
}

function parseGcMember(member: string): { subjectTagValue: string; sid: string } {
  const space = member.indexOf(' ')
  if (space <= 0) throw new StoreUnavailable('redis purge index is corrupt')
  return { subjectTagValue: member.slice(0, space), sid: parseJsonString(member.slice(space + 1)) }
}

function deviceFields(device: DeviceInfo | undefined): string[] {
  const out: string[] = []
  if (device === undefined || device === null) return out
  for (const [name, value] of Object.entries(device)) {
    if (value !== undefined) out.push(`dev:${name}`, JSON.stringify(value))
  }
  return out
}

function serializeRecord(r: SessionRecord): string[] {
  const fields = [
    'id', json(r.id),
    'subject', json(r.subject),
    'createdAt', num(r.createdAt),
    'expiresAt', num(r.expiresAt),
    'idleExpiresAt', num(r.idleExpiresAt),
    'lastSeenAt', num(r.lastSeenAt),
    'generation', num(r.generation),
    'refreshHash', json(r.refreshHash),
    'rotatedAt', num(r.rotatedAt),
    'claims', JSON.stringify(r.claims),
    'maxAccessExp', num(r.maxAccessExp),
    ...deviceFields(r.device),
  ]
  if (r.previousHash !== null) fields.push('previousHash', json(r.previousHash))
  if (r.revokedAt !== null) fields.push('revokedAt', num(r.revokedAt))
  if (r.revokeReason !== null) fields.push('revokeReason', json(r.revokeReason))
  if (r.scope !== null) fields.push('scope', json(r.scope))
  if (r.audience !== null) fields.push('audience', JSON.stringify(r.audience))
  return fields
}

function parseRecord(flat: readonly unknown[]): SessionRecord | undefined {
  if (flat.length === 0) return undefined
  const f = new Map<string, string>()
  const device: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = asString(flat[i])
    const value = asString(flat[i + 1])
    // defineProperty: a device field named "__proto__" must stay data, not become a prototype.
    if (name.startsWith('dev:')) Object.defineProperty(device, name.slice(4), { value: JSON.parse(value), enumerable: true, writable: true, configurable: true })
    else f.set(name, value)
  }
  const str = (name: string): string => parseJsonString(required(f, name))
  const number = (name: string): number => {
    const value = Number(required(f, name))
    if (!Number.isFinite(value)) throw new StoreUnavailable('redis record is corrupt')
    return value
  }
  const optional = <T>(name: string, parse: (text: string) => T): T | null => {
    const text = f.get(name)
    return text === undefined ? null : parse(text)
  }
  return {
    id: str('id'),
    subject: str('subject'),
    createdAt: number('createdAt'),
    expiresAt: number('expiresAt'),
    idleExpiresAt: number('idleExpiresAt'),
    lastSeenAt: number('lastSeenAt'),
    generation: number('generation'),
    refreshHash: str('refreshHash'),
    previousHash: optional('previousHash', parseJsonString),
    rotatedAt: number('rotatedAt'),
    revokedAt: optional('revokedAt', Number),
    revokeReason: optional('revokeReason', parseJsonString),
    device: device,
    claims: JSON.parse(required(f, 'claims')) as Record<string, unknown>,
    scope: optional('scope', parseJsonString),
    audience: optional('audience', (text) => JSON.parse(text) as string[]),
    // Absent on sessions created before the field existed.
    maxAccessExp: optional('maxAccessExp', Number) ?? 0,
  }
}

function required(fields: ReadonlyMap<string, string>, name: string): string {
  const value = fields.get(name)
  if (value === undefined) throw new StoreUnavailable('redis record is corrupt')
  return value
}

// ---- cursors --------------------------------------------------------------------------------

/*
 * A position is the stream id with both parts zero-padded to a fixed width, so positions also
 * sort as plain strings in feed order ("1-10" would sort before "1-9"); the store parses them
 * back. A cursor is `<epoch>.<position>` (src/session/feed-cursor.ts).
 */
function formatPosition(id: string): string {
  const match = STREAM_ID.exec(id)
  if (match === null) throw new StoreUnavailable('redis feed entry is corrupt')
  return `${match[1]!.padStart(15, '0')}-${match[2]!.padStart(20, '0')}`
}

/** The epoch and raw stream id of a cursor; anything else is refused as input. */
function parseCursor(cursor: string): { epoch: string; id: string } {
  const parsed = parseFeedCursor(cursor)
  const match = parsed === undefined ? null : STREAM_ID.exec(parsed.position)
  if (parsed === undefined || match === null) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  const ms = BigInt(match[1]!)
  const seq = BigInt(match[2]!)
  if (ms > MAX_U64 || seq > MAX_U64) throw new SessionInputInvalid('cursor', 'is not a revocation feed cursor of this store')
  return { epoch: parsed.epoch, id: `${ms}-${seq}` }
}

function asEpoch(value: unknown): string {
  const epoch = asString(value)
  if (!isFeedEpoch(epoch)) throw new StoreUnavailable('redis feed epoch is corrupt')
  return epoch
}

function toStreamId(id: string): StreamId {
  const match = STREAM_ID.exec(id)
  if (match === null) throw new StoreUnavailable('redis feed entry is corrupt')
  return { ms: BigInt(match[1]!), seq: BigInt(match[2]!) }
}

function compareIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1
}

function parseStreamEntry(epoch: string, item: readonly unknown[]): RevocationEntry & { id: StreamId } {
  const id = asString(item[0])
  const fields = asArray(item[1])
  const f = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(asString(fields[i]), asString(fields[i + 1]))
  return {
    cursor: formatFeedCursor(epoch, formatPosition(id)),
    sid: parseJsonString(required(f, 'sid')),
    exp: Number(required(f, 'exp')),
    revokedAt: Number(required(f, 'revokedAt')),
    reason: parseJsonString(required(f, 'reason')),
    id: toStreamId(id),
  }
}

// A message on the live channel; anything malformed (another publisher?) is ignored.
function parseLiveMessage(payload: string): (RevocationEntry & { id: StreamId }) | undefined {
  try {
    const m = JSON.parse(payload) as Record<string, unknown>
    if (!isFeedEpoch(m.epoch) || typeof m.id !== 'string' || typeof m.sid !== 'string' || typeof m.reason !== 'string') return undefined
    if (typeof m.exp !== 'number' || typeof m.revokedAt !== 'number') return undefined
    return { cursor: formatFeedCursor(m.epoch, formatPosition(m.id)), sid: m.sid, exp: m.exp, revokedAt: m.revokedAt, reason: m.reason, id: toStreamId(m.id) }
  } catch {
    return undefined
  }
}

function stripId(entry: RevocationEntry & { id: StreamId }): RevocationEntry {
  return { cursor: entry.cursor, sid: entry.sid, exp: entry.exp, revokedAt: entry.revokedAt, reason: entry.reason }
}

// ---- driver plumbing ------------------------------------------------------------------------

function isCommands(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { call?: unknown }).call === 'function' && typeof (value as { duplicate?: unknown }).duplicate === 'function'
}

function isSubscriber(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { subscribe?: unknown }).subscribe === 'function' && typeof (value as { on?: unknown }).on === 'function'
}

function asArray(value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw new StoreUnavailable('redis returned an unexpected reply')
  return value
}

function asString(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new StoreUnavailable('redis returned an unexpected reply')
}

function checkNumbers(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new SessionInputInvalid(name, 'must be a finite number')
  }
}

function checkRecord(r: SessionRecord): void {
  checkNumbers({ createdAt: r.createdAt, expiresAt: r.expiresAt, idleExpiresAt: r.idleExpiresAt, lastSeenAt: r.lastSeenAt, generation: r.generation, rotatedAt: r.rotatedAt, maxAccessExp: r.maxAccessExp })
  if (r.revokedAt !== null) checkNumbers({ revokedAt: r.revokedAt })
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

// ioredis attaches the command and its arguments (hashes, subjects) to reply errors; the cause
// of a StoreUnavailable may be logged, so they are dropped.
function scrub(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'command' in error) {
    try {
      delete (error as { command?: unknown }).command
    } catch {
      return new Error('redis error')
    }
  }
  return error
}
