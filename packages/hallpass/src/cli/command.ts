/**
 * @module hallpass/cli
 *
 * The shape of a CLI command and the one place where errors become exit statuses:
 * - 0: success;
 * - 1: the operation failed (invalid token, unusable key, unreadable file): `CODE: message`;
 * - 2: the command was called wrongly (unknown option, bad `--claims` JSON, bad duration).
 *
 * Commands get their I/O through a `CommandContext`, so `main.ts` is the only module that
 * touches `process`, and tests can run a command in-process against captured output.
 */
import { HallpassError } from '../errors.ts'
import { formatCommandHelp, parseCommandArgs, UsageError, wantsHelp, type OptionSpec, type ParsedArgs } from './args.ts'
import { sanitizeForTerminal } from './output.ts'

/** Everything a command may use from the outside world. */
export interface CommandContext {
  /** Writes to standard output. */
  readonly stdout: (text: string) => void
  /** Writes to standard error. */
  readonly stderr: (text: string) => void
  /**
   * Reads all of standard input, or throws `InputTooLarge` as soon as more than `maxBytes`
   * arrived (the rest is never buffered).
   */
  readonly readStdin: (maxBytes: number) => Promise<Buffer>
  /** True when standard input is a terminal (nothing piped): a command then must not wait on it. */
  readonly stdinIsTty: boolean
  /** Clock in milliseconds. */
  readonly now: () => number
  /** Environment variables (commands read `HALLPASS_*`; `HALLPASS_DEBUG=1` shows internal errors). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The command's own name in messages (default `hallpass`). */
  readonly program?: string
}

/** One `hallpass <group> <verb>` command. */
export interface CliCommand {
  /** The words that select it: `token sign`. */
  readonly name: string
  /** One line for `hallpass --help`. */
  readonly summary: string
  /** What follows the name in the usage line. */
  readonly usage: string
  readonly options: readonly OptionSpec[]
  /** Extra help text after the option list. */
  readonly details?: string
  /** Runs the command and returns its exit status. Throws `UsageError`, `CliError` or a `HallpassError`. */
  run(args: ParsedArgs, context: CommandContext): Promise<number>
}

/** An operational failure that has no hallpass error code (an unreadable file): exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError'
}

/** Standard input (or a file) was larger than the limit; nothing beyond the limit was read. */
export class InputTooLarge extends Error {
  override readonly name = 'InputTooLarge'
  readonly limit: number
  constructor(limit: number) {
    super(`input exceeds ${limit} bytes`)
    this.limit = limit
  }
}

// Facts a HallpassError carries in fields, printed after its message unless the
// message already ends with them. They can come from a token (`kid`, `alg`), so they are
// sanitized like everything else.
const ERROR_FIELDS = ['claim', 'reason', 'kid', 'alg', 'parameter'] as const

/** `CODE: message (field: value, …)` for a hallpass error, with nothing left unsanitized. */
export function describeHallpassError(error: HallpassError): string {
  const record = error as unknown as Record<string, unknown>
  const facts: string[] = []
  for (const field of ERROR_FIELDS) {
    const value = record[field]
    if ((typeof value === 'string' || typeof value === 'number') && !error.message.endsWith(`: ${value}`)) facts.push(`${field}: ${value}`)
  }
  return sanitizeForTerminal(`${error.code}: ${error.message}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`)
}

/** Runs one command with its arguments: help, parsing, and the mapping of errors to statuses. */
export async function runCommand(command: CliCommand, argv: readonly string[], context: CommandContext): Promise<number> {
  if (wantsHelp(argv)) {
    context.stdout(formatCommandHelp(command))
    return 0
  }
  try {
    return await command.run(parseCommandArgs(argv, command.options), context)
  } catch (error) {
    return reportError(error, context, command)
  }
}

/** Prints an error to stderr the way every command does, and returns the exit status. */
export function reportError(error: unknown, context: CommandContext, command?: CliCommand): number {
  const program = context.program ?? 'hallpass'
  if (error instanceof UsageError) {
    context.stderr(`${program}: ${sanitizeForTerminal(error.message)}\n`)
    if (command) {
      context.stderr(`Usage: ${program} ${command.name} ${command.usage}\nRun '${program} ${command.name} --help' for details.\n`)
    }
    return 2
  }
  if (error instanceof HallpassError) {
    context.stderr(`${describeHallpassError(error)}\n`)
    return 1
  }
  if (error instanceof CliError) {
    context.stderr(`${program}: ${sanitizeForTerminal(error.message)}\n`)
    return 1
  }
  // Anything else is a bug. Its message may quote input (V8's JSON.parse errors quote the
  // text, which could be key material), so only the class name is shown unless asked for.
  const name = error instanceof Error ? error.name : typeof error
  if (context.env.HALLPASS_DEBUG === '1' && error instanceof Error) {
    context.stderr(`${program}: internal error\n${sanitizeForTerminal(error.stack ?? error.message)}\n`)
  } else {
    context.stderr(`${program}: internal error (${sanitizeForTerminal(name)}); set HALLPASS_DEBUG=1 for details\n`)
  }
  return 1
}
