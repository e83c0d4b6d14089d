/**
 * @module hallpass
 *
 * The built-in user table of `hallpass serve`: usernames, argon2id password hashes, and two
 * flags for the admin console. Each session store module provides one on the same database
 * (`createSqliteUserStore`, …).
 */

export interface UserRecord {
  /** Normalised (NFKC, lower case) login name. */
  readonly username: string
  /** PHC string of the argon2id hash. */
  readonly passwordHash: string
  readonly createdAt: number
  readonly updatedAt: number
  /**
   * Holds the admin role. The store only keeps the flag: deciding what an admin may do is the
   * caller's (the credential check does not look at it). False for users stored before roles.
   */
  readonly admin: boolean
  /** Refused at login, as a wrong password is. False for users stored before the flag existed. */
  readonly disabled: boolean
}

export type UserSummary = Omit<UserRecord, 'passwordHash'>

/**
 * What `createUser` accepts: a `UserRecord` whose flags may be left out, and then are false (so
 * callers written before the flags still compile and create ordinary, enabled users).
 */
export type NewUserRecord = Omit<UserRecord, 'admin' | 'disabled'> & {
  readonly admin?: boolean
  readonly disabled?: boolean
}

/** The flags `updateUser` sets; a flag left out keeps its stored value. */
export interface UserChanges {
  readonly admin?: boolean
  readonly disabled?: boolean
}

export interface UserStore {
  /** Inserts a user; false when the username is taken. */
  createUser(user: NewUserRecord): Promise<boolean>
  getUser(username: string): Promise<UserRecord | undefined>
  /** Replaces the password hash; false when there is no such user. */
  updatePassword(username: string, passwordHash: string, now: number): Promise<boolean>
  /**
   * Sets the given flags and `updatedAt = now` in one atomic step; false (and nothing written)
   * when there is no such user. Only `admin` and `disabled` may be given, as booleans.
   */
  updateUser(username: string, changes: UserChanges, now: number): Promise<boolean>
  deleteUser(username: string): Promise<boolean>
  /** All users by username, without hashes. */
  listUsers(): Promise<UserSummary[]>
  countUsers(): Promise<number>
  /** Users who are admins and not disabled: those who can use the admin role now. */
  countAdmins(): Promise<number>
}
