// Line coverage of the engine (packages/hallpass/src/engine/**, src/errors.ts): 100% or fail.
//
// Runs the engine tests (test/engine, test/unit/engine, test/errors.test.ts of packages/hallpass;
// or the paths given) through tsx with
// NODE_V8_COVERAGE, then maps V8's byte ranges back to TypeScript lines through the source maps
// tsx registers. Node 20's own `--experimental-test-coverage` also maps through them, but it
// counts every line without generated code (comments, types, interfaces) as uncovered, so this
// script does the mapping itself:
// - a TypeScript line is *executable* when some source-map segment points at it;
// - it is *covered* when the innermost V8 range around any of those segments ran at least once.
// A line the tests never reach is listed with its number. Usage:
//   node scripts/coverage.mjs [test paths…]        (npm run coverage)
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const PACKAGE = join(ROOT, 'packages/hallpass')
const TARGETS = [join(PACKAGE, 'src/engine'), join(PACKAGE, 'src/errors.ts')]
const THRESHOLD = 100

function collect(path, suffix) {
  if (!statSync(path).isDirectory()) return [path]
  const out = []
  for (const name of readdirSync(path).sort()) {
    const child = join(path, name)
    if (statSync(child).isDirectory()) out.push(...collect(child, suffix))
    else if (name.endsWith(suffix)) out.push(child)
  }
  return out
}

// --- run the tests ---------------------------------------------------------------------------

const roots = process.argv.slice(2)
// The engine's own tests, and the error registry's (src/errors.ts is in scope).
const testFiles = (roots.length ? roots.map((r) => resolve(ROOT, r)) : ['test/engine', 'test/unit/engine', 'test/errors.test.ts'].map((r) => join(PACKAGE, r))).flatMap((r) => collect(r, '.test.ts'))
if (testFiles.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
const coverageDir = mkdtempSync(join(tmpdir(), 'hallpass-coverage-'))
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=dot', ...testFiles], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, NODE_V8_COVERAGE: coverageDir },
})
if (run.status !== 0) {
  rmSync(coverageDir, { recursive: true, force: true })
  console.error('tests failed: no coverage report')
  process.exit(run.status ?? 1)
}

// --- source maps -----------------------------------------------------------------------------

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const BASE64_VALUE = new Map([...BASE64].map((c, i) => [c, i]))

// Decodes source-map "mappings" into [generatedLine, generatedColumn, sourceLine] triples (0-based).
function decodeMappings(mappings) {
  const out = []
  let sourceLine = 0
  let sourceIndex = 0
  const lines = mappings.split(';')
  for (let generatedLine = 0; generatedLine < lines.length; generatedLine++) {
    let generatedColumn = 0
    for (const segment of lines[generatedLine].split(',')) {
      if (segment === '') continue
      const fields = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = BASE64_VALUE.get(char)
        value += (digit & 31) << shift
        if (digit & 32) {
          shift += 5
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      generatedColumn += fields[0]
      if (fields.length >= 4) {
        // Fields 4 and 5 (source column, name) are relative too, but nothing here needs them.
        sourceIndex += fields[1]
        sourceLine += fields[2]
        out.push([generatedLine, generatedColumn, sourceLine, sourceIndex])
      }
    }
  }
  return out
}

// The execution count at `offset`: that of the innermost (shortest) range containing it.
function countAt(ranges, offset) {
  let best
  for (const range of ranges) {
    if (range.startOffset <= offset && offset < range.endOffset) {
      if (best === undefined || range.endOffset - range.startOffset <= best.endOffset - best.startOffset) best = range
    }
  }
  return best === undefined ? 0 : best.count
}

// --- merge the V8 reports --------------------------------------------------------------------

const inScope = (path) => TARGETS.some((target) => path === target || path.startsWith(target + '/'))
/** path → { executable: Set<line>, covered: Set<line> } (1-based lines) */
const files = new Map()

for (const name of readdirSync(coverageDir)) {
  if (!name.endsWith('.json')) continue
  const report = JSON.parse(readFileSync(join(coverageDir, name), 'utf8'))
  const sourceMaps = report['source-map-cache'] ?? {}
  for (const script of report.result) {
    if (!script.url.startsWith('file:')) continue
    const path = fileURLToPath(script.url)
    if (!inScope(path) || !path.endsWith('.ts')) continue
    const map = sourceMaps[script.url]
    if (map === undefined) throw new Error(`no source map for ${relative(ROOT, path)}: cannot map its coverage`)
    const starts = [0]
    for (const length of map.lineLengths) starts.push(starts[starts.length - 1] + length + 1)
    const ranges = script.functions.flatMap((fn) => fn.ranges)
    const entry = files.get(path) ?? { executable: new Set(), covered: new Set() }
    files.set(path, entry)
    for (const [generatedLine, generatedColumn, sourceLine, sourceIndex] of decodeMappings(map.data.mappings)) {
      if (sourceIndex !== 0) continue
      const line = sourceLine + 1
      entry.executable.add(line)
      if (countAt(ranges, starts[generatedLine] + generatedColumn) > 0) entry.covered.add(line)
    }
  }
}
rmSync(coverageDir, { recursive: true, force: true })

// Files the tests never loaded: fine only when they compile to no code at all (types only).
const expected = TARGETS.flatMap((target) => collect(target, '.ts'))
const notLoaded = []
for (const path of expected) {
  if (files.has(path)) continue
  const output = ts.transpileModule(readFileSync(path, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  }).outputText
  const code = output.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '').replace(/export\s*\{\s*\};?/g, '').trim()
  if (code !== '') notLoaded.push(path)
}

// --- report ----------------------------------------------------------------------------------

const compress = (lines) => {
  const out = []
  for (const line of lines) {
    const last = out[out.length - 1]
    if (last && last[1] === line - 1) last[1] = line
    else out.push([line, line])
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(' ')
}

let total = 0
let covered = 0
const rows = []
for (const [path, entry] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
  const missing = [...entry.executable].filter((line) => !entry.covered.has(line)).sort((a, b) => a - b)
  total += entry.executable.size
  covered += entry.executable.size - missing.length
  const percent = entry.executable.size === 0 ? 100 : (100 * (entry.executable.size - missing.length)) / entry.executable.size
  rows.push([relative(ROOT, path), `${entry.executable.size - missing.length}/${entry.executable.size}`, percent.toFixed(2), compress(missing)])
}
for (const path of notLoaded) rows.push([relative(ROOT, path), '0/?', '0.00', 'never loaded by the tests'])

const width = Math.max(...rows.map((r) => r[0].length), 4)
console.log(`\n${'file'.padEnd(width)} | lines       | %      | uncovered lines`)
console.log(`${'-'.repeat(width)}-|-------------|--------|----------------`)
for (const [file, lines, percent, missing] of rows) console.log(`${file.padEnd(width)} | ${lines.padEnd(11)} | ${percent.padStart(6)} | ${missing}`)
const percent = total === 0 ? 0 : (100 * covered) / total
console.log(`\nengine line coverage: ${covered}/${total} = ${percent.toFixed(2)}% (threshold ${THRESHOLD}%)`)
if (percent < THRESHOLD || notLoaded.length > 0) {
  console.error('coverage below the threshold: cover the lines listed above')
  process.exit(1)
}
