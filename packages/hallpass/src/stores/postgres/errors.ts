// How the PostgreSQL stores report driver failures.
import type { HallpassError } from '../../errors.ts'
import { toDriverFailure } from '../internal/driver-errors.ts'

/** SQLSTATEs (`40001`) and Node errnos (`ECONNREFUSED`). */
const SAFE_CODE = /^[A-Z0-9_]{1,32}$/

/** A driver failure as `ERR_STORE_UNAVAILABLE`, naming the operation and the SQLSTATE/errno only. */
export function unavailable(operation: string, error: unknown): HallpassError {
  return toDriverFailure('postgres', operation, error, SAFE_CODE)
}
