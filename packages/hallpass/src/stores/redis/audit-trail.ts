// The audit trail on Redis: a list per subject on the subject's slot, newest first, capped; and
// one stream of every subject's recent events on a slot of its own (listRecentAudit).
//
// The stream cannot be written in the script that writes the subject's list: a script runs on
// one hash slot, and on a Cluster the subject's slot and the stream's are two. Both appends are
// sent together (one round trip), and the stream is treated as an index, as the subject index
// of sessions is: the subject's list is the record (`listAudit`), and a failed stream append is
// reported to `onError` without failing the call. So a fault on the stream's slot leaves an
// event out of the admin console's recent list, never out of its subject's trail, and never
// turns a refresh or a revocation into an error.
import { StoreUnavailable } from '../../errors.ts'
import type { AuditEvent } from '../../session/types.ts'
import { matchesRecentAudit, type RecentAuditQuery } from '../internal/recent-audit.ts'
import { asArray, asString, evalScript, scrub, type Commands } from './commands.ts'
import type { RedisKeys } from './keys.ts'
import { auditAppendScript, recentAuditAppendScript } from './scripts.ts'

/** Audit events kept per subject (a list has no cheap age-based cleanup). */
const AUDIT_CAP = 1000
/**
 * Events of all subjects kept for listRecentAudit: the newest 10,000 (about 3 MB at typical
 * event sizes). Older ones are still in their subjects' lists.
 */
export const RECENT_AUDIT_CAP = 10_000
/** Stream entries read per round trip when filters may leave most of them out. */
const RECENT_PAGE = 500

export interface AuditTrail {
  append(subject: string, events: readonly AuditEvent[]): Promise<void>
  /**
   * Appends the audit entries of a session change that has already taken effect on another
   * slot. A failure must not fail the call: a caller told "failed" would retry a rotation that
   * happened (and be revoked for reuse) or lose the tokens of a session that exists. It is
   * reported to `onError` instead.
   */
  appendAfterChange(subject: string, events: readonly AuditEvent[]): Promise<void>
  list(subject: string, limit: number): Promise<AuditEvent[]>
  /** listRecentAudit on a checked query: the stream, or with a subject, that subject's list. */
  listRecent(query: RecentAuditQuery): Promise<AuditEvent[]>
}

export function createAuditTrail(client: Commands, keys: RedisKeys, onError: ((error: unknown) => void) | undefined): AuditTrail {
  const report = (error: StoreUnavailable): void => {
    try {
      onError?.(error)
    } catch {
      // A throwing error handler must not turn a done change into a failure either.
    }
  }

  const appendRecent = async (events: readonly string[]): Promise<void> => {
    try {
      await evalScript(client, recentAuditAppendScript, [keys.recentAudit], [RECENT_AUDIT_CAP, ...events])
    } catch (error) {
      report(new StoreUnavailable("redis recent-audit append failed; the events are in their subject's trail", { cause: scrub(error) }))
    }
  }

  const append = async (subject: string, events: readonly AuditEvent[]): Promise<void> => {
    if (events.length === 0) return
    const texts = events.map((e) => JSON.stringify(e))
    // appendRecent never rejects: only the subject's list decides the outcome.
    await Promise.all([evalScript(client, auditAppendScript, [keys.audit(subject)], [AUDIT_CAP, ...texts]), appendRecent(texts)])
  }

  /** The subject's list, newest first: the whole of it when filters may leave entries out. */
  const fromSubjectList = async (query: RecentAuditQuery & { subject: string }): Promise<AuditEvent[]> => {
    const filtered = query.types !== undefined || query.before !== undefined
    const count = filtered ? AUDIT_CAP : Math.min(query.limit, AUDIT_CAP)
    const out: AuditEvent[] = []
    // One LRANGE: a single atomic read, so concurrent appends cannot shift entries between pages.
    for (const item of asArray(await client.call('LRANGE', keys.audit(query.subject), 0, count - 1))) {
      const event = parseEvent(item)
      if (!matchesRecentAudit(event, query)) continue
      out.push(event)
      if (out.length === query.limit) break
    }
    return out
  }

  /** The stream, newest first, paged by id (exclusive), so appends during the read shift nothing. */
  const fromStream = async (query: RecentAuditQuery): Promise<AuditEvent[]> => {
    const page = query.types === undefined && query.before === undefined ? query.limit : RECENT_PAGE
    const out: AuditEvent[] = []
    let end = '+'
    for (;;) {
      const entries = asArray(await client.call('XREVRANGE', keys.recentAudit, end, '-', 'COUNT', page))
      for (const entry of entries) {
        const event = parseEvent(streamField(entry))
        if (!matchesRecentAudit(event, query)) continue
        out.push(event)
        if (out.length === query.limit) return out
      }
      if (entries.length < page) return out
      end = `(${asString(asArray(entries[entries.length - 1])[0])}`
    }
  }

  return {
    append,

    appendAfterChange: async (subject, events) => {
      try {
        await append(subject, events)
      } catch (error) {
        report(new StoreUnavailable('redis audit append failed; the session change it records took effect', { cause: scrub(error) }))
      }
    },

    list: async (subject, limit) => {
      const count = Math.min(Math.floor(limit), AUDIT_CAP)
      if (!(count > 0)) return []
      const reply = asArray(await client.call('LRANGE', keys.audit(subject), 0, count - 1))
      return reply.map(parseEvent)
    },

    listRecent: async (query) => {
      if (query.types?.length === 0) return []
      return query.subject !== undefined ? fromSubjectList({ ...query, subject: query.subject }) : fromStream(query)
    },
  }
}

function parseEvent(item: unknown): AuditEvent {
  return JSON.parse(asString(item)) as AuditEvent
}

/** The `e` field of a stream entry `[id, [field, value, …]]`. */
function streamField(entry: unknown): unknown {
  const fields = asArray(asArray(entry)[1])
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (asString(fields[i]) === 'e') return fields[i + 1]
  }
  throw new StoreUnavailable('redis recent-audit stream is corrupt')
}
