/**
 * @module bench/harness
 *
 * Interleaved micro-benchmark rounds for `npm run bench`. Every contender of a case runs in the
 * same process, round-robin, one fixed batch of operations per round, timed with
 * `process.hrtime.bigint()`. On a shared, noisy machine a slow stretch then hits every contender
 * of the round alike, and medians over many rounds ignore the outliers. Ratios are the median of
 * the per-round ratios to the baseline (the first contender), so drift between rounds cancels.
 *
 * Each batch is also timed in process CPU time (`process.cpuUsage()`, user + system, all
 * threads). Wall time is the default figure; `clock: 'cpu'` reports CPU time instead, which does
 * not count the time the process spends descheduled, and is far steadier on a loaded machine.
 */

/** One thing being measured: `run(i)` does one operation on pool input `i`. */
export interface Contender {
  readonly name: string
  /** One operation. `i` counts up from 0; use it to cycle through a pool of inputs. */
  readonly run: (i: number) => unknown
  /** `run` returns a promise: each operation is awaited before the next one starts. */
  readonly async?: boolean
}

export interface RoundOptions {
  /** Measured rounds (each contender runs one batch per round). */
  readonly rounds: number
  /** Unmeasured rounds first, so every contender is optimised by the JIT before timing. */
  readonly warmupRounds: number
  /** Target wall time of one batch of the baseline, in milliseconds: sets the batch size. */
  readonly batchMs: number
  /** Which time the figures and ratios use (both are recorded). */
  readonly clock: Clock
}

/** `wall`: `process.hrtime.bigint()`. `cpu`: `process.cpuUsage()` user + system time. */
export type Clock = 'wall' | 'cpu'

export interface ContenderResult {
  readonly contender: string
  readonly clock: Clock
  /** Median over rounds of nanoseconds per operation, on `clock`. */
  readonly medianNs: number
  /** First and third quartile of ns/op: the spread on this machine. */
  readonly p25Ns: number
  readonly p75Ns: number
  readonly opsPerSec: number
  /** Median of per-round ratios to the baseline; 1 for the baseline itself. */
  readonly ratio: number
  /** The medians on both clocks, whichever one `clock` is. */
  readonly wallMedianNs: number
  readonly cpuMedianNs: number
  readonly rounds: number
  readonly batch: number
}

/** A row of a section's report: labels (`alg`, `op`, …) plus one contender's figures. */
export interface ResultRow extends ContenderResult {
  readonly labels: Readonly<Record<string, string>>
}

export interface TargetResult {
  /** e.g. `HS256 verify hallpass ≤ 1.2× floor` */
  readonly name: string
  readonly limit: number
  /** `undefined` when the case was filtered out or could not run. */
  readonly ratio: number | undefined
  readonly pass: boolean | undefined
}

export interface SectionResult {
  readonly section: string
  readonly clock: Clock
  readonly results: readonly ResultRow[]
  /** `"<labels> <contender>"` → ratio to the baseline, for every non-baseline contender. */
  readonly ratios: Readonly<Record<string, number>>
  readonly targets: readonly TargetResult[]
}

/** Every result lands here, so the JIT cannot drop an operation whose value is unused. */
export const sink: { value: unknown } = { value: undefined }

/** One batch's elapsed time, in nanoseconds, on both clocks. */
interface BatchTime {
  readonly wall: number
  readonly cpu: number
}

function runSyncBatch(run: (i: number) => unknown, start: number, batch: number): BatchTime {
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = start, end = start + batch; i < end; i++) sink.value = run(i)
  const t1 = process.hrtime.bigint()
  const c1 = process.cpuUsage(c0)
  return { wall: Number(t1 - t0), cpu: (c1.user + c1.system) * 1000 }
}

async function runAsyncBatch(run: (i: number) => unknown, start: number, batch: number): Promise<BatchTime> {
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = start, end = start + batch; i < end; i++) sink.value = await run(i)
  const t1 = process.hrtime.bigint()
  const c1 = process.cpuUsage(c0)
  return { wall: Number(t1 - t0), cpu: (c1.user + c1.system) * 1000 }
}

function runBatch(contender: Contender, start: number, batch: number): BatchTime | Promise<BatchTime> {
  return contender.async === true ? runAsyncBatch(contender.run, start, batch) : runSyncBatch(contender.run, start, batch)
}

/**
 * Runs `contenders` (the first is the baseline) in interleaved rounds and returns one result
 * per contender, in the same order.
 */
