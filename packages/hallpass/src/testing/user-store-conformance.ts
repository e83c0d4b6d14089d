/**
 * @module hallpass/testing
 *
 * The behaviour suite every `UserStore` (the built-in user table of `hallpass serve`) must pass:
 * SQLite, PostgreSQL, Redis, and any user store you write. It runs on `node:test`; each case
 * gets a fresh, empty store from your factory, cleans it up afterwards, and depends on no other
 * case. Password hashes here are well-formed PHC strings with random salts, not real argon2
 * output: a store keeps the text, it never checks a password.
 *
 * A store that existed before the `admin` and `disabled` flags must also read the records it
 * stored then as `false`/`false`: that depends on how the store versions its schema, so each
 * store's own tests prove it (`packages/hallpass/test/stores/users-*.test.ts` here).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { isHallpassError } from '../errors.ts'
import type { NewUserRecord, UserChanges, UserRecord, UserStore, UserSummary } from '../users/user-store.ts'
import { normalizeUsername } from '../users/usernames.ts'

/** A fresh, empty user store for one case, and how to dispose of it. */
export interface UserStoreUnderTest {
  readonly store: UserStore
  cleanup(): Promise<void>
}

export interface UserStoreConformanceOptions {
  /** Skip the whole suite, saying why (e.g. `'Redis not reachable at …'`); `false` runs it. */
  readonly skip?: string | false
}

/** The default `createdAt` of fixtures: 2030-01-01T00:00:00Z, far from the wall clock. */
const USER_FIXTURE_NOW = Date.UTC(2030, 0, 1)

function phcHash(): string {
  // The shape argon2 writes: salt and hash in unpadded base64.
  const b64 = (n: number): string => randomBytes(n).toString('base64').replace(/=+$/, '')
  return `$argon2id$v=19$m=19456,t=2,p=1$${b64(16)}$${b64(32)}`
}

/**
 * Builds a `UserRecord` for user store tests: username `alice`, a random PHC-shaped argon2id
 * hash, created and updated at 2030-01-01T00:00:00Z, neither admin nor disabled. Overrides win.
 *
 * @example
 * import { userRecordFixture } from 'hallpass/testing'
 * const alice = userRecordFixture({ username: 'alice' })
 * assert.equal(await users.createUser(alice), true)
 */
export function userRecordFixture(overrides: Partial<UserRecord> = {}): UserRecord {
  const defaults: UserRecord = { username: 'alice', passwordHash: phcHash(), createdAt: USER_FIXTURE_NOW, updatedAt: USER_FIXTURE_NOW, admin: false, disabled: false }
  return { ...defaults, ...overrides }
}

/** UTF-8 byte order, which is code point order: the order `listUsers` promises. */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function summary(user: UserRecord): UserSummary {
  return { username: user.username, createdAt: user.createdAt, updatedAt: user.updatedAt, admin: user.admin, disabled: user.disabled }
}

const RECORD_KEYS = ['admin', 'createdAt', 'disabled', 'passwordHash', 'updatedAt', 'username']
const SUMMARY_KEYS = ['admin', 'createdAt', 'disabled', 'updatedAt', 'username']

