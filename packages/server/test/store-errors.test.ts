// The relay between stores (opened first) and the server's logger (made later).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createStoreErrorRelay } from '../src/store-errors.ts'

test('errors reported before a sink is attached are held (the latest 50) and delivered on attach, in order', () => {
  const relay = createStoreErrorRelay()
  for (let i = 0; i < 60; i++) relay.report(new Error(`e${i}`))
  const seen: string[] = []
  relay.attach((error) => seen.push((error as Error).message))
  assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => `e${i + 10}`))
  relay.report(new Error('live'))
  assert.equal(seen.at(-1), 'live')
})

test('a detached sink receives nothing more; errors are held again for the next one', () => {
  const relay = createStoreErrorRelay()
  const first: unknown[] = []
  const detach = relay.attach((error) => first.push(error))
  relay.report('a')
  detach()
  relay.report('b')
  assert.deepEqual(first, ['a'])
  const second: unknown[] = []
  relay.attach((error) => second.push(error))
  assert.deepEqual(second, ['b'])
})
