// What the browser tests run against: a real `hallpass serve` (a child process, demo user
// included) behind a small front proxy that serves the test page and the client bundle on the
// same origin, counts the refreshes that reach the server, can answer them with 503 for a
// while, and remembers which bearer tokens every request carried. Chromium is Debian's, driven
// by playwright-core.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { chromium, type Browser } from 'playwright-core'
import { freePort } from '../helpers/ports.ts'
import { servicesRequired } from '../helpers/services.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser suites cannot run here, or undefined; a failure instead when CI requires them. */
export function checkChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  const reason = `${CHROMIUM} is missing (apt-get install chromium)`
  if (servicesRequired()) throw new Error(`HALLPASS_REQUIRE_SERVICES=1 but ${reason}`)
  console.log(`# skipping browser tests: ${reason}`)
  return reason
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // The machine's network is closed: no background connections to Google's services.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** The client as an application would ship it: one minified ES module. */
export async function bundleClient(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [join(ROOT, 'packages/hallpass/src/client/index.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  })
  return result.outputFiles[0]!.contents
}

/** A page that loads the client from `clientUrl` and keeps its events in `window.events`. */
export function testPage(clientUrl: string, issuer: string, options: Record<string, unknown> = {}): string {
  return `<!doctype html><meta charset="utf-8"><title>hallpass client test</title>
<script type="module">
import { createClient } from ${JSON.stringify(clientUrl)}
window.events = []
window.hp = createClient({ issuer: ${JSON.stringify(issuer)}, ...${JSON.stringify(options)} })
window.hp.subscribe((event) => window.events.push(event))
</script>`
}

export interface Served {
  /** Where the page and the API are (the proxy), also hallpass's issuer. */
  readonly origin: string
  readonly demoPassword: string
  /** POST /auth/refresh requests that reached hallpass. */
  readonly refreshes: number
  /** Every bearer token a request carried, in order. */
  readonly bearers: readonly string[]
  /** While true, refreshes get 503 without reaching hallpass. */
  failRefreshes: boolean
  /** Pages served at other paths: `/path` → HTML. */
  readonly pages: Map<string, string>
  close(): Promise<void>
}


async function listen(server: Server, host: string, port = 0): Promise<number> {
  server.listen(port, host)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

export interface Hallpass {
  readonly origin: string
  readonly dataDir: string
  readonly demoPassword: string
  /** Runs `hallpass <args>` (users add, …) on the server's data dir; resolves with its stdout. */
  cli(args: readonly string[], stdin?: string): Promise<string>
  close(): Promise<void>
}

/** Spawns `hallpass serve` from the sources on a fresh data dir, `env` over the defaults. */
export async function startHallpass(env: Record<string, string> = {}, listen: { host: string; port: number; issuer: string } | undefined = undefined): Promise<Hallpass> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hallpass-browser-'))
  const port = listen?.port ?? (await freePort('localhost'))
  const issuer = listen?.issuer ?? `http://localhost:${port}`
  // Rate limits high enough for the load the tests make; everything else is the default.
  const configFile = join(dataDir, 'config.json')
  await writeFile(configFile, JSON.stringify({
    rateLimits: { loginPerIp: { max: 10_000, window: '1m' }, refreshPerIp: { max: 100_000, window: '1m' }, loginPerUsername: { max: 10_000, window: '1m' } },
  }))
  const childEnv: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HALLPASS_') && key !== 'NODE_TEST_CONTEXT' && key !== 'NODE_OPTIONS') childEnv[key] = value
  const serverEnv = { ...childEnv, HALLPASS_DATA_DIR: dataDir, HALLPASS_HOST: listen?.host ?? 'localhost', HALLPASS_PORT: String(port), HALLPASS_ISSUER: issuer, HALLPASS_LOG_LEVEL: 'warn', ...env }
  const main = join(ROOT, 'packages/server/src/cli/main.ts')
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--config', configFile], { cwd: ROOT, env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const deadline = Date.now() + 30_000
  let demoPassword: string | undefined
  while ((demoPassword = /username "demo", password "([^"]+)"/.exec(output)?.[1]) === undefined) {
    assert.ok(child.exitCode === null && Date.now() < deadline, `hallpass serve did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    origin: issuer,
    dataDir,
    demoPassword,
    async cli(args, stdin) {
      const cliChild = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: ROOT, env: serverEnv, stdio: ['pipe', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      cliChild.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
      cliChild.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')))
      cliChild.stdin.end(stdin ?? '')
      const [code] = (await once(cliChild, 'exit')) as [number | null]
      assert.equal(code, 0, `hallpass ${args.join(' ')} failed: ${err}`)
      return out
    },
    async close() {
      child.kill('SIGTERM')
      if (child.exitCode === null) await once(child, 'exit')
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Starts `hallpass serve` (on its own data dir, with `env` over the defaults) behind the proxy. */
export async function serveWithProxy(env: Record<string, string> = {}): Promise<Served> {
  const bundle = await bundleClient()
  const proxyPort = await freePort('localhost')
  const origin = `http://localhost:${proxyPort}`
  const hallpassPort = await freePort('127.0.0.1')
  const hallpass = await startHallpass(env, { host: '127.0.0.1', port: hallpassPort, issuer: origin })
  const demoPassword = hallpass.demoPassword

  const pages = new Map<string, string>([['/', testPage('/client.js', origin)]])
  const state = { refreshes: 0, bearers: [] as string[], failRefreshes: false }
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (req.method === 'GET' && path === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' }).end(bundle)
      return
    }
    const page = req.method === 'GET' ? pages.get(path) : undefined
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page)
      return
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (bearer !== undefined) state.bearers.push(bearer)
    if (req.method === 'POST' && path === '/auth/refresh') {
      if (state.failRefreshes) {
        req.resume()
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":"temporarily_unavailable","error_description":"test outage"}')
        return
      }
      state.refreshes++
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: hallpassPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await listen(proxy, 'localhost', proxyPort)

  return {
    origin,
    demoPassword,
    get refreshes() {
      return state.refreshes
    },
    get bearers() {
      return state.bearers
    },
    get failRefreshes() {
      return state.failRefreshes
    },
    set failRefreshes(value: boolean) {
      state.failRefreshes = value
    },
    pages,
    async close() {
      proxy.closeAllConnections()
      proxy.close()
      await hallpass.close()
    },
  }
}

/** A second origin serving only pages (an app on another port or host name). */
export async function serveApp(host: string, port: number, pages: Map<string, string>, bundle: Uint8Array): Promise<{ origin: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (path === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    else if (pages.has(path)) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pages.get(path))
    else res.writeHead(404).end()
  })
  await listen(server, host, port)
  return { origin: `http://${host}:${port}`, close: () => server.close() }
}