async function rejectsWithCode(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isHallpassError(error), `${what}: expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code, what)
    return true
  })
}

/**
 * Valid (normalised) usernames that break naive stores: SQL quoting and LIKE patterns, glob and
 * regex characters, Redis hash tags and key-like text, JSON and prototype names, several scripts,
 * combining and bidi characters, and the longest names (one of them past the 96 bytes the Redis
 * key encoding keeps raw).
 */
const ODD_USERNAMES: readonly string[] = [
  'a',
  'ab',
  '%',
  '_',
  'a%',
  '%a%',
  '*',
  '?',
  '[a-z]',
  '\\',
  '\\%',
  "o'brien",
  "''",
  '"quoted"',
  '`tick`',
  "');drop-table-hallpass_users;--",
  '$1',
  '{users}',
  '{',
  '}',
  '}{',
  '{u:ywxpy2u}',
  'hp:{users}',
  'null',
  '0',
  '__proto__',
  'constructor',
  'zo\u00eb',
  '\u00f1and\u00fa',
  'stra\u00dfe',
  '\u0131',
  'i\u0307',
  '\u540d\u524d',
  '\u043f\u043e\u043b\u044c\u0437\u043e\u0432\u0430\u0442\u0435\u043b\u044c',
  '\u0645\u0631\u062d\u0628\u0627',
  'a\u202eb',
  '\u{1F9D1}\u{1F3FD}\u200d\u{1F4BB}',
  '\ufffd',
  '\ue000',
  'x'.repeat(128),
  '\u{1F980}'.repeat(64),
]

/** Names no test stores: near misses of the ones above (case, folding, prefixes, padding). */
const NEAR_MISSES: readonly string[] = [
  'A',
  'b',
  'aa',
  'a_',
  'a\u0000',
  'a ',
  ' a',
  'Ab',
  'zoe',
  'zoe\u0308',
  'ZO\u00cb',
  'strasse',
  'i',
  'I',
  "o''brien",
  '{users}x',
  'users',
  'u:ywxpy2u',
  'x'.repeat(127),
  'x'.repeat(129),
  '\u{1F980}'.repeat(63),
  '\u540d',
  '\ud800',
  '\udc00a',
  '',
]

/** Names `createUser` must refuse: not what `normalizeUsername` makes of them, or not text. */
const REFUSED_USERNAMES: readonly unknown[] = [
  'Alice',
  'ALICE',
  ' alice',
  'alice ',
  'al ice',
  'a\tb',
  'a\nb',
  'a\u0000b',
  'a\u0085b',
  '',
  '\uff41\uff4c\uff49\uff43\uff45',
  'e\u0301',
  '\ufb01',
  '\u{1D518}',
  '\u212a',
  '\ud800',
  'x\udc00',
  '\udc00\ud800',
  'x'.repeat(129),
  42,
  null,
  undefined,
  {},
  ['alice'],
]

const REFUSED_HASHES: readonly unknown[] = ['', 'has space', 'tab\there', 'nul\u0000', '\u00e9t\u00e9', '\u{1F600}', 'x'.repeat(1025), 42, null, undefined, {}]

const REFUSED_TIMES: readonly unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 53, -(2 ** 53), '1', null, undefined, 1n]

/**
 * Flag values that are not booleans: what a form, a query string or a careless JSON body sends.
 * (A Boolean object is truthy even when it wraps false.)
 */
const REFUSED_FLAGS: readonly unknown[] = ['true', 'false', '', '1', '0', 'yes', 1, 0, -1, Number.NaN, 1n, null, {}, [], [true], Object(false), () => true]

/** `updateUser` changes that are not `{ admin?, disabled? }` of booleans. */
const REFUSED_CHANGES: readonly unknown[] = [
  null,
  undefined,
  true,
  'admin',
  42,
  [],
  [true],
  { isAdmin: true },
  { admin: true, extra: 1 },
  { Admin: true },
  { disabled: false, enabled: true },
  { passwordHash: '$argon2id$x' },
  { username: 'bob' },
  // JSON.parse makes "__proto__" an own member, as it arrives in a request body.
  JSON.parse('{"__proto__":{"admin":true}}'),
  JSON.parse('{"admin":true,"__proto__":{}}'),
  ...REFUSED_FLAGS.flatMap((flag) => [{ admin: flag }, { disabled: flag }, { admin: true, disabled: flag }]),
]

type UserStoreCase = (title: string, body: (store: UserStore) => Promise<void>) => void

/**
 * Registers the user store conformance suite with `node:test`. `makeUserStore` is called once
 * per case and must return an empty store; `cleanup` runs after the case whether it passed or not.
 *
 * @example
 * import Database from 'better-sqlite3'
 * import { describeUserStoreConformance } from 'hallpass/testing'
 * describeUserStoreConformance('sqlite :memory:', async () => {
 *   const database = new Database(':memory:')
 *   return { store: createSqliteUserStore({ database }), cleanup: async () => database.close() }
 * })
 */
export function describeUserStoreConformance(
  name: string,
  makeUserStore: () => Promise<UserStoreUnderTest>,
  options: UserStoreConformanceOptions = {},
): void {
  const skip = options.skip ?? false
  const storeCase: UserStoreCase = (title, body) => {
    void it(title, async () => {
      const made = await makeUserStore()
      try {
        await body(made.store)
      } finally {
        await made.cleanup()
      }
    })
  }
  void describe(`UserStore conformance: ${name}`, { skip }, () => {
    void describe('records', () => describeRecords(storeCase))
    void describe('usernames', () => describeUsernames(storeCase))
    void describe('input checks', () => describeInputChecks(storeCase))
    void describe('updatePassword and deleteUser', () => describeChanges(storeCase))
    void describe('flags: admin and disabled', () => describeFlags(storeCase))
    void describe('listUsers and countUsers', () => describeListing(storeCase))
    void describe('concurrency', () => describeConcurrency(storeCase))
  })
}

function describeRecords(storeCase: UserStoreCase): void {
  storeCase('createUser then getUser returns the record exactly, as a fresh object', async (store) => {
    const alice = userRecordFixture({ updatedAt: USER_FIXTURE_NOW + 1 })
    assert.equal(await store.createUser(alice), true)
    const stored = await store.getUser('alice')
    assert.deepEqual(stored, alice)
    assert.deepEqual(Object.keys(stored).sort(), RECORD_KEYS)
    assert.notEqual(stored, alice)
    // What the caller does with a returned record is not what the store holds.
    ;(stored as { passwordHash: string }).passwordHash = phcHash()
    assert.deepEqual(await store.getUser('alice'), alice)
    assert.equal(await store.getUser('bob'), undefined)
    assert.equal(await store.countUsers(), 1)
  })

  storeCase('timestamps round-trip exactly as numbers: 0, negative, the largest safe integer', async (store) => {
    const users = [
      userRecordFixture({ username: 'zero', createdAt: 0, updatedAt: 0 }),
      userRecordFixture({ username: 'negative', createdAt: -1, updatedAt: -86_400_000 }),
      userRecordFixture({ username: 'max', createdAt: Number.MAX_SAFE_INTEGER, updatedAt: Number.MAX_SAFE_INTEGER - 1 }),
      userRecordFixture({ username: 'min', createdAt: Number.MIN_SAFE_INTEGER, updatedAt: 2 ** 31 + 1 }),
    ]
    for (const user of users) assert.equal(await store.createUser(user), true)
    for (const user of users) {
      const stored = await store.getUser(user.username)
      assert.deepEqual(stored, user)
      assert.equal(typeof stored.createdAt, 'number')
      assert.equal(typeof stored.updatedAt, 'number')
    }
    assert.deepEqual(await store.listUsers(), users.map(summary).sort((a, b) => byCodePoint(a.username, b.username)))
  })

  storeCase('createUser of a taken name returns false and leaves the first record as it was', async (store) => {
    const first = userRecordFixture()
    assert.equal(await store.createUser(first), true)
    const second = userRecordFixture({ createdAt: USER_FIXTURE_NOW + 5, updatedAt: USER_FIXTURE_NOW + 5 })
    assert.notEqual(second.passwordHash, first.passwordHash)
    assert.equal(await store.createUser(second), false)
    assert.equal(await store.createUser(first), false)
    assert.deepEqual(await store.getUser('alice'), first)
    assert.equal(await store.countUsers(), 1)
    assert.deepEqual(await store.listUsers(), [summary(first)])
  })

  storeCase('hostile password hashes round-trip exactly', async (store) => {
    const hashes = [
      `$argon2id$v=19$m=19456,t=2,p=1$'";--$/*x*/`,
      "');DROP_TABLE_users;--",
      '%_%',
      '\\%\\_\\\\',
      '{users}{}',
      '$1$2${x}',
      'null',
      '0',
      '~'.repeat(1024),
      '!',
    ]
    const users = hashes.map((passwordHash, i) => userRecordFixture({ username: `user${i}`, passwordHash }))
    for (const user of users) assert.equal(await store.createUser(user), true)
    for (const user of users) assert.deepEqual(await store.getUser(user.username), user)
    // And through updatePassword.
    for (const [i, passwordHash] of hashes.entries()) {
      const name = `user${(i + 1) % hashes.length}`
      assert.equal(await store.updatePassword(name, passwordHash, USER_FIXTURE_NOW + i), true)
      assert.equal((await store.getUser(name))?.passwordHash, passwordHash)
    }
  })
}

