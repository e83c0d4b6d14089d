// Errors a store reports outside any request (a failed feed poll, an audit entry lost after its
// session change took effect), and other background failures (a service's encryption key set
// that cannot be fetched): stores never log, so the server's logger takes them. They start
// before the logger exists, so the relay holds the latest few until one is attached.

const HELD_AT_MOST = 50

export interface StoreErrorRelay {
  /** Pass to a store's `onError`; others say what failed in `message`. */
  readonly report: (error: unknown, message?: string) => void
  /** Sends held and future errors to `sink`; returns a function that detaches it. */
  attach(sink: (error: unknown, message: string) => void): () => void
}

export function createStoreErrorRelay(): StoreErrorRelay {
  let sink: ((error: unknown, message: string) => void) | undefined
  const held: Array<[unknown, string]> = []
  return {
    report: (error, message = 'store error outside a request') => {
      if (sink !== undefined) {
        sink(error, message)
        return
      }
      held.push([error, message])
      if (held.length > HELD_AT_MOST) held.shift()
    },
    attach(next) {
      sink = next
      for (const [error, message] of held.splice(0)) next(error, message)
      return () => {
        if (sink === next) sink = undefined
      }
    },
  }
}
