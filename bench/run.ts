/**
 * @module bench/run
 *
 * `npm run bench`: the benchmark entry. Sections register here; select some with
 * `--only engine[,other]`, narrow the cases with `--filter "hs256 verify"`, get one JSON object
 * per section (one per line) with `--json`, or a short smoke run with `--quick`. `--clock cpu`
 * reports process CPU time instead of wall time (steadier on a loaded machine). `--strict`
 * exits 1 when a target is missed (off by default: figures from a shared machine are noisy).
 */
import { parseArgs } from 'node:util'
import { engineSection } from './engine.ts'
import { feedSection } from './feed.ts'
import { serverSection } from './server.ts'
import { sessionsSection } from './sessions.ts'
import { verifySection } from './verify.ts'
import { formatSection, sectionToJson, type BenchSection } from './harness.ts'

const SECTIONS: readonly BenchSection[] = [engineSection, sessionsSection, serverSection, verifySection, feedSection]

const USAGE = `usage: npm run -s bench -- [--only <section>[,<section>]] [--filter <text>] [--clock wall|cpu]
                            [--quick] [--json] [--strict] [--list]

sections:
${SECTIONS.map((s) => `  ${s.name.padEnd(10)} ${s.description}`).join('\n')}`

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      filter: { type: 'string' },
      quick: { type: 'boolean', default: false },
      clock: { type: 'string', default: 'wall' },
      json: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help || values.list) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const clock = values.clock
  if (clock !== 'wall' && clock !== 'cpu') {
    process.stderr.write(`--clock must be "wall" or "cpu"\n${USAGE}\n`)
    return 2
  }
  const wanted = values.only?.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  const unknown = wanted?.filter((name) => !SECTIONS.some((s) => s.name === name)) ?? []
  if (unknown.length > 0) {
    process.stderr.write(`unknown section(s): ${unknown.join(', ')}\n${USAGE}\n`)
    return 2
  }
  const selected = wanted === undefined ? SECTIONS : SECTIONS.filter((s) => wanted.includes(s.name))

  if (!values.json) {
    process.stdout.write(`node ${process.version} ${process.platform}/${process.arch}, clock: ${clock}${values.quick ? ' (quick run: indicative only)' : ''}\n\n`)
  }
  let missed = 0
  for (const section of selected) {
    const result = await section.run({
      quick: values.quick,
      clock,
      filter: values.filter,
      log: (line) => process.stderr.write(`${line}\n`),
    })
    missed += result.targets.filter((t) => t.pass === false).length
    process.stdout.write(values.json ? `${JSON.stringify(sectionToJson(result))}\n` : `${formatSection(result)}\n\n`)
  }
  return values.strict && missed > 0 ? 1 : 0
}

process.exitCode = await main()