function describeUsernames(storeCase: UserStoreCase): void {
  storeCase('odd usernames round-trip, list in code point order, and match only themselves', async (store) => {
    for (const name of ODD_USERNAMES) assert.equal(normalizeUsername(name), name, `fixture ${JSON.stringify(name)} must be normalised`)
    const users = ODD_USERNAMES.map((username, i) => userRecordFixture({ username, createdAt: USER_FIXTURE_NOW + i, updatedAt: USER_FIXTURE_NOW + 2 * i }))
    for (const user of users) assert.equal(await store.createUser(user), true, `createUser(${JSON.stringify(user.username.slice(0, 40))})`)
    for (const user of users) {
      assert.deepEqual(await store.getUser(user.username), user, `getUser(${JSON.stringify(user.username.slice(0, 40))})`)
      // A second creation is refused: the first one really stored this exact name.
      assert.equal(await store.createUser(userRecordFixture({ username: user.username })), false)
    }
    // No case or Unicode folding, no pattern matching, no truncation, no prefix match.
    for (const name of NEAR_MISSES) {
      assert.ok(!ODD_USERNAMES.includes(name))
      const what = JSON.stringify(name.slice(0, 40))
      assert.equal(await store.getUser(name), undefined, `getUser(${what})`)
      assert.equal(await store.updatePassword(name, phcHash(), USER_FIXTURE_NOW), false, `updatePassword(${what})`)
      assert.equal(await store.updateUser(name, { admin: true }, USER_FIXTURE_NOW), false, `updateUser(${what})`)
      assert.equal(await store.deleteUser(name), false, `deleteUser(${what})`)
    }
    const expected = users.map(summary).sort((a, b) => byCodePoint(a.username, b.username))
    assert.deepEqual(await store.listUsers(), expected)
    assert.equal(await store.countUsers(), users.length)
    assert.equal(await store.countAdmins(), 0, 'no near miss made anyone an admin')
    for (const user of users) assert.deepEqual(await store.getUser(user.username), user)
    // Each odd name's flags are its own.
    const flagsOf = (i: number): { admin: boolean; disabled: boolean } => ({ admin: i % 2 === 0, disabled: i % 3 === 0 })
    for (const [i, user] of users.entries()) assert.equal(await store.updateUser(user.username, flagsOf(i), USER_FIXTURE_NOW + i), true)
    for (const [i, user] of users.entries()) {
      assert.deepEqual(await store.getUser(user.username), { ...user, ...flagsOf(i), updatedAt: USER_FIXTURE_NOW + i })
    }
    assert.equal(await store.countAdmins(), users.filter((_, i) => flagsOf(i).admin && !flagsOf(i).disabled).length)
  })

  storeCase('usernames that are not normalised are refused with ERR_SESSION_INPUT_INVALID, and nothing is written', async (store) => {
    for (const username of REFUSED_USERNAMES) {
      const what = `createUser(${typeof username === 'string' ? JSON.stringify(username.slice(0, 40)) : String(username)})`
      await rejectsWithCode(store.createUser(userRecordFixture({ username: username as string })), 'ERR_SESSION_INPUT_INVALID', what)
    }
    assert.equal(await store.countUsers(), 0)
    assert.deepEqual(await store.listUsers(), [])
    // Looking such a name up is not an error: there is simply no such user.
    for (const username of REFUSED_USERNAMES) {
      if (typeof username !== 'string') continue
      assert.equal(await store.getUser(username), undefined)
      assert.equal(await store.updatePassword(username, phcHash(), USER_FIXTURE_NOW), false)
      assert.equal(await store.updateUser(username, { admin: true }, USER_FIXTURE_NOW), false)
      assert.equal(await store.deleteUser(username), false)
    }
    // The normalised forms are one account: the first registration takes them all.
    assert.equal(await store.createUser(userRecordFixture({ username: normalizeUsername('Alice') })), true)
    assert.equal(await store.createUser(userRecordFixture({ username: normalizeUsername('\uff21\uff4c\uff49\uff43\uff45') })), false)
    assert.equal(await store.countUsers(), 1)
  })

  storeCase('a lookup with a username that is not a string is refused with ERR_SESSION_INPUT_INVALID', async (store) => {
    await store.createUser(userRecordFixture())
    for (const username of [42, null, undefined, {}, ['alice']] as unknown as string[]) {
      await rejectsWithCode(store.getUser(username), 'ERR_SESSION_INPUT_INVALID', `getUser(${String(username)})`)
      await rejectsWithCode(store.updatePassword(username, phcHash(), USER_FIXTURE_NOW), 'ERR_SESSION_INPUT_INVALID', 'updatePassword')
      await rejectsWithCode(store.updateUser(username, { admin: true }, USER_FIXTURE_NOW), 'ERR_SESSION_INPUT_INVALID', 'updateUser')
      await rejectsWithCode(store.deleteUser(username), 'ERR_SESSION_INPUT_INVALID', 'deleteUser')
    }
    assert.equal(await store.countUsers(), 1)
    assert.equal(await store.countAdmins(), 0)
  })
}

