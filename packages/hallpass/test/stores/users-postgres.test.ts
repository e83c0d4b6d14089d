// The PostgreSQL user table: the shared UserStore conformance suite on a fresh schema per case
// (dropped after it), then what only a real server shows: the session store's migrations left
// alone in either order, concurrent migration of one fresh schema, the upgrade of a table from
// before the admin/disabled flags, a runtime role without the CREATE privilege, a creation race
// across pools, hostile options, and an unreachable server.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { isHallpassError } from '../../src/errors.ts'
import { createPostgresStore } from '../../src/stores/postgres/session-store.ts'
import { createPostgresUserStore, POSTGRES_USERS_SCHEMA_VERSION } from '../../src/stores/postgres/user-store.ts'
import { describeUserStoreConformance, userRecordFixture } from '../../src/testing/index.ts'
import { checkPostgres, postgresUrl } from '../../../../test/helpers/services.ts'

const skip = (await checkPostgres()) ?? false
const url = postgresUrl()

const pools: pg.Pool[] = []
function newPool(max: number, connectionString = url): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000 })
  // An idle connection dropped by the server must not crash the test process.
  pool.on('error', () => undefined)
  pools.push(pool)
  return pool
}
async function endPools(list: readonly pg.Pool[]): Promise<void> {
  await Promise.all(list.map((pool) => pool.end().catch(() => undefined)))
  for (const pool of list) pools.splice(pools.indexOf(pool), 1)
}
const shared = skip === false ? newPool(10) : undefined
const admin = skip === false ? newPool(3) : undefined
after(async () => {
  await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)))
})

function freshSchema(): string {
  return `hp_users_test_${randomBytes(6).toString('hex')}`
}

async function dropSchema(schema: string): Promise<void> {
  await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

function expectCode(code: string): (error: unknown) => true {
  return (error) => {
    assert.ok(isHallpassError(error), `expected a HallpassError, got ${String(error)}`)
    assert.equal(error.code, code)
    return true
  }
}

async function tablesOf(schema: string): Promise<string[]> {
  const { rows } = await admin!.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])
  return rows.map((r) => r.table_name)
}

describeUserStoreConformance(
  'postgres',
  async () => {
    const schema = freshSchema()
    const store = await createPostgresUserStore({ pool: shared!, schema })
    return { store, cleanup: () => dropSchema(schema) }
  },
  { skip },
)

describe('postgres user store: options', () => {
  it('refuses bad options with ERR_CONFIG_INVALID before any I/O', async () => {
    let touched = 0
    const pool = {
      query: () => {
        touched++
        return Promise.reject(new Error('no I/O expected'))
      },
      connect: () => {
        touched++
        return Promise.reject(new Error('no I/O expected'))
      },
    } as unknown as pg.Pool
    const cases: unknown[] = [
      undefined,
      null,
      'pool',
      {},
      { pool: {} },
      { pool, schema: 'Hallpass' },
      { pool, schema: 'a"b' },
      { pool, schema: 'a; DROP SCHEMA public' },
      { pool, schema: 'pg_users' },
      { pool, schema: '' },
      { pool, schema: 'x'.repeat(52) },
      { pool, schema: 42 },
      { pool, migrate: 'yes' },
      { pool, extra: true },
    ]
    for (const options of cases) {
      await assert.rejects(createPostgresUserStore(options as never), expectCode('ERR_CONFIG_INVALID'), JSON.stringify(options))
    }
    assert.equal(touched, 0)
  })
})

