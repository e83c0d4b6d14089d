/**
 * @module hallpass/cli
 *
 * Human durations (`30s`, `10m`, `1h`, `7d`) for the CLI and config files. Everything inside
 * hallpass counts in seconds; this is the one place a string becomes seconds.
 *
 * The grammar is deliberately tiny: one whole number of 1-10 ASCII digits, then one unit
 * letter. No signs, decimals, exponents, whitespace or unit words, so `-5m`, `1e999s`, `1.5h`
 * and `10x` are all refused with the same clear error instead of being half-understood (the
 * way `parseInt('1e999')` reads `1`, or `Number('1e999')` reads `Infinity`).
 */
import { ConfigInvalid } from '../errors.ts'

const UNIT_SECONDS: Readonly<Record<string, number>> = Object.freeze({ s: 1, m: 60, h: 3600, d: 86_400 })
const DURATION = /^([0-9]{1,10})([smhd])$/

/** Ten years: far beyond any sane token lifetime, yet exact in a double and in a 32-bit `exp` offset. */
export const MAX_DURATION_SECONDS = 3650 * 86_400

export interface ParseDurationOptions {
  /** The flag or config path named in the error (`--exp`, `accessTokenTtl`). */
  path?: string
  /** Smallest accepted value in seconds (default 0). */
  minSeconds?: number
  /** Largest accepted value in seconds (default and ceiling `MAX_DURATION_SECONDS`). */
  maxSeconds?: number
}

/**
 * Parses `<digits><s|m|h|d>` into whole seconds. Throws `ERR_CONFIG_INVALID` (with `path`
 * naming the flag) for anything else or for a value outside `[minSeconds, maxSeconds]`.
 *
 * @example
 * import { parseDuration } from './durations.ts'
 * parseDuration('10m') // 600
 * parseDuration('7d', { path: '--exp' }) // 604800
 */
export function parseDuration(text: unknown, options: ParseDurationOptions = {}): number {
  const path = options.path ?? 'duration'
  const min = options.minSeconds ?? 0
  const max = Math.min(options.maxSeconds ?? MAX_DURATION_SECONDS, MAX_DURATION_SECONDS)
  const match = typeof text === 'string' ? DURATION.exec(text) : null
  if (match === null) {
    throw new ConfigInvalid(path, 'must be a whole number followed by s, m, h or d (for example 30s, 10m, 1h, 7d)')
  }
  // At most 10 digits times 86400 stays below 2^53, so this product is exact.
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!
  if (seconds < min || seconds > max) {
    throw new ConfigInvalid(path, `must be between ${formatDuration(min)} and ${formatDuration(max)}`)
  }
  return seconds
}

/**
 * Formats whole seconds in the largest unit that divides them exactly (`600` → `10m`), so the
 * output always parses back to the same value.
 *
 * @example
 * import { formatDuration } from './durations.ts'
 * formatDuration(86_400) // '1d'
 */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit]!
    if (seconds !== 0 && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
