/**
 * @module hallpass/cli
 *
 * Argument parsing shared by every command, on `node:util` `parseArgs` (no CLI framework).
 * A command declares its options once; the same table drives parsing and `--help`.
 */
import { parseArgs } from 'node:util'
import { sanitizeForTerminal } from './output.ts'

/** One `--name` option of a command. */
export interface OptionSpec {
  readonly name: string
  /** `string` options take a value (`--key FILE`); `boolean` ones are flags. */
  readonly type: 'string' | 'boolean'
  /** The value placeholder shown in help (`FILE`, `ALG`). */
  readonly value?: string
  /** Whether the option may repeat (`--aud a --aud b`). */
  readonly multiple?: boolean
  readonly help: string
}

/** What a command's `run` receives. */
export interface ParsedArgs {
  readonly positionals: readonly string[]
  /** The value of a string option, or undefined. */
  string(name: string): string | undefined
  /** Every value of a repeatable string option (empty when absent). */
  strings(name: string): readonly string[]
  /** Whether a boolean option was given. */
  flag(name: string): boolean
  /** Whether an option was given at all. */
  has(name: string): boolean
}

/**
 * A mistake in how the command was called: unknown command or option, missing or conflicting
 * options, or an option value that does not parse. The CLI prints it with the usage line and
 * exits with status 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

const HELP_OPTION: OptionSpec = { name: 'help', type: 'boolean', help: 'Show this help.' }

/** True when `argv` asks for help (`--help` or `-h`) before any `--` separator. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false
    if (arg === '--help' || arg === '-h') return true
  }
  return false
}

/**
 * Parses `argv` against the option table. Strict: an unknown option, a string option without
 * a value or a boolean one with a value is a `UsageError`. Positionals are always allowed
 * here and counted by the command, so that an unexpected one (possibly a token pasted in the
 * wrong place) is never echoed back.
 */
export function parseCommandArgs(argv: readonly string[], options: readonly OptionSpec[]): ParsedArgs {
  const config: ParseConfig = {}
  for (const option of [...options, HELP_OPTION]) {
    config[option.name] = { type: option.type, ...(option.multiple ? { multiple: true } : {}), ...(option === HELP_OPTION ? { short: 'h' } : {}) }
  }
  let parsed: ReturnType<typeof parseWithTokens>
  try {
    parsed = parseWithTokens(argv, config)
  } catch (error) {
    throw toUsageError(error)
  }
  const { values, positionals, tokens } = parsed
  // parseArgs silently keeps the last of a repeated option; `--iss a --iss b` is more likely a
  // mistake than an intent, so a non-repeatable option given twice is refused.
  const seen = new Set<string>()
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const spec = options.find((o) => o.name === token.name)
    if (spec !== undefined && !spec.multiple && seen.has(token.name)) throw new UsageError(`--${token.name} was given more than once`)
    seen.add(token.name)
  }
  return Object.freeze({
    positionals: Object.freeze([...positionals]),
    string(name: string): string | undefined {
      const value = values[name]
      if (Array.isArray(value)) return typeof value[value.length - 1] === 'string' ? (value[value.length - 1] as string) : undefined
      return typeof value === 'string' ? value : undefined
    },
    strings(name: string): readonly string[] {
      const value = values[name]
      if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
      return typeof value === 'string' ? [value] : []
    },
    flag(name: string): boolean {
      return values[name] === true
    },
    has(name: string): boolean {
      return values[name] !== undefined
    },
  })
}

// parseArgs messages quote the offending argument; the argument may be anything the user
// typed (a token, a secret pasted by mistake), so only the option name is kept, shortened
// and stripped of control characters.
function toUsageError(error: unknown): UsageError {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  const message = error instanceof Error ? error.message : ''
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? ''
  const name = shorten(/--[A-Za-z0-9-]+/.exec(quoted)?.[0] ?? quoted.split('=')[0] ?? '')
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${name}`)
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('does not take an argument')) return new UsageError(`${name} does not take a value`)
      if (message.includes('ambiguous')) return new UsageError(`${name} needs a value (for a value that starts with "-", write ${name}=VALUE)`)
      return new UsageError(`${name} needs a value`)
    default:
      return new UsageError('the arguments could not be parsed')
  }
}

type ParseConfig = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>

function parseWithTokens(argv: readonly string[], config: ParseConfig) {
  return parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true, tokens: true })
}

function shorten(text: string): string {
  const clean = sanitizeForTerminal(text)
  return clean.length > 40 ? `${clean.slice(0, 40)}…` : clean
}

/** Help text for one command, rendered from its option table. */
export function formatCommandHelp(command: {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly options: readonly OptionSpec[]
  readonly details?: string
}): string {
  const rows = [...command.options, HELP_OPTION].map((o) => {
    const left = `--${o.name}${o.value ? ` ${o.value}` : ''}${o.name === 'help' ? ', -h' : ''}`
    return [left, o.help + (o.multiple ? ' (repeatable)' : '')] as const
  })
  const width = Math.max(...rows.map(([left]) => left.length))
  const lines = [
    `${command.summary}`,
    '',
    `Usage: hallpass ${command.name} ${command.usage}`.trimEnd(),
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
  ]
  if (command.details) lines.push('', command.details)
  return lines.join('\n') + '\n'
}
