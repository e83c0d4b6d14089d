// The built-in credential check (createUserTableCheck) on a real user table: a disabled user is
// refused with the answer a wrong password gets, after the same argon2 work, and nothing is
// written for them; the admin flag changes nothing about a login.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import argon2 from 'argon2'
import Database from 'better-sqlite3'
import { createSqliteUserStore } from 'hallpass/stores/sqlite'
import type { UserStore } from 'hallpass/users'
import { createUserTableCheck } from '../src/index.ts'
import { ARGON2_OPTIONS, hashPassword } from '../src/passwords.ts'

const PASSWORD = 'correct horse battery staple'
const T0 = Date.UTC(2030, 0, 1)

function userTable(): { users: UserStore; close: () => void } {
  const database = new Database(':memory:')
  return { users: createSqliteUserStore({ database }), close: () => database.close() }
}

/** Median times of `a` and `b`, sampled in turns so a busy moment of the machine hits both alike. */
async function medians(runs: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []]
  const time = async (work: () => Promise<unknown>, into: number[]): Promise<void> => {
    const started = process.hrtime.bigint()
    await work()
    into.push(Number(process.hrtime.bigint() - started) / 1e6)
  }
  for (let i = 0; i < runs; i++) {
    await time(a, times[0])
    await time(b, times[1])
  }
  const middle = (values: number[]): number => values.sort((x, y) => x - y)[Math.floor(runs / 2)]!
  return [middle(times[0]), middle(times[1])]
}

describe('createUserTableCheck', () => {
  it('a disabled user with the right password is refused exactly as a wrong password is; enabled again, they log in', async () => {
    const { users, close } = userTable()
    try {
      const passwordHash = await hashPassword(PASSWORD)
      await users.createUser({ username: 'alice', passwordHash, createdAt: T0, updatedAt: T0 })
      await users.createUser({ username: 'root', passwordHash, createdAt: T0, updatedAt: T0, admin: true })
      const check = createUserTableCheck(users)
      assert.deepEqual(await check('alice', PASSWORD), { subject: 'alice' })
      // The admin flag is the caller's business: the check answers the same, with nothing added.
      assert.deepEqual(await check('root', PASSWORD), { subject: 'root' })

      assert.equal(await users.updateUser('alice', { disabled: true }, T0 + 1), true)
      const refused = await check('alice', PASSWORD)
      assert.equal(refused, undefined)
      assert.equal(refused, await check('alice', 'wrong password'))
      assert.equal(refused, await check('nobody', PASSWORD))
      // Disabling an admin refuses them too.
      await users.updateUser('root', { disabled: true }, T0 + 1)
      assert.equal(await check('root', PASSWORD), undefined)

      await users.updateUser('alice', { disabled: false }, T0 + 2)
      assert.deepEqual(await check('alice', PASSWORD), { subject: 'alice' })
    } finally {
      close()
    }
  })

  it('the hash is verified for a disabled user: the refusal takes as long as a wrong password', async () => {
    const { users, close } = userTable()
    try {
      const passwordHash = await hashPassword(PASSWORD)
      await users.createUser({ username: 'alice', passwordHash, createdAt: T0, updatedAt: T0, disabled: true })
      await users.createUser({ username: 'bob', passwordHash, createdAt: T0, updatedAt: T0 })
      const check = createUserTableCheck(users)
      await check('bob', 'warm-up: the dummy hash and argon2 itself')
      const [disabled, wrong] = await medians(9, () => check('alice', PASSWORD), () => check('bob', 'wrong password'))
      // argon2id at these parameters takes tens of milliseconds; a check that returned before
      // verifying would take well under one. The bound is loose so a busy machine cannot fail it.
      assert.ok(disabled > wrong * 0.5, `disabled ${disabled.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms`)
      assert.ok(wrong > 2, `argon2 took ${wrong.toFixed(1)} ms: too fast for this test to mean anything`)
    } finally {
      close()
    }
  })

  it('a disabled user\'s old-parameter hash is not upgraded (nothing is written for a refused login); an enabled user\'s is', async () => {
    const { users, close } = userTable()
    try {
      const weak = await argon2.hash(PASSWORD, { ...ARGON2_OPTIONS, memoryCost: 4096, timeCost: 1 })
      await users.createUser({ username: 'alice', passwordHash: weak, createdAt: T0, updatedAt: T0, disabled: true })
      await users.createUser({ username: 'bob', passwordHash: weak, createdAt: T0, updatedAt: T0 })
      const check = createUserTableCheck(users)
      assert.equal(await check('alice', PASSWORD), undefined)
      assert.deepEqual(await users.getUser('alice'), { username: 'alice', passwordHash: weak, createdAt: T0, updatedAt: T0, admin: false, disabled: true })
      assert.deepEqual(await check('bob', PASSWORD), { subject: 'bob' })
      assert.notEqual((await users.getUser('bob'))?.passwordHash, weak)
    } finally {
      close()
    }
  })
})
