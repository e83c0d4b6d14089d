/**
 * @module hallpass
 *
 * The built-in user table of `hallpass serve`: usernames and argon2id password hashes. Each
 * session store module provides one on the same database (`createSqliteUserStore`, …).
 */

export interface UserRecord {
  /** Normalised (NFKC, lower case) login name. */
  readonly username: string
  /** PHC string of the argon2id hash. */
  readonly passwordHash: string
  readonly createdAt: number
  readonly updatedAt: number
}

export type UserSummary = Omit<UserRecord, 'passwordHash'>

export interface UserStore {
  /** Inserts a user; false when the username is taken. */
  createUser(user: UserRecord): Promise<boolean>
  getUser(username: string): Promise<UserRecord | undefined>
  /** Replaces the password hash; false when there is no such user. */
  updatePassword(username: string, passwordHash: string, now: number): Promise<boolean>
  deleteUser(username: string): Promise<boolean>
  /** All users by username, without hashes. */
  listUsers(): Promise<UserSummary[]>
  countUsers(): Promise<number>
}
