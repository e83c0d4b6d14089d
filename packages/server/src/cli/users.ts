/**
 * @module @hallpass/server/cli
 *
 * `hallpass users add|passwd|set|remove|list`: the built-in user table, on the store the server
 * uses (same `--config` / `HALLPASS_DATABASE_URL`). Passwords are read from standard input
 * (one line) so they never appear in shell history or `ps`; `--generate` makes a random one
 * and prints it once. `set` gives or takes the admin role and disables or enables a user.
 */
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { revocationExpAt, type SessionStore } from 'hallpass'
import { CliError, sanitizeForTerminal, UsageError, type CliCommand, type CommandContext, type ParsedArgs } from 'hallpass/cli'
import { SessionInputInvalid } from 'hallpass/errors'
import { normalizeUsername, type UserChanges, type UserSummary } from 'hallpass/users'
import type { ServerConfig } from '../config.ts'
import type { OpenedStore } from '../store-drivers.ts'
import { CONFIG_OPTION, loadServerConfig } from './server-config.ts'

const GENERATE_OPTION = { name: 'generate', type: 'boolean', help: 'Generate a random password and print it once.' } as const
const ADMIN_OPTION = { name: 'admin', type: 'boolean', help: 'Give the user the admin role (the admin console).' } as const

/**
 * Opens the store the server uses. Only `users add` may create it: the commands that read or
 * change existing users refuse a store that is not there (a wrong directory), rather than make
 * an empty one and report no users.
 */
async function withUsers<T>(args: ParsedArgs, context: CommandContext, work: (opened: OpenedStore, config: ServerConfig) => Promise<T>, { create = false } = {}): Promise<T> {
  const config = await loadServerConfig(args.string('config'), context.env)
  const url = config.databaseUrl || `sqlite:${resolve(config.dataDir, 'hallpass.db')}`
  const { openStore } = await import('../store-drivers.ts')
  const opened = await openStore(url, { mustExist: !create })
  try {
    return await work(opened, config)
  } finally {
    await opened.close()
  }
}

function usernameArgument(args: ParsedArgs): string {
  if (args.positionals.length !== 1) throw new UsageError('expected exactly one USERNAME')
  try {
    return normalizeUsername(args.positionals[0])
  } catch {
    throw new UsageError('USERNAME must be 1-128 characters without spaces or control characters')
  }
}

async function passwordFrom(args: ParsedArgs, context: CommandContext): Promise<{ password: string; generated: boolean }> {
  if (args.flag('generate')) return { password: randomBytes(15).toString('base64url'), generated: true }
  if (context.stdinIsTty) throw new UsageError('pipe the password on standard input (or use --generate)')
  const password = (await context.readStdin(4096)).toString('utf8').replace(/\r?\n$/, '')
  if (password.length === 0) throw new UsageError('standard input held no password: pipe one line (8-1024 characters), or use --generate')
  return { password, generated: false }
}

async function hash(password: string): Promise<string> {
  try {
    // argon2 is a native module: loaded by the commands that hash, not by `hallpass --help`.
    const { hashPassword } = await import('../passwords.ts')
    return await hashPassword(password)
  } catch (error) {
    if (error instanceof SessionInputInvalid) throw new CliError(error.message)
    throw error
  }
}

export const usersAddCommand: CliCommand = {
  name: 'users add',
  summary: 'Add a user to the built-in user table (password on stdin, or --generate).',
  usage: '[--config FILE] [--generate] [--admin] USERNAME',
  options: [CONFIG_OPTION, GENERATE_OPTION, ADMIN_OPTION],
  async run(args, context) {
    const username = usernameArgument(args)
    const admin = args.flag('admin')
    const { password, generated } = await passwordFrom(args, context)
    const passwordHash = await hash(password)
    return withUsers(args, context, async ({ users }) => {
      const now = context.now()
      if (!(await users.createUser({ username, passwordHash, createdAt: now, updatedAt: now, admin }))) throw new CliError(`user "${sanitizeForTerminal(username)}" already exists`)
      const added = admin ? `added ${username} (admin)` : `added ${username}`
      context.stdout(generated ? `${added}; password: ${password}\n` : `${added}\n`)
      return 0
    }, { create: true })
  },
}

/**
 * Revokes every session of a user through the store, as a logout-all would: each feed entry
 * lasts as long as the sessions' access tokens can (the store raises it to each session's own
 * bound), so every verifier refuses them within a second.
 */
async function revokeSessionsOf(store: SessionStore, config: ServerConfig, username: string, reason: string, now: number): Promise<number> {
  const feedExp = revocationExpAt(now, config.accessTokenTtlSeconds)
  return (await store.revokeSubjectSessions({ subject: username, exceptId: undefined, now, reason, feedExp })).length
}

