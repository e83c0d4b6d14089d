#!/usr/bin/env node
/**
 * @module hallpass/cli
 *
 * The `hallpass` command (package.json `bin`): key and token tools, here; `serve` and `users`
 * come from `@hallpass/server` when it is installed, and otherwise say how to get them.
 */
import { readFileSync } from 'node:fs'
import { keysGenerateCommand } from './commands/keys-generate.ts'
import { keysPublicCommand } from './commands/keys-public.ts'
import { tokenDecodeCommand } from './commands/token-decode.ts'
import { tokenSignCommand } from './commands/token-sign.ts'
import { tokenVerifyCommand } from './commands/token-verify.ts'
import { CliError, type CliCommand } from './command.ts'
import { runMain } from './run.ts'

const LOCAL: readonly CliCommand[] = [keysGenerateCommand, keysPublicCommand, tokenSignCommand, tokenVerifyCommand, tokenDecodeCommand]

/** The server's commands, or stand-ins that say where they live. */
async function serverCommands(): Promise<readonly CliCommand[]> {
  try {
    // Not a literal: this package does not depend on the server, and must build without it.
    const server: string = '@hallpass/server/cli'
    const { serverCommands: commands } = (await import(server)) as { serverCommands: readonly CliCommand[] }
    return commands
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error
    return ['serve', 'users add', 'users passwd', 'users set', 'users remove', 'users list'].map((name) => ({
      name,
      summary: '(in @hallpass/server: npm install @hallpass/server)',
      usage: '…',
      options: [],
      run: () => Promise.reject(new CliError(`"${name}" is part of the session server: npm install @hallpass/server, then run it again`)),
    }))
  }
}

// ../../package.json from both src/cli/main.ts and dist/cli/main.js.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

await runMain({
  name: 'hallpass',
  summary: 'JWT session management: the session server, its users, and token tools.',
  version,
  commands: [...(await serverCommands()), ...LOCAL],
})
