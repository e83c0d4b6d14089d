/**
 * @module hallpass/server
 *
 * One store subscription per server, fanned out to every SSE client (routes/revocation-feed.ts:
 * each client subscribes here before it reads the store, so nothing committed in between is
 * missed, and drops live entries at or before the last cursor it has sent).
 */
import type { RevocationEntry, SessionStore } from 'hallpass'

export type RevocationSink = (entry: RevocationEntry) => void

export interface RevocationHub {
  /** Adds a sink; returns a function removing it. */
  add(sink: RevocationSink): () => void
  readonly size: number
  close(): Promise<void>
}

export async function createRevocationHub(store: SessionStore): Promise<RevocationHub> {
  const sinks = new Set<RevocationSink>()
  const unsubscribe = await store.subscribeRevocations((entry) => {
    for (const sink of sinks) sink(entry)
  })
  return {
    add(sink) {
      sinks.add(sink)
      return () => void sinks.delete(sink)
    },
    get size() {
      return sinks.size
    },
    close: () => unsubscribe(),
  }
}
