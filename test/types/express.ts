// hallpass/express: `req.auth` is typed on every Express request once the adapter is in the
// program, and optional: a route must handle the request the middleware let through anonymous.
import express, { type Request, type RequestHandler } from 'express'
import type { JwtClaims } from 'hallpass'
import { hallpass, requireScope, type HallpassAuth, type TokenVerifier } from 'hallpass/express'
import type { Verifier } from 'hallpass/verify'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

declare const verifier: Verifier

export type Types = [
  Expect<Equals<HallpassAuth, { readonly claims: Readonly<JwtClaims>; readonly token: string }>>,
  Expect<Equals<Request['auth'], HallpassAuth | undefined>>,
  Expect<Equals<ReturnType<typeof hallpass>, RequestHandler>>,
  Expect<Equals<ReturnType<typeof requireScope>, RequestHandler>>,
]

export function routes(): void {
  const app = express()
  app.use(hallpass(verifier, { realm: 'orders', scope: ['orders:read'] }))
  app.get('/me', (req, res) => {
    expectType<Equals<typeof req.auth, HallpassAuth | undefined>>()
    // @ts-expect-error `auth` is optional: check it (or use requireScope) before reading it
    use(req.auth.claims.sub)
    if (req.auth === undefined) return
    expectType<Equals<typeof req.auth.claims.sub, string | undefined>>()
    expectType<Equals<typeof req.auth.token, string>>()
    // @ts-expect-error claims are read-only: one handler cannot change what another sees
    req.auth.claims.sub = 'someone-else'
    // @ts-expect-error so is the auth object
    req.auth.token = ''
    res.json({ sub: req.auth.claims.sub })
  })
  app.post('/orders', requireScope('orders:write', 'orders:admin'), (req, res) => res.json(req.auth?.claims.scope))
  // @ts-expect-error scopes are strings
  use(requireScope(42))
  // @ts-expect-error an unknown adapter option
  use(hallpass(verifier, { realms: 'orders' }))
  // @ts-expect-error the verifier must verify: an object without verify(token) is refused
  use(hallpass({ issuer: 'https://auth.example.com' }))
  // @ts-expect-error `optional` is a boolean
  use(hallpass(verifier, { optional: 'yes' }))
}

/** Any object with a synchronous verify(token) fits; a Verifier from createVerifier does. */
export const asTokenVerifier: TokenVerifier = verifier
export const custom: TokenVerifier = { verify: (token: string) => ({ sub: token }) }
