// Fresh stores of each kind for suites that run on all three: SQLite in memory, PostgreSQL on
// a schema of its own (dropped afterwards), Redis under a key prefix of its own (deleted).
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createPostgresStore } from 'hallpass/stores/postgres'
import { createRedisStore } from 'hallpass/stores/redis'
import { createSqliteStore } from 'hallpass/stores/sqlite'
import type { StoreUnderTest } from 'hallpass/testing'
import { postgresUrl, redisUrl } from './services.ts'

export function makeSqliteStore(): Promise<StoreUnderTest> {
  const store = createSqliteStore({ path: ':memory:' })
  return Promise.resolve({ store, cleanup: () => store.close() })
}

export function postgresMaker(): { make: () => Promise<StoreUnderTest>; close: () => Promise<void> } {
  let pool: pg.Pool | undefined
  const getPool = (): pg.Pool => {
    if (pool === undefined) {
      pool = new pg.Pool({ connectionString: postgresUrl(), max: 8, connectionTimeoutMillis: 5000 })
      pool.on('error', () => undefined)
    }
    return pool
  }
  return {
    async make() {
      const schema = `hp_test_${randomBytes(6).toString('hex')}`
      const store = await createPostgresStore({ pool: getPool(), schema })
      return {
        store,
        async cleanup() {
          await store.close()
          await getPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        },
      }
    },
    close: async () => {
      await pool?.end()
    },
  }
}

export function redisMaker(): { make: () => Promise<StoreUnderTest>; close: () => Promise<void> } {
  let client: Redis | undefined
  const getClient = (): Redis => (client ??= new Redis(redisUrl(), { maxRetriesPerRequest: 2 }))
  return {
    make() {
      const prefix = `hptest:${randomBytes(6).toString('hex')}:`
      const store = createRedisStore({ client: getClient(), keyPrefix: prefix })
      return Promise.resolve({
        store,
        async cleanup() {
          await store.close()
          let cursor = '0'
          do {
            const [next, keys] = await getClient().scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
            cursor = next
            if (keys.length > 0) await getClient().del(...keys)
          } while (cursor !== '0')
        },
      })
    },
    close: () => {
      client?.disconnect()
      return Promise.resolve()
    },
  }
}
