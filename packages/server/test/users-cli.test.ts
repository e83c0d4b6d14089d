// `hallpass users add|passwd|set|remove|list` as an operator runs them: child processes on a
// temp data dir, passwords on standard input, next to a running server on the same SQLite file.
// A changed password takes effect at the next login; a removed or disabled user's sessions die
// at once, and the server's revocation feed reports them; a disabled user is refused at login
// with the answer a wrong password gets.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { runCommand, type CliCommand, type CommandContext } from 'hallpass/cli'
import { usersAddCommand, usersListCommand, usersPasswdCommand, usersRemoveCommand, usersSetCommand } from '../src/cli/users.ts'
import { buildServer, openRuntime, resolveConfig, type Runtime } from '../src/index.ts'
import { assertError, openSse } from './harness.ts'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

describe('hallpass users … on the data dir of a running server', () => {
  let dataDir: string
  let runtime: Runtime
  let app: FastifyInstance
  let base: string

  const hallpass = (args: string[], stdin = ''): Promise<Run> =>
    new Promise((resolve, reject) => {
      const env: NodeJS.ProcessEnv = {}
      for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HALLPASS_') && key !== 'NODE_TEST_CONTEXT') env[key] = value
      env.HALLPASS_DATA_DIR = dataDir
      const child = execFile(process.execPath, ['--import', 'tsx', 'packages/hallpass/src/cli/main.ts', ...args], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr })
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr })
        else reject(new Error(`hallpass did not exit normally: ${stderr}`, { cause: error }))
      })
      child.stdin!.end(stdin)
    })

  // In-process (the same command modules main.ts dispatches to): a child process each would
  // cost a second of tsx start-up for what is argument handling.
  const inProcess = async (command: CliCommand, argv: string[], stdin: string | undefined): Promise<Run> => {
    let stdout = ''
    let stderr = ''
    const context: CommandContext = {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      readStdin: () => Promise.resolve(Buffer.from(stdin ?? '')),
      stdinIsTty: stdin === undefined,
      now: Date.now,
      env: { HALLPASS_DATA_DIR: dataDir },
    }
    return { code: await runCommand(command, argv, context), stdout, stderr }
  }

  const login = (username: string, password: string): Promise<Response> =>
    fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })

  before(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'hallpass-users-cli-')), 'data')
    // The operator adds the first user before the server ever ran: the CLI creates the data dir.
    const added = await hallpass(['users', 'add', 'Alice'], 'first-password-1\n')
    assert.equal(added.code, 0, added.stderr)
    assert.equal(added.stdout, 'added alice\n')
    const config = resolveConfig({ file: { dataDir, demoUser: false, logLevel: 'silent', issuer: 'https://auth.hallpass.test' } })
    runtime = await openRuntime(config, { env: {} })
    app = await buildServer(runtime.context, { logger: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  })
  after(async () => {
    await app?.close()
    await runtime?.close()
    await rm(join(dataDir, '..'), { recursive: true, force: true })
  })

  test('add --generate prints a password that works; a duplicate add changes nothing', async () => {
    const [generated, again] = await Promise.all([hallpass(['users', 'add', '--generate', 'carol']), hallpass(['users', 'add', 'ALICE'], 'another-password\n')])
    assert.equal(generated.code, 0, generated.stderr)
    const password = /^added carol; password: (\S+)\n$/.exec(generated.stdout)?.[1]
    assert.ok(password !== undefined && password.length >= 16, generated.stdout)
    assert.equal((await login('carol', password)).status, 200, 'the generated password works')
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already exists/)
    assert.equal((await login('alice', 'another-password')).status, 400, 'the duplicate add changed nothing')
  })

  test('operator mistakes: usage errors (2) and failures (1), nothing echoed, nothing changed', async () => {
    const before = (await inProcess(usersListCommand, ['--json'], '')).stdout
    const cases: Array<[CliCommand, string[], string | undefined, number, RegExp]> = [
      [usersAddCommand, ['bad name'], 'some-password-1\n', 2, /USERNAME/],
      [usersAddCommand, ['bob'], 'short\n', 1, /password/],
      [usersAddCommand, ['bob'], '', 2, /standard input held no password/],
      [usersAddCommand, ['bob'], undefined, 2, /standard input/],
      [usersAddCommand, ['bob', 'extra'], 'some-password-1\n', 2, /USERNAME/],
      [usersPasswdCommand, ['nobody'], 'whatever-password\n', 1, /no user "nobody"/],
      [usersRemoveCommand, ['nobody'], '', 1, /no user "nobody"/],
      [usersRemoveCommand, [], '', 2, /USERNAME/],
      [usersListCommand, ['extra'], '', 2, /no arguments/],
      [usersAddCommand, ['--admin=yes', 'bob'], 'some-password-1\n', 2, /--admin does not take a value/],
      [usersSetCommand, ['alice'], '', 2, /nothing to change/],
      [usersSetCommand, ['--admin', '--no-admin', 'alice'], '', 2, /--admin and --no-admin contradict each other/],
      [usersSetCommand, ['--disable', '--enable', 'alice'], '', 2, /--disable and --enable contradict each other/],
      [usersSetCommand, ['--admin', '--admin', 'alice'], '', 2, /--admin was given more than once/],
      [usersSetCommand, ['--root', 'alice'], '', 2, /unknown option --root/],
      [usersSetCommand, ['--disabled', 'alice'], '', 2, /unknown option --disabled/],
      [usersSetCommand, ['--no-disable', 'alice'], '', 2, /unknown option --no-disable/],
      [usersSetCommand, ['--admin=false', 'alice'], '', 2, /--admin does not take a value/],
      [usersSetCommand, ['--admin'], '', 2, /USERNAME/],
      [usersSetCommand, ['--admin', 'alice', 'carol'], '', 2, /USERNAME/],
      [usersSetCommand, ['--admin', 'bad name'], '', 2, /USERNAME/],
      [usersSetCommand, ['--disable', 'nobody'], '', 1, /no user "nobody"/],
    ]
    for (const [command, argv, stdin, code, message] of cases) {
      const result = await inProcess(command, argv, stdin)
      assert.equal(result.code, code, `${command.name} ${argv.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, message)
      assert.equal(result.stdout, '')
      if (stdin !== undefined && stdin.trim() !== '') assert.equal(result.stderr.includes(stdin.trim()), false, 'the password is not echoed')
    }
    assert.equal((await inProcess(usersListCommand, ['--json'], '')).stdout, before, 'nothing changed')
  })

  test('list, passwd, set and remove in a directory with no store: an error naming it, and no file made', async () => {
    const elsewhere = join(dataDir, '..', 'not-the-data-dir')
    const commands = [[usersListCommand, [], ''], [usersPasswdCommand, ['alice'], 'some-password-1\n'], [usersSetCommand, ['--disable', 'alice'], ''], [usersRemoveCommand, ['alice'], '']] as const
    for (const [command, argv, stdin] of commands) {
      let stderr = ''
      const code = await runCommand(command, [...argv], {
        stdout: () => undefined,
        stderr: (text) => void (stderr += text),
        readStdin: () => Promise.resolve(Buffer.from(stdin)),
        stdinIsTty: false,
        now: Date.now,
        env: { HALLPASS_DATA_DIR: elsewhere },
      })
      assert.equal(code, 1, command.name)
      assert.match(stderr, /not-the-data-dir\/hallpass\.db, which does not exist: run this where the server keeps its data \(HALLPASS_DATA_DIR\)/)
      assert.equal(existsSync(elsewhere), false, `${command.name} made nothing`)
    }
  })

  test('list: names, dates and flags, no hashes', async () => {
    const [text, json] = await Promise.all([inProcess(usersListCommand, [], ''), hallpass(['users', 'list', '--json'])])
    assert.equal(text.code, 0, text.stderr)
    const rows = text.stdout.trim().split('\n').map((line) => line.split('\t'))
    assert.deepEqual(rows.map((row) => row[0]), ['alice', 'carol'])
    for (const row of rows) {
      assert.equal(row.length, 3, row.join('|'))
      assert.ok(!Number.isNaN(Date.parse(row[1]!)))
      assert.equal(row[2], '-', 'neither admin nor disabled')
    }
    const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
    assert.deepEqual(users.map((u) => u.username), ['alice', 'carol'])
    for (const user of users) {
      assert.deepEqual(Object.keys(user).sort(), ['admin', 'createdAt', 'disabled', 'updatedAt', 'username'])
      assert.ok(!Number.isNaN(Date.parse(user.createdAt as string)))
      assert.equal(user.admin, false)
      assert.equal(user.disabled, false)
    }
    assert.equal(json.stdout.includes('argon2'), false)
  })

  test('passwd: the new password works at the next login, the old one no longer; the old sessions end (unless --keep-sessions)', async () => {
    const me = async (token: string): Promise<number> => (await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status
    const before = (await (await login('alice', 'first-password-1')).json()) as Record<string, string>
    assert.equal(await me(before.access_token!), 200)
    const changed = await hallpass(['users', 'passwd', 'alice'], 'interim-password-1\n')
    assert.equal(changed.code, 0, changed.stderr)
    assert.match(changed.stdout, /^password of alice changed; revoked [1-9][0-9]* session\(s\)\n$/)
    assertError(await parse(await login('alice', 'first-password-1')), 400, 'invalid_grant')
    // A changed password is often a stolen one: the sessions opened with it are over.
    assert.equal(await me(before.access_token!), 401)
    assertError(await parse(await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: before.refresh_token }) })), 400, 'invalid_grant')

    const kept = (await (await login('alice', 'interim-password-1')).json()) as Record<string, string>
    const keeping = await hallpass(['users', 'passwd', '--keep-sessions', 'alice'], 'second-password-2\n')
    assert.equal(keeping.code, 0, keeping.stderr)
    assert.equal(keeping.stdout, 'password of alice changed; sessions kept\n')
    assert.equal(await me(kept.access_token!), 200)
    assertError(await parse(await login('alice', 'interim-password-1')), 400, 'invalid_grant')
    assert.equal((await login('alice', 'second-password-2')).status, 200)
  })

  test('add --admin and set: the flags show in list; a disabled user is refused as a wrong password is, and signed out everywhere', async () => {
    const flagsOf = async (): Promise<Record<string, string>> => {
      const listed = await inProcess(usersListCommand, [], '')
      return Object.fromEntries(listed.stdout.trim().split('\n').map((line) => line.split('\t')).map((row) => [row[0], row[2]]))
    }
    const added = await inProcess(usersAddCommand, ['--admin', 'dave'], 'dave-password-1\n')
    assert.equal(added.code, 0, added.stderr)
    assert.equal(added.stdout, 'added dave (admin)\n')
    const generated = await inProcess(usersAddCommand, ['--admin', '--generate', 'erin'], undefined)
    assert.match(generated.stdout, /^added erin \(admin\); password: \S{16,}\n$/)
    assert.equal((await flagsOf()).dave, 'admin')
    assert.equal((await flagsOf()).erin, 'admin')

    const me = async (token: string): Promise<number> => (await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status
    const sessions = await Promise.all([login('dave', 'dave-password-1'), login('dave', 'dave-password-1')].map(async (r) => (await r).json() as Promise<Record<string, string>>))
    for (const session of sessions) assert.equal(await me(session.access_token!), 200)
    const wrong = await parse(await login('dave', 'not-the-password'))

    // Through the `hallpass` command, as an operator types it.
    const disabled = await hallpass(['users', 'set', '--disable', 'dave'])
    assert.equal(disabled.code, 0, disabled.stderr)
    assert.equal(disabled.stdout, 'updated dave: disabled=true; revoked 2 session(s)\n')
    assert.equal((await flagsOf()).dave, 'admin,disabled')
    for (const session of sessions) {
      assert.equal(await me(session.access_token!), 401)
      assertError(await parse(await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: session.refresh_token }) })), 400, 'invalid_grant')
    }
    // The right password gets exactly the answer a wrong one gets: nothing says "disabled".
    const refused = await parse(await login('dave', 'dave-password-1'))
    assert.equal(refused.status, wrong.status)
    assert.deepEqual(refused.body, wrong.body)
    assertError(refused, 400, 'invalid_grant')

    const taken = await inProcess(usersSetCommand, ['--no-admin', 'dave'], '')
    assert.equal(taken.code, 0, taken.stderr)
    assert.equal(taken.stdout, 'updated dave: admin=false\n')
    assert.equal((await flagsOf()).dave, 'disabled')
    const enabled = await inProcess(usersSetCommand, ['--enable', '--admin', 'dave'], '')
    assert.equal(enabled.code, 0, enabled.stderr)
    assert.equal(enabled.stdout, 'updated dave: admin=true disabled=false\n')
    assert.equal((await flagsOf()).dave, 'admin')
    assert.equal((await login('dave', 'dave-password-1')).status, 200)
    // Disabling a user with no session revokes none; the JSON listing says the same.
    assert.equal((await inProcess(usersSetCommand, ['--disable', 'ERIN'], '')).stdout, 'updated erin: disabled=true; revoked 0 session(s)\n')
    const json = JSON.parse((await inProcess(usersListCommand, ['--json'], '')).stdout) as Array<Record<string, unknown>>
    assert.deepEqual(json.filter((u) => u.username === 'erin').map((u) => [u.admin, u.disabled]), [[true, true]])
    assert.deepEqual(json.filter((u) => u.username === 'dave').map((u) => [u.admin, u.disabled]), [[true, false]])
  })

  test('remove: the user is gone and every session of theirs is revoked, on the feed too', async () => {
    const sessions = await Promise.all([login('alice', 'second-password-2'), login('alice', 'second-password-2')].map(async (r) => (await r).json() as Promise<Record<string, string>>))
    const feed = await openSse(`${base}/auth/revocations`)
    try {
      assert.ok(await feed.next(3000, 'ready'), 'the snapshot is in')
      const removed = await hallpass(['users', 'remove', 'alice'])
      assert.equal(removed.code, 0, removed.stderr)
      // Two sessions here, plus the two the passwd test left alive.
      assert.equal(removed.stdout, 'removed alice; revoked 4 session(s)\n')
      const sids = new Set<string>()
      for (let i = 0; i < 4; i++) {
        const event = await feed.next(3000)
        assert.ok(event !== undefined, `revocation ${i + 1} of 4 reached the running server's feed`)
        sids.add(JSON.parse(event.data).sid)
      }
      for (const s of sessions) assert.ok(sids.has(s.session_id!))
    } finally {
      feed.close()
    }
    for (const s of sessions) {
      assertError(await parse(await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${s.access_token}` } })), 401, 'invalid_token')
      assertError(await parse(await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh_token }) })), 400, 'invalid_grant')
    }
    assertError(await parse(await login('alice', 'second-password-2')), 400, 'invalid_grant')
    const list = await inProcess(usersListCommand, [], '')
    assert.deepEqual(list.stdout.trim().split('\n').map((line) => line.split('\t')[0]), ['carol', 'dave', 'erin'])
  })
})

async function parse(response: Response): Promise<{ status: number; headers: Headers; text: string; body: unknown }> {
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, body: text === '' ? undefined : JSON.parse(text) }
}
