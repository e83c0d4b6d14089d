/**
 * @module @hallpass/server
 *
 * The pages (sign-in and "your devices" at `/`, the admin console at `/admin`, the token
 * debugger at `/debugger`), built by `npm run build` into `dist/ui` and served from memory with
 * their gzip twins. Only these answers are documents, so only they get a policy that lets a
 * script run: this origin's own files, nothing inline, nothing from elsewhere, and DOM sinks
 * closed by Trusted Types (the pages never write HTML as text).
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const PAGE_ROUTES: Readonly<Record<string, string>> = Object.freeze({ '/': 'account.html', '/admin': 'admin.html', '/debugger': 'debugger.html' })

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types',
].join('; ')

const TYPES: Readonly<Record<string, string>> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' }

interface Asset {
  readonly type: string
  readonly plain: Buffer
  readonly gzip: Buffer
  readonly etag: string
}

/** Where the built pages are: next to this module once compiled, in dist/ when run from src. */
export function pagesDirectory(): string | undefined {
  for (const candidate of [new URL('./ui/', import.meta.url), new URL('../dist/ui/', import.meta.url)]) {
    if (existsSync(new URL('account.html', candidate))) return fileURLToPath(candidate)
  }
  return undefined
}

function loadAssets(directory: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(directory)) {
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1)]
    if (type === undefined) continue
    const plain = readFileSync(directory + name)
    const etag = `"${createHash('sha256').update(plain).digest('base64url').slice(0, 22)}"`
    assets.set(name, { type, plain, gzip: readFileSync(`${directory}${name}.gz`), etag })
  }
  return assets
}

/** Whether Accept-Encoding lists gzip with a weight above 0 (RFC 9110 §12.5.3: `gzip;q=0` refuses it). */
function acceptsGzip(header: string): boolean {
  return header.split(',').some((element) => {
    const [coding, ...params] = element.split(';').map((part) => part.trim().toLowerCase())
    if (coding !== 'gzip') return false
    const weight = params.find((param) => param.startsWith('q='))
    return weight === undefined || Number(weight.slice(2)) > 0
  })
}

/** Registers the pages when they are built; false (and nothing registered) when they are not. */
export function registerPages(app: FastifyInstance): boolean {
  const directory = pagesDirectory()
  if (directory === undefined) return false
  const assets = loadAssets(directory)

  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset, page: boolean): FastifyReply => {
    const gzip = acceptsGzip(String(request.headers['accept-encoding'] ?? ''))
    // A strong validator names one representation: the gzip one has its own.
    const etag = gzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag
    reply.header('content-type', asset.type).header('etag', etag).header('vary', 'accept-encoding')
    // Revalidated each time (a 304 costs a few bytes): a new build is seen at once.
    reply.header('cache-control', 'no-cache').header('cross-origin-resource-policy', 'same-origin')
    if (page) reply.header('content-security-policy', PAGE_CSP).header('cross-origin-opener-policy', 'same-origin')
    if (request.headers['if-none-match'] === etag) return reply.code(304).send()
    if (gzip) reply.header('content-encoding', 'gzip')
    return reply.send(gzip ? asset.gzip : asset.plain)
  }

  for (const [path, file] of Object.entries(PAGE_ROUTES)) {
    const asset = assets.get(file)!
    app.get(path, async (request, reply) => send(request, reply, asset, true))
  }
  app.get<{ Params: { file: string } }>('/ui/:file', async (request, reply) => {
    const asset = request.params.file.endsWith('.html') ? undefined : assets.get(request.params.file)
    if (asset === undefined) return reply.code(404).send({ error: 'not_found', error_description: 'Not found' })
    return send(request, reply, asset, false)
  })
  return true
}
