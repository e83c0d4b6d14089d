/**
 * @module @hallpass/server/cli
 *
 * The server's commands: `serve` and `users add|passwd|set|remove|list`. The `hallpass` command of
 * the `hallpass` package lists them when this package is installed; `hallpass-server` runs them
 * on their own. Importing this module loads neither Fastify nor a database driver.
 */
import type { CliCommand } from 'hallpass/cli'
import { serveCommand } from './serve.ts'
import { usersAddCommand, usersListCommand, usersPasswdCommand, usersRemoveCommand, usersSetCommand } from './users.ts'

export { serveCommand } from './serve.ts'
export { usersAddCommand, usersListCommand, usersPasswdCommand, usersRemoveCommand, usersSetCommand } from './users.ts'

/** Every command of the server, in the order `--help` lists them. */
export const serverCommands: readonly CliCommand[] = [serveCommand, usersAddCommand, usersPasswdCommand, usersSetCommand, usersRemoveCommand, usersListCommand]
