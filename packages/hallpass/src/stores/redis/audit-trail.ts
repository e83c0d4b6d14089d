// The audit trail on Redis: a list per subject on the subject's slot, newest first, capped.
import { StoreUnavailable } from '../../errors.ts'
import type { AuditEvent } from '../../session/types.ts'
import { asArray, asString, evalScript, scrub, type Commands } from './commands.ts'
import type { RedisKeys } from './keys.ts'
import { auditAppendScript } from './scripts.ts'

/** Audit events kept per subject (a list has no cheap age-based cleanup). */
const AUDIT_CAP = 1000

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
}

export function createAuditTrail(client: Commands, keys: RedisKeys, onError: ((error: unknown) => void) | undefined): AuditTrail {
  const append = async (subject: string, events: readonly AuditEvent[]): Promise<void> => {
    if (events.length === 0) return
    await evalScript(client, auditAppendScript, [keys.audit(subject)], [AUDIT_CAP, ...events.map((e) => JSON.stringify(e))])
  }

  return {
    append,

    appendAfterChange: async (subject, events) => {
      try {
        await append(subject, events)
      } catch (error) {
        try {
          onError?.(new StoreUnavailable('redis audit append failed; the session change it records took effect', { cause: scrub(error) }))
        } catch {
          // A throwing error handler must not turn a done change into a failure either.
        }
      }
    },

    list: async (subject, limit) => {
      const count = Math.min(Math.floor(limit), AUDIT_CAP)
      if (!(count > 0)) return []
      const reply = asArray(await client.call('LRANGE', keys.audit(subject), 0, count - 1))
      return reply.map((item) => JSON.parse(asString(item)) as AuditEvent)
    },
  }
}
