// @hallpass/server: the session server as a library, built around the application's own
// credential check.
import type { FastifyInstance } from 'fastify'
import { buildServer, type AuthenticatedUser, type CredentialCheck, type ServerContext } from '@hallpass/server'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

declare const context: ServerContext

export type Types = [
  Expect<Equals<CredentialCheck, (username: string, password: string) => Promise<AuthenticatedUser | undefined>>>,
  Expect<Equals<AuthenticatedUser['subject'], string>>,
  Expect<Equals<ReturnType<typeof buildServer>, Promise<FastifyInstance>>>,
]

export async function server(): Promise<void> {
  const app = await buildServer(context, { logger: false })
  expectType<Equals<typeof app, FastifyInstance>>()
  await app.close()
  // @ts-expect-error an unknown option
  use(await buildServer(context, { loger: false }))
  // @ts-expect-error a credential check resolves to a user (a subject) or undefined, never a boolean
  const check: CredentialCheck = () => Promise.resolve(true)
  use(check)
}
