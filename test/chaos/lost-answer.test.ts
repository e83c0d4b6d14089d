// Scenario 2, short form: a rotation committed whose answer is lost (the fault proxy cuts the
// connection after the store's reply), retried beyond a 1 s reuse window, 2.5 s later and after
// the server's clock moved 10 minutes (scripts/chaos/lost-answer.ts; the real-clock 30 s and
// 10 min forms run with `npm run chaos -- lost-answer --full`).
import { describe, test } from 'node:test'
import { assertReport, storeSkipReason } from '../../scripts/chaos/common.ts'
import { runLostAnswer } from '../../scripts/chaos/lost-answer.ts'

for (const store of ['postgres', 'redis'] as const) {
  describe(`chaos: lost answers (${store})`, async () => {
    const skip = await storeSkipReason(store)
    test('the retry gets the same successor and the session lives on; a replayed predecessor and a thief still revoke', { skip, timeout: 60_000 }, async (t) => {
      assertReport(t, await runLostAnswer({ store, full: false }))
    })
  })
}