function describeInputChecks(storeCase: UserStoreCase): void {
  storeCase('createUser refuses a bad hash, bad timestamps or a non-record with ERR_SESSION_INPUT_INVALID', async (store) => {
    for (const passwordHash of REFUSED_HASHES) {
      await rejectsWithCode(store.createUser(userRecordFixture({ passwordHash: passwordHash as string })), 'ERR_SESSION_INPUT_INVALID', `passwordHash ${String(passwordHash).slice(0, 20)}`)
    }
    for (const time of REFUSED_TIMES) {
      await rejectsWithCode(store.createUser(userRecordFixture({ createdAt: time as number })), 'ERR_SESSION_INPUT_INVALID', `createdAt ${String(time)}`)
      await rejectsWithCode(store.createUser(userRecordFixture({ updatedAt: time as number })), 'ERR_SESSION_INPUT_INVALID', `updatedAt ${String(time)}`)
    }
    for (const user of [null, undefined, 'alice', 42]) {
      await rejectsWithCode(store.createUser(user as unknown as UserRecord), 'ERR_SESSION_INPUT_INVALID', `createUser(${String(user)})`)
    }
    assert.equal(await store.countUsers(), 0)
    assert.equal(await store.getUser('alice'), undefined)
  })

  storeCase('updatePassword refuses a bad hash or time with ERR_SESSION_INPUT_INVALID and changes nothing', async (store) => {
    const alice = userRecordFixture()
    await store.createUser(alice)
    for (const passwordHash of REFUSED_HASHES) {
      await rejectsWithCode(store.updatePassword('alice', passwordHash as string, USER_FIXTURE_NOW + 1), 'ERR_SESSION_INPUT_INVALID', `passwordHash ${String(passwordHash).slice(0, 20)}`)
    }
    for (const time of REFUSED_TIMES) {
      await rejectsWithCode(store.updatePassword('alice', phcHash(), time as number), 'ERR_SESSION_INPUT_INVALID', `now ${String(time)}`)
    }
    assert.deepEqual(await store.getUser('alice'), alice)
  })
}

