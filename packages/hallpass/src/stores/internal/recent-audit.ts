// The query of `SessionStore.listRecentAudit`, checked once for every store, so that SQLite,
// PostgreSQL and Redis refuse the same input and filter the same way. The query may come from an
// admin console's query string: nothing in it is trusted, and a typo is refused, not ignored.
import { SessionInputInvalid } from '../../errors.ts'
import type { AuditEvent, AuditEventType } from '../../session/types.ts'

/** The largest `limit` of one call. Page with `before` for more. */
export const MAX_RECENT_AUDIT_LIMIT = 1000

// A Record, so that adding an event type without listing it here is a compile error.
const KNOWN_TYPES: Readonly<Record<AuditEventType, true>> = {
  'session.created': true,
  'refresh.rotated': true,
  'refresh.replayed': true,
  'refresh.reuse_detected': true,
  'session.revoked': true,
  'session.expired': true,
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['limit', 'types', 'subject', 'before'])

/** A checked query. `types` is deduplicated; empty means no event can match. */
export interface RecentAuditQuery {
  readonly limit: number
  readonly types: readonly AuditEventType[] | undefined
  readonly subject: string | undefined
  readonly before: number | undefined
}

export function checkRecentAuditQuery(options: unknown): RecentAuditQuery {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new SessionInputInvalid('options', 'must be an object')
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new SessionInputInvalid('options', 'may only hold limit, types, subject and before')
  }
  // Each member read once: a getter cannot pass the check with one value and be used with another.
  const { limit, types, subject, before } = options as Record<string, unknown>
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_RECENT_AUDIT_LIMIT) {
    throw new SessionInputInvalid('limit', `must be an integer from 1 to ${MAX_RECENT_AUDIT_LIMIT}`)
  }
  if (subject !== undefined && typeof subject !== 'string') throw new SessionInputInvalid('subject', 'must be a string')
  // Event times are epoch milliseconds, integers; a fraction or a huge number is a caller's bug.
  if (before !== undefined && (typeof before !== 'number' || !Number.isSafeInteger(before))) {
    throw new SessionInputInvalid('before', 'must be an integer (epoch milliseconds)')
  }
  return { limit, types: checkTypes(types), subject, before }
}

function checkTypes(types: unknown): readonly AuditEventType[] | undefined {
  if (types === undefined) return undefined
  if (!Array.isArray(types)) throw new SessionInputInvalid('types', 'must be an array of audit event types')
  const out = new Set<AuditEventType>()
  // A for loop over indexes: holes and getters of a hostile array are read as what they are.
  for (let i = 0; i < types.length; i++) {
    const type: unknown = types[i]
    if (typeof type !== 'string' || !Object.hasOwn(KNOWN_TYPES, type)) throw new SessionInputInvalid('types', 'must hold only known audit event types')
    out.add(type as AuditEventType)
  }
  return [...out]
}

/** Whether an event passes the query's filters (for stores that filter in JavaScript). */
export function matchesRecentAudit(event: AuditEvent, query: RecentAuditQuery): boolean {
  if (query.types !== undefined && !query.types.includes(event.type)) return false
  if (query.subject !== undefined && event.subject !== query.subject) return false
  if (query.before !== undefined && !(event.at < query.before)) return false
  return true
}
