// Runs every test/**/*.test.ts through node:test with tsx (Node 20 has no type stripping
// and no --test globs). Extra arguments narrow the run: `npm test -- test/engine`.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function collect(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...collect(path))
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

const roots = process.argv.slice(2)
const files = (roots.length ? roots : ['test']).flatMap((r) => (statSync(r).isDirectory() ? collect(r) : [r]))
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
// Most suites wait on sockets, child processes or the database rather than the CPU, so a few
// files run at once even on two cores (PostgreSQL's 100 connections bound how many).
const concurrency = process.env.HALLPASS_TEST_CONCURRENCY ?? '3'
// A hung file fails after 5 minutes (the timeout covers each file as a whole) instead of
// holding CI until its own deadline.
const timeout = process.env.HALLPASS_TEST_TIMEOUT_MS ?? '300000'
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeout}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
})
process.exit(result.status ?? 1)