function describeChanges(storeCase: UserStoreCase): void {
  storeCase('updatePassword replaces the hash and updatedAt only; false for an unknown user, who is not created', async (store) => {
    const alice = userRecordFixture()
    const bob = userRecordFixture({ username: 'bob' })
    await store.createUser(alice)
    await store.createUser(bob)
    const newHash = phcHash()
    const now = USER_FIXTURE_NOW + 3_600_000
    assert.equal(await store.updatePassword('alice', newHash, now), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, passwordHash: newHash, updatedAt: now })
    assert.deepEqual(await store.getUser('bob'), bob)
    // The caller's clock decides, even when it goes backwards.
    assert.equal(await store.updatePassword('alice', alice.passwordHash, USER_FIXTURE_NOW - 1), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, updatedAt: USER_FIXTURE_NOW - 1 })
    assert.equal(await store.updatePassword('carol', newHash, now), false)
    assert.equal(await store.getUser('carol'), undefined)
    assert.equal(await store.countUsers(), 2)
    assert.deepEqual(await store.listUsers(), [summary(alice), summary(bob)].map((s) => (s.username === 'alice' ? { ...s, updatedAt: USER_FIXTURE_NOW - 1 } : s)))
  })

  storeCase('deleteUser is true once, then false; the name can then be registered again', async (store) => {
    const alice = userRecordFixture()
    const bob = userRecordFixture({ username: 'bob' })
    await store.createUser(alice)
    await store.createUser(bob)
    assert.equal(await store.deleteUser('alice'), true)
    assert.equal(await store.getUser('alice'), undefined)
    assert.equal(await store.deleteUser('alice'), false)
    assert.equal(await store.updatePassword('alice', phcHash(), USER_FIXTURE_NOW + 1), false)
    assert.equal(await store.updateUser('alice', { admin: true }, USER_FIXTURE_NOW + 1), false)
    assert.equal(await store.getUser('alice'), undefined)
    assert.deepEqual(await store.listUsers(), [summary(bob)])
    assert.equal(await store.countUsers(), 1)
    assert.equal(await store.deleteUser('carol'), false)
    // A new account under the old name has the new record, nothing of the old one.
    const again = userRecordFixture({ createdAt: USER_FIXTURE_NOW + 10, updatedAt: USER_FIXTURE_NOW + 10 })
    assert.equal(await store.createUser(again), true)
    assert.deepEqual(await store.getUser('alice'), again)
    assert.deepEqual(await store.listUsers(), [summary(again), summary(bob)])
    assert.equal(await store.countUsers(), 2)
  })
}

