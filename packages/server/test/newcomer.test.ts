// What a newcomer does first: `npm start` (= `node --import tsx src/cli/main.ts serve`) in an
// empty directory, then paste the curl lines the banner prints. They must work as printed
// (`bash -e`), the logs must hold none of the secrets that crossed the wire, SIGTERM must end
// the process cleanly and quickly even with a feed subscriber connected, and a second start
// in the same data dir must reuse the secret, the keys and the demo user.
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openSse } from './harness.ts'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const START_TIMEOUT_MS = 30_000

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

interface Served {
  child: ChildProcess
  banner: string
  output(): string
  /** Standard output alone: the JSON logs. */
  logs(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** The environment of a newcomer: none of the runner's HALLPASS_* settings leak in. */
function newcomerEnv(dataDir: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('HALLPASS_') && key !== 'NODE_TEST_CONTEXT' && key !== 'NODE_OPTIONS') env[key] = value
  }
  return { ...env, HALLPASS_DATA_DIR: dataDir, HALLPASS_PORT: String(port) }
}

async function serve(dataDir: string, port: number): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/cli/main.ts', 'serve'], { cwd: REPO_ROOT, env: newcomerEnv(dataDir, port), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let logs = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8')
    logs += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const deadline = Date.now() + START_TIMEOUT_MS
  // The banner is one write; its last line is the logout command.
  while (!/Try it \(bash\):\n(?: .*\n)*? .*\/auth\/logout .*\n/.test(out)) {
    if (child.exitCode !== null) throw new Error(`hallpass serve exited with ${child.exitCode}: ${out}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`no banner within ${START_TIMEOUT_MS} ms: ${out}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, banner: out, output: () => out, logs: () => logs, exited }
}

function tryItLines(banner: string): string[] {
  const lines = banner.split('\n')
  const start = lines.indexOf('Try it (bash):')
  assert.ok(start !== -1, banner)
  const commands: string[] = []
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break
    commands.push(line.trim())
  }
  return commands
}

function runBash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-e', '-c', script], { timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr })
    })
  })
}

async function stop(served: Served, maxMs: number): Promise<number> {
  const started = Date.now()
  served.child.kill('SIGTERM')
  const timer = setTimeout(() => served.child.kill('SIGKILL'), 15_000)
  const { code, signal } = await served.exited
  clearTimeout(timer)
  const elapsed = Date.now() - started
  assert.equal(signal, null, `killed by ${signal}: ${served.output().slice(-500)}`)
  assert.equal(code, 0, served.output().slice(-500))
  assert.ok(elapsed < maxMs, `SIGTERM took ${elapsed} ms`)
  return elapsed
}

