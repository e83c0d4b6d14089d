// The server's one subscription to its store, fanned out to the feed's streams: entries reach
// every sink once, in order; a subscription that died without a word is made up for by the head
// check; a store that cannot be read makes the hub unhealthy, and readable again, healthy.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { createSessionManager, type RevocationEntry, type SessionStore } from 'hallpass'
import { createSqliteStore } from 'hallpass/stores/sqlite'
import { createRevocationHub } from '../src/revocation-hub.ts'

const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const close of closers.reverse()) await close()
})

async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await delay(10)
  }
}

async function setup(wrap: (store: SessionStore) => SessionStore): Promise<{ store: SessionStore; revoke: () => Promise<string> }> {
  const store = createSqliteStore({ path: ':memory:' })
  closers.push(() => store.close())
  const manager = await createSessionManager({ store, secret: randomBytes(32), issuer: 'https://auth.test' })
  return {
    store: wrap(store),
    async revoke() {
      const issued = await manager.create({ subject: 'hub' })
      await manager.revoke(issued.session.id, 'logout')
      return issued.session.id
    },
  }
}

describe('revocation hub', () => {
  test('a subscription that delivers nothing: the head check fans the entries out within an interval, once each', async () => {
    const { store, revoke } = await setup((inner) =>
      Object.assign(Object.create(inner) as SessionStore, { subscribeRevocations: () => Promise.resolve(() => Promise.resolve()) }),
    )
    const hub = await createRevocationHub(store, { pollIntervalMs: 100 })
    closers.push(() => hub.close())
    const received: RevocationEntry[] = []
    hub.add((entry) => received.push(entry))
    const sids = [await revoke(), await revoke()]
    const started = Date.now()
    await until(() => received.length === 2, 'both entries')
    assert.ok(Date.now() - started < 1000)
    await delay(300)
    assert.deepEqual(received.map((e) => e.sid), sids, 'each once, in feed order')
  })

  test('a working subscription and the head check together still deliver each entry once', async () => {
    const { store, revoke } = await setup((inner) => inner)
    const hub = await createRevocationHub(store, { pollIntervalMs: 20 })
    closers.push(() => hub.close())
    const received: string[] = []
    hub.add((entry) => received.push(entry.sid))
    const sids: string[] = []
    for (let i = 0; i < 10; i++) sids.push(await revoke())
    await until(() => received.length >= 10, 'every entry')
    await delay(200)
    assert.deepEqual(received, sids)
  })

  test('a store that cannot be read: unhealthy after two failed reads, healthy again after one good one', async () => {
    let readable = true
    const { store } = await setup((inner) =>
      Object.assign(Object.create(inner) as SessionStore, {
        headCursor: () => (readable ? inner.headCursor() : Promise.reject(new Error('connection refused'))),
      }),
    )
    const hub = await createRevocationHub(store, { pollIntervalMs: 30 })
    closers.push(() => hub.close())
    const changes: boolean[] = []
    hub.onHealthChange((healthy) => changes.push(healthy))
    assert.equal(hub.healthy, true)
    readable = false
    await until(() => !hub.healthy, 'unhealthy')
    readable = true
    await until(() => hub.healthy, 'healthy again')
    assert.deepEqual(changes, [false, true])
  })
})
