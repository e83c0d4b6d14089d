// The store factories on hallpass/stores/*: what each takes (unknown options are errors) and
// returns. Every store is a SessionStore; PostgreSQL's also migrates. The UserStore contract: the
// admin and disabled flags (optional on input, always there on output) and the optional
// SessionStore.listRecentAudit.
import type { AuditEvent, SessionStore } from 'hallpass'
import {
  createPostgresStore,
  createPostgresUserStore,
  postgresMigrations,
  type PostgresStore,
  type PostgresStoreOptions,
  type PostgresUserStore,
} from 'hallpass/stores/postgres'
import { createRedisStore, createRedisUserStore, type RedisClient, type RedisStoreOptions } from 'hallpass/stores/redis'
import { createSqliteStore, createSqliteUserStore, SQLITE_STORE_DEFAULTS, type SqliteStoreOptions } from 'hallpass/stores/sqlite'
import { describeStoreConformance, type StoreUnderTest } from 'hallpass/testing'
import type { NewUserRecord, UserChanges, UserRecord, UserStore, UserSummary } from 'hallpass/users'
import type * as main from 'hallpass'
import { expectType, use, value, type Equals, type Expect, type HasKey } from './helpers.ts'

declare const pool: PostgresStoreOptions['pool']
declare const client: RedisClient

export type Factories = [
  Expect<Equals<ReturnType<typeof createSqliteStore>, SessionStore>>,
  Expect<Equals<ReturnType<typeof createPostgresStore>, Promise<PostgresStore>>>,
  Expect<Equals<ReturnType<typeof createRedisStore>, SessionStore>>,
  Expect<Equals<ReturnType<typeof createSqliteUserStore>, UserStore>>,
  Expect<Equals<ReturnType<typeof createPostgresUserStore>, Promise<PostgresUserStore>>>,
  Expect<Equals<ReturnType<typeof createRedisUserStore>, UserStore>>,
  // The main entry loads no store driver: the factories live on their own subpaths only.
  Expect<Equals<HasKey<typeof main, 'createSqliteStore'>, false>>,
  Expect<Equals<HasKey<typeof main, 'createPostgresStore'>, false>>,
  Expect<Equals<HasKey<typeof main, 'createRedisStore'>, false>>,
]

export type Options = [
  Expect<Equals<SqliteStoreOptions['path'], string | undefined>>,
  Expect<Equals<SqliteStoreOptions['busyTimeoutSeconds'], number | undefined>>,
  Expect<Equals<SqliteStoreOptions['onError'], ((error: unknown) => void) | undefined>>,
  Expect<Equals<PostgresStoreOptions['schema'], string | undefined>>,
  Expect<Equals<PostgresStoreOptions['migrate'], boolean | undefined>>,
  Expect<Equals<RedisStoreOptions['keyPrefix'], string | undefined>>,
  Expect<Equals<RedisStoreOptions['client'], RedisClient>>,
]

export async function factories(): Promise<void> {
  use(createSqliteStore({ path: ':memory:', busyTimeoutSeconds: 5, pollIntervalSeconds: 0.2, maxAuditEventsPerSubject: 100, onError: () => undefined }))
  // @ts-expect-error the option is `path` (or `database`)
  use(createSqliteStore({ file: './sessions.db' }))
  // @ts-expect-error durations are seconds and say so
  use(createSqliteStore({ path: ':memory:', busyTimeout: 5000 }))
  // @ts-expect-error the options object is required
  use(createSqliteStore())
  // @ts-expect-error the defaults are frozen
  SQLITE_STORE_DEFAULTS.busyTimeoutSeconds = 0

  const postgres = await createPostgresStore({ pool, schema: 'hallpass', migrate: false, maxAuditEventsPerSubject: 100 })
  expectType<Equals<typeof postgres.schema, string>>()
  expectType<Equals<ReturnType<PostgresStore['migrate']>, Promise<void>>>()
  const asStore: SessionStore = postgres
  use(asStore, postgresMigrations)
  // @ts-expect-error the pool is required: the store never opens one
  use(await createPostgresStore({ schema: 'hallpass' }))
  // @ts-expect-error the option is `pool`, an injected pg.Pool
  use(await createPostgresStore({ pool, connectionString: 'postgres://' }))
  // @ts-expect-error a schema name is text
  use(await createPostgresStore({ pool, schema: 1 }))

  use(createRedisStore({ client, subscriber: client, keyPrefix: 'hp:', onError: () => undefined }))
  // @ts-expect-error the client is required: the store never opens a connection
  use(createRedisStore({ keyPrefix: 'hp:' }))
  // @ts-expect-error the option is `keyPrefix`
  use(createRedisStore({ client, prefix: 'hp:' }))
  // @ts-expect-error a connection URL is not a client
  use(createRedisStore({ client: 'redis://localhost' }))

  use(createSqliteUserStore(value<Parameters<typeof createSqliteUserStore>[0]>()))
}

