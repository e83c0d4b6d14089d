// The packages as users get them. `npm pack` each workspace (its prepack builds dist/), then:
// - a service installs `hallpass` and Express into an empty project: hallpass's own tree adds at
//   most 3 packages and 2 MB, runs no install script, warns nothing on this Node; every entry
//   point loads under plain Node (no tsx), and the main and verifier entries load no driver and
//   no server framework;
// - a server installs `@hallpass/server`: every entry of both packages loads, `hallpass --help`
//   lists the server's commands, and `hallpass-server serve` answers /healthz;
// - publint (strict) and are-the-types-wrong (ESM only) pass on each tarball.
// Installs come from npm's cache (--prefer-offline): the figures are an install's, not a
// download's. Native modules are not compiled again here: the repository's builds are copied.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NPM = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn']

interface Manifest {
  name: string
  exports: Record<string, string | { types: string; default: string }>
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
}

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
const light = manifest(join(ROOT, 'packages/hallpass'))
const server = manifest(join(ROOT, 'packages/server'))

/** The import specifiers of a package's exports (`hallpass`, `hallpass/verify`, …). */
function entries(pkg: Manifest): string[] {
  return Object.keys(pkg.exports)
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => (subpath === '.' ? pkg.name : `${pkg.name}${subpath.slice(1)}`))
}

