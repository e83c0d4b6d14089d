// The ledger of rotations whose answer may have been lost (src/session/undelivered.ts): what it
// asks the store, when, and what it keeps. The store is a recording stand-in; the session
// conformance suite runs the whole path on the real stores.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StoreUnavailable } from '../../../src/errors.ts'
import type { MarkUndeliveredInput, SessionStore } from '../../../src/session/store.ts'
import { createUndeliveredLedger } from '../../../src/session/undelivered.ts'

function setup(options: { maxEntries?: number; committed?: (input: MarkUndeliveredInput) => boolean } = {}) {
  let t = 1_000_000
  const calls: MarkUndeliveredInput[] = []
  let failing = false
  const store = {
    markUndelivered: (input: MarkUndeliveredInput) => {
      calls.push(input)
      if (failing) return Promise.reject(new StoreUnavailable('down (simulated)'))
      return Promise.resolve(options.committed?.(input) ?? true)
    },
  } as unknown as SessionStore
  const ledger = createUndeliveredLedger({ store, now: () => t, settleMs: 5_000, maxAgeMs: 60_000, maxEntries: options.maxEntries ?? 100 })
  return {
    ledger,
    calls,
    advance: (ms: number) => void (t += ms),
    fail: (on: boolean) => void (failing = on),
    now: () => t,
  }
}

const entry = (id: string, rotatedAt?: number): MarkUndeliveredInput => ({ id, generation: 1, hash: `h-${id}`, ...(rotatedAt !== undefined ? { rotatedAt } : {}) })

describe('undelivered ledger', () => {
  it('reconcile leaves an entry alone until it has settled, then writes it once', async () => {
    const { ledger, calls, advance, now } = setup()
    ledger.remember(entry('a', now()))
    assert.equal(await ledger.reconcile(), 0)
    assert.equal(calls.length, 0)
    advance(5_000)
    assert.equal(await ledger.reconcile(), 1)
    assert.deepEqual(calls, [entry('a', now() - 5_000)])
    assert.equal(ledger.size, 0)
    assert.equal(await ledger.reconcile(), 0)
    assert.equal(calls.length, 1)
  })

  it('settle writes at once, and only the entry of that successor', async () => {
    const { ledger, calls } = setup()
    ledger.remember(entry('a', 1))
    await ledger.settle('a', 'h-other')
    await ledger.settle('b', 'h-b')
    assert.equal(calls.length, 0)
    await ledger.settle('a', 'h-a')
    assert.equal(calls.length, 1)
    assert.equal(ledger.size, 0)
  })

  it('a store failure keeps the entry for the next pass; concurrent passes share one', async () => {
    const { ledger, calls, advance, fail } = setup()
    ledger.remember(entry('a', 1))
    ledger.remember(entry('b', 2))
    advance(5_000)
    fail(true)
    await assert.rejects(ledger.reconcile(), { code: 'ERR_STORE_UNAVAILABLE' })
    assert.equal(calls.length, 1, 'the pass stops at the first failure')
    assert.equal(ledger.size, 2)
    await assert.rejects(ledger.settle('a', 'h-a'), { code: 'ERR_STORE_UNAVAILABLE' })
    fail(false)
    const [one, two] = await Promise.all([ledger.reconcile(), ledger.reconcile()])
    assert.equal(one, 2)
    assert.equal(two, 2)
    assert.deepEqual(calls.slice(2).map((c) => c.id), ['a', 'b'])
    assert.equal(ledger.size, 0)
  })

  it('the failed calls of one successor are checked, the first four and the latest four; a reported answer checks any time', async () => {
    const { ledger, calls, advance } = setup({ committed: (input) => input.rotatedAt === 3 })
    for (const at of [1, 2, 3, 4, 5]) ledger.remember(entry('a', at))
    advance(5_000)
    assert.equal(await ledger.reconcile(), 1)
    assert.deepEqual(calls.map((c) => c.rotatedAt), [1, 2, 3])
    calls.length = 0
    // A client retrying all through an outage: the call in flight when the store went away
    // (the first) is the one that may have committed, however many failed after it.
    const first = setup({ committed: (input) => input.rotatedAt === 1 })
    for (let at = 1; at <= 200; at++) first.ledger.remember(entry('a', at))
    first.advance(5_000)
    assert.equal(await first.ledger.reconcile(), 1)
    assert.deepEqual(first.calls.map((c) => c.rotatedAt), [1])
    const last = setup({ committed: () => false })
    for (let at = 1; at <= 200; at++) last.ledger.remember(entry('a', at))
    last.advance(5_000)
    assert.equal(await last.ledger.reconcile(), 0)
    assert.deepEqual(last.calls.map((c) => c.rotatedAt), [1, 2, 3, 4, 197, 198, 199, 200])
    ledger.remember(entry('b', 7))
    ledger.remember(entry('b'))
    ledger.remember(entry('b', 8))
    // Another successor of the same session supersedes what was known of the older one.
    ledger.remember(entry('c', 1))
    ledger.remember({ ...entry('c', 2), hash: 'h-newer' })
    advance(5_000)
    await ledger.reconcile()
    assert.deepEqual(calls, [entry('b'), { ...entry('c', 2), hash: 'h-newer' }])
  })

  it('is bounded: the oldest entries go first, and entries past their age are dropped unasked', async () => {
    const { ledger, calls, advance } = setup({ maxEntries: 2 })
    ledger.remember(entry('a', 1))
    ledger.remember(entry('b', 1))
    ledger.remember(entry('c', 1))
    assert.equal(ledger.size, 2)
    advance(61_000)
    ledger.remember(entry('d', 2))
    advance(5_000)
    assert.equal(await ledger.reconcile(), 1)
    assert.deepEqual(calls.map((c) => c.id), ['d'])
    assert.equal(ledger.size, 0)
    ledger.remember(entry('e', 3))
    ledger.forget('e')
    assert.equal(ledger.size, 0)
  })
})
