// Running the session store's statements on the pool, each as one autocommit statement.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Pool, QueryResult, QueryResultRow } from 'pg'

/** serialization_failure and deadlock_detected: the statement did nothing and may run again. */
const RETRYABLE_CODES = new Set(['40001', '40P01'])
const STATEMENT_ATTEMPTS = 5

export interface PostgresQueries {
  readonly execute: <R extends QueryResultRow>(text: string, values: unknown[]) => Promise<QueryResult<R>>
  /** `execute`, returning the rows. */
  readonly query: <R extends QueryResultRow>(text: string, values: unknown[]) => Promise<R[]>
}

/**
 * Every statement is written for READ COMMITTED, PostgreSQL's default, under which concurrent
 * compare-and-sets of one row queue and re-check (see the rotation statement). Under a stricter
 * default_transaction_isolation (database or role setting) the loser fails with a serialization
 * failure instead. Nothing of it was committed, so it runs again, and the new attempt's snapshot
 * holds the winner's row: racing refreshes still share one successor.
 */
export function createQueries(pool: Pool): PostgresQueries {
  async function execute<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.query<R>(text, values)
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code
        if (attempt >= STATEMENT_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_CODES.has(code)) throw error
        await sleep(Math.random() * 5 * attempt)
      }
    }
  }

  async function query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    return (await execute<R>(text, values)).rows
  }

  return { execute, query }
}
