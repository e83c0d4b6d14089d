// Fetches a small JSON document (discovery metadata, a JWKS) from the issuer, defensively:
// - one deadline covers connecting, headers and the whole body, so a slow-loris issuer (or
//   anything between) cannot hold a refresh open forever;
// - the body is read chunk by chunk and abandoned past `maxBytes`: a 10 MB answer costs at
//   most `maxBytes` of memory, never the whole body;
// - redirects are refused (a redirect could lead off TLS or to another host's keys), and the
//   `content-type` is not trusted either way: only a strict JSON parse decides;
// - strict JSON: one object, no duplicate members, no `__proto__`, bounded depth, valid UTF-8.
import { JwksUnavailable, JwtMalformed } from '../../errors.ts'
import { decodeUtf8, parseJsonObject } from '../../internal/strict-json.ts'
import type { VerifierIo } from './io.ts'

export interface FetchLimits {
  readonly timeoutMs: number
  readonly maxBytes: number
}

export interface FetchedDocument {
  readonly json: Record<string, unknown>
  readonly cacheControl: string | null
}

/** GETs `url` and parses it as a JSON object, or throws `ERR_JWKS_UNAVAILABLE` naming `what`. */
export async function fetchJsonDocument(io: VerifierIo, url: string, limits: FetchLimits, what: string): Promise<FetchedDocument> {
  const controller = new AbortController()
  let timedOut = false
  const timer = io.timers.setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  try {
    let response: Response
    try {
      response = await io.fetch(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: controller.signal,
      })
    } catch (error) {
      throw new JwksUnavailable(timedOut ? `${what} request timed out` : `${what} request failed`, { cause: error })
    }
    if (response.status !== 200) {
      await discardBody(response)
      throw new JwksUnavailable(`${what} answered HTTP ${response.status}`)
    }
    const bytes = await readBounded(response, limits.maxBytes, what, () => timedOut)
    let json: Record<string, unknown>
    try {
      json = parseJsonObject(decodeUtf8(bytes, what), what)
    } catch (error) {
      if (!(error instanceof JwtMalformed)) throw error
      throw new JwksUnavailable(`${what} is not a valid JSON object`, { cause: error })
    }
    return { json, cacheControl: response.headers.get('cache-control') }
  } finally {
    io.timers.clearTimeout(timer)
  }
}

async function readBounded(response: Response, maxBytes: number, what: string, timedOut: () => boolean): Promise<Uint8Array> {
  const declared = response.headers.get('content-length')
  if (declared !== null && Number(declared) > maxBytes) {
    await discardBody(response)
    throw new JwksUnavailable(`${what} is larger than ${maxBytes} bytes`)
  }
  const body = response.body
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>
    try {
      chunk = await reader.read()
    } catch (error) {
      throw new JwksUnavailable(timedOut() ? `${what} request timed out` : `${what} body could not be read`, { cause: error })
    }
    if (chunk.done) break
    const bytes = chunk.value as Uint8Array
    total += bytes.byteLength
    if (total > maxBytes) {
      // Stop reading and close the connection: the rest of the body is never downloaded.
      await reader.cancel().catch(() => undefined)
      throw new JwksUnavailable(`${what} is larger than ${maxBytes} bytes`)
    }
    chunks.push(bytes)
  }
  return Buffer.concat(chunks, total)
}

async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined)
}
