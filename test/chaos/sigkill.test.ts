// Scenario 3, short form: the session server killed (SIGKILL) twice under the refresh load of 20
// sessions, on SQLite, with the default 10 s reuse window (scripts/chaos/sigkill.ts; 10 kills
// per store with `npm run chaos -- sigkill --full`). A restart slower than the window, as in a
// loaded test run, loses nothing either: the restarted server gives the dead one's last answers
// once more (packages/server/test/crash-recovery.test.ts proves that case deterministically).
import { test } from 'node:test'
import { assertReport } from '../../scripts/chaos/common.ts'
import { runSigkill } from '../../scripts/chaos/sigkill.ts'

test('chaos: SIGKILL under refresh load (sqlite): nothing lost, one live chain per session', { timeout: 60_000 }, async (t) => {
  assertReport(t, await runSigkill({ store: 'sqlite', kills: 2, mode: 'short' }))
})
