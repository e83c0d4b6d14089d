/**
 * @module hallpass/stores/redis
 *
 * Sessions, the revocation feed (a stream plus pub/sub), the keyring and the user table on
 * Redis or Redis Cluster, through an injected ioredis client (`ioredis` is an optional peer
 * dependency of `hallpass`).
 */
export { createRedisStore, type RedisClient, type RedisStoreOptions } from './session-store.ts'
export { createRedisUserStore, type RedisUserStoreOptions } from './user-store.ts'