export async function runInterleaved(contenders: readonly Contender[], options: RoundOptions): Promise<ContenderResult[]> {
  if (contenders.length === 0) return []
  // Calibrate on the baseline: a batch should last about batchMs, so timer resolution and the
  // per-batch loop overhead are negligible, while a noisy stretch spoils only a few rounds. The
  // first probes also warm the JIT up; the fastest of three probes estimates the real cost
  // (noise only ever adds time).
  let probe = 8
  for (;;) {
    const elapsed = await runBatch(contenders[0]!, 0, probe)
    if (elapsed.wall > 1e6 || probe >= 1 << 20) break
    probe *= 2
  }
  let fastest = Number.POSITIVE_INFINITY
  for (let k = 0; k < 3; k++) fastest = Math.min(fastest, (await runBatch(contenders[0]!, k * probe, probe)).wall / probe)
  const batch = Math.max(1, Math.round((options.batchMs * 1e6) / fastest))

  const n = contenders.length
  const wall: number[][] = contenders.map(() => [])
  const cpu: number[][] = contenders.map(() => [])
  let counter = 0
  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    const measured = round >= options.warmupRounds
    // Rotate the starting contender so no one always runs first (or right after a GC-heavy one).
    for (let k = 0; k < n; k++) {
      const index = (round + k) % n
      const time = await runBatch(contenders[index]!, counter, batch)
      counter += batch
      if (measured) {
        wall[index]!.push(time.wall / batch)
        cpu[index]!.push(time.cpu / batch)
      }
    }
  }

  const samples = options.clock === 'cpu' ? cpu : wall
  const baseline = samples[0]!
  return contenders.map((contender, index) => {
    const own = samples[index]!
    const sorted = [...own].sort((a, b) => a - b)
    const medianNs = quantile(sorted, 0.5)
    const ratios = own.map((ns, round) => ns / baseline[round]!).sort((a, b) => a - b)
    return {
      contender: contender.name,
      clock: options.clock,
      medianNs,
      p25Ns: quantile(sorted, 0.25),
      p75Ns: quantile(sorted, 0.75),
      opsPerSec: 1e9 / medianNs,
      ratio: index === 0 ? 1 : quantile(ratios, 0.5),
      wallMedianNs: median(wall[index]!),
      cpuMedianNs: median(cpu[index]!),
      rounds: own.length,
      batch,
    }
  })
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

/** Linear-interpolated quantile of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const position = (sorted.length - 1) * q
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low)
}

/** Renders rows as a plain-text table with right-aligned numeric columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)
}

/** The human-readable report of a section: the results table, then one line per target. */
export function formatSection(result: SectionResult): string {
  const labelNames = [...new Set(result.results.flatMap((r) => Object.keys(r.labels)))]
  const header = [...labelNames, 'contender', `median ns/op (${result.clock})`, 'ops/s', 'vs floor']
  const numeric = [...labelNames.map(() => false), false, true, true, true]
  const rows = result.results.map((r) => [
    ...labelNames.map((name) => r.labels[name] ?? ''),
    r.contender,
    formatNumber(r.medianNs),
    formatNumber(r.opsPerSec),
    `${r.ratio.toFixed(2)}×`,
  ])
  const lines = [`== ${result.section} ==`, formatTable(header, rows, numeric)]
  if (result.targets.length > 0) {
    lines.push('', 'targets:')
    for (const t of result.targets) {
      const verdict = t.pass === undefined ? 'SKIP' : t.pass ? 'PASS' : 'FAIL'
      const measured = t.ratio === undefined ? 'not measured' : `${t.ratio.toFixed(3)}×`
      lines.push(`  ${verdict}  ${t.name}: ${measured}`)
    }
  }
  return lines.join('\n')
}

/** The `--json` shape of a section: labels are flattened into each result. */
export function sectionToJson(result: SectionResult): unknown {
  return {
    section: result.section,
    clock: result.clock,
    results: result.results.map(({ labels, ...figures }) => ({ ...labels, ...figures })),
    ratios: result.ratios,
    targets: result.targets,
  }
}

/** What `bench/run.ts` passes to every section. */
export interface SectionOptions {
  /** A short smoke run: few rounds, small batches. Figures are indicative only. */
  readonly quick: boolean
  /** Case-insensitive substring: run only cases whose label line contains it (e.g. `hs256 verify`). */
  readonly filter: string | undefined
  /** The clock figures and ratios are reported on. */
  readonly clock: Clock
  /** Progress lines go here (stderr), so `--json` output on stdout stays parseable. */
  readonly log: (line: string) => void
}

/** One entry of the benchmark registry in `bench/run.ts`. */
export interface BenchSection {
  readonly name: string
  readonly description: string
  readonly run: (options: SectionOptions) => Promise<SectionResult>
}
