// Hand-written option checks shared by the factories: cheap, run once, and the
// message names the option path.
import { ConfigInvalid } from '../errors.ts'

export function checkKnownKeys(options: object, allowed: readonly string[], prefix = ''): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigInvalid(prefix || 'options', 'must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new ConfigInvalid(prefix + key, 'is not a known option')
  }
}

export function checkNonNegativeNumber(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigInvalid(path, 'must be a non-negative number')
  return value
}

export function checkPositiveInteger(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new ConfigInvalid(path, 'must be a positive integer')
  return value
}

export function checkStringList(value: unknown, path: string): readonly string[] | undefined {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw new ConfigInvalid(path, 'must be a non-empty string or a non-empty array of non-empty strings')
  }
  return Object.freeze([...(list as string[])])
}

export function checkFunction<F>(value: unknown, path: string): F | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new ConfigInvalid(path, 'must be a function')
  return value as F
}
