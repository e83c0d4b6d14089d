// The ioredis command surface the Redis stores use, and how its replies and failures are read.
import { HallpassError, StoreUnavailable } from '../../errors.ts'
import type { RedisScript } from './scripts.ts'

/** The minimal command surface used here; both `Redis` and `Cluster` provide it. */
export interface Commands {
  call(command: string, ...args: (string | number)[]): Promise<unknown>
}

/**
 * EVALSHA, and EVAL when the server does not have the script (first use, restart, SCRIPT FLUSH,
 * a failover to a replica that never saw it); EVAL also caches it for the next EVALSHA.
 */
export async function evalScript(client: Commands, s: RedisScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await client.call('EVALSHA', s.sha, keys.length, ...keys, ...args)
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
    return client.call('EVAL', s.lua, keys.length, ...keys, ...args)
  }
}

/** Every driver failure becomes StoreUnavailable: fail closed without blaming the credential. */
export function toStoreError(operation: string, error: unknown): Error {
  if (error instanceof HallpassError) return error
  return new StoreUnavailable(`redis ${operation} failed`, { cause: scrub(error) })
}

// ioredis attaches the command and its arguments (hashes, subjects, usernames) to reply errors;
// the cause of a StoreUnavailable may be logged, so they are dropped.
export function scrub(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'command' in error) {
    try {
      delete (error as { command?: unknown }).command
    } catch {
      return new Error('redis error')
    }
  }
  return error
}

export function asArray(value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw new StoreUnavailable('redis returned an unexpected reply')
  return value
}

export function asString(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new StoreUnavailable('redis returned an unexpected reply')
}
