// The SQLite user table: the shared UserStore conformance suite (alone in memory, and in a WAL
// file beside the session store, as `hallpass serve` runs it), then what only SQLite shows: the
// session store's `user_version` left alone in either creation order, idempotent and versioned
// DDL, the upgrade of a table from before the admin/disabled flags, a creation race across
// processes on one file, and driver failures.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { isHallpassError } from '../../src/errors.ts'
import { createSqliteStore, SQLITE_SCHEMA_VERSION } from '../../src/stores/sqlite/session-store.ts'
import { createSqliteUserStore, SQLITE_USERS_SCHEMA_VERSION } from '../../src/stores/sqlite/user-store.ts'
import { describeUserStoreConformance, sessionRecordFixture, userRecordFixture } from '../../src/testing/index.ts'

function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hallpass-users-sqlite-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

function expectCode(code: string): (error: unknown) => true {
  return (error) => {
    assert.ok(isHallpassError(error), `expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code)
    return true
  }
}

function tables(db: Database.Database): string[] {
  return db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'hallpass\\_%' ESCAPE '\\' ORDER BY name").pluck().all()
}

describeUserStoreConformance('sqlite :memory:', () => {
  const database = new Database(':memory:')
  return Promise.resolve({
    store: createSqliteUserStore({ database }),
    cleanup: () => {
      database.close()
      return Promise.resolve()
    },
  })
})

describeUserStoreConformance('sqlite file (WAL) shared with the session store', () => {
  const tmp = tempDir()
  const database = new Database(join(tmp.dir, 'hallpass.db'))
  const sessions = createSqliteStore({ database })
  return Promise.resolve({
    store: createSqliteUserStore({ database }),
    cleanup: async () => {
      await sessions.close()
      database.close()
      tmp.remove()
    },
  })
})

describe('sqlite user store: options', () => {
  it('refuses bad options with ERR_CONFIG_INVALID', () => {
    const database = new Database(':memory:')
    try {
      for (const options of [undefined, null, 'x', {}, { database: 'file.db' }, { database: {} }, { database, extra: 1 }, { path: ':memory:' }]) {
        assert.throws(() => createSqliteUserStore(options as never), expectCode('ERR_CONFIG_INVALID'), JSON.stringify(options))
      }
      // Nothing was created by a refused call.
      assert.deepEqual(tables(database), [])
    } finally {
      database.close()
    }
  })
})

describe('sqlite user store: one file with the session store', () => {
  it('leaves PRAGMA user_version alone, whichever store is created first', async () => {
    for (const order of ['users first', 'sessions first'] as const) {
      const database = new Database(':memory:')
      try {
        let users = order === 'users first' ? createSqliteUserStore({ database }) : undefined
        if (users !== undefined) assert.equal(database.pragma('user_version', { simple: true }), 0, order)
        const sessions = createSqliteStore({ database })
        assert.equal(database.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION, order)
        users ??= createSqliteUserStore({ database })
        assert.equal(database.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION, order)
        assert.deepEqual(tables(database), ['hallpass_audit', 'hallpass_keyring', 'hallpass_meta', 'hallpass_revocations', 'hallpass_sessions', 'hallpass_users', 'hallpass_users_meta'])
        assert.equal(database.prepare('SELECT version FROM hallpass_users_meta').pluck().get(), SQLITE_USERS_SCHEMA_VERSION)
        // Both work on the shared connection.
        const alice = userRecordFixture()
        assert.equal(await users.createUser(alice), true)
        const record = sessionRecordFixture({ subject: 'alice' })
        await sessions.createSession(record, { type: 'session.created', at: record.createdAt, sessionId: record.id, subject: 'alice' })
        assert.deepEqual(await users.getUser('alice'), alice)
        assert.deepEqual(await sessions.getSession(record.id), record)
        await sessions.close()
      } finally {
        database.close()
      }
    }
  })

  it('reopening is idempotent: the data stays, nothing is migrated twice', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'hallpass.db')
    try {
      const alice = userRecordFixture()
      const first = new Database(path)
      assert.equal(await createSqliteUserStore({ database: first }).createUser(alice), true)
      first.close()
      for (let i = 0; i < 2; i++) {
        const again = new Database(path)
        const sessions = createSqliteStore({ database: again })
        const users = createSqliteUserStore({ database: again })
        assert.deepEqual(await users.getUser('alice'), alice)
        assert.deepEqual(await users.listUsers(), [{ username: 'alice', createdAt: alice.createdAt, updatedAt: alice.updatedAt, admin: false, disabled: false }])
        assert.equal(again.prepare('SELECT count(*) FROM hallpass_users_meta').pluck().get(), 1)
        await sessions.close()
        again.close()
      }
    } finally {
      tmp.remove()
    }
  })

  it('a session schema newer than this release does not concern the user table, a newer user table does', () => {
    const database = new Database(':memory:')
    try {
      database.pragma('user_version = 99')
      createSqliteUserStore({ database })
      assert.equal(database.pragma('user_version', { simple: true }), 99)
      database.prepare('UPDATE hallpass_users_meta SET version = ?').run(SQLITE_USERS_SCHEMA_VERSION + 1)
      assert.throws(() => createSqliteUserStore({ database }), expectCode('ERR_STORE_UNAVAILABLE'))
    } finally {
      database.close()
    }
  })

  it('a connection in BigInt mode still gets numbers back', async () => {
    const database = new Database(':memory:')
    try {
      database.defaultSafeIntegers(true)
      const users = createSqliteUserStore({ database })
      const alice = userRecordFixture({ createdAt: Number.MAX_SAFE_INTEGER, updatedAt: -1, admin: true })
      await users.createUser(alice)
      assert.deepEqual(await users.getUser('alice'), alice)
      assert.deepEqual(await users.listUsers(), [{ username: 'alice', createdAt: alice.createdAt, updatedAt: alice.updatedAt, admin: true, disabled: false }])
      assert.equal(await users.countUsers(), 1)
      assert.equal(await users.countAdmins(), 1)
    } finally {
      database.close()
    }
  })
})

// The user table exactly as release 1 of it (SQLITE_USERS_SCHEMA_VERSION 1) created it: written
// out here rather than taken from the code, so that the test keeps describing deployed files.
const USERS_V1_DDL = `
  CREATE TABLE IF NOT EXISTS hallpass_users (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS hallpass_users_meta (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
  ) STRICT;
  INSERT INTO hallpass_users_meta (id, version) VALUES (1, 1);`

describe('sqlite user store: a table from before the admin and disabled flags (version 1)', () => {
  function writeV1(path: string, names: readonly string[]): void {
    const old = new Database(path)
    old.exec(USERS_V1_DDL)
    const insert = old.prepare('INSERT INTO hallpass_users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)')
    names.forEach((name, i) => insert.run(name, `$argon2id$v=19$m=19456,t=2,p=1$old${i}$hash${i}`, 1_000 + i, 2_000 + i))
    old.close()
  }

  it('is upgraded in place: every user kept, read as neither admin nor disabled; the flags then work', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'hallpass.db')
    try {
      writeV1(path, ['alice', 'bob', "o'brien"])
      const database = new Database(path)
      try {
        const sessions = createSqliteStore({ database })
        const users = createSqliteUserStore({ database })
        assert.equal(database.prepare('SELECT version FROM hallpass_users_meta').pluck().get(), SQLITE_USERS_SCHEMA_VERSION)
        assert.equal(SQLITE_USERS_SCHEMA_VERSION, 2)
        assert.deepEqual(await users.getUser('alice'), {
          username: 'alice',
          passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$old0$hash0',
          createdAt: 1_000,
          updatedAt: 2_000,
          admin: false,
          disabled: false,
        })
        assert.deepEqual(await users.listUsers(), ['alice', 'bob', "o'brien"].map((username, i) => ({ username, createdAt: 1_000 + i, updatedAt: 2_000 + i, admin: false, disabled: false })))
        assert.equal(await users.countAdmins(), 0)
        assert.equal(await users.updateUser('bob', { admin: true }, 3_000), true)
        assert.equal(await users.countAdmins(), 1)
        assert.equal(await users.createUser(userRecordFixture({ username: 'carol', disabled: true })), true)
        assert.equal((await users.getUser('carol'))?.disabled, true)
        // The CHECK keeps the columns to 0 and 1 whoever writes them.
        assert.throws(() => database.prepare("UPDATE hallpass_users SET admin = 2 WHERE username = 'bob'").run(), /CHECK constraint failed/)
        assert.throws(() => database.prepare("UPDATE hallpass_users SET disabled = 'yes' WHERE username = 'bob'").run(), /CHECK constraint failed|cannot store TEXT/)
        await sessions.close()
      } finally {
        database.close()
      }
      // Reopening migrates nothing more.
      const again = new Database(path)
      try {
        const users = createSqliteUserStore({ database: again })
        assert.equal((await users.getUser('bob'))?.admin, true)
        assert.equal(again.prepare('SELECT count(*) FROM hallpass_users_meta').pluck().get(), 1)
        assert.equal(again.pragma('integrity_check', { simple: true }), 'ok')
      } finally {
        again.close()
      }
    } finally {
      tmp.remove()
    }
  })

  it('a read-only connection cannot upgrade it: ERR_STORE_UNAVAILABLE, and the file is left as it was', () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'hallpass.db')
    try {
      writeV1(path, ['alice'])
      const reader = new Database(path, { readonly: true })
      try {
        assert.throws(() => createSqliteUserStore({ database: reader }), expectCode('ERR_STORE_UNAVAILABLE'))
      } finally {
        reader.close()
      }
      const check = new Database(path, { readonly: true })
      try {
        assert.equal(check.prepare('SELECT version FROM hallpass_users_meta').pluck().get(), 1)
        const columns = check.prepare<[], string>("SELECT name FROM pragma_table_info('hallpass_users') ORDER BY cid").pluck().all()
        assert.deepEqual(columns, ['username', 'password_hash', 'created_at', 'updated_at'])
      } finally {
        check.close()
      }
    } finally {
      tmp.remove()
    }
  })
})

// The child runs JavaScript (node -e), importing the TypeScript modules through tsx's loader.
const CHILD = `
const [, sessionsModule, usersModule, path, index] = process.argv
const { default: Database } = await import('better-sqlite3')
const { createSqliteStore } = await import(sessionsModule)
const { createSqliteUserStore } = await import(usersModule)
const database = new Database(path)
const sessions = createSqliteStore({ database })
const users = createSqliteUserStore({ database })
// Open and migrate, say so, then wait for the parent's go: every child starts racing together.
process.stdout.write('ready\\n')
await new Promise((resolve) => process.stdin.once('data', resolve))
const attempts = []
for (let i = 0; i < 7; i++) {
  attempts.push(users.createUser({ username: 'racer', passwordHash: '$argon2id$p' + index + 'a' + i, createdAt: Number(index) * 10 + i, updatedAt: 0 }))
}
console.log(JSON.stringify(await Promise.all(attempts)))
await sessions.close()
database.close()
`

describe('sqlite user store: processes racing on one file', () => {
  it('3 processes x 7 creations of one name on a fresh file: both schemas migrate once, exactly one creation wins', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'hallpass.db')
    const sessionsModule = fileURLToPath(new URL('../../src/stores/sqlite/session-store.ts', import.meta.url))
    const usersModule = fileURLToPath(new URL('../../src/stores/sqlite/user-store.ts', import.meta.url))
    try {
      let released = false
      const children = [0, 1, 2].map((index) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, sessionsModule, usersModule, path, String(index)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        })
        const state = { out: '', err: '' }
        child.stdin.on('error', () => undefined) // a child that died before the go
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          state.out += chunk
          if (released || !children.every((c) => c.state.out.startsWith('ready\n'))) return
          released = true
          for (const c of children) c.child.stdin.end('go\n')
        })
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (state.err += chunk))
        const exited = new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 12_000)
          child.on('exit', (code) => {
            clearTimeout(timer)
            resolve(code)
          })
        })
        return { child, state, exited }
      })
      const runs = children.map(async ({ state, exited }) => ({ code: await exited, out: state.out.replace(/^ready\n/, ''), err: state.err }))
      const results = await Promise.all(runs)
      const outcomes: boolean[][] = []
      for (const { code, out, err } of results) {
        assert.equal(code, 0, err)
        outcomes.push(JSON.parse(out) as boolean[])
      }
      const winners = outcomes.flatMap((attempts, index) => attempts.flatMap((created, i) => (created ? [index * 10 + i] : [])))
      assert.equal(winners.length, 1, JSON.stringify(outcomes))
      const database = new Database(path)
      try {
        const users = createSqliteUserStore({ database })
        const stored = await users.getUser('racer')
        assert.equal(stored?.createdAt, winners[0])
        assert.equal(stored?.passwordHash, `$argon2id$p${Math.floor(winners[0]! / 10)}a${winners[0]! % 10}`)
        assert.equal(await users.countUsers(), 1)
        assert.equal(database.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
        assert.equal(database.prepare('SELECT version FROM hallpass_users_meta').pluck().get(), SQLITE_USERS_SCHEMA_VERSION)
      } finally {
        database.close()
      }
    } finally {
      tmp.remove()
    }
  })
})

describe('sqlite user store: driver failures', () => {
  it('a closed connection: creation throws, every operation rejects with ERR_STORE_UNAVAILABLE naming no input', async () => {
    const closedEarly = new Database(':memory:')
    closedEarly.close()
    assert.throws(() => createSqliteUserStore({ database: closedEarly }), expectCode('ERR_STORE_UNAVAILABLE'))

    const database = new Database(':memory:')
    const users = createSqliteUserStore({ database })
    const alice = userRecordFixture()
    await users.createUser(alice)
    database.close()
    const operations: Array<[string, () => Promise<unknown>]> = [
      ['createUser', () => users.createUser(userRecordFixture({ username: 'bob' }))],
      ['getUser', () => users.getUser('alice')],
      ['updatePassword', () => users.updatePassword('alice', alice.passwordHash, 1)],
      ['updateUser', () => users.updateUser('alice', { disabled: true }, 1)],
      ['deleteUser', () => users.deleteUser('alice')],
      ['listUsers', () => users.listUsers()],
      ['countUsers', () => users.countUsers()],
      ['countAdmins', () => users.countAdmins()],
    ]
    for (const [name, operation] of operations) {
      const error = await operation().then(
        () => assert.fail(`${name} resolved on a closed connection`),
        (e: unknown) => e,
      )
      expectCode('ERR_STORE_UNAVAILABLE')(error)
      assert.ok(!(error as Error).message.includes('alice') && !(error as Error).message.includes(alice.passwordHash), name)
    }
  })

  it('a read-only connection: an existing table is read, writes reject with ERR_STORE_UNAVAILABLE; a missing one cannot be created', async () => {
    const tmp = tempDir()
    const path = join(tmp.dir, 'hallpass.db')
    try {
      const writer = new Database(path)
      const alice = userRecordFixture()
      await createSqliteUserStore({ database: writer }).createUser(alice)
      writer.close()
      const reader = new Database(path, { readonly: true })
      try {
        const users = createSqliteUserStore({ database: reader })
        assert.deepEqual(await users.getUser('alice'), alice)
        assert.equal(await users.countUsers(), 1)
        await assert.rejects(users.createUser(userRecordFixture({ username: 'bob' })), expectCode('ERR_STORE_UNAVAILABLE'))
        await assert.rejects(users.updatePassword('alice', alice.passwordHash, 1), expectCode('ERR_STORE_UNAVAILABLE'))
        await assert.rejects(users.updateUser('alice', { admin: true }, 1), expectCode('ERR_STORE_UNAVAILABLE'))
        await assert.rejects(users.deleteUser('alice'), expectCode('ERR_STORE_UNAVAILABLE'))
        assert.equal(await users.countAdmins(), 0)
      } finally {
        reader.close()
      }
      const emptyPath = join(tmp.dir, 'empty.db')
      new Database(emptyPath).close()
      const emptyReader = new Database(emptyPath, { readonly: true })
      try {
        assert.throws(() => createSqliteUserStore({ database: emptyReader }), expectCode('ERR_STORE_UNAVAILABLE'))
      } finally {
        emptyReader.close()
      }
    } finally {
      tmp.remove()
    }
  })
})
