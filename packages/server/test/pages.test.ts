// The pages of `hallpass serve` over HTTP (their behaviour in a browser is test/browser/
// pages.test.ts): `/`, `/admin` and `/debugger` are HTML documents under the page policy (this
// origin's scripts only, Trusted Types, no framing), revalidated by ETag, gzip when asked; the
// built files are served from /ui/ and nothing else is (no HTML shells by name, no path
// traversal); API answers keep the API's policy; `ui: false` (HALLPASS_UI=false) turns it all off.
// The pages do not touch the store: SQLite only.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { after, before, describe, test } from 'node:test'
import { buildServer, openRuntime, resolveConfig } from '../src/index.ts'
import { PAGE_CSP } from '../src/pages.ts'
import { ISSUER, rawRequest, startServer, type TestServer } from './harness.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PAGES = { '/': 'account', '/admin': 'admin', '/debugger': 'debugger' } as const
const API_CSP = "default-src 'none'; frame-ancestors 'none'"

interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** A GET over node:http: no decompression, no URL normalisation (fetch would do both). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function assertNotFound(res: RawResponse, what: string): void {
  assert.equal(res.status, 404, what)
  assert.deepEqual(JSON.parse(res.body.toString('utf8')), { error: 'not_found', error_description: 'Not found' }, what)
  assert.equal(res.headers['content-security-policy'], API_CSP, `${what}: the API's policy`)
}

function assertPageCsp(csp: string | string[] | undefined, what: string): void {
  assert.equal(typeof csp, 'string', what)
  const directives = new Map((csp as string).split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(' ')]))
  assert.equal(directives.get('script-src'), "'self'", `${what}: script-src`)
  assert.equal(directives.get('default-src'), "'none'", `${what}: default-src`)
  assert.equal(directives.get('require-trusted-types-for'), "'script'", `${what}: Trusted Types`)
  assert.equal(directives.get('frame-ancestors'), "'none'", `${what}: frame-ancestors`)
  assert.equal(directives.get('base-uri'), "'none'", `${what}: base-uri`)
  assert.doesNotMatch(csp as string, /unsafe-inline|unsafe-eval|\*|https?:/, `${what}: nothing inline, nothing from elsewhere`)
}