describe('postgres user store', { skip }, () => {
  it('shares the session store schema in either order: schema_migrations untouched, both stores work', async () => {
    for (const order of ['users first', 'sessions first'] as const) {
      const schema = freshSchema()
      try {
        if (order === 'users first') await createPostgresUserStore({ pool: shared!, schema })
        const sessions = await createPostgresStore({ pool: shared!, schema })
        const users = await createPostgresUserStore({ pool: shared!, schema: sessions.schema })
        // The session store still opens: the user table recorded nothing in its migrations.
        await (await createPostgresStore({ pool: shared!, schema })).close()
        const versions = await admin!.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)
        assert.deepEqual(versions.rows.map((r) => r.version), [1, 2, 3], order)
        assert.deepEqual(await tablesOf(schema), ['audit', 'keyring', 'meta', 'revocations', 'schema_migrations', 'sessions', 'users', 'users_meta'], order)
        const meta = await admin!.query<{ version: number }>(`SELECT version FROM "${schema}".users_meta`)
        assert.deepEqual(meta.rows, [{ version: POSTGRES_USERS_SCHEMA_VERSION }])
        // Byte-order comparison whatever the database's locale.
        const collation = await admin!.query<{ collation_name: string }>(
          "SELECT collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'users' AND column_name = 'username'",
          [schema],
        )
        assert.deepEqual(collation.rows, [{ collation_name: 'C' }])
        const alice = userRecordFixture()
        assert.equal(await users.createUser(alice), true)
        assert.deepEqual(await users.getUser('alice'), alice)
        await sessions.close()
      } finally {
        await dropSchema(schema)
      }
    }
  })

  it('three instances and a session store migrating one fresh schema at once: one table, one version row', async () => {
    const schema = freshSchema()
    const instancePools = [newPool(1), newPool(1), newPool(1), newPool(1)]
    try {
      const [sessions, users] = await Promise.all([
        createPostgresStore({ pool: instancePools[0]!, schema }),
        Promise.all(instancePools.slice(1).map((pool) => createPostgresUserStore({ pool, schema }))),
      ])
      await sessions.close()
      const meta = await admin!.query<{ version: number }>(`SELECT version FROM "${schema}".users_meta`)
      assert.deepEqual(meta.rows, [{ version: POSTGRES_USERS_SCHEMA_VERSION }])
      const alice = userRecordFixture()
      assert.equal(await users[0]!.createUser(alice), true)
      assert.deepEqual(await users[2]!.getUser('alice'), alice)
    } finally {
      await endPools(instancePools)
      await dropSchema(schema)
    }
  })

  it('migrate: false creates nothing (operations fail as unavailable) until migrate(); a newer table is refused', async () => {
    const schema = freshSchema()
    try {
      const users = await createPostgresUserStore({ pool: shared!, schema, migrate: false })
      assert.equal(users.schema, schema)
      assert.deepEqual(await tablesOf(schema), [])
      await assert.rejects(users.getUser('alice'), expectCode('ERR_STORE_UNAVAILABLE'))
      await assert.rejects(users.countUsers(), expectCode('ERR_STORE_UNAVAILABLE'))
      await users.migrate()
      await users.migrate()
      assert.deepEqual(await tablesOf(schema), ['users', 'users_meta'])
      assert.equal(await users.countUsers(), 0)
      await admin!.query(`UPDATE "${schema}".users_meta SET version = $1`, [POSTGRES_USERS_SCHEMA_VERSION + 1])
      await assert.rejects(createPostgresUserStore({ pool: shared!, schema }), expectCode('ERR_STORE_UNAVAILABLE'))
      await assert.rejects(users.migrate(), expectCode('ERR_STORE_UNAVAILABLE'))
    } finally {
      await dropSchema(schema)
    }
  })

  // The table exactly as release 1 of it (POSTGRES_USERS_SCHEMA_VERSION 1) created it: written
  // out here rather than taken from the code, so that the test keeps describing deployed schemas.
  async function createV1(schema: string, names: readonly string[]): Promise<void> {
    await admin!.query(`CREATE SCHEMA "${schema}"`)
    await admin!.query(`CREATE TABLE "${schema}".users (
      username      text COLLATE "C" PRIMARY KEY,
      password_hash text   NOT NULL,
      created_at    bigint NOT NULL,
      updated_at    bigint NOT NULL)`)
    await admin!.query(`CREATE TABLE "${schema}".users_meta (id boolean PRIMARY KEY DEFAULT true CHECK (id), version integer NOT NULL)`)
    await admin!.query(`INSERT INTO "${schema}".users_meta (id, version) VALUES (true, 1)`)
    for (const [i, name] of names.entries()) {
      await admin!.query(`INSERT INTO "${schema}".users VALUES ($1, $2, $3, $4)`, [name, `$argon2id$v=19$m=19456,t=2,p=1$old${i}$hash${i}`, 1_000 + i, 2_000 + i])
    }
  }

  it('a table from before the admin and disabled flags (version 1) is upgraded in place: users kept, read as neither', async () => {
    const schema = freshSchema()
    const instancePools = [newPool(1), newPool(1), newPool(1)]
    try {
      await createV1(schema, ['alice', 'bob', "o'brien"])
      // Three instances start on the old schema at once: one migrates, the others find it done.
      const stores = await Promise.all(instancePools.map((pool) => createPostgresUserStore({ pool, schema })))
      const users = stores[0]!
      const meta = await admin!.query<{ version: number }>(`SELECT version FROM "${schema}".users_meta`)
      assert.deepEqual(meta.rows, [{ version: POSTGRES_USERS_SCHEMA_VERSION }])
      assert.equal(POSTGRES_USERS_SCHEMA_VERSION, 2)
      assert.deepEqual(await users.getUser('alice'), {
        username: 'alice',
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$old0$hash0',
        createdAt: 1_000,
        updatedAt: 2_000,
        admin: false,
        disabled: false,
      })
      assert.deepEqual(await stores[2]!.listUsers(), ['alice', 'bob', "o'brien"].map((username, i) => ({ username, createdAt: 1_000 + i, updatedAt: 2_000 + i, admin: false, disabled: false })))
      assert.equal(await users.countAdmins(), 0)
      assert.equal(await stores[1]!.updateUser('bob', { admin: true }, 3_000), true)
      assert.equal(await users.countAdmins(), 1)
      assert.equal(await users.createUser(userRecordFixture({ username: 'carol', disabled: true })), true)
      assert.equal((await stores[2]!.getUser('carol'))?.disabled, true)
      const columns = await admin!.query<{ column_name: string; data_type: string; is_nullable: string }>(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'users' AND column_name IN ('admin', 'disabled') ORDER BY 1",
        [schema],
      )
      assert.deepEqual(columns.rows, [
        { column_name: 'admin', data_type: 'boolean', is_nullable: 'NO' },
        { column_name: 'disabled', data_type: 'boolean', is_nullable: 'NO' },
      ])
      // Migrating again changes nothing.
      await users.migrate()
      assert.equal((await users.getUser('bob'))?.admin, true)
    } finally {
      await endPools(instancePools)
      await dropSchema(schema)
    }
  })

  it('a migrated schema opens for a runtime role with no CREATE privilege', async (t) => {
    const schema = freshSchema()
    const role = `hp_users_rt_${randomBytes(4).toString('hex')}`
    const password = randomBytes(12).toString('hex')
    try {
      await createPostgresUserStore({ pool: shared!, schema })
      try {
        await admin!.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
      } catch (error) {
        t.skip(`cannot create a test role (${(error as { code?: string }).code ?? 'error'})`)
        return
      }
      await admin!.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`)
      await admin!.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${schema}".users TO ${role}`)
      await admin!.query(`GRANT SELECT ON "${schema}".users_meta TO ${role}`)
      const roleUrl = new URL(url)
      roleUrl.username = role
      roleUrl.password = password
      const rolePool = newPool(2, roleUrl.toString())
      try {
        const users = await createPostgresUserStore({ pool: rolePool, schema })
        const alice = userRecordFixture()
        assert.equal(await users.createUser(alice), true)
        assert.deepEqual(await users.getUser('alice'), alice)
        // Without the privilege the role really cannot create: the test proves what it claims.
        await assert.rejects(rolePool.query(`CREATE TABLE "${schema}".probe (x int)`), (error: unknown) => (error as { code?: string }).code === '42501')
      } finally {
        await endPools([rolePool])
      }
    } finally {
      await dropSchema(schema)
      await admin!.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined)
    }
  })

  it('40 creations of one name from 4 pools (separate connections): exactly one wins', async () => {
    const schema = freshSchema()
    const racePools = Array.from({ length: 4 }, () => newPool(5))
    try {
      const stores = await Promise.all(racePools.map((pool) => createPostgresUserStore({ pool, schema })))
      // Open every connection first, so the statements reach the server together.
      await Promise.all(
        racePools.map(async (pool) => {
          const clients = await Promise.all(Array.from({ length: 5 }, () => pool.connect()))
          for (const client of clients) client.release()
        }),
      )
      const attempts = Array.from({ length: 40 }, (_, i) => userRecordFixture({ username: 'racer', createdAt: i, updatedAt: i }))
      const results = await Promise.all(attempts.map((user, i) => stores[i % 4]!.createUser(user)))
      const winners = results.flatMap((created, i) => (created ? [i] : []))
      assert.equal(winners.length, 1)
      assert.deepEqual(await stores[0]!.getUser('racer'), attempts[winners[0]!])
      assert.equal(await stores[3]!.countUsers(), 1)
    } finally {
      await endPools(racePools)
      await dropSchema(schema)
    }
  })

  it('driver failures are ERR_STORE_UNAVAILABLE naming no input: a dropped table, an unreachable server', async () => {
    const schema = freshSchema()
    try {
      const users = await createPostgresUserStore({ pool: shared!, schema })
      const alice = userRecordFixture()
      await users.createUser(alice)
      await admin!.query(`DROP TABLE "${schema}".users`)
      const error = await users.createUser(alice).then(
        () => assert.fail('createUser resolved without a table'),
        (e: unknown) => e,
      )
      expectCode('ERR_STORE_UNAVAILABLE')(error)
      assert.match((error as Error).message, /\(42P01\)/)
      assert.ok(!(error as Error).message.includes(alice.passwordHash))
    } finally {
      await dropSchema(schema)
    }

    const dead = newPool(2, 'postgres://postgres@127.0.0.1:1/test')
    try {
      await assert.rejects(createPostgresUserStore({ pool: dead }), expectCode('ERR_STORE_UNAVAILABLE'))
      const users = await createPostgresUserStore({ pool: dead, migrate: false })
      const operations: Array<() => Promise<unknown>> = [
        () => users.createUser(userRecordFixture()),
        () => users.getUser('alice'),
        () => users.updatePassword('alice', userRecordFixture().passwordHash, 1),
        () => users.updateUser('alice', { disabled: true }, 1),
        () => users.deleteUser('alice'),
        () => users.listUsers(),
        () => users.countUsers(),
        () => users.countAdmins(),
      ]
      for (const operation of operations) await assert.rejects(operation(), expectCode('ERR_STORE_UNAVAILABLE'))
    } finally {
      await endPools([dead])
    }
  })
})
