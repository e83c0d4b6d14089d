// Scenario 4, short form: two session servers on one PostgreSQL store, a verifier following the
// second: racing refreshes, logout propagation, one automatic key rotation, the first instance
// killed (scripts/chaos/two-instances.ts; `npm run chaos -- two-instances --full` for both stores).
import { describe, test } from 'node:test'
import { assertReport, storeSkipReason } from '../../scripts/chaos/common.ts'
import { runTwoInstances } from '../../scripts/chaos/two-instances.ts'

describe('chaos: two instances (postgres)', async () => {
  const skip = await storeSkipReason('postgres')
  test('racing refreshes converge, logouts reach the verifier within 1 s, rotation verifies, a kill leaves the other serving', { skip, timeout: 90_000 }, async (t) => {
    assertReport(t, await runTwoInstances({ store: 'postgres', full: false }))
  })
})
