// Errors a store reports outside any request (a failed feed poll, an audit entry lost after its
// session change took effect): stores never log, so the server's logger takes them. The store is
// opened before the logger exists, so the relay holds the latest few until one is attached.

const HELD_AT_MOST = 50

export interface StoreErrorRelay {
  /** Pass to a store's `onError`. */
  readonly report: (error: unknown) => void
  /** Sends held and future errors to `sink`; returns a function that detaches it. */
  attach(sink: (error: unknown) => void): () => void
}

export function createStoreErrorRelay(): StoreErrorRelay {
  let sink: ((error: unknown) => void) | undefined
  const held: unknown[] = []
  return {
    report: (error) => {
      if (sink !== undefined) {
        sink(error)
        return
      }
      held.push(error)
      if (held.length > HELD_AT_MOST) held.shift()
    },
    attach(next) {
      sink = next
      for (const error of held.splice(0)) next(error)
      return () => {
        if (sink === next) sink = undefined
      }
    },
  }
}
