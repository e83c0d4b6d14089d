// Scenario 5, short form: 8 seconds of mixed load (logins, refreshes, verifications, logouts) on
// SQLite with the purge every 5 s (scripts/chaos/soak.ts; `npm run soak` runs 10 minutes and
// checks memory and event-loop delay too).
import { test } from 'node:test'
import { assertReport } from '../../scripts/chaos/common.ts'
import { runSoak } from '../../scripts/chaos/soak.ts'

test('chaos: soak (sqlite, short): no error, store bounded by the purge', { timeout: 60_000 }, async (t) => {
  assertReport(t, await runSoak({ store: 'sqlite', durationMs: 8000, full: false }))
})
