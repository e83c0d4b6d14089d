// Session hashes <-> SessionRecord. Every caller-supplied string is stored JSON-encoded, so
// equality of stored values is equality of the strings (lone surrogates included) and the Lua
// scripts can splice them into JSON without re-encoding; numbers are stored as `String(n)`; an
// absent field is `null` in the record; device members are `dev:<name>` fields, which lets a
// rotation merge the device with one HSET.
import { SessionInputInvalid, StoreUnavailable } from '../../errors.ts'
import type { DeviceInfo, SessionRecord } from '../../session/types.ts'
import { asString } from './commands.ts'

export function json(value: string): string {
  return JSON.stringify(value)
}

export function parseJsonString(text: string): string {
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'string') throw new StoreUnavailable('redis record is corrupt')
  return value
}

export function num(value: number): string {
  return String(value)
}

export function required(fields: ReadonlyMap<string, string>, name: string): string {
  const value = fields.get(name)
  if (value === undefined) throw new StoreUnavailable('redis record is corrupt')
  return value
}

export function deviceFields(device: DeviceInfo | undefined): string[] {
  const out: string[] = []
  if (device === undefined || device === null) return out
  for (const [name, value] of Object.entries(device)) {
    if (value !== undefined) out.push(`dev:${name}`, JSON.stringify(value))
  }
  return out
}

export function serializeRecord(r: SessionRecord): string[] {
  const fields = [
    'id', json(r.id),
    'subject', json(r.subject),
    'createdAt', num(r.createdAt),
    'expiresAt', num(r.expiresAt),
    'idleExpiresAt', num(r.idleExpiresAt),
    'lastSeenAt', num(r.lastSeenAt),
    'generation', num(r.generation),
    'refreshHash', json(r.refreshHash),
    'rotatedAt', num(r.rotatedAt),
    'claims', JSON.stringify(r.claims),
    'maxAccessExp', num(r.maxAccessExp),
    ...deviceFields(r.device),
  ]
  if (r.previousHash !== null) fields.push('previousHash', json(r.previousHash))
  if (r.revokedAt !== null) fields.push('revokedAt', num(r.revokedAt))
  if (r.revokeReason !== null) fields.push('revokeReason', json(r.revokeReason))
  if (r.scope !== null) fields.push('scope', json(r.scope))
  if (r.audience !== null) fields.push('audience', JSON.stringify(r.audience))
  if (r.undeliveredHash !== null) fields.push('undeliveredHash', json(r.undeliveredHash))
  return fields
}

/** The record of an HGETALL reply; undefined for an empty reply (no such session). */
export function parseRecord(flat: readonly unknown[]): SessionRecord | undefined {
  if (flat.length === 0) return undefined
  const f = new Map<string, string>()
  const device: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = asString(flat[i])
    const value = asString(flat[i + 1])
    // defineProperty: a device field named "__proto__" must stay data, not become a prototype.
    if (name.startsWith('dev:')) Object.defineProperty(device, name.slice(4), { value: JSON.parse(value), enumerable: true, writable: true, configurable: true })
    else f.set(name, value)
  }
  const str = (name: string): string => parseJsonString(required(f, name))
  const number = (name: string): number => {
    const value = Number(required(f, name))
    if (!Number.isFinite(value)) throw new StoreUnavailable('redis record is corrupt')
    return value
  }
  const optional = <T>(name: string, parse: (text: string) => T): T | null => {
    const text = f.get(name)
    return text === undefined ? null : parse(text)
  }
  return {
    id: str('id'),
    subject: str('subject'),
    createdAt: number('createdAt'),
    expiresAt: number('expiresAt'),
    idleExpiresAt: number('idleExpiresAt'),
    lastSeenAt: number('lastSeenAt'),
    generation: number('generation'),
    refreshHash: str('refreshHash'),
    previousHash: optional('previousHash', parseJsonString),
    rotatedAt: number('rotatedAt'),
    revokedAt: optional('revokedAt', Number),
    revokeReason: optional('revokeReason', parseJsonString),
    device: device,
    claims: JSON.parse(required(f, 'claims')) as Record<string, unknown>,
    scope: optional('scope', parseJsonString),
    audience: optional('audience', (text) => JSON.parse(text) as string[]),
    // Absent on sessions created before the field existed.
    maxAccessExp: optional('maxAccessExp', Number) ?? 0,
    undeliveredHash: optional('undeliveredHash', parseJsonString),
  }
}

/** Numbers go to Redis as text and back through Number(): only finite ones round-trip. */
export function checkNumbers(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new SessionInputInvalid(name, 'must be a finite number')
  }
}

export function checkRecord(r: SessionRecord): void {
  checkNumbers({ createdAt: r.createdAt, expiresAt: r.expiresAt, idleExpiresAt: r.idleExpiresAt, lastSeenAt: r.lastSeenAt, generation: r.generation, rotatedAt: r.rotatedAt, maxAccessExp: r.maxAccessExp })
  if (r.revokedAt !== null) checkNumbers({ revokedAt: r.revokedAt })
}
