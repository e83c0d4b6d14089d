// How the SQLite stores report driver failures.
import type { HallpassError } from '../../errors.ts'
import { toDriverFailure } from '../internal/driver-errors.ts'

/** better-sqlite3's codes: `SQLITE_BUSY`, `SQLITE_CONSTRAINT_PRIMARYKEY`, … */
const SAFE_CODE = /^[A-Z0-9_]{1,64}$/

/** A driver failure as `ERR_STORE_UNAVAILABLE`, naming the operation and SQLite's code only. */
export function toStoreError(operation: string, error: unknown): HallpassError {
  return toDriverFailure('SQLite', operation, error, SAFE_CODE)
}