function describeFlags(storeCase: UserStoreCase): void {
  storeCase('createUser keeps both flags exactly, in every combination; getUser, listUsers and countAdmins agree', async (store) => {
    const users = [
      userRecordFixture({ username: 'plain' }),
      userRecordFixture({ username: 'root', admin: true }),
      userRecordFixture({ username: 'gone', disabled: true }),
      userRecordFixture({ username: 'fallen', admin: true, disabled: true }),
    ]
    for (const user of users) assert.equal(await store.createUser(user), true)
    for (const user of users) {
      const stored = await store.getUser(user.username)
      assert.deepEqual(stored, user)
      assert.equal(typeof stored?.admin, 'boolean')
      assert.equal(typeof stored?.disabled, 'boolean')
    }
    assert.deepEqual(await store.listUsers(), users.map(summary).sort((a, b) => byCodePoint(a.username, b.username)))
    // Only an admin who is not disabled can use the role.
    assert.equal(await store.countAdmins(), 1)
    assert.equal(await store.countUsers(), 4)
  })

  storeCase('a record without the flags (a caller from before them) creates an ordinary, enabled user; both flags are always read back', async (store) => {
    const now = USER_FIXTURE_NOW
    const old: NewUserRecord = { username: 'alice', passwordHash: phcHash(), createdAt: now, updatedAt: now }
    assert.equal(await store.createUser(old), true)
    const explicit: NewUserRecord = { username: 'bob', passwordHash: phcHash(), createdAt: now, updatedAt: now, admin: undefined, disabled: undefined }
    assert.equal(await store.createUser(explicit), true)
    const stored = await store.getUser('alice')
    assert.deepEqual(stored, { ...old, admin: false, disabled: false })
    assert.deepEqual(Object.keys(stored).sort(), RECORD_KEYS)
    assert.deepEqual(await store.getUser('bob'), { username: 'bob', passwordHash: explicit.passwordHash, createdAt: now, updatedAt: now, admin: false, disabled: false })
    for (const entry of await store.listUsers()) assert.deepEqual(Object.keys(entry).sort(), SUMMARY_KEYS)
    assert.equal(await store.countAdmins(), 0)
  })

  storeCase('createUser refuses flags that are not booleans with ERR_SESSION_INPUT_INVALID, and writes nothing', async (store) => {
    for (const flag of REFUSED_FLAGS) {
      const what = typeof flag === 'string' ? JSON.stringify(flag) : typeof flag === 'bigint' ? `${flag}n` : String(flag)
      await rejectsWithCode(store.createUser(userRecordFixture({ admin: flag as boolean })), 'ERR_SESSION_INPUT_INVALID', `admin ${what}`)
      await rejectsWithCode(store.createUser(userRecordFixture({ disabled: flag as boolean })), 'ERR_SESSION_INPUT_INVALID', `disabled ${what}`)
    }
    assert.equal(await store.countUsers(), 0)
    assert.equal(await store.countAdmins(), 0)
    assert.equal(await store.getUser('alice'), undefined)
  })

  storeCase('updateUser sets only the flags given and updatedAt; the hash, createdAt and other users are untouched', async (store) => {
    const alice = userRecordFixture()
    const bob = userRecordFixture({ username: 'bob', admin: true })
    await store.createUser(alice)
    await store.createUser(bob)
    const t = USER_FIXTURE_NOW
    assert.equal(await store.updateUser('alice', { admin: true }, t + 1), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, admin: true, updatedAt: t + 1 })
    assert.equal(await store.countAdmins(), 2)
    assert.equal(await store.updateUser('alice', { disabled: true }, t + 2), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, admin: true, disabled: true, updatedAt: t + 2 })
    assert.equal(await store.countAdmins(), 1)
    assert.equal(await store.updateUser('alice', { admin: false, disabled: false }, t + 3), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, updatedAt: t + 3 })
    // Setting a flag to the value it has, or no flag at all, still counts as an update.
    assert.equal(await store.updateUser('alice', { admin: false }, t + 4), true)
    assert.equal(await store.updateUser('alice', {}, t + 5), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, updatedAt: t + 5 })
    // The caller's clock decides, even when it goes backwards.
    assert.equal(await store.updateUser('alice', { disabled: true }, t - 1), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, disabled: true, updatedAt: t - 1 })
    assert.deepEqual(await store.getUser('bob'), bob)
    // A password change keeps the flags.
    const newHash = phcHash()
    assert.equal(await store.updatePassword('alice', newHash, t + 6), true)
    assert.deepEqual(await store.getUser('alice'), { ...alice, passwordHash: newHash, disabled: true, updatedAt: t + 6 })
    assert.deepEqual(await store.listUsers(), [summary({ ...alice, disabled: true, updatedAt: t + 6 }), summary(bob)])
  })

  storeCase('updateUser of an unknown user is false and creates nothing', async (store) => {
    await store.createUser(userRecordFixture({ username: 'bob' }))
    assert.equal(await store.updateUser('alice', { admin: true }, USER_FIXTURE_NOW), false)
    assert.equal(await store.updateUser('alice', {}, USER_FIXTURE_NOW), false)
    assert.equal(await store.getUser('alice'), undefined)
    assert.equal(await store.countUsers(), 1)
    assert.equal(await store.countAdmins(), 0)
    assert.deepEqual((await store.listUsers()).map((u) => u.username), ['bob'])
  })

  storeCase('updateUser refuses changes that are not { admin?, disabled? } of booleans, or a bad time, with ERR_SESSION_INPUT_INVALID; nothing is written', async (store) => {
    const alice = userRecordFixture()
    await store.createUser(alice)
    for (const changes of REFUSED_CHANGES) {
      let what: string
      try {
        what = JSON.stringify(changes, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'fn' : v)) ?? String(changes)
      } catch {
        what = String(changes)
      }
      await rejectsWithCode(store.updateUser('alice', changes as UserChanges, USER_FIXTURE_NOW + 1), 'ERR_SESSION_INPUT_INVALID', `updateUser(alice, ${what})`)
      // The same for a user that does not exist: the input is checked before the lookup.
      await rejectsWithCode(store.updateUser('nobody', changes as UserChanges, USER_FIXTURE_NOW + 1), 'ERR_SESSION_INPUT_INVALID', `updateUser(nobody, ${what})`)
    }
    for (const time of REFUSED_TIMES) {
      await rejectsWithCode(store.updateUser('alice', { admin: true }, time as number), 'ERR_SESSION_INPUT_INVALID', `now ${String(time)}`)
    }
    assert.deepEqual(await store.getUser('alice'), alice)
    assert.equal(await store.countAdmins(), 0)
    assert.equal(await store.getUser('nobody'), undefined)
  })

  storeCase('countAdmins follows creations, role changes, disabling and deletions', async (store) => {
    assert.equal(await store.countAdmins(), 0)
    await store.createUser(userRecordFixture({ username: 'ann', admin: true }))
    await store.createUser(userRecordFixture({ username: 'ben' }))
    await store.createUser(userRecordFixture({ username: 'cat', admin: true }))
    assert.equal(await store.countAdmins(), 2)
    await store.updateUser('ben', { admin: true, disabled: true }, USER_FIXTURE_NOW + 1)
    assert.equal(await store.countAdmins(), 2)
    await store.updateUser('ann', { disabled: true }, USER_FIXTURE_NOW + 2)
    assert.equal(await store.countAdmins(), 1)
    await store.updateUser('ben', { disabled: false }, USER_FIXTURE_NOW + 3)
    assert.equal(await store.countAdmins(), 2)
    await store.deleteUser('cat')
    assert.equal(await store.countAdmins(), 1)
    await store.updateUser('ben', { admin: false }, USER_FIXTURE_NOW + 4)
    assert.equal(await store.countAdmins(), 0)
    assert.equal(await store.countUsers(), 2)
  })

  storeCase('concurrent updateUser of different flags and a password change all land: none overwrites another', async (store) => {
    const alice = userRecordFixture()
    await store.createUser(alice)
    const newHash = phcHash()
    // A store that reads the record, changes one field and writes it all back loses some of these.
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => store.updateUser('alice', { admin: true }, USER_FIXTURE_NOW + i)),
      ...Array.from({ length: 10 }, (_, i) => store.updateUser('alice', { disabled: true }, USER_FIXTURE_NOW + i)),
      store.updatePassword('alice', newHash, USER_FIXTURE_NOW),
    ])
    assert.ok(results.every(Boolean))
    const stored = await store.getUser('alice')
    assert.equal(stored?.admin, true)
    assert.equal(stored?.disabled, true)
    assert.equal(stored?.passwordHash, newHash)
    assert.equal(stored?.createdAt, alice.createdAt)
    assert.ok(stored.updatedAt >= USER_FIXTURE_NOW && stored.updatedAt < USER_FIXTURE_NOW + 10)
    assert.equal(await store.countAdmins(), 0)
  })
}