/** A scratch project: an ESM package.json and nothing else. */
function scratch(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hallpass-${name}-`))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `scratch-${name}`, private: true, type: 'module' }))
  return dir
}

/** `node -e <script>` in `dir`, as ESM, under plain Node. */
async function node(dir: string, script: string): Promise<string> {
  return (await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' })).stdout
}

/** Every installed package under node_modules: its name, folder and manifest. */
function installed(dir: string): Map<string, { path: string; manifest: Manifest }> {
  const out = new Map<string, { path: string; manifest: Manifest }>()
  const walk = (modules: string): void => {
    if (!existsSync(modules)) return
    for (const name of readdirSync(modules)) {
      if (name.startsWith('.')) continue
      const path = join(modules, name)
      if (name.startsWith('@')) {
        walk(path)
        continue
      }
      if (!existsSync(join(path, 'package.json'))) continue
      const pkg = manifest(path)
      out.set(`${pkg.name}@${path}`, { path, manifest: pkg })
      walk(join(path, 'node_modules'))
    }
  }
  walk(join(dir, 'node_modules'))
  return out
}

/** The packages a root package brings in (itself, its dependencies, theirs), found by name from `dir`. */
function treeOf(dir: string, root: string): Set<string> {
  const byName = new Map([...installed(dir).values()].map((p) => [p.manifest.name, p]))
  const seen = new Set<string>()
  const visit = (name: string): void => {
    if (seen.has(name) || !byName.has(name)) return
    seen.add(name)
    for (const dependency of Object.keys(byName.get(name)!.manifest.dependencies ?? {})) visit(dependency)
  }
  visit(root)
  return seen
}

function sizeOf(path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.size
  return readdirSync(path).reduce((sum, name) => (name === 'node_modules' ? sum : sum + sizeOf(join(path, name))), 0)
}

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall']

describe('the packages as users install them', () => {
  let packs: string
  let lightTarball: string
  let serverTarball: string
  const dirs: string[] = []

  before(async () => {
    packs = mkdtempSync(join(tmpdir(), 'hallpass-packs-'))
    dirs.push(packs)
    await run('npm', ['pack', '--workspace', 'packages/hallpass', '--workspace', 'packages/server', '--pack-destination', packs, '--loglevel=warn'], { cwd: ROOT })
    lightTarball = join(packs, `hallpass-${JSON.parse(readFileSync(join(ROOT, 'packages/hallpass/package.json'), 'utf8')).version}.tgz`)
    serverTarball = readdirSync(packs).map((f) => join(packs, f)).find((f) => f.includes('hallpass-server-'))!
    assert.ok(existsSync(lightTarball) && serverTarball !== undefined, 'both tarballs')
  })
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  test('a service installs hallpass and Express: ≤ 3 packages and ≤ 2 MB of hallpass, no install script, no warning', async (t) => {
    const dir = scratch('service')
    dirs.push(dir)
    const started = process.hrtime.bigint()
    const { stderr } = await run('npm', ['install', ...NPM, 'express@5', lightTarball], { cwd: dir, encoding: 'utf8' })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    assert.doesNotMatch(stderr, /EBADENGINE|WARN/i, `npm warned:\n${stderr}`)

    const tree = treeOf(dir, 'hallpass')
    const all = [...installed(dir).values()]
    const ours = all.filter((p) => tree.has(p.manifest.name))
    const bytes = ours.reduce((sum, p) => sum + sizeOf(p.path), 0)
    t.diagnostic(`service install: ${all.length} packages in all, ${ours.length} from hallpass (${[...tree].join(', ')}), ${(bytes / 1e6).toFixed(2)} MB of hallpass, ${seconds.toFixed(1)} s from npm's cache`)
    assert.ok(ours.length <= 3, `hallpass brings ${ours.length} packages: ${[...tree].join(', ')}`)
    assert.ok(bytes <= 2e6, `hallpass's tree is ${bytes} bytes`)
    for (const p of ours) {
      const scripts = INSTALL_SCRIPTS.filter((name) => p.manifest.scripts?.[name] !== undefined)
      assert.deepEqual(scripts, [], `${p.manifest.name} runs no install script`)
    }

    // Every entry loads under plain Node, but the SQLite store (its driver is an optional peer).
    for (const specifier of entries(light).filter((s) => s !== 'hallpass/stores/sqlite')) {
      const count = await node(dir, `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`)
      assert.ok(Number(count) > 0, `${specifier} exports something`)
    }
    // What a service loads: no driver, no server framework.
    for (const specifier of ['hallpass', 'hallpass/verify', 'hallpass/express']) {
      const loaded = await node(dir, `
        import { createRequire } from 'node:module'
        await import(${JSON.stringify(specifier)})
        console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)))
      `)
      for (const name of ['/pg/', '/ioredis/', '/fastify/', '/better-sqlite3/', '/argon2/']) assert.ok(!loaded.includes(name), `${specifier} loads nothing of ${name}`)
    }
    // The SQLite store says what it needs.
    await assert.rejects(node(dir, "await import('hallpass/stores/sqlite')"), /better-sqlite3/)
    // The bin: token tools here; the server's commands point to @hallpass/server.
    const help = (await run(join(dir, 'node_modules/.bin/hallpass'), ['--help'], { encoding: 'utf8' })).stdout
    assert.match(help, /token sign/)
    assert.match(help, /serve +\(in @hallpass\/server: npm install @hallpass\/server\)/)
    const serve = await run(join(dir, 'node_modules/.bin/hallpass'), ['serve'], { encoding: 'utf8' }).catch((error: { code: number; stderr: string }) => error)
    assert.equal((serve as { code?: number }).code, 1)
    assert.match((serve as { stderr: string }).stderr, /npm install @hallpass\/server/)
  })

  test('a server installs @hallpass/server: every entry of both packages loads, and hallpass-server serve answers', async () => {
    const dir = scratch('server')
    dirs.push(dir)
    // --ignore-scripts, then the repository's own builds of the two native modules: compiling
    // them again costs a minute and proves nothing about these packages.
    const { stderr } = await run('npm', ['install', ...NPM, '--ignore-scripts', lightTarball, serverTarball], { cwd: dir, encoding: 'utf8' })
    assert.doesNotMatch(stderr, /EBADENGINE/i, `npm warned:\n${stderr}`)
    for (const native of ['better-sqlite3', 'argon2']) {
      const version = (at: string): unknown => (JSON.parse(readFileSync(join(at, 'node_modules', native, 'package.json'), 'utf8')) as { version: unknown }).version
      assert.equal(version(dir), version(ROOT), `${native}: the repository's build fits`)
      // A module that loaded from its shipped prebuilds here (argon2 on some Node versions) has no build.
      const build = join(ROOT, 'node_modules', native, 'build')
      if (existsSync(build)) cpSync(build, join(dir, 'node_modules', native, 'build'), { recursive: true })
    }
    for (const specifier of [...entries(light), ...entries(server)]) {
      const count = await node(dir, `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`)
      assert.ok(Number(count) > 0, `${specifier} exports something`)
    }
    const help = (await run(join(dir, 'node_modules/.bin/hallpass'), ['--help'], { encoding: 'utf8' })).stdout
    assert.match(help, /serve +Run the session server/)
    assert.match(help, /users add/)

    const child = spawn(join(dir, 'node_modules/.bin/hallpass-server'), ['serve', '--port', '0', '--host', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, HALLPASS_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    try {
      const deadline = Date.now() + 30_000
      let url: string | undefined
      while (url === undefined) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `the server did not start:\n${output}`)
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
        if (url !== undefined && url.endsWith(':0')) assert.fail(`the server announces port 0:\n${output}`)
        await sleep(50)
      }
      const res = await fetch(`${url}/healthz`)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    } finally {
      child.kill('SIGTERM')
    }

    // PostgreSQL and Redis drivers are optional peers: a store whose driver is missing names
    // the package to install, instead of an internal error.
    for (const [url, driver] of [['postgres://127.0.0.1:5432/test', 'pg'], ['redis://127.0.0.1:6379', 'ioredis']] as const) {
      const failed = await run(join(dir, 'node_modules/.bin/hallpass-server'), ['serve', '--port', '0'], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, HALLPASS_DATABASE_URL: url },
        encoding: 'utf8',
      }).catch((error: { code: number; stderr: string }) => error)
      assert.equal((failed as { code?: number }).code, 1, driver)
      assert.match((failed as { stderr: string }).stderr, new RegExp(`needs the ${driver} package, which is not installed: run \`npm install ${driver}\``))
    }
  })

  test('publint --strict and are-the-types-wrong (ESM only) pass on each tarball', async () => {
    for (const tarball of [lightTarball, serverTarball]) {
      const bin = (name: string): string => join(ROOT, 'node_modules/.bin', name)
      await run(bin('publint'), ['--strict', tarball], { cwd: ROOT, encoding: 'utf8' }).catch((error: { stdout: string }) => assert.fail(`publint ${tarball}:\n${error.stdout}`))
      await run(bin('attw'), [tarball, '--profile', 'esm-only'], { cwd: ROOT, encoding: 'utf8' }).catch((error: { stdout: string }) => assert.fail(`attw ${tarball}:\n${error.stdout}`))
    }
  })
})