export const usersPasswdCommand: CliCommand = {
  name: 'users passwd',
  summary: "Set a user's password (stdin, or --generate) and sign the user out everywhere (unless --keep-sessions).",
  usage: '[--config FILE] [--generate] [--keep-sessions] USERNAME',
  options: [
    CONFIG_OPTION,
    GENERATE_OPTION,
    { name: 'keep-sessions', type: 'boolean', help: 'Leave the sessions signed in with the old password alive.' },
  ],
  async run(args, context) {
    const username = usernameArgument(args)
    const { password, generated } = await passwordFrom(args, context)
    const passwordHash = await hash(password)
    return withUsers(args, context, async ({ users, store }, config) => {
      const now = context.now()
      if (!(await users.updatePassword(username, passwordHash, now))) throw new CliError(`no user "${sanitizeForTerminal(username)}"`)
      // A changed password is often a stolen one: the sessions opened with it end too.
      const revoked = args.flag('keep-sessions') ? undefined : await revokeSessionsOf(store, config, username, 'password_changed', now)
      const sessions = revoked === undefined ? 'sessions kept' : `revoked ${revoked} session(s)`
      context.stdout(generated ? `password of ${username} changed; new password: ${password}; ${sessions}\n` : `password of ${username} changed; ${sessions}\n`)
      return 0
    })
  },
}

/**
 * The changes `users set` asks for. Each flag has its opposite as an option of its own (Node 20's
 * parseArgs has no `--no-…` negation); giving both of a pair, or none of the four, is a usage
 * error rather than "the last one wins" or a command that only touches `updatedAt`.
 */
function changesFrom(args: ParsedArgs): UserChanges {
  const pick = (on: string, off: string): boolean | undefined => {
    if (args.flag(on) && args.flag(off)) throw new UsageError(`--${on} and --${off} contradict each other`)
    return args.flag(on) ? true : args.flag(off) ? false : undefined
  }
  const admin = pick('admin', 'no-admin')
  const disabled = pick('disable', 'enable')
  if (admin === undefined && disabled === undefined) throw new UsageError('nothing to change: give --admin or --no-admin, --disable or --enable')
  return { ...(admin !== undefined ? { admin } : {}), ...(disabled !== undefined ? { disabled } : {}) }
}

export const usersSetCommand: CliCommand = {
  name: 'users set',
  summary: 'Give or take the admin role, disable or enable a user (disabling signs them out everywhere).',
  usage: '[--config FILE] [--admin | --no-admin] [--disable | --enable] USERNAME',
  options: [
    CONFIG_OPTION,
    ADMIN_OPTION,
    { name: 'no-admin', type: 'boolean', help: 'Take the admin role away.' },
    { name: 'disable', type: 'boolean', help: 'Refuse the user at login (as a wrong password is) and revoke every session of theirs.' },
    { name: 'enable', type: 'boolean', help: 'Let a disabled user log in again.' },
  ],
  async run(args, context) {
    const changes = changesFrom(args)
    const username = usernameArgument(args)
    return withUsers(args, context, async ({ users, store }, config) => {
      const now = context.now()
      if (!(await users.updateUser(username, changes, now))) throw new CliError(`no user "${sanitizeForTerminal(username)}"`)
      const said = Object.entries(changes).map(([name, value]) => `${name}=${String(value)}`).join(' ')
      // A disabled user is refused at login; the sessions they already hold must end too.
      const revoked = changes.disabled === true ? await revokeSessionsOf(store, config, username, 'user_disabled', now) : undefined
      context.stdout(revoked === undefined ? `updated ${username}: ${said}\n` : `updated ${username}: ${said}; revoked ${revoked} session(s)\n`)
      return 0
    })
  },
}

export const usersRemoveCommand: CliCommand = {
  name: 'users remove',
  summary: 'Remove a user and sign them out everywhere.',
  usage: '[--config FILE] USERNAME',
  options: [CONFIG_OPTION],
  async run(args, context) {
    const username = usernameArgument(args)
    return withUsers(args, context, async ({ users, store }, config) => {
      if (!(await users.deleteUser(username))) throw new CliError(`no user "${sanitizeForTerminal(username)}"`)
      // A removed user must not keep working sessions.
      const revoked = await revokeSessionsOf(store, config, username, 'user_removed', context.now())
      context.stdout(`removed ${username}; revoked ${revoked} session(s)\n`)
      return 0
    })
  },
}

/** The flags column of `users list`: `admin`, `disabled`, `admin,disabled`, or `-`. */
function flagsColumn(user: UserSummary): string {
  const flags = [...(user.admin ? ['admin'] : []), ...(user.disabled ? ['disabled'] : [])]
  return flags.length > 0 ? flags.join(',') : '-'
}

export const usersListCommand: CliCommand = {
  name: 'users list',
  summary: 'List the users of the built-in user table.',
  usage: '[--config FILE] [--json]',
  details: 'One user a line, tab-separated: username, created (ISO 8601), flags (admin, disabled, admin,disabled, or -).',
  options: [CONFIG_OPTION, { name: 'json', type: 'boolean', help: 'Print JSON.' }],
  async run(args, context) {
    if (args.positionals.length > 0) throw new UsageError('users list takes no arguments')
    return withUsers(args, context, async ({ users }) => {
      const list = await users.listUsers()
      if (args.flag('json')) {
        const rows = list.map((u) => ({ username: u.username, createdAt: new Date(u.createdAt).toISOString(), updatedAt: new Date(u.updatedAt).toISOString(), admin: u.admin, disabled: u.disabled }))
        context.stdout(`${JSON.stringify(rows)}\n`)
      } else {
        for (const user of list) context.stdout(`${sanitizeForTerminal(user.username)}\t${new Date(user.createdAt).toISOString()}\t${flagsColumn(user)}\n`)
      }
      return 0
    })
  },
}
