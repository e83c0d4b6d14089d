// The rotations whose answer may have been lost, until the store has been told.
//
// A rotation call that fails (timeout, dropped connection) may still have committed: the session
// then moved on while its client never saw the successor, and the client's retry with its old
// token would look like reuse once the grace window has passed. The store is the only place
// every instance can read, so what this instance knows is written there as soon as the store
// answers again: the rotation is marked undelivered if (and only if) exactly it committed and its
// successor is still unused. Held in memory only: an instance that stops before the store comes
// back loses the entries, which makes those retries reuse again, as before (fail closed).
// docs/design.md, "A lost answer is not theft", has the reasoning.
import type { MarkUndeliveredInput, SessionStore } from './store.ts'

export interface UndeliveredLedgerOptions {
  readonly store: SessionStore
  readonly now: () => number
  /**
   * How long after its failure an entry is left alone by `reconcile` (ms): a statement whose
   * caller gave up may still commit a moment later, and an entry checked before that would be
   * dropped as "did not commit".
   */
  readonly settleMs: number
  /** Entries older than this are dropped (ms): their session's idle deadline has passed. */
  readonly maxAgeMs: number
  /** At most this many entries, the oldest dropped first. */
  readonly maxEntries: number
}

export interface UndeliveredLedger {
  /** Remembers a rotation (or an answer) that may have committed without reaching its client. */
  remember(input: MarkUndeliveredInput): void
  /** Forgets the session's entry: its successor was delivered or used. */
  forget(id: string): void
  /**
   * Writes the session's entry for `hash` to the store now, whatever its age (the caller has
   * just seen that successor committed); resolves once that is done, at once when there is none.
   * Rejects when the store fails, keeping the entry.
   */
  settle(id: string, hash: string): Promise<void>
  /**
   * Writes every settled entry to the store, oldest first, stopping at the first store failure
   * (which it rejects with); resolves to the number of rotations marked undelivered.
   */
  reconcile(): Promise<number>
  readonly size: number
}

interface Entry {
  readonly id: string
  readonly generation: number
  readonly hash: string
  /**
   * The times of the failed calls that may have committed this successor (several when the
   * client retried while the store was still failing), or undefined: any (a reported answer).
   */
  readonly rotatedAt: readonly number[] | undefined
  readonly at: number
  writing: Promise<boolean> | undefined
}

/**
 * Failed calls of one successor kept at most, each a store call to check: the first ones (the
 * call in flight when the store went away is the one most likely to have committed) and the
 * latest ones (a flapping store). A client retrying all through a long outage makes hundreds.
 */
const FIRST_ATTEMPTS = 4
const LATEST_ATTEMPTS = 4

export function createUndeliveredLedger(options: UndeliveredLedgerOptions): UndeliveredLedger {
  const { store, now, settleMs, maxAgeMs, maxEntries } = options
  // By session id: a newer uncertain rotation of a session supersedes an older one.
  const entries = new Map<string, Entry>()
  let running: Promise<number> | undefined

  const mark = async ({ id, generation, hash, rotatedAt }: Entry): Promise<boolean> => {
    if (rotatedAt === undefined) return store.markUndelivered({ id, generation, hash })
    for (const at of rotatedAt) if (await store.markUndelivered({ id, generation, hash, rotatedAt: at })) return true
    return false
  }

  // One write per entry at a time: the background pass and a refresh that needs the answer share it.
  const write = (entry: Entry): Promise<boolean> =>
    (entry.writing ??= mark(entry).then(
      (marked) => {
        if (entries.get(entry.id) === entry) entries.delete(entry.id)
        return marked
      },
      (error: unknown) => {
        entry.writing = undefined
        throw error
      },
    ))

  const pass = async (): Promise<number> => {
    let marked = 0
    const at = now()
    for (const entry of [...entries.values()]) {
      if (at - entry.at > maxAgeMs) {
        if (entries.get(entry.id) === entry) entries.delete(entry.id)
      } else if (at - entry.at >= settleMs && (await write(entry))) {
        marked++
      }
    }
    return marked
  }

  return {
    remember({ id, generation, hash, rotatedAt }) {
      const known = entries.get(id)
      let times: readonly number[] | undefined = rotatedAt === undefined ? undefined : [rotatedAt]
      if (known !== undefined && known.hash === hash && times !== undefined) {
        times = known.rotatedAt === undefined ? undefined : keepFirstAndLatest([...known.rotatedAt, ...times])
      }
      entries.delete(id)
      entries.set(id, { id, generation, hash, rotatedAt: times, at: now(), writing: undefined })
      // Map order is insertion order: the first key is the oldest entry.
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
    },
    forget(id) {
      entries.delete(id)
    },
    async settle(id, hash) {
      const entry = entries.get(id)
      if (entry !== undefined && entry.hash === hash) await write(entry)
    },
    reconcile() {
      if (entries.size === 0) return Promise.resolve(0)
      running ??= pass().finally(() => {
        running = undefined
      })
      return running
    },
    get size() {
      return entries.size
    },
  }
}

function keepFirstAndLatest(times: readonly number[]): readonly number[] {
  return times.length <= FIRST_ATTEMPTS + LATEST_ATTEMPTS ? times : [...times.slice(0, FIRST_ATTEMPTS), ...times.slice(-LATEST_ATTEMPTS)]
}
