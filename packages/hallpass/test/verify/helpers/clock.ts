// A manual clock with timers for the verifier's `now` and `timers` options: time moves only
// when the test says so, and due timers run in order as it does.
export interface ManualClock {
  readonly now: () => number
  readonly timers: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void }
  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms: number): void
  /** Delays (from now) of the pending timers, sorted. */
  pending(): number[]
}

export function createManualClock(start = Date.UTC(2030, 0, 1)): ManualClock {
  let time = start
  let nextId = 1
  const scheduled = new Map<number, { at: number; callback: () => void }>()
  return {
    now: () => time,
    timers: {
      setTimeout(callback, ms) {
        const id = nextId++
        scheduled.set(id, { at: time + Math.max(0, ms), callback })
        return id
      },
      clearTimeout(handle) {
        scheduled.delete(handle as number)
      },
    },
    advance(ms) {
      const target = time + ms
      for (;;) {
        let due: [number, { at: number; callback: () => void }] | undefined
        for (const entry of scheduled) if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry
        if (due === undefined) break
        scheduled.delete(due[0])
        time = due[1].at
        due[1].callback()
      }
      time = target
    },
    pending: () => [...scheduled.values()].map((s) => s.at - time).sort((a, b) => a - b),
  }
}
