// Crash safety of the SQLite store: a writer SIGKILLed in the middle of a stream of refresh
// rotations leaves a database that passes integrity_check, in which every session is exactly
// at its last reported rotation or (for at most one session: the rotation that committed but
// whose line was never written) exactly one further, with its audit trail in step.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { createSqliteStore } from '../../src/stores/sqlite/session-store.ts'

const SESSIONS = 40
const RUN_AFTER_READY_MS = 300
const MIN_ROTATIONS = 30

function countLines(text: string): number {
  let n = -1 // the "ready" line
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++
  return n
}

it('SIGKILL mid-rotation leaves every session at its last reported generation or one further', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hallpass-crash-'))
  const path = join(dir, 'sessions.db')
  const fixture = fileURLToPath(new URL('../fixtures/sqlite-crash-child.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, String(SESSIONS)], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)))

    const deadline = Date.now() + 8000
    while (!out.includes('ready\n')) {
      assert.equal(child.exitCode, null, `the child exited early: ${err}`)
      assert.ok(Date.now() < deadline, 'the child did not get ready in time')
      await delay(10)
    }
    // Let it rotate for ~300 ms, and at least until a few dozen rotations were reported (a
    // loaded CI machine can be slow), so the kill lands in the middle of a busy stream.
    const readyAt = Date.now()
    while (Date.now() - readyAt < RUN_AFTER_READY_MS || countLines(out) < MIN_ROTATIONS) {
      assert.equal(child.exitCode, null, `the child stopped on its own: ${err}${out.slice(-200)}`)
      assert.ok(Date.now() - readyAt < 5000, 'the child rotates too slowly')
      await delay(5)
    }
    child.kill('SIGKILL')
    // 'close' fires after stdout hit EOF: every line the child wrote has been read by then.
    assert.equal(await closed, 'SIGKILL')

    const lines = out.slice(out.indexOf('ready\n') + 'ready\n'.length).split('\n')
    lines.pop() // text after the last newline (normally empty): an unfinished line proves nothing
    const history = new Map<string, string[]>(Array.from({ length: SESSIONS }, (_, i) => [`crash-${i}`, [`h-${i}-0`]]))
    for (const line of lines) {
      const [sid, generation, hash] = line.split(' ')
      const chain = history.get(sid!)
      assert.ok(chain, `unexpected line ${line}`)
      assert.equal(Number(generation), chain.length, `generations are reported in order for ${sid}`)
      chain.push(hash!)
    }
    assert.ok(lines.length >= MIN_ROTATIONS, `only ${lines.length} rotations before the kill`)

    const raw = new Database(path)
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok')
    raw.close()

    const store = createSqliteStore({ path })
    try {
      let ahead = 0
      for (const [sid, chain] of history) {
        const record = await store.getSession(sid)
        assert.ok(record, `${sid} survived`)
        const reported = chain.length - 1
        if (record.generation === reported) {
          assert.equal(record.refreshHash, chain[reported], `${sid}: the current hash is the reported one`)
          assert.equal(record.previousHash, reported === 0 ? null : chain[reported - 1], `${sid}: previousHash is the one before`)
        } else {
          assert.equal(record.generation, reported + 1, `${sid}: at generation ${record.generation}, reported ${reported}`)
          assert.equal(record.previousHash, chain[reported], `${sid}: the unreported rotation followed the last reported hash`)
          assert.ok(!chain.includes(record.refreshHash), `${sid}: the unreported hash is a fresh one`)
          ahead += 1
        }
        // The audit event was written in the same transaction as each rotation.
        const rotations = (await store.listAudit(record.subject, 100_000)).filter((e) => e.type === 'refresh.rotated')
        assert.equal(rotations.length, record.generation, `${sid}: one audit event per rotation`)
        assert.deepEqual(rotations.map((e) => e.generation), Array.from({ length: record.generation }, (_, i) => record.generation - i))
      }
      assert.ok(ahead <= 1, `${ahead} sessions ahead of their reports; only the last rotation can be unreported`)
    } finally {
      await store.close()
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})