function describeListing(storeCase: UserStoreCase): void {
  storeCase('an empty store lists no users and counts 0', async (store) => {
    assert.deepEqual(await store.listUsers(), [])
    assert.equal(await store.countUsers(), 0)
  })

  storeCase('listUsers: by code point (not UTF-16) order, summaries without hashes; countUsers agrees', async (store) => {
    const names = ['b', 'a', 'ab', 'a-b', 'a.b', '\u00e9', 'z', '\ufffd', '\ue000', '\u{1F980}', '\u{10FFFD}', '\u540d', '0', '_', '~']
    // The order a store would produce by comparing UTF-16 code units differs: the case can fail.
    const utf16 = [...names].sort()
    const expectedNames = [...names].sort(byCodePoint)
    assert.notDeepEqual(utf16, expectedNames)
    const users = names.map((username, i) => userRecordFixture({ username, createdAt: USER_FIXTURE_NOW - i, updatedAt: USER_FIXTURE_NOW + i }))
    for (const user of users) assert.equal(await store.createUser(user), true, user.username)
    const listed = await store.listUsers()
    assert.deepEqual(listed.map((u) => u.username), expectedNames)
    for (const entry of listed) assert.deepEqual(Object.keys(entry).sort(), SUMMARY_KEYS)
    assert.deepEqual(listed, users.map(summary).sort((a, b) => byCodePoint(a.username, b.username)))
    assert.equal(await store.countUsers(), names.length)
  })

  storeCase('a listing of 600 users is complete and ordered', async (store) => {
    const users = Array.from({ length: 600 }, (_, i) => userRecordFixture({ username: `user-${String(i).padStart(4, '0')}`, createdAt: i, updatedAt: i }))
    assert.ok((await Promise.all(users.map((user) => store.createUser(user)))).every(Boolean))
    assert.deepEqual(await store.listUsers(), users.map(summary))
    assert.equal(await store.countUsers(), 600)
  })
}

