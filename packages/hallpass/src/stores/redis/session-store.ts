/**
 * @module hallpass/stores/redis
 *
 * A `SessionStore` on Redis (standalone or Cluster) through an injected ioredis client. Every
 * multi-key step is a Lua script on one hash slot; steps that span slots are ordered so that a
 * crash between them loses at most an audit entry or delays a feed entry, never a rotation or a
 * revocation.
 *
 * Keys, their slots and the encodings that keep any input inside its hash tag: keys.ts.
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
 * - Every audit append also goes to the recent-audit stream (listRecentAudit), on a slot of its
 *   own, in the same round trip; that append never fails a call (audit-trail.ts).
 * - creation: index first, then the session, then the audit entry, so a session is never
 *   missing from its subject's index (which `revokeSubjectSessions` relies on); an index entry
 *   left by a crash points nowhere and is pruned.
 */
import type { Cluster, Redis } from 'ioredis'
import { checkFunction } from '../../internal/options.ts'
import { ConfigInvalid, SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type {
  RedeliverRefreshInput,
  RedeliverRefreshResult,
  RevokeSessionInput,
  RevokeSessionResult,
  RevokeSubjectInput,
  RotateRefreshInput,
  RotateRefreshResult,
  SessionStore,
  StoredKeyring,
} from '../../session/store.ts'
import { compareFeedCursors } from '../../session/feed-cursor.ts'
import type { AuditEvent, SessionRecord } from '../../session/types.ts'
import { checkRecentAuditQuery } from '../internal/recent-audit.ts'
import { deviceUpdate } from '../internal/rows.ts'
import { checkNumbers, checkRecord, deviceFields, json, num, parseJsonString, parseRecord, serializeRecord } from './codec.ts'
import { createAuditTrail } from './audit-trail.ts'
import { asArray, asString, evalScript, toStoreError, type Commands } from './commands.ts'
import { createFeedSubscriptions, isSubscriber, type Subscriber } from './feed-subscription.ts'
import { createRedisFeed } from './feed.ts'
import { checkKeyPrefix, gcMember, parseGcMember, sessionKeys } from './keys.ts'
import { createSubjectIndex, FETCH_BATCH } from './subject-index.ts'
import {
  createSessionScript,
  getSessionScript,
  markUndeliveredScript,
  purgeSessionScript,
  redeliverScript,
  revokeScript,
  rotateScript,
  saveKeyringScript,
  type RedisScript,
} from './scripts.ts'

/** An ioredis client: a standalone `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * The connection for commands. The store never closes it. How an outage looks is the
   * client's options, so they are yours: ioredis' defaults queue commands while disconnected
   * and send them after a reconnect, and resend those that were in flight, so a rotation can
   * land long after its caller was told it failed, and a request can wait for the whole outage.
   * For fast failures (ERR_STORE_UNAVAILABLE) and no late writes, pass
   * `enableOfflineQueue: false, autoResendUnfulfilledCommands: false, commandTimeout`,
   * `socketTimeout` and `connectTimeout` of a couple of seconds, and `lazyConnect: true` with an
   * `await client.connect()` before the first call (as `hallpass serve` does).
   */
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
const PURGE_BATCH = 500

/**
 * Creates a `SessionStore` on Redis through an injected ioredis client (standalone or Cluster).
 * Subpath: `hallpass/stores/redis`. The store opens no connection except the pub/sub duplicate
 * it creates (and closes) when `subscriber` is not given.
 *
 * @example
 * import { Redis } from 'ioredis'
 * import { createRedisStore } from 'hallpass/stores/redis'
 *
 * const client = new Redis(process.env.REDIS_URL!, {
 *   lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false,
 *   commandTimeout: 2000, socketTimeout: 2000, connectTimeout: 2000,
 * })
 * await client.connect()
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
  const keys = sessionKeys(checkKeyPrefix(options.keyPrefix))
  const client = options.client as unknown as Commands & { duplicate(): unknown }
  const feed = createRedisFeed(client, keys)
  let closed = false
  const subscriptions = createFeedSubscriptions({
    feed,
    channel: keys.channel,
    subscriber: options.subscriber as Subscriber | undefined,
    duplicate: () => client.duplicate() as Subscriber,
    isClosed: () => closed,
  })

  const guard = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    if (closed) throw new StoreUnavailable(`redis store is closed (${operation})`)
    try {
      return await work()
    } catch (error) {
      throw toStoreError(operation, error)
    }
  }

  const run = (s: RedisScript, scriptKeys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => evalScript(client, s, scriptKeys, args)
  // A compare-and-set script on one session's hash, answering {1, record} when it held and
  // {0, record} ({0, {}} when absent) otherwise: rotation and redelivery.
  const compareAndSet = async (s: RedisScript, id: string, args: readonly (string | number)[]) => {
    const reply = asArray(await run(s, [keys.session(id)], args))
    const session = parseRecord(asArray(reply[1]))
    return reply[0] === 1 && session !== undefined ? { held: true as const, session } : { held: false as const, session }
  }

  const auditTrail = createAuditTrail(client, keys, onError)
  const index = createSubjectIndex(client, keys)

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
        await auditTrail.appendAfterChange(record.subject, [audit])
      }),

    getSession: (id) => guard('getSession', async () => parseRecord(asArray(await run(getSessionScript, [keys.session(id)], [])))),

    rotateRefreshToken: (input: RotateRefreshInput): Promise<RotateRefreshResult> =>
      guard('rotateRefreshToken', async () => {
        checkNumbers({ generation: input.generation, now: input.now, idleExpiresAt: input.idleExpiresAt, maxAccessExp: input.maxAccessExp })
        const { held, session } = await compareAndSet(rotateScript, input.id, [
          String(input.generation),
          json(input.hash),
          json(input.newHash),
          num(input.now),
          num(input.idleExpiresAt),
          String(input.generation + 1),
          RETENTION_MARGIN_MS,
          num(input.maxAccessExp),
          ...deviceFields(deviceUpdate(input.device)),
        ])
        if (!held) return { rotated: false, session }
        // The subject comes from the record: the caller of a refresh only knows the session id.
        await auditTrail.appendAfterChange(session.subject, [{ ...input.audit, subject: session.subject }])
        return { rotated: true, session }
      }),

    markUndelivered: (input) =>
      guard('markUndelivered', async () => {
        checkNumbers(input.rotatedAt === undefined ? { generation: input.generation } : { generation: input.generation, rotatedAt: input.rotatedAt })
        const reply = await run(markUndeliveredScript, [keys.session(input.id)], [String(input.generation), json(input.hash), input.rotatedAt === undefined ? '' : num(input.rotatedAt)])
        return reply === 1
      }),

    redeliverRefreshToken: (input: RedeliverRefreshInput): Promise<RedeliverRefreshResult> =>
      guard('redeliverRefreshToken', async () => {
        checkNumbers({ generation: input.generation, now: input.now, idleExpiresAt: input.idleExpiresAt, maxAccessExp: input.maxAccessExp })
        const { held, session } = await compareAndSet(redeliverScript, input.id, [
          String(input.generation),
          json(input.hash),
          num(input.now),
          num(input.idleExpiresAt),
          num(input.maxAccessExp),
          RETENTION_MARGIN_MS,
        ])
        return held ? { redelivered: true, session } : { redelivered: false, session }
      }),

    revokeSession: (input: RevokeSessionInput): Promise<RevokeSessionResult> =>
      guard('revokeSession', async () => {
        checkNumbers({ now: input.now, feedExp: input.feedExp })
        const reply = asArray(await run(revokeScript, [keys.session(input.id)], [num(input.now), json(input.reason), num(input.feedExp), '']))
        if (reply[0] === 0) return { revoked: false, why: 'not_found' }
        if (reply[0] === 2) {
          await feed.repair(input.id, reply, input.now)
          return { revoked: false, why: 'already_revoked' }
        }
        const [entry] = await Promise.all([
          feed.append(input.id, Number(asString(reply[1])), input.now, input.reason),
          auditTrail.appendAfterChange(input.audit.subject, [input.audit]),
        ])
        return { revoked: true, entry }
      }),

    revokeSubjectSessions: (input: RevokeSubjectInput) =>
      guard('revokeSubjectSessions', async () => {
        checkNumbers({ now: input.now, feedExp: input.feedExp })
        const indexed = await index.read(input.subject)
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
              else await feed.repair(target.sid, reply, input.now)
            }),
          )
        }
        const events: AuditEvent[] = revoked.map(({ sid }) => ({ type: 'session.revoked', at: input.now, sessionId: sid, subject: input.subject, reason: input.reason }))
        const [entries] = await Promise.all([
          Promise.all(revoked.map(({ sid, exp }) => feed.append(sid, exp, input.now, input.reason))),
          auditTrail.appendAfterChange(input.subject, events),
          index.prune(input.subject, missing, input.now),
        ])
        return entries.sort((a, b) => compareFeedCursors(a.cursor, b.cursor) ?? 0)
      }),

    listSessions: (subject, now) =>
      guard('listSessions', async () => {
        const indexed = await index.read(subject)
        const records = await index.fetchSessions(indexed.map((e) => e.sid))
        const live: SessionRecord[] = []
        const missing: typeof indexed = []
        records.forEach((record, i) => {
          if (record === undefined) missing.push(indexed[i]!)
          else if (record.subject === subject && record.revokedAt === null && record.expiresAt > now && record.idleExpiresAt > now) live.push(record)
        })
        await index.prune(subject, missing, now)
        // The index is ordered by createdAt already; the sort settles ties and stays stable.
        return live.sort((a, b) => b.createdAt - a.createdAt)
      }),

    appendAudit: (event) => guard('appendAudit', () => auditTrail.append(event.subject, [event])),

    listAudit: (subject, limit) => guard('listAudit', () => auditTrail.list(subject, limit)),

    listRecentAudit: (options) => guard('listRecentAudit', () => auditTrail.listRecent(checkRecentAuditQuery(options))),

    readRevocations: (cursor, limit, minExp) => guard('readRevocations', () => feed.read(cursor, limit, minExp)),

    headCursor: () => guard('headCursor', () => feed.headCursor()),

    subscribeRevocations: (listener) => guard('subscribeRevocations', () => subscriptions.subscribe(listener)),

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
        removed += await feed.purge(now)
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
      await subscriptions.close()
    },
  }
  return store
}

function isCommands(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { call?: unknown }).call === 'function' && typeof (value as { duplicate?: unknown }).duplicate === 'function'
}
