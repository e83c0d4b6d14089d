// The README stays true: its CLI block runs as printed (bash -e, with `npx hallpass` being this
// checkout's CLI), and every environment variable the server reads is in its table.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ENVIRONMENT_VARIABLES, OTHER_ENVIRONMENT_VARIABLES } from '@hallpass/server'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The first fenced block after `heading`. */
function blockAfter(heading: string): string {
  const at = README.indexOf(heading)
  assert.ok(at !== -1, `README has "${heading}"`)
  const block = /```(?:sh|bash)\n([\s\S]*?)```/.exec(README.slice(at))
  assert.ok(block !== null, `a shell block after "${heading}"`)
  return block[1]!
}

describe('README', () => {
  test('the CLI block runs as printed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hallpass-readme-'))
    try {
      const cli = `TSX_TSCONFIG_PATH=${JSON.stringify(join(ROOT, 'tsconfig.json'))} ${JSON.stringify(process.execPath)} --import ${JSON.stringify(join(ROOT, 'node_modules/tsx/dist/loader.mjs'))} ${JSON.stringify(join(ROOT, 'packages/hallpass/src/cli/main.ts'))}`
      const script = blockAfter('## CLI').replaceAll('npx hallpass', cli)
      const { stdout } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8', timeout: 60_000 }, (error, out, err) => {
          if (error !== null) reject(new Error(`the README's CLI block failed: ${err}`, { cause: error }))
          else resolve({ stdout: out, stderr: err })
        })
      })
      // verify printed the claims it checked, then decode printed the same token.
      assert.match(stdout, /"iss": "https:\/\/auth\.example\.com"/)
      assert.match(stdout, /"sub": "alice"/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('every environment variable of the server is in its table', () => {
    for (const name of [...Object.keys(ENVIRONMENT_VARIABLES), ...Object.keys(OTHER_ENVIRONMENT_VARIABLES)]) {
      assert.ok(README.includes(`\`${name}\``), `${name} is documented`)
    }
  })
})
