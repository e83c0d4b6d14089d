// Keeps the error registry, its documentation and each class's shape in sync, both ways.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { errorClasses, HallpassError, isHallpassError } from '../src/errors.ts'

const docs = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Map(
  [...docs.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \| (credential|config|infrastructure) \|/gm)].map((m) => [m[1]!, m[2]!]),
)

function instantiate(cls: (typeof errorClasses)[number]): HallpassError {
  return new (cls as unknown as new (...args: unknown[]) => HallpassError)('x', 'y')
}

test('every error class is documented with its family, and every documented code exists', () => {
  const codes = errorClasses.map((cls) => cls.code)
  assert.equal(new Set(codes).size, codes.length, 'codes are unique')
  for (const cls of errorClasses) {
    const instance = instantiate(cls)
    assert.equal(documented.get(cls.code), instance.family, `${cls.code} is documented with family ${instance.family}`)
  }
  assert.deepEqual([...documented.keys()].sort(), [...codes].sort())
})

test('instances carry the static code, their class name, and narrow with isHallpassError', () => {
  for (const cls of errorClasses) {
    const instance = instantiate(cls)
    assert.equal(instance.code, cls.code)
    assert.match(instance.code, /^ERR_[A-Z]+_[A-Z0-9_]+$/)
    assert.equal(instance.name, cls.name)
    assert.ok(instance instanceof HallpassError && instance instanceof Error)
    assert.ok(isHallpassError(instance, cls.code))
  }
  assert.equal(isHallpassError(new Error('plain')), false)
})