function describeConcurrency(storeCase: UserStoreCase): void {
  storeCase('20 concurrent creations of one name: exactly one wins, and its record is the one stored', async (store) => {
    const attempts = Array.from({ length: 20 }, (_, i) => userRecordFixture({ username: 'racer', createdAt: USER_FIXTURE_NOW + i, updatedAt: USER_FIXTURE_NOW + i }))
    const results = await Promise.all(attempts.map((user) => store.createUser(user)))
    const winners = results.flatMap((created, i) => (created ? [i] : []))
    assert.equal(winners.length, 1)
    assert.deepEqual(await store.getUser('racer'), attempts[winners[0]!])
    assert.equal(await store.countUsers(), 1)
    assert.deepEqual(await store.listUsers(), [summary(attempts[winners[0]!]!)])
  })

  storeCase('20 concurrent creations of different names all succeed', async (store) => {
    const users = Array.from({ length: 20 }, (_, i) => userRecordFixture({ username: `user${String(i).padStart(2, '0')}` }))
    assert.deepEqual(await Promise.all(users.map((user) => store.createUser(user))), users.map(() => true))
    for (const user of users) assert.deepEqual(await store.getUser(user.username), user)
    assert.equal(await store.countUsers(), 20)
    assert.deepEqual(await store.listUsers(), users.map(summary))
  })

  storeCase('20 concurrent deletions of one user: exactly one is true', async (store) => {
    await store.createUser(userRecordFixture())
    await store.createUser(userRecordFixture({ username: 'bob' }))
    const results = await Promise.all(Array.from({ length: 20 }, () => store.deleteUser('alice')))
    assert.equal(results.filter(Boolean).length, 1)
    assert.equal(await store.getUser('alice'), undefined)
    assert.deepEqual((await store.listUsers()).map((u) => u.username), ['bob'])
  })

  storeCase('concurrent creations, password changes and deletions of one name leave a consistent table', async (store) => {
    const attempts = Array.from({ length: 10 }, (_, i) => userRecordFixture({ username: 'churn', createdAt: i, updatedAt: i }))
    await Promise.all(
      attempts.flatMap((user, i) => [store.createUser(user), store.updatePassword('churn', phcHash(), 100 + i), store.deleteUser('churn')]),
    )
    // Whatever the interleaving: the user exists exactly when it is listed and counted.
    const stored = await store.getUser('churn')
    const listed = await store.listUsers()
    assert.deepEqual(listed, stored === undefined ? [] : [summary(stored)])
    assert.equal(await store.countUsers(), listed.length)
    // And the name is usable afterwards.
    await store.deleteUser('churn')
    assert.equal(await store.createUser(attempts[0]!), true)
    assert.deepEqual(await store.getUser('churn'), attempts[0])
  })
}
