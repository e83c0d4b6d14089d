// The I/O a verifier is given (all I/O is injected): fetch, a clock, timers and a
// source of randomness for backoff jitter. Tests pass a manual clock and timers; production
// gets the globals. Timers are unref'd so a forgotten verifier never keeps a process alive.

/** The subset of `fetch` the verifier uses (the global one fits, so does undici's). */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>

/** Timers the verifier schedules its background work with. */
export interface VerifierTimers {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const SYSTEM_TIMERS: VerifierTimers = Object.freeze({
  setTimeout(callback: () => void, ms: number): unknown {
    const handle = setTimeout(callback, ms)
    handle.unref()
    return handle
  },
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
})

/** Everything a background component needs, resolved once by `createVerifier`. */
export interface VerifierIo {
  readonly fetch: FetchFunction
  readonly now: () => number
  readonly timers: VerifierTimers
  readonly random: () => number
}

/** Calls an event hook without letting it break the caller. */
export function safeCall<T>(hook: ((value: T) => void) | undefined, value: T): void {
  if (hook === undefined) return
  try {
    hook(value)
  } catch {
    // A logging or metrics hook that throws must not turn into a failed verification or a
    // dead background loop; there is nowhere better to report it.
  }
}
