/**
 * @module hallpass/cli
 *
 * The command-line runner both commands share, `hallpass` (token and key tools, this package)
 * and `hallpass-server` (`@hallpass/server`): `<group> <verb>` or one-word dispatch, help,
 * version, and the one process-bound context. A composition root: only
 * `runMain` touches `process`.
 *
 * Exit status: 0 success, 1 failure (invalid token, unusable key), 2 usage error.
 */
import { isatty } from 'node:tty'
import { reportError, runCommand, type CliCommand, type CommandContext } from './command.ts'
import { readStreamLimited } from './io.ts'
import { sanitizeForTerminal } from './output.ts'

/** A command-line program: its name, one line about it, its version and its commands. */
export interface CliProgram {
  readonly name: string
  readonly summary: string
  readonly version: string
  readonly commands: readonly CliCommand[]
  /** Lines after the command list in `--help`. */
  readonly footer?: readonly string[]
}

function topHelp(program: CliProgram): string {
  const width = Math.max(...program.commands.map((c) => c.name.length))
  return [
    `${program.name}: ${program.summary}`,
    '',
    `Usage: ${program.name} <command> [options]`,
    '',
    'Commands:',
    ...program.commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    ...(program.footer ?? []),
    `Run '${program.name} <command> --help' for the options of a command.`,
    'Exit status: 0 success, 1 failure (invalid token, unusable key), 2 usage error.',
    '',
  ].join('\n')
}

function groupHelp(program: CliProgram, group: string, commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [`Usage: ${program.name} ${group} <verb> [options]`, '', 'Commands:', ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), ''].join('\n')
}

// A word the user typed, echoed in an error: it may be a token pasted in the wrong place.
function quote(word: string): string {
  const clean = sanitizeForTerminal(word)
  return `"${clean.length > 40 ? `${clean.slice(0, 40)}…` : clean}"`
}

/**
 * Runs `argv` (without the program name) against the program's commands; resolves to the exit
 * status.
 *
 * @example
 * import { runCli } from 'hallpass/cli'
 * const status = await runCli(program, ['token', 'decode', token], context)
 */
export async function runCli(program: CliProgram, argv: readonly string[], context: CommandContext): Promise<number> {
  const [first, second] = argv
  const name = program.name
  if (first === '--help' || first === '-h') {
    context.stdout(topHelp(program))
    return 0
  }
  if (first === 'help') return runCli(program, [...argv.slice(1), '--help'], context)
  if (first === '--version' || first === '-v') {
    context.stdout(`${program.version}\n`)
    return 0
  }
  if (first === undefined || first.startsWith('-')) {
    context.stderr(`${first === undefined ? `${name}: no command given` : `${name}: unknown option ${quote(first)}`}\n\n${topHelp(program)}`)
    return 2
  }
  const twoWords = program.commands.find((c) => second !== undefined && c.name === `${first} ${second}`)
  if (twoWords) return runCommand(twoWords, argv.slice(2), context)
  const oneWord = program.commands.find((c) => c.name === first)
  if (oneWord) return runCommand(oneWord, argv.slice(1), context)

  const group = program.commands.filter((c) => c.name.startsWith(`${first} `))
  if (group.length > 0) {
    if (second === '--help' || second === '-h') {
      context.stdout(groupHelp(program, first, group))
      return 0
    }
    const what = second === undefined ? `"${first}" needs a command` : `unknown command ${quote(`${first} ${second}`)}`
    context.stderr(`${name}: ${what}\n\n${groupHelp(program, first, group)}`)
    return 2
  }
  context.stderr(`${name}: unknown command ${quote(first)}\n\n${topHelp(program)}`)
  return 2
}

/** The context of a real process: its standard streams, clock and environment. */
export function processContext(program: string): CommandContext {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: (maxBytes) => readStreamLimited(process.stdin, maxBytes),
    // isatty(0) rather than process.stdin.isTTY: merely creating process.stdin keeps the process
    // alive until the pipe closes, so `sleep 60 | hallpass --help` would wait a minute.
    stdinIsTty: isatty(0),
    now: Date.now,
    env: process.env,
    program,
  }
}

/** Runs the program on `process.argv` and sets `process.exitCode`. The body of a `bin` file. */
export async function runMain(program: CliProgram): Promise<void> {
  const context = processContext(program.name)
  // `hallpass token decode … | head -1` closes the pipe early; that is not an error worth a
  // stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') process.exitCode = 1
  })
  try {
    process.exitCode = await runCli(program, process.argv.slice(2), context)
  } catch (error) {
    process.exitCode = reportError(error, context)
  }
}
