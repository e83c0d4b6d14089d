// Reads the public test vectors in `test/vectors/` (third-party data copied byte for byte, with
// licences and checksums: see test/vectors/README.md) and holds the small helpers every vector suite shares: typed views
// of the Wycheproof file format, a lenient peek at a token's segments (only to choose which API
// a case goes through, never to decide a verdict), and a collector that gathers every mismatch
// of a file so one run reports all of them as `file#tcId`.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { HallpassError } from '../../../src/index.ts'

/** The vector folder, test/vectors/ (this file is in test/engine/vectors/). */
export const VECTORS_ROOT = new URL('../../vectors/', import.meta.url)

/** Absolute path of a file under test/vectors/. */
export function vectorPath(relative: string): string {
  return fileURLToPath(new URL(relative, VECTORS_ROOT))
}

export function readVectorText(relative: string): string {
  return readFileSync(vectorPath(relative), 'utf8')
}

export function readVectorJson<T>(relative: string): T {
  return JSON.parse(readVectorText(relative)) as T
}

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable'

/** The fields every Wycheproof test case has; suites extend it with their inputs. */
export interface WycheproofCase {
  tcId: number
  comment: string
  flags?: string[]
  result: WycheproofResult
}

export interface WycheproofGroup<C extends WycheproofCase> {
  type: string
  tests: C[]
}

export interface WycheproofFile<G> {
  algorithm: string
  numberOfTests: number
  testGroups: G[]
}

/** Loads `wycheproof/testvectors_v1/<name>` and checks that `numberOfTests` adds up. */
export function loadWycheproof<G extends WycheproofGroup<WycheproofCase>>(name: string): WycheproofFile<G> {
  const file = readVectorJson<WycheproofFile<G>>(`wycheproof/testvectors_v1/${name}`)
  const counted = file.testGroups.reduce((sum, group) => sum + group.tests.length, 0)
  if (counted !== file.numberOfTests) throw new Error(`${name}: numberOfTests says ${file.numberOfTests}, found ${counted}`)
  return file
}

/** Decodes a base64url text the way a lenient library would. For routing only, never for a verdict. */
export function peekSegment(segment: string | undefined): Buffer {
  return Buffer.from(segment ?? '', 'base64url')
}

/** The token's header `alg`, if its first segment leniently decodes to a JSON object with one. */
export function peekHeaderAlg(token: string): string | undefined {
  const header = peekJsonObject(token.split('.')[0])
  return typeof header?.alg === 'string' ? header.alg : undefined
}

/** True when the token's second segment (leniently decoded) is a JSON object: route it as a JWT. */
export function hasJsonObjectPayload(token: string): boolean {
  return peekJsonObject(token.split('.')[1]) !== undefined
}

function peekJsonObject(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(peekSegment(segment).toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** What happened to one case: accepted, or rejected with the hallpass error code. */
export type Outcome = { accepted: true } | { accepted: false; code: string }

/**
 * Runs `fn` and turns its result into an `Outcome`. Anything thrown that is not a HallpassError
 * (a TypeError from a malformed input reaching node:crypto, say) is re-thrown: a hostile token
 * must be refused with a stable code, never crash the verifier.
 */
export function outcomeOf(fn: () => unknown): Outcome {
  try {
    fn()
    return { accepted: true }
  } catch (error) {
    if (error instanceof HallpassError) return { accepted: false, code: error.code }
    throw error
  }
}

/** Collects mismatches so a suite can check every case and then fail once, listing them all. */
export interface FailureList {
  /** Records one checked case; `problem` is undefined when the case behaved as expected. */
  check(id: string, problem: string | undefined): void
  readonly checked: number
  readonly failures: readonly string[]
  /** The message for the final assertion: empty when nothing failed. */
  report(): string
}

/** A new failure list. `id` in `check` is `file#tcId` (or a named example), as the vectors README asks. */
export function createFailureList(): FailureList {
  const failures: string[] = []
  let checked = 0
  return {
    check(id, problem) {
      checked++
      if (problem !== undefined) failures.push(`${id}: ${problem}`)
    },
    get checked() {
      return checked
    },
    failures,
    report() {
      return failures.length === 0 ? '' : `${failures.length} of ${checked} cases failed:\n  ${failures.join('\n  ')}`
    },
  }
}

/** The problem with an outcome given the vector's expected result, or undefined when it is fine. */
export function judge(expected: WycheproofResult, outcome: Outcome): string | undefined {
  if (expected === 'valid' && !outcome.accepted) return `valid case rejected with ${outcome.code}`
  if (expected === 'invalid' && outcome.accepted) return 'invalid case accepted'
  return undefined
}
