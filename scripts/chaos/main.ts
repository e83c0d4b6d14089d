/**
 * @module scripts/chaos/main
 *
 * `npm run chaos -- <scenario> [--store sqlite|postgres|redis] [--full] [--json FILE]` and
 * `npm run soak -- [--store sqlite|postgres|redis] [--minutes N]`: runs one fault scenario and
 * prints its figures and checks (docs/reliability.md has what each scenario does and the
 * figures of full runs). Without `--full` a scenario runs its short form, the one `npm test`
 * runs (test/chaos/). Without `--store` it runs on each store the scenario is about, in turn.
 * The exit status is 1 when a check failed.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { Report, StoreKind } from './common.ts'
import { runLostAnswer } from './lost-answer.ts'
import { runOutage } from './outage.ts'
import { runSigkill } from './sigkill.ts'
import { runSoak } from './soak.ts'
import { runTwoInstances } from './two-instances.ts'

/** Options of the command line a scenario may take. */
interface RunOptions {
  readonly minutes: number | undefined
  /** sigkill: seconds the server stays down after its last kill. */
  readonly down: number | undefined
}

const SCENARIOS: Record<string, { stores: readonly StoreKind[]; run: (store: StoreKind, full: boolean, options: RunOptions) => Promise<Report[]> }> = {
  outage: {
    stores: ['postgres', 'redis'],
    run: async (store, full) => {
      const reports: Report[] = []
      for (const outageMs of full ? [15_000, 60_000] : [3000]) reports.push(await runOutage({ store: store as 'postgres' | 'redis', outageMs, mode: full ? 'full' : 'short' }))
      return reports
    },
  },
  'lost-answer': {
    stores: ['postgres', 'redis'],
    run: async (store, full) => [await runLostAnswer({ store: store as 'postgres' | 'redis', full })],
  },
  sigkill: {
    stores: ['sqlite', 'postgres', 'redis'],
    run: async (store, full, { down }) => [await runSigkill({ store, kills: full ? 10 : 2, mode: full ? 'full' : 'short', ...(down !== undefined ? { downSeconds: down } : {}) })],
  },
  'two-instances': {
    stores: ['postgres', 'redis'],
    run: async (store, full) => [await runTwoInstances({ store: store as 'postgres' | 'redis', full })],
  },
  soak: {
    stores: ['sqlite', 'postgres'],
    run: async (store, full, { minutes }) => [await runSoak({ store, durationMs: (minutes ?? (full ? 10 : 0.25)) * 60_000, full })],
  },
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { store: { type: 'string' }, full: { type: 'boolean', default: false }, json: { type: 'string' }, minutes: { type: 'string' }, down: { type: 'string' } },
})
const name = positionals[0]
const scenario = name === undefined ? undefined : SCENARIOS[name]
if (scenario === undefined || positionals.length > 1) {
  process.stderr.write(`usage: npm run chaos -- <${Object.keys(SCENARIOS).join('|')}> [--store sqlite|postgres|redis] [--full] [--json FILE] [--minutes N (soak)] [--down SECONDS (sigkill)]\n`)
  process.exit(2)
}
const stores = values.store === undefined ? scenario.stores : [values.store as StoreKind]
if (!stores.every((s) => scenario.stores.includes(s))) {
  process.stderr.write(`${name} runs on ${scenario.stores.join(', ')}\n`)
  process.exit(2)
}

const reports: Report[] = []
for (const store of stores) {
  const options = { minutes: values.minutes === undefined ? undefined : Number(values.minutes), down: values.down === undefined ? undefined : Number(values.down) }
  for (const report of await scenario.run(store, values.full, options)) {
    reports.push(report)
    process.stdout.write(`\n== ${report.scenario} on ${report.store} (${report.mode}, ${report.seconds} s, ${report.startedAt})\n`)
    process.stdout.write(`${JSON.stringify(report.figures, null, 2)}\n`)
    for (const check of report.checks) process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.detail === '' ? '' : ` (${check.detail})`}\n`)
  }
}
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(reports, null, 2) + '\n')
const failed = reports.flatMap((r) => r.checks.filter((c) => !c.ok))
process.stdout.write(`\n${failed.length === 0 ? 'all checks held' : `${failed.length} check(s) failed`}\n`)
process.exitCode = failed.length === 0 ? 0 : 1
