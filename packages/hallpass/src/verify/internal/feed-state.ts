// The state both revocation feeds (SSE and store) show the verifier: connected, complete (the
// denylist holds every revocation up to the live edge), and the last moment it was known
// complete, from which the verifier's policy counts staleness.

export interface FeedState {
  readonly connected: boolean
  readonly complete: boolean
  /** Epoch ms of the last moment the feed was known complete (undefined before the first time). */
  readonly lastCompleteAt: number | undefined
  /** Moves to a new state; a complete one is complete as of now. `onChange` hears of a change. */
  set(connected: boolean, complete: boolean): void
  /** The feed showed it is alive (bytes arrived): if complete, it still is as of now. */
  alive(): void
}

/**
 * `lastCompleteAt` moves when the feed becomes or proves itself complete, never when it is found
 * dead: a connection may have been dead since its last bytes (an idle timeout notices later).
 */
export function createFeedState(now: () => number, onChange: (() => void) | undefined): FeedState {
  let connected = false
  let complete = false
  let lastCompleteAt: number | undefined
  return {
    get connected() {
      return connected
    },
    get complete() {
      return complete
    },
    get lastCompleteAt() {
      return lastCompleteAt
    },
    set(nextConnected, nextComplete) {
      if (nextComplete) lastCompleteAt = now()
      if (nextConnected === connected && nextComplete === complete) return
      connected = nextConnected
      complete = nextComplete
      onChange?.()
    },
    alive() {
      if (complete) lastCompleteAt = now()
    },
  }
}