export type Users = [
  Expect<Equals<UserRecord['admin'], boolean>>,
  Expect<Equals<UserRecord['disabled'], boolean>>,
  Expect<Equals<UserSummary['admin'], boolean>>,
  Expect<Equals<UserSummary['disabled'], boolean>>,
  Expect<Equals<HasKey<UserSummary, 'passwordHash'>, false>>,
  Expect<Equals<Parameters<UserStore['createUser']>[0], NewUserRecord>>,
  Expect<Equals<Parameters<UserStore['updateUser']>, [username: string, changes: UserChanges, now: number]>>,
  Expect<Equals<ReturnType<UserStore['updateUser']>, Promise<boolean>>>,
  Expect<Equals<ReturnType<UserStore['countAdmins']>, Promise<number>>>,
  // Optional on the contract, so that stores written before it still implement SessionStore.
  Expect<Equals<undefined extends SessionStore['listRecentAudit'] ? true : false, true>>,
  Expect<Equals<Awaited<ReturnType<NonNullable<SessionStore['listRecentAudit']>>>, AuditEvent[]>>,
]

export async function users(store: UserStore, sessions: SessionStore): Promise<void> {
  // A caller from before the flags still compiles: they may be left out on input.
  use(await store.createUser({ username: 'alice', passwordHash: 'h', createdAt: 0, updatedAt: 0 }))
  use(await store.createUser({ username: 'root', passwordHash: 'h', createdAt: 0, updatedAt: 0, admin: true, disabled: false }))
  const read = await store.getUser('alice')
  if (read !== undefined) expectType<Equals<typeof read.disabled, boolean>>()
  use(await store.updateUser('alice', { disabled: true }, 0), await store.updateUser('alice', {}, 0))
  // @ts-expect-error flags are booleans
  use(await store.updateUser('alice', { admin: 'yes' }, 0))
  // @ts-expect-error updateUser changes the flags only
  use(await store.updateUser('alice', { passwordHash: 'h' }, 0))
  // @ts-expect-error the clock is the caller's: `now` is required
  use(await store.updateUser('alice', { admin: true }))
  // A store without listRecentAudit is still a SessionStore; callers check for it.
  const asStore: SessionStore = value<Omit<SessionStore, 'listRecentAudit'>>()
  use(asStore, await sessions.listRecentAudit?.({ limit: 10, types: ['session.revoked', 'refresh.reuse_detected'], subject: 'alice', before: 0 }))
  // @ts-expect-error not an audit event type
  use(await sessions.listRecentAudit?.({ limit: 10, types: ['login'] }))
  // @ts-expect-error the limit is required
  use(await sessions.listRecentAudit?.({ subject: 'alice' }))
}

/** The conformance suite of hallpass/testing takes a factory of fresh stores and their cleanup. */
export function conformance(): void {
  describeStoreConformance('sqlite :memory:', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    await store.ping()
    return { store, cleanup: () => store.close() }
  })
  expectType<Equals<StoreUnderTest['store'], SessionStore>>()
  // @ts-expect-error the factory resolves to { store, cleanup }, not a bare store
  describeStoreConformance('bare', () => Promise.resolve(createSqliteStore({ path: ':memory:' })))
}
