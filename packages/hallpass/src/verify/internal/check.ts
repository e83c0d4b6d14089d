// Option checks of the verifier's factories: run once, name the option path.
import { ConfigInvalid } from '../../errors.ts'

/** A positive, finite number of seconds, or the default. */
export function checkSeconds(value: unknown, path: string, fallback: number, options: { allowZero?: boolean } = {}): number {
  if (value === undefined) return fallback
  const ok = typeof value === 'number' && Number.isFinite(value) && (options.allowZero === true ? value >= 0 : value > 0)
  if (!ok) throw new ConfigInvalid(path, options.allowZero === true ? 'must be a non-negative number of seconds' : 'must be a positive number of seconds')
  return value
}

/** A plain options object (or undefined), with only the listed keys. */
export function checkObject(value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigInvalid(path, 'must be an object')
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ConfigInvalid(`${path}.${key}`, 'is not a known option')
  }
  return value as Record<string, unknown>
}