describe('newcomer flow: npm start, paste the banner, stop, start again', () => {
  let dataDir: string
  let port: number
  let first: Served | undefined
  let second: Served | undefined
  let demoPassword: string
  let firstKids: string[]

  before(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'hallpass-newcomer-')), 'data')
    port = await freePort()
  })
  after(async () => {
    for (const served of [first, second]) if (served !== undefined && served.child.exitCode === null && served.child.signalCode === null) served.child.kill('SIGKILL')
    await rm(join(dataDir, '..'), { recursive: true, force: true })
  })

  test('the first start prints the demo user and curl lines that work as printed', async () => {
    first = await serve(dataDir, port)
    assert.match(first.banner, new RegExp(`hallpass is listening on .*:${port}`))
    assert.match(first.banner, new RegExp(`issuer +http://localhost:${port}`))
    const demo = /! Created the demo user once: username "demo", password "([^"]+)"/.exec(first.banner)
    assert.ok(demo !== null, first.banner)
    demoPassword = demo[1]!
    assert.match(first.banner, /! Generated the key-encryption secret in /)

    const lines = tryItLines(first.banner)
    assert.ok(lines.length >= 5, lines.join('\n'))
    const result = await runBash(lines.join('\n'))
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
    const out = result.stdout.trim().split('\n')
    const me = JSON.parse(out[0]!)
    assert.equal(me.sub, 'demo')
    assert.equal(me.claims.iss, `http://localhost:${port}`)
    assert.equal(out.at(-1), '204', result.stdout)

    // Zero-config keeps its secret private.
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700)
    assert.equal((await stat(join(dataDir, 'secret'))).mode & 0o777, 0o600)
    const jwks = await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string }> }
    firstKids = jwks.keys.map((k) => k.kid)
    assert.equal(firstKids.length, 1)
  })

  test('the default logs hold none of the secrets that crossed the wire', async () => {
    assert.ok(first !== undefined)
    const base = `http://127.0.0.1:${port}`
    const login = await (await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: demoPassword }) })).json() as Record<string, string>
    const refreshed = await (await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: login.refresh_token }) })).json() as Record<string, string>
    await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })
    await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"username":"demo","password":"${demoPassword}"` })
    const secret = (await readFile(join(dataDir, 'secret'), 'utf8')).trim()
    // Standard output is the logs and nothing else (the banner is on stderr, in one write).
    const logLines = first.logs().split('\n').filter((line) => line.length > 0)
    assert.ok(logLines.length > 5, 'JSON log lines were captured')
    for (const line of logLines) assert.doesNotThrow(() => JSON.parse(line), line.slice(0, 200))
    assert.doesNotMatch(first.logs(), /Try it|demo user/)
    for (const line of logLines) {
      for (const value of [demoPassword, secret, login.access_token!, login.refresh_token!, refreshed.access_token!, refreshed.refresh_token!]) {
        assert.equal(line.includes(value), false, `a secret in the log: ${line.slice(0, 200)}`)
      }
    }
  })

  test('SIGTERM with a feed subscriber connected: exit 0 within a few seconds', async () => {
    assert.ok(first !== undefined)
    const feed = await openSse(`http://127.0.0.1:${port}/auth/revocations`)
    assert.equal(feed.status, 200)
    try {
      await stop(first, 5000)
    } finally {
      feed.close()
    }
  })

  test('a second start in the same data dir reuses the secret, the keys and the demo user', async () => {
    const secretBefore = await readFile(join(dataDir, 'secret'), 'utf8')
    second = await serve(dataDir, port)
    assert.doesNotMatch(second.banner, /Created the demo user/)
    assert.doesNotMatch(second.banner, /Generated the key-encryption secret/)
    assert.match(second.banner, /"password":"<password>"/, 'the banner no longer knows the password')
    assert.equal(await readFile(join(dataDir, 'secret'), 'utf8'), secretBefore)
    const base = `http://127.0.0.1:${port}`
    const jwks = await (await fetch(`${base}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string }> }
    assert.deepEqual(jwks.keys.map((k) => k.kid), firstKids)
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: demoPassword }) })
    assert.equal(login.status, 200, 'the demo user and its password survived the restart')
    const token = ((await login.json()) as { access_token: string }).access_token
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid, firstKids[0])
    await stop(second, 5000)
  })
})

describe('a start that fails', () => {
  test('a port in use: the cause and the fix, exit 1, and no demo user left behind', async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), 'hallpass-newcomer-')), 'data')
    const holder = createServer()
    holder.listen(0, 'localhost')
    await once(holder, 'listening')
    const port = (holder.address() as { port: number }).port
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/cli/main.ts', 'serve'], { cwd: REPO_ROOT, env: newcomerEnv(dataDir, port), stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 1, stderr)
      assert.match(stderr, new RegExp(`cannot listen on localhost:${port}: the port is in use .*--port N or HALLPASS_PORT`))
      assert.doesNotMatch(stderr, /internal error|password/)
    } finally {
      holder.close()
    }
    // The next start on a free port is the first to create the demo user, and shows its password.
    const served = await serve(dataDir, await freePort())
    try {
      assert.match(served.banner, /! Created the demo user once: username "demo", password "[^"]+"/)
      await stop(served, 5000)
    } finally {
      if (served.child.exitCode === null) served.child.kill('SIGKILL')
      await rm(join(dataDir, '..'), { recursive: true, force: true })
    }
  })
})
