// The package as users get it: `tsc` builds dist/, every `exports` subpath resolves and loads
// under plain Node (no tsx), the bin runs, and the main entry loads none of the optional
// drivers or the server framework (STYLE.md §2).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('package.json', `file://${root}`), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>
  bin: Record<string, string>
}

function node(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })
}

describe('the built package', () => {
  before(() => {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  })

  it('every export subpath has its types and JavaScript, and loads under plain Node', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      assert.ok(existsSync(`${root}${target.default}`), `${subpath}: ${target.default} exists`)
      assert.ok(existsSync(`${root}${target.types}`), `${subpath}: ${target.types} exists`)
      const specifier = subpath === '.' ? 'hallpass' : `hallpass${subpath.slice(1)}`
      const keys = node(`const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`)
      assert.ok(Number(keys) > 0, `${specifier} exports something`)
    }
  })

  it('the main entry loads no driver and no server framework', () => {
    const loaded = node(`
      import { createRequire } from 'node:module'
      await import('hallpass')
      const require = createRequire(import.meta.url)
      console.log(JSON.stringify(Object.keys(require.cache)))
    `)
    for (const name of ['/node_modules/pg/', '/node_modules/ioredis/', '/node_modules/fastify/', '/node_modules/better-sqlite3/', '/node_modules/argon2/']) {
      assert.ok(!loaded.includes(name), `hallpass must not load ${name}`)
    }
  })

  it('the bin runs from dist', () => {
    const bin = Object.values(pkg.bin)[0]!
    const help = execFileSync(process.execPath, [`${root}${bin}`, '--help'], { encoding: 'utf8' })
    assert.match(help, /hallpass serve|serve/)
    assert.match(readFileSync(`${root}${bin}`, 'utf8'), /^#!\/usr\/bin\/env node/)
  })
})
