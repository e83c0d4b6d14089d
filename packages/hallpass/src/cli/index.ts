/**
 * @module hallpass/cli
 *
 * The command-line kit the `hallpass` and `hallpass-server` commands are built with: a command
 * is `{ name, summary, usage, options, run(args, context) }`, and `runCli` dispatches, prints
 * help and maps errors to exit statuses. `@hallpass/server` adds its commands with it.
 */
export { parseCommandArgs, UsageError, type OptionSpec, type ParsedArgs } from './args.ts'
export { CliError, reportError, runCommand, type CliCommand, type CommandContext } from './command.ts'
export { readFileLimited, readStreamLimited } from './io.ts'
export { formatJson, sanitizeForTerminal } from './output.ts'
export { processContext, runCli, runMain, type CliProgram } from './run.ts'
export { formatDuration, parseDuration } from '../internal/durations.ts'
