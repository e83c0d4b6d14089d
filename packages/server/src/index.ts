/**
 * @module hallpass/server
 *
 * The session server as a library: build the Fastify app around your own credential check, or
 * run it with `hallpass serve`.
 */
export { buildServer, REDACTED_LOG_PATHS, type BuildServerOptions } from './app.ts'
export { CONFIG_FILE_SCHEMA, ENVIRONMENT_VARIABLES, OTHER_ENVIRONMENT_VARIABLES, redactConfig, resolveConfig, type ConfigSources, type EnvironmentVariable, type RateLimitRule, type ServerConfig } from './config.ts'
export type { AuthenticatedUser, CredentialCheck, ServerContext } from './context.ts'
export { createServerMetrics, type ServerMetrics } from './metrics.ts'
export { createMemoryRateLimiter, createRedisRateLimiter, type RateLimitDecision, type RateLimiter } from './rate-limit.ts'
export { addressGroup, createFeedSlots, type FeedSlot, type FeedSlotRefusal, type FeedSlots } from './feed-slots.ts'
export { createRevocationHub, type RevocationHub } from './revocation-hub.ts'
export { FEED_STREAM_DEFAULTS, type FeedStreamLimits } from './routes/revocation-feed.ts'
export { createUserTableCheck, openRuntime, type OpenRuntimeOptions, type Runtime } from './runtime.ts'
export { openStore, STORE_DRIVERS, type OpenedStore, type OpenStoreOptions, type StoreDriver, type StoreKind } from './store-drivers.ts'
