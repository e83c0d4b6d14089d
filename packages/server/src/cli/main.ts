#!/usr/bin/env node
/**
 * @module @hallpass/server/cli
 *
 * The `hallpass-server` command (package.json `bin`): the session server and its user table.
 * `hallpass serve` does the same when both packages are installed.
 */
import { readFileSync } from 'node:fs'
import { runMain } from 'hallpass/cli'
import { serverCommands } from './index.ts'

// ../../package.json from both src/cli/main.ts and dist/cli/main.js.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

await runMain({
  name: 'hallpass-server',
  summary: 'the hallpass session server and its users.',
  version,
  commands: serverCommands,
})
