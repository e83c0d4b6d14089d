// What every route module receives: the composition root builds it once.
import type { SessionManager } from 'hallpass'
import type { UserStore } from 'hallpass/users'
import type { ServerConfig } from './config.ts'
import type { FeedSlots } from './feed-slots.ts'
import type { ServerMetrics } from './metrics.ts'
import type { RateLimiter } from './rate-limit.ts'
import type { RevocationHub } from './revocation-hub.ts'
import type { StoreErrorRelay } from './store-errors.ts'

/** A user the credential check accepted. */
export interface AuthenticatedUser {
  readonly subject: string
  readonly claims?: Record<string, unknown>
  readonly scope?: string
}

/**
 * Checks a username and password. The built-in one uses the user table with argon2id; an
 * application can pass its own (LDAP, an existing user database, …).
 */
export type CredentialCheck = (username: string, password: string) => Promise<AuthenticatedUser | undefined>

export interface ServerContext {
  readonly config: ServerConfig
  readonly sessions: SessionManager
  readonly users: UserStore | undefined
  readonly limiter: RateLimiter
  readonly metrics: ServerMetrics
  readonly checkCredentials: CredentialCheck
  readonly feed: RevocationHub
  /** The clock of the session manager (epoch ms): what the feed's snapshot compares `exp` with. */
  readonly now: () => number
  /** Subscriber slots of the revocation feed (in total and per address). */
  readonly feedSlots: FeedSlots
  /** Where the store's errors outside requests go; `buildServer` logs them. */
  readonly storeErrors?: StoreErrorRelay
}
