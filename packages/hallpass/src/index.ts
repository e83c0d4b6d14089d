/**
 * @module hallpass
 *
 * The main entry: the token engine, the session manager and the error types. Adapters (stores, verifier,
 * middleware, server) live on their own subpaths so this entry loads none of their drivers.
 */
export * from './engine/index.ts'
export * from './session/index.ts'
export * from './errors.ts'
// Durations as people write them in config ("15m", "30d"), the way every hallpass option reads them.
export { formatDuration, parseDuration, type ParseDurationOptions } from './internal/durations.ts'
