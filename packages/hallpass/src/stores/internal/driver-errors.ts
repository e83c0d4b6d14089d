// Driver failures of the SQL stores as infrastructure errors. Never exported from a public entry.
import { HallpassError, StoreUnavailable } from '../../errors.ts'

/**
 * Any driver failure (refused connection, timeout, lock, SQL error) becomes
 * `ERR_STORE_UNAVAILABLE`: the caller answers 503 and blames no credential. The message names
 * the store, the operation and the driver's error code when it matches `safeCode`, nothing
 * else: driver messages can quote values (a unique-violation detail quotes the key), so they
 * stay in `cause`. Errors of our own pass through unchanged.
 */
export function toDriverFailure(store: string, operation: string, error: unknown, safeCode: RegExp): HallpassError {
  if (error instanceof HallpassError) return error
  const code = (error as { code?: unknown } | null)?.code
  const suffix = typeof code === 'string' && safeCode.test(code) ? ` (${code})` : ''
  return new StoreUnavailable(`${store} ${operation} failed${suffix}`, { cause: error })
}
