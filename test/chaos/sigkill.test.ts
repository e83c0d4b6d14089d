// Scenario 3, short form: the session server killed (SIGKILL) twice under the refresh load of 20
// sessions, on SQLite (scripts/chaos/sigkill.ts; 10 kills per store with
// `npm run chaos -- sigkill --full`). The reuse window is a minute here: under a loaded test run
// a restart can take longer than the default 10 s, and a rotation that committed just before the
// kill would then be refused as reuse, a lost answer across a restart (docs/reliability.md).
import { test } from 'node:test'
import { assertReport } from '../../scripts/chaos/common.ts'
import { runSigkill } from '../../scripts/chaos/sigkill.ts'

test('chaos: SIGKILL under refresh load (sqlite): nothing lost, one live chain per session', { timeout: 60_000 }, async (t) => {
  assertReport(t, await runSigkill({ store: 'sqlite', kills: 2, reuseWindow: '60s', mode: 'short' }))
})
