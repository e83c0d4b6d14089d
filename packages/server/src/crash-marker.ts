// Whether the last process that served a SQLite store died without closing it (a crash, a
// SIGKILL, a power cut), and when it was last alive. Each process keeps a marker file next to
// the store, `<store>.running.<pid>.<id>`, touched every few seconds and removed when it
// closes; a marker whose process is gone is what a dead one left behind. The rotations it made
// in its final seconds may have committed with their answers lost, and the lost-answer ledger
// that knew died with it: the runtime marks them (SessionManager.recoverAfterCrash).
import { randomBytes } from 'node:crypto'
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** How often a live process touches its marker. */
export const CRASH_MARKER_HEARTBEAT_MS = 2000

export interface CrashMarker {
  /** When a process that died without closing was last known alive (epoch ms), if one did. */
  readonly deadLastAliveAt: number | undefined
  /** Removes this process's marker (a clean stop). */
  close(): void
}

export function openCrashMarker(storeFile: string): CrashMarker {
  const dir = dirname(storeFile)
  const prefix = `${basename(storeFile)}.running.`
  let deadLastAliveAt: number | undefined
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    if (!Number.isSafeInteger(pid) || pid <= 0 || isAlive(pid)) continue
    const path = join(dir, name)
    try {
      deadLastAliveAt = Math.max(deadLastAliveAt ?? 0, statSync(path).mtimeMs)
      rmSync(path, { force: true })
    } catch {
      // Another process starting at the same moment took it first.
    }
  }
  const own = join(dir, `${prefix}${process.pid}.${randomBytes(4).toString('hex')}`)
  writeFileSync(own, `${process.pid}\n`, { mode: 0o600 })
  const heartbeat = setInterval(() => {
    try {
      const seconds = Date.now() / 1000
      utimesSync(own, seconds, seconds)
    } catch {
      // The directory went away: nothing to mark any more.
    }
  }, CRASH_MARKER_HEARTBEAT_MS)
  heartbeat.unref()
  return {
    deadLastAliveAt,
    close() {
      clearInterval(heartbeat)
      rmSync(own, { force: true })
    },
  }
}

// Signal 0 checks that the process exists without touching it; EPERM means it exists under
// another user. A pid reused by an unrelated process reads as alive: no recovery, the safe side.
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM'
  }
}