describe('pages', () => {
  let server: TestServer

  before(async () => {
    // The pages as `npm run build` makes them (esbuild: well under a second).
    const built = spawnSync(process.execPath, [join(ROOT, 'packages/server/scripts/build-ui.mjs')], { encoding: 'utf8' })
    assert.equal(built.status, 0, built.stderr)
    server = await startServer('sqlite')
  })
  after(() => server?.close())

  test('/, /admin and /debugger: HTML under the page policy, nosniff, no framing', async () => {
    for (const [path, page] of Object.entries(PAGES)) {
      const res = await get(server.port, path)
      assert.equal(res.status, 200, path)
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8', path)
      assert.equal(res.headers['content-encoding'], undefined, `${path}: plain when gzip is not asked for`)
      assertPageCsp(res.headers['content-security-policy'], path)
      assert.equal(res.headers['content-security-policy'], PAGE_CSP)
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path)
      assert.equal(res.headers['x-frame-options'], 'DENY', path)
      assert.equal(res.headers['cache-control'], 'no-cache', path)
      assert.equal(res.headers.vary, 'accept-encoding', path)
      const html = res.body.toString('utf8')
      assert.match(html, /^<!doctype html>/i, path)
      assert.ok(html.includes(`<script type="module" src="/ui/${page}.js"></script>`), `${path} loads its own module`)
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${path}: no inline script`)
      assert.doesNotMatch(html, /\son[a-z]+=/i, `${path}: no inline event handler`)
      // Every file the page refers to is served.
      for (const [, file] of html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)) {
        assert.equal((await get(server.port, file!)).status, 200, `${path} → ${file}`)
      }
    }
  })

  test('ETag: If-None-Match answers 304 with no body; another tag gets the page', async () => {
    for (const path of Object.keys(PAGES)) {
      const first = await get(server.port, path)
      const etag = first.headers.etag as string
      assert.match(etag, /^"[A-Za-z0-9_-]{22}"$/, path)
      const again = await get(server.port, path)
      assert.equal(again.headers.etag, etag, `${path}: the same bytes, the same tag`)
      const cached = await get(server.port, path, { 'if-none-match': etag })
      assert.equal(cached.status, 304, path)
      assert.equal(cached.body.length, 0, path)
      assert.equal(cached.headers.etag, etag)
      assertPageCsp(cached.headers['content-security-policy'], `${path} 304`)
      const stale = await get(server.port, path, { 'if-none-match': '"not-the-tag"' })
      assert.equal(stale.status, 200, path)
      assert.deepEqual(stale.body, first.body)
    }
    const tags = await Promise.all(Object.keys(PAGES).map(async (path) => (await get(server.port, path)).headers.etag))
    assert.equal(new Set(tags).size, tags.length, 'each page has its own tag')
  })

  test('gzip when asked: content-encoding gzip, and the body gunzips to the plain bytes', async () => {
    for (const path of [...Object.keys(PAGES), '/ui/account.js', '/ui/admin.js', '/ui/styles.css']) {
      const plain = await get(server.port, path)
      assert.equal(plain.status, 200, path)
      for (const accept of ['gzip', 'gzip, deflate, br', 'br;q=1.0, gzip;q=0.8']) {
        const zipped = await get(server.port, path, { 'accept-encoding': accept })
        assert.equal(zipped.status, 200, path)
        assert.equal(zipped.headers['content-encoding'], 'gzip', `${path} (${accept})`)
        assert.equal(zipped.headers.vary, 'accept-encoding')
        // Each representation has its own strong validator (RFC 9110 §8.8.3).
        assert.equal(zipped.headers.etag, `${(plain.headers.etag as string).slice(0, -1)}-gz"`)
        assert.equal((await get(server.port, path, { 'accept-encoding': accept, 'if-none-match': zipped.headers.etag })).status, 304)
        assert.equal((await get(server.port, path, { 'accept-encoding': accept, 'if-none-match': plain.headers.etag as string })).status, 200)
        assert.deepEqual(gunzipSync(zipped.body), plain.body, `${path}: the same bytes`)
        assert.ok(zipped.body.length < plain.body.length, `${path}: smaller`)
      }
      // RFC 9110 §12.5.3: a coding with q=0 is one the client does not accept.
      for (const accept of ['br', 'identity', 'deflate', 'gzip;q=0', 'gzip; q=0.000, deflate', 'x-gzip-like']) {
        const other = await get(server.port, path, { 'accept-encoding': accept })
        assert.equal(other.headers['content-encoding'], undefined, `${path} (${accept})`)
        assert.deepEqual(other.body, plain.body)
      }
    }
  })

  test('/ui/<file>: the built scripts and styles, with their types and the API\'s policy', async () => {
    for (const page of Object.values(PAGES)) {
      const res = await get(server.port, `/ui/${page}.js`)
      assert.equal(res.status, 200, page)
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8', page)
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      assert.equal(res.headers['content-security-policy'], API_CSP, 'a script is not a document: no page policy')
      assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin')
      assert.ok(res.body.length > 0)
      const cached = await get(server.port, `/ui/${page}.js`, { 'if-none-match': res.headers.etag as string })
      assert.equal(cached.status, 304)
    }
    const css = await get(server.port, '/ui/styles.css')
    assert.equal(css.status, 200)
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8')
  })

  test('/ui/: no HTML shell by name, no traversal, nothing unbuilt', async () => {
    const paths = [
      '/ui/account.html',
      '/ui/admin.html',
      '/ui/account.html.gz',
      '/ui/account.js.gz',
      '/ui/nope.js',
      '/ui/ACCOUNT.JS',
      '/ui/%2e%2e%2fpackage.json',
      '/ui/..%2fpackage.json',
      '/ui/%2e%2e%2f%2e%2e%2fpackage.json',
      '/ui/..%5cpackage.json',
      '/ui/__proto__',
      '/ui/constructor',
      '/ui/',
      '/ui',
    ]
    for (const path of paths) assertNotFound(await get(server.port, path), path)
    // A path with dot segments, as sent (fetch would resolve them first).
    for (const path of ['/ui/../package.json', '/ui/../../package.json', '/ui/./../src/pages.ts']) {
      const raw = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
      assert.equal(raw.status, 404, path)
      assert.doesNotMatch(raw.raw, /"name"\s*:|@hallpass\/server|registerPages/, `${path}: no file content`)
    }
  })

  test('API answers keep the API\'s policy, not the page\'s', async () => {
    for (const path of ['/healthz', '/auth/me', '/.well-known/jwks.json', '/admin/api/overview', '/no-such-route']) {
      const res = await get(server.port, path)
      assert.equal(res.headers['content-security-policy'], API_CSP, path)
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path)
    }
    const login = await server.request('/auth/login', { json: { username: 'alice', password: 'wrong password' } })
    assert.equal(login.headers.get('content-security-policy'), API_CSP)
  })

  test('ui: false turns the pages off (404 for /, /admin, /debugger and /ui/*); the API still answers', async () => {
    const off = await startServer('sqlite', { config: { ui: false }, createUser: false })
    try {
      assert.equal(off.config.ui, false)
      for (const path of [...Object.keys(PAGES), '/ui/account.js', '/ui/styles.css']) assertNotFound(await get(off.port, path), path)
      assert.equal((await get(off.port, '/healthz')).status, 200)
    } finally {
      await off.close()
    }
  })

  test('HALLPASS_UI=false through resolveConfig turns the pages off too', async () => {
    assert.equal(resolveConfig({ env: {} }).ui, true, 'on by default')
    assert.equal(resolveConfig({ env: { HALLPASS_UI: 'true' } }).ui, true)
    assert.throws(() => resolveConfig({ env: { HALLPASS_UI: 'sometimes' } }))
    const dataDir = await mkdtemp(join(tmpdir(), 'hallpass-pages-'))
    const config = resolveConfig({ file: { issuer: ISSUER, databaseUrl: `sqlite:${join(dataDir, 'hallpass.db')}`, dataDir, demoUser: false, logLevel: 'silent' }, env: { HALLPASS_UI: 'false' } })
    assert.equal(config.ui, false)
    const runtime = await openRuntime(config, { env: { HALLPASS_SECRET: randomBytes(32).toString('base64url') } })
    try {
      const app = await buildServer(runtime.context, { logger: false })
      try {
        await app.listen({ port: 0, host: '127.0.0.1' })
        const address = app.server.address()
        assert.ok(typeof address === 'object' && address !== null)
        for (const path of [...Object.keys(PAGES), '/ui/account.js']) assertNotFound(await get(address.port, path), path)
        assert.equal((await get(address.port, '/healthz')).status, 200)
      } finally {
        await app.close()
      }
    } finally {
      await runtime.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
