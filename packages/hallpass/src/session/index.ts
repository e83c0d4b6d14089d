/**
 * @module hallpass
 *
 * The session domain: `SessionManager`, the `SessionStore` interface stores implement, and the
 * key manager that keeps signing keys in the store.
 */
export type { AccessTokenEncryption } from './access-token-encryption.ts'
export { createKeyManager, type KeyManager, type KeyManagerOptions, type KeyScheduleEntry } from './key-manager.ts'
export {
  createSessionManager,
  revocationExpAt,
  SESSION_DEFAULTS,
  type CreateSessionInput,
  type IssuedTokens,
  type ResolvedClaims,
  type ResolvedSessionOptions,
  type SessionEventListener,
  type SessionInfo,
  type SessionManager,
  type SessionManagerOptions,
} from './manager.ts'
export { compareFeedCursors, comparePositions, formatFeedCursor, isFeedEpoch, parseFeedCursor, type FeedCursor } from './feed-cursor.ts'
export { FEED_EXP_MARGIN_SECONDS, readFeed, type FeedReadOptions, type FeedReadResult, type FeedResetReason, type FeedStart } from './feed-reader.ts'
export { REFRESH_TOKEN_PREFIX } from './refresh-token.ts'
export { deriveKeys, MIN_SECRET_BYTES } from './secret.ts'
export type {
  MarkUndeliveredInput,
  RedeliverRefreshInput,
  RedeliverRefreshResult,
  RevocationListener,
  RevokeSessionInput,
  RevokeSessionResult,
  RevokeSubjectInput,
  RotateRefreshInput,
  RotateRefreshResult,
  SessionStore,
  StoredKeyring,
} from './store.ts'
export type {
  AuditEvent,
  AuditEventType,
  DeviceInfo,
  ReplayClassification,
  RevocationEntry,
  SessionRecord,
} from './types.ts'
export { RESERVED_CLAIMS } from './validate-input.ts'
