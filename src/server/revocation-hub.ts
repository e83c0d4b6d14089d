/**
 * @module hallpass/server
 *
 * One store subscription per server, fanned out to every SSE client. A client that connects
 * with a cursor first gets what it missed from the store, then live entries, without gaps or
 * duplicates: it subscribes before catching up, and drops live entries at or before the last
 * cursor it has sent.
 */
import type { RevocationEntry, SessionStore } from '../session/index.ts'

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

/**
 * Orders feed cursors: decimal sequence numbers (SQLite, PostgreSQL) or Redis stream ids
 * (`<ms>-<seq>`), compared part by part as integers.
 */
export function compareCursors(a: string, b: string): number {
  const pa = a.split('-')
  const pb = b.split('-')
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(pa[i] ?? '0')
    const y = BigInt(pb[i] ?? '0')
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * A cursor as a client may send it: digits, optionally `-digits` (at most 41 characters). The
 * Redis store pads both parts of its cursors to fixed width (15 and 20 digits), so the second
 * part must allow 20.
 */
export function isCursor(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9]{1,20}(?:-[0-9]{1,20})?$/.test(value)
}
