// A subject's sessions on Redis: the sorted set of its session ids (by `createdAt`, on the
// subject's slot) and the session hashes it points to (each on its own slot).
import type { SessionRecord } from '../../session/types.ts'
import { json, parseJsonString, parseRecord } from './codec.ts'
import { asArray, asString, evalScript, type Commands } from './commands.ts'
import type { RedisKeys } from './keys.ts'
import { getSessionScript, listIndexScript } from './scripts.ts'

/** Sessions fetched concurrently when listing or revoking a subject's sessions. */
export const FETCH_BATCH = 256
/**
 * An index entry whose session hash is missing is pruned only when the session was created at
 * least this long before `now`: the index is written before the hash, so a younger one may be
 * a creation in flight. (A real session cannot disappear sooner than the retention margin.)
 */
const PRUNE_GRACE_MS = 600_000

export interface IndexEntry {
  readonly sid: string
  readonly createdAt: number
}

export interface SubjectIndex {
  /** The subject's session ids, newest first. */
  read(subject: string): Promise<IndexEntry[]>
  /** Removes the entries of sessions found missing, once they are past the grace period. */
  prune(subject: string, entries: readonly IndexEntry[], now: number): Promise<void>
  /** The sessions of `sids`, in order; undefined where the hash is missing. */
  fetchSessions(sids: readonly string[]): Promise<Array<SessionRecord | undefined>>
}

export function createSubjectIndex(client: Commands, keys: RedisKeys): SubjectIndex {
  return {
    read: async (subject) => {
      const flat = asArray(await evalScript(client, listIndexScript, [keys.index(subject)], []))
      const out: IndexEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        out.push({ sid: parseJsonString(asString(flat[i])), createdAt: Number(asString(flat[i + 1])) })
      }
      return out
    },

    prune: async (subject, entries, now) => {
      const stale = entries.filter((e) => e.createdAt < now - PRUNE_GRACE_MS).map((e) => json(e.sid))
      if (stale.length > 0) await client.call('ZREM', keys.index(subject), ...stale)
    },

    fetchSessions: async (sids) => {
      const out: Array<SessionRecord | undefined> = []
      for (let i = 0; i < sids.length; i += FETCH_BATCH) {
        const batch = sids.slice(i, i + FETCH_BATCH)
        const replies = await Promise.all(batch.map((sid) => evalScript(client, getSessionScript, [keys.session(sid)], [])))
        for (const reply of replies) out.push(parseRecord(asArray(reply)))
      }
      return out
    },
  }
}
