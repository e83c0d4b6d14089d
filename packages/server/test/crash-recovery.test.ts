// A server on SQLite that died without closing (a crash, SIGKILL) took with it what it knew of
// its last answers. At the next start the marker it left next to the store says so, and the
// sessions it rotated in its final seconds get their last answer once more: a client whose
// refresh died with the process keeps its session however long the restart took. A clean stop
// leaves nothing behind, and a marker of a process still running is not a crash.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { isHallpassError } from 'hallpass/errors'
import { openRuntime, resolveConfig, type Runtime } from '../src/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'hallpass-crash-'))
const storeFile = join(dir, 'hallpass.db')
const env = { HALLPASS_SECRET: randomBytes(32).toString('base64url') }
const config = resolveConfig({ file: { dataDir: dir, databaseUrl: `sqlite:${storeFile}`, demoUser: false, logLevel: 'silent' }, env: {} })
let clock = Date.now()
const open = (): Promise<Runtime> => openRuntime(config, { env, now: () => clock })
const markers = (): string[] => readdirSync(dir).filter((name) => name.startsWith('hallpass.db.running.'))

/** A process id that is certainly not running: a child's, once it has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  assert.ok(child.pid !== undefined)
  return child.pid
}

/** What a process killed at `lastAliveAt` leaves next to the store. */
function leaveDeadMarker(lastAliveAt: number): void {
  const path = join(dir, `hallpass.db.running.${deadPid()}.dead`)
  writeFileSync(path, 'x')
  utimesSync(path, lastAliveAt / 1000, lastAliveAt / 1000)
}

after(() => rmSync(dir, { recursive: true, force: true }))

describe('a restart after a crash', () => {
  test('a clean stop leaves no marker and the next start recovers nothing', async () => {
    const first = await open()
    assert.equal(markers().length, 1)
    await first.close()
    assert.deepEqual(markers(), [])
    const second = await open()
    assert.equal(second.notices.some((n) => n.includes('stopped without closing')), false)
    await second.close()
  })

  test('the last answer of a session rotated just before the crash is given once more, long after the reuse window', async () => {
    const runtime = await open()
    const { sessions } = runtime.context
    const login = await sessions.create({ subject: 'alice' })
    const early = await sessions.create({ subject: 'bob' })
    const earlyRefreshed = await sessions.refresh(early.refreshToken)
    clock += 60_000
    // Alice's refresh commits; its answer dies with the process a moment later.
    const lost = await sessions.refresh(login.refreshToken)
    leaveDeadMarker(clock + 500)
    await runtime.close()

    clock += 5 * 60_000 // a slow restart: far beyond the 10 s reuse window
    const restarted = await open()
    try {
      assert.ok(restarted.notices.some((n) => /stopped without closing.*1 session/.test(n)), restarted.notices.join('\n'))
      assert.deepEqual(markers().length, 1, 'the dead marker is gone, this process has its own')
      const again = await restarted.context.sessions.refresh(login.refreshToken)
      assert.equal(again.refreshToken, lost.refreshToken)
      assert.equal(again.replay, 'undelivered')
      // Once: the same predecessor after that (past the grace window of the answer given again) is reuse, as always.
      clock += 11_000
      await assert.rejects(restarted.context.sessions.refresh(login.refreshToken), (error) => isHallpassError(error) && error.code === 'ERR_REFRESH_REUSED')
      // Bob rotated a minute before the crash: his answer had long arrived, nothing changes.
      await assert.rejects(restarted.context.sessions.refresh(early.refreshToken), (error) => isHallpassError(error) && error.code === 'ERR_REFRESH_REUSED')
      assert.ok(earlyRefreshed.refreshToken.length > 0)
    } finally {
      await restarted.close()
    }
  })

  test('the marker of a process still running is not a crash', async () => {
    const running = await open()
    const second = await open()
    try {
      assert.equal(second.notices.some((n) => n.includes('stopped without closing')), false)
      assert.equal(markers().length, 2)
    } finally {
      await second.close()
      await running.close()
    }
    assert.deepEqual(markers(), [])
  })
})
