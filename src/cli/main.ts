#!/usr/bin/env node
/**
 * @module hallpass/cli
 *
 * The `hallpass` command (package.json `bin`). A composition root (STYLE.md §1): the only
 * module here that touches `process`. It dispatches `hallpass <group> <verb>` (or a one-word
 * command) to the command modules through `COMMANDS`; a new command is one module and one
 * line in that table.
 *
 * Exit status: 0 success, 1 failure (invalid token, unusable key), 2 usage error.
 */
import { readFileSync } from 'node:fs'
import { isatty } from 'node:tty'
import { reportError, runCommand, type CliCommand, type CommandContext } from './command.ts'
import { keysGenerateCommand } from './commands/keys-generate.ts'
import { serveCommand } from './commands/serve.ts'
import { tokenDecodeCommand } from './commands/token-decode.ts'
import { tokenSignCommand } from './commands/token-sign.ts'
import { tokenVerifyCommand } from './commands/token-verify.ts'
import { usersAddCommand, usersListCommand, usersPasswdCommand, usersRemoveCommand } from './commands/users.ts'
import { readStreamLimited } from './io.ts'
import { sanitizeForTerminal } from './output.ts'

const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  usersAddCommand,
  usersPasswdCommand,
  usersRemoveCommand,
  usersListCommand,
  keysGenerateCommand,
  tokenSignCommand,
  tokenVerifyCommand,
  tokenDecodeCommand,
]

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'hallpass: JWT session management. The session server, its users, and token tools.',
    '',
    'Usage: hallpass <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'hallpass <command> --help' for the options of a command.",
    'Exit status: 0 success, 1 failure (invalid token, unusable key), 2 usage error.',
    '',
  ].join('\n')
}

function groupHelp(group: string, commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [`Usage: hallpass ${group} <verb> [options]`, '', 'Commands:', ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), ''].join('\n')
}

function version(): string {
  // ../../package.json from both src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown'
}

// A word the user typed, echoed in an error: it may be a token pasted in the wrong place.
function quote(word: string): string {
  const clean = sanitizeForTerminal(word)
  return `"${clean.length > 40 ? `${clean.slice(0, 40)}…` : clean}"`
}

async function main(argv: readonly string[], context: CommandContext): Promise<number> {
  const [first, second] = argv
  if (first === '--help' || first === '-h') {
    context.stdout(topHelp())
    return 0
  }
  if (first === 'help') return main([...argv.slice(1), '--help'], context)
  if (first === '--version' || first === '-v') {
    context.stdout(`${version()}\n`)
    return 0
  }
  if (first === undefined || first.startsWith('-')) {
    context.stderr(`${first === undefined ? 'hallpass: no command given' : `hallpass: unknown option ${quote(first)}`}\n\n${topHelp()}`)
    return 2
  }
  const twoWords = COMMANDS.find((c) => second !== undefined && c.name === `${first} ${second}`)
  if (twoWords) return runCommand(twoWords, argv.slice(2), context)
  const oneWord = COMMANDS.find((c) => c.name === first)
  if (oneWord) return runCommand(oneWord, argv.slice(1), context)

  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `))
  if (group.length > 0) {
    if (second === '--help' || second === '-h') {
      context.stdout(groupHelp(first, group))
      return 0
    }
    const what = second === undefined ? `"${first}" needs a command` : `unknown command ${quote(`${first} ${second}`)}`
    context.stderr(`hallpass: ${what}\n\n${groupHelp(first, group)}`)
    return 2
  }
  context.stderr(`hallpass: unknown command ${quote(first)}\n\n${topHelp()}`)
  return 2
}

const context: CommandContext = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  readStdin: (maxBytes) => readStreamLimited(process.stdin, maxBytes),
  // isatty(0) rather than process.stdin.isTTY: merely creating process.stdin keeps the process
  // alive until the pipe closes, so `sleep 60 | hallpass --help` would wait a minute.
  stdinIsTty: isatty(0),
  now: Date.now,
  env: process.env,
}

// `hallpass token decode … | head -1` closes the pipe early; that is not an error worth a
// stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') process.exitCode = 1
})

try {
  process.exitCode = await main(process.argv.slice(2), context)
} catch (error) {
  process.exitCode = reportError(error, context)
}
