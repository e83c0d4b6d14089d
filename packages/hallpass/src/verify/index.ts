/**
 * @module hallpass/verify
 *
 * The resource-server verifier every service installs: `createVerifier` checks hallpass access
 * tokens locally against the issuer's cached JWKS and a denylist fed by the revocation feed.
 * Its parts are exported for custom setups.
 */
export {
  createVerifier,
  VERIFIER_DEFAULTS,
  type RevocationOptions,
  type RevocationPolicy,
  type Verifier,
  type VerifierHealth,
  type VerifierLogger,
  type VerifierMetrics,
  type VerifierOptions,
} from './create-verifier.ts'
export { createDenylist, DEFAULT_DENYLIST_MAX_ENTRIES, type Denylist, type DenylistOptions, type DenylistStats } from './denylist.ts'
export { discoverIssuer, type DiscoverIssuerOptions, type IssuerMetadata } from './discovery.ts'
export {
  createRemoteJwks,
  JWKS_CACHE_DEFAULTS,
  type JwksCacheOptions,
  type JwksHealth,
  type JwksMetrics,
  type RemoteJwks,
  type RemoteJwksOptions,
} from './remote-jwks.ts'
export {
  createRevocationFeed,
  FEED_DEFAULTS,
  type FeedConnectionOptions,
  type FeedMetrics,
  type FeedRevocation,
  type RevocationFeed,
  type RevocationFeedOptions,
} from './revocation-feed.ts'
export type { DecryptionKeys, DecryptionOptions } from './decryption.ts'
export { watchDecryptionKeyFile, type DecryptionKeyFile, type DecryptionKeyFileOptions } from './decryption-key-file.ts'
export { hasScopes, requireScopes } from './scope.ts'
export type { RevocationStore } from './store-feed.ts'
export { createTokenCache, DEFAULT_TOKEN_CACHE_ENTRIES, type CachedToken, type TokenCache, type TokenCacheOptions } from './token-cache.ts'
export type { FetchFunction, VerifierEvent, VerifierEventHook, VerifierTimers } from './types.ts'
