// hallpass/node: authenticate() returns the claims, null for an anonymous request on an
// optional route, or undefined once it has written the error response itself.
import { createServer } from 'node:http'
import type { JwtClaims } from 'hallpass'
import {
  authenticate,
  authenticateAsync,
  parseBearerHeader,
  toHttpError,
  type BearerResult,
  type HttpError,
  type OAuthErrorName,
} from 'hallpass/node'
import type { Verifier } from 'hallpass/verify'
import { expectType, use, value, type Equals, type Expect } from './helpers.ts'

declare const verifier: Verifier

export type Types = [
  Expect<Equals<ReturnType<typeof authenticate>, Readonly<JwtClaims> | null | undefined>>,
  Expect<Equals<ReturnType<typeof authenticateAsync>, Promise<Readonly<JwtClaims> | null | undefined>>>,
  Expect<Equals<BearerResult['kind'], 'none' | 'other-scheme' | 'token' | 'invalid'>>,
  Expect<Equals<HttpError['error'], OAuthErrorName>>,
]

export function server(): void {
  createServer((req, res) => {
    const claims = authenticate(req, res, verifier, { scope: 'orders:read', realm: 'orders' })
    // @ts-expect-error undefined means the response was written: the handler must stop first
    use(claims.sub)
    if (claims === undefined) return
    // @ts-expect-error null is an anonymous request on an optional route
    use(claims.sub)
    if (claims === null) return
    expectType<Equals<typeof claims, Readonly<JwtClaims>>>()
    // @ts-expect-error claims are read-only
    claims.sub = 'someone-else'
    res.end(claims.sub)
  })
  createServer((req, res) => {
    void authenticateAsync(req, res, verifier, { optional: true }).then((claims) => res.end(claims?.sub ?? 'anonymous'))
  })
  // @ts-expect-error authenticate needs the response too, to write failures
  use(authenticate(value<Parameters<typeof authenticate>[0]>(), verifier))
  // @ts-expect-error an unknown option
  use(authenticate(value(), value(), verifier, { optinal: true }))
}

/** Bearer parsing and the error mapping are typed by code and context. */
export function http(header: string | string[] | undefined): void {
  const bearer = parseBearerHeader(header)
  if (bearer.kind === 'token') expectType<Equals<typeof bearer.token, string>>()
  // @ts-expect-error the token exists only once narrowed to kind 'token'
  use(bearer.token)
  const mapped = toHttpError('ERR_SCOPE_INSUFFICIENT', 'resource')
  expectType<Equals<typeof mapped.status, number>>()
  use(mapped)
  // @ts-expect-error only hallpass codes map to HTTP
  use(toHttpError('ERR_NOT_A_CODE', 'resource'))
  // @ts-expect-error the context is 'resource' (RFC 6750) or 'token' (RFC 6749 §5.2)
  use(toHttpError('ERR_JWT_EXPIRED', 'api'))
}
