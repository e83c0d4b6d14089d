// Scenario 1, short form: a 2-second store outage (partition, then crash) under the refresh load
// of 20 sessions, on PostgreSQL and Redis (scripts/chaos/outage.ts; the 15 s and 60 s forms run
// with `npm run chaos -- outage --full`, docs/reliability.md).
import { describe, test } from 'node:test'
import { assertReport, storeSkipReason } from '../../scripts/chaos/common.ts'
import { runOutage } from '../../scripts/chaos/outage.ts'

for (const store of ['postgres', 'redis'] as const) {
  describe(`chaos: store outage (${store})`, async () => {
    const skip = await storeSkipReason(store)
    test('answers 200 or 503 + Retry-After within 5 s, /readyz follows, no session revoked, all recover within 5 s', { skip, timeout: 60_000 }, async (t) => {
      assertReport(t, await runOutage({ store, outageMs: 2000, mode: 'short' }))
    })
  })
}
