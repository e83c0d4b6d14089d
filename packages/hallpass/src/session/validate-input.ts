// Checks for what callers pass into a session (subject, custom claims, scope, audience,
// device). Subjects and claims end up inside every access token and in the store, so they are
// bounded and typed here; device facts come from request headers, so they are trimmed rather
// than refused (a long User-Agent must not block a login).
import { SessionInputInvalid } from '../errors.ts'
import type { DeviceInfo } from './types.ts'

const MAX_SUBJECT_LENGTH = 256
const MAX_SCOPE_LENGTH = 1024
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
const SCOPE_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/
/** Claims hallpass sets itself; a custom claim may never override them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sid', 'scope', 'typ', 'cnf', 'client_id'])
const DEVICE_LIMITS = { userAgent: 512, ip: 64, label: 128 } as const

export function checkSubject(subject: unknown): string {
  // Well-formed UTF-16 only: a lone surrogate has no UTF-8 form, so a store would keep a
  // replacement character instead, and `a\uD800` and `a\uDBFF` would become one subject.
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH || hasControl(subject) || !subject.isWellFormed()) {
    throw new SessionInputInvalid('subject', `must be 1-${MAX_SUBJECT_LENGTH} characters of valid Unicode without control characters`)
  }
  return subject
}

export function checkClaims(claims: unknown, allowed: ReadonlySet<string> | undefined, maxBytes: number): Record<string, unknown> {
  if (claims === undefined) return {}
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new SessionInputInvalid('claims', 'must be an object')
  const proto: unknown = Object.getPrototypeOf(claims)
  if (proto !== Object.prototype && proto !== null) throw new SessionInputInvalid('claims', 'must be a plain object')
  let json: string | undefined
  try {
    json = JSON.stringify(claims)
  } catch {
    throw new SessionInputInvalid('claims', 'must be JSON-serialisable')
  }
  // A toJSON member may return undefined, and then JSON.stringify returns no text at all.
  if (typeof json !== 'string') throw new SessionInputInvalid('claims', 'must serialise to a JSON object')
  if (Buffer.byteLength(json) > maxBytes) throw new SessionInputInvalid('claims', `must serialise to at most ${maxBytes} bytes`)
  // Store what the token will carry: JSON drops undefined and functions, so normalise now, and
  // check the names of what came out (a `toJSON` member decides what JSON.stringify writes).
  const normalised: unknown = JSON.parse(json)
  if (typeof normalised !== 'object' || normalised === null || Array.isArray(normalised)) throw new SessionInputInvalid('claims', 'must serialise to a JSON object')
  for (const name of Object.keys(normalised)) {
    if (RESERVED_CLAIMS.has(name)) throw new SessionInputInvalid(`claims.${name}`, 'is a registered claim that hallpass sets itself')
    if (allowed !== undefined && !allowed.has(name)) throw new SessionInputInvalid(`claims.${name}`, 'is not in the allowed custom claims')
  }
  return normalised as Record<string, unknown>
}

export function checkScope(scope: unknown): string | null {
  if (scope === undefined || scope === null) return null
  if (typeof scope !== 'string' || scope.length > MAX_SCOPE_LENGTH || !SCOPE_PATTERN.test(scope)) {
    throw new SessionInputInvalid('scope', 'must be space-separated RFC 6749 scope tokens')
  }
  return scope
}

export function checkAudience(audience: unknown, permitted: readonly string[] | undefined): readonly string[] | null {
  if (audience === undefined || audience === null) return permitted ?? null
  const list = typeof audience === 'string' ? [audience] : audience
  if (!Array.isArray(list) || list.length === 0 || list.length > 16 || !list.every((a) => typeof a === 'string' && a.length > 0 && a.length <= 256)) {
    throw new SessionInputInvalid('audience', 'must be a non-empty string or array of strings')
  }
  if (permitted !== undefined && !list.every((a: string) => permitted.includes(a))) {
    throw new SessionInputInvalid('audience', 'must be among the configured audiences')
  }
  return Object.freeze([...(list as string[])])
}

export function sanitizeDevice(device: unknown): DeviceInfo | undefined {
  if (device === undefined || device === null) return undefined
  if (typeof device !== 'object' || Array.isArray(device)) throw new SessionInputInvalid('device', 'must be an object')
  const out: { userAgent?: string; ip?: string; label?: string } = {}
  for (const field of Object.keys(DEVICE_LIMITS) as Array<keyof typeof DEVICE_LIMITS>) {
    const value = (device as Record<string, unknown>)[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string') throw new SessionInputInvalid(`device.${field}`, 'must be a string')
    // Headers almost never carry control characters: keep the string itself then (no copy). The
    // cut may split a surrogate pair, and a header may hold a lone one: stores keep UTF-8.
    const clean = (hasControl(value) ? stripControl(value) : value).slice(0, DEVICE_LIMITS[field]).toWellFormed()
    if (clean.length > 0) out[field] = clean
  }
  return out
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

function stripControl(text: string): string {
  let out = ''
  for (const ch of text) {
    const c = ch.charCodeAt(0)
    if (c >= 0x20 && c !== 0x7f) out += ch
  }
  return out
}
